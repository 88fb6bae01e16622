
/*
 * Copyright (C) replog authors
 */


/*
 * A master that starts with an empty log recovers it from its secondaries.
 * Its own copy is gone, so a write a majority acknowledged may be held by
 * as few as N/2 secondaries: it waits until N - N/2 secondaries registered
 * (every such set meets every majority), adopts the epoch of the most
 * advanced log among them and pulls what it lacks from that secondary,
 * page by page, before it opens for writes.  Only the explicit
 * "unsafe_open_after" opens with fewer.  Runs in worker 0.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_replog_engine.h"
#include "ngx_http_replog_json.h"
#include "ngx_http_replog_client.h"
#include "ngx_http_replog_tail.h"


#define NGX_HTTP_REPLOG_PULL_PAGE  4096
#define NGX_HTTP_REPLOG_PULL_MAX   (64 * 1024 * 1024)


typedef struct {
    ngx_http_replog_srv_conf_t    *node;
    ngx_http_replog_zone_t        *zone;
    ngx_log_t                      log;
    ngx_http_replog_client_t       client;
    uint64_t                       epoch;
    uint64_t                       generation;
    ngx_uint_t                     slot;
    ngx_uint_t                     pages;
    ngx_uint_t                     limit;     /* entries per page */
    uint64_t                       since;     /* of the page asked for */
    uint64_t                       last;      /* the log's last id, as of
                                                 the last look */
    uint64_t                       target;    /* what the source holds */
    uint64_t                       first;     /* its log's first id, when
                                                 its 410 said it: 0 */
    ngx_uint_t                     registered;  /* as last logged */
    ngx_msec_t                     next_try;
    unsigned                       failing:1;
    unsigned                       unsafe:1;  /* opening with too few */
} ngx_http_replog_recovery_t;


static ngx_int_t ngx_http_replog_recovery_choose(
    ngx_http_replog_recovery_t *rec);
static void ngx_http_replog_recovery_pull(ngx_http_replog_recovery_t *rec);
static void ngx_http_replog_recovery_done(ngx_http_replog_client_t *cl,
    ngx_int_t rc);
static ngx_int_t ngx_http_replog_recovery_source(
    ngx_http_replog_recovery_t *rec, ngx_str_t *source);
static void ngx_http_replog_recovery_gone(ngx_http_replog_recovery_t *rec,
    ngx_http_replog_client_t *cl);
static void ngx_http_replog_recovery_open(ngx_http_replog_recovery_t *rec,
    const char *why);
static void ngx_http_replog_recovery_failed(ngx_http_replog_recovery_t *rec,
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

    rec->limit = NGX_HTTP_REPLOG_PULL_PAGE;
    rec->registered = (ngx_uint_t) -1;

    ngx_http_replog_client_init(&rec->client, NGX_HTTP_REPLOG_PULL_MAX,
                                node->batch_timeout, "X-Replog-Source",
                                ngx_http_replog_recovery_done, rec, log);

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

    ngx_http_replog_view_t  view;

    ngx_http_replog_node_view(rec->node, &view);

    if (view.state == NGX_HTTP_REPLOG_OPEN) {
        return NGX_OK;
    }

    /*
     * from the same source while it is up; a source the heartbeats found
     * down is given up, even in the middle of a page
     */

    if (view.state == NGX_HTTP_REPLOG_PULLING
        && ngx_http_replog_registry_source(rec->zone, rec->slot,
                                           rec->generation, NULL)
           != NGX_OK)
    {
        if (rec->generation == 0) {
            /* a new worker 0 (a reload) takes the pull over */
            ngx_log_error(NGX_LOG_INFO, &rec->log, 0,
                          "replog: recovering: the pull is taken over "
                          "after a reload, choosing again");

        } else {
            ngx_log_error(NGX_LOG_WARN, &rec->log, 0,
                          "replog: recovering: the source %V is down, "
                          "choosing again", &rec->client.name);
        }

        ngx_http_replog_client_abort(&rec->client);
        rec->failing = 0;
        rec->next_try = 0;

        return NGX_AGAIN;
    }

    if (rec->client.busy
        || (ngx_msec_int_t) (rec->next_try - ngx_current_msec) > 0)
    {
        return NGX_AGAIN;
    }

    if (view.state == NGX_HTTP_REPLOG_RECOVERING) {
        return ngx_http_replog_recovery_choose(rec);
    }

    ngx_http_replog_recovery_pull(rec);

    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_replog_recovery_choose(ngx_http_replog_recovery_t *rec)
{
    uint64_t                      acked, top;
    ngx_uint_t                    i, n, needed, best, unsafe;
    ngx_msec_t                    elapsed;
    ngx_http_replog_status_t      st;
    ngx_http_replog_secondary_t  *s;

    /* a look at the registry, the choice made outside the lock */

    ngx_http_replog_registry_status(rec->zone, &st);

    n = 0;
    best = NGX_HTTP_REPLOG_MAX_SECONDARIES;
    acked = 0;
    top = 0;

    for (i = 0; i < NGX_HTTP_REPLOG_MAX_SECONDARIES; i++) {
        s = &st.secondaries[i];

        if (s->status == 0) {
            continue;
        }

        n++;

        if (s->epoch == 0 || s->status == NGX_HTTP_REPLOG_CONFLICT) {
            continue;
        }

        /* the most any registration holds, up or down */
        if (s->acked_id > top) {
            top = s->acked_id;
        }

        if (ngx_http_replog_up(s->status) && s->acked_id > acked)
        {
            acked = s->acked_id;
            best = i;
        }
    }

    needed = ngx_http_replog_recovery_needed(rec->node->cluster_size);
    elapsed = ngx_current_msec - st.recovery_start;

    unsafe = (rec->node->recovery_unsafe
              && elapsed >= rec->node->recovery_unsafe && n);

    if (n != rec->registered) {
        rec->registered = n;

        if (n < needed) {
            ngx_log_error(NGX_LOG_NOTICE, &rec->log, 0,
                          "replog: recovering: %ui of %ui secondaries "
                          "needed registered, waiting", n, needed);
        }
    }

    if (n < needed && !unsafe) {
        return NGX_AGAIN;
    }

    /* a registration that holds more than any source up is down: wait */
    if (top > acked && !unsafe) {
        return NGX_AGAIN;
    }

    if (unsafe && !rec->unsafe && (n < needed || top > acked))
    {
        rec->unsafe = 1;

        ngx_log_error(NGX_LOG_WARN, &rec->log, 0,
                      "replog: recovering: opening after "
                      "unsafe_open_after=%M with %ui of %ui secondaries "
                      "needed registered, the most advanced up holding %uL "
                      "of %uL messages: acknowledged writes may be lost",
                      rec->node->recovery_unsafe, n, needed, acked, top);
    }

    if (best == NGX_HTTP_REPLOG_MAX_SECONDARIES) {

        if (st.max_id && !unsafe) {
            /* pulled in part from a source gone since: wait for it */
            return NGX_AGAIN;
        }

        ngx_http_replog_recovery_open(rec, rec->unsafe
                                      ? "opened unsafely"
                                      : "no secondary holds anything");
        return NGX_OK;
    }

    s = &st.secondaries[best];

    if (st.max_id && s->acked_id <= st.last_id) {
        ngx_http_replog_recovery_open(rec, "the log is recovered");
        return NGX_OK;
    }

    if (ngx_http_replog_registry_adopt(rec->zone, best, s->generation,
                                       &rec->log)
        != NGX_OK)
    {
        /* registered again meanwhile: the next look chooses again */
        return NGX_AGAIN;
    }

    rec->epoch = s->epoch;
    rec->slot = best;
    rec->generation = s->generation;
    rec->target = s->acked_id;
    rec->first = 0;
    rec->last = st.last_id;
    rec->failing = 0;

    ngx_http_replog_client_set_addr(&rec->client, &s->sockaddr.sockaddr,
                                    s->socklen);

    ngx_log_error(NGX_LOG_NOTICE, &rec->log, 0,
                  "replog: recovering: %ui of %ui nodes registered, "
                  "adopting epoch %016xL of \"%*s\", which holds %uL "
                  "messages", n + 1, rec->node->cluster_size, s->epoch,
                  s->id_len, s->id, s->acked_id);

    ngx_http_replog_recovery_pull(rec);

    return NGX_AGAIN;
}


static void
ngx_http_replog_recovery_pull(ngx_http_replog_recovery_t *rec)
{
    u_char     buf[sizeof("/messages?since=&limit=") + 2 * NGX_INT64_LEN];
    ngx_str_t  uri;

    rec->since = rec->last;

    uri.data = buf;
    uri.len = ngx_sprintf(buf, "/messages?since=%uL&limit=%ui", rec->since,
                          rec->limit)
              - buf;

    if (ngx_http_replog_client_get(&rec->client, &uri,
                                   &rec->node->service_key)
        != NGX_OK)
    {
        return;
    }

    /* progress of a recovery, one line per page */
    ngx_log_error(NGX_LOG_INFO, &rec->log, 0,
                  "replog: recovering: pulling from %V since %uL, limit %ui",
                  &rec->client.name, rec->since, rec->limit);

    if (ngx_http_replog_client_send(&rec->client) != NGX_OK) {
        ngx_http_replog_recovery_failed(rec, "cannot reach it");
    }
}


static void
ngx_http_replog_recovery_done(ngx_http_replog_client_t *cl, ngx_int_t rc)
{
    ngx_http_replog_recovery_t *rec = cl->data;

    ngx_int_t                       arc;
    ngx_str_t                       err;
    ngx_uint_t                      n, limit;
    ngx_pool_t                     *pool;
    ngx_http_replog_view_t          view;
    ngx_http_replog_applied_t       a;
    ngx_http_replog_batch_entry_t  *entries;

    ngx_http_replog_node_view(rec->node, &view);

    /* a reload opened the log meanwhile: a page now would follow writes */
    if (view.state != NGX_HTTP_REPLOG_PULLING) {
        return;
    }

    if (rc != NGX_OK && cl->too_large && rec->limit > 1) {

        /*
         * a page over the reply limit: ask for fewer entries, aiming at
         * half the limit by the Content-Length seen before the body
         */

        if (cl->content_length > 0) {
            limit = (ngx_uint_t) ((double) rec->limit
                                  * (NGX_HTTP_REPLOG_PULL_MAX / 2)
                                  / cl->content_length);
        } else {
            limit = 0;
        }

        if (limit == 0 || limit > rec->limit / 2) {
            limit = rec->limit / 2 ? rec->limit / 2 : 1;
        }

        ngx_log_error(NGX_LOG_NOTICE, &rec->log, 0,
                      "replog: recovering: a page of %ui entries from %V "
                      "is %O bytes, over the reply limit of %uz: asking for "
                      "%ui", rec->limit, &cl->name, cl->content_length,
                      (size_t) NGX_HTTP_REPLOG_PULL_MAX, limit);

        rec->limit = limit;

        ngx_http_replog_recovery_pull(rec);
        return;
    }

    if (rc == NGX_OK && cl->status == 410) {
        ngx_http_replog_recovery_gone(rec, cl);
        return;
    }

    if (rc != NGX_OK || cl->status != NGX_HTTP_OK) {
        ngx_http_replog_recovery_failed(rec, cl->too_large
                                             ? "a single message is over "
                                               "the reply limit"
                                             : cl->err ? cl->err
                                                       : "bad status");
        return;
    }

    if (ngx_http_replog_recovery_source(rec, &cl->captured) != NGX_OK) {
        if (!rec->failing) {
            ngx_log_error(NGX_LOG_ERR, &rec->log, 0,
                          "replog: recovering: the page from %V is not of "
                          "the registered source: X-Replog-Source \"%*s\"",
                          &cl->name, ngx_min(cl->captured.len, 80),
                          cl->captured.data ? cl->captured.data
                                            : (u_char *) "");
        }

        ngx_http_replog_recovery_failed(rec, "the page is not of the "
                                             "registered source");
        return;
    }

    pool = ngx_create_pool(4096, &rec->log);
    if (pool == NULL) {
        return;
    }

    arc = ngx_http_replog_json_entries(pool, cl->body, cl->body_len, "data",
                                       NULL, NULL, &entries, &n, &err);

    if (arc != NGX_OK) {
        ngx_destroy_pool(pool);

        if (!rec->failing) {
            ngx_log_error(NGX_LOG_ERR, &rec->log, 0,
                          "replog: recovering: bad page from %V: %V",
                          &cl->name, &err);
        }

        ngx_http_replog_recovery_failed(rec, "bad page");
        return;
    }

    /* with the source's first id: the first page starts this log there */

    arc = ngx_http_replog_store_apply(rec->zone, rec->epoch, rec->first,
                                      entries, n, (ngx_uint_t) -1, NULL, &a);

    ngx_destroy_pool(pool);

    if (a.restarted) {
        ngx_log_error(NGX_LOG_WARN, &rec->log, 0,
                      "replog: recovering: the log of \"%*s\" starts at id "
                      "%uL (its retention dropped the ids before it), this "
                      "log ended at id %uL: it starts at id %uL too",
                      cl->captured.len - 17, cl->captured.data, a.restarted,
                      a.ended, a.restarted);
    }

    if (arc == NGX_HTTP_REPLOG_MOVED) {
        /* an old worker 0 after a resizing reload: the new one pulls on */
        return;
    }

    if (arc != NGX_OK) {
        if (!rec->failing) {
            ngx_log_error(NGX_LOG_ALERT, &rec->log, 0,
                          "replog: recovering: cannot store what %V holds "
                          "(%s): enlarge replog_zone", &cl->name,
                          arc == NGX_HTTP_REPLOG_FULL ? "zone full"
                                                      : "refused");
        }

        ngx_http_replog_recovery_failed(rec, "cannot store its page");
        return;
    }

    ngx_http_replog_tail_appended(rec->zone, a.acked_id);

    rec->last = a.acked_id;

    if (a.acked_id >= rec->target) {
        rec->pages++;
        ngx_http_replog_recovery_open(rec, "the log is recovered");
        return;
    }

    /*
     * the source holds what it registered with, 1..target: a page that
     * adds nothing (the same page again, an empty one, one past a gap) is
     * its failure
     */
    if (a.acked_id <= rec->since) {
        ngx_http_replog_recovery_failed(rec, "its page does not advance");
        return;
    }

    rec->pages++;

    if (rec->failing) {
        ngx_log_error(NGX_LOG_NOTICE, &rec->log, 0,
                      "replog: recovering: pulling from %V again",
                      &cl->name);
        rec->failing = 0;
    }

    /* small pages again: back towards the full count */
    if (rec->limit < NGX_HTTP_REPLOG_PULL_PAGE
        && cl->body_len < NGX_HTTP_REPLOG_PULL_MAX / 8)
    {
        rec->limit *= 2;

        if (rec->limit > NGX_HTTP_REPLOG_PULL_PAGE) {
            rec->limit = NGX_HTTP_REPLOG_PULL_PAGE;
        }
    }

    ngx_http_replog_recovery_pull(rec);
}


/*
 * A page is of the source chosen when its X-Replog-Source names the id
 * registered in the slot and the epoch adopted from it: not of whatever
 * took over a dead source's port.
 */

static ngx_int_t
ngx_http_replog_recovery_source(ngx_http_replog_recovery_t *rec,
    ngx_str_t *source)
{
    uint64_t   epoch;
    ngx_str_t  id;

    if (source->len < 1 + 16
        || source->data[source->len - 17] != ' '
        || ngx_http_replog_parse_epoch(source->data + source->len - 16, 16,
                                       &epoch)
           != NGX_OK
        || epoch != rec->epoch)
    {
        return NGX_DECLINED;
    }

    id.data = source->data;
    id.len = source->len - 17;

    return ngx_http_replog_registry_source(rec->zone, rec->slot,
                                           rec->generation, &id);
}


/*
 * The source answered 410: retention dropped the ids asked for, its log
 * starts at first_id K.  Taken only from the registered source, for a K
 * past what was asked and within what it registered with (1..target, so
 * K-1 < target: one id at least is pulled); then the pull asks since=K-1
 * and its first page starts this log at K (store_apply, as a secondary's
 * batch with first_id does).
 */

static void
ngx_http_replog_recovery_gone(ngx_http_replog_recovery_t *rec,
    ngx_http_replog_client_t *cl)
{
    uint64_t  first;

    if (ngx_http_replog_recovery_source(rec, &cl->captured) != NGX_OK) {
        ngx_http_replog_recovery_failed(rec, "its 410 is not of the "
                                             "registered source");
        return;
    }

    if (ngx_http_replog_json_gone(cl->body, cl->body_len, &first)
        != NGX_OK)
    {
        ngx_http_replog_recovery_failed(rec, "its 410 has no valid "
                                             "first_id");
        return;
    }

    if (first <= rec->since + 1 || first > rec->target) {
        if (!rec->failing) {
            ngx_log_error(NGX_LOG_ERR, &rec->log, 0,
                          "replog: recovering: %V says its log starts at "
                          "id %uL, asked since %uL, registered with last "
                          "id %uL: refused", &cl->name, first,
                          rec->since, rec->target);
        }

        ngx_http_replog_recovery_failed(rec, "its first id is not in its "
                                             "log");
        return;
    }

    ngx_log_error(NGX_LOG_INFO, &rec->log, 0,
                  "replog: recovering: the log of %V starts at id %uL, "
                  "pulling from there", &cl->name, first);

    rec->first = first;
    rec->last = first - 1;

    ngx_http_replog_recovery_pull(rec);
}


/*
 * A pull that brought nothing: a failure of the source, logged and
 * signalled once per run of failures (the heartbeats tell whether it is
 * down), and retried at the retry interval, never at once.
 */

static void
ngx_http_replog_recovery_failed(ngx_http_replog_recovery_t *rec,
    const char *why)
{
    if (!rec->failing) {
        ngx_log_error(NGX_LOG_WARN, &rec->log, 0,
                      "replog: recovering: pull from %V since %uL failed "
                      "(%s, status %ui), retrying", &rec->client.name,
                      rec->since, why, rec->client.status);
        rec->failing = 1;

        ngx_http_replog_registry_signal(rec->zone, rec->slot,
                                        rec->generation, 0, why, 0,
                                        rec->node->hc_suspect,
                                        rec->node->hc_fails, &rec->log);
    }

    rec->next_try = ngx_current_msec + rec->node->retry_interval;
}


static void
ngx_http_replog_recovery_open(ngx_http_replog_recovery_t *rec,
    const char *why)
{
    uint64_t  last_id, epoch;

    (void) ngx_http_replog_registry_open(rec->zone, &last_id, &epoch,
                                         &rec->log);

    ngx_http_replog_client_close(&rec->client);

    /* a durable log's meta names the epoch now, not at the next write */
    ngx_http_replog_log_kick(rec->zone);

    ngx_log_error(NGX_LOG_NOTICE, &rec->log, 0,
                  "replog: open for writes: %s; epoch %016xL, %uL messages, "
                  "next id %uL", why, epoch, last_id, last_id + 1);
}
