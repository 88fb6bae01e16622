
/*
 * Copyright (C) replog authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_http_replog_store.h"
#include "ngx_http_replog_json.h"


/* ids a resizing reload copies per round trip of the old zone's lock */
#define NGX_HTTP_REPLOG_COPY_CHUNK    4096


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
static ngx_int_t ngx_http_replog_store_copy_locked(
    ngx_http_replog_zone_t *zone, ngx_http_replog_sh_t *osh, uint64_t from,
    uint64_t to, uint64_t *stale);
static ngx_int_t ngx_http_replog_store_copy_index_locked(
    ngx_http_replog_zone_t *zone, ngx_http_replog_sh_t *osh);
static void ngx_http_replog_store_free_locked(ngx_http_replog_zone_t *zone);
static ngx_http_replog_entry_t *ngx_http_replog_store_get_locked(
    ngx_http_replog_sh_t *sh, uint64_t id);
static ngx_uint_t ngx_http_replog_store_drop_locked(
    ngx_http_replog_zone_t *zone, ngx_uint_t full);
static void ngx_http_replog_store_empty_locked(ngx_http_replog_zone_t *zone);
static void ngx_http_replog_store_restart_locked(ngx_http_replog_zone_t *zone,
    uint64_t first);
static ngx_int_t ngx_http_replog_store_cum_locked(ngx_http_replog_sh_t *sh,
    uint64_t id, uint64_t *cum);
static void ngx_http_replog_store_log_moved(ngx_http_replog_zone_t *zone,
    ngx_http_replog_zone_t *ozone);
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
        return ngx_http_replog_log_reload(zone, ozone);
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
        if (ngx_http_replog_log_reload(zone, ozone) != NGX_OK) {
            return NGX_ERROR;
        }

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
    uint64_t                   id, from, stale, incarnation;
    ngx_int_t                  rc;
    ngx_pool_cleanup_t        *cln, *ocln;
    ngx_http_replog_sh_t      *sh, *osh;
    ngx_http_replog_move_t    *mv;
    ngx_http_replog_entry_t   *e, *ne;

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

    /*
     * a chunk of ids per round trip of the old zone's lock, so its
     * workers keep appending meanwhile; the last round trip copies what
     * came since (or all again if the log was reset) and the rest
     */

    ngx_http_replog_store_lock(ozone);
    incarnation = osh->incarnation;
    rc = ngx_http_replog_store_copy_index_locked(zone, osh);
    ngx_http_replog_store_unlock(ozone);

    if (rc != NGX_OK) {
        goto failed;
    }

    stale = (uint64_t) -1;

    for (from = 1; /* void */; from += NGX_HTTP_REPLOG_COPY_CHUNK) {
        ngx_http_replog_store_lock(ozone);

        if (osh->incarnation != incarnation || from > osh->max_id) {
            break;
        }

        rc = ngx_http_replog_store_copy_locked(zone, osh, from,
                 ngx_min(from + NGX_HTTP_REPLOG_COPY_CHUNK - 1, osh->max_id),
                 &stale);

        ngx_http_replog_store_unlock(ozone);

        if (rc != NGX_OK) {
            goto failed;
        }
    }

    /* the old zone's lock is held from here to the end of the copy */

    if (osh->incarnation != incarnation) {
        ngx_http_replog_store_free_locked(zone);
        stale = (uint64_t) -1;
    }

    /* ids held past a gap may have come below the chunks meanwhile */
    rc = ngx_http_replog_store_copy_locked(zone, osh, 1, osh->max_id, &stale);

    /* entries copied while past the prefix: their list bytes since */
    for (id = stale; rc == NGX_OK && id <= osh->last_id; id++) {
        e = ngx_http_replog_store_get_locked(osh, id);
        ne = ngx_http_replog_store_get_locked(sh, id);

        if (e && ne) {
            ne->cum = e->cum;
        }
    }

    if (rc == NGX_OK) {
        ngx_memcpy(sh->secondaries, osh->secondaries,
                   sizeof(osh->secondaries));

        sh->epoch = osh->epoch;
        sh->incarnation = osh->incarnation;
        sh->last_id = osh->last_id;
        sh->max_id = osh->max_id;
        sh->bytes = osh->bytes;
        sh->log_first = osh->log_first;
        sh->log_cum = osh->log_cum;
        sh->evicted += osh->evicted;

        /* what the old zone evicted before it was copied: files only */
        (void) ngx_http_replog_store_copy_index_locked(zone, osh);

        while (sh->first_id < osh->first_id
               && ngx_http_replog_store_evict_locked(zone,
                                                     osh->log->written_id))
        {
            /* void */
        }

        sh->pending = osh->pending;
        sh->appended = osh->appended;
        sh->rejected_full = osh->rejected_full;
        sh->locks = osh->locks;
        sh->state = osh->state;
        sh->recovery_start = osh->recovery_start;
        sh->nsecondaries = osh->nsecondaries;
        sh->up = osh->up;
        sh->generation = osh->generation;
        sh->master_len = osh->master_len;
        ngx_memcpy(sh->master, osh->master, osh->master_len);
        sh->counters[NGX_HTTP_REPLOG_WC_TIMEOUTS] =
                                   osh->counters[NGX_HTTP_REPLOG_WC_TIMEOUTS];
        sh->counters[NGX_HTTP_REPLOG_CATCHUP] =
                                   osh->counters[NGX_HTTP_REPLOG_CATCHUP];

        /*
         * in the same locked section as the copy: from here the old
         * workers refuse writes (503) instead of appending where nobody
         * will ever read
         */
        osh->moved = 1;
    }

    ngx_http_replog_store_unlock(ozone);

    if (rc != NGX_OK) {
        goto failed;
    }

    /* durable log hook: the writer's marks move with the log */
    ngx_http_replog_store_log_moved(zone, ozone);

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "replog_zone \"%V\" resized: its %uL messages moved into "
                  "the new zone", &shm_zone->shm.name, sh->last_id);

    return NGX_OK;

failed:

    ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, 0,
                  "replog_zone \"%V\" is too small for the %uL messages "
                  "it holds: the reload is refused, the log is kept",
                  &shm_zone->shm.name, osh->max_id);

    return NGX_ERROR;
}


/*
 * Copies the entries of ids from..to that the new zone does not hold yet;
 * stale is lowered to the least id copied while past the old prefix.  The
 * new zone is nobody else's yet: its slab is used without its lock.
 */

static ngx_int_t
ngx_http_replog_store_copy_locked(ngx_http_replog_zone_t *zone,
    ngx_http_replog_sh_t *osh, uint64_t from, uint64_t to, uint64_t *stale)
{
    size_t                     size;
    uint64_t                   id;
    ngx_http_replog_entry_t   *e, *ne, **slot;

    for (id = from; id <= to; id++) {
        e = ngx_http_replog_store_get_locked(osh, id);

        /* below the new zone's first id: evicted there, in the files */
        if (e == NULL || id < zone->sh->first_id
            || ngx_http_replog_store_get_locked(zone->sh, id))
        {
            continue;
        }

        size = offsetof(ngx_http_replog_entry_t, data) + e->len;

        /* a smaller zone of a durable log: the oldest written ones go */

        for ( ;; ) {
            if (ngx_http_replog_store_slot_locked(zone, id, &slot) == NGX_OK
                && (ne = ngx_slab_alloc_locked(zone->shpool, size)) != NULL)
            {
                break;
            }

            if (osh->log == NULL
                || ngx_http_replog_store_copy_index_locked(zone, osh)
                   != NGX_OK
                || !ngx_http_replog_store_evict_locked(zone,
                                                 ngx_min(osh->log->written_id,
                                                         osh->last_id)))
            {
                return NGX_ERROR;
            }
        }

        ngx_memcpy(ne, e, size);
        *slot = ne;

        if (id > osh->last_id && id < *stale) {
            *stale = id;
        }
    }

    return NGX_OK;
}


/*
 * A durable log's sparse index, copied into a resized zone (the directory
 * made as large, the new zone's own marks as the old one's, so that it
 * evicts what the old one wrote); copied again as the writer notes more.
 * The old zone's lock is held.
 */

static ngx_int_t
ngx_http_replog_store_copy_index_locked(ngx_http_replog_zone_t *zone,
    ngx_http_replog_sh_t *osh)
{
    ngx_uint_t             n;
    ngx_http_replog_sh_t  *sh;

    sh = zone->sh;

    if (osh->log == NULL) {
        return NGX_OK;
    }

    if (sh->log == NULL) {
        sh->log = ngx_slab_calloc_locked(zone->shpool,
                                         sizeof(ngx_http_replog_log_sh_t));
        if (sh->log == NULL) {
            return NGX_ERROR;
        }

        sh->first_id = osh->first_id;
    }

    if (osh->dir_cap
        && ngx_http_replog_store_slot_locked(zone,
                         (uint64_t) osh->dir_cap * NGX_HTTP_REPLOG_CHUNK, NULL)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    n = ngx_min(sh->dir_cap, osh->dir_cap);

    if (n && osh->idx) {
        ngx_memcpy(sh->idx, osh->idx, n * sizeof(ngx_http_replog_idx_t));
    }

    sh->log->written_id = osh->log->written_id;

    return NGX_OK;
}


/* frees every entry and the index, leaving an empty log */

static void
ngx_http_replog_store_free_locked(ngx_http_replog_zone_t *zone)
{
    ngx_uint_t             c, k;
    ngx_http_replog_sh_t  *sh;

    sh = zone->sh;

    for (c = 0; c < sh->dir_cap; c++) {
        if (sh->dir[c] == NULL) {
            continue;
        }

        for (k = 0; k < NGX_HTTP_REPLOG_CHUNK; k++) {
            if (sh->dir[c][k]) {
                ngx_slab_free_locked(zone->shpool, sh->dir[c][k]);
            }
        }

        ngx_slab_free_locked(zone->shpool, sh->dir[c]);
    }

    if (sh->dir) {
        ngx_slab_free_locked(zone->shpool, sh->dir);
    }

    if (sh->idx) {
        ngx_slab_free_locked(zone->shpool, sh->idx);
    }

    sh->dir = NULL;
    sh->idx = NULL;
    sh->dir_cap = 0;
    sh->first_id = 0;
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

        ngx_http_replog_store_lock(ozone);
        ozone->sh->moved = 0;
        ngx_http_replog_store_unlock(ozone);

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


/*
 * The one way into the zone's lock: it counts its round trips
 * (replog_zone_locks_total), so what a message costs can be measured.
 */

void
ngx_http_replog_store_lock(ngx_http_replog_zone_t *zone)
{
    ngx_shmtx_lock(&zone->shpool->mutex);
    zone->sh->locks++;
}


void
ngx_http_replog_store_unlock(ngx_http_replog_zone_t *zone)
{
    ngx_shmtx_unlock(&zone->shpool->mutex);
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


/*
 * The index slots from id to the end of its chunk (*n of them), NULL when
 * that chunk does not exist: the durable log's writer copies runs of them
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


static ngx_http_replog_entry_t *
ngx_http_replog_store_get_locked(ngx_http_replog_sh_t *sh, uint64_t id)
{
    ngx_uint_t                 n;
    ngx_http_replog_entry_t  **slot;

    slot = ngx_http_replog_store_slots_locked(sh, id, &n);

    return slot ? *slot : NULL;
}


/*
 * The list bytes of ids 1..id.  NGX_DECLINED: id was evicted and is inside
 * its chunk: *cum is the chunk's base, the files tell the rest.
 */

static ngx_int_t
ngx_http_replog_store_cum_locked(ngx_http_replog_sh_t *sh, uint64_t id,
    uint64_t *cum)
{
    uint64_t                  c;
    ngx_http_replog_entry_t  *e;

    *cum = 0;

    if (id == 0) {
        return NGX_OK;
    }

    if (id + 1 == sh->log_first) {
        *cum = sh->log_cum;
        return NGX_OK;
    }

    if (id == sh->last_id) {
        *cum = sh->bytes;
        return NGX_OK;
    }

    if (id >= sh->first_id) {
        e = ngx_http_replog_store_get_locked(sh, id);
        *cum = e ? e->cum : 0;
        return NGX_OK;
    }

    c = (id - 1) / NGX_HTTP_REPLOG_CHUNK;

    if (id % NGX_HTTP_REPLOG_CHUNK) {
        /* the chunk of K: its reads start at K (log_read.c) */
        *cum = (c * NGX_HTTP_REPLOG_CHUNK + 1 < sh->log_first)
               ? sh->log_cum : sh->idx[c].cum;
        return NGX_DECLINED;
    }

    /* the end of an evicted chunk: the base of the one after it */

    if (id + 1 < sh->first_id) {
        *cum = (id + 1 < sh->log_first) ? sh->log_cum : sh->idx[c + 1].cum;
        return NGX_OK;
    }

    e = ngx_http_replog_store_get_locked(sh, id + 1);
    *cum = e ? e->cum - e->len : 0;

    return NGX_OK;
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
    ngx_http_replog_idx_t      *idx;
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

        /* path=: the sparse index, one entry per chunk, grows alongside */
        if (sh->log) {
            idx = ngx_slab_calloc_locked(zone->shpool,
                                         cap * sizeof(ngx_http_replog_idx_t));
            if (idx == NULL) {
                ngx_slab_free_locked(zone->shpool, dir);
                return NGX_HTTP_REPLOG_FULL;
            }

            if (sh->idx) {
                ngx_memcpy(idx, sh->idx,
                           sh->dir_cap * sizeof(ngx_http_replog_idx_t));
                ngx_slab_free_locked(zone->shpool, sh->idx);
            }

            sh->idx = idx;
        }

        if (sh->dir) {
            ngx_memcpy(dir, sh->dir, sh->dir_cap * sizeof(void *));
            ngx_slab_free_locked(zone->shpool, sh->dir);
        }

        sh->dir = dir;
        sh->dir_cap = cap;
    }

    if (slot == NULL) {
        return NGX_OK;
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

    n = NGX_HTTP_REPLOG_JSON_ENTRY_LEN(len);

    e = ngx_slab_alloc_locked(zone->shpool,
                              offsetof(ngx_http_replog_entry_t, data) + n);
    if (e == NULL) {
        return NULL;
    }

    e->id = id;
    e->cum = 0;
    e->msg = NGX_HTTP_REPLOG_JSON_ENTRY_MSG;
    e->msg_len = len;

    p = ngx_http_replog_json_entry(e->data, msg, len, id, time);

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

    /* what was replayed before is in the files: it makes room */

    for ( ;; ) {
        if (ngx_http_replog_store_slot_locked(zone, id, &slot) == NGX_OK) {
            e = ngx_slab_alloc_locked(zone->shpool,
                                   offsetof(ngx_http_replog_entry_t, data)
                                   + len);
            if (e) {
                break;
            }
        }

        if (!ngx_http_replog_store_evict_locked(zone, sh->last_id)) {
            return NGX_HTTP_REPLOG_FULL;
        }
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

static void
ngx_http_replog_store_log_moved(ngx_http_replog_zone_t *zone,
    ngx_http_replog_zone_t *ozone)
{
    ngx_http_replog_log_sh_t  *ls;

    if (ozone->sh->log == NULL) {
        return;
    }

    ls = zone->sh->log;

    if (ls == NULL) {
        ls = ngx_slab_alloc(zone->shpool, sizeof(ngx_http_replog_log_sh_t));
        if (ls == NULL) {
            return;
        }
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


/*
 * Appends a message; with peers, the registry is copied in the same look,
 * for the links to push it and the answer to count its holders.
 */

ngx_int_t
ngx_http_replog_store_append(ngx_http_replog_zone_t *zone, u_char *msg,
    size_t len, ngx_http_replog_appended_t *out,
    ngx_http_replog_peers_t *peers)
{
    uint64_t                   id;
    int64_t                    usec;
    ngx_int_t                  rc;
    u_char                     time[NGX_HTTP_REPLOG_TIME_LEN];
    ngx_http_replog_sh_t      *sh;
    ngx_http_replog_entry_t   *e, **slot;

    sh = zone->sh;

    ngx_http_replog_store_lock(zone);

    if (sh->moved) {
        ngx_http_replog_store_unlock(zone);
        return NGX_HTTP_REPLOG_MOVED;
    }

    id = sh->last_id + 1;

    /* taken under the lock: registered_at never goes back as ids grow */
    usec = ngx_http_replog_now_usec();
    ngx_http_replog_format_time(time, usec);

    /*
     * the slot is free: the prefix is always moved over what follows it,
     * so nothing is ever held at last_id + 1.  A full zone of a durable
     * log evicts its oldest written entries and tries again: only a
     * writer behind (or no path=) makes it a 507.
     */

    for ( ;; ) {
        rc = ngx_http_replog_store_slot_locked(zone, id, &slot);

        if (rc == NGX_OK) {
            e = ngx_http_replog_store_entry_locked(zone, id, time, msg, len);
            if (e) {
                break;
            }
        }

        if (sh->log == NULL
            ? !ngx_http_replog_store_drop_locked(zone, 1)
            : !ngx_http_replog_store_evict_locked(zone, sh->log->written_id))
        {
            goto full;
        }
    }

    *slot = e;

    if (id > sh->max_id) {
        /* entries held past a gap may already be above it */
        sh->max_id = id;
    }

    sh->appended++;
    sh->pending++;
    sh->pending -= ngx_http_replog_store_advance_locked(sh);

    /* in-memory retention by size= or age=: a chunk at most per append */
    (void) ngx_http_replog_store_drop_locked(zone, 0);

    if (peers) {
        ngx_http_replog_registry_peers_locked(zone, peers);
    }

    ngx_http_replog_store_unlock(zone);

    out->id = id;
    out->usec = usec;

    /* durable log hook: the writer takes it */
    ngx_http_replog_log_kick(zone);

    return NGX_OK;

full:

    sh->rejected_full++;

    ngx_http_replog_store_unlock(zone);

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
    uint64_t first_id, ngx_http_replog_batch_entry_t *entries, ngx_uint_t n,
    ngx_uint_t max_pending, ngx_str_t *master,
    ngx_http_replog_applied_t *out)
{
    ngx_int_t                  rc;
    ngx_uint_t                 i;
    ngx_http_replog_sh_t      *sh;
    ngx_http_replog_entry_t   *e, **slot;

    sh = zone->sh;
    rc = NGX_OK;
    out->restarted = 0;
    out->ended = 0;

    ngx_http_replog_store_lock(zone);

    if (sh->moved) {
        rc = NGX_HTTP_REPLOG_MOVED;
        goto done;
    }

    if (sh->epoch != epoch) {
        if (sh->max_id != 0 || n == 0) {
            rc = NGX_HTTP_REPLOG_EPOCH;
            goto done;
        }

        sh->epoch = epoch;
    }

    if (first_id > sh->last_id + 1) {
        /*
         * the master said its log starts at first_id (its retention
         * dropped what this log lacks): this log starts there too, a new
         * one; only this explicit field does it, never a gap
         */
        out->restarted = first_id;
        out->ended = sh->last_id;
        ngx_http_replog_store_restart_locked(zone, first_id);
    }

    for (i = 0; i < n; i++) {

        if (entries[i].id <= sh->last_id
            || entries[i].id - sh->last_id > max_pending)
        {
            continue;
        }

        for ( ;; ) {
            rc = ngx_http_replog_store_slot_locked(zone, entries[i].id,
                                                   &slot);
            e = NULL;

            if (rc == NGX_OK) {
                if (*slot) {
                    break;
                }

                e = ngx_http_replog_store_entry_locked(zone, entries[i].id,
                                                       entries[i].time,
                                                       entries[i].msg.data,
                                                       entries[i].msg.len);
                if (e) {
                    break;
                }
            }

            /* durable log: written entries leave the zone for room */
            if (sh->log == NULL
                ? !ngx_http_replog_store_drop_locked(zone, 1)
                : !ngx_http_replog_store_evict_locked(zone,
                                                      sh->log->written_id))
            {
                rc = NGX_HTTP_REPLOG_FULL;
                break;
            }
        }

        if (rc != NGX_OK) {
            break;
        }

        if (e == NULL) {
            /* held already */
            continue;
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

    (void) ngx_http_replog_store_drop_locked(zone, 0);

    /* where clients are sent to write: what the last batch applied said */
    if (rc == NGX_OK && master && master->len <= NGX_HTTP_REPLOG_HOST_LEN) {
        ngx_memcpy(sh->master, master->data, master->len);
        sh->master_len = master->len;
    }

done:

    out->acked_id = sh->last_id;
    out->epoch = sh->epoch;
    out->incarnation = sh->incarnation;

    ngx_http_replog_store_unlock(zone);

    /* durable log hook: the writer takes it */
    ngx_http_replog_log_kick(zone);

    return rc;
}


/* the master's URL as the last applied batch gave it; buf holds HOST_LEN */

size_t
ngx_http_replog_store_master(ngx_http_replog_zone_t *zone, u_char *buf)
{
    size_t  len;

    ngx_http_replog_store_lock(zone);

    len = zone->sh->master_len;
    ngx_memcpy(buf, zone->sh->master, len);

    ngx_http_replog_store_unlock(zone);

    return len;
}


/*
 * Opens a list: ids since+1 up to limit of them, of the contiguous prefix
 * as it is now (what is appended while it streams is not included), its
 * length without the holders' suffixes, and the registry in the same look.
 */

ngx_int_t
ngx_http_replog_store_list(ngx_http_replog_zone_t *zone, uint64_t since,
    uint64_t limit, ngx_http_replog_cursor_t *cur, off_t *bytes,
    uint64_t *epoch, ngx_http_replog_peers_t *peers, uint64_t *measure)
{
    uint64_t               lo, hi;
    ngx_http_replog_sh_t  *sh;

    sh = zone->sh;

    ngx_memzero(cur, sizeof(ngx_http_replog_cursor_t));

    ngx_http_replog_store_lock(zone);

    if (since == NGX_HTTP_REPLOG_SINCE_FIRST) {
        since = sh->log_first ? sh->log_first - 1 : 0;

    } else if (since + 1 < sh->log_first) {
        /* dropped by retention: the caller answers 410 with K */
        cur->next = sh->log_first;
        cur->last = sh->last_id;
        *epoch = sh->epoch;
        ngx_http_replog_store_unlock(zone);
        *bytes = 0;
        return NGX_HTTP_REPLOG_GONE;
    }

    cur->next = since + 1;
    cur->last = sh->last_id;
    cur->incarnation = sh->incarnation;
    *epoch = sh->epoch;

    if (limit && since + limit < cur->last) {
        cur->last = since + limit;
    }

    *bytes = 0;
    measure[0] = 0;
    measure[1] = 0;

    /*
     * the ends of the list evicted inside their chunks: the caller adds
     * what the files measure (ngx_http_replog_reader_measure)
     */

    if (cur->next <= cur->last) {
        if (ngx_http_replog_store_cum_locked(sh, cur->next - 1, &lo)
            == NGX_DECLINED)
        {
            measure[0] = cur->next - 1;
        }

        if (ngx_http_replog_store_cum_locked(sh, cur->last, &hi)
            == NGX_DECLINED)
        {
            measure[1] = cur->last;
        }

        *bytes = hi - lo - (cur->next > 1 ? 1 : 0);
    }

    if (peers) {
        ngx_http_replog_registry_peers_locked(zone, peers);
    }

    ngx_http_replog_store_unlock(zone);

    return NGX_OK;
}


/*
 * The one reader of entries: copies them from the cursor in list form
 * into *pos..end, each followed by the suffix of its run (copied in whole
 * words: run->padded bytes must fit), at most max of them (0: any), and
 * moves the cursor and *pos on.  When not even the next one fits, *need
 * is the room it takes and nothing is copied.  With epoch,
 * the log's epoch is read in the same look.  NGX_DECLINED: the log read
 * was replaced (a reset); NGX_ERROR: an id of the prefix is missing.
 */

ngx_int_t
ngx_http_replog_store_read(ngx_http_replog_zone_t *zone,
    ngx_http_replog_cursor_t *cur, u_char **pos, u_char *end, ngx_uint_t max,
    size_t *need, uint64_t *epoch)
{
    u_char                    *p;
    uint64_t                   id, k;
    ngx_int_t                  rc;
    ngx_uint_t                 n, avail;
    ngx_http_replog_sh_t      *sh;
    ngx_http_replog_entry_t   *e, **slot;

    sh = zone->sh;
    p = *pos;
    *need = 0;
    rc = NGX_OK;
    slot = NULL;
    avail = 0;
    n = 0;

    ngx_http_replog_store_lock(zone);

    if (cur->incarnation && sh->incarnation != cur->incarnation) {
        ngx_http_replog_store_unlock(zone);
        return NGX_DECLINED;
    }

    if (epoch) {
        *epoch = sh->epoch;
    }

    for ( ;; ) {

        if (max && n == max) {
            break;
        }

        if (cur->ring) {
            if (cur->n == 0) {
                break;
            }

            id = cur->ring[cur->head];
            e = ngx_http_replog_store_get_locked(sh, id);

            if (e == NULL && id < sh->first_id) {
                rc = NGX_HTTP_REPLOG_FILES;
                break;
            }

        } else {
            id = cur->next;

            if (id > cur->last) {
                break;
            }

            /* evicted: read from the files (log_read.c) */
            if (id < sh->first_id) {
                if (n == 0) {
                    rc = NGX_HTTP_REPLOG_FILES;
                }

                break;
            }

            /* walking the index a chunk at a time */

            if (avail == 0) {
                k = id - 1;

                if (k / NGX_HTTP_REPLOG_CHUNK < sh->dir_cap
                    && sh->dir[k / NGX_HTTP_REPLOG_CHUNK])
                {
                    slot = &sh->dir[k / NGX_HTTP_REPLOG_CHUNK]
                                   [k % NGX_HTTP_REPLOG_CHUNK];
                    avail = NGX_HTTP_REPLOG_CHUNK - k % NGX_HTTP_REPLOG_CHUNK;

                } else {
                    slot = NULL;
                }
            }

            e = slot ? *slot : NULL;
        }

        if (e == NULL) {
            /* cannot happen: the prefix of one log is never taken back */
            rc = NGX_ERROR;
            break;
        }

        if (!ngx_http_replog_store_put(cur, e->data, e->len, &p, end,
                                       n == 0 ? need : NULL))
        {
            break;
        }

        n++;

        if (cur->ring) {
            cur->head = (cur->head + 1) % cur->ring_size;
            cur->n--;

        } else {
            cur->next++;
            slot++;
            avail--;
        }
    }

    ngx_http_replog_store_unlock(zone);

    *pos = p;

    return rc;
}


/*
 * Copies one entry of id cur's next (ring or range) in list form to *pos,
 * followed by the suffix of its run, when it fits before end: 1.  When it
 * does not, 0, with *need (if given) the room it takes.  The cursor's
 * place is moved by its caller.
 */

ngx_uint_t
ngx_http_replog_store_put(ngx_http_replog_cursor_t *cur, const u_char *data,
    size_t len, u_char **pos, u_char *end, size_t *need)
{
    u_char                 *p;
    size_t                  skip, w;
    uint64_t                id;
    ngx_http_replog_run_t  *run;

    id = cur->ring ? cur->ring[cur->head] : cur->next;

    for (run = cur->run; id > run->hi; run++) { /* void */ }

    cur->run = run;

    /* the first entry of a list goes without its comma */
    skip = cur->tail ? 0 : 1;
    len -= skip;
    p = *pos;

    if ((size_t) (end - p) < len + run->padded) {
        if (need) {
            *need = len + run->padded;
        }

        return 0;
    }

    p = ngx_cpymem(p, data + skip, len);

    /* whole words, the padding overwritten by what comes next */
    for (w = 0; w < run->padded; w += 8) {
        ngx_memcpy(p + w, run->suffix.data + w, 8);
    }

    *pos = p + run->suffix.len;
    cur->tail = 1;

    return 1;
}


/*
 * Evicts the oldest chunk of entries of a durable log when all its ids are
 * written (up to written, which the writer keeps within the prefix):
 * their slabs and the chunk's array are freed, the sparse index keeps
 * where they are.  0: nothing could go.
 */

ngx_uint_t
ngx_http_replog_store_evict_locked(ngx_http_replog_zone_t *zone,
    uint64_t written)
{
    uint64_t                   c, hi;
    ngx_uint_t                 k, n;
    ngx_http_replog_sh_t      *sh;
    ngx_http_replog_entry_t  **chunk;

    sh = zone->sh;

    c = sh->first_id ? (sh->first_id - 1) / NGX_HTTP_REPLOG_CHUNK : 0;
    hi = (c + 1) * NGX_HTTP_REPLOG_CHUNK;

    /* the chunk of K is found from K's segment, see log_read.c */
    if (sh->log == NULL || sh->idx == NULL || c >= sh->dir_cap
        || hi > written
        || (sh->idx[c].seg == 0
            && c * NGX_HTTP_REPLOG_CHUNK + 1 >= sh->log_first))
    {
        return 0;
    }

    chunk = sh->dir[c];
    n = 0;

    if (chunk) {
        for (k = 0; k < NGX_HTTP_REPLOG_CHUNK; k++) {
            if (chunk[k]) {
                ngx_slab_free_locked(zone->shpool, chunk[k]);
                n++;
            }
        }

        ngx_slab_free_locked(zone->shpool, chunk);
        sh->dir[c] = NULL;
    }

    sh->first_id = hi + 1;
    sh->evicted += n;

    return 1;
}


/*
 * The log starts at id first (retention dropped the ids before it, whole
 * segments), cum the list bytes before it.  At replay the zone is empty
 * and the ids before it are taken as the prefix; ids before it the zone
 * still holds leave with their chunk.
 */

void
ngx_http_replog_store_start_locked(ngx_http_replog_sh_t *sh, uint64_t first,
    uint64_t cum)
{
    if (first <= sh->log_first) {
        return;
    }

    if (sh->last_id == 0 && sh->max_id == 0) {
        /* the replay, into an empty zone */
        sh->last_id = first - 1;
        sh->max_id = first - 1;
        sh->bytes = cum;
        sh->first_id = first;
    }

    sh->log_first = first;
    sh->log_cum = cum;
}


/*
 * In-memory retention (replog_retention of a zone without path=): the
 * oldest chunk of ids is dropped, for room when full, else when the log's
 * list bytes exceed size= or the chunk's newest entry (its registered_at)
 * is older than age=.  The newest chunk always stays.  The log then
 * starts after the chunk.  0: nothing dropped.
 */

static ngx_uint_t
ngx_http_replog_store_drop_locked(ngx_http_replog_zone_t *zone,
    ngx_uint_t full)
{
    u_char                     cut[NGX_HTTP_REPLOG_TIME_LEN];
    uint64_t                   c, hi, first;
    ngx_uint_t                 k, over;
    ngx_http_replog_sh_t      *sh;
    ngx_http_replog_entry_t   *e, **chunk;

    sh = zone->sh;

    if (sh->log || (zone->retain_size == 0 && zone->retain_age == 0)) {
        return 0;
    }

    first = sh->log_first ? sh->log_first : 1;
    c = (first - 1) / NGX_HTTP_REPLOG_CHUNK;
    hi = (c + 1) * NGX_HTTP_REPLOG_CHUNK;

    if (hi >= sh->last_id || c >= sh->dir_cap || sh->dir[c] == NULL) {
        return 0;
    }

    chunk = sh->dir[c];
    e = chunk[NGX_HTTP_REPLOG_CHUNK - 1];

    if (e == NULL) {
        return 0;
    }

    if (!full) {
        over = (zone->retain_size
                && sh->bytes - sh->log_cum > (uint64_t) zone->retain_size);

        if (!over && zone->retain_age) {
            /* the same fixed UTC form: compared as text */
            ngx_http_replog_format_time(cut, ngx_http_replog_now_usec()
                                        - (int64_t) zone->retain_age
                                          * 1000000);
            over = ngx_memcmp(e->data + e->len - 1 - NGX_HTTP_REPLOG_TIME_LEN,
                              cut, NGX_HTTP_REPLOG_TIME_LEN) < 0;
        }

        if (!over) {
            return 0;
        }
    }

    sh->log_cum = e->cum;

    for (k = 0; k < NGX_HTTP_REPLOG_CHUNK; k++) {
        if (chunk[k]) {
            ngx_slab_free_locked(zone->shpool, chunk[k]);
        }
    }

    ngx_slab_free_locked(zone->shpool, chunk);
    sh->dir[c] = NULL;

    sh->log_first = hi + 1;
    sh->first_id = hi + 1;
    sh->evicted += hi + 1 - first;

    return 1;
}


/*
 * A secondary's log started again at first, empty: the master's log
 * starts there.  With path= the writer removes the segments (as for
 * /reset) and writes from first on.
 */

static void
ngx_http_replog_store_restart_locked(ngx_http_replog_zone_t *zone,
    uint64_t first)
{
    ngx_http_replog_sh_t      *sh;
    ngx_http_replog_log_sh_t  *ls;

    sh = zone->sh;

    ngx_http_replog_store_empty_locked(zone);
    ngx_http_replog_store_start_locked(sh, first, 0);

    ls = sh->log;

    if (ls) {
        ls->reset_gen++;
        ls->written_id = 0;
        ls->durable_id = 0;
    }
}


/* the zone's log emptied: a new one (a new incarnation) from id 1 */

static void
ngx_http_replog_store_empty_locked(ngx_http_replog_zone_t *zone)
{
    ngx_http_replog_sh_t  *sh;

    sh = zone->sh;

    ngx_http_replog_store_free_locked(zone);

    sh->incarnation = ngx_http_replog_new_epoch();
    sh->last_id = 0;
    sh->max_id = 0;
    sh->bytes = 0;
    sh->log_first = 0;
    sh->log_cum = 0;
    sh->pending = 0;
}


/* the log's first id, 1 for a whole log */

uint64_t
ngx_http_replog_store_first(ngx_http_replog_zone_t *zone)
{
    uint64_t  first;

    ngx_http_replog_store_lock(zone);
    first = zone->sh->log_first ? zone->sh->log_first : 1;
    ngx_http_replog_store_unlock(zone);

    return first;
}


/* the list bytes of ids 1..id; NGX_DECLINED: to be measured in files */

ngx_int_t
ngx_http_replog_store_cum(ngx_http_replog_zone_t *zone, uint64_t id,
    uint64_t *cum)
{
    ngx_int_t  rc;

    ngx_http_replog_store_lock(zone);
    rc = ngx_http_replog_store_cum_locked(zone->sh, id, cum);
    ngx_http_replog_store_unlock(zone);

    return rc;
}


/*
 * The writer (or the replay) frames the record of id at off in segment
 * seg: the first of a chunk is noted in the sparse index, with the list
 * bytes before it.
 */

void
ngx_http_replog_store_note_locked(ngx_http_replog_sh_t *sh, uint64_t id,
    uint64_t seg, uint64_t off)
{
    uint64_t                  c;
    ngx_http_replog_idx_t    *x;
    ngx_http_replog_entry_t  *e;

    if ((id - 1) % NGX_HTTP_REPLOG_CHUNK != 0 || sh->idx == NULL) {
        return;
    }

    c = (id - 1) / NGX_HTTP_REPLOG_CHUNK;
    e = ngx_http_replog_store_get_locked(sh, id);

    if (c >= sh->dir_cap || e == NULL) {
        return;
    }

    x = &sh->idx[c];
    x->seg = seg;
    x->off = off;
    x->cum = e->cum - (id == 1 ? e->len - 1 : e->len);
}


/*
 * The wake-up entry of a worker's process slot in the zone's table (made
 * by the first worker to ask): the entry a crashed predecessor in that
 * slot left, else a free one.  NULL when none is free, or with *full set
 * when the zone has no room for the table.
 */

ngx_http_replog_wake_slot_t *
ngx_http_replog_store_wake(ngx_http_replog_zone_t *zone, ngx_int_t slot,
    ngx_pid_t pid, ngx_uint_t *full)
{
    ngx_uint_t                    i;
    ngx_http_replog_sh_t         *sh;
    ngx_http_replog_wake_slot_t  *e, *free;

    sh = zone->sh;
    free = NULL;
    e = NULL;

    ngx_http_replog_store_lock(zone);

    if (sh->wake == NULL) {
        sh->wake = ngx_slab_calloc_locked(zone->shpool,
                                          sizeof(ngx_http_replog_wake_sh_t));
    }

    *full = (sh->wake == NULL);

    if (sh->wake) {
        for (i = 0; i < NGX_HTTP_REPLOG_WAKE_SLOTS; i++) {
            e = &sh->wake->slots[i];

            if (e->pid && e->slot == (ngx_atomic_uint_t) slot) {
                break;
            }

            if (e->pid == 0 && free == NULL) {
                free = e;
            }

            e = NULL;
        }

        if (e == NULL) {
            e = free;
        }

        if (e) {
            e->slot = slot;
            e->lowest = 0;
            e->minwc = 0;
            e->woken = 0;
            e->pid = pid;
        }
    }

    ngx_http_replog_store_unlock(zone);

    return e;
}


/*
 * Whether anyone took the zone's lock since it had been taken seen times:
 * nothing in the zone changes but under it.
 */

ngx_uint_t
ngx_http_replog_store_changed(ngx_http_replog_zone_t *zone,
    ngx_atomic_uint_t seen)
{
    return zone->sh->locks != seen;
}


/* a counter of the zone: an atomic word, moved without the lock */

void
ngx_http_replog_store_count(ngx_http_replog_zone_t *zone, ngx_uint_t k,
    ngx_atomic_int_t n)
{
    (void) ngx_atomic_fetch_add(&zone->sh->counters[k], n);
}


/*
 * Discards a secondary's whole log (the operator's answer to CONFLICT): it
 * becomes empty, takes the next epoch it is sent and is caught up from 1.
 */

ngx_int_t
ngx_http_replog_store_reset(ngx_http_replog_zone_t *zone)
{
    ngx_http_replog_sh_t  *sh;

    sh = zone->sh;

    ngx_http_replog_store_lock(zone);

    /* copied into a resized zone: a reset here would reset nothing */
    if (sh->moved) {
        ngx_http_replog_store_unlock(zone);
        return NGX_HTTP_REPLOG_MOVED;
    }

    ngx_http_replog_store_empty_locked(zone);
    sh->epoch = 0;

    ngx_http_replog_store_unlock(zone);

    /* durable log hook: the segments go too, durably */
    ngx_http_replog_log_reset(zone);

    return NGX_OK;
}
