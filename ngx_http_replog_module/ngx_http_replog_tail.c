
/*
 * Copyright (C) replog authors
 */


/*
 * Tailing: GET /messages?since=N&wait=TIME.  When the log has no entry
 * past N the request is parked in its worker's list of tailers instead of
 * answered with the empty list; it is answered, as the same GET without
 * wait would be then, as soon as an entry past N exists, or at TIME.
 *
 * Who looks again: an append of this worker (a POST on a master, a batch
 * or a recovery page on a secondary or a recovering master) posts a look;
 * an append of another worker sends this one a byte through the wake-up
 * channel (wake.c) when it reaches this worker's tail mark, the lowest id
 * its tailers wait for.  The mark is set before the parking request looks
 * at the log, so an append in between is seen by one of the two.  A tick
 * runs while tailers are parked: it answers them when the worker shuts
 * down (the timers of a request are cancelable, nothing else would) and,
 * once a second, looks at the log in case a wake-up was lost.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_replog_tail.h"


/* the tick while tailers are parked, and the safety-net look's period */
#define NGX_HTTP_REPLOG_TAIL_TICK    250
#define NGX_HTTP_REPLOG_TAIL_EVERY   1000

/* "1000ms", "60s", "5m": a wait argument longer than this is refused */
#define NGX_HTTP_REPLOG_TAIL_ARG_LEN  16


typedef struct {
    ngx_queue_t                    queue;
    ngx_http_request_t            *r;
    ngx_http_replog_zone_t        *zone;
    uint64_t                       since;
    uint64_t                       limit;
    ngx_http_replog_tail_pt        resume;
    ngx_event_t                    timer;
    unsigned                       active:1;
} ngx_http_replog_tailer_t;


static uint64_t ngx_http_replog_tail_last(ngx_http_replog_zone_t *zone);
static void ngx_http_replog_tail_look(ngx_uint_t by);
static void ngx_http_replog_tail_posted(ngx_event_t *ev);
static void ngx_http_replog_tail_tick(ngx_event_t *ev);
static void ngx_http_replog_tail_answer(ngx_http_replog_tailer_t *t,
    ngx_uint_t by);
static void ngx_http_replog_tail_timeout(ngx_event_t *ev);
static void ngx_http_replog_tail_cleanup(void *data);
static void ngx_http_replog_tail_remove(ngx_http_replog_tailer_t *t);
static void ngx_http_replog_tail_marks(void);


/* this worker's parked tailers, of every zone; its events */
static ngx_queue_t   ngx_http_replog_tailers;
static ngx_event_t   ngx_http_replog_tail_post;
static ngx_event_t   ngx_http_replog_tail_tick_ev;
static ngx_msec_t    ngx_http_replog_tail_polled;


ngx_int_t
ngx_http_replog_tail_init_process(ngx_cycle_t *cycle)
{
    ngx_queue_init(&ngx_http_replog_tailers);

    ngx_http_replog_tail_post.handler = ngx_http_replog_tail_posted;
    ngx_http_replog_tail_post.log = cycle->log;

    ngx_http_replog_tail_tick_ev.handler = ngx_http_replog_tail_tick;
    ngx_http_replog_tail_tick_ev.log = cycle->log;

    return NGX_OK;
}


/*
 * The wait argument in nginx time syntax ("500ms", "5s", "1m"; a bare
 * number is seconds): NGX_OK with it, NGX_DECLINED when absent, NGX_ERROR
 * when it does not parse or is above max.
 */

ngx_int_t
ngx_http_replog_tail_arg(ngx_http_request_t *r, ngx_msec_t max,
    ngx_msec_t *wait)
{
    u_char     *p;
    ngx_int_t   ms;
    ngx_str_t   arg;

    if (ngx_http_arg(r, (u_char *) "wait", 4, &arg) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (arg.len == 0 || arg.len > NGX_HTTP_REPLOG_TAIL_ARG_LEN) {
        return NGX_ERROR;
    }

    /* ngx_parse_time() also takes spaces: one value, digits and units */
    for (p = arg.data; p < arg.data + arg.len; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z')
              || *p == 'M'))
        {
            return NGX_ERROR;
        }
    }

    ms = ngx_parse_time(&arg, 0);

    if (ms == NGX_ERROR || (ngx_msec_t) ms > max) {
        return NGX_ERROR;
    }

    *wait = (ngx_msec_t) ms;

    return NGX_OK;
}


/*
 * Parks r until the log has an entry past since, for wait at most, then
 * answers it through resume.  NGX_DECLINED: there is one already (or the
 * worker shuts down), answer now; NGX_DONE: parked.
 */

ngx_int_t
ngx_http_replog_tail_park(ngx_http_request_t *r, ngx_http_replog_zone_t *zone,
    uint64_t since, uint64_t limit, ngx_msec_t wait,
    ngx_http_replog_tail_pt resume)
{
    ngx_uint_t                 marked;
    ngx_pool_cleanup_t        *cln;
    ngx_http_replog_tailer_t  *t;

    if (wait == 0 || ngx_exiting || ngx_quit || ngx_terminate) {
        return NGX_DECLINED;
    }

    /* the mark first, then the look: see wake.c */

    marked = 0;

    if (zone->wake
        && (zone->wake->tail == 0
            || zone->wake->tail > (ngx_atomic_uint_t) since + 1))
    {
        ngx_http_replog_wake_tail_mark(zone, since + 1);
        marked = 1;
    }

    if (ngx_http_replog_tail_last(zone) > since) {
        if (marked) {
            /* nobody new is parked: the mark of those that are */
            ngx_http_replog_tail_marks();
        }

        return NGX_DECLINED;
    }

    t = ngx_pcalloc(r->pool, sizeof(ngx_http_replog_tailer_t));
    if (t == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    t->r = r;
    t->zone = zone;
    t->since = since;
    t->limit = limit;
    t->resume = resume;
    t->active = 1;

    cln->handler = ngx_http_replog_tail_cleanup;
    cln->data = t;

    t->timer.handler = ngx_http_replog_tail_timeout;
    t->timer.data = t;
    t->timer.log = r->connection->log;
    t->timer.cancelable = 1;
    ngx_add_timer(&t->timer, wait);

    if (ngx_queue_empty(&ngx_http_replog_tailers)) {
        ngx_http_replog_tail_polled = ngx_current_msec;
    }

    ngx_queue_insert_tail(&ngx_http_replog_tailers, &t->queue);
    ngx_http_replog_store_count(zone, NGX_HTTP_REPLOG_TAILERS, 1);

    /* a client that goes away frees its tailer through the cleanup */
    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    /* holds a shutting down worker until it has answered its tailers */
    if (!ngx_http_replog_tail_tick_ev.timer_set) {
        ngx_add_timer(&ngx_http_replog_tail_tick_ev,
                      NGX_HTTP_REPLOG_TAIL_TICK);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "replog: tailer parked past %uL for %M", since, wait);

    r->main->count++;

    return NGX_DONE;
}


/*
 * this worker appended up to last_id to zone: a look here when a tailer of
 * this worker may be satisfied, a wake-up to the others whose mark it
 * reaches
 */

void
ngx_http_replog_tail_appended(ngx_http_replog_zone_t *zone, uint64_t last_id)
{
    if (!ngx_queue_empty(&ngx_http_replog_tailers)
        && !ngx_http_replog_tail_post.posted
        && (zone->wake == NULL
            || (zone->wake->tail
                && zone->wake->tail <= (ngx_atomic_uint_t) last_id)))
    {
        ngx_post_event(&ngx_http_replog_tail_post, &ngx_posted_events);
    }

    ngx_http_replog_wake_tailers(zone, last_id);
}


/* another worker appended what a tailer here may wait for */

void
ngx_http_replog_tail_woken(ngx_cycle_t *cycle)
{
    if (!ngx_queue_empty(&ngx_http_replog_tailers)) {
        ngx_http_replog_tail_look(NGX_HTTP_REPLOG_TAIL_WORKER);
    }
}


static void
ngx_http_replog_tail_posted(ngx_event_t *ev)
{
    ngx_http_replog_tail_look(NGX_HTTP_REPLOG_TAIL_APPEND);
}


/* the log's last id, in one locked look */

static uint64_t
ngx_http_replog_tail_last(ngx_http_replog_zone_t *zone)
{
    off_t                     bytes;
    uint64_t                  epoch, measure[2];
    ngx_http_replog_cursor_t  cur;

    (void) ngx_http_replog_store_list(zone, 0, 0, &cur, &bytes, &epoch,
                                      NULL, measure);

    return cur.last;
}


/*
 * Answers the tailers with an entry past their since, counted as woken by
 * "by".  They are moved to a list of their own first: answering one may
 * park another.
 */

static void
ngx_http_replog_tail_look(ngx_uint_t by)
{
    uint64_t                   last;
    ngx_queue_t                ready, *q, *next;
    ngx_http_replog_zone_t    *zone;
    ngx_http_replog_tailer_t  *t;

    ngx_queue_init(&ready);

    zone = NULL;
    last = 0;

    for (q = ngx_queue_head(&ngx_http_replog_tailers);
         q != ngx_queue_sentinel(&ngx_http_replog_tailers);
         q = next)
    {
        next = ngx_queue_next(q);
        t = ngx_queue_data(q, ngx_http_replog_tailer_t, queue);

        if (t->zone != zone) {
            zone = t->zone;
            last = ngx_http_replog_tail_last(zone);
        }

        if (last > t->since) {
            ngx_queue_remove(q);
            ngx_queue_insert_tail(&ready, q);
        }
    }

    if (ngx_queue_empty(&ready)) {
        return;
    }

    while (!ngx_queue_empty(&ready)) {
        q = ngx_queue_head(&ready);
        t = ngx_queue_data(q, ngx_http_replog_tailer_t, queue);

        ngx_http_replog_tail_answer(t, by);
    }

    ngx_http_replog_tail_marks();
}


/*
 * While tailers are parked: answers them all when the worker shuts down,
 * looks at the log once a second (a lost wake-up costs at most that)
 */

static void
ngx_http_replog_tail_tick(ngx_event_t *ev)
{
    ngx_queue_t               *q;
    ngx_http_replog_tailer_t  *t;

    if (ngx_queue_empty(&ngx_http_replog_tailers)) {
        return;
    }

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        while (!ngx_queue_empty(&ngx_http_replog_tailers)) {
            q = ngx_queue_head(&ngx_http_replog_tailers);
            t = ngx_queue_data(q, ngx_http_replog_tailer_t, queue);

            ngx_http_replog_tail_answer(t, NGX_HTTP_REPLOG_TAIL_EXIT);
        }

        ngx_http_replog_tail_marks();
        return;
    }

    /* an append's look already posted answers them first, as "append" */
    if (ngx_current_msec - ngx_http_replog_tail_polled
        >= NGX_HTTP_REPLOG_TAIL_EVERY
        && !ngx_http_replog_tail_post.posted)
    {
        ngx_http_replog_tail_polled = ngx_current_msec;
        ngx_http_replog_tail_look(NGX_HTTP_REPLOG_TAIL_POLL);
    }

    if (!ngx_queue_empty(&ngx_http_replog_tailers) && !ev->timer_set) {
        ngx_add_timer(ev, NGX_HTTP_REPLOG_TAIL_TICK);
    }
}


/* the answer a GET without wait would get now, the same length */

static void
ngx_http_replog_tail_answer(ngx_http_replog_tailer_t *t, ngx_uint_t by)
{
    uint64_t                  since, limit;
    ngx_connection_t         *c;
    ngx_http_request_t       *r;
    ngx_http_replog_tail_pt   resume;

    r = t->r;
    c = r->connection;
    since = t->since;
    limit = t->limit;
    resume = t->resume;

    ngx_http_replog_tail_remove(t);
    ngx_http_replog_store_count(t->zone, NGX_HTTP_REPLOG_TAILED + by, 1);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "replog: tailer past %uL answered, by %ui", since, by);

    /* t is of r's pool: not used past here */

    r->read_event_handler = ngx_http_block_reading;

    ngx_http_finalize_request(r, resume(r, since, limit));
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_replog_tail_timeout(ngx_event_t *ev)
{
    ngx_http_replog_tailer_t  *t;

    t = ev->data;

    ngx_http_replog_tail_answer(t, NGX_HTTP_REPLOG_TAIL_TIMEOUT);
    ngx_http_replog_tail_marks();
}


/* the client went away while parked: its pool goes, and the tailer */

static void
ngx_http_replog_tail_cleanup(void *data)
{
    ngx_http_replog_tailer_t  *t = data;

    if (!t->active) {
        return;
    }

    ngx_http_replog_tail_remove(t);
    ngx_http_replog_tail_marks();
}


static void
ngx_http_replog_tail_remove(ngx_http_replog_tailer_t *t)
{
    ngx_queue_remove(&t->queue);
    t->active = 0;
    ngx_http_replog_store_count(t->zone, NGX_HTTP_REPLOG_TAILERS, -1);

    if (t->timer.timer_set) {
        ngx_del_timer(&t->timer);
    }

    if (ngx_queue_empty(&ngx_http_replog_tailers)
        && ngx_http_replog_tail_tick_ev.timer_set)
    {
        /* nothing left to answer: no timer holds the worker */
        ngx_del_timer(&ngx_http_replog_tail_tick_ev);
    }
}


/* this worker's tail mark in each zone: the lowest id parked there */

static void
ngx_http_replog_tail_marks(void)
{
    uint64_t                       tail;
    ngx_uint_t                     i;
    ngx_queue_t                   *q;
    ngx_http_replog_zone_t        *zone;
    ngx_http_replog_tailer_t      *t;
    ngx_http_replog_srv_conf_t   **nodes;
    ngx_http_replog_main_conf_t   *rmcf;

    rmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_replog_module);
    if (rmcf == NULL) {
        return;
    }

    nodes = rmcf->nodes.elts;

    for (i = 0; i < rmcf->nodes.nelts; i++) {
        zone = nodes[i]->shm_zone->data;

        if (zone->wake == NULL) {
            continue;
        }

        tail = 0;

        for (q = ngx_queue_head(&ngx_http_replog_tailers);
             q != ngx_queue_sentinel(&ngx_http_replog_tailers);
             q = ngx_queue_next(q))
        {
            t = ngx_queue_data(q, ngx_http_replog_tailer_t, queue);

            if (t->zone == zone && (tail == 0 || t->since + 1 < tail)) {
                tail = t->since + 1;
            }
        }

        ngx_http_replog_wake_tail_mark(zone, tail);
    }
}
