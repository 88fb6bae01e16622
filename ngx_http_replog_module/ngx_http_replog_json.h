
/*
 * Copyright (C) replog authors
 */


#ifndef _NGX_HTTP_REPLOG_JSON_H_INCLUDED_
#define _NGX_HTTP_REPLOG_JSON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_http_replog_store.h"


/* the JSON glue: every parser and encoder of the module's JSON */

/* an entry's list form as stored: see ngx_http_replog_json_entry() */
#define NGX_HTTP_REPLOG_JSON_ENTRY_MSG  (sizeof(",{\"message\":") - 1)
#define NGX_HTTP_REPLOG_JSON_ENTRY_LEN(len)                                  \
    (sizeof(",{\"message\":,\"meta\":{\"message_id\":,"                      \
            "\"registered_at\":\"\"") - 1                                    \
     + NGX_HTTP_REPLOG_TIME_LEN + NGX_INT64_LEN + (len))

/* a batch's envelope: the head with its epoch, and its tail */
#define NGX_HTTP_REPLOG_JSON_BATCH_HEAD                                      \
    (sizeof("{\"epoch\":\"\",\"first_id\":,\"entries\":[") - 1 + 16        \
     + NGX_INT64_LEN)
#define NGX_HTTP_REPLOG_JSON_BATCH_TAIL  2

/* a list's envelope */
#define NGX_HTTP_REPLOG_JSON_LIST_HEAD  "{\"data\":["
#define NGX_HTTP_REPLOG_JSON_LIST_TAIL  "]}\n"

/* a secondary's answer to POST /reset */
#define NGX_HTTP_REPLOG_JSON_RESET      "{\"reset\":true,\"acked_id\":0}\n"

ngx_int_t ngx_http_replog_json_entries(ngx_pool_t *pool, u_char *body,
    size_t len, const char *key, uint64_t *epoch, uint64_t *first_id,
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
const char *ngx_http_replog_status_name(ngx_uint_t status);
const char *ngx_http_replog_state_name(ngx_uint_t state);
u_char *ngx_http_replog_format_time(u_char *p, int64_t usec);
u_char *ngx_http_replog_format_epoch(u_char *p, uint64_t epoch);
u_char *ngx_http_replog_json_entry(u_char *p, u_char *msg, size_t len,
    uint64_t id, u_char *time);
u_char *ngx_http_replog_json_batch_head(u_char *p, uint64_t epoch,
    uint64_t first_id);
u_char *ngx_http_replog_json_batch_tail(u_char *p);
void ngx_http_replog_json_batch_run(ngx_http_replog_run_t *run);
u_char *ngx_http_replog_json_recovering(u_char *p, ngx_uint_t registered,
    ngx_uint_t needed, ngx_uint_t state);
u_char *ngx_http_replog_json_quorum(u_char *p, ngx_uint_t up,
    ngx_uint_t needed, ngx_uint_t n);
u_char *ngx_http_replog_json_master(u_char *p, u_char *url, size_t len);
ngx_int_t ngx_http_replog_json_run(ngx_pool_t *pool, ngx_str_t *master,
    ngx_http_replog_peers_t *peers, uint64_t id, ngx_http_replog_run_t *run);
ngx_int_t ngx_http_replog_json_written(ngx_pool_t *pool, ngx_str_t *msg,
    ngx_http_replog_appended_t *a, ngx_str_t *master,
    ngx_http_replog_peers_t *peers, ngx_int_t wc, ngx_uint_t acks,
    ngx_str_t *json);
ngx_int_t ngx_http_replog_json_error(ngx_pool_t *pool, u_char *text,
    size_t len, ngx_str_t *fields, ngx_str_t *json);
ngx_int_t ngx_http_replog_json_registered(ngx_pool_t *pool, ngx_str_t *id,
    ngx_str_t *master_id, uint64_t epoch, uint64_t last_id, ngx_str_t *json);
ngx_int_t ngx_http_replog_json_ack(ngx_pool_t *pool, const char *err,
    uint64_t acked_id, ngx_str_t *id, uint64_t epoch, ngx_str_t *json);
ngx_int_t ngx_http_replog_json_health(ngx_pool_t *pool,
    ngx_http_replog_status_t *st, ngx_str_t *id, ngx_uint_t master,
    ngx_uint_t read_only, ngx_uint_t n, ngx_uint_t up, ngx_uint_t needed,
    ngx_str_t *json);
ngx_int_t ngx_http_replog_json_secondaries(ngx_pool_t *pool,
    ngx_http_replog_status_t *st, ngx_uint_t original, ngx_str_t *json);
ngx_int_t ngx_http_replog_json_acked(u_char *body, size_t len,
    uint64_t *acked_id, u_char *id, size_t *id_len, uint64_t *epoch);
ngx_int_t ngx_http_replog_json_gone(u_char *body, size_t len,
    uint64_t *first_id);


#endif /* _NGX_HTTP_REPLOG_JSON_H_INCLUDED_ */
