
/*
 * Copyright (C) replog authors
 */


#ifndef _NGX_HTTP_REPLOG_LOG_READ_H_INCLUDED_
#define _NGX_HTTP_REPLOG_LOG_READ_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include "ngx_http_replog_store.h"


/*
 * Reads of a durable log's entries that left the zone: a bounded window
 * of a segment pread() on nginx's thread pool, its records checked, then
 * handed to the event loop in list form like the zone's.  One reader per
 * stream (a GET /messages, a catch-up link); it keeps its segment open
 * (a segment unlinked meanwhile is read to its end).
 */


#define NGX_HTTP_REPLOG_READ_WINDOW    (1024 * 1024)


typedef struct ngx_http_replog_reader_s  ngx_http_replog_reader_t;

/* in the event loop, once the task posted is done */
typedef void (*ngx_http_replog_reader_pt)(ngx_http_replog_reader_t *rd);


struct ngx_http_replog_reader_s {
    ngx_http_replog_zone_t         *zone;
    ngx_log_t                      *log;
    void                           *task;        /* ngx_thread_task_t */
    ngx_http_replog_reader_pt       handler;
    void                           *data;

    /* where the next read goes on: id at off of segment seg */
    uint64_t                        id;
    uint64_t                        seg;
    uint64_t                        off;

    /* what a task is asked: keep want..last, measure up to want - 1 */
    uint64_t                        want;
    uint64_t                        last;
    uint64_t                        skipped;     /* list bytes before want */

    ngx_fd_t                        fd;
    uint64_t                        fd_seg;
    u_char                         *buf;
    size_t                          size;

    /* the records a task kept, checked, ids first.. */
    u_char                         *pos;
    u_char                         *end;
    uint64_t                        first;
    size_t                          bytes;       /* read by the task */

    /* damage found: the file's first id, the offset, what */
    const char                     *what;
    uint64_t                        bad_seg;
    uint64_t                        bad_off;
    ngx_err_t                       err;
    uint64_t                        logged_seg;  /* that damage was */
    uint64_t                        logged_off;  /* logged already */

    unsigned                        posted:1;
    unsigned                        measuring:1;
};


ngx_http_replog_reader_t *ngx_http_replog_reader_create(ngx_pool_t *pool,
    ngx_http_replog_zone_t *zone, ngx_log_t *log);
void ngx_http_replog_reader_close(ngx_http_replog_reader_t *rd);
ngx_int_t ngx_http_replog_reader_measure(ngx_http_replog_reader_t *rd,
    uint64_t id);
ngx_int_t ngx_http_replog_reader_failed(ngx_http_replog_reader_t *rd);
void ngx_http_replog_reader_init(void);
ngx_int_t ngx_http_replog_reader_cum(ngx_http_replog_zone_t *zone,
    uint64_t id, uint64_t *cum, ngx_log_t *log);
ngx_int_t ngx_http_replog_read(ngx_http_replog_zone_t *zone,
    ngx_http_replog_reader_t *rd, ngx_http_replog_cursor_t *cur,
    u_char **pos, u_char *end, ngx_uint_t max, size_t *need,
    uint64_t *epoch);


#endif /* _NGX_HTTP_REPLOG_LOG_READ_H_INCLUDED_ */
