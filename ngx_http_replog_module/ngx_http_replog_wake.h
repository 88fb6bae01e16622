
/*
 * Copyright (C) replog authors
 */


#ifndef _NGX_HTTP_REPLOG_WAKE_H_INCLUDED_
#define _NGX_HTTP_REPLOG_WAKE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* workers of one zone at a time, old and new ones of a reload included */
#define NGX_HTTP_REPLOG_WAKE_SLOTS    64

/* what answered a parked client, for /metrics */
#define NGX_HTTP_REPLOG_WOKEN_ACK     0   /* an ack this worker read */
#define NGX_HTTP_REPLOG_WOKEN_WORKER  1   /* a wake-up of another worker */
#define NGX_HTTP_REPLOG_WOKEN_POLL    2   /* the safety-net poll */
#define NGX_HTTP_REPLOG_WOKEN_FSYNC   3   /* this worker's log writer */
#define NGX_HTTP_REPLOG_WOKEN_N       4

/* what answered a parked tailer (GET /messages?wait=), for /metrics */
#define NGX_HTTP_REPLOG_TAIL_APPEND   0   /* an append of its own worker */
#define NGX_HTTP_REPLOG_TAIL_WORKER   1   /* a wake-up of another worker */
#define NGX_HTTP_REPLOG_TAIL_POLL     2   /* the safety-net poll */
#define NGX_HTTP_REPLOG_TAIL_TIMEOUT  3   /* its wait ran out: empty */
#define NGX_HTTP_REPLOG_TAIL_EXIT     4   /* its worker shuts down */
#define NGX_HTTP_REPLOG_TAIL_N        5


/*
 * A worker's entry in a node's zone (a master's for its parked clients,
 * any node's for its tailers, a secondary's with fsync=always for its acks
 * parked until the durable mark covers them), keyed by ngx_process_slot: an old and a new worker 0 run side by side during a
 * reload.  All fields are atomic words, read and written without the zone
 * lock.
 */
typedef struct {
    ngx_atomic_t                    slot;
    ngx_atomic_t                    pid;      /* 0: a free entry */
    ngx_atomic_t                    lowest;   /* lowest parked id, 0: none */
    ngx_atomic_t                    minwc;    /* least write concern parked */
    ngx_atomic_t                    woken;    /* a wake-up is on its way */
    ngx_atomic_t                    tail;     /* lowest id a parked tailer
                                                 waits for, 0: none */
} ngx_http_replog_wake_slot_t;


typedef struct {
    ngx_http_replog_wake_slot_t     slots[NGX_HTTP_REPLOG_WAKE_SLOTS];
    ngx_atomic_t                    tailing;  /* entries with a tail mark:
                                                 0, an append sends none */
} ngx_http_replog_wake_sh_t;


ngx_int_t ngx_http_replog_wake_init_process(ngx_cycle_t *cycle);
void ngx_http_replog_wake_exit_process(ngx_cycle_t *cycle);
void ngx_http_replog_wake_mark(ngx_http_replog_wake_slot_t *me,
    uint64_t lowest, ngx_uint_t minwc);
void ngx_http_replog_engine_woken(ngx_cycle_t *cycle, ngx_uint_t by);
void ngx_http_replog_tail_woken(ngx_cycle_t *cycle);


#endif /* _NGX_HTTP_REPLOG_WAKE_H_INCLUDED_ */
