
/*
 * Copyright (C) replog authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>
#include "ngx_http_replog_client.h"


static void ngx_http_replog_client_write(ngx_event_t *wev);
static void ngx_http_replog_client_read(ngx_event_t *rev);
static void ngx_http_replog_client_idle(ngx_event_t *rev);
static void ngx_http_replog_client_dummy(ngx_event_t *ev);
static void ngx_http_replog_client_finish(ngx_http_replog_client_t *cl,
    ngx_int_t rc, const char *err);


void
ngx_http_replog_client_init(ngx_http_replog_client_t *cl, size_t in_max)
{
    ngx_memzero(cl, sizeof(ngx_http_replog_client_t));

    cl->log = *ngx_cycle->log;
    cl->in_max = in_max;
    cl->timeout = 5000;
}


void
ngx_http_replog_client_set_addr(ngx_http_replog_client_t *cl,
    struct sockaddr *sa, socklen_t socklen)
{
    if (cl->socklen == socklen && ngx_memcmp(&cl->sockaddr, sa, socklen) == 0)
    {
        return;
    }

    ngx_http_replog_client_close(cl);

    ngx_memcpy(&cl->sockaddr, sa, socklen);
    cl->socklen = socklen;

    cl->name.data = cl->name_data;
    cl->name.len = ngx_sock_ntop(sa, socklen, cl->name_data,
                                 NGX_SOCKADDR_STRLEN, 1);
}


/* a request buffer of at least size bytes, emptied; worker heap */

u_char *
ngx_http_replog_client_reserve(ngx_http_replog_client_t *cl, size_t size)
{
    u_char  *p;

    if ((size_t) (cl->out.end - cl->out.start) < size) {
        p = ngx_alloc(size, &cl->log);
        if (p == NULL) {
            return NULL;
        }

        if (cl->out.start) {
            ngx_free(cl->out.start);
        }

        cl->out.start = p;
        cl->out.end = p + size;
    }

    cl->out.pos = cl->out.start;
    cl->out.last = cl->out.start;

    return cl->out.start;
}


ngx_int_t
ngx_http_replog_client_send(ngx_http_replog_client_t *cl)
{
    ngx_int_t          rc;
    ngx_connection_t  *c;

    if (cl->busy) {
        return NGX_BUSY;
    }

    if (cl->in.start == NULL) {
        cl->in.start = ngx_alloc(4096, &cl->log);
        if (cl->in.start == NULL) {
            return NGX_ERROR;
        }

        cl->in.end = cl->in.start + 4096;
    }

    cl->in.pos = cl->in.start;
    cl->in.last = cl->in.start;
    cl->status = 0;
    cl->body = NULL;
    cl->body_len = 0;
    cl->content_length = -1;
    cl->captured.len = 0;
    cl->header_done = 0;
    cl->too_large = 0;
    cl->err = NULL;
    cl->busy = 1;

    c = cl->peer.connection;

    if (c == NULL) {
        ngx_memzero(&cl->peer, sizeof(ngx_peer_connection_t));

        cl->peer.sockaddr = &cl->sockaddr.sockaddr;
        cl->peer.socklen = cl->socklen;
        cl->peer.name = &cl->name;
        cl->peer.get = ngx_event_get_peer;
        cl->peer.log = &cl->log;
        cl->peer.log_error = NGX_ERROR_ERR;

        rc = ngx_event_connect_peer(&cl->peer);

        if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
            if (cl->peer.connection) {
                ngx_close_connection(cl->peer.connection);
                cl->peer.connection = NULL;
            }

            cl->busy = 0;
            cl->err = "connect failed";
            return NGX_DECLINED;
        }

        c = cl->peer.connection;
        c->data = cl;
        c->pool = NULL;

        /* a batch in flight never holds up a worker's exit */
        c->read->cancelable = 1;
        c->write->cancelable = 1;
        c->log = &cl->log;
        c->read->log = &cl->log;
        c->write->log = &cl->log;

        if (rc == NGX_AGAIN) {
            c->read->handler = ngx_http_replog_client_dummy;
            c->write->handler = ngx_http_replog_client_write;
            ngx_add_timer(c->write, cl->timeout);
            return NGX_OK;
        }
    }

    c->read->handler = ngx_http_replog_client_read;
    c->write->handler = ngx_http_replog_client_write;

    ngx_http_replog_client_write(c->write);

    return NGX_OK;
}


static void
ngx_http_replog_client_write(ngx_event_t *wev)
{
    ssize_t                    n;
    ngx_connection_t          *c;
    ngx_http_replog_client_t  *cl;

    c = wev->data;
    cl = c->data;

    if (wev->timedout) {
        ngx_http_replog_client_finish(cl, NGX_ERROR, "timed out");
        return;
    }

    c->read->handler = ngx_http_replog_client_read;

    while (cl->out.pos < cl->out.last) {
        n = c->send(c, cl->out.pos, cl->out.last - cl->out.pos);

        if (n == NGX_ERROR) {
            ngx_http_replog_client_finish(cl, NGX_ERROR, "send failed");
            return;
        }

        if (n == NGX_AGAIN) {
            if (!wev->timer_set) {
                ngx_add_timer(wev, cl->timeout);
            }

            if (ngx_handle_write_event(wev, 0) != NGX_OK) {
                ngx_http_replog_client_finish(cl, NGX_ERROR, "event failed");
            }

            return;
        }

        cl->out.pos += n;
    }

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    wev->handler = ngx_http_replog_client_dummy;

    ngx_add_timer(c->read, cl->timeout);

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_http_replog_client_finish(cl, NGX_ERROR, "event failed");
        return;
    }

    if (c->read->ready) {
        ngx_http_replog_client_read(c->read);
    }
}


static void
ngx_http_replog_client_read(ngx_event_t *rev)
{
    u_char                    *p;
    size_t                     size;
    ssize_t                    n;
    ngx_int_t                  rc;
    ngx_connection_t          *c;
    ngx_http_replog_client_t  *cl;

    c = rev->data;
    cl = c->data;

    if (rev->timedout) {
        ngx_http_replog_client_finish(cl, NGX_ERROR, "timed out");
        return;
    }

    for ( ;; ) {

        if (cl->in.last == cl->in.end) {
            size = cl->in.end - cl->in.start;

            if (size >= cl->in_max) {
                cl->too_large = 1;
                ngx_http_replog_client_finish(cl, NGX_ERROR,
                                              "response too large");
                return;
            }

            p = ngx_alloc(size * 2, &cl->log);
            if (p == NULL) {
                ngx_http_replog_client_finish(cl, NGX_ERROR, "no memory");
                return;
            }

            ngx_memcpy(p, cl->in.start, size);

            if (cl->body) {
                cl->body = p + (cl->body - cl->in.start);
            }

            ngx_free(cl->in.start);

            cl->in.start = p;
            cl->in.pos = p;
            cl->in.last = p + size;
            cl->in.end = p + size * 2;
        }

        n = c->recv(c, cl->in.last, cl->in.end - cl->in.last);

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                ngx_http_replog_client_finish(cl, NGX_ERROR, "event failed");
            }

            return;
        }

        if (n == NGX_ERROR || n == 0) {
            rc = ngx_http_replog_client_parse(cl, 1);

            if (rc == NGX_OK) {
                cl->close = 1;
                ngx_http_replog_client_finish(cl, NGX_OK, NULL);
                return;
            }

            ngx_http_replog_client_finish(cl, NGX_ERROR,
                                          n == 0 ? "connection closed"
                                                 : "recv failed");
            return;
        }

        cl->in.last += n;

        rc = ngx_http_replog_client_parse(cl, 0);

        if (rc == NGX_OK) {
            ngx_http_replog_client_finish(cl, NGX_OK, NULL);
            return;
        }

        if (rc == NGX_ERROR) {
            ngx_http_replog_client_finish(cl, NGX_ERROR, "invalid response");
            return;
        }
    }
}


/* NGX_OK: a whole response; NGX_AGAIN: more to read; NGX_ERROR: garbage */

ngx_int_t
ngx_http_replog_client_parse(ngx_http_replog_client_t *cl, ngx_uint_t eof)
{
    u_char  *p, *end, *line, *colon;
    size_t   len;

    if (!cl->header_done) {
        end = ngx_strlcasestrn(cl->in.start, cl->in.last,
                               (u_char *) "\r\n\r\n", 4 - 1);
        if (end == NULL) {
            return eof ? NGX_ERROR : NGX_AGAIN;
        }

        if (end - cl->in.start < 12
            || ngx_strncmp(cl->in.start, "HTTP/1.", 7) != 0)
        {
            return NGX_ERROR;
        }

        cl->status = ngx_atoi(cl->in.start + 9, 3);
        if (cl->status == (ngx_uint_t) NGX_ERROR) {
            return NGX_ERROR;
        }

        cl->close = (cl->in.start[7] == '0');

        /* headers: Content-Length and Connection are all that matter */

        line = (u_char *) ngx_strchr(cl->in.start, '\n') + 1;

        while (line < end) {
            p = ngx_strlchr(line, end + 2, '\r');
            if (p == NULL) {
                break;
            }

            colon = ngx_strlchr(line, p, ':');

            if (colon) {
                len = colon - line;
                colon++;

                while (colon < p && *colon == ' ') {
                    colon++;
                }

                if (len == sizeof("Content-Length") - 1
                    && ngx_strncasecmp(line, (u_char *) "Content-Length",
                                       len) == 0)
                {
                    cl->content_length = ngx_atoof(colon, p - colon);
                    if (cl->content_length == NGX_ERROR) {
                        return NGX_ERROR;
                    }
                }

                if (cl->capture.len && len == cl->capture.len
                    && ngx_strncasecmp(line, cl->capture.data, len) == 0)
                {
                    cl->captured.data = colon;
                    cl->captured.len = p - colon;
                }

                if (len == sizeof("Connection") - 1
                    && ngx_strncasecmp(line, (u_char *) "Connection", len)
                       == 0
                    && p - colon == 5
                    && ngx_strncasecmp(colon, (u_char *) "close", 5) == 0)
                {
                    cl->close = 1;
                }
            }

            line = p + 2;
        }

        cl->header_done = 1;
        cl->body = end + 4;

        if (cl->content_length > (off_t) cl->in_max) {
            cl->too_large = 1;
            return NGX_ERROR;
        }
    }

    cl->body_len = cl->in.last - cl->body;

    if (cl->content_length >= 0) {
        if ((off_t) cl->body_len >= cl->content_length) {
            cl->body_len = cl->content_length;
            return NGX_OK;
        }

        return eof ? NGX_ERROR : NGX_AGAIN;
    }

    /* no length: the body ends with the connection */

    cl->close = 1;

    return eof ? NGX_OK : NGX_AGAIN;
}


static void
ngx_http_replog_client_finish(ngx_http_replog_client_t *cl, ngx_int_t rc,
    const char *err)
{
    ngx_connection_t  *c;

    c = cl->peer.connection;

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    if (rc != NGX_OK || cl->close) {
        ngx_http_replog_client_close(cl);

    } else {
        /* keepalive: a read now means the peer closed or misbehaved */
        c->read->handler = ngx_http_replog_client_idle;
        c->write->handler = ngx_http_replog_client_dummy;
        c->idle = 1;

        if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
            ngx_http_replog_client_close(cl);
        }
    }

    cl->busy = 0;
    cl->err = err;

    cl->done(cl, rc);
}


static void
ngx_http_replog_client_idle(ngx_event_t *rev)
{
    ngx_connection_t          *c;
    ngx_http_replog_client_t  *cl;

    c = rev->data;
    cl = c->data;

    ngx_http_replog_client_close(cl);
}


static void
ngx_http_replog_client_dummy(ngx_event_t *ev)
{
}


void
ngx_http_replog_client_close(ngx_http_replog_client_t *cl)
{
    if (cl->peer.connection) {
        ngx_close_connection(cl->peer.connection);
        cl->peer.connection = NULL;
    }
}


void
ngx_http_replog_client_free(ngx_http_replog_client_t *cl)
{
    ngx_http_replog_client_close(cl);

    if (cl->out.start) {
        ngx_free(cl->out.start);
        cl->out.start = NULL;
    }

    if (cl->in.start) {
        ngx_free(cl->in.start);
        cl->in.start = NULL;
    }
}
