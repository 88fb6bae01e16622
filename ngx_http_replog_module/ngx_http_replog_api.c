
/*
 * Copyright (C) replog authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_replog_api.h"
#include "ngx_http_replog_engine.h"
#include "ngx_http_replog_json.h"


/*
 * The router of the API: a table of paths, each with the methods it
 * takes, the role of node it is served by, the key it needs and its
 * handler, looked at in that order (403, 405, 404, then the handler).
 * Also what every handler answers with: bodies, JSON, errors.
 */


#define NGX_HTTP_REPLOG_KEY_NONE      0
#define NGX_HTTP_REPLOG_KEY_CLIENT    1   /* the api key, or the service key */
#define NGX_HTTP_REPLOG_KEY_SERVICE   2

#define NGX_HTTP_REPLOG_GET           (NGX_HTTP_GET|NGX_HTTP_HEAD)


typedef ngx_int_t (*ngx_http_replog_route_pt)(ngx_http_request_t *r,
    ngx_str_t *path);


typedef struct {
    ngx_str_t                       path;
    ngx_uint_t                      prefix;   /* also path/{something} */
    ngx_uint_t                      methods;  /* 0: the handler tells */
    const char                     *allow;
    ngx_uint_t                      role;     /* 0: either */
    const char                     *elsewhere;  /* 404 on the other role */
    ngx_uint_t                      key;
    ngx_http_replog_route_pt        handler;
} ngx_http_replog_route_t;


static ngx_int_t ngx_http_replog_healthcheck(ngx_http_request_t *r,
    ngx_str_t *path);
static ngx_int_t ngx_http_replog_token_ok(ngx_http_request_t *r,
    ngx_str_t *key);
static void ngx_http_replog_post_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_replog_send_error_v(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *fields, const char *fmt, va_list args);
static ngx_int_t ngx_http_replog_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);


static ngx_http_request_body_filter_pt  ngx_http_replog_next_body_filter;


static ngx_http_replog_route_t  ngx_http_replog_routes[] = {

    { ngx_string("/healthcheck"), 0, NGX_HTTP_REPLOG_GET, "GET, HEAD", 0,
      NULL, NGX_HTTP_REPLOG_KEY_NONE, ngx_http_replog_healthcheck },

    /* the API's description, without a token like FastAPI's */

    { ngx_string("/openapi.json"), 0, NGX_HTTP_REPLOG_GET, "GET, HEAD", 0,
      NULL, NGX_HTTP_REPLOG_KEY_NONE, ngx_http_replog_openapi },

    { ngx_string("/docs"), 0, NGX_HTTP_REPLOG_GET, "GET, HEAD", 0,
      NULL, NGX_HTTP_REPLOG_KEY_NONE, ngx_http_replog_openapi },

    /* node to node: the service key */

    { ngx_string("/replicate"), 0, NGX_HTTP_POST, "POST",
      NGX_HTTP_REPLOG_SECONDARY,
      "this node is the master: it does not replicate from anyone",
      NGX_HTTP_REPLOG_KEY_SERVICE, ngx_http_replog_replicate },

    { ngx_string("/reset"), 0, NGX_HTTP_POST, "POST",
      NGX_HTTP_REPLOG_SECONDARY,
      "this node is the master: only a secondary's log can be reset",
      NGX_HTTP_REPLOG_KEY_SERVICE, ngx_http_replog_reset },

    { ngx_string("/register"), 0, NGX_HTTP_POST, "POST",
      NGX_HTTP_REPLOG_MASTER,
      "this node is a secondary: register with the master",
      NGX_HTTP_REPLOG_KEY_SERVICE, ngx_http_replog_register },

    { ngx_string("/secondary/register"), 0, NGX_HTTP_POST, "POST",
      NGX_HTTP_REPLOG_MASTER,
      "this node is a secondary: register with the master",
      NGX_HTTP_REPLOG_KEY_SERVICE, ngx_http_replog_register },

    /* clients, and nodes reading each other's logs (recovery) */

    { ngx_string("/messages"), 1, 0, NULL, 0, NULL,
      NGX_HTTP_REPLOG_KEY_CLIENT, ngx_http_replog_messages },

    { ngx_string("/metrics"), 0, NGX_HTTP_REPLOG_GET, "GET, HEAD", 0, NULL,
      NGX_HTTP_REPLOG_KEY_CLIENT, ngx_http_replog_metrics },

    { ngx_string("/health"), 0, NGX_HTTP_REPLOG_GET, "GET, HEAD", 0, NULL,
      NGX_HTTP_REPLOG_KEY_CLIENT, ngx_http_replog_health },

    { ngx_string("/secondaries"), 0, NGX_HTTP_REPLOG_GET, "GET, HEAD",
      NGX_HTTP_REPLOG_MASTER,
      "this node is a secondary: the master keeps the list",
      NGX_HTTP_REPLOG_KEY_CLIENT, ngx_http_replog_secondaries },

    { ngx_string("/secondary/list"), 0, NGX_HTTP_REPLOG_GET, "GET, HEAD",
      NGX_HTTP_REPLOG_MASTER,
      "this node is a secondary: the master keeps the list",
      NGX_HTTP_REPLOG_KEY_CLIENT, ngx_http_replog_secondaries },

    { ngx_null_string, 0, 0, NULL, 0, NULL, 0, NULL }
};


ngx_int_t
ngx_http_replog_handler(ngx_http_request_t *r)
{
    ngx_str_t                    path;
    ngx_uint_t                   ok;
    ngx_http_replog_ctx_t       *ctx;
    ngx_http_replog_route_t     *rt;
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

    for (rt = ngx_http_replog_routes; rt->handler; rt++) {
        if (path.len == rt->path.len
            && ngx_strncmp(path.data, rt->path.data, path.len) == 0)
        {
            break;
        }

        /* "/messages/2": a write concern in the path */
        if (rt->prefix
            && path.len > rt->path.len + 1
            && path.data[rt->path.len] == '/'
            && ngx_strncmp(path.data, rt->path.data, rt->path.len) == 0)
        {
            break;
        }
    }

    switch (rt->handler ? rt->key : NGX_HTTP_REPLOG_KEY_CLIENT) {

    case NGX_HTTP_REPLOG_KEY_SERVICE:
        ok = ngx_http_replog_token_ok(r, &rlcf->node->service_key);
        break;

    case NGX_HTTP_REPLOG_KEY_CLIENT:
        ok = ngx_http_replog_token_ok(r, &rlcf->api_key)
             || (rlcf->node->service_key.len
                 && ngx_http_replog_token_ok(r, &rlcf->node->service_key));
        break;

    default: /* NGX_HTTP_REPLOG_KEY_NONE */
        ok = 1;
    }

    if (!ok) {
        return ngx_http_replog_send_error(r, NGX_HTTP_FORBIDDEN,
                                          "missing or invalid x-token");
    }

    if (rt->handler == NULL) {
        return ngx_http_replog_send_error(r, NGX_HTTP_NOT_FOUND,
                                          "no such endpoint");
    }

    if (rt->methods && !(r->method & rt->methods)) {
        return ngx_http_replog_method_not_allowed(r, rt->allow);
    }

    if (rt->role && rt->role != rlcf->node->role) {
        return ngx_http_replog_send_error(r, NGX_HTTP_NOT_FOUND, "%s",
                                          rt->elsewhere);
    }

    return rt->handler(r, &path);
}


static ngx_int_t
ngx_http_replog_healthcheck(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_str_t               body;
    ngx_table_elt_t        *h;
    ngx_http_replog_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_replog_module);

    /*
     * the node's id: the master's heartbeat tells our answer from that of
     * whatever else answers at the address it registered
     */
    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "X-Replog-Id");
    h->value = ctx->node->id;

    /* exactly the original's body */
    ngx_str_set(&body, "HEALTHY");

    r->headers_out.status = NGX_HTTP_OK;
    ngx_str_set(&r->headers_out.content_type, "text/plain");

    return ngx_http_replog_send_body(r, &body);
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


ngx_int_t
ngx_http_replog_method_not_allowed(ngx_http_request_t *r, const char *allow)
{
    u_char                   master[NGX_HTTP_REPLOG_HOST_LEN];
    u_char                   buf[NGX_HTTP_REPLOG_HOST_LEN + 16];
    size_t                   len;
    ngx_str_t                fields;
    ngx_table_elt_t         *h;
    ngx_http_replog_ctx_t   *ctx;

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
            len = ngx_http_replog_store_master(ctx->node->shm_zone->data,
                                               master);
        }

        if (len) {
            fields.data = buf;
            fields.len = ngx_http_replog_json_master(buf, master, len) - buf;

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
    u_char     buf[512];
    size_t     len;
    ngx_str_t  json;

    /* the text is plain: the JSON glue escapes it, once */

    len = ngx_vslprintf(buf, buf + sizeof(buf), fmt, args) - buf;

    if (ngx_http_replog_json_error(r->pool, buf, len, fields, &json)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

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
