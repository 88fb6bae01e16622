
/*
 * Copyright (C) replog authors
 */


#ifndef _NGX_HTTP_REPLOG_CLIENT_H_INCLUDED_
#define _NGX_HTTP_REPLOG_CLIENT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>


typedef struct ngx_http_replog_client_s  ngx_http_replog_client_t;

typedef void (*ngx_http_replog_client_done_pt)(ngx_http_replog_client_t *cl,
    ngx_int_t rc);


/* the header of a reply is bounded apart from its body (in_max) */
#define NGX_HTTP_REPLOG_CLIENT_HEADER_MAX  (8 * 1024)


/*
 * An HTTP/1.1 client on one keepalive connection, driven by events and
 * timers outside any request.  It knows no log and no registry: it builds
 * the request it is asked for (client_get, or client_post and the body
 * written where it says, then client_post_end), sends it (again, on a
 * retry) and calls back once with NGX_OK (status and body are set) or
 * NGX_ERROR (err says why).
 *
 * "in" grows while a reply is read, so everything that points into it is
 * kept as an offset; body and captured.data are set from those only once
 * the reply is whole, and are valid in the done callback.
 */

struct ngx_http_replog_client_s {
    ngx_peer_connection_t            peer;
    ngx_sockaddr_t                   sockaddr;
    socklen_t                        socklen;
    ngx_str_t                        name;
    u_char                           name_data[NGX_SOCKADDR_STRLEN];

    ngx_buf_t                        out;
    u_char                          *req;         /* its first byte */
    ngx_str_t                        uri;         /* of a POST being built */
    ngx_str_t                        token;
    ngx_str_t                        master;
    size_t                           head_room;
    unsigned                         has_master:1;

    ngx_buf_t                        in;
    size_t                           in_max;      /* of the body */

    ngx_uint_t                       status;
    u_char                          *body;
    size_t                           body_len;
    off_t                            content_length;
    const char                      *err;

    /* one response header the caller wants, by name */
    ngx_str_t                        capture;
    ngx_str_t                        captured;

    /* the parser's state: offsets into "in", never pointers */
    size_t                           scan;        /* next byte to look at */
    size_t                           line;        /* current header line */
    size_t                           body_start;
    size_t                           captured_off;
    ngx_uint_t                       reads;       /* recv()s of a reply */
    size_t                           scanned;     /* header bytes looked at */

    ngx_msec_t                       timeout;
    ngx_log_t                        log;

    ngx_http_replog_client_done_pt   done;
    void                            *data;

    unsigned                         busy:1;
    unsigned                         status_done:1;
    unsigned                         header_done:1;
    unsigned                         no_body:1;
    unsigned                         close:1;
    /* the reply is over in_max: Content-Length (if any) tells by how much */
    unsigned                         too_large:1;
};


void ngx_http_replog_client_init(ngx_http_replog_client_t *cl,
    size_t in_max, ngx_msec_t timeout, char *capture,
    ngx_http_replog_client_done_pt done, void *data, ngx_log_t *log);
void ngx_http_replog_client_abort(ngx_http_replog_client_t *cl);
void ngx_http_replog_client_set_addr(ngx_http_replog_client_t *cl,
    struct sockaddr *sa, socklen_t socklen);
ngx_int_t ngx_http_replog_client_get(ngx_http_replog_client_t *cl,
    ngx_str_t *uri, ngx_str_t *token);
u_char *ngx_http_replog_client_post(ngx_http_replog_client_t *cl,
    ngx_str_t *uri, ngx_str_t *token, ngx_str_t *master, size_t size);
void ngx_http_replog_client_post_end(ngx_http_replog_client_t *cl,
    u_char *last);
ngx_int_t ngx_http_replog_client_send(ngx_http_replog_client_t *cl);

/*
 * The reply parser on its own (for fuzzing too): after parse_init, put the
 * bytes received so far in in.start..in.last (in_max set) and call parse
 * with eof when the peer closed; NGX_AGAIN asks for more bytes in the same
 * buffer, which may be moved between calls.  NGX_OK fills status, body,
 * body_len, content_length, captured and close; NGX_ERROR sets err.
 */
void ngx_http_replog_client_parse_init(ngx_http_replog_client_t *cl);
ngx_int_t ngx_http_replog_client_parse(ngx_http_replog_client_t *cl,
    ngx_uint_t eof);
void ngx_http_replog_client_close(ngx_http_replog_client_t *cl);
void ngx_http_replog_client_free(ngx_http_replog_client_t *cl);


#endif /* _NGX_HTTP_REPLOG_CLIENT_H_INCLUDED_ */
