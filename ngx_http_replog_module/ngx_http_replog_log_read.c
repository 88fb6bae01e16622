
/*
 * Copyright (C) replog authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include "ngx_http_replog_log_read.h"
#include "ngx_http_replog_log_format.h"
#if (NGX_THREADS)
#include <ngx_thread_pool.h>
#endif


static ngx_int_t ngx_http_replog_reader_post(ngx_http_replog_reader_t *rd,
    uint64_t from, uint64_t last, uint64_t incarnation);
static ngx_int_t ngx_http_replog_reader_start(ngx_http_replog_reader_t *rd);

static void ngx_http_replog_reader_cleanup(void *data);
#if (NGX_THREADS)
static void ngx_http_replog_reader_thread(void *data, ngx_log_t *log);
static ngx_uint_t ngx_http_replog_reader_dropped(
    ngx_http_replog_reader_t *rd);
static void ngx_http_replog_reader_done(ngx_event_t *ev);
#endif


/* a reader for one stream, its fd and window freed with the pool */

ngx_http_replog_reader_t *
ngx_http_replog_reader_create(ngx_pool_t *pool, ngx_http_replog_zone_t *zone,
    ngx_log_t *log)
{
#if (NGX_THREADS)
    ngx_thread_task_t         *task;
    ngx_pool_cleanup_t        *cln;
    ngx_http_replog_reader_t  *rd;

    if (zone->log == NULL || zone->log->tp == NULL) {
        return NULL;
    }

    rd = ngx_pcalloc(pool, sizeof(ngx_http_replog_reader_t));
    if (rd == NULL) {
        return NULL;
    }

    task = ngx_thread_task_alloc(pool, 0);
    if (task == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    /* this file's table of the checksum (a static of the format header) */
    rplog_crc32c_init();

    rd->fd = NGX_INVALID_FILE;
    rd->zone = zone;
    rd->log = log;

    cln->handler = ngx_http_replog_reader_cleanup;
    cln->data = rd;

    task->ctx = rd;
    task->handler = ngx_http_replog_reader_thread;
    task->event.handler = ngx_http_replog_reader_done;
    task->event.data = rd;
    task->event.log = log;
    rd->task = task;

    return rd;

#else

    return NULL;

#endif
}


/* the stream is over: its segment closed, its window kept for the next */

void
ngx_http_replog_reader_close(ngx_http_replog_reader_t *rd)
{
    if (rd->posted) {
        return;
    }

    if (rd->fd != NGX_INVALID_FILE) {
        ngx_close_file(rd->fd);
        rd->fd = NGX_INVALID_FILE;
    }

    rd->pos = NULL;
    rd->end = NULL;
    rd->seg = 0;
    rd->id = 0;
    rd->what = NULL;
}


static void
ngx_http_replog_reader_cleanup(void *data)
{
    ngx_http_replog_reader_t *rd = data;

    ngx_http_replog_reader_close(rd);

    if (rd->buf) {
        ngx_free(rd->buf);
        rd->buf = NULL;
    }
}


/*
 * The one read of a stream: from the zone, or, for ids it evicted, from
 * the window of the files this reader holds.  NGX_AGAIN: a read of the
 * files is posted, rd->handler is called when it is done.  NGX_ABORT on
 * damage, logged with the file and offset.  Else as store_read (the
 * files' window is used only for the ids the zone no longer holds).
 */

ngx_int_t
ngx_http_replog_read(ngx_http_replog_zone_t *zone,
    ngx_http_replog_reader_t *rd, ngx_http_replog_cursor_t *cur,
    u_char **pos, u_char *end, ngx_uint_t max, size_t *need,
    uint64_t *epoch)
{
    size_t      len;
    ngx_int_t   rc;
    ngx_uint_t  n;

    rc = ngx_http_replog_store_read(zone, cur, pos, end, max, need, epoch);

    if (rc != NGX_HTTP_REPLOG_FILES || cur->ring) {

        /*
         * in the zone now: the segment is closed, or a reader that stays
         * (a catch-up's) would hold a file retention drops, its space
         * with it; a later read of the files opens it again
         */

        if (rd && rd->fd != NGX_INVALID_FILE && !rd->posted) {
            ngx_close_file(rd->fd);
            rd->fd = NGX_INVALID_FILE;
        }

        return rc;
    }

    if (rd == NULL) {
        return NGX_ERROR;
    }

    if (rd->posted) {
        return NGX_AGAIN;
    }

    if (rd->what) {
        return ngx_http_replog_reader_failed(rd);
    }

    if (rd->pos == rd->end || rd->first != cur->next) {
        return ngx_http_replog_reader_post(rd, cur->next, cur->last,
                                           cur->incarnation);
    }

    /* the window's records are whole and checked: in list form */

    for (n = 0; rd->pos < rd->end && cur->next <= cur->last; n++) {

        if (max && n == max) {
            break;
        }

        len = rplog_get32(rd->pos);

        if (!ngx_http_replog_store_put(cur, rd->pos + RPLOG_REC_HEADER, len,
                                       pos, end, n == 0 ? need : NULL))
        {
            break;
        }

        rd->pos += RPLOG_REC_HEADER + len;
        rd->first++;
        cur->next++;
    }

    /* the next window is read while this one is sent */

    if (rd->pos == rd->end && cur->next <= cur->last) {
        rc = ngx_http_replog_reader_post(rd, cur->next, cur->last,
                                         cur->incarnation);

        if (rc == NGX_DECLINED || rc == NGX_ERROR || rc == NGX_ABORT) {
            return rc;
        }
    }

    return NGX_OK;
}


/*
 * Reads from id from to last (at most up to the zone's first id), from
 * where the last read ended or the start of the chunk of from.
 */

/*
 * The reader placed at the start of id's chunk, as the sparse index has
 * it; in the chunk of the log's first id K, at K, the first record of
 * K's segment (the chunk may start in a segment retention dropped).
 */

static ngx_int_t
ngx_http_replog_reader_place_locked(ngx_http_replog_reader_t *rd,
    uint64_t id)
{
    uint64_t                c;
    ngx_http_replog_sh_t   *sh;
    ngx_http_replog_idx_t  *x;

    sh = rd->zone->sh;
    c = (id - 1) / NGX_HTTP_REPLOG_CHUNK;

    if (c * NGX_HTTP_REPLOG_CHUNK + 1 < sh->log_first && id >= sh->log_first)
    {
        rd->seg = sh->log_first;
        rd->off = RPLOG_SEG_HEADER;
        rd->id = sh->log_first;
        return NGX_OK;
    }

    if (sh->idx == NULL || c >= sh->dir_cap || sh->idx[c].seg == 0) {
        return NGX_ERROR;
    }

    x = &sh->idx[c];
    rd->seg = x->seg;
    rd->off = x->off;
    rd->id = c * NGX_HTTP_REPLOG_CHUNK + 1;

    return NGX_OK;
}


static ngx_int_t
ngx_http_replog_reader_post(ngx_http_replog_reader_t *rd, uint64_t from,
    uint64_t last, uint64_t incarnation)
{
    ngx_http_replog_sh_t   *sh;

    sh = rd->zone->sh;

    ngx_http_replog_store_lock(rd->zone);

    if (incarnation && sh->incarnation != incarnation) {
        ngx_http_replog_store_unlock(rd->zone);
        return NGX_DECLINED;
    }

    if (from >= sh->first_id) {
        /* the zone holds it: no read (cannot happen, it only evicts) */
        ngx_http_replog_store_unlock(rd->zone);
        return NGX_OK;
    }

    last = ngx_min(last, sh->first_id - 1);

    /*
     * ids retention dropped meanwhile (from below log_first) are still
     * read from a segment this reader holds open; a segment it has to
     * open is gone, and the read is cut where the open fails
     */

    if ((rd->id != from || rd->seg == 0)
        && ngx_http_replog_reader_place_locked(rd, from) != NGX_OK)
    {
        ngx_http_replog_store_unlock(rd->zone);
        return NGX_ERROR;
    }

    ngx_http_replog_store_unlock(rd->zone);

    rd->want = from;
    rd->last = last;
    rd->measuring = 0;

    return ngx_http_replog_reader_start(rd);
}


/*
 * Measures the list bytes of the ids of id's chunk up to id (an evicted id
 * inside its chunk, where a list starts or ends): rd->skipped when done.
 */

ngx_int_t
ngx_http_replog_reader_measure(ngx_http_replog_reader_t *rd, uint64_t id)
{
    ngx_http_replog_store_lock(rd->zone);

    if (ngx_http_replog_reader_place_locked(rd, id) != NGX_OK) {
        ngx_http_replog_store_unlock(rd->zone);
        return NGX_ERROR;
    }

    ngx_http_replog_store_unlock(rd->zone);

    rd->want = id + 1;
    rd->last = id;
    rd->measuring = 1;

    return ngx_http_replog_reader_start(rd);
}


static ngx_int_t
ngx_http_replog_reader_start(ngx_http_replog_reader_t *rd)
{
#if (NGX_THREADS)
    /* the window, at the first read: most lists never need one */
    if (rd->buf == NULL) {
        rd->buf = ngx_alloc(NGX_HTTP_REPLOG_READ_WINDOW, rd->log);
        if (rd->buf == NULL) {
            return NGX_ERROR;
        }

        rd->size = NGX_HTTP_REPLOG_READ_WINDOW;
    }

    rd->pos = NULL;
    rd->end = NULL;
    rd->what = NULL;
    rd->err = 0;
    rd->skipped = 0;
    rd->bytes = 0;

    if (ngx_thread_task_post(rd->zone->log->tp, rd->task) != NGX_OK) {
        return NGX_ERROR;
    }

    rd->posted = 1;

    (void) ngx_atomic_fetch_add(&rd->zone->sh->file_reads, 1);

    return NGX_AGAIN;

#else

    return NGX_ERROR;

#endif
}


/* damage found by the last read: logged once, the stream is cut */

ngx_int_t
ngx_http_replog_reader_failed(ngx_http_replog_reader_t *rd)
{
    ngx_uint_t  level;

    /* a catch-up tried again finds the same damage: logged once */
    level = (rd->bad_seg == rd->logged_seg && rd->bad_off == rd->logged_off)
            ? NGX_LOG_INFO : NGX_LOG_ERR;

    rd->logged_seg = rd->bad_seg;
    rd->logged_off = rd->bad_off;

    ngx_log_error(level, rd->log, rd->err,
                  "replog_zone \"%V\": \"%V/%020uL" RPLOG_SEG_SUFFIX "\" at "
                  "offset %uL: %s at id %uL, the read is cut",
                  &rd->zone->name, &rd->zone->log->path, rd->bad_seg,
                  rd->bad_off, rd->what, rd->id);

    rd->what = NULL;
    rd->seg = 0;
    rd->id = 0;

    return NGX_ABORT;
}


#if (NGX_THREADS)

/*
 * On a pool thread: windows of the segment pread() from the reader's
 * place, each record checked (length, CRC32C, id in sequence): those
 * before want measured, the first window holding ids from want kept.
 * Where a segment's records end, the one named by the next id goes on.
 */

static void
ngx_http_replog_reader_thread(void *data, ngx_log_t *log)
{
    ngx_http_replog_reader_t *rd = data;

    u_char          *kept, *p, name[NGX_MAX_PATH];
    size_t           pos, len;
    ssize_t          n;
    const char      *err;
    ngx_uint_t       again, moved;
    rplog_record_t   rec;

    for ( ;; ) {

        if (rd->id > rd->last && rd->id >= rd->want) {
            return;
        }

        if (rd->fd == NGX_INVALID_FILE || rd->fd_seg != rd->seg) {
            if (rd->fd != NGX_INVALID_FILE) {
                ngx_close_file(rd->fd);
                rd->fd = NGX_INVALID_FILE;
            }

            ngx_sprintf(name, "%V/%020uL" RPLOG_SEG_SUFFIX "%Z",
                        &rd->zone->log->path, rd->seg);

            rd->fd = open((char *) name, O_RDONLY | O_CLOEXEC);

            if (rd->fd == NGX_INVALID_FILE) {
                rd->err = ngx_errno;
                rd->what = (rd->err == NGX_ENOENT
                            && ngx_http_replog_reader_dropped(rd))
                           ? "the segment was dropped by retention"
                           : "the segment cannot be opened";
                goto damaged;
            }

            rd->fd_seg = rd->seg;
        }

        n = pread(rd->fd, rd->buf, rd->size, (off_t) rd->off);

        if (n == -1) {
            rd->err = ngx_errno;
            rd->what = "the segment cannot be read";
            goto damaged;
        }

        rd->bytes += n;
        pos = 0;
        kept = NULL;
        again = 0;
        moved = 0;
        err = NULL;

        while (rd->id <= rd->last || rd->id < rd->want) {

            err = rplog_record_check(rd->buf, n, pos, rd->id, &rec);

            if (err == NULL) {
                if (rd->id < rd->want) {
                    rd->skipped += rec.len - (rd->id == 1 ? 1 : 0);

                } else if (kept == NULL) {
                    kept = rd->buf + pos;
                    rd->first = rd->id;
                }

                pos += RPLOG_REC_HEADER + rec.len;
                rd->id++;
                continue;
            }

            len = ((size_t) n - pos >= RPLOG_REC_HEADER)
                  ? rplog_get32(rd->buf + pos) : 0;

            if ((size_t) n == rd->size
                && ((size_t) n - pos < RPLOG_REC_HEADER
                    || (len <= RPLOG_MAX_DATA
                        && RPLOG_REC_HEADER + len > (size_t) n - pos)))
            {
                /* the window ends inside this record: the next from it */
                err = NULL;

                if (pos == 0) {
                    /* larger than the window: a window of its size */
                    p = ngx_alloc(RPLOG_REC_HEADER + len, log);
                    if (p == NULL) {
                        rd->err = NGX_ENOMEM;
                        rd->what = "no memory for a record";
                        goto damaged;
                    }

                    ngx_free(rd->buf);
                    rd->buf = p;
                    rd->size = RPLOG_REC_HEADER + len;
                    again = 1;
                }

                break;
            }

            /* where a segment's records end, the next id's segment */

            ngx_sprintf(name, "%V/%020uL" RPLOG_SEG_SUFFIX "%Z",
                        &rd->zone->log->path, rd->id);

            /* or one retention dropped: its open says so, after these */

            if (rd->id != rd->seg
                && (access((char *) name, R_OK) == 0
                    || ngx_http_replog_reader_dropped(rd)))
            {
                err = NULL;
                moved = 1;
            }

            break;
        }

        if (kept) {
            rd->pos = kept;
            rd->end = rd->buf + pos;
        }

        if (moved) {
            rd->seg = rd->id;
            rd->off = RPLOG_SEG_HEADER;

        } else {
            rd->off += pos;
        }

        if (kept) {
            /* damage after them is found by the next read, at its start */
            return;
        }

        if (err) {
            rd->err = 0;
            rd->what = err;
            goto damaged;
        }

        if (pos == 0 && !again && !moved) {
            rd->err = 0;
            rd->what = "a read that found no record";
            goto damaged;
        }
    }

damaged:

    rd->bad_seg = rd->seg;
    rd->bad_off = rd->off;
    rd->pos = NULL;
    rd->end = NULL;
}


/* on a pool thread: the reader's next id is before the log's first */

static ngx_uint_t
ngx_http_replog_reader_dropped(ngx_http_replog_reader_t *rd)
{
    ngx_uint_t  dropped;

    ngx_http_replog_store_lock(rd->zone);
    dropped = (rd->id < rd->zone->sh->log_first);
    ngx_http_replog_store_unlock(rd->zone);

    return dropped;
}


static void
ngx_http_replog_reader_done(ngx_event_t *ev)
{
    ngx_http_replog_reader_t *rd = ev->data;

    rd->posted = 0;

    (void) ngx_atomic_fetch_add(&rd->zone->sh->file_bytes, rd->bytes);

    rd->handler(rd);
}



/*
 * On a pool thread (retention): the list bytes of ids 1..id, measured in
 * the files when id left the zone inside its chunk; blocking reads are
 * fine there.
 */

ngx_int_t
ngx_http_replog_reader_cum(ngx_http_replog_zone_t *zone, uint64_t id,
    uint64_t *cum, ngx_log_t *log)
{
    ngx_int_t                 rc;
    ngx_http_replog_reader_t  rd;

    /* *cum: the chunk's base then; only this thread moves K */
    if (ngx_http_replog_store_cum(zone, id, cum) == NGX_OK) {
        return NGX_OK;
    }

    ngx_memzero(&rd, sizeof(ngx_http_replog_reader_t));
    rd.zone = zone;
    rd.log = log;
    rd.fd = NGX_INVALID_FILE;

    ngx_http_replog_store_lock(zone);
    rc = ngx_http_replog_reader_place_locked(&rd, id);
    ngx_http_replog_store_unlock(zone);

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    rd.buf = ngx_alloc(NGX_HTTP_REPLOG_READ_WINDOW, log);
    if (rd.buf == NULL) {
        return NGX_ERROR;
    }

    rd.size = NGX_HTTP_REPLOG_READ_WINDOW;
    rd.want = id + 1;
    rd.last = id;
    rd.measuring = 1;

    ngx_http_replog_reader_thread(&rd, log);

    rc = (rd.what == NULL && rd.id == id + 1) ? NGX_OK : NGX_ERROR;
    *cum += rd.skipped;

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, log, rd.err,
                      "replog_zone \"%V\": measuring up to id %uL in "
                      "\"%V/%020uL" RPLOG_SEG_SUFFIX "\" stopped at id %uL, "
                      "offset %uL: %s", &zone->name, id, &zone->log->path,
                      rd.seg, rd.id, rd.off,
                      rd.what ? rd.what : "no more records");
    }

    if (rd.fd != NGX_INVALID_FILE) {
        ngx_close_file(rd.fd);
    }

    ngx_free(rd.buf);

    return rc;
}

#endif


/* this file's CRC table, made before the workers fork (log_open) */

void
ngx_http_replog_reader_init(void)
{
    rplog_crc32c_init();
}
