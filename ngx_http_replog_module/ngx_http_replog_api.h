
/*
 * Copyright (C) replog authors
 */


#ifndef _NGX_HTTP_REPLOG_API_H_INCLUDED_
#define _NGX_HTTP_REPLOG_API_H_INCLUDED_


#include "ngx_http_replog_module.h"


/* the API: the router, its handlers and what they answer with */
ngx_int_t ngx_http_replog_parse_wc(u_char *p, size_t len);

/* the endpoints the router hands a request to, with its path */
ngx_int_t ngx_http_replog_messages(ngx_http_request_t *r, ngx_str_t *path);
ngx_int_t ngx_http_replog_health(ngx_http_request_t *r, ngx_str_t *path);
ngx_int_t ngx_http_replog_metrics(ngx_http_request_t *r, ngx_str_t *path);
ngx_int_t ngx_http_replog_secondaries(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_replog_openapi(ngx_http_request_t *r, ngx_str_t *path);
ngx_int_t ngx_http_replog_replicate(ngx_http_request_t *r, ngx_str_t *path);
ngx_int_t ngx_http_replog_reset(ngx_http_request_t *r, ngx_str_t *path);
ngx_int_t ngx_http_replog_register(ngx_http_request_t *r, ngx_str_t *path);

/* API handlers */
ngx_int_t ngx_http_replog_handler(ngx_http_request_t *r);
void ngx_http_replog_api_init(void);
ngx_int_t ngx_http_replog_read_body(ngx_http_request_t *r,
    ngx_http_replog_body_pt handler);
ngx_int_t ngx_http_replog_method_not_allowed(ngx_http_request_t *r,
    const char *allow);
ngx_table_elt_t *ngx_http_replog_header(ngx_http_request_t *r,
    const char *name, size_t len);
ngx_int_t ngx_http_replog_retry_after(ngx_http_request_t *r,
    ngx_uint_t seconds);
ngx_int_t ngx_http_replog_send_body(ngx_http_request_t *r, ngx_str_t *body);
ngx_int_t ngx_http_replog_send_json(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *json);
ngx_int_t ngx_http_replog_send_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *fmt, ...);
ngx_int_t ngx_http_replog_send_error_fields(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *fields, const char *fmt, ...);


#endif /* _NGX_HTTP_REPLOG_API_H_INCLUDED_ */
