
/*
 * Copyright (C) replog authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>
#include "ngx_http_replog_client.h"


static u_char *ngx_http_replog_client_reserve(ngx_http_replog_client_t *cl,
    size_t size);
static void ngx_http_replog_client_write(ngx_event_t *wev);
static void ngx_http_replog_client_read(ngx_event_t *rev);
static void ngx_http_replog_client_idle(ngx_event_t *rev);
static void ngx_http_replog_client_dummy(ngx_event_t *ev);
static ngx_int_t ngx_http_replog_client_status_line(
    ngx_http_replog_client_t *cl, u_char *p, size_t len);
static ngx_int_t ngx_http_replog_client_header_line(
    ngx_http_replog_client_t *cl, u_char *p, size_t len);
static ngx_int_t ngx_http_replog_client_grow(ngx_http_replog_client_t *cl);
static void ngx_http_replog_client_finish(ngx_http_replog_client_t *cl,
    ngx_int_t rc, const char *err);


/*
 * A client of replies up to in_max body bytes, each request given up after
 * timeout, capturing one response header (capture, or NULL), calling done
 * back with data in it; its connection logs to a copy of log.
 */

void
ngx_http_replog_client_init(ngx_http_replog_client_t *cl, size_t in_max,
    ngx_msec_t timeout, char *capture, ngx_http_replog_client_done_pt done,
    void *data, ngx_log_t *log)
{
    ngx_memzero(cl, sizeof(ngx_http_replog_client_t));

    cl->log = *log;
    cl->in_max = in_max;
    cl->timeout = timeout;
    cl->done = done;
    cl->data = data;

    if (capture) {
        cl->capture.data = (u_char *) capture;
        cl->capture.len = ngx_strlen(capture);
    }
}


/* a request in flight is given up: its reply will never be handed back */

void
ngx_http_replog_client_abort(ngx_http_replog_client_t *cl)
{
    ngx_http_replog_client_close(cl);
    cl->busy = 0;
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

static u_char *
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


/* GET uri, with the token in x-token unless it is empty */

ngx_int_t
ngx_http_replog_client_get(ngx_http_replog_client_t *cl, ngx_str_t *uri,
    ngx_str_t *token)
{
    u_char  *p;

    p = ngx_http_replog_client_reserve(cl,
                                       sizeof("GET  HTTP/1.1\r\nHost: \r\n"
                                              "x-token: \r\n\r\n")
                                       + uri->len + cl->name.len
                                       + (token ? token->len : 0));
    if (p == NULL) {
        return NGX_ERROR;
    }

    cl->req = p;

    p = ngx_sprintf(p, "GET %V HTTP/1.1\r\nHost: %V\r\n", uri, &cl->name);

    if (token && token->len) {
        p = ngx_sprintf(p, "x-token: %V\r\n", token);
    }

    *p++ = CR;
    *p++ = LF;

    cl->out.last = p;

    return NGX_OK;
}


/*
 * POST uri with a JSON body of at most size bytes, written by the caller
 * from the pointer returned, and x-replog-master when master is given
 * (even empty).  The head goes before the body once its length is known.
 * The strings must live until client_post_end.
 */

u_char *
ngx_http_replog_client_post(ngx_http_replog_client_t *cl, ngx_str_t *uri,
    ngx_str_t *token, ngx_str_t *master, size_t size)
{
    u_char  *p;
    size_t   head;

    head = sizeof("POST  HTTP/1.1\r\nHost: \r\n"
                  "Content-Type: application/json\r\nx-token: \r\n"
                  "x-replog-master: \r\nContent-Length: \r\n\r\n")
           + uri->len + cl->name.len + (token ? token->len : 0)
           + (master ? master->len : 0) + NGX_SIZE_T_LEN;

    p = ngx_http_replog_client_reserve(cl, head + size);
    if (p == NULL) {
        return NULL;
    }

    cl->uri = *uri;
    ngx_str_null(&cl->token);
    ngx_str_null(&cl->master);
    cl->has_master = (master != NULL);

    if (token) {
        cl->token = *token;
    }

    if (master) {
        cl->master = *master;
    }

    cl->head_room = head;
    cl->req = NULL;

    return p + head;
}


void
ngx_http_replog_client_post_end(ngx_http_replog_client_t *cl, u_char *last)
{
    u_char  *body, *p, len[NGX_SIZE_T_LEN];
    size_t   hlen, n;

    body = cl->out.start + cl->head_room;

    n = ngx_sprintf(len, "%uz", (size_t) (last - body)) - len;

    hlen = sizeof("POST  HTTP/1.1\r\nHost: \r\n"
                  "Content-Type: application/json\r\n"
                  "Content-Length: \r\n\r\n") - 1
           + cl->uri.len + cl->name.len + n;

    if (cl->token.len) {
        hlen += sizeof("x-token: \r\n") - 1 + cl->token.len;
    }

    if (cl->has_master) {
        hlen += sizeof("x-replog-master: \r\n") - 1 + cl->master.len;
    }

    /* right before the body, the room being large enough for any head */

    p = body - hlen;
    cl->req = p;

    p = ngx_sprintf(p, "POST %V HTTP/1.1\r\nHost: %V\r\n"
                    "Content-Type: application/json\r\n",
                    &cl->uri, &cl->name);

    if (cl->token.len) {
        p = ngx_sprintf(p, "x-token: %V\r\n", &cl->token);
    }

    if (cl->has_master) {
        p = ngx_sprintf(p, "x-replog-master: %V\r\n", &cl->master);
    }

    p = ngx_sprintf(p, "Content-Length: %*s\r\n\r\n", n, len);

    cl->out.last = last;
}


/* sends the request built last, from its start: a retry sends it again */

ngx_int_t
ngx_http_replog_client_send(ngx_http_replog_client_t *cl)
{
    ngx_int_t          rc;
    ngx_connection_t  *c;

    if (cl->busy) {
        return NGX_BUSY;
    }

    /* a big reply once does not keep its buffer for the connection's life */

    if (cl->in.start
        && (size_t) (cl->in.end - cl->in.start)
           > NGX_HTTP_REPLOG_CLIENT_HEADER_MAX)
    {
        ngx_free(cl->in.start);
        cl->in.start = NULL;
    }

    if (cl->in.start == NULL) {
        cl->in.start = ngx_alloc(4096, &cl->log);
        if (cl->in.start == NULL) {
            return NGX_ERROR;
        }

        cl->in.end = cl->in.start + 4096;
    }

    if (cl->req == NULL) {
        cl->err = "no request";
        return NGX_ERROR;
    }

    cl->out.pos = cl->req;

    ngx_http_replog_client_parse_init(cl);
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

        if (cl->in.last == cl->in.end
            && ngx_http_replog_client_grow(cl) != NGX_OK)
        {
            ngx_http_replog_client_finish(cl, NGX_ERROR, cl->err);
            return;
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
                                          n == 0 ? cl->err : "recv failed");
            return;
        }

        cl->in.last += n;
        cl->reads++;

        rc = ngx_http_replog_client_parse(cl, 0);

        if (rc == NGX_OK) {
            ngx_http_replog_client_finish(cl, NGX_OK, NULL);
            return;
        }

        if (rc == NGX_ERROR) {
            ngx_http_replog_client_finish(cl, NGX_ERROR, cl->err);
            return;
        }
    }
}


/*
 * A full buffer grows to what the reply may still need: the header limit
 * while in the header, then the header plus Content-Length (or in_max).
 * Only offsets point into it, so moving it is safe.
 */

static ngx_int_t
ngx_http_replog_client_grow(ngx_http_replog_client_t *cl)
{
    u_char  *p;
    size_t   size, need;

    size = cl->in.end - cl->in.start;

    if (!cl->header_done) {
        need = NGX_HTTP_REPLOG_CLIENT_HEADER_MAX + cl->in_max;

    } else if (cl->content_length >= 0) {
        need = cl->body_start + (size_t) cl->content_length;

    } else {
        /* one byte more than allowed tells a body too large */
        need = cl->body_start + cl->in_max + 1;
    }

    if (size >= need) {
        cl->too_large = cl->header_done;
        cl->err = "reply too large";
        return NGX_ERROR;
    }

    /* a known length is allocated at once, anything else doubles */

    if (cl->header_done && cl->content_length >= 0) {
        size = need;

    } else {
        size = ngx_min(size * 2, need);
    }

    p = ngx_alloc(size, &cl->log);
    if (p == NULL) {
        cl->err = "no memory";
        return NGX_ERROR;
    }

    ngx_memcpy(p, cl->in.start, cl->in.last - cl->in.start);

    cl->in.last = p + (cl->in.last - cl->in.start);
    cl->in.pos = p;
    cl->in.end = p + size;

    ngx_free(cl->in.start);
    cl->in.start = p;

    return NGX_OK;
}


/* a reply is read afresh: the parser's state and what it fills */

void
ngx_http_replog_client_parse_init(ngx_http_replog_client_t *cl)
{
    cl->in.pos = cl->in.start;
    cl->in.last = cl->in.start;
    cl->status = 0;
    cl->body = NULL;
    cl->body_len = 0;
    cl->content_length = -1;
    ngx_str_null(&cl->captured);
    cl->scan = 0;
    cl->line = 0;
    cl->body_start = 0;
    cl->captured_off = 0;
    cl->reads = 0;
    cl->scanned = 0;
    cl->status_done = 0;
    cl->header_done = 0;
    cl->no_body = 0;
    cl->close = 0;
    cl->too_large = 0;
    cl->err = NULL;
}


/*
 * "HTTP/1.x NNN[ reason]": the reason is ignored, but must be printable
 * like the rest of the line (the caller has refused control bytes)
 */

static ngx_int_t
ngx_http_replog_client_status_line(ngx_http_replog_client_t *cl, u_char *p,
    size_t len)
{
    ngx_int_t  status;

    if (len < sizeof("HTTP/1.x NNN") - 1
        || ngx_strncmp(p, "HTTP/1.", sizeof("HTTP/1.") - 1) != 0
        || (p[7] != '0' && p[7] != '1')
        || p[8] != ' '
        || (len > 12 && p[12] != ' '))
    {
        cl->err = "invalid status line";
        return NGX_ERROR;
    }

    status = ngx_atoi(p + 9, 3);

    /* no interim replies are expected from our peers */
    if (status < 200 || status > 599) {
        cl->err = "invalid status line";
        return NGX_ERROR;
    }

    cl->status = status;
    cl->close = (p[7] == '0');
    cl->no_body = (status == 204 || status == 304);

    return NGX_OK;
}


/* one header line without its CRLF: Content-Length, Connection, capture */

static ngx_int_t
ngx_http_replog_client_header_line(ngx_http_replog_client_t *cl, u_char *p,
    size_t len)
{
    off_t    n;
    u_char  *name, *value, *end, *last;
    size_t   nlen, vlen;

    end = p + len;
    name = p;

    /* a name is a token: no white space, no folding, no empty name */

    for (last = p; last < end && *last != ':'; last++) {
        if (*last <= ' ' || *last >= 0x7f || *last == '"') {
            cl->err = "invalid header name";
            return NGX_ERROR;
        }
    }

    if (last == end || last == name) {
        cl->err = "invalid header line";
        return NGX_ERROR;
    }

    nlen = last - name;

    value = last + 1;

    while (value < end && (*value == ' ' || *value == '\t')) {
        value++;
    }

    while (end > value && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }

    vlen = end - value;

    if (nlen == sizeof("Content-Length") - 1
        && ngx_strncasecmp(name, (u_char *) "Content-Length", nlen) == 0)
    {
        n = (vlen && vlen <= NGX_OFF_T_LEN) ? ngx_atoof(value, vlen)
                                            : NGX_ERROR;

        if (n == NGX_ERROR
            || (cl->content_length != -1 && cl->content_length != n))
        {
            cl->err = "invalid Content-Length";
            return NGX_ERROR;
        }

        cl->content_length = n;

        return NGX_OK;
    }

    /* our peers never send one: refused rather than read until close */

    if (nlen == sizeof("Transfer-Encoding") - 1
        && ngx_strncasecmp(name, (u_char *) "Transfer-Encoding", nlen) == 0)
    {
        cl->err = "Transfer-Encoding is not supported";
        return NGX_ERROR;
    }

    if (nlen == sizeof("Connection") - 1
        && ngx_strncasecmp(name, (u_char *) "Connection", nlen) == 0)
    {
        if (ngx_strlcasestrn(value, end, (u_char *) "close", 5 - 1)) {
            cl->close = 1;
        }

        return NGX_OK;
    }

    if (cl->capture.len && nlen == cl->capture.len
        && ngx_strncasecmp(name, cl->capture.data, nlen) == 0)
    {
        cl->captured_off = value - cl->in.start;
        cl->captured.len = vlen;
    }

    return NGX_OK;
}


/*
 * NGX_OK: a whole reply; NGX_AGAIN: more to read; NGX_ERROR: garbage, with
 * err set.  Only the bytes in.start..in.last are read; the header is
 * scanned once, from where the last call stopped.
 */

ngx_int_t
ngx_http_replog_client_parse(ngx_http_replog_client_t *cl, ngx_uint_t eof)
{
    u_char     *p, *last, *line, *first;
    size_t      len;
    ngx_int_t   rc;

    if (cl->header_done) {
        goto body;
    }

    first = cl->in.start + cl->scan;
    last = cl->in.last;

    for (p = first; p < last; p++) {

        if (*p != '\n') {

            /* control bytes only as HTAB, and only in header values */

            if ((*p < ' ' && *p != '\r' && (*p != '\t' || !cl->status_done))
                || *p == 0x7f)
            {
                cl->err = "control byte in the reply header";
                return NGX_ERROR;
            }

            if (p > cl->in.start && p[-1] == '\r') {
                cl->err = "bare CR in the reply header";
                return NGX_ERROR;
            }

            continue;
        }

        line = cl->in.start + cl->line;

        if (p == line || p[-1] != '\r') {
            cl->err = "bare LF in the reply header";
            return NGX_ERROR;
        }

        len = p - 1 - line;

        if (!cl->status_done) {
            rc = ngx_http_replog_client_status_line(cl, line, len);
            cl->status_done = 1;

        } else if (len == 0) {
            cl->header_done = 1;
            cl->body_start = ++p - cl->in.start;
            cl->scan = cl->body_start;
            break;

        } else if (*line == ' ' || *line == '\t') {
            cl->err = "folded header line";
            rc = NGX_ERROR;

        } else {
            rc = ngx_http_replog_client_header_line(cl, line, len);
        }

        if (rc != NGX_OK) {
            return NGX_ERROR;
        }

        cl->line = p + 1 - cl->in.start;
    }

    cl->scanned += p - first;

    if (!cl->header_done) {
        cl->scan = p - cl->in.start;
    }

    /* the buffer may hold more than the limit from an earlier reply */

    if (cl->scan > NGX_HTTP_REPLOG_CLIENT_HEADER_MAX
        || (!cl->header_done
            && cl->scan == NGX_HTTP_REPLOG_CLIENT_HEADER_MAX))
    {
        cl->err = "reply header too large";
        return NGX_ERROR;
    }

    if (!cl->header_done) {
        if (eof) {
            cl->err = "connection closed in the reply header";
            return NGX_ERROR;
        }

        return NGX_AGAIN;
    }

    /* each byte of a header is looked at once, however it trickles in */

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, &cl->log, 0,
                   "replog: reply %ui from \"%V\": header of %uz bytes, "
                   "%uz scanned, in %ui reads",
                   cl->status, &cl->name, cl->body_start, cl->scanned,
                   cl->reads);

    if (cl->no_body) {
        cl->content_length = 0;
    }

    if (cl->content_length > (off_t) cl->in_max) {
        cl->too_large = 1;
        cl->err = "reply too large";
        return NGX_ERROR;
    }

body:

    cl->body_len = cl->in.last - (cl->in.start + cl->body_start);

    if (cl->content_length >= 0) {
        if ((off_t) cl->body_len < cl->content_length) {
            if (eof) {
                cl->err = "connection closed in the reply body";
                return NGX_ERROR;
            }

            return NGX_AGAIN;
        }

        if ((off_t) cl->body_len > cl->content_length) {
            /* bytes past the reply: this connection is not reused */
            cl->body_len = cl->content_length;
            cl->close = 1;
        }

    } else {
        /* no length: the body ends with the connection */

        cl->close = 1;

        if (cl->body_len > cl->in_max) {
            cl->too_large = 1;
            cl->err = "reply too large";
            return NGX_ERROR;
        }

        if (!eof) {
            return NGX_AGAIN;
        }
    }

    /* the buffer moves no more: pointers for the caller */

    cl->body = cl->in.start + cl->body_start;

    if (cl->captured.len) {
        cl->captured.data = cl->in.start + cl->captured_off;
    }

    return NGX_OK;
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

    /*
     * an answer before the whole request went out (an early 413, say):
     * the rest of the request would reach the peer as the next one
     */
    if (cl->out.pos < cl->out.last) {
        cl->close = 1;
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
