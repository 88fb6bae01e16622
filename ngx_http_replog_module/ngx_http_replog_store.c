
/*
 * Copyright (C) replog authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_http_replog_module.h"


/*
 * ',{"message":' MSG ',"meta":{"message_id":' ID ',"registered_at":"' TIME
 * '"', left open for the reader's ',"registered_to":[...]}}'
 */
#define NGX_HTTP_REPLOG_ENTRY_FIXED                                          \
    (sizeof(",{\"message\":,\"meta\":{\"message_id\":,"                      \
            "\"registered_at\":\"\"") - 1                                    \
     + NGX_HTTP_REPLOG_TIME_LEN)


/*
 * A resize in progress: the old zone is marked moved when it is copied, and
 * unmarked if the new cycle fails after all.  Shared by a cleanup of each
 * cycle's pool; on the process heap, as either pool may go first.
 */
typedef struct {
    ngx_http_replog_zone_t  *ozone;
    volatile ngx_cycle_t    *ocycle;
    ngx_uint_t               refs;
    unsigned                 old_gone:1;
} ngx_http_replog_move_t;


static int64_t ngx_http_replog_now_usec(void);
static ngx_uint_t ngx_http_replog_store_advance_locked(
    ngx_http_replog_sh_t *sh);
static ngx_http_replog_zone_t *ngx_http_replog_old_zone(
    ngx_shm_zone_t *shm_zone);
static ngx_int_t ngx_http_replog_copy_zone(ngx_http_replog_zone_t *zone,
    ngx_http_replog_zone_t *ozone, ngx_shm_zone_t *shm_zone);
static ngx_int_t ngx_http_replog_store_slot_locked(ngx_http_replog_zone_t *zone,
    uint64_t id, ngx_http_replog_entry_t ***slot);
static void ngx_http_replog_move_new_done(void *data);
static void ngx_http_replog_move_old_done(void *data);


ngx_int_t
ngx_http_replog_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_replog_zone_t  *ozone = data;

    size_t                   len;
    ngx_http_replog_zone_t  *zone;

    zone = shm_zone->data;

    if (ozone) {
        /* reload with an unchanged size: keep the log */
        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;
        return NGX_OK;
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return NGX_OK;
    }

    zone->sh = ngx_slab_calloc(zone->shpool, sizeof(ngx_http_replog_sh_t));
    if (zone->sh == NULL) {
        return NGX_ERROR;
    }

    zone->shpool->data = zone->sh;

    /* a full zone is an answer (507), not something to log each time */
    zone->shpool->log_nomem = 0;

    len = sizeof(" in replog zone \"\"") + shm_zone->shm.name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(zone->shpool->log_ctx, " in replog zone \"%V\"%Z",
                &shm_zone->shm.name);

    zone->sh->incarnation = ngx_http_replog_new_epoch();

    /* a reload that resized the zone: the log moves into the new one */
    ozone = ngx_http_replog_old_zone(shm_zone);

    if (ozone) {
        return ngx_http_replog_copy_zone(zone, ozone, shm_zone);
    }

    /* a secondary takes the epoch of the first batch it accepts */
    if (zone->role == NGX_HTTP_REPLOG_MASTER) {
        zone->sh->epoch = ngx_http_replog_new_epoch();

        /* an empty master log: recovered from the secondaries first */
        if (zone->recovery) {
            zone->sh->state = NGX_HTTP_REPLOG_RECOVERING;
            zone->sh->recovery_start = ngx_current_msec;
        }
    }
    zone->sh->started = ngx_current_msec;

    /* durable log hook: the zone's first fill, replayed from its files */
    if (zone->log && ngx_http_replog_log_open(zone) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * During a reload ngx_cycle is still the old cycle: its zone of the same
 * name, if any, is still mapped here.
 */

static ngx_http_replog_zone_t *
ngx_http_replog_old_zone(ngx_shm_zone_t *shm_zone)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_shm_zone_t   *oshm;

    if (ngx_cycle == NULL || ngx_cycle->shared_memory.part.elts == NULL) {
        return NULL;
    }

    part = (ngx_list_part_t *) &ngx_cycle->shared_memory.part;
    oshm = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            oshm = part->elts;
            i = 0;
        }

        if (oshm[i].tag == shm_zone->tag
            && oshm[i].shm.name.len == shm_zone->shm.name.len
            && ngx_strncmp(oshm[i].shm.name.data, shm_zone->shm.name.data,
                           shm_zone->shm.name.len) == 0
            && oshm[i].shm.addr
            && oshm[i].data
            && ((ngx_http_replog_zone_t *) oshm[i].data)->sh)
        {
            return oshm[i].data;
        }
    }
}


/*
 * Copies the log, the registry and the counters of a resized zone.  A zone
 * too small for what it must hold fails the reload: nothing is dropped.
 */

static ngx_int_t
ngx_http_replog_copy_zone(ngx_http_replog_zone_t *zone,
    ngx_http_replog_zone_t *ozone, ngx_shm_zone_t *shm_zone)
{
    size_t                     size;
    uint64_t                   id;
    ngx_int_t                  rc;
    ngx_pool_cleanup_t        *cln, *ocln;
    ngx_http_replog_sh_t      *sh, *osh;
    ngx_http_replog_move_t    *mv;
    ngx_http_replog_entry_t   *e, *ne, **slot;

    sh = zone->sh;
    osh = ozone->sh;
    rc = NGX_OK;

    mv = ngx_calloc(sizeof(ngx_http_replog_move_t), ngx_cycle->log);
    if (mv == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(zone->pool, 0);
    ocln = ngx_pool_cleanup_add(ngx_cycle->pool, 0);

    if (cln == NULL || ocln == NULL) {
        if (cln) {
            cln->handler = ngx_free;
            cln->data = mv;

        } else {
            ngx_free(mv);
        }

        return NGX_ERROR;
    }

    mv->ozone = ozone;
    mv->ocycle = ngx_cycle;
    mv->refs = 2;

    cln->handler = ngx_http_replog_move_new_done;
    cln->data = mv;
    ocln->handler = ngx_http_replog_move_old_done;
    ocln->data = mv;

    ngx_shmtx_lock(&ozone->shpool->mutex);

    for (id = 1; id <= osh->max_id; id++) {
        e = ngx_http_replog_store_get_locked(osh, id);

        if (e == NULL) {
            continue;
        }

        size = offsetof(ngx_http_replog_entry_t, data) + e->len;

        if (ngx_http_replog_store_slot_locked(zone, id, &slot) != NGX_OK
            || (ne = ngx_slab_alloc_locked(zone->shpool, size)) == NULL)
        {
            rc = NGX_ERROR;
            break;
        }

        ngx_memcpy(ne, e, size);
        *slot = ne;
    }

    if (rc == NGX_OK) {
        ngx_memcpy(sh->secondaries, osh->secondaries,
                   sizeof(osh->secondaries));

        sh->epoch = osh->epoch;
        sh->incarnation = osh->incarnation;
        sh->last_id = osh->last_id;
        sh->max_id = osh->max_id;
        sh->bytes = osh->bytes;
        sh->pending = osh->pending;
        sh->appended = osh->appended;
        sh->rejected_full = osh->rejected_full;
        sh->started = osh->started;
        sh->state = osh->state;
        sh->recovery_start = osh->recovery_start;
        sh->recovery_target = osh->recovery_target;
        sh->nsecondaries = osh->nsecondaries;
        sh->generation = osh->generation;
        sh->url_len = osh->url_len;
        ngx_memcpy(sh->url, osh->url, osh->url_len);
        sh->master_len = osh->master_len;
        ngx_memcpy(sh->master, osh->master, osh->master_len);
        sh->wc_timeouts = osh->wc_timeouts;
        sh->catchup_entries = osh->catchup_entries;

        /*
         * in the same locked section as the copy: from here the old
         * workers refuse writes (503) instead of appending where nobody
         * will ever read
         */
        osh->moved = 1;
    }

    ngx_shmtx_unlock(&ozone->shpool->mutex);

    if (rc == NGX_OK) {
        /* durable log hook: the writer's marks move with the log */
        ngx_http_replog_store_log_moved(zone, ozone);
    }

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, 0,
                      "replog_zone \"%V\" is too small for the %uL messages "
                      "it holds: the reload is refused, the log is kept",
                      &shm_zone->shm.name, osh->max_id);
        return NGX_ERROR;
    }

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "replog_zone \"%V\" resized: its %uL messages moved into "
                  "the new zone", &shm_zone->shm.name, sh->last_id);

    return NGX_OK;
}


/*
 * The new cycle's pool is destroyed: when that happens while the old cycle
 * is still the current one, the reload failed after the copy, and the old
 * zone stays the log.
 */

static void
ngx_http_replog_move_new_done(void *data)
{
    ngx_http_replog_move_t  *mv = data;

    ngx_http_replog_zone_t  *ozone;

    if (!mv->old_gone && ngx_cycle == mv->ocycle) {
        ozone = mv->ozone;

        ngx_shmtx_lock(&ozone->shpool->mutex);
        ozone->sh->moved = 0;
        ngx_shmtx_unlock(&ozone->shpool->mutex);

        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "replog_zone \"%V\": the reload failed, the log "
                      "stays in the old zone", &ozone->name);
    }

    if (--mv->refs == 0) {
        ngx_free(mv);
    }
}


static void
ngx_http_replog_move_old_done(void *data)
{
    ngx_http_replog_move_t  *mv = data;

    mv->old_gone = 1;

    if (--mv->refs == 0) {
        ngx_free(mv);
    }
}


uint64_t
ngx_http_replog_new_epoch(void)
{
    uint64_t  epoch;

    do {
        epoch = ((uint64_t) ngx_random() << 33)
                ^ ((uint64_t) ngx_random() << 11)
                ^ (uint64_t) ngx_http_replog_now_usec();
    } while (epoch == 0);

    return epoch;
}


static int64_t
ngx_http_replog_now_usec(void)
{
    struct timeval  tv;

    ngx_gettimeofday(&tv);

    return (int64_t) tv.tv_sec * 1000000 + tv.tv_usec;
}


ngx_http_replog_entry_t *
ngx_http_replog_store_get_locked(ngx_http_replog_sh_t *sh, uint64_t id)
{
    uint64_t  k;

    if (id == 0) {
        return NULL;
    }

    k = id - 1;

    if (k / NGX_HTTP_REPLOG_CHUNK >= sh->dir_cap
        || sh->dir[k / NGX_HTTP_REPLOG_CHUNK] == NULL)
    {
        return NULL;
    }

    return sh->dir[k / NGX_HTTP_REPLOG_CHUNK][k % NGX_HTTP_REPLOG_CHUNK];
}


uint64_t
ngx_http_replog_store_cum_locked(ngx_http_replog_sh_t *sh, uint64_t id)
{
    ngx_http_replog_entry_t  *e;

    e = ngx_http_replog_store_get_locked(sh, id);

    return e ? e->cum : 0;
}


/*
 * The index slots from id to the end of its chunk, n of them, for a reader
 * walking the log in order; NULL where no chunk holds id.
 */

ngx_http_replog_entry_t **
ngx_http_replog_store_slots_locked(ngx_http_replog_sh_t *sh, uint64_t id,
    ngx_uint_t *n)
{
    uint64_t  k;

    if (id == 0) {
        return NULL;
    }

    k = id - 1;

    if (k / NGX_HTTP_REPLOG_CHUNK >= sh->dir_cap
        || sh->dir[k / NGX_HTTP_REPLOG_CHUNK] == NULL)
    {
        return NULL;
    }

    *n = NGX_HTTP_REPLOG_CHUNK - k % NGX_HTTP_REPLOG_CHUNK;

    return &sh->dir[k / NGX_HTTP_REPLOG_CHUNK][k % NGX_HTTP_REPLOG_CHUNK];
}


/*
 * Finds the index slot of an id, growing the directory and allocating the
 * chunk as needed.  Nothing is changed when memory runs out.
 */

static ngx_int_t
ngx_http_replog_store_slot_locked(ngx_http_replog_zone_t *zone, uint64_t id,
    ngx_http_replog_entry_t ***slot)
{
    uint64_t                    k, c;
    ngx_uint_t                  cap;
    ngx_http_replog_sh_t       *sh;
    ngx_http_replog_entry_t  ***dir, **chunk;

    sh = zone->sh;
    k = id - 1;
    c = k / NGX_HTTP_REPLOG_CHUNK;

    if (c >= sh->dir_cap) {
        cap = sh->dir_cap ? sh->dir_cap : 64;

        while (cap <= c) {
            cap *= 2;
        }

        dir = ngx_slab_calloc_locked(zone->shpool, cap * sizeof(void *));
        if (dir == NULL) {
            return NGX_HTTP_REPLOG_FULL;
        }

        if (sh->dir) {
            ngx_memcpy(dir, sh->dir, sh->dir_cap * sizeof(void *));
            ngx_slab_free_locked(zone->shpool, sh->dir);
        }

        sh->dir = dir;
        sh->dir_cap = cap;
    }

    chunk = sh->dir[c];

    if (chunk == NULL) {
        chunk = ngx_slab_calloc_locked(zone->shpool,
                                       NGX_HTTP_REPLOG_CHUNK * sizeof(void *));
        if (chunk == NULL) {
            return NGX_HTTP_REPLOG_FULL;
        }

        sh->dir[c] = chunk;
    }

    *slot = &chunk[k % NGX_HTTP_REPLOG_CHUNK];

    return NGX_OK;
}


static ngx_http_replog_entry_t *
ngx_http_replog_store_entry_locked(ngx_http_replog_zone_t *zone, uint64_t id,
    u_char *time, u_char *msg, size_t len)
{
    u_char                   *p;
    size_t                    n;
    ngx_http_replog_entry_t  *e;

    n = NGX_HTTP_REPLOG_ENTRY_FIXED + NGX_INT64_LEN + len;

    e = ngx_slab_alloc_locked(zone->shpool,
                              offsetof(ngx_http_replog_entry_t, data) + n);
    if (e == NULL) {
        return NULL;
    }

    e->id = id;
    e->cum = 0;

    p = ngx_cpymem(e->data, ",{\"message\":", sizeof(",{\"message\":") - 1);

    e->msg = p - e->data;
    e->msg_len = len;

    p = ngx_cpymem(p, msg, len);
    p = ngx_sprintf(p, ",\"meta\":{\"message_id\":%uL,\"registered_at\":\"",
                    id);
    p = ngx_cpymem(p, time, NGX_HTTP_REPLOG_TIME_LEN);
    *p++ = '"';

    e->len = p - e->data;

    return e;
}


/*
 * An entry replayed from the durable log, bytes as they were stored: the
 * log is filled in id order, so the prefix moves with each.
 */

ngx_int_t
ngx_http_replog_store_restore_locked(ngx_http_replog_zone_t *zone,
    uint64_t id, const u_char *data, size_t len, uint32_t msg,
    uint32_t msg_len)
{
    ngx_http_replog_sh_t      *sh;
    ngx_http_replog_entry_t   *e, **slot;

    sh = zone->sh;

    if (ngx_http_replog_store_slot_locked(zone, id, &slot) != NGX_OK) {
        return NGX_HTTP_REPLOG_FULL;
    }

    e = ngx_slab_alloc_locked(zone->shpool,
                              offsetof(ngx_http_replog_entry_t, data) + len);
    if (e == NULL) {
        return NGX_HTTP_REPLOG_FULL;
    }

    e->id = id;
    e->len = len;
    e->msg = msg;
    e->msg_len = msg_len;
    ngx_memcpy(e->data, data, len);

    *slot = e;
    sh->max_id = id;
    sh->appended++;
    (void) ngx_http_replog_store_advance_locked(sh);

    return NGX_OK;
}


/* the durable log's marks, copied into a resized zone */

void
ngx_http_replog_store_log_moved(ngx_http_replog_zone_t *zone,
    ngx_http_replog_zone_t *ozone)
{
    ngx_http_replog_log_sh_t  *ls;

    if (ozone->sh->log == NULL) {
        return;
    }

    ls = ngx_slab_alloc(zone->shpool, sizeof(ngx_http_replog_log_sh_t));
    if (ls == NULL) {
        return;
    }

    ngx_memcpy(ls, ozone->sh->log, sizeof(ngx_http_replog_log_sh_t));
    ls->claim = 0;
    zone->sh->log = ls;
}


/* moves the contiguous prefix over the entries that follow it */

static ngx_uint_t
ngx_http_replog_store_advance_locked(ngx_http_replog_sh_t *sh)
{
    ngx_uint_t                n;
    ngx_http_replog_entry_t  *e;

    for (n = 0; /* void */; n++) {
        e = ngx_http_replog_store_get_locked(sh, sh->last_id + 1);
        if (e == NULL) {
            return n;
        }

        /* the first entry of a list goes without its comma */
        sh->bytes += (sh->last_id == 0) ? e->len - 1 : e->len;
        e->cum = sh->bytes;
        sh->last_id++;
    }
}


ngx_int_t
ngx_http_replog_store_append(ngx_http_replog_zone_t *zone, u_char *msg,
    size_t len, ngx_http_replog_appended_t *out)
{
    uint64_t                   id;
    int64_t                    usec;
    ngx_int_t                  rc;
    u_char                     time[NGX_HTTP_REPLOG_TIME_LEN];
    ngx_http_replog_sh_t      *sh;
    ngx_http_replog_entry_t   *e, **slot;

    sh = zone->sh;

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (sh->moved) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_HTTP_REPLOG_MOVED;
    }

    id = sh->last_id + 1;

    rc = ngx_http_replog_store_slot_locked(zone, id, &slot);
    if (rc != NGX_OK) {
        goto full;
    }

    if (*slot) {
        /*
         * held past a gap and not yet in the prefix: the entry of this
         * epoch is kept (and counted once), the message takes the next id
         */
        sh->pending -= ngx_http_replog_store_advance_locked(sh);

        id = sh->last_id + 1;

        rc = ngx_http_replog_store_slot_locked(zone, id, &slot);
        if (rc != NGX_OK) {
            goto full;
        }
    }

    /* taken under the lock: registered_at never goes back as ids grow */
    usec = ngx_http_replog_now_usec();
    ngx_http_replog_format_time(time, usec);

    e = ngx_http_replog_store_entry_locked(zone, id, time, msg, len);
    if (e == NULL) {
        goto full;
    }

    *slot = e;

    if (id > sh->max_id) {
        /* entries held past a gap may already be above it */
        sh->max_id = id;
    }

    sh->appended++;
    sh->pending++;
    sh->pending -= ngx_http_replog_store_advance_locked(sh);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    out->id = id;
    out->usec = usec;

    /* durable log hook: the writer takes it */
    ngx_http_replog_log_kick(zone);

    return NGX_OK;

full:

    sh->rejected_full++;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return NGX_HTTP_REPLOG_FULL;
}


/*
 * Applies a batch on a secondary: entries already held are ignored, those
 * past a gap wait (at most max_pending past the prefix), the prefix moves
 * over what is contiguous.  A batch of another epoch is refused whole,
 * unless this log is still empty: then it takes that epoch.
 */

ngx_int_t
ngx_http_replog_store_apply(ngx_http_replog_zone_t *zone, uint64_t epoch,
    ngx_http_replog_batch_entry_t *entries, ngx_uint_t n,
    ngx_uint_t max_pending, uint64_t *acked_id)
{
    ngx_int_t                  rc;
    ngx_uint_t                 i;
    ngx_http_replog_sh_t      *sh;
    ngx_http_replog_entry_t   *e, **slot;

    sh = zone->sh;
    rc = NGX_OK;

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (sh->moved) {
        *acked_id = sh->last_id;
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_HTTP_REPLOG_MOVED;
    }

    if (sh->epoch != epoch) {
        if (sh->max_id != 0 || n == 0) {
            *acked_id = sh->last_id;
            ngx_shmtx_unlock(&zone->shpool->mutex);
            return NGX_HTTP_REPLOG_EPOCH;
        }

        sh->epoch = epoch;
    }

    for (i = 0; i < n; i++) {

        if (entries[i].id <= sh->last_id
            || entries[i].id - sh->last_id > max_pending)
        {
            continue;
        }

        rc = ngx_http_replog_store_slot_locked(zone, entries[i].id, &slot);
        if (rc != NGX_OK) {
            break;
        }

        if (*slot) {
            continue;
        }

        e = ngx_http_replog_store_entry_locked(zone, entries[i].id,
                                               entries[i].time,
                                               entries[i].msg.data,
                                               entries[i].msg.len);
        if (e == NULL) {
            rc = NGX_HTTP_REPLOG_FULL;
            break;
        }

        *slot = e;
        sh->pending++;
        sh->appended++;

        if (entries[i].id > sh->max_id) {
            sh->max_id = entries[i].id;
        }

        /* as it goes: the pending bound is about gaps, not batch length */
        sh->pending -= ngx_http_replog_store_advance_locked(sh);
    }

    *acked_id = sh->last_id;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    /* durable log hook: the writer takes it */
    ngx_http_replog_log_kick(zone);

    return rc;
}


/*
 * Discards a secondary's whole log (the operator's answer to CONFLICT): it
 * becomes empty, takes the next epoch it is sent and is caught up from 1.
 */

ngx_int_t
ngx_http_replog_store_reset(ngx_http_replog_zone_t *zone)
{
    uint64_t                  id;
    ngx_uint_t                c;
    ngx_http_replog_sh_t     *sh;
    ngx_http_replog_entry_t  *e;

    sh = zone->sh;

    ngx_shmtx_lock(&zone->shpool->mutex);

    /* copied into a resized zone: a reset here would reset nothing */
    if (sh->moved) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_HTTP_REPLOG_MOVED;
    }

    for (id = 1; id <= sh->max_id; id++) {
        e = ngx_http_replog_store_get_locked(sh, id);

        if (e) {
            ngx_slab_free_locked(zone->shpool, e);
        }
    }

    for (c = 0; c < sh->dir_cap; c++) {
        if (sh->dir[c]) {
            ngx_slab_free_locked(zone->shpool, sh->dir[c]);
        }
    }

    if (sh->dir) {
        ngx_slab_free_locked(zone->shpool, sh->dir);
    }

    sh->dir = NULL;
    sh->dir_cap = 0;
    sh->epoch = 0;
    sh->incarnation = ngx_http_replog_new_epoch();
    sh->last_id = 0;
    sh->max_id = 0;
    sh->bytes = 0;
    sh->pending = 0;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    /* durable log hook: the segments go too, durably */
    ngx_http_replog_log_reset(zone);

    return NGX_OK;
}


u_char *
ngx_http_replog_format_time(u_char *p, int64_t usec)
{
    ngx_tm_t  tm;

    ngx_gmtime((time_t) (usec / 1000000), &tm);

    return ngx_sprintf(p, "%4d-%02d-%02dT%02d:%02d:%02d.%06dZ",
                       tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                       tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec,
                       (int) (usec % 1000000));
}


u_char *
ngx_http_replog_format_epoch(u_char *p, uint64_t epoch)
{
    return ngx_sprintf(p, "%016xL", epoch);
}
