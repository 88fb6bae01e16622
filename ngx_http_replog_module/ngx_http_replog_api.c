
/*
 * Copyright (C) replog authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_replog_module.h"


#define NGX_HTTP_REPLOG_LIST_BUF   65536

#define NGX_HTTP_REPLOG_WC_TIMEOUT                                           \
    "write concern not met in time: the message is stored on the master "    \
    "and replication continues"


/* a secondary of the registry as a list sees it */
typedef struct {
    uint64_t                        acked_id;
    size_t                          id_len;
    u_char                          id[NGX_HTTP_REPLOG_ID_LEN];
} ngx_http_replog_holder_t;


static ngx_int_t ngx_http_replog_token_ok(ngx_http_request_t *r,
    ngx_str_t *key);
static ngx_int_t ngx_http_replog_method_not_allowed(ngx_http_request_t *r,
    const char *allow);
static ngx_int_t ngx_http_replog_messages(ngx_http_request_t *r,
    ngx_http_replog_ctx_t *ctx, ngx_str_t *rest);
static ngx_int_t ngx_http_replog_post(ngx_http_request_t *r,
    ngx_http_replog_ctx_t *ctx, ngx_str_t *rest);
static void ngx_http_replog_post_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_replog_post_body_json(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_http_replog_list(ngx_http_request_t *r,
    ngx_http_replog_ctx_t *ctx);
static ngx_int_t ngx_http_replog_list_runs(ngx_http_request_t *r,
    ngx_http_replog_ctx_t *ctx, ngx_http_replog_holder_t *holders,
    ngx_uint_t n, off_t *len);
static ngx_int_t ngx_http_replog_list_send(ngx_http_request_t *r,
    ngx_http_replog_ctx_t *ctx);
static void ngx_http_replog_list_writer(ngx_http_request_t *r);
static ngx_int_t ngx_http_replog_list_wait(ngx_http_request_t *r);
static ngx_buf_t *ngx_http_replog_list_big(ngx_http_request_t *r,
    ngx_http_replog_ctx_t *ctx, size_t len);
static void ngx_http_replog_list_cleanup(void *data);
static ngx_int_t ngx_http_replog_send_error_v(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *fields, const char *fmt, va_list args);
static ngx_int_t ngx_http_replog_health(ngx_http_request_t *r,
    ngx_http_replog_ctx_t *ctx);
static ngx_int_t ngx_http_replog_arg_uint(ngx_http_request_t *r,
    char *name, size_t len, uint64_t *value);
static ngx_int_t ngx_http_replog_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);


static ngx_http_request_body_filter_pt  ngx_http_replog_next_body_filter;


#define ngx_http_replog_path_is(path, s)                                     \
    ((path)->len == sizeof(s) - 1                                            \
     && ngx_strncmp((path)->data, s, sizeof(s) - 1) == 0)


ngx_int_t
ngx_http_replog_handler(ngx_http_request_t *r)
{
    ngx_str_t                    path, rest;
    ngx_http_replog_ctx_t       *ctx;
    ngx_http_core_loc_conf_t    *clcf;
    ngx_http_replog_loc_conf_t  *rlcf;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_replog_module);
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    path = r->uri;

    /* "location /replog/" serves "/replog/messages" as "/messages" */
    if (clcf->name.len > 1
        && clcf->name.data[clcf->name.len - 1] == '/'
        && !clcf->named
        && !clcf->exact_match
#if (NGX_PCRE)
        && clcf->regex == NULL
#endif
        && path.len >= clcf->name.len
        && ngx_strncmp(path.data, clcf->name.data, clcf->name.len) == 0)
    {
        path.data += clcf->name.len - 1;
        path.len -= clcf->name.len - 1;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_replog_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->node = rlcf->node;
    ctx->conf = rlcf;
    ngx_http_set_ctx(r, ctx, ngx_http_replog_module);

    if (ngx_http_replog_path_is(&path, "/healthcheck")) {
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return ngx_http_replog_method_not_allowed(r, "GET, HEAD");
        }

        /* exactly the original's body */
        ngx_str_set(&rest, "HEALTHY");

        r->headers_out.status = NGX_HTTP_OK;
        ngx_str_set(&r->headers_out.content_type, "text/plain");

        return ngx_http_replog_send_body(r, &rest);
    }

    /* the API's description, without a token like FastAPI's */

    if (ngx_http_replog_path_is(&path, "/openapi.json")
        || ngx_http_replog_path_is(&path, "/docs"))
    {
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return ngx_http_replog_method_not_allowed(r, "GET, HEAD");
        }

        return ngx_http_replog_openapi(r, &path);
    }

    /* node to node: the service key */

    if (ngx_http_replog_path_is(&path, "/replicate")
        || ngx_http_replog_path_is(&path, "/reset")
        || ngx_http_replog_path_is(&path, "/register")
        || ngx_http_replog_path_is(&path, "/secondary/register"))
    {
        if (!ngx_http_replog_token_ok(r, &rlcf->node->service_key)) {
            return ngx_http_replog_send_error(r, NGX_HTTP_FORBIDDEN,
                                              "missing or invalid x-token");
        }

        if (r->method != NGX_HTTP_POST) {
            return ngx_http_replog_method_not_allowed(r, "POST");
        }

        if (ngx_http_replog_path_is(&path, "/reset")) {
            if (rlcf->node->role != NGX_HTTP_REPLOG_SECONDARY) {
                return ngx_http_replog_send_error(r, NGX_HTTP_NOT_FOUND,
                           "this node is the master: only a secondary's log "
                           "can be reset");
            }

            if (ngx_http_replog_store_reset(rlcf->node->shm_zone->data)
                == NGX_HTTP_REPLOG_MOVED)
            {
                /* an old worker after a resizing reload: the new ones do */
                if (ngx_http_replog_retry_after(r, 1) != NGX_OK) {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR;
                }

                return ngx_http_replog_send_error(r,
                           NGX_HTTP_SERVICE_UNAVAILABLE,
                           "the log moved to a resized replog_zone of a "
                           "reload: nothing was reset, retry");
            }

            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "replog: the log of \"%V\" is reset on request",
                          &rlcf->node->id);

            ngx_str_set(&rest, "{\"reset\":true,\"acked_id\":0}\n");

            return ngx_http_replog_send_json(r, NGX_HTTP_OK, &rest);
        }

        if (path.data[1] == 'r' && path.data[2] == 'e' && path.data[3] == 'p')
        {
            if (rlcf->node->role != NGX_HTTP_REPLOG_SECONDARY) {
                return ngx_http_replog_send_error(r, NGX_HTTP_NOT_FOUND,
                           "this node is the master: it does not replicate "
                           "from anyone");
            }

            return ngx_http_replog_replicate(r);
        }

        if (rlcf->node->role != NGX_HTTP_REPLOG_MASTER) {
            return ngx_http_replog_send_error(r, NGX_HTTP_NOT_FOUND,
                       "this node is a secondary: register with the master");
        }

        return ngx_http_replog_register(r);
    }

    /* nodes read each other's logs (recovery) with the service key */
    if (!ngx_http_replog_token_ok(r, &rlcf->api_key)
        && !(rlcf->node->service_key.len
             && ngx_http_replog_token_ok(r, &rlcf->node->service_key)))
    {
        return ngx_http_replog_send_error(r, NGX_HTTP_FORBIDDEN,
                                          "missing or invalid x-token");
    }

    if (path.len >= sizeof("/messages") - 1
        && ngx_strncmp(path.data, "/messages", sizeof("/messages") - 1)
           == 0)
    {
        rest.data = path.data + sizeof("/messages") - 1;
        rest.len = path.len - (sizeof("/messages") - 1);

        if (rest.len == 0 || (rest.data[0] == '/' && rest.len > 1)) {
            return ngx_http_replog_messages(r, ctx, &rest);
        }
    }

    if (ngx_http_replog_path_is(&path, "/metrics")) {
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return ngx_http_replog_method_not_allowed(r, "GET, HEAD");
        }

        return ngx_http_replog_metrics(r);
    }

    if (ngx_http_replog_path_is(&path, "/health")) {
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return ngx_http_replog_method_not_allowed(r, "GET, HEAD");
        }

        return ngx_http_replog_health(r, ctx);
    }

    if (ngx_http_replog_path_is(&path, "/secondaries")
        || ngx_http_replog_path_is(&path, "/secondary/list"))
    {
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return ngx_http_replog_method_not_allowed(r, "GET, HEAD");
        }

        if (rlcf->node->role != NGX_HTTP_REPLOG_MASTER) {
            return ngx_http_replog_send_error(r, NGX_HTTP_NOT_FOUND,
                       "this node is a secondary: the master keeps the list");
        }

        /* the original's path gets the original's status values */
        if (ngx_http_replog_registry_json(rlcf->node->shm_zone->data,
                                          r->pool,
                                          ngx_http_replog_path_is(&path,
                                              "/secondary/list"),
                                          &rest)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_replog_send_json(r, NGX_HTTP_OK, &rest);
    }

    return ngx_http_replog_send_error(r, NGX_HTTP_NOT_FOUND,
                                      "no such endpoint");
}


static ngx_int_t
ngx_http_replog_messages(ngx_http_request_t *r, ngx_http_replog_ctx_t *ctx,
    ngx_str_t *rest)
{
    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
        if (rest->len) {
            return ngx_http_replog_send_error(r, NGX_HTTP_NOT_FOUND,
                                              "no such endpoint");
        }

        return ngx_http_replog_list(r, ctx);
    }

    if (ctx->node->role == NGX_HTTP_REPLOG_SECONDARY) {
        return ngx_http_replog_method_not_allowed(r, "GET, HEAD");
    }

    if (r->method & (NGX_HTTP_POST|NGX_HTTP_PUT)) {
        return ngx_http_replog_post(r, ctx, rest);
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

    ngx_http_replog_registry_view(ctx->node, &view);
    n = view.cluster_size;

    rc = ngx_http_replog_resolve_wc(r, ctx, rest, n);

    if (rc == NGX_ERROR) {
        return ngx_http_replog_send_error(r, NGX_HTTP_BAD_REQUEST,
                   "invalid write concern: use a number from 1, "
                   "\\\"majority\\\" or \\\"all\\\"");
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
        fields.len = ngx_sprintf(buf, "\"reason\":\"the master restarted "
                                 "with an empty log and restores it from "
                                 "its secondaries before it accepts "
                                 "writes\",\"registered\":%ui,"
                                 "\"needed\":%ui,\"state\":\"%s\"",
                                 view.registered,
                                 ngx_http_replog_recovery_needed(n),
                                 ngx_http_replog_state_name(view.state))
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
        fields.len = ngx_sprintf(buf, "\"up\":%ui,\"needed\":%ui,"
                                 "\"cluster_size\":%ui",
                                 view.up, n / 2 + 1, n) - buf;

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


/* reads the whole body, then hands it to the handler of the endpoint */

ngx_int_t
ngx_http_replog_read_body(ngx_http_request_t *r,
    ngx_http_replog_body_pt handler)
{
    ngx_int_t               rc;
    ngx_http_replog_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_replog_module);

    if (r->headers_in.content_length_n > ctx->conf->max_body) {
        return ngx_http_replog_send_error(r,
                   NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                   "the body is larger than %O bytes", ctx->conf->max_body);
    }

    ctx->body_handler = handler;
    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_replog_post_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_replog_post_body(ngx_http_request_t *r)
{
    u_char                 *p;
    ngx_int_t               rc;
    size_t                  len;
    ngx_buf_t              *b;
    ngx_str_t               body;
    ngx_chain_t            *cl;
    ngx_http_replog_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_replog_module);

    if (ctx->too_large) {
        ngx_http_finalize_request(r, ngx_http_replog_send_error(r,
                                  NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                  "the body is larger than %O bytes",
                                  ctx->conf->max_body));
        return;
    }

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        ngx_http_finalize_request(r, ngx_http_replog_send_error(r,
                                  NGX_HTTP_BAD_REQUEST, "empty body"));
        return;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL && !cl->buf->in_file) {
        body.data = cl->buf->pos;
        body.len = cl->buf->last - cl->buf->pos;

    } else {
        /* a body in several buffers */

        len = 0;

        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            len += ngx_buf_size(cl->buf);
        }

        body.data = ngx_pnalloc(r->pool, len);
        if (body.data == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        p = body.data;

        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            b = cl->buf;

            if (!b->in_file) {
                if (b->last != b->pos) {
                    p = ngx_cpymem(p, b->pos, b->last - b->pos);
                }

                continue;
            }

            /* client_body_buffer_size holds any body: never read here */
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "replog: a request body in a temporary file");
            ngx_http_finalize_request(r, ngx_http_replog_send_error(r,
                                      NGX_HTTP_INTERNAL_SERVER_ERROR,
                                      "the body was buffered to a file"));
            return;
        }

        body.len = p - body.data;
    }

    if (body.len == 0) {
        ngx_http_finalize_request(r, ngx_http_replog_send_error(r,
                                  NGX_HTTP_BAD_REQUEST, "empty body"));
        return;
    }

    rc = ctx->body_handler(r, &body);

    if (rc == NGX_DONE) {
        /* parked: answered later */
        return;
    }

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_http_replog_post_body_json(ngx_http_request_t *r, ngx_str_t *body)
{
    ngx_int_t                    rc;
    ngx_str_t                    msg, err;
    ngx_err_t                    err_no;
    ngx_http_replog_ctx_t       *ctx;
    ngx_http_replog_zone_t      *zone;
    ngx_http_replog_appended_t   a;

    ctx = ngx_http_get_module_ctx(r, ngx_http_replog_module);

    if (body->len == 0) {
        return ngx_http_replog_send_error(r, NGX_HTTP_BAD_REQUEST,
                                          "empty body");
    }

    rc = ngx_http_replog_json_message(r, body->data, body->len, &msg, &err);

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
        if (ngx_http_replog_retry_after(r, 1) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_replog_send_error(r, err_no == NGX_ENOSPC
                                             ? NGX_HTTP_INSUFFICIENT_STORAGE
                                             : NGX_HTTP_SERVICE_UNAVAILABLE,
                   "the durable log of replog_zone \\\"%V\\\" cannot be "
                   "written (%s): nothing was stored, retry",
                   &zone->json_name, err_no == NGX_ENOSPC ? "disk full"
                                                          : "write error");
    }

    rc = ngx_http_replog_store_append(zone, msg.data, msg.len, &a);

    if (rc == NGX_HTTP_REPLOG_MOVED) {
        /* an old worker after a resizing reload: the new ones take it */
        if (ngx_http_replog_retry_after(r, 1) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_replog_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                   "the log moved to the resized replog_zone \\\"%V\\\" "
                   "of a reload: nothing was stored, retry", &zone->json_name);
    }

    if (rc == NGX_HTTP_REPLOG_FULL) {
        return ngx_http_replog_send_error(r, NGX_HTTP_INSUFFICIENT_STORAGE,
                   "the log is full: replog_zone \\\"%V\\\" has no room "
                   "for this message", &zone->json_name);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "replog: appended %uL, wc %i", a.id, ctx->wc);

    ctx->msg = msg;
    ctx->appended = a;

    ngx_http_replog_engine_appended(ctx->node, a.id);

    /* durable log hook: even wc=1 waits for the master's own fsync */
    if ((ctx->wc > 1 || !ngx_http_replog_log_holds(zone, a.id))
        && ngx_http_replog_registry_holders(zone, a.id, NULL, NULL, NULL)
           < (ngx_uint_t) ctx->wc)
    {
        rc = ngx_http_replog_engine_wait(r, ctx->node, a.id, ctx->wc,
                                         ctx->timeout);
        if (rc != NGX_ERROR) {
            return rc;
        }

        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_replog_post_answer(r, NGX_HTTP_CREATED);
}


/*
 * 201 (200 to a PUT, as the original answers it), or 504 when the write
 * concern was not met in time
 */

ngx_int_t
ngx_http_replog_post_answer(ngx_http_request_t *r, ngx_uint_t status)
{
    u_char                  *p;
    size_t                   len;
    ngx_str_t                json, holders;
    ngx_uint_t               held;
    ngx_http_replog_ctx_t   *ctx;
    ngx_http_replog_zone_t  *zone;

    ctx = ngx_http_get_module_ctx(r, ngx_http_replog_module);
    zone = ctx->node->shm_zone->data;

    /* durable log hook: 0 holders is an answer too (not on disk yet) */
    ngx_str_null(&holders);

    held = ngx_http_replog_registry_holders(zone, ctx->appended.id, r->pool,
                                            &ctx->node->id, &holders);
    if (holders.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = 2 * (sizeof(NGX_HTTP_REPLOG_WC_TIMEOUT) - 1)
          + sizeof("{\"error\":\"\",\"detail\":\"\",\"write_concern\":,"
                   "\"acks\":,\"message\":,\"meta\":{\"message_id\":,"
                   "\"registered_at\":\"\",\"registered_to\":}}\n")
          + 2 * NGX_INT_T_LEN + ctx->msg.len + NGX_INT64_LEN
          + NGX_HTTP_REPLOG_TIME_LEN + holders.len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json.data = p;

    if (status == NGX_HTTP_GATEWAY_TIME_OUT) {
        p = ngx_sprintf(p, "{\"error\":\"%s\",\"detail\":\"%s\","
                        "\"write_concern\":%i,\"acks\":%ui,",
                        NGX_HTTP_REPLOG_WC_TIMEOUT, NGX_HTTP_REPLOG_WC_TIMEOUT,
                        ctx->wc, held);

        ngx_shmtx_lock(&zone->shpool->mutex);
        zone->sh->wc_timeouts++;
        ngx_shmtx_unlock(&zone->shpool->mutex);

    } else {
        *p++ = '{';

        if (status == NGX_HTTP_CREATED && r->method == NGX_HTTP_PUT) {
            status = NGX_HTTP_OK;
        }
    }

    p = ngx_sprintf(p, "\"message\":%V,\"meta\":{\"message_id\":%uL,"
                    "\"registered_at\":\"", &ctx->msg, ctx->appended.id);
    p = ngx_http_replog_format_time(p, ctx->appended.usec);
    p = ngx_sprintf(p, "\",\"registered_to\":%V}}\n", &holders);

    json.len = p - json.data;

    return ngx_http_replog_send_json(r, status, &json);
}


static ngx_int_t
ngx_http_replog_list(ngx_http_request_t *r, ngx_http_replog_ctx_t *ctx)
{
    u_char                        *p;
    off_t                          len;
    uint64_t                       since, limit, epoch;
    ngx_int_t                      rc;
    ngx_uint_t                     i, n;
    ngx_table_elt_t               *h;
    ngx_http_replog_sh_t          *sh;
    ngx_http_replog_zone_t        *zone;
    ngx_http_replog_secondary_t   *s;
    ngx_http_replog_holder_t       holders[NGX_HTTP_REPLOG_MAX_SECONDARIES];

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    since = 0;
    limit = 0;

    if (ngx_http_replog_arg_uint(r, "since", 5, &since) == NGX_ERROR
        || ngx_http_replog_arg_uint(r, "limit", 5, &limit) == NGX_ERROR)
    {
        return ngx_http_replog_send_error(r, NGX_HTTP_BAD_REQUEST,
                   "since and limit must be non-negative integers");
    }

    zone = ctx->node->shm_zone->data;
    sh = zone->sh;

    ngx_shmtx_lock(&zone->shpool->mutex);

    /* a snapshot: what is appended while streaming is not included */

    ctx->next = since + 1;
    ctx->last = sh->last_id;
    ctx->incarnation = sh->incarnation;
    epoch = sh->epoch;

    if (limit && since + limit < ctx->last) {
        ctx->last = since + limit;
    }

    len = sizeof("{\"data\":[]}\n") - 1;

    if (ctx->next <= ctx->last) {
        len += ngx_http_replog_store_cum_locked(sh, ctx->last)
               - ngx_http_replog_store_cum_locked(sh, ctx->next - 1)
               - (ctx->next > 1 ? 1 : 0);
    }

    /* the holders, in the same look as the log: what the list says */

    n = 0;

    for (i = 0;
         ctx->node->role == NGX_HTTP_REPLOG_MASTER
         && i < NGX_HTTP_REPLOG_MAX_SECONDARIES;
         i++)
    {
        s = &sh->secondaries[i];

        if (s->status == 0 || s->status == NGX_HTTP_REPLOG_CONFLICT
            || s->acked_id < ctx->next)
        {
            continue;
        }

        holders[n].acked_id = ngx_min(s->acked_id, ctx->last);
        holders[n].id_len = s->id_len;
        ngx_memcpy(holders[n].id, s->id, s->id_len);
        n++;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (ngx_http_replog_list_runs(r, ctx, holders, n, &len) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* whose log this is: a recovering master takes pages of its source only */

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_pnalloc(r->pool, ctx->node->id.len + 1 + 16);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "X-Replog-Source");
    h->value.data = p;
    p = ngx_sprintf(p, "%V ", &ctx->node->id);
    h->value.len = ngx_http_replog_format_epoch(p, epoch) - h->value.data;

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

    rc = ngx_http_replog_list_send(r, ctx);

    if (rc == NGX_AGAIN && !ctx->done) {
        if (ngx_http_replog_list_wait(r) != NGX_OK) {
            return NGX_ERROR;
        }

        r->main->count++;
        r->write_event_handler = ngx_http_replog_list_writer;

        return NGX_DONE;
    }

    return rc;
}


/*
 * The holders of an entry change only at a secondary's acked_id: with the
 * distinct acked_ids a1 < a2 < ... of the snapshot, the ids in (a(k-1), ak]
 * are held by the master and those at ak or above, the ids past the last
 * by the master alone.  Each run gets its suffix once, and the length of
 * the list is its stored bytes plus each run's suffix times its ids.
 * A secondary's list has one run: it names the node itself, the one holder
 * it can vouch for.
 */

static ngx_int_t
ngx_http_replog_list_runs(ngx_http_request_t *r, ngx_http_replog_ctx_t *ctx,
    ngx_http_replog_holder_t *holders, ngx_uint_t n, off_t *len)
{
    u_char                 *p;
    size_t                  size;
    uint64_t                v, lo, hi, acked[NGX_HTTP_REPLOG_MAX_SECONDARIES];
    ngx_str_t              *id;
    ngx_uint_t              i, j, k;
    ngx_http_replog_run_t  *run;

    /* the distinct acked_ids, ascending (at most 32: insertion) */

    k = 0;

    for (i = 0; i < n; i++) {
        v = holders[i].acked_id;

        for (j = 0; j < k && acked[j] < v; j++) { /* void */ }

        if (j < k && acked[j] == v) {
            continue;
        }

        ngx_memmove(&acked[j + 1], &acked[j], (k - j) * sizeof(uint64_t));
        acked[j] = v;
        k++;
    }

    ctx->runs = ngx_palloc(r->pool, (k + 1) * sizeof(ngx_http_replog_run_t));
    if (ctx->runs == NULL) {
        return NGX_ERROR;
    }

    id = &ctx->node->id;
    lo = ctx->next;

    for (j = 0; j <= k; j++) {
        run = &ctx->runs[j];
        run->hi = (j < k) ? acked[j] : (uint64_t) -1;

        size = sizeof(",\"registered_to\":[\"\"]}}") - 1
               + ngx_http_replog_json_escape_len(id->data, id->len);

        for (i = 0; j < k && i < n; i++) {
            if (holders[i].acked_id >= run->hi) {
                size += sizeof(",\"\"") - 1
                        + ngx_http_replog_json_escape_len(holders[i].id,
                                                          holders[i].id_len);
            }
        }

        run->padded = ngx_align(size, 8);

        p = ngx_pcalloc(r->pool, run->padded);
        if (p == NULL) {
            return NGX_ERROR;
        }

        run->suffix.data = p;

        p = ngx_cpymem(p, ",\"registered_to\":[\"",
                       sizeof(",\"registered_to\":[\"") - 1);
        p = ngx_http_replog_json_escape(p, id->data, id->len);
        *p++ = '"';

        for (i = 0; j < k && i < n; i++) {
            if (holders[i].acked_id >= run->hi) {
                *p++ = ',';
                *p++ = '"';
                p = ngx_http_replog_json_escape(p, holders[i].id,
                                                holders[i].id_len);
                *p++ = '"';
            }
        }

        *p++ = ']';
        *p++ = '}';
        *p++ = '}';

        run->suffix.len = p - run->suffix.data;

        /* the ids of the list in this run */

        hi = ngx_min(run->hi, ctx->last);

        if (lo <= hi) {
            *len += (off_t) (hi - lo + 1) * run->suffix.len;
            lo = hi + 1;
        }
    }

    ctx->run = 0;

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
    size_t                     skip, len, w;
    uint64_t                   id;
    ngx_buf_t                 *b;
    ngx_uint_t                 avail;
    ngx_connection_t          *c;
    ngx_http_replog_sh_t      *sh;
    ngx_http_replog_zone_t    *zone;
    ngx_http_replog_run_t     *run;
    ngx_http_replog_entry_t   *e, **slot;

    c = r->connection;
    b = ctx->buf;
    zone = ctx->node->shm_zone->data;
    sh = zone->sh;

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
            b->last = ngx_cpymem(b->last, "{\"data\":[",
                                 sizeof("{\"data\":[") - 1);
            ctx->opened = 1;
        }

        ngx_shmtx_lock(&zone->shpool->mutex);

        if (sh->incarnation != ctx->incarnation) {
            /*
             * a reset (or a new log) under the stream: the declared length
             * and the entries belong to a log that is gone, so the only
             * honest end is a short body
             */
            ngx_shmtx_unlock(&zone->shpool->mutex);

            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "replog: list stream closed at id %uL of %uL: "
                          "log %016xL replaced by %016xL", ctx->next,
                          ctx->last, ctx->incarnation, sh->incarnation);
            return NGX_ERROR;
        }

        /*
         * the hot loop: the stored bytes, then the suffix of their run,
         * walking the index a chunk at a time
         */

        run = &ctx->runs[ctx->run];
        id = ctx->next;
        p = b->last;
        slot = NULL;
        avail = 0;

        while (id <= ctx->last) {

            if (avail == 0) {
                slot = ngx_http_replog_store_slots_locked(sh, id, &avail);
            }

            e = slot ? *slot : NULL;

            if (e == NULL) {
                /* cannot happen: the prefix of one log is never taken back */
                ngx_shmtx_unlock(&zone->shpool->mutex);

                ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                              "replog: list stream closed: id %uL of log "
                              "%016xL is missing", id, ctx->incarnation);
                return NGX_ERROR;
            }

            while (id > run->hi) {
                run++;
            }

            /* the first entry of the list goes without its comma */
            skip = ctx->tail ? 0 : 1;
            len = e->len - skip;

            if ((size_t) (b->end - p) < len + run->padded) {

                if (p == b->start) {
                    /*
                     * larger than the buffer: copied into one of its own,
                     * as a reset may free the zone's copy meanwhile
                     */
                    b = ngx_http_replog_list_big(r, ctx,
                                                 len + run->suffix.len);
                    if (b == NULL) {
                        ngx_shmtx_unlock(&zone->shpool->mutex);
                        return NGX_ERROR;
                    }

                    b->pos = b->start;
                    b->last = ngx_cpymem(b->start, e->data + skip, len);
                    b->last = ngx_cpymem(b->last, run->suffix.data,
                                         run->suffix.len);
                    b->last_buf = 0;
                    b->flush = 1;
                    ctx->out.buf = b;
                    ctx->tail = 1;
                    id++;
                }

                break;
            }

            p = ngx_cpymem(p, e->data + skip, len);

            /* whole words, the padding overwritten by what comes next */
            for (w = 0; w < run->padded; w += 8) {
                ngx_memcpy(p + w, run->suffix.data + w, 8);
            }

            p += run->suffix.len;

            ctx->tail = 1;
            slot++;
            avail--;
            id++;
        }

        if (b == ctx->buf) {
            b->last = p;
        }

        ctx->next = id;
        ctx->run = run - ctx->runs;

        ngx_shmtx_unlock(&zone->shpool->mutex);

        if (ctx->next > ctx->last
            && b == ctx->buf
            && (size_t) (b->end - b->last) >= sizeof("]}\n") - 1)
        {
            b->last = ngx_cpymem(b->last, "]}\n", sizeof("]}\n") - 1);
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
        if (ngx_http_replog_list_wait(r) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_ERROR);
        }

        return;
    }

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_http_replog_health(ngx_http_request_t *r, ngx_http_replog_ctx_t *ctx)
{
    u_char                  *p;
    size_t                   len;
    uint64_t                 epoch, last_id, bytes;
    ngx_str_t                json, *id;
    ngx_str_t                states, body, awaited;
    ngx_uint_t               pending, n, up, master, state;
    ngx_http_replog_view_t   view;
    ngx_http_replog_sh_t    *sh;
    ngx_http_replog_zone_t  *zone;

    zone = ctx->node->shm_zone->data;
    sh = zone->sh;
    id = &ctx->node->id;

    ngx_shmtx_lock(&zone->shpool->mutex);

    epoch = sh->epoch;
    last_id = sh->last_id;
    bytes = sh->bytes;
    pending = sh->pending;
    state = sh->state;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    master = (ctx->node->role == NGX_HTTP_REPLOG_MASTER);

    ngx_http_replog_registry_view(ctx->node, &view);
    n = view.cluster_size;
    up = master ? view.up : 1;

    len = sizeof("{\"role\":\"secondary\",\"id\":\"\",\"epoch\":\"\","
                 "\"state\":\"recovering\",\"waiters\":,"
                 "\"read_only\":false,\"last_id\":,\"bytes\":,"
                 "\"pending\":,\"cluster_size\":,"
                 "\"quorum\":{\"up\":,\"needed\":}}\n")
          + 16 + 2 * NGX_INT64_LEN + 4 * NGX_INT_T_LEN
          + ngx_http_replog_json_escape_len(id->data, id->len);

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json.data = p;

    p = ngx_sprintf(p, "{\"role\":\"%s\",\"id\":\"",
                    master ? "master" : "secondary");
    p = ngx_http_replog_json_escape(p, id->data, id->len);
    p = ngx_cpymem(p, "\",\"epoch\":\"", sizeof("\",\"epoch\":\"") - 1);
    p = ngx_http_replog_format_epoch(p, epoch);
    p = ngx_sprintf(p, "\",\"state\":\"%s\",\"waiters\":%uA",
                    ngx_http_replog_state_name(state), sh->waiters);
    p = ngx_sprintf(p, ",\"read_only\":%s,\"last_id\":%uL,\"bytes\":%uL,"
                    "\"pending\":%ui,\"cluster_size\":%ui,"
                    "\"quorum\":{\"up\":%ui,\"needed\":%ui}",
                    (master && state == NGX_HTTP_REPLOG_OPEN
                     && (!ctx->node->quorum || up >= n / 2 + 1))
                    ? "false" : "true",
                    last_id, bytes, pending,
                    n, up, n / 2 + 1);

    if (master) {
        if (ngx_http_replog_registry_states(zone, r->pool, &states)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /* a recovering master: the registrations it still waits for */
        ngx_str_null(&awaited);

        if (state != NGX_HTTP_REPLOG_OPEN
            && ngx_http_replog_registry_awaited(zone,
                   ngx_http_replog_recovery_needed(ctx->node->cluster_size),
                   r->pool, &awaited)
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        body.len = (p - json.data) + sizeof(",\"secondaries\":") - 1
                   + states.len + 2
                   + sizeof(",\"recovery\":") - 1 + awaited.len;
        body.data = ngx_pnalloc(r->pool, body.len);
        if (body.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_cpymem(body.data, json.data, p - json.data);

        if (awaited.len) {
            p = ngx_cpymem(p, ",\"recovery\":", sizeof(",\"recovery\":") - 1);
            p = ngx_cpymem(p, awaited.data, awaited.len);
        }

        p = ngx_cpymem(p, ",\"secondaries\":",
                       sizeof(",\"secondaries\":") - 1);
        p = ngx_cpymem(p, states.data, states.len);
        json.data = body.data;
    }

    *p++ = '}';
    *p++ = '\n';

    json.len = p - json.data;

    return ngx_http_replog_send_json(r, NGX_HTTP_OK, &json);
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


ngx_table_elt_t *
ngx_http_replog_header(ngx_http_request_t *r, const char *name, size_t len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


/* compares in constant time and never logs the token */

static ngx_int_t
ngx_http_replog_token_ok(ngx_http_request_t *r, ngx_str_t *key)
{
    u_char            diff;
    ngx_str_t        *token;
    ngx_uint_t        i;
    ngx_table_elt_t  *h;

    if (key->len == 0) {
        return 1;
    }

    h = ngx_http_replog_header(r, "x-token", sizeof("x-token") - 1);

    if (h == NULL) {
        return 0;
    }

    token = &h->value;
    diff = (token->len != key->len);

    for (i = 0; i < key->len; i++) {
        diff |= key->data[i] ^ (i < token->len ? token->data[i] : 0);
    }

    return diff == 0;
}


static ngx_int_t
ngx_http_replog_method_not_allowed(ngx_http_request_t *r, const char *allow)
{
    u_char                   master[NGX_HTTP_REPLOG_HOST_LEN];
    u_char                   buf[NGX_HTTP_REPLOG_HOST_LEN + 16];
    size_t                   len;
    ngx_str_t                fields;
    ngx_table_elt_t         *h;
    ngx_http_replog_ctx_t   *ctx;
    ngx_http_replog_zone_t  *zone;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Allow");
    h->value.data = (u_char *) allow;
    h->value.len = ngx_strlen(allow);

    ctx = ngx_http_get_module_ctx(r, ngx_http_replog_module);

    if (ctx->node->role == NGX_HTTP_REPLOG_SECONDARY
        && (r->method & (NGX_HTTP_POST|NGX_HTTP_PUT)))
    {
        /*
         * replog_master_url, else what the last accepted batch said:
         * never a client's header
         */

        len = ctx->node->master_url.len;

        if (len) {
            ngx_memcpy(master, ctx->node->master_url.data, len);

        } else {
            zone = ctx->node->shm_zone->data;

            ngx_shmtx_lock(&zone->shpool->mutex);
            len = zone->sh->master_len;
            ngx_memcpy(master, zone->sh->master, len);
            ngx_shmtx_unlock(&zone->shpool->mutex);
        }

        if (len) {
            fields.data = buf;
            fields.len = ngx_sprintf(buf, "\"master\":\"%*s\"", len, master)
                         - buf;

            return ngx_http_replog_send_error_fields(r, NGX_HTTP_NOT_ALLOWED,
                       &fields, "this node is a secondary: write to the "
                       "master");
        }

        return ngx_http_replog_send_error(r, NGX_HTTP_NOT_ALLOWED,
                   "this node is a secondary: write to the master");
    }

    return ngx_http_replog_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                      "method not allowed");
}


ngx_int_t
ngx_http_replog_retry_after(ngx_http_request_t *r, ngx_uint_t seconds)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->value.data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (h->value.data == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Retry-After");
    h->value.len = ngx_sprintf(h->value.data, "%ui", seconds)
                   - h->value.data;

    return NGX_OK;
}


ngx_int_t
ngx_http_replog_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *fmt, ...)
{
    ngx_int_t  rc;
    va_list    args;

    va_start(args, fmt);
    rc = ngx_http_replog_send_error_v(r, status, NULL, fmt, args);
    va_end(args);

    return rc;
}


/*
 * {"error":"<fmt>","detail":"<fmt>",<fields>}: fields are JSON members,
 * already encoded; "detail" is where the original's clients (FastAPI)
 * look for the text
 */

ngx_int_t
ngx_http_replog_send_error_fields(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *fields, const char *fmt, ...)
{
    ngx_int_t  rc;
    va_list    args;

    va_start(args, fmt);
    rc = ngx_http_replog_send_error_v(r, status, fields, fmt, args);
    va_end(args);

    return rc;
}


static ngx_int_t
ngx_http_replog_send_error_v(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *fields, const char *fmt, va_list args)
{
    u_char     *p, buf[512];
    size_t      len;
    ngx_str_t   json;

    len = ngx_vslprintf(buf, buf + sizeof(buf), fmt, args) - buf;

    json.len = sizeof("{\"error\":\"\",\"detail\":\"\"}\n") - 1 + 2 * len
               + (fields ? fields->len + 1 : 0);
    json.data = ngx_pnalloc(r->pool, json.len);
    if (json.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(json.data, "{\"error\":\"", sizeof("{\"error\":\"") - 1);
    p = ngx_cpymem(p, buf, len);
    p = ngx_cpymem(p, "\",\"detail\":\"", sizeof("\",\"detail\":\"") - 1);
    p = ngx_cpymem(p, buf, len);
    *p++ = '"';

    if (fields) {
        *p++ = ',';
        p = ngx_cpymem(p, fields->data, fields->len);
    }

    *p++ = '}';
    *p++ = '\n';

    return ngx_http_replog_send_json(r, status, &json);
}


ngx_int_t
ngx_http_replog_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *json)
{
    r->headers_out.status = status;
    ngx_str_set(&r->headers_out.content_type, "application/json");

    return ngx_http_replog_send_body(r, json);
}


ngx_int_t
ngx_http_replog_send_body(ngx_http_request_t *r, ngx_str_t *body)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    r->headers_out.content_length_n = body->len;
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


void
ngx_http_replog_api_init(void)
{
    ngx_http_replog_next_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_http_replog_body_filter;
}


/*
 * nginx's own client_max_body_size answers with an HTML page, so the API
 * locations lift it and enforce the same limit here: a chunked body over
 * it is read and dropped, then answered with a JSON 413.
 */

static ngx_int_t
ngx_http_replog_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t            *cl, last;
    ngx_http_replog_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_replog_module);

    if (ctx == NULL || r != r->main) {
        return ngx_http_replog_next_body_filter(r, in);
    }

    for (cl = in; cl; cl = cl->next) {
        ctx->body_size += ngx_buf_size(cl->buf);
    }

    if (ctx->body_size > ctx->conf->max_body) {
        ctx->too_large = 1;
    }

    if (!ctx->too_large) {
        return ngx_http_replog_next_body_filter(r, in);
    }

    /*
     * what was saved before is dropped too, so that nginx does not wait to
     * write it out, then the data, but the end of the body goes through
     */

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        if (!cl->buf->in_file) {
            cl->buf->pos = cl->buf->last;
        }
    }

    r->request_body->bufs = NULL;

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;

        if (cl->buf->last_buf) {
            last.buf = cl->buf;
            last.next = NULL;

            return ngx_http_replog_next_body_filter(r, &last);
        }
    }

    return NGX_OK;
}
