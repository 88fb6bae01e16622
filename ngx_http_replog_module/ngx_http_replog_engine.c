
/*
 * Copyright (C) replog authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_replog_engine.h"
#include "ngx_http_replog_json.h"
#include "ngx_http_replog_client.h"


/* ids this worker appended and has not pushed yet, per secondary */
#define NGX_HTTP_REPLOG_QUEUE        16384

/*
 * how often waiters look at the registry by themselves: a safety net, acks
 * that other workers read wake them through the wake-up channel
 */
#define NGX_HTTP_REPLOG_POLL         1000
#define NGX_HTTP_REPLOG_IDLE_TICK    100

/*
 * durable log hook: how often held links look at the writer's mark by
 * themselves, a safety net: the writer's completion wakes them
 */
#define NGX_HTTP_REPLOG_DURABLE_POLL 50

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
    ngx_event_t                    post;      /* live: the next batch */
    ngx_msec_t                     delay;

    uint64_t                      *queue;
    ngx_uint_t                     qhead;
    ngx_uint_t                     qlen;
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

    /* path=: catch-up of ids evicted from the zone reads the files */
    ngx_http_replog_reader_t      *reader[NGX_HTTP_REPLOG_MAX_SECONDARIES];

    ngx_queue_t                    waiters;
    ngx_msec_t                     polled;     /* waiters last looked */
    ngx_uint_t                     minwc;      /* least wc parked, as of
                                                  the last wake */
    ngx_event_t                    tick;
    ngx_event_t                    durable;    /* durable log hook: links
                                                  held for the writer */
    ngx_msec_t                     next_heartbeat;
    void                          *recovery;
    uint64_t                       last_id;    /* as of the last look */
    ngx_atomic_uint_t              seen;       /* zone locks, as of the
                                                  tick's last look */
    unsigned                       owner:1;    /* worker 0 */
    unsigned                       open:1;     /* recovered */
    unsigned                       idle:1;     /* nothing to repair as
                                                  of the tick's last look */
};


typedef struct {
    ngx_queue_t                    queue;
    ngx_http_request_t            *r;
    ngx_http_replog_engine_t      *engine;
    uint64_t                       id;
    ngx_uint_t                     wc;
    ngx_http_replog_answer_pt      answer;
    ngx_event_t                    timer;
    unsigned                       active:1;
} ngx_http_replog_waiter_t;


static void ngx_http_replog_link_sync(ngx_http_replog_link_t *link,
    ngx_http_replog_peer_t *peer);
static void ngx_http_replog_link_reset(ngx_http_replog_link_t *link);
static ngx_int_t ngx_http_replog_link_batch(ngx_http_replog_link_t *link,
    uint64_t from, uint64_t to);
static void ngx_http_replog_link_send(ngx_http_replog_link_t *link);
static void ngx_http_replog_link_done(ngx_http_replog_client_t *cl,
    ngx_int_t rc);
static void ngx_http_replog_link_signal(ngx_http_replog_link_t *link,
    ngx_uint_t ok, const char *err);
static void ngx_http_replog_link_failed(ngx_http_replog_link_t *link,
    const char *err);
static void ngx_http_replog_link_retry(ngx_event_t *ev);
static void ngx_http_replog_live_next(ngx_http_replog_link_t *link);
static void ngx_http_replog_live_posted(ngx_event_t *ev);
static void ngx_http_replog_durable_next(ngx_event_t *ev);
static void ngx_http_replog_catchup_next(ngx_http_replog_link_t *link,
    ngx_http_replog_peer_t *peer, uint64_t last_id);
static void ngx_http_replog_catchup_read_done(ngx_http_replog_reader_t *rd);
static void ngx_http_replog_heartbeat(ngx_http_replog_link_t *link);
static void ngx_http_replog_engine_open(ngx_http_replog_engine_t *engine);
static void ngx_http_replog_tick(ngx_event_t *ev);
static void ngx_http_replog_tick_owner(ngx_http_replog_engine_t *engine);
static void ngx_http_replog_wake(ngx_http_replog_engine_t *engine,
    ngx_uint_t all, ngx_uint_t by);
static void ngx_http_replog_wake_peers(ngx_http_replog_engine_t *engine,
    ngx_uint_t all, ngx_uint_t by, ngx_http_replog_peers_t *peers);
static void ngx_http_replog_waiters_mark(ngx_http_replog_engine_t *engine);
static void ngx_http_replog_waiter_answer(ngx_http_replog_waiter_t *w,
    ngx_uint_t status, ngx_http_replog_peers_t *peers);
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
    uint64_t    last_id, epoch;
    ngx_uint_t  state;

    state = ngx_http_replog_registry_open(engine->zone, &last_id, &epoch,
                                          &engine->log);

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

        if (engine->durable.timer_set) {
            ngx_del_timer(&engine->durable);
        }

        nodes[i]->engine = NULL;
    }
}


/*
 * A message this worker appended: queued on every live link, from the
 * registry as the append saw it.
 */

void
ngx_http_replog_engine_appended(ngx_http_replog_srv_conf_t *node,
    uint64_t id, ngx_http_replog_peers_t *peers)
{
    ngx_uint_t                 i;
    ngx_http_replog_peer_t    *peer;
    ngx_http_replog_link_t    *link;
    ngx_http_replog_engine_t  *engine;

    engine = node->engine;

    if (engine == NULL) {
        return;
    }

    engine->last_id = peers->last_id;

    for (i = 0; i < NGX_HTTP_REPLOG_MAX_SECONDARIES; i++) {
        link = &engine->live[i];
        peer = &peers->peer[i];

        if (!ngx_http_replog_up(peer->status)) {
            if (link->generation) {
                ngx_http_replog_link_reset(link);
                link->generation = 0;
            }

            continue;
        }

        ngx_http_replog_link_sync(link, peer);

        /*
         * held already, or far behind: catch-up serves it, the pending set
         * stays bounded
         */
        if (peer->acked_id >= id
            || id - peer->acked_id > node->max_pending / 2)
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
 * A write about to be appended that will park (its concern is more than
 * the master): this worker is marked before the id exists, with an id no
 * higher than it will get, so that an ack another worker reads for it
 * before it is parked still wakes this worker (see wake.c).  A mark too
 * low costs at most a spurious wake-up.
 */

void
ngx_http_replog_engine_expect(ngx_http_replog_srv_conf_t *node,
    ngx_uint_t wc)
{
    ngx_http_replog_waiter_t  *w;
    ngx_http_replog_engine_t  *engine;

    engine = node->engine;

    if (engine == NULL) {
        return;
    }

    if (ngx_queue_empty(&engine->waiters)) {
        ngx_http_replog_wake_mark(engine->zone->wake, engine->last_id + 1,
                                  wc);
        return;
    }

    w = ngx_queue_data(ngx_queue_head(&engine->waiters),
                       ngx_http_replog_waiter_t, queue);

    ngx_http_replog_wake_mark(engine->zone->wake, w->id,
                              ngx_min(wc, engine->minwc));
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
    ngx_http_replog_srv_conf_t   *node;

    if (link->generation == peer->generation) {
        return;
    }

    node = link->engine->node;

    ngx_http_replog_link_reset(link);

    if (!link->ready) {
        ngx_http_replog_client_init(&link->client, 1024 * 1024,
                                    (link->kind
                                     == NGX_HTTP_REPLOG_LINK_HEARTBEAT)
                                    ? node->hc_timeout : node->batch_timeout,
                                    (link->kind
                                     == NGX_HTTP_REPLOG_LINK_HEARTBEAT)
                                    ? "X-Replog-Id" : "X-Replog-Log",
                                    ngx_http_replog_link_done,
                                    link, &link->engine->log);

        link->retry.handler = ngx_http_replog_link_retry;
        link->retry.data = link;
        link->retry.log = &link->engine->log;
        link->retry.cancelable = 1;

        link->post.handler = ngx_http_replog_live_posted;
        link->post.data = link;
        link->post.log = &link->engine->log;

        link->ready = 1;
    }

    (void) ngx_http_replog_registry_addr(link->engine->zone, link->slot,
                                         &generation, &sockaddr, &socklen,
                                         link->id, &link->id_len);

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

    if (link->post.posted) {
        ngx_delete_posted_event(&link->post);
    }

    /* an answer in flight is of no use now */
    link->inflight = 0;
    ngx_http_replog_client_abort(&link->client);

    link->qlen = 0;
    link->qhead = 0;
    link->delay = 0;
}


/*
 * The next batch goes once this turn of the event loop has handled every
 * event it got (posted events run after them): the messages of all the
 * requests read in this turn ride in it, instead of the first alone and
 * the others waiting for its ack.  No timer: it adds no wait when idle.
 */

static void
ngx_http_replog_live_next(ngx_http_replog_link_t *link)
{
    if (link->qlen == 0 || link->inflight || link->retry.timer_set
        || link->post.posted)
    {
        return;
    }

    ngx_post_event(&link->post, &ngx_posted_events);
}


static void
ngx_http_replog_live_posted(ngx_event_t *ev)
{
    ngx_http_replog_link_t  *link;

    link = ev->data;

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
    u_char                      *p, *body;
    size_t                       room, need;
    uint64_t                     id, first;
    ngx_int_t                    rc;
    ngx_uint_t                   n;
    ngx_http_replog_run_t        run;
    ngx_http_replog_cursor_t     cur;
    ngx_http_replog_reader_t    *rd;
    ngx_http_replog_engine_t    *engine;
    ngx_http_replog_srv_conf_t  *node;

    static ngx_str_t  uri = ngx_string("/replicate");

    engine = link->engine;
    node = engine->node;
    rd = NULL;
    first = 0;

    /*
     * retention dropped ids the secondary lacks: its log starts at the
     * master's first id, said in the batch (never sent as a gap)
     */
    if (from && from < (id = ngx_http_replog_store_first(engine->zone))) {
        ngx_log_error(NGX_LOG_WARN, &engine->log, 0,
                      "secondary \"%*s\" lacks ids %uL..%uL that retention "
                      "dropped: its log starts again at id %uL",
                      link->id_len, link->id, from, id - 1, id);
        first = id;
        from = id;

        ngx_http_replog_registry_first(engine->zone, link->slot,
                                       link->generation, first);
    }

    /* path=: a catch-up's ids may have left the zone, the files have them */

    if (from && engine->zone->log) {
        rd = engine->reader[link->slot];

        if (rd == NULL) {
            rd = ngx_http_replog_reader_create(ngx_cycle->pool, engine->zone,
                                               &engine->log);
            if (rd == NULL) {
                return NGX_DECLINED;
            }

            rd->handler = ngx_http_replog_catchup_read_done;
            rd->data = link;
            engine->reader[link->slot] = rd;
        }

        if (rd->posted) {
            return NGX_AGAIN;
        }
    }

    ngx_http_replog_json_batch_run(&run);

    ngx_memzero(&cur, sizeof(ngx_http_replog_cursor_t));
    cur.run = &run;

    n = 0;

    if (from == 0) {
        /* durable log hook: no secondary holds what the master lost */
        for ( /* void */ ; n < link->qlen; n++) {
            id = link->queue[(link->qhead + n) % NGX_HTTP_REPLOG_QUEUE];

            if (!ngx_http_replog_log_holds(engine->zone, id)) {
                break;
            }
        }

        if (n == 0) {
            return NGX_DECLINED;
        }

        cur.ring = link->queue;
        cur.ring_size = NGX_HTTP_REPLOG_QUEUE;
        cur.head = link->qhead;
        cur.n = n;

    } else {
        cur.next = from;
        cur.last = to;
    }

    /* a batch of at least one entry, of batch_bytes else */
    room = node->batch_bytes + run.padded;

    for ( ;; ) {
        body = ngx_http_replog_client_post(&link->client, &uri,
                                           &node->service_key,
                                           &node->master_url,
                                           NGX_HTTP_REPLOG_JSON_BATCH_HEAD
                                           + room
                                           + NGX_HTTP_REPLOG_JSON_BATCH_TAIL);
        if (body == NULL) {
            return NGX_DECLINED;
        }

        p = body + NGX_HTTP_REPLOG_JSON_BATCH_HEAD;

        rc = ngx_http_replog_read(engine->zone, rd, &cur, &p, p + room,
                                  node->batch_max, &need,
                                  &link->batch_epoch);

        if (rc == NGX_AGAIN) {
            /* read_done builds it again */
            return NGX_AGAIN;
        }

        if (rc == NGX_HTTP_REPLOG_FILES) {
            /* queued ids evicted meanwhile: catch-up sends them instead */
            link->qlen = 0;
            return NGX_DECLINED;
        }

        if (rc != NGX_OK) {
            return NGX_DECLINED;
        }

        if (cur.tail || need == 0) {
            break;
        }

        /* the first entry is larger than a batch: a room of its own */
        room = need;
    }

    if (!cur.tail) {
        return NGX_DECLINED;
    }

    (void) ngx_http_replog_json_batch_head(body, link->batch_epoch, first);
    p = ngx_http_replog_json_batch_tail(p);

    ngx_http_replog_client_post_end(&link->client, p);

    if (from == 0) {
        link->batch_n = n - cur.n;
        link->qhead = cur.head;
        link->qlen -= link->batch_n;

    } else {
        link->batch_n = cur.next - from;
    }

    return NGX_OK;
}


static void
ngx_http_replog_link_send(ngx_http_replog_link_t *link)
{
    ngx_int_t  rc;

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
    uint64_t                   acked_id, incarnation, last_id;
    ngx_int_t                  arc;
    ngx_uint_t                 ok;
    const char                *err;
    ngx_http_replog_peer_t    *peer;
    ngx_http_replog_link_t    *link;
    ngx_http_replog_peers_t    peers;
    ngx_http_replog_engine_t  *engine;

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

            /* a 200 proves health only of the node registered there */
            if (cl->captured.len != link->id_len
                || ngx_memcmp(cl->captured.data, link->id, link->id_len)
                   != 0)
            {
                ngx_http_replog_link_failed(link,
                    "the healthcheck answer names another node");
                return;
            }

            ngx_http_replog_link_signal(link, 1, NULL);

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

    if (err) {
        ngx_http_replog_link_failed(link, err);
        return;
    }

    /* the ack, the health and a copy of the registry: one look */

    ok = (cl->status == NGX_HTTP_OK);

    arc = ngx_http_replog_registry_ack(engine->zone, link->slot,
                                       link->generation, acked_id,
                                       incarnation, ok, &peers,
                                       &engine->log);

    if (arc != NGX_OK) {
        /* more than the master has: a protocol error, not stored */
        ngx_http_replog_link_failed(link, "acked_id beyond the master's log");
        return;
    }

    if (!ok) {
        ngx_sprintf(buf, "replicate answered %ui%Z", cl->status);
        ngx_http_replog_link_failed(link, (char *) buf);
        return;
    }

    link->delay = 0;
    engine->last_id = peers.last_id;

    /* the others first: they answer theirs while this one does */
    ngx_http_replog_wake_others(engine->zone, acked_id, &peers);
    ngx_http_replog_wake_peers(engine, 0, NGX_HTTP_REPLOG_WOKEN_ACK, &peers);

    if (link->kind == NGX_HTTP_REPLOG_LINK_LIVE) {
        ngx_http_replog_live_next(link);
        return;
    }

    /* catch-up streams on while the secondary is behind */

    ngx_http_replog_store_count(engine->zone, NGX_HTTP_REPLOG_CATCHUP,
                                link->batch_n);

    peer = &peers.peer[link->slot];

    /* durable log hook: catch-up sends what the master holds */
    last_id = ngx_min(peers.last_id, peers.held);

    /* it streams while more than a batch behind; live pushes do the rest */
    if (peer->status
        && peer->generation == link->generation
        && last_id > peer->acked_id
        && last_id - peer->acked_id > engine->node->batch_max)
    {
        ngx_http_replog_catchup_next(link, peer, last_id);
    }
}


/* a success or failure for the health; a failed batch is counted retried */

static void
ngx_http_replog_link_signal(ngx_http_replog_link_t *link, ngx_uint_t ok,
    const char *err)
{
    ngx_http_replog_srv_conf_t  *node;

    node = link->engine->node;

    ngx_http_replog_registry_signal(link->engine->zone, link->slot,
                                    link->generation, ok, err,
                                    !ok && link->kind
                                           != NGX_HTTP_REPLOG_LINK_HEARTBEAT,
                                    node->hc_suspect, node->hc_fails,
                                    &link->engine->log);
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

    ngx_http_replog_link_signal(link, 0, err);

    if (link->kind == NGX_HTTP_REPLOG_LINK_HEARTBEAT) {
        return;
    }

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

    link = ev->data;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    if (ngx_http_replog_registry_retry(link->engine->zone, link->slot,
                                       link->generation)
        != NGX_OK)
    {
        /* nothing is pushed to it now: catch-up repairs when it is back */
        ngx_http_replog_link_reset(link);
        return;
    }

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


/* a catch-up's read of the files is back: the batch is built again */

static void
ngx_http_replog_catchup_read_done(ngx_http_replog_reader_t *rd)
{
    ngx_http_replog_link_t    *link;
    ngx_http_replog_peer_t    *peer;
    ngx_http_replog_peers_t    peers;
    ngx_http_replog_engine_t  *engine;

    link = rd->data;
    engine = link->engine;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_http_replog_registry_peers(engine->zone, &peers);

    peer = &peers.peer[link->slot];

    if (peer->status == 0 || peer->status == NGX_HTTP_REPLOG_CONFLICT
        || peer->generation != link->generation)
    {
        ngx_http_replog_reader_close(rd);
        return;
    }

    /* durable log hook: catch-up sends what the master holds */
    ngx_http_replog_catchup_next(link, peer,
                                 ngx_min(peers.last_id, peers.held));
}


static void
ngx_http_replog_heartbeat(ngx_http_replog_link_t *link)
{
    static ngx_str_t  uri = ngx_string("/healthcheck");

    if (link->inflight || link->retry.timer_set) {
        return;
    }

    if (ngx_http_replog_client_get(&link->client, &uri, NULL) != NGX_OK) {
        return;
    }

    ngx_http_replog_link_send(link);
}


/*
 * Worker 0: recovery, removals, catch-up and heartbeats.  A look that
 * found nothing to repair is not taken again until someone took the
 * zone's lock (every change is made under it) or a heartbeat is due.
 */

static void
ngx_http_replog_tick_owner(ngx_http_replog_engine_t *engine)
{
    uint64_t                     last_id;
    ngx_uint_t                   i, due, idle;
    ngx_http_replog_peer_t      *peer;
    ngx_http_replog_peers_t      peers;
    ngx_http_replog_srv_conf_t  *node;

    node = engine->node;

    if (!engine->open) {
        engine->open = (engine->recovery == NULL
                        || ngx_http_replog_recovery_step(engine->recovery)
                           == NGX_OK);
    }

    due = ((ngx_msec_int_t) (ngx_current_msec - engine->next_heartbeat)
           >= 0);

    if (engine->idle && !due
        && !ngx_http_replog_store_changed(engine->zone, engine->seen))
    {
        return;
    }

    ngx_http_replog_registry_peers(engine->zone, &peers);

    engine->seen = peers.locks;
    engine->last_id = peers.last_id;
    idle = engine->open;

    /* durable log hook: catch-up sends what the master holds */
    last_id = ngx_min(peers.last_id, peers.held);

    for (i = 0; i < NGX_HTTP_REPLOG_MAX_SECONDARIES; i++) {
        peer = &peers.peer[i];

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

        if (peer->status == NGX_HTTP_REPLOG_UNHEALTHY
            && node->hc_remove_after)
        {
            idle = 0;

            if (ngx_time() - peer->last_healthy
                >= (time_t) (node->hc_remove_after / 1000))
            {
                ngx_http_replog_registry_remove(engine->zone, i,
                                                peer->generation,
                                                node->hc_remove_after,
                                                &engine->log);
            }

            continue;
        }

        if (peer->status == NGX_HTTP_REPLOG_UNHEALTHY || !engine->open) {
            continue;
        }

        if (peer->acked_id >= last_id) {
            continue;
        }

        idle = 0;

        /*
         * behind, and its acked_id stands still (a push was lost) or
         * lags further than live links go
         */
        if (ngx_current_msec - peer->acked_at >= NGX_HTTP_REPLOG_GRACE
            || last_id - peer->acked_id > node->max_pending / 2)
        {
            ngx_http_replog_catchup_next(&engine->catchup[i], peer,
                                         last_id);
        }
    }

    engine->idle = idle;

    if (due) {
        engine->next_heartbeat = ngx_current_msec + node->hc_interval;

        for (i = 0; i < NGX_HTTP_REPLOG_MAX_SECONDARIES; i++) {
            if (peers.peer[i].status
                && peers.peer[i].status != NGX_HTTP_REPLOG_CONFLICT)
            {
                ngx_http_replog_heartbeat(&engine->heartbeat[i]);
            }
        }
    }
}


/*
 * Every worker: wakes waiters satisfied by acks another worker saw.
 * Worker 0 also sends heartbeats and runs catch-up.
 */

static void
ngx_http_replog_tick(ngx_event_t *ev)
{
    ngx_http_replog_engine_t  *engine;

    engine = ev->data;

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
        ngx_http_replog_tick_owner(engine);
    }

    ev->cancelable = ngx_queue_empty(&engine->waiters);

    ngx_add_timer(ev, NGX_HTTP_REPLOG_IDLE_TICK);
}


/*
 * Parks a client until id is held by wc nodes, answered through answer
 * (with 504 after timeout, if any).  The caller looked at the registry in
 * the append and marked this worker before it (engine_expect).
 */

ngx_int_t
ngx_http_replog_engine_wait(ngx_http_request_t *r,
    ngx_http_replog_srv_conf_t *node, uint64_t id, ngx_uint_t wc,
    ngx_msec_t timeout, ngx_http_replog_answer_pt answer)
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
    w->answer = answer;
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
    ngx_http_replog_store_count(engine->zone, NGX_HTTP_REPLOG_WAITERS, 1);

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

    /* the exact mark now: the lowest parked id, the least concern */
    ngx_http_replog_waiters_mark(engine);

    return NGX_DONE;
}


/*
 * another worker read an ack that may cover clients parked here, or the
 * durable log's writer made more of the log durable
 */

void
ngx_http_replog_engine_woken(ngx_cycle_t *cycle, ngx_uint_t by)
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

        if (engine == NULL) {
            continue;
        }

        ngx_http_replog_wake(engine, 0, by);

        /*
         * durable log hook: links held for the writer go now rather than
         * at their poll, when the writer's worker (or a woken one) is here
         */
        if (engine->durable.timer_set) {
            ngx_del_timer(&engine->durable);
            ngx_http_replog_durable_next(&engine->durable);
        }
    }
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
    ngx_http_replog_peers_t  peers;

    if (ngx_queue_empty(&engine->waiters)) {
        ngx_http_replog_wake_mark(engine->zone->wake, 0, 0);
        return;
    }

    /* one look at the registry for all the waiters */

    ngx_http_replog_registry_peers(engine->zone, &peers);

    ngx_http_replog_wake_peers(engine, all, by, &peers);
}


/* answers the waiters that the secondaries of the snapshot hold enough of */

static void
ngx_http_replog_wake_peers(ngx_http_replog_engine_t *engine, ngx_uint_t all,
    ngx_uint_t by, ngx_http_replog_peers_t *peers)
{
    ngx_uint_t                 answered;
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

        if (ngx_http_replog_holders(peers, w->id) >= w->wc) {
            ngx_http_replog_waiter_answer(w, NGX_HTTP_CREATED, peers);
            answered++;

        } else if (all) {
            ngx_http_replog_waiter_answer(w, NGX_HTTP_GATEWAY_TIME_OUT,
                                          peers);

        } else if (w->wc < engine->minwc) {
            engine->minwc = w->wc;
        }
    }

    if (answered) {
        ngx_http_replog_store_count(engine->zone, by, answered);
    }

    ngx_http_replog_waiters_mark(engine);
}


static void
ngx_http_replog_waiter_answer(ngx_http_replog_waiter_t *w, ngx_uint_t status,
    ngx_http_replog_peers_t *peers)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = w->r;
    c = r->connection;

    ngx_queue_remove(&w->queue);
    w->active = 0;
    ngx_http_replog_store_count(w->engine->zone, NGX_HTTP_REPLOG_WAITERS, -1);

    if (w->timer.timer_set) {
        ngx_del_timer(&w->timer);
    }

    r->read_event_handler = ngx_http_block_reading;

    ngx_http_finalize_request(r, w->answer(r, status, peers));
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_replog_waiter_timeout(ngx_event_t *ev)
{
    ngx_http_replog_waiter_t  *w;
    ngx_http_replog_peers_t    peers;

    w = ev->data;

    ngx_http_replog_registry_peers(w->engine->zone, &peers);

    ngx_http_replog_waiter_answer(w, ngx_http_replog_holders(&peers, w->id)
                                     >= w->wc
                                     ? NGX_HTTP_CREATED
                                     : NGX_HTTP_GATEWAY_TIME_OUT, &peers);
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
    ngx_http_replog_store_count(w->engine->zone, NGX_HTTP_REPLOG_WAITERS, -1);

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
