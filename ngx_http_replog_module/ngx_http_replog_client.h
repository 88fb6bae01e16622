
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


/*
 * An HTTP/1.1 client on one keepalive connection, driven by events and
 * timers outside any request.  It knows no log and no registry: the caller
 * writes a whole request into "out" and is called back once with NGX_OK
 * (status and body are set) or NGX_ERROR (err says why).
 */

struct ngx_http_replog_client_s {
    ngx_peer_connection_t            peer;
    ngx_sockaddr_t                   sockaddr;
    socklen_t                        socklen;
    ngx_str_t                        name;
    u_char                           name_data[NGX_SOCKADDR_STRLEN];

    ngx_buf_t                        out;
    ngx_buf_t                        in;
    size_t                           in_max;

    ngx_uint_t                       status;
    u_char                          *body;
    size_t                           body_len;
    off_t                            content_length;
    const char                      *err;

    /* one response header the caller wants, by name */
    ngx_str_t                        capture;
    ngx_str_t                        captured;

    ngx_msec_t                       timeout;
    ngx_log_t                        log;

    ngx_http_replog_client_done_pt   done;
    void                            *data;

    unsigned                         busy:1;
    unsigned                         header_done:1;
    unsigned                         close:1;
    /* the reply is over in_max: Content-Length (if any) tells by how much */
    unsigned                         too_large:1;
};


void ngx_http_replog_client_init(ngx_http_replog_client_t *cl,
    size_t in_max);
void ngx_http_replog_client_set_addr(ngx_http_replog_client_t *cl,
    struct sockaddr *sa, socklen_t socklen);
u_char *ngx_http_replog_client_reserve(ngx_http_replog_client_t *cl,
    size_t size);
ngx_int_t ngx_http_replog_client_send(ngx_http_replog_client_t *cl);
ngx_int_t ngx_http_replog_client_parse(ngx_http_replog_client_t *cl,
    ngx_uint_t eof);
void ngx_http_replog_client_close(ngx_http_replog_client_t *cl);
void ngx_http_replog_client_free(ngx_http_replog_client_t *cl);


#endif /* _NGX_HTTP_REPLOG_CLIENT_H_INCLUDED_ */
