
/*
 * Copyright (C) replog authors
 */


#ifndef _NGX_HTTP_REPLOG_MODULE_H_INCLUDED_
#define _NGX_HTTP_REPLOG_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_replog_store.h"
#include "ngx_http_replog_log_read.h"


#define NGX_HTTP_REPLOG_WC_MAJORITY   -2
#define NGX_HTTP_REPLOG_WC_ALL        -3

/*
 * registrations a restarted master waits for: without its own copy it
 * needs every secondary that may hold a majority write, N - N/2 of them
 */
#define ngx_http_replog_recovery_needed(n)  ((n) - (n) / 2)

#define NGX_HTTP_REPLOG_RETRY_UNIFORM      0
#define NGX_HTTP_REPLOG_RETRY_EXPONENTIAL  1

/* a batch of the default replog_batch bytes=1m and its envelope */
#define NGX_HTTP_REPLOG_BATCH_BUFFER  (1024 * 1024 + 64 * 1024)


typedef struct {
    ngx_shm_zone_t                 *shm_zone;
    ngx_uint_t                      role;
    ngx_str_t                       id;
    ngx_uint_t                      cluster_size;
    ngx_uint_t                      max_pending;
    ngx_flag_t                      quorum;
    ngx_flag_t                      recovery;
    ngx_msec_t                      recovery_unsafe;   /* 0: never */
    ngx_str_t                       service_key;
    ngx_str_t                       master_url;  /* replog_master_url */

    ngx_msec_t                      hc_interval;
    ngx_msec_t                      hc_timeout;
    ngx_uint_t                      hc_suspect;
    ngx_uint_t                      hc_fails;
    ngx_msec_t                      hc_remove_after;

    ngx_msec_t                      retry_interval;
    ngx_msec_t                      retry_max_delay;
    ngx_uint_t                      retry_mechanism;

    ngx_uint_t                      batch_max;
    size_t                          batch_bytes;
    ngx_msec_t                      batch_timeout;

    ngx_msec_t                      delay_low;
    ngx_msec_t                      delay_high;
    ngx_uint_t                      fail_rate;  /* per million */

    void                           *loc_conf;  /* server level, merged */
    void                           *engine;    /* this worker's */

    u_char                         *file;     /* where replog_node was */
    ngx_uint_t                      line;
} ngx_http_replog_srv_conf_t;


typedef struct {
    ngx_flag_t                      api;
    ngx_str_t                       api_key;  /* .data == NULL: unset */
    ngx_int_t                       wc;
    ngx_msec_t                      wc_timeout;
    ngx_msec_t                      tail_max_wait;
    off_t                           max_body;
    ngx_http_replog_srv_conf_t     *node;
    ngx_http_core_loc_conf_t       *clcf;

    u_char                         *file;     /* where replog_api was */
    ngx_uint_t                      line;
} ngx_http_replog_loc_conf_t;


typedef struct {
    ngx_array_t                     zones;    /* ngx_shm_zone_t * */
    ngx_array_t                     apis;     /* loc conf * */
    ngx_array_t                     nodes;    /* srv conf * */
} ngx_http_replog_main_conf_t;


typedef ngx_int_t (*ngx_http_replog_body_pt)(ngx_http_request_t *r,
    ngx_str_t *body);


/* a request of the API */
typedef struct {
    ngx_http_replog_srv_conf_t    *node;
    ngx_http_replog_loc_conf_t    *conf;

    ngx_http_replog_body_pt        body_handler;

    /* POST */
    ngx_int_t                      wc;
    ngx_str_t                      msg;
    ngx_http_replog_appended_t     appended;
    ngx_msec_t                     timeout;
    off_t                          body_size;
    unsigned                       too_large:1;

    /* GET /messages */
    ngx_http_replog_cursor_t       cursor;
    ngx_buf_t                     *buf;
    ngx_buf_t                     *big;
    ngx_chain_t                    out;
    ngx_http_replog_reader_t      *reader;   /* path=: evicted ids */
    off_t                          len;
    uint64_t                       list_epoch;
    uint64_t                       measure[2];
    unsigned                       opened:1;
    unsigned                       done:1;
    unsigned                       blocked:1;

    /* POST /replicate */
    uint64_t                       epoch;
    uint64_t                       first_id;  /* the master's log's */
    ngx_http_replog_batch_entry_t *entries;
    ngx_uint_t                     nentries;
    ngx_event_t                    delay;
    ngx_http_replog_applied_t      applied;  /* durable log hook: parked
                                                until the writer holds it */
    ngx_queue_t                    parked;   /* ... in this worker's list */
} ngx_http_replog_ctx_t;


/* a node's view: the state and counts a request checks first */
#define ngx_http_replog_node_view(node, view)                                \
    ngx_http_replog_registry_view((node)->shm_zone->data,                    \
                                  (node)->cluster_size, view)


extern ngx_module_t  ngx_http_replog_module;


#endif /* _NGX_HTTP_REPLOG_MODULE_H_INCLUDED_ */
