
/*
 * Copyright (C) replog authors
 */


#ifndef _NGX_HTTP_REPLOG_ENGINE_H_INCLUDED_
#define _NGX_HTTP_REPLOG_ENGINE_H_INCLUDED_


#include "ngx_http_replog_module.h"


/*
 * The engine: links, batches, acks, waiters, catch-up, heartbeats and the
 * recovery of a restarted master; between the store and the client.
 */


/* how the engine answers a parked client, with a snapshot of its holders */
typedef ngx_int_t (*ngx_http_replog_answer_pt)(ngx_http_request_t *r,
    ngx_uint_t status, ngx_http_replog_peers_t *peers);


/* recovery of a restarted master from its secondaries */
void *ngx_http_replog_recovery_create(ngx_http_replog_srv_conf_t *node,
    ngx_pool_t *pool, ngx_log_t *log);
ngx_int_t ngx_http_replog_recovery_step(void *data);
void ngx_http_replog_recovery_free(void *data);

/* engine: links, batches, acks, waiters, catch-up, heartbeats */
ngx_int_t ngx_http_replog_engine_init_process(ngx_cycle_t *cycle);
void ngx_http_replog_engine_exit_process(ngx_cycle_t *cycle);
void ngx_http_replog_engine_appended(ngx_http_replog_srv_conf_t *node,
    uint64_t id, ngx_http_replog_peers_t *peers);
void ngx_http_replog_engine_expect(ngx_http_replog_srv_conf_t *node,
    ngx_uint_t wc);
void ngx_http_replog_wake_others(ngx_http_replog_zone_t *zone,
    uint64_t acked_id, ngx_http_replog_peers_t *peers);
ngx_int_t ngx_http_replog_engine_wait(ngx_http_request_t *r,
    ngx_http_replog_srv_conf_t *node, uint64_t id, ngx_uint_t wc,
    ngx_msec_t timeout, ngx_http_replog_answer_pt answer);


#endif /* _NGX_HTTP_REPLOG_ENGINE_H_INCLUDED_ */
