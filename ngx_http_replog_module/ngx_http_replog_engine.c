
/*
 * Copyright (C) replog authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_replog_module.h"
#include "ngx_http_replog_client.h"


/* ids this worker appended and has not pushed yet, per secondary */
#define NGX_HTTP_REPLOG_QUEUE        16384

/*
 * how often waiters look at the registry by themselves: a safety net, acks
 * that other workers read wake them through the wake-up channel
 */
#define NGX_HTTP_REPLOG_POLL         1000
#define NGX_HTTP_REPLOG_IDLE_TICK    100

/* a secondary whose acked_id stands still this long is caught up */
#define NGX_HTTP_REPLOG_GRACE        500

#define NGX_HTTP_REPLOG_LINK_LIVE       0
#define NGX_HTTP_REPLOG_LINK_CATCHUP    1
#define NGX_HTTP_REPLOG_LINK_HEARTBEAT  2


typedef struct ngx_http_replog_engine_s  ngx_http_replog_engine_t;


typedef struct {
    ngx_http_replog_engine_t      *engine;
    ngx_uint_t                     slot;
    ngx_uint_t                     kind;
    uint64_t                       generation;
    ngx_http_replog_client_t       client;
    ngx_event_t                    retry;
    ngx_msec_t                     delay;

    uint64_t                      *queue;
    ngx_uint_t                     qhead;
    ngx_uint_t                     qlen;
    uint64_t                       batch_last;
    ngx_uint_t                     batch_n;
    uint64_t                       batch_epoch;

    /* the secondary's id as of link->generation: answers must name it */
    u_char                         id[NGX_HTTP_REPLOG_ID_LEN];
    size_t                         id_len;

    unsigned                       inflight:1;
    unsigned                       ready:1;
} ngx_http_replog_link_t;


struct ngx_http_replog_engine_s {
    ngx_http_replog_srv_conf_t    *node;
    ngx_http_replog_zone_t        *zone;
    ngx_log_t                      log;

    ngx_http_replog_link_t         live[NGX_HTTP_REPLOG_MAX_SECONDARIES];
    ngx_http_replog_link_t         catchup[NGX_HTTP_REPLOG_MAX_SECONDARIES];
    ngx_http_replog_link_t         heartbeat[NGX_HTTP_REPLOG_MAX_SECONDARIES];

    ngx_queue_t                    waiters;
    ngx_msec_t                     polled;     /* waiters last looked */
    ngx_uint_t                     minwc;      /* least wc parked, as of
                                                  the last wake */
    ngx_event_t                    recheck;
    ngx_event_t                    tick;
    ngx_event_t                    durable;    /* durable log hook: links
                                                  held for the writer */
    ngx_msec_t                     next_heartbeat;
    void                          *recovery;
    unsigned                       owner:1;    /* worker 0 */
};


typedef struct {
    ngx_queue_t                    queue;
    ngx_http_request_t            *r;
    ngx_http_replog_engine_t      *engine;
    uint64_t                       id;
    ngx_uint_t                     wc;
    ngx_event_t                    timer;
    unsigned                       active:1;
} ngx_http_replog_waiter_t;


/* a copy of one registry slot, taken under the lock */
typedef struct {
    ngx_uint_t                     status;
    uint64_t                       generation;
    uint64_t                       acked_id;
    ngx_msec_t                     acked_at;
    time_t                         last_healthy;
} ngx_http_replog_peer_t;


static void ngx_http_replog_link_sync(ngx_http_replog_link_t *link,
    ngx_http_replog_peer_t *peer);
static void ngx_http_replog_link_reset(ngx_http_replog_link_t *link);
static ngx_int_t ngx_http_replog_link_batch(ngx_http_replog_link_t *link,
    uint64_t from, uint64_t to);
static void ngx_http_replog_link_send(ngx_http_replog_link_t *link);
static void ngx_http_replog_link_done(ngx_http_replog_client_t *cl,
    ngx_int_t rc);
static void ngx_http_replog_link_failed(ngx_http_replog_link_t *link,
    const char *err);
static void ngx_http_replog_link_retry(ngx_event_t *ev);
static void ngx_http_replog_live_next(ngx_http_replog_link_t *link);
static void ngx_http_replog_catchup_next(ngx_http_replog_link_t *link,
    ngx_http_replog_peer_t *peer, uint64_t last_id);
static void ngx_http_replog_heartbeat(ngx_http_replog_link_t *link);
static void ngx_http_replog_engine_open(ngx_http_replog_engine_t *engine);
static void ngx_http_replog_tick(ngx_event_t *ev);
static uint64_t ngx_http_replog_snapshot(ngx_http_replog_engine_t *engine,
    ngx_http_replog_peer_t *peers);
static void ngx_http_replog_wake(ngx_http_replog_engine_t *engine,
    ngx_uint_t all, ngx_uint_t by);
static void ngx_http_replog_wake_acked(ngx_http_replog_engine_t *engine,
    ngx_uint_t all, ngx_uint_t by, uint64_t *acked, ngx_uint_t n);
static void ngx_http_replog_recheck(ngx_event_t *ev);
static void ngx_http_replog_durable_next(ngx_event_t *ev);

/* durable log hook: how often held links look at the writer's mark */
#define NGX_HTTP_REPLOG_DURABLE_POLL  1
static void ngx_http_replog_waiters_mark(ngx_http_replog_engine_t *engine);
static void ngx_http_replog_waiter_answer(ngx_http_replog_waiter_t *w,
    ngx_uint_t status);
static void ngx_http_replog_waiter_timeout(ngx_event_t *ev);
static void ngx_http_replog_waiter_cleanup(void *data);
static const char *ngx_http_replog_parse_acked(ngx_http_replog_link_t *link,
    uint64_t *acked_id, uint64_t *incarnation);


ngx_int_t
ngx_http_replog_engine_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                     i, j;
    ngx_http_replog_link_t        *link;
    ngx_http_replog_engine_t      *engine;
    ngx_http_replog_srv_conf_t   **nodes;
    ngx_http_replog_main_conf_t   *rmcf;

    rmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_replog_module);

    if (rmcf == NULL) {
        return NGX_OK;
    }

    nodes = rmcf->nodes.elts;

    for (i = 0; i < rmcf->nodes.nelts; i++) {
        if (nodes[i]->role != NGX_HTTP_REPLOG_MASTER) {
            continue;
        }

        engine = ngx_pcalloc(cycle->pool, sizeof(ngx_http_replog_engine_t));
        if (engine == NULL) {
            return NGX_ERROR;
        }

        engine->node = nodes[i];
        engine->zone = nodes[i]->shm_zone->data;
        engine->log = *cycle->log;
        engine->owner = (ngx_worker == 0);
        ngx_queue_init(&engine->waiters);

        for (j = 0; j < NGX_HTTP_REPLOG_MAX_SECONDARIES; j++) {
            link = &engine->live[j];
            link->kind = NGX_HTTP_REPLOG_LINK_LIVE;
            link->slot = j;
            link->engine = engine;

            engine->catchup[j] = *link;
            engine->catchup[j].kind = NGX_HTTP_REPLOG_LINK_CATCHUP;

            engine->heartbeat[j] = *link;
            engine->heartbeat[j].kind = NGX_HTTP_REPLOG_LINK_HEARTBEAT;
        }

        if (engine->owner && engine->zone->recovery) {
            engine->recovery = ngx_http_replog_recovery_create(nodes[i],
                                                               cycle->pool,
                                                               cycle->log);
            if (engine->recovery == NULL) {
                return NGX_ERROR;
            }

        } else if (engine->owner) {
            ngx_http_replog_engine_open(engine);
        }

        engine->tick.handler = ngx_http_replog_tick;
        engine->tick.data = engine;
        engine->tick.log = &engine->log;
        engine->tick.cancelable = 1;

        engine->recheck.handler = ngx_http_replog_recheck;
        engine->recheck.data = engine;
        engine->recheck.log = &engine->log;

        engine->durable.handler = ngx_http_replog_durable_next;
        engine->durable.data = engine;
        engine->durable.log = &engine->log;
        engine->durable.cancelable = 1;

        ngx_add_timer(&engine->tick, NGX_HTTP_REPLOG_IDLE_TICK);

        nodes[i]->engine = engine;
    }

    return NGX_OK;
}


/*
 * A reload that turned recovery off (replog_recovery off, or a cluster
 * size of 1) while the log was recovering: nothing recovers it any more,
 * so it opens with what it holds, as the operator asked.
 */

static void
ngx_http_replog_engine_open(ngx_http_replog_engine_t *engine)
{
    uint64_t               last_id, epoch;
    ngx_uint_t             state;
    ngx_http_replog_sh_t  *sh;

    sh = engine->zone->sh;

    ngx_shmtx_lock(&engine->zone->shpool->mutex);

    state = sh->state;
    last_id = sh->last_id;
    epoch = sh->epoch;

    if (state != NGX_HTTP_REPLOG_OPEN) {
        sh->state = NGX_HTTP_REPLOG_OPEN;
        ngx_http_replog_registry_judge_locked(engine->zone, &engine->log);
    }

    ngx_shmtx_unlock(&engine->zone->shpool->mutex);

    if (state != NGX_HTTP_REPLOG_OPEN) {
        ngx_log_error(NGX_LOG_WARN, &engine->log, 0,
                      "replog: open for writes: recovery is off since the "
                      "reload, the log was %s; epoch %016xL, %uL messages, "
                      "next id %uL: acknowledged writes may be lost",
                      ngx_http_replog_state_name(state), epoch, last_id,
                      last_id + 1);
    }
}


void
ngx_http_replog_engine_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                     i, j;
    ngx_http_replog_engine_t      *engine;
    ngx_http_replog_srv_conf_t   **nodes;
    ngx_http_replog_main_conf_t   *rmcf;

    rmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_replog_module);

    if (rmcf == NULL) {
        return;
    }

    nodes = rmcf->nodes.elts;

    for (i = 0; i < rmcf->nodes.nelts; i++) {
        engine = nodes[i]->engine;

        if (engine == NULL) {
            continue;
        }

        for (j = 0; j < NGX_HTTP_REPLOG_MAX_SECONDARIES; j++) {
            ngx_http_replog_link_reset(&engine->live[j]);
            ngx_http_replog_link_reset(&engine->catchup[j]);
            ngx_http_replog_link_reset(&engine->heartbeat[j]);
            ngx_http_replog_client_free(&engine->live[j].client);
            ngx_http_replog_client_free(&engine->catchup[j].client);
            ngx_http_replog_client_free(&engine->heartbeat[j].client);

            if (engine->live[j].queue) {
                ngx_free(engine->live[j].queue);
                engine->live[j].queue = NULL;
            }
        }

        if (engine->recovery) {
            ngx_http_replog_recovery_free(engine->recovery);
        }

        if (engine->recheck.posted) {
            ngx_delete_posted_event(&engine->recheck);
        }

        if (engine->durable.timer_set) {
            ngx_del_timer(&engine->durable);
        }

        nodes[i]->engine = NULL;
    }
}


static uint64_t
ngx_http_replog_snapshot(ngx_http_replog_engine_t *engine,
    ngx_http_replog_peer_t *peers)
{
    uint64_t                      last_id;
    ngx_uint_t                    i;
    ngx_http_replog_sh_t         *sh;
    ngx_http_replog_secondary_t  *s;

    sh = engine->zone->sh;

    ngx_shmtx_lock(&engine->zone->shpool->mutex);

    for (i = 0; i < NGX_HTTP_REPLOG_MAX_SECONDARIES; i++) {
        s = &sh->secondaries[i];

        peers[i].status = s->status;

        if (s->status == 0) {
            continue;
        }

        peers[i].generation = s->generation;
        peers[i].acked_id = s->acked_id;
        peers[i].acked_at = s->acked_at;
        peers[i].last_healthy = s->last_healthy;
    }

    last_id = sh->last_id;

    ngx_shmtx_unlock(&engine->zone->shpool->mutex);

    return last_id;
}


/* a message this worker appended: queue it on every live link */

void
ngx_http_replog_engine_appended(ngx_http_replog_srv_conf_t *node,
    uint64_t id)
{
    ngx_uint_t                 i;
    ngx_http_replog_link_t    *link;
    ngx_http_replog_peer_t     peers[NGX_HTTP_REPLOG_MAX_SECONDARIES];
    ngx_http_replog_engine_t  *engine;

    engine = node->engine;

    if (engine == NULL) {
        return;
    }

    (void) ngx_http_replog_snapshot(engine, peers);

    for (i = 0; i < NGX_HTTP_REPLOG_MAX_SECONDARIES; i++) {
        link = &engine->live[i];

        if (peers[i].status != NGX_HTTP_REPLOG_HEALTHY
            && peers[i].status != NGX_HTTP_REPLOG_SUSPECTED)
        {
            if (link->generation) {
                ngx_http_replog_link_reset(link);
                link->generation = 0;
            }

            continue;
        }

        ngx_http_replog_link_sync(link, &peers[i]);

        /*
         * held already, or far behind: catch-up serves it, the pending set
         * stays bounded
         */
        if (peers[i].acked_id >= id
            || id - peers[i].acked_id > node->max_pending / 2)
        {
            continue;
        }

        if (link->queue == NULL) {
            link->queue = ngx_alloc(NGX_HTTP_REPLOG_QUEUE * sizeof(uint64_t),
                                    &engine->log);
            if (link->queue == NULL) {
                continue;
            }
        }

        if (link->qlen == NGX_HTTP_REPLOG_QUEUE) {
            /* dropped: catch-up fills the gap */
            continue;
        }

        link->queue[(link->qhead + link->qlen) % NGX_HTTP_REPLOG_QUEUE] = id;
        link->qlen++;

        if (!link->inflight && !link->retry.timer_set) {
            ngx_http_replog_live_next(link);
        }
    }
}


/*
 * follows the registry: a new registration gets a fresh link; the address
 * is read from the zone only then, not with every snapshot
 */

static void
ngx_http_replog_link_sync(ngx_http_replog_link_t *link,
    ngx_http_replog_peer_t *peer)
{
    uint64_t                      generation;
    socklen_t                     socklen;
    ngx_sockaddr_t                sockaddr;
    ngx_http_replog_zone_t       *zone;
    ngx_http_replog_srv_conf_t   *node;
    ngx_http_replog_secondary_t  *s;

    if (link->generation == peer->generation) {
        return;
    }

    node = link->engine->node;

    ngx_http_replog_link_reset(link);

    if (!link->ready) {
        ngx_http_replog_client_init(&link->client, 1024 * 1024);
        link->client.log = link->engine->log;
        link->client.done = ngx_http_replog_link_done;
        link->client.data = link;
        ngx_str_set(&link->client.capture, "X-Replog-Log");

        link->retry.handler = ngx_http_replog_link_retry;
        link->retry.data = link;
        link->retry.log = &link->engine->log;
        link->retry.cancelable = 1;

        link->ready = 1;
    }

    link->client.timeout = (link->kind == NGX_HTTP_REPLOG_LINK_HEARTBEAT)
                           ? node->hc_timeout : node->batch_timeout;

    zone = link->engine->zone;

    ngx_shmtx_lock(&zone->shpool->mutex);

    s = &zone->sh->secondaries[link->slot];
    generation = s->generation;
    socklen = s->socklen;
    ngx_memcpy(&sockaddr, &s->sockaddr, socklen);
    link->id_len = s->id_len;
    ngx_memcpy(link->id, s->id, s->id_len);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_http_replog_client_set_addr(&link->client, &sockaddr.sockaddr,
                                    socklen);
    link->generation = generation;
}


static void
ngx_http_replog_link_reset(ngx_http_replog_link_t *link)
{
    if (!link->ready) {
        return;
    }

    if (link->retry.timer_set) {
        ngx_del_timer(&link->retry);
    }

    if (link->inflight) {
        /* its answer is of no use now */
        link->inflight = 0;
        link->client.busy = 0;
    }

    ngx_http_replog_client_close(&link->client);

    link->qlen = 0;
    link->qhead = 0;
    link->delay = 0;
}


static void
ngx_http_replog_live_next(ngx_http_replog_link_t *link)
{
    /* answering waiters may have sent the next batch already */
    if (link->qlen == 0 || link->inflight || link->retry.timer_set) {
        return;
    }

    if (ngx_http_replog_link_batch(link, 0, 0) == NGX_OK) {
        ngx_http_replog_link_send(link);
        return;
    }

    /* durable log hook: only what the master holds on disk goes out */
    if (link->qlen && !link->engine->durable.timer_set) {
        ngx_add_timer(&link->engine->durable, NGX_HTTP_REPLOG_DURABLE_POLL);
    }
}


static void
ngx_http_replog_durable_next(ngx_event_t *ev)
{
    ngx_uint_t                 i;
    ngx_http_replog_engine_t  *engine;

    engine = ev->data;

    for (i = 0; i < NGX_HTTP_REPLOG_MAX_SECONDARIES; i++) {
        ngx_http_replog_live_next(&engine->live[i]);
    }
}


/*
 * Builds the request of a batch: either the next queued ids of a live link
 * (from == 0) or the range from..to of a catch-up.  Entries are copied out
 * of the zone as they are stored, already JSON, each closed with "}}"
 * (a batch does not say who holds them).
 */

static ngx_int_t
ngx_http_replog_link_batch(ngx_http_replog_link_t *link, uint64_t from,
    uint64_t to)
{
    u_char                       *p;
    size_t                        len, hlen, skip;
    uint64_t                      id;
    ngx_uint_t                    i, n, max;
    ngx_http_replog_sh_t         *sh;
    ngx_http_replog_entry_t      *e;
    ngx_http_replog_engine_t     *engine;
    ngx_http_replog_srv_conf_t   *node;

    engine = link->engine;
    node = engine->node;
    sh = engine->zone->sh;

    hlen = sizeof("POST /replicate HTTP/1.1\r\nHost: \r\n"
                  "Content-Type: application/json\r\nx-token: \r\n"
                  "x-replog-master: \r\nContent-Length: \r\n\r\n"
                  "{\"epoch\":\"\",\"entries\":[]}")
           + link->client.name.len + node->service_key.len
           + NGX_HTTP_REPLOG_HOST_LEN + NGX_SIZE_T_LEN + 16;

    ngx_shmtx_lock(&engine->zone->shpool->mutex);

    /* first pass: how many entries and bytes */

    len = 0;
    max = node->batch_max;

    if (from == 0) {
        for (n = 0; n < link->qlen && n < max; n++) {
            id = link->queue[(link->qhead + n) % NGX_HTTP_REPLOG_QUEUE];

            /* durable log hook: no secondary holds what the master lost */
            if (!ngx_http_replog_log_holds(engine->zone, id)) {
                break;
            }

            e = ngx_http_replog_store_get_locked(sh, id);

            if (n && len + e->len + 2 > node->batch_bytes) {
                break;
            }

            len += e->len + 2;
        }

    } else {
        for (n = 0, id = from; id <= to && n < max; id++, n++) {
            e = ngx_http_replog_store_get_locked(sh, id);

            if (n && len + e->len + 2 > node->batch_bytes) {
                break;
            }

            len += e->len + 2;
        }
    }

    if (n == 0
        || ngx_http_replog_client_reserve(&link->client, hlen + len) == NULL)
    {
        ngx_shmtx_unlock(&engine->zone->shpool->mutex);
        return NGX_DECLINED;
    }

    p = link->client.out.start;

    p = ngx_sprintf(p, "POST /replicate HTTP/1.1\r\nHost: %V\r\n"
                    "Content-Type: application/json\r\n",
                    &link->client.name);

    if (node->service_key.len) {
        p = ngx_sprintf(p, "x-token: %V\r\n", &node->service_key);
    }

    p = ngx_sprintf(p, "x-replog-master: %*s\r\nContent-Length: %uz\r\n\r\n"
                    "{\"epoch\":\"%016xL\",\"entries\":[",
                    sh->url_len, sh->url,
                    len - 1 + sizeof("{\"epoch\":\"\",\"entries\":[]}") - 1
                    + 16, sh->epoch);

    link->batch_epoch = sh->epoch;

    for (i = 0; i < n; i++) {
        id = (from == 0)
             ? link->queue[(link->qhead + i) % NGX_HTTP_REPLOG_QUEUE]
             : from + i;

        e = ngx_http_replog_store_get_locked(sh, id);
        skip = (i == 0) ? 1 : 0;
        p = ngx_cpymem(p, e->data + skip, e->len - skip);
        *p++ = '}';
        *p++ = '}';
        link->batch_last = id;
    }

    ngx_shmtx_unlock(&engine->zone->shpool->mutex);

    *p++ = ']';
    *p++ = '}';

    link->client.out.last = p;
    link->batch_n = n;

    if (from == 0) {
        link->qhead = (link->qhead + n) % NGX_HTTP_REPLOG_QUEUE;
        link->qlen -= n;
    }

    return NGX_OK;
}


static void
ngx_http_replog_link_send(ngx_http_replog_link_t *link)
{
    ngx_int_t  rc;

    link->client.out.pos = link->client.out.start;
    link->inflight = 1;

    rc = ngx_http_replog_client_send(&link->client);

    if (rc != NGX_OK) {
        link->inflight = 0;
        ngx_http_replog_link_failed(link, link->client.err
                                          ? link->client.err
                                          : "connect failed");
    }
}


static void
ngx_http_replog_link_done(ngx_http_replog_client_t *cl, ngx_int_t rc)
{
    u_char                     buf[64];
    uint64_t                   acked_id, last_id, incarnation;
    ngx_int_t                  nacked;
    const char                *err;
    ngx_http_replog_link_t    *link;
    ngx_http_replog_peer_t     peers[NGX_HTTP_REPLOG_MAX_SECONDARIES];
    ngx_http_replog_engine_t  *engine;
    uint64_t                   acked[NGX_HTTP_REPLOG_MAX_SECONDARIES];

    link = cl->data;
    engine = link->engine;

    if (!link->inflight) {
        return;
    }

    link->inflight = 0;

    if (rc != NGX_OK) {
        ngx_http_replog_link_failed(link, cl->err);
        return;
    }

    if (link->kind == NGX_HTTP_REPLOG_LINK_HEARTBEAT) {
        if (cl->status == NGX_HTTP_OK) {
            ngx_http_replog_registry_signal(engine->node, link->slot,
                                            link->generation, 1, NULL,
                                            &engine->log);
        } else {
            ngx_sprintf(buf, "healthcheck answered %ui%Z", cl->status);
            ngx_http_replog_link_failed(link, (char *) buf);
        }

        return;
    }

    /*
     * every answer carries the secondary's acked_id, the truth once the
     * answer is shown to be of the secondary this link is for
     */

    err = ngx_http_replog_parse_acked(link, &acked_id, &incarnation);

    /*
     * a refusal of our epoch: its acked_id counts ids of another log, so it
     * is neither bounded by ours nor stored, not even for a moment in which
     * a waiter could count it
     */
    if (cl->status == NGX_HTTP_CONFLICT && err == NULL) {
        ngx_http_replog_registry_conflict(engine->zone, link->slot,
                                          link->generation, &engine->log);
        link->qlen = 0;
        return;
    }

    if (err == NULL
        && ngx_http_replog_registry_ack(engine->zone, link->slot,
                                        link->generation, acked_id,
                                        incarnation, &engine->log)
           != NGX_OK)
    {
        /* more than the master has: a protocol error, not stored */
        ngx_http_replog_link_failed(link, "acked_id beyond the master's log");
        return;
    }

    if (cl->status != NGX_HTTP_OK || err) {
        if (err == NULL) {
            ngx_sprintf(buf, "replicate answered %ui%Z", cl->status);
            err = (char *) buf;
        }

        ngx_http_replog_link_failed(link, err);
        return;
    }

    link->delay = 0;

    ngx_http_replog_registry_signal(engine->node, link->slot,
                                    link->generation, 1, NULL, &engine->log);

    /*
     * the others first: they answer theirs while this one does, from the
     * registry's acked_ids wake_others may have read already
     */
    nacked = ngx_http_replog_wake_others(engine->zone, acked_id, acked);

    if (nacked >= 0) {
        ngx_http_replog_wake_acked(engine, 0, NGX_HTTP_REPLOG_WOKEN_ACK,
                                   acked, (ngx_uint_t) nacked);
    } else {
        ngx_http_replog_wake(engine, 0, NGX_HTTP_REPLOG_WOKEN_ACK);
    }

    if (link->kind == NGX_HTTP_REPLOG_LINK_LIVE) {
        ngx_http_replog_live_next(link);
        return;
    }

    /* catch-up streams on while the secondary is behind */

    ngx_shmtx_lock(&engine->zone->shpool->mutex);
    engine->zone->sh->catchup_entries += link->batch_n;
    ngx_shmtx_unlock(&engine->zone->shpool->mutex);

    last_id = ngx_http_replog_snapshot(engine, peers);

    /* it streams while more than a batch behind; live pushes do the rest */
    if (peers[link->slot].status
        && peers[link->slot].generation == link->generation
        && last_id > peers[link->slot].acked_id
        && last_id - peers[link->slot].acked_id > engine->node->batch_max)
    {
        ngx_http_replog_catchup_next(link, &peers[link->slot], last_id);
    }
}


static void
ngx_http_replog_link_failed(ngx_http_replog_link_t *link, const char *err)
{
    ngx_msec_t                   max;
    ngx_http_replog_srv_conf_t  *node;

    node = link->engine->node;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, &link->engine->log, 0,
                   "replog: link %ui to \"%V\" failed: %s",
                   link->slot, &link->client.name, err);

    ngx_http_replog_registry_signal(node, link->slot, link->generation, 0,
                                    err, &link->engine->log);

    if (link->kind == NGX_HTTP_REPLOG_LINK_HEARTBEAT) {
        return;
    }

    ngx_shmtx_lock(&link->engine->zone->shpool->mutex);
    link->engine->zone->sh->secondaries[link->slot].retries++;
    ngx_shmtx_unlock(&link->engine->zone->shpool->mutex);

    /* uniform, or exponential: 5/4 of the last delay, up to the max */

    max = node->retry_max_delay;

    if (link->delay == 0) {
        link->delay = node->retry_interval;

    } else if (node->retry_mechanism == NGX_HTTP_REPLOG_RETRY_EXPONENTIAL) {
        link->delay = link->delay * 5 / 4;
    }

    if (link->delay > max) {
        link->delay = max;
    }

    ngx_add_timer(&link->retry, link->delay);
}


static void
ngx_http_replog_link_retry(ngx_event_t *ev)
{
    ngx_http_replog_link_t  *link;
    ngx_http_replog_peer_t   peers[NGX_HTTP_REPLOG_MAX_SECONDARIES], *peer;

    link = ev->data;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    (void) ngx_http_replog_snapshot(link->engine, peers);
    peer = &peers[link->slot];

    if ((peer->status != NGX_HTTP_REPLOG_HEALTHY
         && peer->status != NGX_HTTP_REPLOG_SUSPECTED)
        || peer->generation != link->generation)
    {
        /* nothing is pushed to it now: catch-up repairs when it is back */
        ngx_http_replog_link_reset(link);
        return;
    }

    ngx_shmtx_lock(&link->engine->zone->shpool->mutex);
    link->engine->zone->sh->secondaries[link->slot].batches++;
    ngx_shmtx_unlock(&link->engine->zone->shpool->mutex);

    /* the same request again: the secondary drops what it already has */
    ngx_http_replog_link_send(link);
}


static void
ngx_http_replog_catchup_next(ngx_http_replog_link_t *link,
    ngx_http_replog_peer_t *peer, uint64_t last_id)
{
    if (link->inflight || link->retry.timer_set
        || peer->acked_id >= last_id)
    {
        return;
    }

    if (ngx_http_replog_link_batch(link, peer->acked_id + 1, last_id)
        == NGX_OK)
    {
        ngx_http_replog_link_send(link);
    }
}


static void
ngx_http_replog_heartbeat(ngx_http_replog_link_t *link)
{
    u_char  *p;

    if (link->inflight || link->retry.timer_set) {
        return;
    }

    p = ngx_http_replog_client_reserve(&link->client,
                                       sizeof("GET /healthcheck HTTP/1.1\r\n"
                                              "Host: \r\n\r\n")
                                       + link->client.name.len);
    if (p == NULL) {
        return;
    }

    link->client.out.last = ngx_sprintf(p, "GET /healthcheck HTTP/1.1\r\n"
                                         "Host: %V\r\n\r\n",
                                         &link->client.name);

    ngx_http_replog_link_send(link);
}


/*
 * Every worker: wakes waiters satisfied by acks another worker saw.
 * Worker 0 also sends heartbeats and runs catch-up.
 */

static void
ngx_http_replog_tick(ngx_event_t *ev)
{
    uint64_t                      last_id;
    ngx_uint_t                    i, open;
    ngx_http_replog_peer_t        peers[NGX_HTTP_REPLOG_MAX_SECONDARIES];
    ngx_http_replog_peer_t       *peer;
    ngx_http_replog_engine_t     *engine;
    ngx_http_replog_srv_conf_t   *node;
    ngx_http_replog_secondary_t  *s;

    engine = ev->data;
    node = engine->node;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        /* parked clients are answered, not dropped */
        ngx_http_replog_wake(engine, 1, NGX_HTTP_REPLOG_WOKEN_POLL);
        return;
    }

    if (!ngx_queue_empty(&engine->waiters)
        && ngx_current_msec - engine->polled >= NGX_HTTP_REPLOG_POLL)
    {
        engine->polled = ngx_current_msec;
        ngx_http_replog_wake(engine, 0, NGX_HTTP_REPLOG_WOKEN_POLL);
    }

    if (engine->owner) {
        open = (engine->recovery == NULL
                || ngx_http_replog_recovery_step(engine->recovery) == NGX_OK);

        last_id = ngx_http_replog_snapshot(engine, peers);

        /* durable log hook: catch-up sends what the master holds */
        last_id = ngx_http_replog_log_held(engine->zone, last_id);

        for (i = 0; i < NGX_HTTP_REPLOG_MAX_SECONDARIES; i++) {
            peer = &peers[i];

            if (peer->status == 0) {
                if (engine->heartbeat[i].generation) {
                    ngx_http_replog_link_reset(&engine->heartbeat[i]);
                    ngx_http_replog_link_reset(&engine->catchup[i]);
                    engine->heartbeat[i].generation = 0;
                    engine->catchup[i].generation = 0;
                }

                continue;
            }

            ngx_http_replog_link_sync(&engine->heartbeat[i], peer);
            ngx_http_replog_link_sync(&engine->catchup[i], peer);

            if (peer->status == NGX_HTTP_REPLOG_CONFLICT) {
                continue;
            }

            if (node->hc_remove_after
                && peer->status == NGX_HTTP_REPLOG_UNHEALTHY
                && ngx_time() - peer->last_healthy
                   >= (time_t) (node->hc_remove_after / 1000))
            {
                ngx_shmtx_lock(&engine->zone->shpool->mutex);

                s = &engine->zone->sh->secondaries[i];

                if (s->generation == peer->generation) {
                    ngx_log_error(NGX_LOG_WARN, &engine->log, 0,
                                  "replog: secondary \"%*s\" removed: "
                                  "unhealthy for %M ms",
                                  s->id_len, s->id, node->hc_remove_after);
                    s->status = 0;
                    engine->zone->sh->nsecondaries--;
                }

                ngx_shmtx_unlock(&engine->zone->shpool->mutex);
                continue;
            }

            if (peer->status == NGX_HTTP_REPLOG_UNHEALTHY || !open) {
                continue;
            }

            /*
             * behind, and its acked_id stands still (a push was lost) or
             * lags further than live links go
             */
            if (peer->acked_id < last_id
                && (ngx_current_msec - peer->acked_at >= NGX_HTTP_REPLOG_GRACE
                    || last_id - peer->acked_id > node->max_pending / 2))
            {
                ngx_http_replog_catchup_next(&engine->catchup[i], peer,
                                             last_id);
            }
        }

        if ((ngx_msec_int_t) (ngx_current_msec - engine->next_heartbeat)
            >= 0)
        {
            engine->next_heartbeat = ngx_current_msec + node->hc_interval;

            for (i = 0; i < NGX_HTTP_REPLOG_MAX_SECONDARIES; i++) {
                if (peers[i].status && peers[i].status
                                       != NGX_HTTP_REPLOG_CONFLICT)
                {
                    ngx_http_replog_heartbeat(&engine->heartbeat[i]);
                }
            }
        }
    }

    ev->cancelable = ngx_queue_empty(&engine->waiters);

    ngx_add_timer(ev, NGX_HTTP_REPLOG_IDLE_TICK);
}


ngx_int_t
ngx_http_replog_engine_wait(ngx_http_request_t *r,
    ngx_http_replog_srv_conf_t *node, uint64_t id, ngx_uint_t wc,
    ngx_msec_t timeout)
{
    ngx_pool_cleanup_t        *cln;
    ngx_http_replog_waiter_t  *w;
    ngx_http_replog_engine_t  *engine;

    engine = node->engine;

    if (engine == NULL) {
        return NGX_ERROR;
    }

    w = ngx_pcalloc(r->pool, sizeof(ngx_http_replog_waiter_t));
    if (w == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    w->r = r;
    w->engine = engine;
    w->id = id;
    w->wc = wc;
    w->active = 1;

    cln->handler = ngx_http_replog_waiter_cleanup;
    cln->data = w;

    if (ngx_queue_empty(&engine->waiters)) {
        engine->polled = ngx_current_msec;
        engine->minwc = wc;

    } else if (wc < engine->minwc) {
        engine->minwc = wc;
    }

    /* appends of one worker are in id order: the queue stays sorted */
    ngx_queue_insert_tail(&engine->waiters, &w->queue);
    (void) ngx_atomic_fetch_add(&engine->zone->sh->waiters, 1);

    if (timeout) {
        w->timer.handler = ngx_http_replog_waiter_timeout;
        w->timer.data = w;
        w->timer.log = r->connection->log;
        w->timer.cancelable = 1;
        ngx_add_timer(&w->timer, timeout);
    }

    /* a client that goes away frees its waiter through the cleanup */
    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    /*
     * while clients are parked the tick holds a shutting down worker until
     * it has answered them; otherwise it never delays an exit
     */
    engine->tick.cancelable = 0;

    if (!engine->tick.timer_set) {
        ngx_add_timer(&engine->tick, NGX_HTTP_REPLOG_IDLE_TICK);
    }

    /*
     * the mark first, then a look: an ack that another worker read after
     * the caller looked but before the mark was seen wakes nobody else
     */
    ngx_http_replog_waiters_mark(engine);

    if (ngx_http_replog_registry_holders(engine->zone, id, NULL, NULL, NULL)
        >= wc)
    {
        ngx_post_event(&engine->recheck, &ngx_posted_events);
    }

    return NGX_DONE;
}


/* another worker read an ack that may cover clients parked here */

void
ngx_http_replog_engine_woken(ngx_cycle_t *cycle)
{
    ngx_uint_t                     i;
    ngx_http_replog_engine_t      *engine;
    ngx_http_replog_srv_conf_t   **nodes;
    ngx_http_replog_main_conf_t   *rmcf;

    rmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_replog_module);

    if (rmcf == NULL) {
        return;
    }

    nodes = rmcf->nodes.elts;

    for (i = 0; i < rmcf->nodes.nelts; i++) {
        engine = nodes[i]->engine;

        if (engine) {
            ngx_http_replog_wake(engine, 0, NGX_HTTP_REPLOG_WOKEN_WORKER);
        }
    }
}


static void
ngx_http_replog_recheck(ngx_event_t *ev)
{
    ngx_http_replog_wake(ev->data, 0, NGX_HTTP_REPLOG_WOKEN_WORKER);
}


static void
ngx_http_replog_waiters_mark(ngx_http_replog_engine_t *engine)
{
    ngx_http_replog_waiter_t  *w;

    if (ngx_queue_empty(&engine->waiters)) {
        ngx_http_replog_wake_mark(engine->zone->wake, 0, 0);
        return;
    }

    w = ngx_queue_data(ngx_queue_head(&engine->waiters),
                       ngx_http_replog_waiter_t, queue);

    ngx_http_replog_wake_mark(engine->zone->wake, w->id, engine->minwc);
}


static void
ngx_http_replog_wake(ngx_http_replog_engine_t *engine, ngx_uint_t all,
    ngx_uint_t by)
{
    ngx_uint_t                 i, n;
    ngx_http_replog_peer_t     peers[NGX_HTTP_REPLOG_MAX_SECONDARIES];
    uint64_t                   acked[NGX_HTTP_REPLOG_MAX_SECONDARIES];

    if (ngx_queue_empty(&engine->waiters)) {
        ngx_http_replog_wake_mark(engine->zone->wake, 0, 0);
        return;
    }

    /* one look at the registry for all the waiters */

    (void) ngx_http_replog_snapshot(engine, peers);

    for (i = 0, n = 0; i < NGX_HTTP_REPLOG_MAX_SECONDARIES; i++) {
        if (peers[i].status && peers[i].status != NGX_HTTP_REPLOG_CONFLICT) {
            acked[n++] = peers[i].acked_id;
        }
    }

    ngx_http_replog_wake_acked(engine, all, by, acked, n);
}


/* answer the waiters that n secondaries at acked[] hold enough of */

static void
ngx_http_replog_wake_acked(ngx_http_replog_engine_t *engine, ngx_uint_t all,
    ngx_uint_t by, uint64_t *acked, ngx_uint_t n)
{
    ngx_uint_t                 i, held, answered;
    ngx_queue_t               *q, *next;
    ngx_http_replog_waiter_t  *w;

    if (ngx_queue_empty(&engine->waiters)) {
        ngx_http_replog_wake_mark(engine->zone->wake, 0, 0);
        return;
    }

    answered = 0;

    /*
     * the least concern of the clients that stay parked, so the mark does
     * not keep asking for wake-ups on behalf of clients already answered
     * (one parked while answering lowers it in engine_wait)
     */
    engine->minwc = NGX_MAX_UINT32_VALUE;

    for (q = ngx_queue_head(&engine->waiters);
         q != ngx_queue_sentinel(&engine->waiters);
         q = next)
    {
        next = ngx_queue_next(q);
        w = ngx_queue_data(q, ngx_http_replog_waiter_t, queue);

        /* durable log hook: the master's own copy once it is durable */
        held = ngx_http_replog_log_holds(engine->zone, w->id);

        for (i = 0; i < n; i++) {
            held += (acked[i] >= w->id);
        }

        if (held >= w->wc) {
            ngx_http_replog_waiter_answer(w, NGX_HTTP_CREATED);
            answered++;

        } else if (all) {
            ngx_http_replog_waiter_answer(w, NGX_HTTP_GATEWAY_TIME_OUT);

        } else if (w->wc < engine->minwc) {
            engine->minwc = w->wc;
        }
    }

    if (answered) {
        (void) ngx_atomic_fetch_add(&engine->zone->sh->woken[by], answered);
    }

    ngx_http_replog_waiters_mark(engine);
}


static void
ngx_http_replog_waiter_answer(ngx_http_replog_waiter_t *w, ngx_uint_t status)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = w->r;
    c = r->connection;

    ngx_queue_remove(&w->queue);
    w->active = 0;
    (void) ngx_atomic_fetch_add(&w->engine->zone->sh->waiters, -1);

    if (w->timer.timer_set) {
        ngx_del_timer(&w->timer);
    }

    r->read_event_handler = ngx_http_block_reading;

    ngx_http_finalize_request(r, ngx_http_replog_post_answer(r, status));
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_replog_waiter_timeout(ngx_event_t *ev)
{
    ngx_uint_t                 held;
    ngx_http_replog_waiter_t  *w;

    w = ev->data;

    held = ngx_http_replog_registry_holders(w->engine->zone, w->id, NULL,
                                            NULL, NULL);

    ngx_http_replog_waiter_answer(w, held >= w->wc
                                     ? NGX_HTTP_CREATED
                                     : NGX_HTTP_GATEWAY_TIME_OUT);
}


static void
ngx_http_replog_waiter_cleanup(void *data)
{
    ngx_http_replog_waiter_t  *w = data;

    if (!w->active) {
        return;
    }

    ngx_queue_remove(&w->queue);
    w->active = 0;
    (void) ngx_atomic_fetch_add(&w->engine->zone->sh->waiters, -1);

    if (w->timer.timer_set) {
        ngx_del_timer(&w->timer);
    }
}


/*
 * A /replicate answer: {"acked_id":N,"id":"<id>","epoch":"<16 hex>"} (an
 * "error" may come first), the incarnation of the secondary's log in
 * X-Replog-Log.  The id must be the one registered in the link's slot and,
 * when the batch was applied, the epoch the one of the batch: anything else
 * answering at that address is not that secondary.  NULL when it is; else
 * why not, for last_error (no byte of the peer's goes into a log line).
 */

static const char *
ngx_http_replog_parse_acked(ngx_http_replog_link_t *link, uint64_t *acked_id,
    uint64_t *incarnation)
{
    u_char                     id[NGX_HTTP_REPLOG_ID_LEN];
    size_t                     id_len;
    uint64_t                   epoch;
    ngx_http_replog_client_t  *cl;

    cl = &link->client;
    *incarnation = 0;

    if (cl->captured.len != 16
        || ngx_http_replog_parse_epoch(cl->captured.data, 16, incarnation)
           != NGX_OK)
    {
        return "the answer has no valid X-Replog-Log";
    }

    if (cl->body == NULL
        || ngx_http_replog_json_acked(cl->body, cl->body_len, acked_id,
                                      id, &id_len, &epoch)
           != NGX_OK)
    {
        return "the answer has no valid acked_id, id and epoch";
    }

    /*
     * against the id copied with the link's generation: a slot registered
     * again since has another generation, and the registry ignores this
     * answer's acked_id then
     */
    if (link->id_len != id_len || ngx_memcmp(link->id, id, id_len) != 0) {
        return "the answer names another secondary";
    }

    if (cl->status == NGX_HTTP_OK && epoch != link->batch_epoch) {
        return "the answer is of another epoch";
    }

    return NULL;
}
