
/*
 * Copyright (C) replog authors
 */


/*
 * The status endpoints: GET /health, GET /metrics (Prometheus text) and
 * GET /secondaries, each formatted from one snapshot of the zone, outside
 * its lock.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_replog_api.h"
#include "ngx_http_replog_json.h"


#define NGX_HTTP_REPLOG_METRIC_LINE  (256 + 2 * 6 * NGX_HTTP_REPLOG_ID_LEN)


static u_char *ngx_http_replog_metric_head(u_char *p, const char *name,
    const char *type, const char *help);
static u_char *ngx_http_replog_metric_label(u_char *p, u_char *s,
    size_t len);
static ngx_http_replog_status_t *ngx_http_replog_status_get(
    ngx_http_request_t *r, ngx_http_replog_ctx_t *ctx);


static u_char *
ngx_http_replog_metric_head(u_char *p, const char *name, const char *type,
    const char *help)
{
    return ngx_sprintf(p, "# HELP replog_%s %s\n# TYPE replog_%s %s\n",
                       name, help, name, type);
}


/* label values: backslash, quote and newline are escaped */

static u_char *
ngx_http_replog_metric_label(u_char *p, u_char *s, size_t len)
{
    while (len--) {
        if (*s == '\\' || *s == '"') {
            *p++ = '\\';
            *p++ = *s++;

        } else if (*s == '\n') {
            *p++ = '\\';
            *p++ = 'n';
            s++;

        } else {
            *p++ = *s++;
        }
    }

    return p;
}


static ngx_http_replog_status_t *
ngx_http_replog_status_get(ngx_http_request_t *r, ngx_http_replog_ctx_t *ctx)
{
    ngx_http_replog_status_t  *st;

    st = ngx_palloc(r->pool, sizeof(ngx_http_replog_status_t));
    if (st == NULL) {
        return NULL;
    }

    ngx_http_replog_registry_status(ctx->node->shm_zone->data, st);

    return st;
}


ngx_int_t
ngx_http_replog_metrics(ngx_http_request_t *r, ngx_str_t *path)
{
    u_char                       *p, *start, node[6 * NGX_HTTP_REPLOG_ID_LEN];
    size_t                        len, nlen;
    uint64_t                      last_id;
    ngx_str_t                     body;
    ngx_uint_t                    i, k, up, n;
    ngx_http_replog_ctx_t        *ctx;
    ngx_http_replog_view_t        view;
    ngx_http_replog_status_t     *st;
    ngx_http_replog_secondary_t  *s;

    static const char  *wakers[NGX_HTTP_REPLOG_WOKEN_N] = {
        "ack", "worker", "poll", "fsync"
    };

    static const char  *tailed[NGX_HTTP_REPLOG_TAIL_N] = {
        "append", "worker", "poll", "timeout", "exit"
    };

    ctx = ngx_http_get_module_ctx(r, ngx_http_replog_module);

    st = ngx_http_replog_status_get(r, ctx);
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    nlen = ngx_http_replog_metric_label(node, ctx->node->id.data,
                                        ctx->node->id.len) - node;

    ngx_http_replog_node_view(ctx->node, &view);
    n = view.cluster_size;
    up = (ctx->node->role == NGX_HTTP_REPLOG_MASTER) ? view.up : 1;

    len = 64 * NGX_HTTP_REPLOG_METRIC_LINE
          + NGX_HTTP_REPLOG_MAX_SECONDARIES * 12 * NGX_HTTP_REPLOG_METRIC_LINE;

    start = ngx_pnalloc(r->pool, len);
    if (start == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = start;

    last_id = st->last_id;

    p = ngx_http_replog_metric_head(p, "messages_appended_total", "counter",
                                    "Messages stored in this node's log.");
    p = ngx_sprintf(p, "replog_messages_appended_total{node=\"%*s\"} %uL\n",
                    nlen, node, st->appended);

    p = ngx_http_replog_metric_head(p, "log_bytes", "gauge",
                                    "Bytes of the contiguous log, as listed.");
    p = ngx_sprintf(p, "replog_log_bytes{node=\"%*s\"} %uL\n",
                    nlen, node, st->bytes);

    p = ngx_http_replog_metric_head(p, "last_id", "gauge",
                                    "Last id of the contiguous log.");
    p = ngx_sprintf(p, "replog_last_id{node=\"%*s\"} %uL\n",
                    nlen, node, last_id);

    /* retention (path= or not): where the log starts now */
    p = ngx_http_replog_metric_head(p, "log_first_id", "gauge",
                                    "First id of the log; retention "
                                    "dropped those below.");
    p = ngx_sprintf(p, "replog_log_first_id{node=\"%*s\"} %uL\n",
                    nlen, node, st->log_first ? st->log_first
                    : (last_id ? 1 : 0));

    /* durable log hook: the writer's counters */
    if (st->logged) {
        p = ngx_http_replog_metric_head(p, "log_durable_id", "gauge",
                                        "Last id written to the durable log "
                                        "and fsynced (fsync=off: written).");
        p = ngx_sprintf(p, "replog_log_durable_id{node=\"%*s\"} %uL\n",
                        nlen, node, st->log.durable_id);

        p = ngx_http_replog_metric_head(p, "log_fsyncs_total", "counter",
                                        "fdatasync() calls of the durable "
                                        "log's writer.");
        p = ngx_sprintf(p, "replog_log_fsyncs_total{node=\"%*s\"} %uL\n",
                        nlen, node, st->log.fsyncs);

        p = ngx_http_replog_metric_head(p, "log_synced_entries_total",
                                        "counter", "Messages made durable by "
                                        "those fsyncs (per fsync: divide).");
        p = ngx_sprintf(p, "replog_log_synced_entries_total{node=\"%*s\"} "
                        "%uL\n", nlen, node, st->log.synced_entries);

        p = ngx_http_replog_metric_head(p, "log_flushes_total", "counter",
                                        "Runs of the durable log's writer "
                                        "that wrote: one per group of "
                                        "appends.");
        p = ngx_sprintf(p, "replog_log_flushes_total{node=\"%*s\"} %uL\n",
                        nlen, node, st->log.flushes);

        p = ngx_http_replog_metric_head(p, "log_written_bytes_total",
                                        "counter", "Bytes written to the "
                                        "durable log's segments.");
        p = ngx_sprintf(p, "replog_log_written_bytes_total{node=\"%*s\"} "
                        "%uL\n", nlen, node, st->log.bytes_written);

        p = ngx_http_replog_metric_head(p, "log_write_errors_total",
                                        "counter", "Writes or fsyncs of the "
                                        "durable log that failed.");
        p = ngx_sprintf(p, "replog_log_write_errors_total{node=\"%*s\"} "
                        "%uL\n", nlen, node, st->log.write_errors);

        p = ngx_http_replog_metric_head(p, "log_segments_dropped_total",
                                        "counter", "Segments dropped by "
                                        "replog_retention.");
        p = ngx_sprintf(p, "replog_log_segments_dropped_total{node=\"%*s\"} "
                        "%uL\n", nlen, node, st->log.retained);

        /* the zone as the log's tail */
        p = ngx_http_replog_metric_head(p, "zone_first_id", "gauge",
                                        "First id held in the zone; those "
                                        "below are read from the files.");
        p = ngx_sprintf(p, "replog_zone_first_id{node=\"%*s\"} %uL\n",
                        nlen, node, st->first_id);

        p = ngx_http_replog_metric_head(p, "evicted_total", "counter",
                                        "Entries evicted from the zone once "
                                        "written to their segment.");
        p = ngx_sprintf(p, "replog_evicted_total{node=\"%*s\"} %uL\n",
                        nlen, node, st->evicted);

        p = ngx_http_replog_metric_head(p, "file_reads_total", "counter",
                                        "Reads of evicted entries from the "
                                        "segment files (thread pool).");
        p = ngx_sprintf(p, "replog_file_reads_total{node=\"%*s\"} %uL\n",
                        nlen, node, st->file_reads);

        p = ngx_http_replog_metric_head(p, "file_read_bytes_total", "counter",
                                        "Bytes those reads took from the "
                                        "segment files.");
        p = ngx_sprintf(p, "replog_file_read_bytes_total{node=\"%*s\"} "
                        "%uL\n", nlen, node, st->file_bytes);
    }

    p = ngx_http_replog_metric_head(p, "pending_entries", "gauge",
                                    "Entries held past a gap.");
    p = ngx_sprintf(p, "replog_pending_entries{node=\"%*s\"} %ui\n",
                    nlen, node, st->pending);

    p = ngx_http_replog_metric_head(p, "log_full_rejections_total",
                                    "counter",
                                    "Appends refused because the zone "
                                    "was full.");
    p = ngx_sprintf(p, "replog_log_full_rejections_total{node=\"%*s\"} %uL\n",
                    nlen, node, st->rejected_full);

    p = ngx_http_replog_metric_head(p, "waiters", "gauge",
                                    "Clients parked for their write "
                                    "concern.");
    p = ngx_sprintf(p, "replog_waiters{node=\"%*s\"} %ui\n",
                    nlen, node, st->counters[NGX_HTTP_REPLOG_WAITERS]);

    p = ngx_http_replog_metric_head(p, "write_concern_timeouts_total",
                                    "counter",
                                    "Writes answered 504: concern not met "
                                    "in time.");
    p = ngx_sprintf(p, "replog_write_concern_timeouts_total{node=\"%*s\"} "
                    "%ui\n", nlen, node,
                    st->counters[NGX_HTTP_REPLOG_WC_TIMEOUTS]);

    p = ngx_http_replog_metric_head(p, "catchup_entries_total", "counter",
                                    "Entries sent by catch-up.");
    p = ngx_sprintf(p, "replog_catchup_entries_total{node=\"%*s\"} %ui\n",
                    nlen, node, st->counters[NGX_HTTP_REPLOG_CATCHUP]);

    p = ngx_http_replog_metric_head(p, "wakeups_total", "counter",
                                    "Parked clients answered, by what woke "
                                    "them: an ack read by their own worker, "
                                    "a wake-up sent by another worker, the "
                                    "safety-net poll, the durable log's "
                                    "fsync completing in their worker.");

    for (k = 0; k < NGX_HTTP_REPLOG_WOKEN_N; k++) {
        p = ngx_sprintf(p, "replog_wakeups_total{node=\"%*s\",by=\"%s\"} "
                        "%ui\n", nlen, node, wakers[k], st->counters[k]);
    }

    p = ngx_http_replog_metric_head(p, "tailers", "gauge",
                                    "Readers parked by GET /messages?wait= "
                                    "until an entry past their since.");
    p = ngx_sprintf(p, "replog_tailers{node=\"%*s\"} %ui\n",
                    nlen, node, st->counters[NGX_HTTP_REPLOG_TAILERS]);

    p = ngx_http_replog_metric_head(p, "tail_wakeups_total", "counter",
                                    "Parked readers answered, by what woke "
                                    "them: an append of their own worker, "
                                    "a wake-up sent by another worker, the "
                                    "safety-net poll, the end of their wait "
                                    "(empty list), their worker's exit.");

    for (k = 0; k < NGX_HTTP_REPLOG_TAIL_N; k++) {
        p = ngx_sprintf(p, "replog_tail_wakeups_total{node=\"%*s\","
                        "by=\"%s\"} %ui\n", nlen, node, tailed[k],
                        st->counters[NGX_HTTP_REPLOG_TAILED + k]);
    }

    p = ngx_http_replog_metric_head(p, "zone_locks_total", "counter",
                                    "Round trips of the zone's lock (this "
                                    "request's own included).");
    p = ngx_sprintf(p, "replog_zone_locks_total{node=\"%*s\"} %uL\n",
                    nlen, node, st->locks);

    p = ngx_http_replog_metric_head(p, "nodes_up", "gauge",
                                    "Nodes up, the master included.");
    p = ngx_sprintf(p, "replog_nodes_up{node=\"%*s\"} %ui\n", nlen, node, up);

    p = ngx_http_replog_metric_head(p, "cluster_size", "gauge",
                                    "Nodes expected in the cluster.");
    p = ngx_sprintf(p, "replog_cluster_size{node=\"%*s\"} %ui\n",
                    nlen, node, n);

    p = ngx_http_replog_metric_head(p, "secondary_status", "gauge",
                                    "1 for the state a secondary is in.");

    for (i = 0; i < NGX_HTTP_REPLOG_MAX_SECONDARIES; i++) {
        s = &st->secondaries[i];

        if (s->status == 0) {
            continue;
        }

        for (k = NGX_HTTP_REPLOG_HEALTHY; k <= NGX_HTTP_REPLOG_CONFLICT; k++) {
            p = ngx_sprintf(p, "replog_secondary_status{node=\"%*s\","
                            "secondary=\"", nlen, node);
            p = ngx_http_replog_metric_label(p, s->id, s->id_len);
            p = ngx_sprintf(p, "\",status=\"%s\"} %d\n",
                            ngx_http_replog_status_name(k),
                            s->status == k ? 1 : 0);
        }
    }

#define ngx_http_replog_metric_secondary(name, type, help, fmt, value)       \
    p = ngx_http_replog_metric_head(p, name, type, help);                   \
                                                                             \
    for (i = 0; i < NGX_HTTP_REPLOG_MAX_SECONDARIES; i++) {                 \
        s = &st->secondaries[i];                                             \
                                                                             \
        if (s->status == 0) {                                                \
            continue;                                                        \
        }                                                                    \
                                                                             \
        p = ngx_sprintf(p, "replog_" name "{node=\"%*s\",secondary=\"",     \
                        nlen, node);                                         \
        p = ngx_http_replog_metric_label(p, s->id, s->id_len);              \
        p = ngx_sprintf(p, "\"} " fmt "\n", value);                         \
    }

    ngx_http_replog_metric_secondary("secondary_acked_id", "gauge",
        "The secondary's contiguous high-water mark.", "%uL", s->acked_id);

    ngx_http_replog_metric_secondary("secondary_lag", "gauge",
        "Messages the secondary is behind.", "%uL",
        last_id > s->acked_id ? last_id - s->acked_id : 0);

    ngx_http_replog_metric_secondary("secondary_batches_total", "counter",
        "Batches the secondary acknowledged.", "%uL", s->batches);

    ngx_http_replog_metric_secondary("secondary_retries_total", "counter",
        "Batches to the secondary that failed and were retried.", "%uL",
        s->retries);

    ngx_http_replog_metric_secondary("secondary_fails", "gauge",
        "Consecutive failed heartbeats or batches.", "%ui", s->fails);

#undef ngx_http_replog_metric_secondary

    body.data = start;
    body.len = p - start;

    r->headers_out.status = NGX_HTTP_OK;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");

    return ngx_http_replog_send_body(r, &body);
}


/*
 * GET /health: the role, the log and the quorum; on a master its
 * secondaries' states and, while it recovers, the registrations it waits
 * for
 */

ngx_int_t
ngx_http_replog_health(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_str_t                  json;
    ngx_uint_t                 n, up, master, read_only;
    ngx_http_replog_ctx_t     *ctx;
    ngx_http_replog_view_t     view;
    ngx_http_replog_status_t  *st;

    ctx = ngx_http_get_module_ctx(r, ngx_http_replog_module);

    st = ngx_http_replog_status_get(r, ctx);
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    master = (ctx->node->role == NGX_HTTP_REPLOG_MASTER);

    ngx_http_replog_node_view(ctx->node, &view);
    n = view.cluster_size;
    up = master ? view.up : 1;

    read_only = !(master && st->state == NGX_HTTP_REPLOG_OPEN
                  && (!ctx->node->quorum || up >= n / 2 + 1));

    /* with fsync=always only the durable prefix: what a helper registers */
    st->held_id = ngx_http_replog_log_held(ctx->node->shm_zone->data,
                                           st->last_id);

    if (ngx_http_replog_json_health(r->pool, st, &ctx->node->id, master,
                                    read_only, n, up,
                                    ngx_http_replog_recovery_needed(
                                        ctx->node->cluster_size),
                                    &json)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_replog_send_json(r, NGX_HTTP_OK, &json);
}


/*
 * GET /secondaries, or GET /secondary/list: there status as the original
 * has it (HEALTHY or UNHEALTHY), with last_status_change, and replog's own
 * status in "state"
 */

ngx_int_t
ngx_http_replog_secondaries(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_str_t                  json;
    ngx_http_replog_ctx_t     *ctx;
    ngx_http_replog_status_t  *st;

    ctx = ngx_http_get_module_ctx(r, ngx_http_replog_module);

    st = ngx_http_replog_status_get(r, ctx);
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_replog_json_secondaries(r->pool, st,
                                         path->len
                                         == sizeof("/secondary/list") - 1,
                                         &json)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_replog_send_json(r, NGX_HTTP_OK, &json);
}
