
/*
 * Copyright (C) replog authors
 */


#ifndef _NGX_HTTP_REPLOG_LOG_H_INCLUDED_
#define _NGX_HTTP_REPLOG_LOG_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>


/*
 * The durable log (replog_zone ... path=DIR): the zone's contiguous
 * prefix written to segment files by one writer at a time on nginx's
 * thread pool, replayed into the zone at start.  The file format is in
 * ngx_http_replog_log_format.h.
 */


#define NGX_HTTP_REPLOG_FSYNC_ALWAYS   0
#define NGX_HTTP_REPLOG_FSYNC_OFF      1
#define NGX_HTTP_REPLOG_FSYNC_TIME     2


typedef struct ngx_http_replog_zone_s  ngx_http_replog_zone_t;

/* called in the writer's worker when its fsync made more ids durable */
typedef void (*ngx_http_replog_log_durable_pt)(ngx_http_replog_zone_t *zone,
    ngx_uint_t by);


/* the writer's state, in the zone: any worker may be the next writer */
typedef struct {
    ngx_atomic_t                    claim;       /* the writer's pid */
    ngx_msec_t                      claimed_at;

    uint64_t                        written_id;  /* in the files */
    uint64_t                        durable_id;  /* and fsynced */
    uint64_t                        seg_first;   /* current segment */
    uint64_t                        seg_off;     /* its next record */
    uint64_t                        meta_epoch;  /* as in DIR/meta */
    uint64_t                        meta_incarnation;
    uint64_t                        reset_gen;   /* /reset requests */
    uint64_t                        done_gen;    /* ... carried out */
    uint64_t                        rolls;       /* segments created */
    uint64_t                        retained;    /* segments dropped */
    ngx_msec_t                      synced_at;   /* the last fdatasync */

    uint64_t                        fsyncs;
    uint64_t                        flushes;     /* tasks that wrote */
    uint64_t                        synced_entries;
    uint64_t                        write_errors;
    uint64_t                        bytes_written;
    uint64_t                        replayed;

    ngx_err_t                       failed;      /* last write error */
    ngx_uint_t                      abandon;     /* roll before writing */
    ngx_uint_t                      known;       /* DIR/meta was there */
    ngx_uint_t                      tainted;     /* ran without always */
} ngx_http_replog_log_sh_t;


/*
 * An entry the writer takes under the zone lock, copied after it: the
 * sizes as they were then, so a copy never reads past the entry even if a
 * reset freed it meanwhile (the copy is then thrown away)
 */
typedef struct {
    u_char                         *data;
    uint32_t                        len;
    uint32_t                        msg;
    uint32_t                        msg_len;
} ngx_http_replog_log_take_t;


/* where a chunk's first record was written, for the zone's index */
typedef struct {
    uint64_t                        id;
    uint64_t                        seg;
    uint64_t                        off;
} ngx_http_replog_log_note_t;

/* at most the chunks of one take, and both ends */
#define NGX_HTTP_REPLOG_LOG_NOTES      (32768 / 1024 + 2)


/* a zone's durable log as configured, and this worker's writer */
typedef struct {
    ngx_str_t                       path;        /* NUL-terminated */
    ngx_uint_t                      fsync;
    ngx_msec_t                      interval;
    size_t                          segment;     /* segment=SIZE */
    off_t                           retain_size; /* replog_retention */
    time_t                          retain_age;
    ngx_cycle_t                    *cycle;
    ngx_http_replog_zone_t         *zone;

    ngx_fd_t                        fd;
    uint64_t                        fd_seg;      /* first id of fd's */
    uint64_t                        fd_rolls;    /* rolls when opened */
    u_char                         *buf;
    size_t                          buf_size;
    ngx_http_replog_log_take_t     *take;        /* thread: this part's */
    ngx_uint_t                      ntake;
    ngx_http_replog_log_note_t      notes[NGX_HTTP_REPLOG_LOG_NOTES];
    ngx_uint_t                      nnotes;
    void                           *tp;          /* ngx_thread_pool_t */
    void                           *task;        /* ngx_thread_task_t */
    ngx_event_t                     timer;
    ngx_event_t                     group;       /* fsync=off, TIME */
    uint64_t                        woke;        /* durable mark seen */
    ngx_msec_t                      retain_at;   /* thread: last look */
    ngx_http_replog_log_durable_pt  durable;     /* a secondary's acks */
    unsigned                        posted:1;
} ngx_http_replog_log_t;


char *ngx_http_replog_log_parse(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *args, ngx_uint_t n, ngx_http_replog_log_t **out);
char *ngx_http_replog_log_retention(ngx_conf_t *cf, ngx_str_t *name,
    ngx_http_replog_zone_t *zone, ngx_str_t *args, ngx_uint_t n);
ngx_int_t ngx_http_replog_log_open(ngx_http_replog_zone_t *zone);
ngx_int_t ngx_http_replog_log_reload(ngx_http_replog_zone_t *zone,
    ngx_http_replog_zone_t *ozone);
void ngx_http_replog_log_kick(ngx_http_replog_zone_t *zone);
void ngx_http_replog_log_reset(ngx_http_replog_zone_t *zone);
ngx_int_t ngx_http_replog_log_refusing(ngx_http_replog_zone_t *zone,
    ngx_err_t *err);
uint64_t ngx_http_replog_log_held(ngx_http_replog_zone_t *zone,
    uint64_t last_id);
ngx_uint_t ngx_http_replog_log_holds(ngx_http_replog_zone_t *zone,
    uint64_t id);
ngx_uint_t ngx_http_replog_log_waits(ngx_http_replog_zone_t *zone);
void ngx_http_replog_log_on_durable(ngx_http_replog_zone_t *zone,
    ngx_http_replog_log_durable_pt handler);
ngx_int_t ngx_http_replog_log_init_process(ngx_cycle_t *cycle,
    ngx_http_replog_zone_t *zone);
void ngx_http_replog_log_exit_process(ngx_http_replog_zone_t *zone);


#endif /* _NGX_HTTP_REPLOG_LOG_H_INCLUDED_ */
