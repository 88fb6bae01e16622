
/*
 * Copyright (C) replog authors
 */


/* node-to-node endpoints: /replicate on a secondary, /register on a master */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_replog_module.h"


static ngx_int_t ngx_http_replog_replicate_body(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_http_replog_apply(ngx_http_request_t *r);
static void ngx_http_replog_delayed(ngx_event_t *ev);
static void ngx_http_replog_delay_cleanup(void *data);
static ngx_int_t ngx_http_replog_park(ngx_http_request_t *r,
    ngx_event_handler_pt handler, ngx_msec_t delay);
static ngx_int_t ngx_http_replog_durable_park(ngx_http_request_t *r,
    uint64_t acked_id);
static void ngx_http_replog_durable(ngx_event_t *ev);


/* durable log hook: how often a parked ack looks at the writer's mark */
#define NGX_HTTP_REPLOG_DURABLE_POLL  2
static ngx_int_t ngx_http_replog_register_body(ngx_http_request_t *r,
    ngx_str_t *body);
static void ngx_http_replog_master_from(ngx_http_request_t *r,
    ngx_http_replog_zone_t *zone);
static ngx_int_t ngx_http_replog_acked(ngx_http_request_t *r,
    ngx_uint_t status, const char *err, uint64_t acked_id);


ngx_int_t
ngx_http_replog_replicate(ngx_http_request_t *r)
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
                                      "entries", &ctx->epoch, &ctx->entries,
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
        cln->data = &ctx->delay;

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


static void
ngx_http_replog_delay_cleanup(void *data)
{
    ngx_event_t  *ev = data;

    if (ev->timer_set) {
        ngx_del_timer(ev);
    }
}


static ngx_int_t
ngx_http_replog_apply(ngx_http_request_t *r)
{
    uint64_t                     acked_id;
    ngx_int_t                    rc;
    ngx_http_replog_ctx_t       *ctx;
    ngx_http_replog_srv_conf_t  *node;

    ctx = ngx_http_get_module_ctx(r, ngx_http_replog_module);
    node = ctx->node;

    rc = ngx_http_replog_store_apply(node->shm_zone->data, ctx->epoch,
                                     ctx->entries, ctx->nentries,
                                     node->max_pending, &acked_id);

    if (rc == NGX_HTTP_REPLOG_EPOCH) {
        return ngx_http_replog_acked(r, NGX_HTTP_CONFLICT,
                                     "the batch is of another epoch than "
                                     "this log: refused", acked_id);
    }

    if (rc == NGX_HTTP_REPLOG_MOVED) {
        /* an old worker after a resizing reload: the new ones take it */
        if (ngx_http_replog_retry_after(r, 1) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_replog_acked(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "the log moved to a resized replog_zone "
                                     "of a reload: nothing was stored, retry",
                                     acked_id);
    }

    if (rc == NGX_HTTP_REPLOG_FULL) {
        return ngx_http_replog_acked(r, NGX_HTTP_INSUFFICIENT_STORAGE,
                                     "the log is full", acked_id);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (node->master_url.len == 0) {
        ngx_http_replog_master_from(r, node->shm_zone->data);
    }

    /* replog_fail_rate: stored, yet answered as failed (for testing) */

    if (node->fail_rate
        && (ngx_uint_t) ngx_random() % 1000000 < node->fail_rate)
    {
        return ngx_http_replog_acked(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "failure simulated by replog_fail_rate",
                                     acked_id);
    }

    /*
     * durable log hook: with fsync=always the ack is the durable prefix,
     * so the answer waits (on a timer, never blocking) for the writer
     */
    if (ngx_http_replog_log_held(node->shm_zone->data, acked_id) < acked_id) {
        return ngx_http_replog_durable_park(r, acked_id);
    }

    return ngx_http_replog_acked(r, NGX_HTTP_OK, NULL, acked_id);
}


static ngx_int_t
ngx_http_replog_durable_park(ngx_http_request_t *r, uint64_t acked_id)
{
    ngx_http_replog_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_replog_module);
    ctx->applied = acked_id;

    return ngx_http_replog_park(r, ngx_http_replog_durable,
                                NGX_HTTP_REPLOG_DURABLE_POLL);
}


static void
ngx_http_replog_durable(ngx_event_t *ev)
{
    uint64_t                     held;
    ngx_connection_t            *c;
    ngx_http_request_t          *r;
    ngx_http_replog_ctx_t       *ctx;

    r = ev->data;
    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_replog_module);

    held = ngx_http_replog_log_held(ctx->node->shm_zone->data, ctx->applied);

    if (held < ctx->applied) {
        ngx_add_timer(ev, NGX_HTTP_REPLOG_DURABLE_POLL);
        return;
    }

    r->read_event_handler = ngx_http_block_reading;

    ngx_http_finalize_request(r, ngx_http_replog_acked(r, NGX_HTTP_OK, NULL,
                                                       held));
    ngx_http_run_posted_requests(c);
}


/*
 * Without replog_master_url, the master's URL shown to clients is what the
 * master said with the last batch this log accepted (only service key
 * holders send batches); an empty header: it has none.
 */

static void
ngx_http_replog_master_from(ngx_http_request_t *r,
    ngx_http_replog_zone_t *zone)
{
    size_t            len;
    ngx_table_elt_t  *h;

    h = ngx_http_replog_header(r, "x-replog-master",
                               sizeof("x-replog-master") - 1);

    if (h == NULL) {
        return;
    }

    len = h->value.len;

    if (len && ngx_http_replog_valid_url(h->value.data, len) != NGX_OK) {
        return;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);
    ngx_memcpy(zone->sh->master, h->value.data, len);
    zone->sh->master_len = len;
    ngx_shmtx_unlock(&zone->shpool->mutex);
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
    const char *err, uint64_t acked_id)
{
    u_char                  *p;
    size_t                   len;
    uint64_t                 incarnation, epoch;
    ngx_str_t                json, *id;
    ngx_table_elt_t         *h;
    ngx_http_replog_ctx_t   *ctx;
    ngx_http_replog_zone_t  *zone;

    ctx = ngx_http_get_module_ctx(r, ngx_http_replog_module);
    zone = ctx->node->shm_zone->data;
    id = &ctx->node->id;

    ngx_shmtx_lock(&zone->shpool->mutex);
    incarnation = zone->sh->incarnation;
    epoch = zone->sh->epoch;
    ngx_shmtx_unlock(&zone->shpool->mutex);

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = 16 + sizeof("{\"error\":\"\",\"acked_id\":,\"id\":\"\","
                      "\"epoch\":\"\"}\n")
          + NGX_INT64_LEN + (err ? ngx_strlen(err) : 0)
          + ngx_http_replog_json_escape_len(id->data, id->len) + 16;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "X-Replog-Log");
    h->value.data = p;
    h->value.len = ngx_sprintf(p, "%016xL", incarnation) - p;
    p += 16;

    json.data = p;

    if (err) {
        p = ngx_sprintf(p, "{\"error\":\"%s\",", err);

    } else {
        *p++ = '{';
    }

    p = ngx_sprintf(p, "\"acked_id\":%uL,\"id\":\"", acked_id);
    p = ngx_http_replog_json_escape(p, id->data, id->len);
    p = ngx_cpymem(p, "\",\"epoch\":\"", sizeof("\",\"epoch\":\"") - 1);
    p = ngx_http_replog_format_epoch(p, epoch);
    p = ngx_cpymem(p, "\"}\n", sizeof("\"}\n") - 1);

    json.len = p - json.data;

    return ngx_http_replog_send_json(r, status, &json);
}


ngx_int_t
ngx_http_replog_register(ngx_http_request_t *r)
{
    return ngx_http_replog_read_body(r, ngx_http_replog_register_body);
}


static ngx_int_t
ngx_http_replog_register_body(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char                      *p;
    size_t                       len;
    uint64_t                     epoch, acked_id, master_epoch, last_id;
    ngx_int_t                    rc, slot;
    ngx_str_t                    id, err, json;
    socklen_t                    socklen;
    ngx_uint_t                   port;
    ngx_sockaddr_t               peer;
    ngx_http_replog_sh_t        *sh;
    ngx_http_replog_ctx_t       *ctx;
    ngx_http_replog_zone_t      *zone;

    ctx = ngx_http_get_module_ctx(r, ngx_http_replog_module);
    zone = ctx->node->shm_zone->data;
    sh = zone->sh;

    rc = ngx_http_replog_json_register(r, body->data, body->len, &id, &port,
                                       &epoch, &acked_id, &err);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_replog_send_error(r, NGX_HTTP_BAD_REQUEST, "%V",
                                          &err);
    }

    /*
     * the secondary is reached at the address it connected from, as the
     * kernel has it: realip may have put a forwarded one in c->sockaddr,
     * and no forwarded address is ever used
     */

    socklen = sizeof(ngx_sockaddr_t);

    if (getpeername(r->connection->fd, &peer.sockaddr, &socklen) == -1) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_socket_errno,
                      "replog: getpeername() of a registration failed");
        return ngx_http_replog_send_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                   "the address of this connection is unknown");
    }

    if (peer.sockaddr.sa_family != AF_INET
#if (NGX_HAVE_INET6)
        && peer.sockaddr.sa_family != AF_INET6
#endif
       )
    {
        return ngx_http_replog_send_error(r, NGX_HTTP_BAD_REQUEST,
                   "register over TCP: the master reaches a secondary at "
                   "the address its registration came from");
    }

    slot = ngx_http_replog_registry_add(zone, &id, &peer.sockaddr, socklen,
                                        (in_port_t) port, epoch, acked_id,
                                        r->connection->log);

    if (slot == NGX_BUSY) {
        /* an old worker after a resizing reload: the new ones take it */
        if (ngx_http_replog_retry_after(r, 1) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_replog_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                   "the registry moved to the resized replog_zone \\\"%V\\\" "
                   "of a reload: nothing was registered, retry",
                   &zone->json_name);
    }

    if (slot == NGX_DECLINED) {
        return ngx_http_replog_send_error(r, NGX_HTTP_INSUFFICIENT_STORAGE,
                   "the registry is full: at most %d secondaries",
                   NGX_HTTP_REPLOG_MAX_SECONDARIES);
    }

    /*
     * where clients write is told to secondaries with each batch: this
     * node's replog_master_url (put in the zone at worker start), never a
     * request's Host
     */

    ngx_shmtx_lock(&zone->shpool->mutex);

    master_epoch = sh->epoch;
    last_id = sh->last_id;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    len = sizeof("{\"id\":\"\",\"master_id\":\"\",\"epoch\":\"\","
                 "\"last_id\":}\n")
          + ngx_http_replog_json_escape_len(id.data, id.len)
          + ngx_http_replog_json_escape_len(ctx->node->id.data,
                                            ctx->node->id.len)
          + 16 + NGX_INT64_LEN;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json.data = p;

    p = ngx_cpymem(p, "{\"id\":\"", sizeof("{\"id\":\"") - 1);
    p = ngx_http_replog_json_escape(p, id.data, id.len);
    p = ngx_cpymem(p, "\",\"master_id\":\"", sizeof("\",\"master_id\":\"") - 1);
    p = ngx_http_replog_json_escape(p, ctx->node->id.data, ctx->node->id.len);
    p = ngx_cpymem(p, "\",\"epoch\":\"", sizeof("\",\"epoch\":\"") - 1);
    p = ngx_http_replog_format_epoch(p, master_epoch);
    p = ngx_sprintf(p, "\",\"last_id\":%uL}\n", last_id);

    json.len = p - json.data;

    return ngx_http_replog_send_json(r, NGX_HTTP_OK, &json);
}
