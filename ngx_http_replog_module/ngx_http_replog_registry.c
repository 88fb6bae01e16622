
/*
 * Copyright (C) replog authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_http_replog_store.h"
#include "ngx_http_replog_json.h"


/*
 * The registry of secondaries in the master's zone.  With the store, the
 * only code that takes the zone's lock: what the others need of the
 * registry is copied out in one look (a snapshot) or changed in one call.
 */


static void ngx_http_replog_registry_set_status(ngx_http_replog_secondary_t *s,
    ngx_uint_t status, const char *why, ngx_log_t *log);
static const char *ngx_http_replog_registry_conflicting(
    ngx_http_replog_sh_t *sh, ngx_http_replog_secondary_t *s,
    ngx_uint_t open_only);
static void ngx_http_replog_registry_judge_locked(
    ngx_http_replog_zone_t *zone, ngx_log_t *log);
static void ngx_http_replog_registry_recount_locked(
    ngx_http_replog_sh_t *sh);


/*
 * Why a secondary's log cannot be counted: of another epoch than the
 * master's (once the master is open, with open_only), or holding more of
 * its epoch than the open master: entries the master never recovered, or
 * ids it gave since to other messages.  NULL when it can.
 */

static const char *
ngx_http_replog_registry_conflicting(ngx_http_replog_sh_t *sh,
    ngx_http_replog_secondary_t *s, ngx_uint_t open_only)
{
    if (s->epoch == 0 || s->acked_id == 0) {
        return NULL;
    }

    if (s->epoch != sh->epoch
        && (sh->state == NGX_HTTP_REPLOG_OPEN || !open_only))
    {
        return "its log has another epoch";
    }

    if (s->epoch == sh->epoch && sh->state == NGX_HTTP_REPLOG_OPEN
        && s->acked_id > sh->last_id)
    {
        return "it holds more than the master";
    }

    return NULL;
}


/*
 * Once the master's epoch is settled, a secondary that holds a log of
 * another epoch is a CONFLICT: it gets nothing and is never wiped
 * silently.  Once the master is open, one that holds more than it too.
 */

static void
ngx_http_replog_registry_judge_locked(ngx_http_replog_zone_t *zone,
    ngx_log_t *log)
{
    ngx_uint_t                    i;
    const char                   *why;
    ngx_http_replog_sh_t         *sh;
    ngx_http_replog_secondary_t  *s;

    sh = zone->sh;

    for (i = 0; i < NGX_HTTP_REPLOG_MAX_SECONDARIES; i++) {
        s = &sh->secondaries[i];

        if (s->status == 0 || s->status == NGX_HTTP_REPLOG_CONFLICT) {
            continue;
        }

        why = ngx_http_replog_registry_conflicting(sh, s, 0);

        if (why) {
            ngx_http_replog_registry_set_status(s, NGX_HTTP_REPLOG_CONFLICT,
                                                why, log);
        }
    }

    ngx_http_replog_registry_recount_locked(sh);
}


/* the counts a request reads without the lock, after every change */

static void
ngx_http_replog_registry_recount_locked(ngx_http_replog_sh_t *sh)
{
    ngx_uint_t  i, n, up;

    for (i = 0, n = 0, up = 0; i < NGX_HTTP_REPLOG_MAX_SECONDARIES; i++) {
        n += (sh->secondaries[i].status != 0);
        up += ngx_http_replog_up(sh->secondaries[i].status);
    }

    sh->nsecondaries = n;
    sh->up = up;
}


/*
 * What a request needs to know of the node before it reads its body: the
 * log's state, the registered secondaries, the nodes up (the master and
 * its secondaries up) and the cluster size.  Words the registry keeps
 * under the lock, read without it: each may be a moment old, as any look
 * is once the lock is released.
 */

void
ngx_http_replog_registry_view(ngx_http_replog_zone_t *zone,
    ngx_uint_t cluster_size, ngx_http_replog_view_t *view)
{
    ngx_http_replog_sh_t  *sh;

    sh = zone->sh;

    view->state = sh->state;
    view->registered = sh->nsecondaries;
    view->up = 1 + sh->up;

    view->cluster_size = cluster_size ? cluster_size : view->registered + 1;
}


void
ngx_http_replog_registry_peers_locked(ngx_http_replog_zone_t *zone,
    ngx_http_replog_peers_t *peers)
{
    ngx_uint_t                    i;
    ngx_http_replog_peer_t       *p;
    ngx_http_replog_secondary_t  *s;

    peers->ncounted = 0;

    for (i = 0; i < NGX_HTTP_REPLOG_MAX_SECONDARIES; i++) {
        s = &zone->sh->secondaries[i];
        p = &peers->peer[i];

        p->status = s->status;

        if (s->status == 0) {
            continue;
        }

        if (s->status != NGX_HTTP_REPLOG_CONFLICT) {
            peers->counted[peers->ncounted++] = s->acked_id;
        }

        p->generation = s->generation;
        p->acked_id = s->acked_id;
        p->acked_at = s->acked_at;
        p->last_healthy = s->last_healthy;
        p->id_len = s->id_len;
        ngx_memcpy(p->id, s->id, s->id_len);
    }

    peers->last_id = zone->sh->last_id;
    peers->locks = zone->sh->locks;

    /* durable log hook: with fsync=always the master once it is on disk */
    peers->held = ngx_http_replog_log_held(zone, (uint64_t) -1);
}


void
ngx_http_replog_registry_peers(ngx_http_replog_zone_t *zone,
    ngx_http_replog_peers_t *peers)
{
    ngx_http_replog_store_lock(zone);
    ngx_http_replog_registry_peers_locked(zone, peers);
    ngx_http_replog_store_unlock(zone);
}


/*
 * The nodes of a snapshot that hold message id: the master (with
 * fsync=always once durable, peers->held), then the rule of
 * ngx_http_replog_holds() on the acked_ids of the peers it may count (a
 * waiter's look per ack walks these only)
 */

ngx_uint_t
ngx_http_replog_holders(ngx_http_replog_peers_t *peers, uint64_t id)
{
    ngx_uint_t  i, n;

    n = (peers->held >= id);

    for (i = 0; i < peers->ncounted; i++) {
        n += (peers->counted[i] >= id);
    }

    return n;
}


/* everything /health, /metrics and /secondaries show, in one look */

void
ngx_http_replog_registry_status(ngx_http_replog_zone_t *zone,
    ngx_http_replog_status_t *st)
{
    ngx_uint_t             k;
    ngx_http_replog_sh_t  *sh;

    sh = zone->sh;

    ngx_http_replog_store_lock(zone);

    st->epoch = sh->epoch;
    st->last_id = sh->last_id;
    st->max_id = sh->max_id;
    st->bytes = sh->bytes;
    st->appended = sh->appended;
    st->rejected_full = sh->rejected_full;
    st->locks = sh->locks;
    st->pending = sh->pending;
    st->state = sh->state;
    st->nsecondaries = sh->nsecondaries;
    st->recovery_start = sh->recovery_start;
    ngx_memcpy(st->secondaries, sh->secondaries, sizeof(sh->secondaries));

    /* durable log hook: the writer's counters */
    st->logged = (sh->log != NULL);

    if (sh->log) {
        st->log = *sh->log;
        st->first_id = (sh->first_id > 1) ? sh->first_id
                       : (sh->last_id ? 1 : 0);
        st->evicted = sh->evicted;
        st->file_reads = sh->file_reads;
        st->file_bytes = sh->file_bytes;
    }

    st->log_first = sh->log_first;

    ngx_http_replog_store_unlock(zone);

    for (k = 0; k < NGX_HTTP_REPLOG_COUNTERS; k++) {
        st->counters[k] = sh->counters[k];
    }
}


/*
 * Registers a secondary or updates it: its address comes from the
 * connection, and the acked_id it reports is taken as the truth (a
 * restarted secondary reports 0 and is caught up from the start).
 * Returns the slot, with the master's epoch and last id for the answer,
 * NGX_DECLINED when the registry is full, or NGX_BUSY when the zone was
 * copied into a resized one.
 */

ngx_int_t
ngx_http_replog_registry_add(ngx_http_replog_zone_t *zone, ngx_str_t *id,
    struct sockaddr *sa, socklen_t socklen, in_port_t port, uint64_t epoch,
    uint64_t acked_id, uint64_t *master_epoch, uint64_t *last_id,
    ngx_log_t *log)
{
    ngx_uint_t                    i, fresh;
    const char                   *why;
    ngx_http_replog_sh_t         *sh;
    ngx_http_replog_secondary_t  *s, *free;

    sh = zone->sh;
    free = NULL;
    s = NULL;

    ngx_http_replog_store_lock(zone);

    /* an old worker after a resizing reload: the new zone's registry rules */
    if (sh->moved) {
        ngx_http_replog_store_unlock(zone);
        return NGX_BUSY;
    }

    for (i = 0; i < NGX_HTTP_REPLOG_MAX_SECONDARIES; i++) {
        if (sh->secondaries[i].status == 0) {
            if (free == NULL) {
                free = &sh->secondaries[i];
            }

            continue;
        }

        if (sh->secondaries[i].id_len == id->len
            && ngx_strncmp(sh->secondaries[i].id, id->data, id->len) == 0)
        {
            s = &sh->secondaries[i];
            break;
        }
    }

    fresh = (s == NULL);

    if (fresh) {
        if (free == NULL) {
            ngx_http_replog_store_unlock(zone);
            return NGX_DECLINED;
        }

        s = free;
        ngx_memzero(s, sizeof(ngx_http_replog_secondary_t));

        ngx_memcpy(s->id, id->data, id->len);
        s->id_len = id->len;
    }

    ngx_memcpy(&s->sockaddr, sa, socklen);
    s->socklen = socklen;
    ngx_inet_set_port(&s->sockaddr.sockaddr, port);
    s->port = port;
    s->host_len = ngx_sock_ntop(sa, socklen, s->host, NGX_SOCKADDR_STRLEN, 0);

    /*
     * an acked_id only proves what it holds of this log: of another epoch
     * it counts for nothing (while recovering, the reports are what the
     * master chooses from)
     */
    if (sh->state == NGX_HTTP_REPLOG_OPEN
        && epoch != sh->epoch && !(epoch && acked_id))
    {
        acked_id = 0;
    }

    s->generation = ++sh->generation;
    s->epoch = epoch;
    s->acked_id = acked_id;
    s->first_id = 0;
    s->incarnation = 0;         /* the next answer tells */
    s->acked_at = 0;            /* catch-up starts at once */
    s->registered_at = ngx_time();
    s->last_healthy = ngx_time();
    s->status_changed = ngx_time();     /* as the original: registered */
    s->fails = 0;
    s->last_error_len = 0;

    /* a log that diverges from ours: never mixed, never wiped */
    why = ngx_http_replog_registry_conflicting(sh, s, 1);

    if (why) {
        ngx_http_replog_registry_set_status(s, NGX_HTTP_REPLOG_CONFLICT, why,
                                            log);

    } else {
        ngx_http_replog_registry_set_status(s, NGX_HTTP_REPLOG_HEALTHY,
                                            fresh ? "registered"
                                                  : "registered again",
                                            log);
    }

    ngx_http_replog_registry_recount_locked(sh);

    *master_epoch = sh->epoch;
    *last_id = sh->last_id;

    ngx_http_replog_store_unlock(zone);

    return s - sh->secondaries;
}


/*
 * An answer of a secondary: its contiguous high-water mark and, with ok,
 * a success for its health, in one look that also copies the registry
 * for the waiters.  Within one incarnation of its log the mark only grows
 * (answers of several connections may be handled out of order); a new
 * incarnation, a secondary restarted or reset, is taken as the truth,
 * even when it says 0.  A mark past the master's last id is a protocol
 * error: NGX_DECLINED, not stored.
 */

ngx_int_t
ngx_http_replog_registry_ack(ngx_http_replog_zone_t *zone, ngx_uint_t slot,
    uint64_t generation, uint64_t acked_id, uint64_t incarnation,
    ngx_uint_t ok, ngx_http_replog_peers_t *peers, ngx_log_t *log)
{
    size_t                        addr_len;
    ngx_int_t                     rc;
    ngx_http_replog_sh_t         *sh;
    ngx_http_replog_secondary_t  *s;
    u_char                        addr[NGX_SOCKADDR_STRLEN];

    static const char  err[] = "acked_id beyond the master's log";

    sh = zone->sh;
    rc = NGX_OK;

    ngx_http_replog_store_lock(zone);

    s = &sh->secondaries[slot];

    if (s->status == 0 || s->generation != generation) {
        goto done;
    }

    if (acked_id > sh->last_id) {

        /* once until another error: the failure signal records this one */
        if (s->last_error_len != sizeof(err) - 1
            || ngx_strncmp(s->last_error, err, sizeof(err) - 1) != 0)
        {
            addr_len = ngx_sock_ntop(&s->sockaddr.sockaddr, s->socklen,
                                     addr, NGX_SOCKADDR_STRLEN, 1);

            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "replog: secondary \"%*s\" at %*s answered "
                          "acked_id %uL, beyond the master's last id %uL: "
                          "a protocol error, ignored",
                          s->id_len, s->id, addr_len, addr,
                          acked_id, sh->last_id);
        }

        rc = NGX_DECLINED;
        goto done;
    }

    if (s->incarnation != incarnation) {
        s->incarnation = incarnation;
        s->acked_id = acked_id;
        s->acked_at = ngx_current_msec;

    } else if (acked_id > s->acked_id) {
        s->acked_id = acked_id;
        s->acked_at = ngx_current_msec;
    }

    s->batches++;

    if (ok && s->status != NGX_HTTP_REPLOG_CONFLICT) {
        s->fails = 0;
        s->last_healthy = ngx_time();

        if (s->status != NGX_HTTP_REPLOG_HEALTHY) {
            ngx_http_replog_registry_set_status(s, NGX_HTTP_REPLOG_HEALTHY,
                                                "answered", log);
            ngx_http_replog_registry_recount_locked(sh);
        }
    }

done:

    if (peers) {
        ngx_http_replog_registry_peers_locked(zone, peers);
    }

    ngx_http_replog_store_unlock(zone);

    return rc;
}


/*
 * A success or failure of a heartbeat or batch moves the health state
 * (SUSPECTED after suspect failures in a row, UNHEALTHY after fails); a
 * failed batch that will be retried is counted.
 */

void
ngx_http_replog_registry_signal(ngx_http_replog_zone_t *zone,
    ngx_uint_t slot, uint64_t generation, ngx_uint_t ok, const char *err,
    ngx_uint_t retried, ngx_uint_t suspect, ngx_uint_t fails, ngx_log_t *log)
{
    ngx_http_replog_secondary_t  *s;

    ngx_http_replog_store_lock(zone);

    s = &zone->sh->secondaries[slot];

    if (s->status == 0 || s->generation != generation) {
        goto done;
    }

    s->retries += (retried != 0);

    if (s->status == NGX_HTTP_REPLOG_CONFLICT) {
        goto done;
    }

    if (ok) {
        s->fails = 0;
        s->last_healthy = ngx_time();

        if (s->status != NGX_HTTP_REPLOG_HEALTHY) {
            ngx_http_replog_registry_set_status(s, NGX_HTTP_REPLOG_HEALTHY,
                                                "answered", log);
        }

        goto done;
    }

    s->fails++;
    s->last_error_len = ngx_cpystrn(s->last_error, (u_char *) err,
                                    NGX_HTTP_REPLOG_ERR_LEN)
                        - s->last_error;

    if (s->fails >= fails) {
        if (s->status != NGX_HTTP_REPLOG_UNHEALTHY) {
            ngx_http_replog_registry_set_status(s, NGX_HTTP_REPLOG_UNHEALTHY,
                                                err, log);
        }

    } else if (s->fails >= suspect) {
        if (s->status == NGX_HTTP_REPLOG_HEALTHY) {
            ngx_http_replog_registry_set_status(s, NGX_HTTP_REPLOG_SUSPECTED,
                                                err, log);
        }
    }

done:

    ngx_http_replog_registry_recount_locked(zone->sh);

    ngx_http_replog_store_unlock(zone);
}


void
ngx_http_replog_registry_conflict(ngx_http_replog_zone_t *zone,
    ngx_uint_t slot, uint64_t generation, ngx_log_t *log)
{
    ngx_http_replog_secondary_t  *s;

    ngx_http_replog_store_lock(zone);

    s = &zone->sh->secondaries[slot];

    if (s->status && s->generation == generation
        && s->status != NGX_HTTP_REPLOG_CONFLICT)
    {
        ngx_http_replog_registry_set_status(s, NGX_HTTP_REPLOG_CONFLICT,
                                            "it refused our epoch", log);
        ngx_http_replog_registry_recount_locked(zone->sh);
    }

    ngx_http_replog_store_unlock(zone);
}


/*
 * A batch is sent again: NGX_OK and counted while the secondary of that
 * registration is up, else NGX_DECLINED (catch-up repairs it later).
 */

ngx_int_t
ngx_http_replog_registry_retry(ngx_http_replog_zone_t *zone, ngx_uint_t slot,
    uint64_t generation)
{
    ngx_int_t                     rc;
    ngx_http_replog_secondary_t  *s;

    ngx_http_replog_store_lock(zone);

    s = &zone->sh->secondaries[slot];

    if (ngx_http_replog_up(s->status) && s->generation == generation) {
        s->batches++;
        rc = NGX_OK;

    } else {
        rc = NGX_DECLINED;
    }

    ngx_http_replog_store_unlock(zone);

    return rc;
}


/* a batch told the secondary its log starts at first_id (retention) */

void
ngx_http_replog_registry_first(ngx_http_replog_zone_t *zone, ngx_uint_t slot,
    uint64_t generation, uint64_t first_id)
{
    ngx_http_replog_secondary_t  *s;

    ngx_http_replog_store_lock(zone);

    s = &zone->sh->secondaries[slot];

    if (s->generation == generation) {
        s->first_id = first_id;
    }

    ngx_http_replog_store_unlock(zone);
}


/* replog_healthcheck remove_after: a secondary unhealthy that long goes */

void
ngx_http_replog_registry_remove(ngx_http_replog_zone_t *zone,
    ngx_uint_t slot, uint64_t generation, ngx_msec_t after, ngx_log_t *log)
{
    ngx_http_replog_secondary_t  *s;

    ngx_http_replog_store_lock(zone);

    s = &zone->sh->secondaries[slot];

    if (s->status && s->generation == generation) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "replog: secondary \"%*s\" removed: unhealthy for %M ms",
                      s->id_len, s->id, after);
        s->status = 0;
        ngx_http_replog_registry_recount_locked(zone->sh);
    }

    ngx_http_replog_store_unlock(zone);
}


/* where a registration is reached, and its id, as of its generation */

ngx_int_t
ngx_http_replog_registry_addr(ngx_http_replog_zone_t *zone, ngx_uint_t slot,
    uint64_t *generation, ngx_sockaddr_t *sockaddr, socklen_t *socklen,
    u_char *id, size_t *id_len)
{
    ngx_http_replog_secondary_t  *s;

    ngx_http_replog_store_lock(zone);

    s = &zone->sh->secondaries[slot];

    *generation = s->generation;
    *socklen = s->socklen;
    ngx_memcpy(sockaddr, &s->sockaddr, s->socklen);

    if (id) {
        *id_len = s->id_len;
        ngx_memcpy(id, s->id, s->id_len);
    }

    ngx_http_replog_store_unlock(zone);

    return NGX_OK;
}


/*
 * The master opens for writes (recovered, or recovery turned off): the
 * registrations are judged against the log it opens with.  Returns the
 * state it was in, with its last id and epoch.
 */

ngx_uint_t
ngx_http_replog_registry_open(ngx_http_replog_zone_t *zone,
    uint64_t *last_id, uint64_t *epoch, ngx_log_t *log)
{
    ngx_uint_t             state;
    ngx_http_replog_sh_t  *sh;

    sh = zone->sh;

    ngx_http_replog_store_lock(zone);

    state = sh->state;
    *last_id = sh->last_id;
    *epoch = sh->epoch;

    if (state != NGX_HTTP_REPLOG_OPEN) {
        sh->state = NGX_HTTP_REPLOG_OPEN;
        ngx_http_replog_registry_judge_locked(zone, log);
    }

    ngx_http_replog_store_unlock(zone);

    return state;
}


/*
 * A recovering master adopts the log of the registration in slot: its
 * epoch, and pulls what it holds.  NGX_DECLINED when
 * the slot was registered again since the caller looked.
 */

ngx_int_t
ngx_http_replog_registry_adopt(ngx_http_replog_zone_t *zone, ngx_uint_t slot,
    uint64_t generation, ngx_log_t *log)
{
    ngx_int_t                     rc;
    ngx_http_replog_sh_t         *sh;
    ngx_http_replog_secondary_t  *s;

    sh = zone->sh;
    rc = NGX_DECLINED;

    ngx_http_replog_store_lock(zone);

    s = &sh->secondaries[slot];

    if (s->status && s->generation == generation
        && sh->state == NGX_HTTP_REPLOG_RECOVERING)
    {
        sh->epoch = s->epoch;
        sh->state = NGX_HTTP_REPLOG_PULLING;

        ngx_http_replog_registry_judge_locked(zone, log);

        rc = NGX_OK;
    }

    ngx_http_replog_store_unlock(zone);

    return rc;
}


/*
 * The source of a pull: NGX_OK while the registration in slot is up and
 * (with id) has that id; else a pulling master goes back to choosing
 * (NGX_DECLINED), as the source is gone or down.
 */

ngx_int_t
ngx_http_replog_registry_source(ngx_http_replog_zone_t *zone,
    ngx_uint_t slot, uint64_t generation, ngx_str_t *id)
{
    ngx_int_t                     rc;
    ngx_http_replog_sh_t         *sh;
    ngx_http_replog_secondary_t  *s;

    sh = zone->sh;

    ngx_http_replog_store_lock(zone);

    s = &sh->secondaries[slot];

    if (id) {
        rc = (s->status && s->generation == generation
              && s->id_len == id->len
              && ngx_memcmp(s->id, id->data, id->len) == 0)
             ? NGX_OK : NGX_DECLINED;

    } else if (s->generation == generation && ngx_http_replog_up(s->status))
    {
        rc = NGX_OK;

    } else {
        if (sh->state == NGX_HTTP_REPLOG_PULLING) {
            sh->state = NGX_HTTP_REPLOG_RECOVERING;
        }

        rc = NGX_DECLINED;
    }

    ngx_http_replog_store_unlock(zone);

    return rc;
}


static void
ngx_http_replog_registry_set_status(ngx_http_replog_secondary_t *s,
    ngx_uint_t status, const char *why, ngx_log_t *log)
{
    size_t      addr_len;
    ngx_uint_t  level;
    u_char      addr[NGX_SOCKADDR_STRLEN];

    /* a state change is logged once, at notice or warn */
    if (s->status == status) {
        level = NGX_LOG_INFO;

    } else {
        level = (status == NGX_HTTP_REPLOG_HEALTHY) ? NGX_LOG_NOTICE
                                                     : NGX_LOG_WARN;
    }

    /* with its port, and an IPv6 address in brackets */
    addr_len = ngx_sock_ntop(&s->sockaddr.sockaddr, s->socklen, addr,
                             NGX_SOCKADDR_STRLEN, 1);

    ngx_log_error(level, log, 0,
                  "replog: secondary \"%*s\" at %*s %s -> %s: %s",
                  s->id_len, s->id, addr_len, addr,
                  ngx_http_replog_status_name(s->status),
                  ngx_http_replog_status_name(status), why);

    /* the original's status: SUSPECTED still counts as HEALTHY */
    if (ngx_http_replog_up(s->status) != ngx_http_replog_up(status)) {
        s->status_changed = ngx_time();
    }

    s->status = status;
}
