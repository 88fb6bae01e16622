
/*
 * Copyright (C) replog authors
 */


/*
 * A master that starts with an empty log recovers it from its secondaries:
 * it waits for a majority of the cluster to register (or the recovery
 * timeout with at least one), adopts the epoch of the most advanced log
 * among them and pulls what it lacks from that secondary, page by page,
 * before it opens for writes.  Any majority holds every message that a
 * majority acknowledged, so none of those is lost.  Runs in worker 0.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_replog_module.h"
#include "ngx_http_replog_client.h"


#define NGX_HTTP_REPLOG_PULL_PAGE  4096


typedef struct {
    ngx_http_replog_srv_conf_t    *node;
    ngx_http_replog_zone_t        *zone;
    ngx_log_t                      log;
    ngx_http_replog_client_t       client;
    uint64_t                       epoch;
    uint64_t                       generation;
    ngx_uint_t                     slot;
    ngx_uint_t                     pages;
    ngx_msec_t                     next_try;
    unsigned                       failing:1;
} ngx_http_replog_recovery_t;


static ngx_int_t ngx_http_replog_recovery_choose(
    ngx_http_replog_recovery_t *rec);
static void ngx_http_replog_recovery_pull(ngx_http_replog_recovery_t *rec);
static void ngx_http_replog_recovery_done(ngx_http_replog_client_t *cl,
    ngx_int_t rc);
static void ngx_http_replog_recovery_open(ngx_http_replog_recovery_t *rec,
    const char *why);


void *
ngx_http_replog_recovery_create(ngx_http_replog_srv_conf_t *node,
    ngx_pool_t *pool, ngx_log_t *log)
{
    ngx_http_replog_recovery_t  *rec;

    rec = ngx_pcalloc(pool, sizeof(ngx_http_replog_recovery_t));
    if (rec == NULL) {
        return NULL;
    }

    rec->node = node;
    rec->zone = node->shm_zone->data;
    rec->log = *log;

    ngx_http_replog_client_init(&rec->client, 64 * 1024 * 1024);
    rec->client.log = rec->log;
    rec->client.timeout = node->batch_timeout;
    rec->client.done = ngx_http_replog_recovery_done;
    rec->client.data = rec;

    return rec;
}


void
ngx_http_replog_recovery_free(void *data)
{
    ngx_http_replog_recovery_t  *rec = data;

    ngx_http_replog_client_free(&rec->client);
}


/* NGX_OK once the master is open for writes, NGX_AGAIN before */

ngx_int_t
ngx_http_replog_recovery_step(void *data)
{
    ngx_http_replog_recovery_t  *rec = data;

    ngx_uint_t                    state;
    ngx_http_replog_secondary_t  *s;

    ngx_shmtx_lock(&rec->zone->shpool->mutex);
    state = rec->zone->sh->state;
    ngx_shmtx_unlock(&rec->zone->shpool->mutex);

    if (state == NGX_HTTP_REPLOG_OPEN) {
        return NGX_OK;
    }

    if (state == NGX_HTTP_REPLOG_PULLING) {

        /*
         * from the same source while it is up; a source the heartbeats
         * found down is given up, even in the middle of a page
         */

        ngx_shmtx_lock(&rec->zone->shpool->mutex);

        s = &rec->zone->sh->secondaries[rec->slot];

        if (s->generation != rec->generation
            || (s->status != NGX_HTTP_REPLOG_HEALTHY
                && s->status != NGX_HTTP_REPLOG_SUSPECTED))
        {
            rec->zone->sh->state = NGX_HTTP_REPLOG_RECOVERING;
            ngx_shmtx_unlock(&rec->zone->shpool->mutex);

            ngx_log_error(NGX_LOG_WARN, &rec->log, 0,
                          "replog: recovering: the source %V is down, "
                          "choosing again", &rec->client.name);

            ngx_http_replog_client_close(&rec->client);
            rec->client.busy = 0;
            rec->failing = 0;
            rec->next_try = 0;

            return NGX_AGAIN;
        }

        ngx_shmtx_unlock(&rec->zone->shpool->mutex);
    }

    if (rec->client.busy
        || (ngx_msec_int_t) (rec->next_try - ngx_current_msec) > 0)
    {
        return NGX_AGAIN;
    }

    if (state == NGX_HTTP_REPLOG_RECOVERING) {
        return ngx_http_replog_recovery_choose(rec);
    }

    ngx_http_replog_recovery_pull(rec);

    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_replog_recovery_choose(ngx_http_replog_recovery_t *rec)
{
    uint64_t                      acked;
    ngx_uint_t                    i, n, needed, best, held;
    ngx_msec_t                    elapsed;
    ngx_http_replog_sh_t         *sh;
    ngx_http_replog_secondary_t  *s;

    sh = rec->zone->sh;

    ngx_shmtx_lock(&rec->zone->shpool->mutex);

    n = 0;
    best = NGX_HTTP_REPLOG_MAX_SECONDARIES;
    acked = 0;
    held = 0;

    for (i = 0; i < NGX_HTTP_REPLOG_MAX_SECONDARIES; i++) {
        s = &sh->secondaries[i];

        if (s->status == 0) {
            continue;
        }

        n++;

        if (s->epoch && s->status != NGX_HTTP_REPLOG_CONFLICT) {
            held |= (s->acked_id != 0);
        }

        if ((s->status == NGX_HTTP_REPLOG_HEALTHY
             || s->status == NGX_HTTP_REPLOG_SUSPECTED)
            && s->epoch && s->acked_id > acked)
        {
            acked = s->acked_id;
            best = i;
        }
    }

    /* registrations besides the master that make a majority */
    needed = rec->node->cluster_size / 2;
    elapsed = ngx_current_msec - sh->recovery_start;

    if (n < needed && !(n && elapsed >= rec->node->recovery_timeout)) {
        ngx_shmtx_unlock(&rec->zone->shpool->mutex);
        return NGX_AGAIN;
    }

    if (best == NGX_HTTP_REPLOG_MAX_SECONDARIES) {

        if (sh->max_id || held) {
            /*
             * part of the log is here, or a secondary that holds some is
             * down: never open without it
             */
            ngx_shmtx_unlock(&rec->zone->shpool->mutex);
            return NGX_AGAIN;
        }

        ngx_shmtx_unlock(&rec->zone->shpool->mutex);
        ngx_http_replog_recovery_open(rec, "no secondary holds anything");
        return NGX_OK;
    }

    s = &sh->secondaries[best];

    if (sh->max_id && s->acked_id <= sh->last_id) {
        ngx_shmtx_unlock(&rec->zone->shpool->mutex);
        ngx_http_replog_recovery_open(rec, "the log is recovered");
        return NGX_OK;
    }

    sh->epoch = s->epoch;
    sh->state = NGX_HTTP_REPLOG_PULLING;
    sh->recovery_target = s->acked_id;

    rec->epoch = s->epoch;
    rec->slot = best;
    rec->generation = s->generation;

    ngx_http_replog_client_set_addr(&rec->client, &s->sockaddr.sockaddr,
                                    s->socklen);

    ngx_log_error(NGX_LOG_NOTICE, &rec->log, 0,
                  "replog: recovering: %ui of %ui nodes registered, "
                  "adopting epoch %016xL of \"%*s\", which holds %uL "
                  "messages", n + 1, rec->node->cluster_size, s->epoch,
                  s->id_len, s->id, s->acked_id);

    ngx_http_replog_registry_judge_locked(rec->zone, &rec->log);

    ngx_shmtx_unlock(&rec->zone->shpool->mutex);

    ngx_http_replog_recovery_pull(rec);

    return NGX_AGAIN;
}


static void
ngx_http_replog_recovery_pull(ngx_http_replog_recovery_t *rec)
{
    u_char      *p;
    uint64_t     since;
    ngx_str_t   *key;

    ngx_shmtx_lock(&rec->zone->shpool->mutex);
    since = rec->zone->sh->last_id;
    ngx_shmtx_unlock(&rec->zone->shpool->mutex);

    key = &rec->node->service_key;

    p = ngx_http_replog_client_reserve(&rec->client,
                                       256 + rec->client.name.len + key->len);
    if (p == NULL) {
        return;
    }

    p = ngx_sprintf(p, "GET /messages?since=%uL&limit=%d HTTP/1.1\r\n"
                    "Host: %V\r\n", since, NGX_HTTP_REPLOG_PULL_PAGE,
                    &rec->client.name);

    if (key->len) {
        p = ngx_sprintf(p, "x-token: %V\r\n", key);
    }

    p = ngx_cpymem(p, "\r\n", 2);

    rec->client.out.last = p;

    if (ngx_http_replog_client_send(&rec->client) != NGX_OK) {
        if (!rec->failing) {
            ngx_log_error(NGX_LOG_WARN, &rec->log, 0,
                          "replog: recovering: cannot reach %V, retrying",
                          &rec->client.name);
            rec->failing = 1;
        }

        rec->next_try = ngx_current_msec + rec->node->retry_interval;
    }
}


static void
ngx_http_replog_recovery_done(ngx_http_replog_client_t *cl, ngx_int_t rc)
{
    ngx_http_replog_recovery_t *rec = cl->data;

    uint64_t                        acked, target;
    ngx_int_t                       arc;
    ngx_str_t                       err;
    ngx_uint_t                      n;
    ngx_pool_t                     *pool;
    ngx_http_replog_batch_entry_t  *entries;

    if (rc != NGX_OK || cl->status != NGX_HTTP_OK) {
        /* logged once, retried at the retry interval */
        if (!rec->failing) {
            ngx_log_error(NGX_LOG_WARN, &rec->log, 0,
                          "replog: recovering: pull from %V failed (%s %ui),"
                          " retrying", &cl->name,
                          cl->err ? cl->err : "status", cl->status);
            rec->failing = 1;
        }

        rec->next_try = ngx_current_msec + rec->node->retry_interval;
        return;
    }

    if (rec->failing) {
        ngx_log_error(NGX_LOG_NOTICE, &rec->log, 0,
                      "replog: recovering: pulling from %V again",
                      &cl->name);
        rec->failing = 0;
    }

    pool = ngx_create_pool(4096, &rec->log);
    if (pool == NULL) {
        return;
    }

    arc = ngx_http_replog_json_entries(pool, cl->body, cl->body_len, "data",
                                       NULL, &entries, &n, &err);

    if (arc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, &rec->log, 0,
                      "replog: recovering: bad page from %V: %V",
                      &cl->name, &err);
        ngx_destroy_pool(pool);
        return;
    }

    arc = ngx_http_replog_store_apply(rec->zone, rec->epoch, entries, n,
                                      (ngx_uint_t) -1, &acked);

    ngx_destroy_pool(pool);

    if (arc != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, &rec->log, 0,
                      "replog: recovering: cannot store what %V holds "
                      "(%s): enlarge replog_zone", &cl->name,
                      arc == NGX_HTTP_REPLOG_FULL ? "zone full" : "refused");
        return;
    }

    rec->pages++;

    ngx_shmtx_lock(&rec->zone->shpool->mutex);
    target = rec->zone->sh->recovery_target;
    ngx_shmtx_unlock(&rec->zone->shpool->mutex);

    if (n < NGX_HTTP_REPLOG_PULL_PAGE || acked >= target) {
        ngx_http_replog_recovery_open(rec, "the log is recovered");
        return;
    }

    ngx_http_replog_recovery_pull(rec);
}


static void
ngx_http_replog_recovery_open(ngx_http_replog_recovery_t *rec,
    const char *why)
{
    uint64_t               last_id, epoch;
    ngx_http_replog_sh_t  *sh;

    sh = rec->zone->sh;

    ngx_shmtx_lock(&rec->zone->shpool->mutex);

    sh->state = NGX_HTTP_REPLOG_OPEN;
    last_id = sh->last_id;
    epoch = sh->epoch;

    ngx_http_replog_registry_judge_locked(rec->zone, &rec->log);

    ngx_shmtx_unlock(&rec->zone->shpool->mutex);

    ngx_http_replog_client_close(&rec->client);

    ngx_log_error(NGX_LOG_NOTICE, &rec->log, 0,
                  "replog: open for writes: %s; epoch %016xL, %uL messages, "
                  "next id %uL", why, epoch, last_id, last_id + 1);
}
