
/*
 * Copyright (C) replog authors
 */


#ifndef _NGX_HTTP_REPLOG_JSON_H_INCLUDED_
#define _NGX_HTTP_REPLOG_JSON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_http_replog_store.h"


/* the JSON glue: every parser and encoder of the module's JSON */
ngx_int_t ngx_http_replog_json_entries(ngx_pool_t *pool, u_char *body,
    size_t len, const char *key, uint64_t *epoch,
    ngx_http_replog_batch_entry_t **entries, ngx_uint_t *n, ngx_str_t *err);
ngx_int_t ngx_http_replog_json_register(ngx_pool_t *pool, u_char *body,
    size_t len, ngx_str_t *id, ngx_uint_t *port, uint64_t *epoch,
    uint64_t *acked_id, ngx_str_t *err);
ngx_int_t ngx_http_replog_valid_id(u_char *p, size_t len);
ngx_int_t ngx_http_replog_valid_url(u_char *p, size_t len);
ngx_int_t ngx_http_replog_parse_epoch(u_char *p, size_t len, uint64_t *epoch);
ngx_int_t ngx_http_replog_json_message(ngx_pool_t *pool, u_char *body,
    size_t len, ngx_str_t *msg, ngx_str_t *err);
size_t ngx_http_replog_json_escape_len(u_char *s, size_t len);
ngx_int_t ngx_http_replog_json_holders(ngx_pool_t *pool, ngx_str_t *master,
    ngx_http_replog_peers_t *peers, uint64_t id, ngx_str_t *json);
u_char *ngx_http_replog_json_escape(u_char *dst, u_char *s, size_t len);
ngx_int_t ngx_http_replog_json_acked(u_char *body, size_t len,
    uint64_t *acked_id, u_char *id, size_t *id_len, uint64_t *epoch);


#endif /* _NGX_HTTP_REPLOG_JSON_H_INCLUDED_ */
