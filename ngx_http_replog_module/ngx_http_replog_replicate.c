
/*
 * Copyright (C) replog authors
 */


/*
 * The secondary's node-to-node endpoints: POST /replicate applies a batch
 * of the master's, POST /reset discards the whole log.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_replog_api.h"
#include "ngx_http_replog_json.h"
#include "ngx_http_replog_tail.h"


static ngx_int_t ngx_http_replog_replicate_body(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_http_replog_apply(ngx_http_request_t *r);
static void ngx_http_replog_delayed(ngx_event_t *ev);
static void ngx_http_replog_delay_cleanup(void *data);
static ngx_int_t ngx_http_replog_park(ngx_http_request_t *r,
    ngx_event_handler_pt handler, ngx_msec_t delay);
static void ngx_http_replog_durable(ngx_event_t *ev);
static ngx_int_t ngx_http_replog_durable_answer(ngx_http_request_t *r);
static void ngx_http_replog_durable_woken(ngx_http_replog_zone_t *zone,
    ngx_uint_t by);
static void ngx_http_replog_durable_mark(ngx_http_replog_zone_t *zone);
static ngx_str_t *ngx_http_replog_master_from(ngx_http_request_t *r,
    ngx_str_t *url);
static ngx_int_t ngx_http_replog_acked(ngx_http_request_t *r,
    ngx_uint_t status, const char *err, ngx_http_replog_applied_t *a);


/*
 * durable log hook: how often a parked ack looks at the writer's mark by
 * itself, a safety net: the writer's completion answers it
 */
#define NGX_HTTP_REPLOG_DURABLE_POLL  50


/* durable log hook: this worker's acks parked for the writer */
static ngx_queue_t  ngx_http_replog_parked;


ngx_int_t
ngx_http_replog_replicate(ngx_http_request_t *r, ngx_str_t *path)
{
    return ngx_http_replog_read_body(r, ngx_http_replog_replicate_body);
}


static ngx_int_t
ngx_http_replog_replicate_body(ngx_http_request_t *r, ngx_str_t *body)
{
    ngx_int_t                    rc;
    ngx_str_t                    err;
    ngx_msec_t                   delay;
    ngx_http_replog_ctx_t       *ctx;
    ngx_http_replog_srv_conf_t  *node;

    ctx = ngx_http_get_module_ctx(r, ngx_http_replog_module);
    node = ctx->node;

    rc = ngx_http_replog_json_entries(r->pool, body->data, body->len,
                                      "entries", &ctx->epoch, &ctx->first_id,
                                      &ctx->entries,
                                      &ctx->nentries, &err);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_replog_send_error(r, NGX_HTTP_BAD_REQUEST, "%V",
                                          &err);
    }

    if (node->delay_high == 0) {
        return ngx_http_replog_apply(r);
    }

    /* replog_delay: wait on a timer, never by blocking the worker */

    delay = node->delay_low
            + (ngx_msec_t) ngx_random() % (node->delay_high
                                           - node->delay_low + 1);

    return ngx_http_replog_park(r, ngx_http_replog_delayed, delay);
}


/* the request waits on ctx->delay, its client's abort still detected */

static ngx_int_t
ngx_http_replog_park(ngx_http_request_t *r, ngx_event_handler_pt handler,
    ngx_msec_t delay)
{
    ngx_pool_cleanup_t     *cln;
    ngx_http_replog_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_replog_module);

    if (ctx->delay.data == NULL) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        cln->handler = ngx_http_replog_delay_cleanup;
        cln->data = ctx;

        ctx->delay.data = r;
        ctx->delay.log = r->connection->log;
    }

    ctx->delay.handler = handler;

    ngx_add_timer(&ctx->delay, delay);

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    return NGX_DONE;
}


static void
ngx_http_replog_delayed(ngx_event_t *ev)
{
    ngx_int_t            rc;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ev->data;
    c = r->connection;

    r->read_event_handler = ngx_http_block_reading;

    rc = ngx_http_replog_apply(r);

    if (rc == NGX_DONE) {
        /* durable log hook: parked again, for the writer */
        return;
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/*
 * durable log hook: a parked ack is answered when the writer's completion
 * runs, at once in the writer's worker, through the wake-up channel in the
 * others; its timer is the safety net (a worker without a wake-up entry)
 */

static void
ngx_http_replog_durable(ngx_event_t *ev)
{
    ngx_connection_t        *c;
    ngx_http_request_t      *r;
    ngx_http_replog_ctx_t   *ctx;
    ngx_http_replog_zone_t  *zone;

    r = ev->data;
    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_replog_module);
    zone = ctx->node->shm_zone->data;

    if (ngx_http_replog_durable_answer(r) != NGX_OK) {
        ngx_add_timer(ev, NGX_HTTP_REPLOG_DURABLE_POLL);
        return;
    }

    ngx_http_replog_store_count(zone, NGX_HTTP_REPLOG_WOKEN_POLL, 1);
    ngx_http_replog_durable_mark(zone);

    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_replog_durable_answer(ngx_http_request_t *r)
{
    ngx_http_replog_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_replog_module);

    if (ngx_http_replog_log_held(ctx->node->shm_zone->data,
                                 ctx->applied.acked_id)
        < ctx->applied.acked_id)
    {
        return NGX_DECLINED;
    }

    if (ctx->delay.timer_set) {
        ngx_del_timer(&ctx->delay);
    }

    ngx_queue_remove(&ctx->parked);
    ctx->parked.prev = NULL;

    r->read_event_handler = ngx_http_block_reading;

    ngx_http_finalize_request(r, ngx_http_replog_acked(r, NGX_HTTP_OK, NULL,
                                                       &ctx->applied));
    return NGX_OK;
}


static void
ngx_http_replog_durable_woken(ngx_http_replog_zone_t *zone, ngx_uint_t by)
{
    ngx_int_t               answered;
    ngx_queue_t             ready, *q;
    ngx_connection_t       *c;
    ngx_http_request_t     *r;
    ngx_http_replog_ctx_t  *ctx;

    /*
     * those now durable move to a list of their own first: answering one
     * may free another (its cleanup takes it off whichever list it is on)
     */
    ngx_queue_init(&ready);
    answered = 0;

    if (ngx_http_replog_parked.next == NULL) {
        return;
    }

    q = ngx_queue_head(&ngx_http_replog_parked);

    while (q != ngx_queue_sentinel(&ngx_http_replog_parked)) {
        ctx = ngx_queue_data(q, ngx_http_replog_ctx_t, parked);
        q = ngx_queue_next(q);

        if (ctx->node->shm_zone->data == zone
            && ngx_http_replog_log_held(zone, ctx->applied.acked_id)
               >= ctx->applied.acked_id)
        {
            ngx_queue_remove(&ctx->parked);
            ngx_queue_insert_tail(&ready, &ctx->parked);
        }
    }

    while (!ngx_queue_empty(&ready)) {
        ctx = ngx_queue_data(ngx_queue_head(&ready), ngx_http_replog_ctx_t,
                             parked);
        r = ctx->delay.data;
        c = r->connection;

        if (ngx_http_replog_durable_answer(r) != NGX_OK) {
            /* a reset took the mark back meanwhile: its timer goes on */
            ngx_queue_remove(&ctx->parked);
            ngx_queue_insert_tail(&ngx_http_replog_parked, &ctx->parked);
            continue;
        }

        answered++;
        ngx_http_run_posted_requests(c);
    }

    if (answered) {
        ngx_http_replog_store_count(zone, by, answered);
    }

    ngx_http_replog_durable_mark(zone);
}


/* this worker's lowest parked ack in the zone's wake-up entry, 0: none */

static void
ngx_http_replog_durable_mark(ngx_http_replog_zone_t *zone)
{
    uint64_t                lowest;
    ngx_queue_t            *q;
    ngx_http_replog_ctx_t  *ctx;

    if (zone->wake == NULL) {
        return;
    }

    lowest = 0;

    if (ngx_http_replog_parked.next) {
        for (q = ngx_queue_head(&ngx_http_replog_parked);
             q != ngx_queue_sentinel(&ngx_http_replog_parked);
             q = ngx_queue_next(q))
        {
            ctx = ngx_queue_data(q, ngx_http_replog_ctx_t, parked);

            if (ctx->node->shm_zone->data == zone
                && (lowest == 0 || ctx->applied.acked_id < lowest))
            {
                lowest = ctx->applied.acked_id;
            }
        }
    }

    ngx_http_replog_wake_mark(zone->wake, lowest, 0);
}


static void
ngx_http_replog_delay_cleanup(void *data)
{
    ngx_http_replog_ctx_t  *ctx = data;

    if (ctx->delay.timer_set) {
        ngx_del_timer(&ctx->delay);
    }

    if (ctx->parked.prev) {
        ngx_queue_remove(&ctx->parked);
        ctx->parked.prev = NULL;
        ngx_http_replog_durable_mark(ctx->node->shm_zone->data);
    }
}


static ngx_int_t
ngx_http_replog_apply(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_str_t                    url, *master;
    ngx_http_replog_ctx_t       *ctx;
    ngx_uint_t                   expect;
    ngx_http_replog_zone_t      *zone;
    ngx_http_replog_applied_t    a;
    ngx_http_replog_srv_conf_t  *node;

    ctx = ngx_http_get_module_ctx(r, ngx_http_replog_module);
    node = ctx->node;

    master = (node->master_url.len == 0)
             ? ngx_http_replog_master_from(r, &url) : NULL;

    zone = node->shm_zone->data;

    /*
     * durable log hook: marked before the apply (any id) so that a writer
     * that publishes the mark after the apply's look sees this worker
     */
    expect = zone->wake && zone->wake->lowest == 0;

    if (expect) {
        ngx_http_replog_wake_mark(zone->wake, 1, 0);
    }

    rc = ngx_http_replog_store_apply(zone, ctx->epoch, ctx->first_id,
                                     ctx->entries, ctx->nentries,
                                     node->max_pending, master, &a);

    if (expect && rc != NGX_OK) {
        /* nothing stored, nothing parks */
        ngx_http_replog_durable_mark(zone);
    }

    if (rc == NGX_HTTP_REPLOG_EPOCH) {
        return ngx_http_replog_acked(r, NGX_HTTP_CONFLICT,
                                     "the batch is of another epoch than "
                                     "this log: refused", &a);
    }

    if (rc == NGX_HTTP_REPLOG_MOVED) {
        /* an old worker after a resizing reload: the new ones take it */
        if (ngx_http_replog_retry_after(r, 1) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_replog_acked(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "the log moved to a resized replog_zone "
                                     "of a reload: nothing was stored, retry",
                                     &a);
    }

    if (rc == NGX_HTTP_REPLOG_FULL) {
        return ngx_http_replog_acked(r, NGX_HTTP_INSUFFICIENT_STORAGE,
                                     "the log is full", &a);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (a.restarted) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "the master's log starts at id %uL (its retention "
                      "dropped the ids before it), this log ended at id "
                      "%uL: it starts again at id %uL", a.restarted,
                      a.ended, a.restarted);
    }

    /* tailers of this node's log, in any worker */
    ngx_http_replog_tail_appended(node->shm_zone->data, a.acked_id);

    /* replog_fail_rate: stored, yet answered as failed (for testing) */

    if (node->fail_rate
        && (ngx_uint_t) ngx_random() % 1000000 < node->fail_rate)
    {
        if (expect) {
            ngx_http_replog_durable_mark(zone);
        }

        return ngx_http_replog_acked(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "failure simulated by replog_fail_rate",
                                     &a);
    }

    /*
     * durable log hook: with fsync=always the ack is the durable prefix,
     * so the answer waits (never blocking) for the writer's completion
     */
    if (ngx_http_replog_log_held(zone, a.acked_id) < a.acked_id) {
        ctx->applied = a;

        if (ngx_http_replog_parked.next == NULL) {
            ngx_queue_init(&ngx_http_replog_parked);
        }

        rc = ngx_http_replog_park(r, ngx_http_replog_durable,
                                  NGX_HTTP_REPLOG_DURABLE_POLL);

        if (rc == NGX_DONE) {
            ngx_queue_insert_tail(&ngx_http_replog_parked, &ctx->parked);
            ngx_http_replog_log_on_durable(zone,
                                           ngx_http_replog_durable_woken);
        }

        ngx_http_replog_durable_mark(zone);

        return rc;
    }

    if (expect) {
        ngx_http_replog_durable_mark(zone);
    }

    return ngx_http_replog_acked(r, NGX_HTTP_OK, NULL, &a);
}


/*
 * Without replog_master_url, the master's URL shown to clients is what the
 * master said with the last batch this log accepted (only service key
 * holders send batches); an empty header: it has none.  NULL: nothing
 * usable was said, the last one stays.
 */

static ngx_str_t *
ngx_http_replog_master_from(ngx_http_request_t *r, ngx_str_t *url)
{
    ngx_table_elt_t  *h;

    h = ngx_http_replog_header(r, "x-replog-master",
                               sizeof("x-replog-master") - 1);

    if (h == NULL) {
        return NULL;
    }

    if (h->value.len
        && ngx_http_replog_valid_url(h->value.data, h->value.len) != NGX_OK)
    {
        return NULL;
    }

    *url = h->value;

    return url;
}


/*
 * Every answer carries the contiguous high-water mark, and the incarnation
 * of this log in X-Replog-Log: answers of one incarnation never take the
 * mark back (they may arrive out of order over several connections), a new
 * incarnation (a restart, a reset) is the truth.  The body names this
 * secondary and the epoch of its log, so that the master can tell our
 * answer from one of whatever else answers at our address.
 */

static ngx_int_t
ngx_http_replog_acked(ngx_http_request_t *r, ngx_uint_t status,
    const char *err, ngx_http_replog_applied_t *a)
{
    u_char                 *p;
    ngx_str_t               json;
    ngx_table_elt_t        *h;
    ngx_http_replog_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_replog_module);

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_pnalloc(r->pool, 16);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "X-Replog-Log");
    h->value.data = p;
    h->value.len = ngx_http_replog_format_epoch(p, a->incarnation) - p;

    if (ngx_http_replog_json_ack(r->pool, err, a->acked_id, &ctx->node->id,
                                 a->epoch, &json)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_replog_send_json(r, status, &json);
}


/*
 * Discards the secondary's whole log (the operator's answer to CONFLICT):
 * it takes the next epoch it is sent and is caught up from 1.
 */

ngx_int_t
ngx_http_replog_reset(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_str_t               json;
    ngx_http_replog_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_replog_module);

    if (ngx_http_replog_store_reset(ctx->node->shm_zone->data)
        == NGX_HTTP_REPLOG_MOVED)
    {
        /* an old worker after a resizing reload: the new ones do */
        if (ngx_http_replog_retry_after(r, 1) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_replog_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                   "the log moved to a resized replog_zone of a reload: "
                   "nothing was reset, retry");
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "replog: the log of \"%V\" is reset on request",
                  &ctx->node->id);

    ngx_str_set(&json, NGX_HTTP_REPLOG_JSON_RESET);

    return ngx_http_replog_send_json(r, NGX_HTTP_OK, &json);
}
