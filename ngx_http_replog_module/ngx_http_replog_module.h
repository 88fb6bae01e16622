
/*
 * Copyright (C) replog authors
 */


#ifndef _NGX_HTTP_REPLOG_MODULE_H_INCLUDED_
#define _NGX_HTTP_REPLOG_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_replog_common.h"
#include "ngx_http_replog_wake.h"
#include "ngx_http_replog_log.h"          /* durable log hook */


#define NGX_HTTP_REPLOG_MASTER        1
#define NGX_HTTP_REPLOG_SECONDARY     2

#define NGX_HTTP_REPLOG_WC_MAJORITY   -2
#define NGX_HTTP_REPLOG_WC_ALL        -3

/* entries per index chunk; the index is a directory of such chunks */
#define NGX_HTTP_REPLOG_CHUNK         1024

#define NGX_HTTP_REPLOG_MAX_SECONDARIES  32

/* a secondary's state in the registry; 0 is a free slot */
#define NGX_HTTP_REPLOG_HEALTHY       1
#define NGX_HTTP_REPLOG_SUSPECTED     2
#define NGX_HTTP_REPLOG_UNHEALTHY     3
#define NGX_HTTP_REPLOG_CONFLICT      4

/* a master's log: open for writes, or recovering after a restart */
#define NGX_HTTP_REPLOG_OPEN          0
#define NGX_HTTP_REPLOG_RECOVERING    1
#define NGX_HTTP_REPLOG_PULLING       2

/*
 * registrations a restarted master waits for: without its own copy it
 * needs every secondary that may hold a majority write, N - N/2 of them
 */
#define ngx_http_replog_recovery_needed(n)  ((n) - (n) / 2)

#define NGX_HTTP_REPLOG_RETRY_UNIFORM      0
#define NGX_HTTP_REPLOG_RETRY_EXPONENTIAL  1

/* a batch of the default replog_batch bytes=1m and its envelope */
#define NGX_HTTP_REPLOG_BATCH_BUFFER  (1024 * 1024 + 64 * 1024)

#define NGX_HTTP_REPLOG_HOST_LEN      64
#define NGX_HTTP_REPLOG_ERR_LEN       128

/* "2026-11-27T12:07:09.123456Z" */
#define NGX_HTTP_REPLOG_TIME_LEN                                             \
    (sizeof("1970-01-01T00:00:00.000000Z") - 1)

/* store results besides NGX_OK / NGX_ERROR */
#define NGX_HTTP_REPLOG_FULL          1
#define NGX_HTTP_REPLOG_GAP           2
#define NGX_HTTP_REPLOG_EPOCH         3
#define NGX_HTTP_REPLOG_MOVED         4   /* copied into a resized zone */


/*
 * One message as stored in the zone.  data holds its list form up to its
 * holders, ',{"message":"...","meta":{"message_id":7,"registered_at":"..."',
 * so reads and replication stream bytes without encoding them again: a
 * list appends ',"registered_to":[...]}}', a batch '}}'.  The leading comma
 * is skipped for the first entry of a list.
 */
typedef struct {
    uint64_t                        id;
    uint64_t                        cum;      /* list bytes of 1..id */
    uint32_t                        len;      /* of data */
    uint32_t                        msg;      /* message JSON in data */
    uint32_t                        msg_len;
    u_char                          data[1];
} ngx_http_replog_entry_t;


typedef struct {
    ngx_uint_t                      status;
    uint64_t                        generation;  /* bumped on register */

    u_char                          id[NGX_HTTP_REPLOG_ID_LEN];
    size_t                          id_len;
    ngx_sockaddr_t                  sockaddr;
    socklen_t                       socklen;
    u_char                          host[NGX_SOCKADDR_STRLEN];
    size_t                          host_len;
    in_port_t                       port;

    uint64_t                        epoch;
    uint64_t                        acked_id;
    uint64_t                        incarnation; /* of its log, see ack */
    ngx_msec_t                      acked_at;    /* when acked_id moved */
    time_t                          registered_at;
    time_t                          last_healthy;
    time_t                          status_changed;  /* HEALTHY or not */
    ngx_uint_t                      fails;

    u_char                          last_error[NGX_HTTP_REPLOG_ERR_LEN];
    size_t                          last_error_len;

    uint64_t                        batches;
    uint64_t                        retries;
} ngx_http_replog_secondary_t;


typedef struct {
    /* the log: a directory of chunks of entry pointers, dense by id */
    ngx_http_replog_entry_t      ***dir;
    ngx_uint_t                      dir_cap;

    uint64_t                        epoch;
    uint64_t                        incarnation;  /* new with every log */
    uint64_t                        last_id;  /* contiguous prefix */
    uint64_t                        max_id;   /* highest id held */
    uint64_t                        bytes;    /* list bytes of the prefix */
    ngx_uint_t                      pending;  /* held past a gap */
    ngx_uint_t                      moved;    /* copied by a resize */

    uint64_t                        appended;
    uint64_t                        rejected_full;
    ngx_msec_t                      started;

    ngx_uint_t                      state;
    ngx_msec_t                      recovery_start;
    uint64_t                        recovery_target;

    /* master: the registry */
    ngx_http_replog_secondary_t
                           secondaries[NGX_HTTP_REPLOG_MAX_SECONDARIES];
    ngx_uint_t                      nsecondaries;
    uint64_t                        generation;
    u_char                          url[NGX_HTTP_REPLOG_HOST_LEN];
    size_t                          url_len;

    /* secondary: where the batches come from */
    u_char                          master[NGX_HTTP_REPLOG_HOST_LEN];
    size_t                          master_len;

    ngx_atomic_t                    waiters;
    uint64_t                        wc_timeouts;
    uint64_t                        catchup_entries;

    /* master: workers to wake when an ack covers their parked clients */
    ngx_http_replog_wake_sh_t      *wake;
    ngx_atomic_t                    woken[NGX_HTTP_REPLOG_WOKEN_N];

    /* durable log hook: the writer's marks, NULL without path= */
    ngx_http_replog_log_sh_t       *log;
} ngx_http_replog_sh_t;


struct ngx_http_replog_zone_s {
    ngx_http_replog_sh_t           *sh;
    ngx_slab_pool_t                *shpool;
    ngx_str_t                       name;
    ngx_str_t                       json_name;
    ngx_uint_t                      used;     /* by a replog_node */
    ngx_uint_t                      role;
    ngx_uint_t                      recovery;
    ngx_pool_t                     *pool;     /* of the cycle it is of */
    ngx_http_replog_wake_slot_t    *wake;     /* this worker's entry */
    ngx_http_replog_log_t          *log;      /* durable log hook */
};


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


/* the result of an append, copied out of the zone */
typedef struct {
    uint64_t                        id;
    int64_t                         usec;
} ngx_http_replog_appended_t;


/* a node's state and counts, read at once */
typedef struct {
    ngx_uint_t                      state;
    ngx_uint_t                      registered;
    ngx_uint_t                      up;
    ngx_uint_t                      cluster_size;
} ngx_http_replog_view_t;


/*
 * ids up to hi of a list have the same holders: the suffix of each, kept
 * in a buffer of whole 8-byte words (padded) so that it is copied without
 * a call
 */
typedef struct {
    uint64_t                        hi;
    ngx_str_t                       suffix;
    size_t                          padded;
} ngx_http_replog_run_t;


/* an entry of a batch, parsed on the secondary */
typedef struct {
    uint64_t                        id;
    u_char                         *time;     /* NGX_HTTP_REPLOG_TIME_LEN */
    ngx_str_t                       msg;      /* JSON string */
} ngx_http_replog_batch_entry_t;


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
    uint64_t                       next;
    uint64_t                       last;
    uint64_t                       incarnation;  /* of the log listed */
    ngx_buf_t                     *buf;
    ngx_buf_t                     *big;
    ngx_chain_t                    out;
    ngx_http_replog_run_t         *runs;
    ngx_uint_t                     run;
    unsigned                       opened:1;
    unsigned                       tail:1;
    unsigned                       done:1;

    /* POST /replicate */
    uint64_t                       epoch;
    ngx_http_replog_batch_entry_t *entries;
    ngx_uint_t                     nentries;
    ngx_event_t                    delay;
    uint64_t                       applied;  /* durable log hook */
} ngx_http_replog_ctx_t;


/* store: the zone log, knows no network and no HTTP */
ngx_int_t ngx_http_replog_init_zone(ngx_shm_zone_t *shm_zone, void *data);
ngx_int_t ngx_http_replog_store_append(ngx_http_replog_zone_t *zone,
    u_char *msg, size_t len, ngx_http_replog_appended_t *out);
ngx_int_t ngx_http_replog_store_apply(ngx_http_replog_zone_t *zone,
    uint64_t epoch, ngx_http_replog_batch_entry_t *entries, ngx_uint_t n,
    ngx_uint_t max_pending, uint64_t *acked_id);
ngx_int_t ngx_http_replog_store_reset(ngx_http_replog_zone_t *zone);
ngx_http_replog_entry_t *ngx_http_replog_store_get_locked(
    ngx_http_replog_sh_t *sh, uint64_t id);
ngx_int_t ngx_http_replog_store_restore_locked(ngx_http_replog_zone_t *zone,
    uint64_t id, const u_char *data, size_t len, uint32_t msg,
    uint32_t msg_len);
void ngx_http_replog_store_log_moved(ngx_http_replog_zone_t *zone,
    ngx_http_replog_zone_t *ozone);
uint64_t ngx_http_replog_store_cum_locked(ngx_http_replog_sh_t *sh,
    uint64_t id);
ngx_http_replog_entry_t **ngx_http_replog_store_slots_locked(
    ngx_http_replog_sh_t *sh, uint64_t id, ngx_uint_t *n);
uint64_t ngx_http_replog_new_epoch(void);
ngx_int_t ngx_http_replog_parse_wc(u_char *p, size_t len);
u_char *ngx_http_replog_format_time(u_char *p, int64_t usec);
u_char *ngx_http_replog_format_epoch(u_char *p, uint64_t epoch);

/* registry: secondaries and their health, in the master's zone */
ngx_int_t ngx_http_replog_registry_add(ngx_http_replog_zone_t *zone,
    ngx_str_t *id, struct sockaddr *sa, socklen_t socklen, in_port_t port,
    uint64_t epoch, uint64_t acked_id, ngx_log_t *log);
ngx_int_t ngx_http_replog_registry_ack(ngx_http_replog_zone_t *zone,
    ngx_uint_t slot, uint64_t generation, uint64_t acked_id,
    uint64_t incarnation, ngx_log_t *log);
void ngx_http_replog_registry_signal(ngx_http_replog_srv_conf_t *node,
    ngx_uint_t slot, uint64_t generation, ngx_uint_t ok, const char *err,
    ngx_log_t *log);
void ngx_http_replog_registry_conflict(ngx_http_replog_zone_t *zone,
    ngx_uint_t slot, uint64_t generation, ngx_log_t *log);
ngx_uint_t ngx_http_replog_registry_holders(ngx_http_replog_zone_t *zone,
    uint64_t id, ngx_pool_t *pool, ngx_str_t *master_id, ngx_str_t *json);
void ngx_http_replog_registry_view(ngx_http_replog_srv_conf_t *node,
    ngx_http_replog_view_t *view);
ngx_int_t ngx_http_replog_registry_states(ngx_http_replog_zone_t *zone,
    ngx_pool_t *pool, ngx_str_t *json);
ngx_int_t ngx_http_replog_registry_json(ngx_http_replog_zone_t *zone,
    ngx_pool_t *pool, ngx_uint_t original, ngx_str_t *json);
ngx_int_t ngx_http_replog_registry_awaited(ngx_http_replog_zone_t *zone,
    ngx_uint_t needed, ngx_pool_t *pool, ngx_str_t *json);
void ngx_http_replog_registry_judge_locked(ngx_http_replog_zone_t *zone,
    ngx_log_t *log);
const char *ngx_http_replog_status_name(ngx_uint_t status);
const char *ngx_http_replog_state_name(ngx_uint_t state);

/* recovery of a restarted master from its secondaries */
void *ngx_http_replog_recovery_create(ngx_http_replog_srv_conf_t *node,
    ngx_pool_t *pool, ngx_log_t *log);
ngx_int_t ngx_http_replog_recovery_step(void *data);
void ngx_http_replog_recovery_free(void *data);

/* engine: links, batches, acks, waiters, catch-up, heartbeats */
ngx_int_t ngx_http_replog_engine_init_process(ngx_cycle_t *cycle);
void ngx_http_replog_engine_exit_process(ngx_cycle_t *cycle);
void ngx_http_replog_engine_appended(ngx_http_replog_srv_conf_t *node,
    uint64_t id);
ngx_int_t ngx_http_replog_wake_others(ngx_http_replog_zone_t *zone,
    uint64_t acked_id, uint64_t *acked);
ngx_int_t ngx_http_replog_engine_wait(ngx_http_request_t *r,
    ngx_http_replog_srv_conf_t *node, uint64_t id, ngx_uint_t wc,
    ngx_msec_t timeout);

ngx_int_t ngx_http_replog_metrics(ngx_http_request_t *r);

/* GET /openapi.json and /docs, compiled in */
ngx_int_t ngx_http_replog_openapi(ngx_http_request_t *r, ngx_str_t *path);

/* secondary: the replicate endpoint */
ngx_int_t ngx_http_replog_replicate(ngx_http_request_t *r);
ngx_int_t ngx_http_replog_register(ngx_http_request_t *r);

/* JSON glue */
ngx_int_t ngx_http_replog_json_entries(ngx_pool_t *pool, u_char *body,
    size_t len, const char *key, uint64_t *epoch,
    ngx_http_replog_batch_entry_t **entries, ngx_uint_t *n, ngx_str_t *err);
ngx_int_t ngx_http_replog_json_register(ngx_http_request_t *r, u_char *body,
    size_t len, ngx_str_t *id, ngx_uint_t *port, uint64_t *epoch,
    uint64_t *acked_id, ngx_str_t *err);
ngx_int_t ngx_http_replog_valid_id(u_char *p, size_t len);
ngx_int_t ngx_http_replog_valid_url(u_char *p, size_t len);
ngx_int_t ngx_http_replog_parse_epoch(u_char *p, size_t len, uint64_t *epoch);
ngx_int_t ngx_http_replog_json_message(ngx_http_request_t *r, u_char *body,
    size_t len, ngx_str_t *msg, ngx_str_t *err);
size_t ngx_http_replog_json_escape_len(u_char *s, size_t len);
u_char *ngx_http_replog_json_escape(u_char *dst, u_char *s, size_t len);
ngx_int_t ngx_http_replog_json_acked(u_char *body, size_t len,
    uint64_t *acked_id, u_char *id, size_t *id_len, uint64_t *epoch);

/* API handlers */
ngx_int_t ngx_http_replog_handler(ngx_http_request_t *r);
void ngx_http_replog_api_init(void);
ngx_int_t ngx_http_replog_read_body(ngx_http_request_t *r,
    ngx_http_replog_body_pt handler);
ngx_int_t ngx_http_replog_post_answer(ngx_http_request_t *r,
    ngx_uint_t status);
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


extern ngx_module_t  ngx_http_replog_module;


#endif /* _NGX_HTTP_REPLOG_MODULE_H_INCLUDED_ */
