
/*
 * Copyright (C) replog authors
 */


/*
 * POST /register on a master (also /secondary/register): a secondary
 * registers, reached at the address its registration came from.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_replog_api.h"
#include "ngx_http_replog_json.h"


static ngx_int_t ngx_http_replog_register_body(ngx_http_request_t *r,
    ngx_str_t *body);


ngx_int_t
ngx_http_replog_register(ngx_http_request_t *r, ngx_str_t *path)
{
    return ngx_http_replog_read_body(r, ngx_http_replog_register_body);
}


static ngx_int_t
ngx_http_replog_register_body(ngx_http_request_t *r, ngx_str_t *body)
{
    uint64_t                     epoch, acked_id, master_epoch, last_id;
    ngx_int_t                    rc, slot;
    ngx_str_t                    id, err, json;
    socklen_t                    socklen;
    ngx_uint_t                   port;
    ngx_sockaddr_t               peer;
    ngx_http_replog_ctx_t       *ctx;
    ngx_http_replog_zone_t      *zone;

    ctx = ngx_http_get_module_ctx(r, ngx_http_replog_module);
    zone = ctx->node->shm_zone->data;

    rc = ngx_http_replog_json_register(r->pool, body->data, body->len, &id,
                                       &port, &epoch, &acked_id, &err);

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
                                        &master_epoch, &last_id,
                                        r->connection->log);

    if (slot == NGX_BUSY) {
        /* an old worker after a resizing reload: the new ones take it */
        if (ngx_http_replog_retry_after(r, 1) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_replog_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                   "the registry moved to the resized replog_zone \"%V\" "
                   "of a reload: nothing was registered, retry",
                   &zone->name);
    }

    if (slot == NGX_DECLINED) {
        return ngx_http_replog_send_error(r, NGX_HTTP_INSUFFICIENT_STORAGE,
                   "the registry is full: at most %d secondaries",
                   NGX_HTTP_REPLOG_MAX_SECONDARIES);
    }

    if (ngx_http_replog_json_registered(r->pool, &id, &ctx->node->id,
                                        master_epoch, last_id, &json)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_replog_send_json(r, NGX_HTTP_OK, &json);
}
