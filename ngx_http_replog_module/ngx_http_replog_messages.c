
/*
 * Copyright (C) replog authors
 */


/*
 * /messages: POST (and PUT) appends a message and answers once its write
 * concern is met, GET streams the log in list form.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_replog_api.h"
#include "ngx_http_replog_engine.h"
#include "ngx_http_replog_json.h"
#include "ngx_http_replog_tail.h"


#define NGX_HTTP_REPLOG_LIST_BUF   65536

#define NGX_HTTP_REPLOG_WC_TIMEOUT                                           \
    "write concern not met in time: the message is stored on the master "    \
    "and replication continues"


static ngx_int_t ngx_http_replog_post(ngx_http_request_t *r,
    ngx_http_replog_ctx_t *ctx, ngx_str_t *rest);
static ngx_int_t ngx_http_replog_post_body_json(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_http_replog_post_answer(ngx_http_request_t *r,
    ngx_uint_t status, ngx_http_replog_peers_t *peers);
static ngx_int_t ngx_http_replog_list(ngx_http_request_t *r,
    ngx_http_replog_ctx_t *ctx);
static ngx_int_t ngx_http_replog_list_start(ngx_http_request_t *r,
    uint64_t since, uint64_t limit);
static ngx_int_t ngx_http_replog_list_runs(ngx_http_request_t *r,
    ngx_http_replog_ctx_t *ctx, ngx_http_replog_peers_t *peers, off_t *len);
static ngx_int_t ngx_http_replog_list_measure(ngx_http_request_t *r,
    ngx_http_replog_ctx_t *ctx);
static void ngx_http_replog_list_measured(ngx_http_request_t *r);
static ngx_int_t ngx_http_replog_list_source(ngx_http_request_t *r,
    ngx_http_replog_ctx_t *ctx, uint64_t epoch);
static ngx_int_t ngx_http_replog_list_answer(ngx_http_request_t *r,
    ngx_http_replog_ctx_t *ctx);
static void ngx_http_replog_list_read_done(ngx_http_replog_reader_t *rd);
static ngx_int_t ngx_http_replog_list_wait(ngx_http_request_t *r);
static ngx_int_t ngx_http_replog_list_send(ngx_http_request_t *r,
    ngx_http_replog_ctx_t *ctx);
static ngx_buf_t *ngx_http_replog_list_big(ngx_http_request_t *r,
    ngx_http_replog_ctx_t *ctx, size_t len);
static void ngx_http_replog_list_cleanup(void *data);
static void ngx_http_replog_list_writer(ngx_http_request_t *r);
static ngx_int_t ngx_http_replog_arg_uint(ngx_http_request_t *r,
    char *name, size_t len, uint64_t *value);


/* /messages, and /messages/{wc} for a write: the methods are told here */

ngx_int_t
ngx_http_replog_messages(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_str_t               rest;
    ngx_http_replog_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_replog_module);

    rest.data = path->data + sizeof("/messages") - 1;
    rest.len = path->len - (sizeof("/messages") - 1);

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
        if (rest.len) {
            return ngx_http_replog_send_error(r, NGX_HTTP_NOT_FOUND,
                                              "no such endpoint");
        }

        return ngx_http_replog_list(r, ctx);
    }

    if (ctx->node->role == NGX_HTTP_REPLOG_SECONDARY) {
        return ngx_http_replog_method_not_allowed(r, "GET, HEAD");
    }

    if (r->method & (NGX_HTTP_POST|NGX_HTTP_PUT)) {
        return ngx_http_replog_post(r, ctx, &rest);
    }

    return ngx_http_replog_method_not_allowed(r, "GET, HEAD, POST, PUT");
}


/*
 * Resolves a write concern to a number of nodes: NGX_ERROR when it does not
 * parse, NGX_DECLINED when it is above the cluster size.
 */

static ngx_int_t
ngx_http_replog_resolve_wc(ngx_http_request_t *r, ngx_http_replog_ctx_t *ctx,
    ngx_str_t *rest, ngx_uint_t n)
{
    ngx_int_t   wc;
    ngx_str_t   value;

    wc = ctx->conf->wc;

    if (rest->len) {
        value.data = rest->data + 1;
        value.len = rest->len - 1;
        goto parse;
    }

    if (ngx_http_arg(r, (u_char *) "wc", 2, &value) == NGX_OK) {
        goto parse;
    }

    goto resolve;

parse:

    wc = ngx_http_replog_parse_wc(value.data, value.len);

    if (wc == NGX_ERROR) {
        return NGX_ERROR;
    }

resolve:

    if (wc == NGX_HTTP_REPLOG_WC_MAJORITY) {
        ctx->wc = n / 2 + 1;

    } else if (wc == NGX_HTTP_REPLOG_WC_ALL) {
        ctx->wc = n;

    } else if ((ngx_uint_t) wc > n) {
        ctx->wc = wc;
        return NGX_DECLINED;

    } else {
        ctx->wc = wc;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_replog_post(ngx_http_request_t *r, ngx_http_replog_ctx_t *ctx,
    ngx_str_t *rest)
{
    u_char                       buf[256];
    uint64_t                     timeout;
    ngx_int_t                    rc;
    ngx_str_t                    fields;
    ngx_uint_t                   n;
    ngx_http_replog_view_t       view;
    ngx_http_replog_loc_conf_t  *rlcf;

    rlcf = ctx->conf;

    ngx_http_replog_node_view(ctx->node, &view);
    n = view.cluster_size;

    rc = ngx_http_replog_resolve_wc(r, ctx, rest, n);

    if (rc == NGX_ERROR) {
        return ngx_http_replog_send_error(r, NGX_HTTP_BAD_REQUEST,
                   "invalid write concern: use a number from 1, "
                   "\"majority\" or \"all\"");
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_replog_send_error(r, NGX_HTTP_BAD_REQUEST,
                   "write concern %i is above the cluster size %ui",
                   ctx->wc, n);
    }

    ctx->timeout = rlcf->wc_timeout;

    if (view.state != NGX_HTTP_REPLOG_OPEN) {
        if (ngx_http_replog_retry_after(r, 1) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        fields.data = buf;
        fields.len = ngx_http_replog_json_recovering(buf, view.registered,
                         ngx_http_replog_recovery_needed(n), view.state)
                     - buf;

        return ngx_http_replog_send_error_fields(r,
                   NGX_HTTP_SERVICE_UNAVAILABLE, &fields, "recovering");
    }

    /* without a majority of nodes up the master is read-only */

    if (ctx->node->quorum && view.up < n / 2 + 1) {
        if (ngx_http_replog_retry_after(r, 1) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        fields.data = buf;
        fields.len = ngx_http_replog_json_quorum(buf, view.up, n / 2 + 1, n)
                     - buf;

        return ngx_http_replog_send_error_fields(r,
                   NGX_HTTP_SERVICE_UNAVAILABLE, &fields,
                   "no quorum: the master is read-only while %ui of "
                   "%ui nodes are up and %ui are needed",
                   view.up, n, n / 2 + 1);
    }

    rc = ngx_http_replog_arg_uint(r, "timeout", 7, &timeout);

    if (rc == NGX_ERROR) {
        return ngx_http_replog_send_error(r, NGX_HTTP_BAD_REQUEST,
                   "invalid timeout: use milliseconds");
    }

    if (rc == NGX_OK) {
        ctx->timeout = (ngx_msec_t) ngx_min(timeout, 86400000);
    }

    return ngx_http_replog_read_body(r, ngx_http_replog_post_body_json);
}


static ngx_int_t
ngx_http_replog_post_body_json(ngx_http_request_t *r, ngx_str_t *body)
{
    ngx_int_t                    rc;
    ngx_str_t                    msg, err;
    ngx_err_t                    err_no;
    ngx_http_replog_ctx_t       *ctx;
    ngx_http_replog_zone_t      *zone;
    ngx_http_replog_peers_t      peers;
    ngx_http_replog_appended_t   a;

    ctx = ngx_http_get_module_ctx(r, ngx_http_replog_module);

    rc = ngx_http_replog_json_message(r->pool, body->data, body->len, &msg,
                                      &err);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_replog_send_error(r, NGX_HTTP_BAD_REQUEST, "%V",
                                          &err);
    }

    zone = ctx->node->shm_zone->data;

    /* durable log hook: nothing is taken while the disk refuses it */
    if (ngx_http_replog_log_refusing(zone, &err_no)) {
#ifdef EDQUOT
        /* a quota reached is a full disk to the client: 507 */
        if (err_no == EDQUOT) {
            err_no = NGX_ENOSPC;
        }
#endif

        if (ngx_http_replog_retry_after(r, 1) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_replog_send_error(r, err_no == NGX_ENOSPC
                                             ? NGX_HTTP_INSUFFICIENT_STORAGE
                                             : NGX_HTTP_SERVICE_UNAVAILABLE,
                   "the durable log of replog_zone \"%V\" cannot be "
                   "written (%s): nothing was stored, retry",
                   &zone->name, err_no == NGX_ENOSPC ? "disk full"
                                                     : "write error");
    }

    /* durable log hook: with fsync=always even wc=1 waits for the disk */
    if (ctx->wc > 1 || ngx_http_replog_log_waits(zone)) {
        /* before the id exists: see ngx_http_replog_engine_expect() */
        ngx_http_replog_engine_expect(ctx->node, ctx->wc);
    }

    rc = ngx_http_replog_store_append(zone, msg.data, msg.len, &a, &peers);

    if (rc == NGX_HTTP_REPLOG_MOVED) {
        /* an old worker after a resizing reload: the new ones take it */
        if (ngx_http_replog_retry_after(r, 1) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_replog_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                   "the log moved to the resized replog_zone \"%V\" "
                   "of a reload: nothing was stored, retry", &zone->name);
    }

    if (rc == NGX_HTTP_REPLOG_FULL) {
        return ngx_http_replog_send_error(r, NGX_HTTP_INSUFFICIENT_STORAGE,
                   "the log is full: replog_zone \"%V\" has no room "
                   "for this message", &zone->name);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "replog: appended %uL, wc %i", a.id, ctx->wc);

    ctx->msg = msg;
    ctx->appended = a;

    ngx_http_replog_engine_appended(ctx->node, a.id, &peers);
    ngx_http_replog_tail_appended(zone, a.id);

    /* the master counts once its own copy is durable (log.c) */
    if (ngx_http_replog_holders(&peers, a.id) < (ngx_uint_t) ctx->wc) {
        rc = ngx_http_replog_engine_wait(r, ctx->node, a.id, ctx->wc,
                                         ctx->timeout,
                                         ngx_http_replog_post_answer);
        if (rc != NGX_ERROR) {
            return rc;
        }

        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_replog_post_answer(r, NGX_HTTP_CREATED, &peers);
}


/*
 * 201 (200 to a PUT, as the original answers it), or 504 when the write
 * concern was not met in time; registered_to from the caller's snapshot
 */

static ngx_int_t
ngx_http_replog_post_answer(ngx_http_request_t *r, ngx_uint_t status,
    ngx_http_replog_peers_t *peers)
{
    ngx_int_t               timedout;
    ngx_str_t               json;
    ngx_http_replog_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_replog_module);

    timedout = (status == NGX_HTTP_GATEWAY_TIME_OUT);

    if (ngx_http_replog_json_written(r->pool, &ctx->msg, &ctx->appended,
                                     &ctx->node->id, peers,
                                     timedout ? ctx->wc : 0,
                                     ngx_http_replog_holders(peers,
                                                          ctx->appended.id),
                                     &json)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (timedout) {
        ngx_http_replog_store_count(ctx->node->shm_zone->data,
                                    NGX_HTTP_REPLOG_WC_TIMEOUTS, 1);

        /* the error framing of every error, with the message in it */
        return ngx_http_replog_send_error_fields(r, status, &json,
                                                 NGX_HTTP_REPLOG_WC_TIMEOUT);
    }

    if (status == NGX_HTTP_CREATED && r->method == NGX_HTTP_PUT) {
        status = NGX_HTTP_OK;
    }

    return ngx_http_replog_send_json(r, status, &json);
}


static ngx_int_t
ngx_http_replog_list(ngx_http_request_t *r, ngx_http_replog_ctx_t *ctx)
{
    uint64_t     since, limit;
    ngx_int_t    rc, tail;
    ngx_msec_t   wait;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    since = NGX_HTTP_REPLOG_SINCE_FIRST;
    limit = 0;

    if (ngx_http_replog_arg_uint(r, "since", 5, &since) == NGX_ERROR
        || ngx_http_replog_arg_uint(r, "limit", 5, &limit) == NGX_ERROR)
    {
        return ngx_http_replog_send_error(r, NGX_HTTP_BAD_REQUEST,
                   "since and limit must be non-negative integers");
    }

    tail = ngx_http_replog_tail_arg(r, ctx->conf->tail_max_wait, &wait);

    if (tail == NGX_ERROR) {
        return ngx_http_replog_send_error(r, NGX_HTTP_BAD_REQUEST,
                   "wait must be a time such as 500ms, 5s or 1m (a bare "
                   "number is seconds) of at most %M ms "
                   "(replog_tail_max_wait)", ctx->conf->tail_max_wait);
    }

    if (tail == NGX_OK) {
        if (since == NGX_HTTP_REPLOG_SINCE_FIRST) {
            /* without since: from the log's first id */
            since = ngx_http_replog_store_first(ctx->node->shm_zone->data)
                    - 1;
        }

        /* tailing: parked until an entry past since, see tail.c */
        rc = ngx_http_replog_tail_park(r, ctx->node->shm_zone->data, since,
                                       limit, wait,
                                       ngx_http_replog_list_start);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    return ngx_http_replog_list_start(r, since, limit);
}


/* the list past since, limit ids at most: a snapshot of the log now */

static ngx_int_t
ngx_http_replog_list_start(ngx_http_request_t *r, uint64_t since,
    uint64_t limit)
{
    u_char                         buf[NGX_INT64_LEN + 16];
    off_t                          len;
    uint64_t                       epoch;
    ngx_int_t                      rc;
    ngx_str_t                      fields;
    ngx_http_replog_ctx_t         *ctx;
    ngx_http_replog_zone_t        *zone;
    ngx_http_replog_peers_t        peers;

    ctx = ngx_http_get_module_ctx(r, ngx_http_replog_module);
    zone = ctx->node->shm_zone->data;

    /* a snapshot: what is appended while streaming is not included */

    rc = ngx_http_replog_store_list(zone, since, limit, &ctx->cursor,
                                    &len, &epoch, &peers, ctx->measure);

    if (rc == NGX_HTTP_REPLOG_GONE) {
        /* a recovering master starts its log at K only by its source's */
        if (ngx_http_replog_list_source(r, ctx, epoch) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        fields.data = buf;
        fields.len = ngx_sprintf(buf, "\"first_id\":%uL",
                                 ctx->cursor.next)
                     - buf;

        return ngx_http_replog_send_error_fields(r, 410, &fields,
                   "ids up to %uL were dropped by retention: the log "
                   "starts at id %uL, ask since=%uL or more",
                   ctx->cursor.next - 1, ctx->cursor.next,
                   ctx->cursor.next - 1);
    }

    /* the holders, in the same look as the log: what the list says */

    if (ctx->node->role != NGX_HTTP_REPLOG_MASTER) {
        ngx_memzero(&peers, sizeof(ngx_http_replog_peers_t));
    }

    len += sizeof(NGX_HTTP_REPLOG_JSON_LIST_HEAD) - 1
           + sizeof(NGX_HTTP_REPLOG_JSON_LIST_TAIL) - 1;

    if (ngx_http_replog_list_runs(r, ctx, &peers, &len) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->len = len;
    ctx->list_epoch = epoch;

    /* path=: entries evicted from the zone are read from the files */

    if (zone->log) {
        ctx->reader = ngx_http_replog_reader_create(r->pool, zone,
                                                    r->connection->log);
        if (ctx->reader == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->reader->handler = ngx_http_replog_list_read_done;
        ctx->reader->data = r;
    }

    if (ctx->measure[0] || ctx->measure[1]) {
        rc = ngx_http_replog_list_measure(r, ctx);

        if (rc == NGX_AGAIN) {
            r->main->count++;
            return NGX_DONE;
        }

        return rc;
    }

    return ngx_http_replog_list_answer(r, ctx);
}


/*
 * A list that starts or ends at an evicted id inside its chunk: its exact
 * length needs the bytes of the chunk up to that id, measured in the
 * files before the header is sent (at most two reads of a chunk).
 */

static ngx_int_t
ngx_http_replog_list_measure(ngx_http_request_t *r,
    ngx_http_replog_ctx_t *ctx)
{
    ngx_uint_t  k;

    k = ctx->measure[0] ? 0 : 1;

    if (ctx->reader == NULL
        || ngx_http_replog_reader_measure(ctx->reader, ctx->measure[k])
           != NGX_AGAIN)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->main->blocked++;
    ctx->blocked = 1;
    r->write_event_handler = ngx_http_replog_list_measured;

    return NGX_AGAIN;
}


static void
ngx_http_replog_list_measured(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_uint_t                 k;
    ngx_http_replog_ctx_t     *ctx;
    ngx_http_replog_reader_t  *rd;

    ctx = ngx_http_get_module_ctx(r, ngx_http_replog_module);
    rd = ctx->reader;

    if (rd->posted) {
        return;
    }

    if (rd->what) {
        (void) ngx_http_replog_reader_failed(rd);
        ngx_http_finalize_request(r,
            ngx_http_replog_send_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       "the log's files are damaged"));
        return;
    }

    /* the list starts after measure[0]: its bytes are not the list's */

    k = ctx->measure[0] ? 0 : 1;

    ctx->len += (k == 0) ? -(off_t) rd->skipped : (off_t) rd->skipped;
    ctx->measure[k] = 0;

    if (ctx->measure[1]) {
        rc = ngx_http_replog_list_measure(r, ctx);

        if (rc != NGX_AGAIN) {
            ngx_http_finalize_request(r, rc);
        }

        return;
    }

    ngx_http_replog_reader_close(rd);

    ngx_http_finalize_request(r, ngx_http_replog_list_answer(r, ctx));
}


/* back from a read of the files: the stream (or its measure) goes on */

static void
ngx_http_replog_list_read_done(ngx_http_replog_reader_t *rd)
{
    ngx_connection_t       *c;
    ngx_http_request_t     *r;
    ngx_http_replog_ctx_t  *ctx;

    r = rd->data;
    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_replog_module);

    ngx_http_set_log_request(c->log, r);

    if (ctx->blocked) {
        ctx->blocked = 0;
        r->main->blocked--;
    }

    r->write_event_handler(r);
    ngx_http_run_posted_requests(c);
}


/* the header, then the stream */

/* whose log this is: a recovering master takes answers of its source only */

static ngx_int_t
ngx_http_replog_list_source(ngx_http_request_t *r, ngx_http_replog_ctx_t *ctx,
    uint64_t epoch)
{
    u_char           *p;
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(r->pool, ctx->node->id.len + 1 + 16);
    if (p == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "X-Replog-Source");
    h->value.data = p;
    p = ngx_sprintf(p, "%V ", &ctx->node->id);
    h->value.len = ngx_http_replog_format_epoch(p, epoch) - h->value.data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_replog_list_answer(ngx_http_request_t *r, ngx_http_replog_ctx_t *ctx)
{
    off_t      len;
    ngx_int_t  rc;

    len = ctx->len;

    if (ngx_http_replog_list_source(r, ctx, ctx->list_epoch) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = len;
    ngx_str_set(&r->headers_out.content_type, "application/json");

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    ctx->buf = ngx_create_temp_buf(r->pool, NGX_HTTP_REPLOG_LIST_BUF);
    if (ctx->buf == NULL) {
        return NGX_ERROR;
    }

    ctx->out.buf = ctx->buf;
    ctx->out.next = NULL;

    r->write_event_handler = ngx_http_replog_list_writer;

    rc = ngx_http_replog_list_send(r, ctx);

    if (rc == NGX_AGAIN && !ctx->done) {
        /* a read of the files posted comes back through read_done */
        if ((!ctx->blocked || r->connection->buffered)
            && ngx_http_replog_list_wait(r) != NGX_OK)
        {
            return NGX_ERROR;
        }

        r->main->count++;

        return NGX_DONE;
    }

    return rc;
}


/*
 * The holders of an entry change only at a secondary's acked_id: with the
 * distinct acked_ids a1 < a2 < ... of the snapshot, the ids in (a(k-1), ak]
 * are held by the master and the secondaries that hold ak, the ids past
 * the last by the master alone.  Each run gets its suffix once, and the
 * length of the list is its stored bytes plus each run's suffix times its
 * ids.  A secondary's list has one run: it names the node itself, the one
 * holder it can vouch for.
 */

static ngx_int_t
ngx_http_replog_list_runs(ngx_http_request_t *r, ngx_http_replog_ctx_t *ctx,
    ngx_http_replog_peers_t *peers, off_t *len)
{
    uint64_t                   v, lo, hi;
    ngx_uint_t                 i, j, k;
    ngx_http_replog_run_t     *run, *runs;
    ngx_http_replog_cursor_t  *cur;
    uint64_t                   acked[NGX_HTTP_REPLOG_MAX_SECONDARIES];

    cur = &ctx->cursor;

    /* the distinct acked_ids within the list, ascending (insertion) */

    k = 0;

    for (i = 0; i < NGX_HTTP_REPLOG_MAX_SECONDARIES; i++) {
        if (!ngx_http_replog_holds(&peers->peer[i], cur->next)) {
            continue;
        }

        v = ngx_min(peers->peer[i].acked_id, cur->last);

        for (j = 0; j < k && acked[j] < v; j++) { /* void */ }

        if (j < k && acked[j] == v) {
            continue;
        }

        ngx_memmove(&acked[j + 1], &acked[j], (k - j) * sizeof(uint64_t));
        acked[j] = v;
        k++;
    }

    runs = ngx_palloc(r->pool, (k + 1) * sizeof(ngx_http_replog_run_t));
    if (runs == NULL) {
        return NGX_ERROR;
    }

    lo = cur->next;

    for (j = 0; j <= k; j++) {
        run = &runs[j];
        run->hi = (j < k) ? acked[j] : (uint64_t) -1;

        /* the holders of run->hi: the same rule as every answer's */

        if (ngx_http_replog_json_run(r->pool, &ctx->node->id, peers,
                                     j < k ? run->hi : (uint64_t) -1, run)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        /* the ids of the list in this run */

        hi = ngx_min(run->hi, cur->last);

        if (lo <= hi) {
            *len += (off_t) (hi - lo + 1) * run->suffix.len;
            lo = hi + 1;
        }
    }

    cur->run = runs;

    return NGX_OK;
}


/* edge-triggered events: ask for the next "writable", with a timeout */

static ngx_int_t
ngx_http_replog_list_wait(ngx_http_request_t *r)
{
    ngx_event_t               *wev;
    ngx_http_core_loc_conf_t  *clcf;

    wev = r->connection->write;
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (!wev->delayed) {
        ngx_add_timer(wev, clcf->send_timeout);
    }

    return ngx_handle_write_event(wev, clcf->send_lowat);
}


/*
 * Fills one bounded buffer from the log at a time and sends it; the next is
 * built only once the previous one has left, so memory does not grow with
 * the log.  A message larger than the buffer goes through the stream's one
 * big buffer.  The stream ends, closed short, if the log it lists is
 * replaced meanwhile (a reset): never more than the declared length, never
 * entries of two logs.
 */

static ngx_int_t
ngx_http_replog_list_send(ngx_http_request_t *r, ngx_http_replog_ctx_t *ctx)
{
    u_char                    *p;
    size_t                     need;
    ngx_int_t                  rc;
    ngx_buf_t                 *b;
    ngx_connection_t          *c;
    ngx_http_replog_zone_t    *zone;
    ngx_http_replog_cursor_t  *cur;

    c = r->connection;
    zone = ctx->node->shm_zone->data;
    cur = &ctx->cursor;

    for ( ;; ) {

        if (c->buffered || r->buffered) {
            return NGX_AGAIN;
        }

        if (ctx->done) {
            return NGX_OK;
        }

        b = ctx->buf;
        b->pos = b->start;
        b->last = b->start;
        b->last_buf = 0;
        b->flush = 1;
        ctx->out.buf = b;

        if (!ctx->opened) {
            b->last = ngx_cpymem(b->last, NGX_HTTP_REPLOG_JSON_LIST_HEAD,
                                 sizeof(NGX_HTTP_REPLOG_JSON_LIST_HEAD) - 1);
            ctx->opened = 1;
        }

        p = b->last;

        rc = ngx_http_replog_read(zone, ctx->reader, cur, &p, b->end, 0,
                                  &need, NULL);

        if (ctx->reader && ctx->reader->posted && !ctx->blocked) {
            /* the request stays until the read of the files is back */
            r->main->blocked++;
            ctx->blocked = 1;
        }

        if (rc == NGX_AGAIN) {
            /* what is in the buffer goes meanwhile */
            b->last = p;

            if (b->last > b->pos
                && ngx_http_output_filter(r, &ctx->out) == NGX_ERROR)
            {
                return NGX_ERROR;
            }

            return NGX_AGAIN;
        }

        if (rc == NGX_OK && need && p == b->start) {
            /*
             * larger than the buffer: copied into one of its own, as a
             * reset may free the zone's copy meanwhile
             */
            b = ngx_http_replog_list_big(r, ctx, need);
            if (b == NULL) {
                return NGX_ERROR;
            }

            p = b->start;

            rc = ngx_http_replog_read(zone, ctx->reader, cur, &p, b->end, 1,
                                      &need, NULL);

            if (ctx->reader && ctx->reader->posted && !ctx->blocked) {
                r->main->blocked++;
                ctx->blocked = 1;
            }

            if (rc == NGX_AGAIN) {
                return NGX_AGAIN;
            }

            b->last_buf = 0;
            b->flush = 1;
            ctx->out.buf = b;
        }

        if (rc == NGX_DECLINED) {
            /*
             * a reset (or a new log) under the stream: the declared length
             * and the entries belong to a log that is gone, so the only
             * honest end is a short body
             */
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "replog: list stream closed at id %uL of %uL: "
                          "log %016xL replaced", cur->next, cur->last,
                          cur->incarnation);
            return NGX_ERROR;
        }

        if (rc == NGX_ABORT) {
            /* damage in the files, logged where it was found */
            return NGX_ERROR;
        }

        if (rc != NGX_OK) {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                          "replog: list stream closed: id %uL of log "
                          "%016xL is missing", cur->next, cur->incarnation);
            return NGX_ERROR;
        }

        b->last = p;

        if (cur->next > cur->last
            && b == ctx->buf
            && (size_t) (b->end - b->last)
               >= sizeof(NGX_HTTP_REPLOG_JSON_LIST_TAIL) - 1)
        {
            b->last = ngx_cpymem(b->last, NGX_HTTP_REPLOG_JSON_LIST_TAIL,
                                 sizeof(NGX_HTTP_REPLOG_JSON_LIST_TAIL) - 1);
            b->last_buf = (r == r->main) ? 1 : 0;
            b->last_in_chain = 1;
            b->flush = 0;
            ctx->done = 1;
        }

        if (ngx_http_output_filter(r, &ctx->out) == NGX_ERROR) {
            return NGX_ERROR;
        }
    }
}


/*
 * The one buffer of a stream for messages larger than the list buffer: it
 * grows only when a larger message comes, on the worker's heap, so a stream
 * holds at most the largest message once, whatever the log.  It is replaced
 * only when nothing of it is still being sent (list_send waits for that).
 */

static ngx_buf_t *
ngx_http_replog_list_big(ngx_http_request_t *r, ngx_http_replog_ctx_t *ctx,
    size_t len)
{
    u_char              *p;
    ngx_buf_t           *b;
    ngx_pool_cleanup_t  *cln;

    b = ctx->big;

    if (b == NULL) {
        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            return NULL;
        }

        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NULL;
        }

        b->temporary = 1;

        cln->handler = ngx_http_replog_list_cleanup;
        cln->data = b;

        ctx->big = b;
    }

    if ((size_t) (b->end - b->start) < len) {
        p = ngx_alloc(len, r->connection->log);
        if (p == NULL) {
            return NULL;
        }

        if (b->start) {
            ngx_free(b->start);
        }

        b->start = p;
        b->end = p + len;
    }

    b->pos = b->start;
    b->last = b->start;

    return b;
}


static void
ngx_http_replog_list_cleanup(void *data)
{
    ngx_buf_t  *b = data;

    if (b->start) {
        ngx_free(b->start);
        b->start = NULL;
    }
}


static void
ngx_http_replog_list_writer(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_event_t               *wev;
    ngx_connection_t          *c;
    ngx_http_replog_ctx_t     *ctx;

    c = r->connection;
    wev = c->write;
    ctx = ngx_http_get_module_ctx(r, ngx_http_replog_module);

    if (wev->timedout) {
        c->timedout = 1;
        ngx_http_finalize_request(r, NGX_HTTP_REQUEST_TIME_OUT);
        return;
    }

    rc = ngx_http_output_filter(r, NULL);

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    rc = ngx_http_replog_list_send(r, ctx);

    if (rc == NGX_AGAIN && !ctx->done) {
        /* a read of the files posted comes back through read_done */
        if ((!ctx->blocked || c->buffered)
            && ngx_http_replog_list_wait(r) != NGX_OK)
        {
            ngx_http_finalize_request(r, NGX_ERROR);
        }

        return;
    }

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    ngx_http_finalize_request(r, rc);
}


/*
 * Returns NGX_OK with the value, NGX_DECLINED when the argument is absent,
 * NGX_ERROR when it is not a non-negative integer.
 */

static ngx_int_t
ngx_http_replog_arg_uint(ngx_http_request_t *r, char *name, size_t len,
    uint64_t *value)
{
    u_char     *p;
    uint64_t    n;
    ngx_str_t   arg;

    if (ngx_http_arg(r, (u_char *) name, len, &arg) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (arg.len == 0 || arg.len > 18) {
        return NGX_ERROR;
    }

    n = 0;

    for (p = arg.data; p < arg.data + arg.len; p++) {
        if (*p < '0' || *p > '9') {
            return NGX_ERROR;
        }

        n = n * 10 + (*p - '0');
    }

    *value = n;

    return NGX_OK;
}
