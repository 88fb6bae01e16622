
/*
 * Copyright (C) replog authors
 */


#ifndef _NGX_HTTP_REPLOG_TAIL_H_INCLUDED_
#define _NGX_HTTP_REPLOG_TAIL_H_INCLUDED_


#include "ngx_http_replog_module.h"


/* how a woken tailer is answered: the list of since and limit, as now */
typedef ngx_int_t (*ngx_http_replog_tail_pt)(ngx_http_request_t *r,
    uint64_t since, uint64_t limit);


/* tail: GET /messages?since=N&wait=TIME parked until an entry past N */
ngx_int_t ngx_http_replog_tail_init_process(ngx_cycle_t *cycle);
ngx_int_t ngx_http_replog_tail_arg(ngx_http_request_t *r, ngx_msec_t max,
    ngx_msec_t *wait);
ngx_int_t ngx_http_replog_tail_park(ngx_http_request_t *r,
    ngx_http_replog_zone_t *zone, uint64_t since, uint64_t limit,
    ngx_msec_t wait, ngx_http_replog_tail_pt resume);
void ngx_http_replog_tail_appended(ngx_http_replog_zone_t *zone,
    uint64_t last_id);

/* wake: this worker's tail mark, and the wake-ups an append sends */
void ngx_http_replog_wake_tail_mark(ngx_http_replog_zone_t *zone,
    uint64_t tail);
void ngx_http_replog_wake_tailers(ngx_http_replog_zone_t *zone,
    uint64_t last_id);


#endif /* _NGX_HTTP_REPLOG_TAIL_H_INCLUDED_ */
