
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


/* a bound for a line of the explicit metrics: names, two labels, a value */
#define NGX_HTTP_REPLOG_METRIC_LINE  (256 + 2 * 6 * NGX_HTTP_REPLOG_ID_LEN)

/* a table metric shown only with path= */
#define NGX_HTTP_REPLOG_METRIC_DURABLE  0x01


#define NGX_HTTP_REPLOG_METRICS_N                                             \
    (sizeof(ngx_http_replog_metrics_table) / sizeof(ngx_http_replog_metric_t))


/* where a table metric's value is in the status snapshot */
#define ngx_http_replog_metric_field(f)                                       \
    offsetof(ngx_http_replog_status_t, f),                                    \
    sizeof(((ngx_http_replog_status_t *) 0)->f)


/*
 * a node-labelled metric of /metrics: one series, or one per "by" label
 * from n consecutive fields (uint64_t or ngx_uint_t) of the snapshot
 */
typedef struct {
    const char                   *name;
    const char                   *type;
    const char                   *help;
    size_t                        offset;
    size_t                        size;
    ngx_uint_t                    when;    /* NGX_HTTP_REPLOG_METRIC_* */
    const char                  **by;
    ngx_uint_t                    n;
} ngx_http_replog_metric_t;


static u_char *ngx_http_replog_metric_head(u_char *p, const char *name,
    const char *type, const char *help);
static u_char *ngx_http_replog_metric_label(u_char *p, u_char *s,
    size_t len);
static size_t ngx_http_replog_metrics_len(size_t nlen);
static u_char *ngx_http_replog_metrics_node(u_char *p,
    ngx_http_replog_status_t *st, u_char *node, size_t nlen);
static ngx_http_replog_status_t *ngx_http_replog_status_get(
    ngx_http_request_t *r, ngx_http_replog_ctx_t *ctx);


static const char  *ngx_http_replog_wakers[NGX_HTTP_REPLOG_WOKEN_N] = {
    "ack", "worker", "poll", "fsync"
};


static const char  *ngx_http_replog_tailed[NGX_HTTP_REPLOG_TAIL_N] = {
    "append", "worker", "poll", "timeout", "exit"
};


/* in the order /metrics shows them */
static ngx_http_replog_metric_t  ngx_http_replog_metrics_table[] = {

    { "messages_appended_total", "counter",
      "Messages stored in this node's log.",
      ngx_http_replog_metric_field(appended), 0, NULL, 1 },

    { "log_bytes", "gauge",
      "Bytes of the contiguous log, as listed.",
      ngx_http_replog_metric_field(bytes), 0, NULL, 1 },

    { "last_id", "gauge",
      "Last id of the contiguous log.",
      ngx_http_replog_metric_field(last_id), 0, NULL, 1 },

    /* retention (path= or not): where the log starts now */
    { "log_first_id", "gauge",
      "First id of the log; retention dropped those below.",
      ngx_http_replog_metric_field(log_first), 0, NULL, 1 },

    /* durable log hook: the writer's counters */
    { "log_durable_id", "gauge",
      "Last id written to the durable log and fsynced (fsync=off: written).",
      ngx_http_replog_metric_field(log.durable_id),
      NGX_HTTP_REPLOG_METRIC_DURABLE, NULL, 1 },

    { "log_fsyncs_total", "counter",
      "fdatasync() calls of the durable log's writer.",
      ngx_http_replog_metric_field(log.fsyncs),
      NGX_HTTP_REPLOG_METRIC_DURABLE, NULL, 1 },

    { "log_synced_entries_total", "counter",
      "Messages made durable by those fsyncs (per fsync: divide).",
      ngx_http_replog_metric_field(log.synced_entries),
      NGX_HTTP_REPLOG_METRIC_DURABLE, NULL, 1 },

    { "log_flushes_total", "counter",
      "Runs of the durable log's writer that wrote: one per group of "
      "appends.",
      ngx_http_replog_metric_field(log.flushes),
      NGX_HTTP_REPLOG_METRIC_DURABLE, NULL, 1 },

    { "log_written_bytes_total", "counter",
      "Bytes written to the durable log's segments.",
      ngx_http_replog_metric_field(log.bytes_written),
      NGX_HTTP_REPLOG_METRIC_DURABLE, NULL, 1 },

    { "log_write_errors_total", "counter",
      "Writes or fsyncs of the durable log that failed.",
      ngx_http_replog_metric_field(log.write_errors),
      NGX_HTTP_REPLOG_METRIC_DURABLE, NULL, 1 },

    { "log_segments_dropped_total", "counter",
      "Segments dropped by replog_retention.",
      ngx_http_replog_metric_field(log.retained),
      NGX_HTTP_REPLOG_METRIC_DURABLE, NULL, 1 },

    /* the zone as the log's tail */
    { "zone_first_id", "gauge",
      "First id held in the zone; those below are read from the files.",
      ngx_http_replog_metric_field(first_id),
      NGX_HTTP_REPLOG_METRIC_DURABLE, NULL, 1 },

    { "evicted_total", "counter",
      "Entries evicted from the zone once written to their segment.",
      ngx_http_replog_metric_field(evicted),
      NGX_HTTP_REPLOG_METRIC_DURABLE, NULL, 1 },

    { "file_reads_total", "counter",
      "Reads of evicted entries from the segment files (thread pool).",
      ngx_http_replog_metric_field(file_reads),
      NGX_HTTP_REPLOG_METRIC_DURABLE, NULL, 1 },

    { "file_read_bytes_total", "counter",
      "Bytes those reads took from the segment files.",
      ngx_http_replog_metric_field(file_bytes),
      NGX_HTTP_REPLOG_METRIC_DURABLE, NULL, 1 },

    { "pending_entries", "gauge",
      "Entries held past a gap.",
      ngx_http_replog_metric_field(pending), 0, NULL, 1 },

    { "log_full_rejections_total", "counter",
      "Appends refused because the zone was full.",
      ngx_http_replog_metric_field(rejected_full), 0, NULL, 1 },

    { "waiters", "gauge",
      "Clients parked for their write concern.",
      ngx_http_replog_metric_field(counters[NGX_HTTP_REPLOG_WAITERS]),
      0, NULL, 1 },

    { "write_concern_timeouts_total", "counter",
      "Writes answered 504: concern not met in time.",
      ngx_http_replog_metric_field(counters[NGX_HTTP_REPLOG_WC_TIMEOUTS]),
      0, NULL, 1 },

    { "catchup_entries_total", "counter",
      "Entries sent by catch-up.",
      ngx_http_replog_metric_field(counters[NGX_HTTP_REPLOG_CATCHUP]),
      0, NULL, 1 },

    { "wakeups_total", "counter",
      "Parked clients answered, by what woke them: an ack read by their "
      "own worker, a wake-up sent by another worker, the safety-net poll, "
      "the durable log's fsync completing in their worker.",
      ngx_http_replog_metric_field(counters[0]), 0,
      ngx_http_replog_wakers, NGX_HTTP_REPLOG_WOKEN_N },

    { "tailers", "gauge",
      "Readers parked by GET /messages?wait= until an entry past their "
      "since.",
      ngx_http_replog_metric_field(counters[NGX_HTTP_REPLOG_TAILERS]),
      0, NULL, 1 },

    { "tail_wakeups_total", "counter",
      "Parked readers answered, by what woke them: an append of their own "
      "worker, a wake-up sent by another worker, the safety-net poll, the "
      "end of their wait (empty list), their worker's exit.",
      ngx_http_replog_metric_field(counters[NGX_HTTP_REPLOG_TAILED]), 0,
      ngx_http_replog_tailed, NGX_HTTP_REPLOG_TAIL_N },

    { "zone_locks_total", "counter",
      "Round trips of the zone's lock (this request's own included).",
      ngx_http_replog_metric_field(locks), 0, NULL, 1 }
};


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


/* the bytes the table's metrics can take, with every group shown */

static size_t
ngx_http_replog_metrics_len(size_t nlen)
{
    size_t                     len, name;
    ngx_uint_t                 i, k;
    ngx_http_replog_metric_t  *m;

    len = 0;

    for (i = 0; i < NGX_HTTP_REPLOG_METRICS_N; i++) {
        m = &ngx_http_replog_metrics_table[i];
        name = ngx_strlen(m->name);

        len += sizeof("# HELP replog_ \n# TYPE replog_ \n") - 1
               + 2 * name + ngx_strlen(m->help) + ngx_strlen(m->type);

        for (k = 0; k < m->n; k++) {
            len += sizeof("replog_{node=\"\"} \n") - 1
                   + name + nlen + NGX_INT64_LEN;

            if (m->by) {
                len += sizeof(",by=\"\"") - 1 + ngx_strlen(m->by[k]);
            }
        }
    }

    return len;
}


static u_char *
ngx_http_replog_metrics_node(u_char *p, ngx_http_replog_status_t *st,
    u_char *node, size_t nlen)
{
    u_char                    *v;
    uint64_t                   value;
    ngx_uint_t                 i, k, shown;
    ngx_http_replog_metric_t  *m;

    /* the groups this node shows */
    shown = st->logged ? NGX_HTTP_REPLOG_METRIC_DURABLE : 0;

    for (i = 0; i < NGX_HTTP_REPLOG_METRICS_N; i++) {
        m = &ngx_http_replog_metrics_table[i];

        if (m->when & ~shown) {
            continue;
        }

        p = ngx_http_replog_metric_head(p, m->name, m->type, m->help);

        for (k = 0; k < m->n; k++) {
            v = (u_char *) st + m->offset + k * m->size;

            value = (m->size == sizeof(uint64_t)) ? *(uint64_t *) v
                                                  : *(ngx_uint_t *) v;

            p = ngx_sprintf(p, "replog_%s{node=\"%*s\"", m->name, nlen, node);

            if (m->by) {
                p = ngx_sprintf(p, ",by=\"%s\"", m->by[k]);
            }

            p = ngx_sprintf(p, "} %uL\n", value);
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

    /*
     * the table's metrics, then the explicit ones: nodes_up and
     * cluster_size (a head of two lines and a series each), the heads of
     * the six secondary metrics, and per secondary a line for each state
     * and one for each of the other five
     */
    len = ngx_http_replog_metrics_len(nlen)
          + (2 * 3 + 6 * 2) * NGX_HTTP_REPLOG_METRIC_LINE
          + NGX_HTTP_REPLOG_MAX_SECONDARIES
            * (NGX_HTTP_REPLOG_CONFLICT - NGX_HTTP_REPLOG_HEALTHY + 1 + 5)
            * NGX_HTTP_REPLOG_METRIC_LINE;

    start = ngx_pnalloc(r->pool, len);
    if (start == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last_id = st->last_id;

    /* the log starts at 1 until retention drops some, at 0 while empty */
    if (st->log_first == 0) {
        st->log_first = last_id ? 1 : 0;
    }

    p = ngx_http_replog_metrics_node(start, st, node, nlen);

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
