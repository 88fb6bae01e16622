
/*
 * Copyright (C) replog authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <dirent.h>
#include "ngx_http_replog_engine.h"
#include "ngx_http_replog_log_format.h"
#include "ngx_http_replog_log_read.h"


/* a worker looks for work it was not told about (handover, fsync=TIME) */
#define NGX_HTTP_REPLOG_LOG_POLL       100
/*
 * fsync=off or TIME: appends written together within; nothing waits for
 * these writes, and a flush costs a task hand-off and a completion event
 * in the worker, two lock sections and a pwrite: 10 ms rather than 1 ms
 * took ~5% CPU per replicated message off a 2-core box (writer-cost.pl)
 */
#define NGX_HTTP_REPLOG_LOG_GROUP      10
/* a refused write is tried again, in a new segment, after */
#define NGX_HTTP_REPLOG_LOG_RETRY      1000
/* a claim older than this is looked at: its worker may be gone */
#define NGX_HTTP_REPLOG_LOG_STALE      2000
#define NGX_HTTP_REPLOG_LOG_BUF        (4 * 1024 * 1024)
/* entries taken per locked section, at most: a buffer of small ones */
#define NGX_HTTP_REPLOG_LOG_TAKE       32768


/* the directory locks, held by the master process across reloads */
#define NGX_HTTP_REPLOG_LOG_LOCKS      64

typedef struct {
    u_char                   *path;
    ngx_fd_t                  fd;
} ngx_http_replog_log_lock_t;


typedef struct {
    ngx_http_replog_zone_t   *zone;
    ngx_uint_t                full;      /* stopped storing */
    uint64_t                  records;
    uint64_t                  need;      /* zone bytes of the chunk that
                                            did not fit */
    uint64_t                  full_id;   /* its id that did not */
    const u_char             *base;      /* the segment mapped */
    uint64_t                  seg;       /* its first id */
} ngx_http_replog_replay_t;


static ngx_int_t ngx_http_replog_log_dir(ngx_http_replog_log_t *lg,
    ngx_str_t *name);
static ngx_int_t ngx_http_replog_log_lock(ngx_http_replog_log_t *lg,
    ngx_str_t *name);
static ngx_int_t ngx_http_replog_log_running(ngx_http_replog_log_t *lg,
    ngx_str_t *name);
static u_char *ngx_http_replog_log_fsync_name(ngx_http_replog_log_t *lg,
    u_char *buf);
static ngx_int_t ngx_http_replog_log_segments(ngx_http_replog_log_t *lg,
    ngx_array_t *segs);
static int ngx_http_replog_log_replay_record(void *data,
    rplog_record_t *rec);
static uint64_t ngx_http_replog_log_overhead(uint64_t n);
static ngx_int_t ngx_http_replog_log_discard(ngx_http_replog_log_t *lg,
    ngx_array_t *segs);
static ngx_int_t ngx_http_replog_log_unfinished(ngx_http_replog_log_t *lg,
    ngx_array_t *segs, uint64_t n, ngx_uint_t test);
static uint64_t ngx_http_replog_log_epoch(ngx_http_replog_zone_t *zone);
static void ngx_http_replog_log_name(ngx_http_replog_log_t *lg, u_char *buf,
    uint64_t first);
static ngx_int_t ngx_http_replog_log_sync_dir(ngx_http_replog_log_t *lg);
static ngx_int_t ngx_http_replog_log_write_meta(ngx_http_replog_log_t *lg,
    uint64_t epoch, uint64_t incarnation);
static ngx_msec_t ngx_http_replog_log_now(void);
#if (NGX_THREADS)
static void ngx_http_replog_log_thread(void *data, ngx_log_t *log);
static void ngx_http_replog_log_done(ngx_event_t *ev);
static void ngx_http_replog_log_poll(ngx_event_t *ev);
static void ngx_http_replog_log_retain(ngx_http_replog_log_t *lg,
    uint64_t current, ngx_log_t *log);
static void ngx_http_replog_log_grouped(ngx_event_t *ev);
static void ngx_http_replog_log_post(ngx_http_replog_zone_t *zone);
static void ngx_http_replog_log_take_locked(ngx_http_replog_log_t *lg,
    ngx_http_replog_sh_t *sh, uint64_t id, uint64_t target);
static void ngx_http_replog_log_note(ngx_http_replog_log_t *lg, uint64_t id,
    uint64_t seg, uint64_t off);
static void ngx_http_replog_log_notes_locked(ngx_http_replog_log_t *lg,
    ngx_http_replog_sh_t *sh, uint64_t incarnation);
static ngx_int_t ngx_http_replog_log_roll(ngx_http_replog_log_t *lg,
    uint64_t first, uint64_t epoch, ngx_log_t *log);
#endif


static ngx_http_replog_log_lock_t
                     ngx_http_replog_log_locks[NGX_HTTP_REPLOG_LOG_LOCKS];
static ngx_uint_t    ngx_http_replog_log_nlocks;


char *
ngx_http_replog_log_parse(ngx_conf_t *cf, ngx_str_t *name, ngx_str_t *args,
    ngx_uint_t n, ngx_http_replog_log_t **out)
{
    ssize_t                 size;
    ngx_str_t               s;
    ngx_uint_t              i, fsync_set;
    ngx_msec_t              t;
    ngx_http_replog_log_t  *lg;

    lg = ngx_pcalloc(cf->pool, sizeof(ngx_http_replog_log_t));
    if (lg == NULL) {
        return NGX_CONF_ERROR;
    }

    lg->fd = NGX_INVALID_FILE;
    lg->cycle = cf->cycle;
    lg->segment = RPLOG_SEGMENT_SIZE;
    fsync_set = 0;

    for (i = 0; i < n; i++) {

        if (args[i].len > 5 && ngx_strncmp(args[i].data, "path=", 5) == 0) {
            s.len = args[i].len - 5;
            s.data = args[i].data + 5;

            if (ngx_conf_full_name(cf->cycle, &s, 0) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            while (s.len > 1 && s.data[s.len - 1] == '/') {
                s.len--;
            }

            lg->path.data = ngx_pnalloc(cf->pool, s.len + 1);
            if (lg->path.data == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_memcpy(lg->path.data, s.data, s.len);
            lg->path.data[s.len] = '\0';
            lg->path.len = s.len;
            continue;
        }

        if (args[i].len > 6 && ngx_strncmp(args[i].data, "fsync=", 6) == 0) {
            s.len = args[i].len - 6;
            s.data = args[i].data + 6;
            fsync_set = 1;

            if (s.len == 6 && ngx_strncmp(s.data, "always", 6) == 0) {
                lg->fsync = NGX_HTTP_REPLOG_FSYNC_ALWAYS;
                continue;
            }

            if (s.len == 3 && ngx_strncmp(s.data, "off", 3) == 0) {
                lg->fsync = NGX_HTTP_REPLOG_FSYNC_OFF;
                continue;
            }

            t = ngx_parse_time(&s, 0);

            if (t != (ngx_msec_t) NGX_ERROR && t != 0) {
                lg->fsync = NGX_HTTP_REPLOG_FSYNC_TIME;
                lg->interval = t;
                continue;
            }

            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "replog_zone \"%V\": fsync= takes \"always\", "
                               "\"off\" or a time, not \"%V\"", name, &s);
            return NGX_CONF_ERROR;
        }

        if (args[i].len > 8 && ngx_strncmp(args[i].data, "segment=", 8) == 0)
        {
            s.len = args[i].len - 8;
            s.data = args[i].data + 8;
            size = ngx_parse_size(&s);

            /* small ones for tests and fine-grained retention */
            if (size == NGX_ERROR || size < 65536
                || size > RPLOG_SEGMENT_SIZE)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "replog_zone \"%V\": segment= takes a "
                                   "size from 64k to 64m, not \"%V\"",
                                   name, &s);
                return NGX_CONF_ERROR;
            }

            lg->segment = (size_t) size;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "replog_zone \"%V\": unknown parameter \"%V\", "
                           "use path=DIR, fsync=always|off|TIME or "
                           "segment=SIZE", name, &args[i]);
        return NGX_CONF_ERROR;
    }

    if (lg->path.len == 0) {
        if (fsync_set || lg->segment != RPLOG_SEGMENT_SIZE) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "replog_zone \"%V\": %s needs path=DIR",
                               name, fsync_set ? "fsync=" : "segment=");
            return NGX_CONF_ERROR;
        }

        *out = NULL;
        return NGX_CONF_OK;
    }

#if (NGX_THREADS)

    /* the writer runs on the default pool ("thread_pool default" sizes it) */
    if (ngx_thread_pool_add(cf, NULL) == NULL) {
        return NGX_CONF_ERROR;
    }

    *out = lg;
    return NGX_CONF_OK;

#else

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "replog_zone \"%V\": path= needs an nginx built with "
                       "threads (--with-threads), its writes run on a thread "
                       "pool", name);
    return NGX_CONF_ERROR;

#endif
}


/*
 * At zone init, in the master process (or nginx -t, which only reads):
 * the directory checked and locked, the segments replayed into the zone.
 * Blocking reads are fine here: no worker runs yet.
 */

ngx_int_t
ngx_http_replog_log_open(ngx_http_replog_zone_t *zone)
{
    u_char                    *p, name[NGX_MAX_PATH];
    size_t                     size;
    uint64_t                   epoch, incarnation, next, first, end;
    ngx_msec_t                 started;
    ngx_fd_t                   fd;
    ngx_int_t                  rc;
    ngx_uint_t                 i, cut, damaged, test;
    ngx_str_t                 *zname;
    ngx_file_info_t            fi;
    ngx_array_t                segs;
    rplog_scan_t               sc;
    uint64_t                  *seg;
    u_char                     meta[RPLOG_META_SIZE];
    ngx_http_replog_sh_t      *sh;
    ngx_http_replog_log_t     *lg;
    ngx_http_replog_log_sh_t  *ls;
    ngx_http_replog_replay_t   rp;

    lg = zone->log;
    sh = zone->sh;
    zname = &zone->name;
    test = ngx_test_config;

    ls = ngx_slab_calloc(zone->shpool, sizeof(ngx_http_replog_log_sh_t));
    if (ls == NULL) {
        return NGX_ERROR;
    }

    sh->log = ls;
    lg->zone = zone;
    lg->retain_size = zone->retain_size;
    lg->retain_age = zone->retain_age;

    rplog_crc32c_init();
    ngx_http_replog_reader_init();

    rc = ngx_http_replog_log_dir(lg, zname);
    if (rc != NGX_OK) {
        /* nginx -t of a directory still to be created: nothing to read */
        return (rc == NGX_DECLINED) ? NGX_OK : NGX_ERROR;
    }

    if (!test && ngx_http_replog_log_lock(lg, zname) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the meta file: epoch and incarnation */

    ngx_sprintf(name, "%V/meta%Z", &lg->path);

    fd = ngx_open_file(name, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd != NGX_INVALID_FILE) {
        size = ngx_read_fd(fd, meta, RPLOG_META_SIZE);
        ngx_close_file(fd);

        if (size != RPLOG_META_SIZE
            || rplog_header_read(meta, RPLOG_META_SIZE, RPLOG_META_MAGIC,
                                 RPLOG_META_SIZE, &epoch, &incarnation)
               != 0)
        {
            ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, 0,
                          "replog_zone \"%V\": \"%s\" is damaged: restore it "
                          "or move the directory away to start empty",
                          zname, name);
            return NGX_ERROR;
        }

        ls->known = 1;
        ls->meta_epoch = epoch;
        ls->meta_incarnation = incarnation;

    } else if (ngx_errno != NGX_ENOENT) {
        ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, ngx_errno,
                      "replog_zone \"%V\": cannot read \"%s\"", zname, name);
        return NGX_ERROR;
    }

    if (ngx_array_init(&segs, zone->pool, 16, sizeof(uint64_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_replog_log_segments(lg, &segs) != NGX_OK) {
        return NGX_ERROR;
    }

    seg = segs.elts;
    cut = 0;
    damaged = 0;
    end = 0;
    first = 0;

    ngx_memzero(&rp, sizeof(ngx_http_replog_replay_t));
    rp.zone = zone;
    started = ngx_http_replog_log_now();

    if (segs.nelts && seg[0] > 1) {
        /* retention dropped the ids before the first segment: K */
        ngx_http_replog_store_start_locked(sh, seg[0], 0);

        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "replog_zone \"%V\": the log in \"%V\" starts at id "
                      "%uL, the ids before it were dropped by retention",
                      zname, &lg->path, seg[0]);
    }

    for (i = 0; i < segs.nelts; i++) {
        ngx_http_replog_log_name(lg, name, seg[i]);

        next = (i + 1 < segs.nelts) ? seg[i + 1] : 0;

        if (seg[i] != sh->last_id + 1 && !(i == 0 && seg[i] == 1)) {
            ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, 0,
                          "replog_zone \"%V\": \"%s\" starts at id %uL, "
                          "the log before it ends at %uL",
                          zname, name, seg[i], sh->last_id);
            damaged = 1;
            break;
        }

        fd = ngx_open_file(name, test ? NGX_FILE_RDONLY : NGX_FILE_RDWR,
                           NGX_FILE_OPEN, 0);
        if (fd == NGX_INVALID_FILE) {
            ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, ngx_errno,
                          "replog_zone \"%V\": cannot open \"%s\"",
                          zname, name);
            return NGX_ERROR;
        }

        if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
            ngx_close_file(fd);
            return NGX_ERROR;
        }

        size = (size_t) ngx_file_size(&fi);
        p = NULL;

        if (size) {
            p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
            if (p == MAP_FAILED) {
                ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, ngx_errno,
                              "replog_zone \"%V\": mmap(\"%s\") failed",
                              zname, name);
                ngx_close_file(fd);
                return NGX_ERROR;
            }

            (void) madvise(p, size, MADV_SEQUENTIAL);

            rp.base = p;
            rp.seg = seg[i];

            rplog_scan(p, size, next, ngx_http_replog_log_replay_record, &rp,
                       &sc);

        } else {
            ngx_memzero(&sc, sizeof(rplog_scan_t));
            sc.result = RPLOG_SCAN_HEADER;
        }

        if (p) {
            munmap(p, size);
        }

        if (sc.result == RPLOG_SCAN_HEADER && next == 0
            && (size == 0 || sc.first_id == 0))
        {
            /* the last segment, created but its header never written */
            sc.result = RPLOG_SCAN_TORN;
            sc.end = 0;
            sc.dropped = size;
            sc.first_id = seg[i];
        }

        if ((sc.result == RPLOG_SCAN_TORN && next)
            || sc.result == RPLOG_SCAN_BAD
            || sc.result == RPLOG_SCAN_HEADER
            || (sc.result != RPLOG_SCAN_TORN && sc.first_id != seg[i])
            || (sc.result == RPLOG_SCAN_END && next
                && sc.last_id + 1 != next))
        {
            ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, 0,
                          "replog_zone \"%V\": \"%s\" is damaged at offset "
                          "%uz: %s after id %uL", zname, name, sc.end,
                          sc.what ? sc.what : "ids that do not follow",
                          sc.last_id);
            ngx_close_file(fd);
            damaged = 1;
            break;
        }

        if (sc.result == RPLOG_SCAN_TORN) {
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "replog_zone \"%V\": torn tail of \"%s\" cut at "
                          "offset %uz: %uz bytes dropped (%s), the log ends "
                          "at id %uL", zname, name, sc.end, sc.dropped,
                          sc.what ? sc.what : "no segment header",
                          sc.last_id);
            cut = 1;

            if (!test) {
                if (sc.end == 0) {
                    ngx_close_file(fd);
                    fd = NGX_INVALID_FILE;

                    if (ngx_delete_file(name) == NGX_FILE_ERROR) {
                        ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log,
                                      ngx_errno, "replog_zone \"%V\": "
                                      "cannot remove \"%s\"", zname, name);
                        return NGX_ERROR;
                    }

                } else if (ftruncate(fd, sc.end) == -1 || fsync(fd) == -1) {
                    ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, ngx_errno,
                                  "replog_zone \"%V\": cannot cut \"%s\"",
                                  zname, name);
                    ngx_close_file(fd);
                    return NGX_ERROR;
                }
            }
        }

        if (fd != NGX_INVALID_FILE) {
            ngx_close_file(fd);
        }

        if (sc.end) {
            first = seg[i];
            end = sc.end;
        }

    }

    /*
     * a master's DIR/meta names no epoch while it recovers: what its files
     * hold is an unfinished recovery, of an epoch not known yet
     */
    if (zone->role == NGX_HTTP_REPLOG_MASTER && ls->known
        && ls->meta_epoch == 0)
    {
        return ngx_http_replog_log_unfinished(lg, &segs, rp.records, test);
    }

    if (damaged) {
        if (zone->role == NGX_HTTP_REPLOG_MASTER) {
            ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, 0,
                          "replog_zone \"%V\": the master's log in \"%V\" is "
                          "damaged in the middle: restore the directory from "
                          "a backup, or move it away to start this master "
                          "empty (with replog_recovery on it then recovers "
                          "from its secondaries)", zname, &lg->path);
            return NGX_ERROR;
        }

        if (test) {
            /* nginx -t only reads: the start does the discarding */
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "replog_zone \"%V\": the secondary's log in \"%V\" "
                          "is damaged: the next start discards it",
                          zname, &lg->path);
            return NGX_OK;
        }

        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "replog_zone \"%V\": the secondary's log in \"%V\" is "
                      "damaged: it is discarded, the master catches this "
                      "node up again", zname, &lg->path);

        if (ngx_http_replog_log_discard(lg, &segs) != NGX_OK) {
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (rp.full) {
        /*
         * the zone as the tail holds the sparse index and at least the
         * newest chunk of ids whole; not even that fits
         */
        rp.need += ngx_http_replog_log_overhead(rp.records);

        ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, 0,
                      "replog_zone \"%V\" is too small for its log in \"%V\": "
                      "the index of its %uL messages and the chunk of id "
                      "%uL need about %uLM, make the zone at least that large",
                      zname, &lg->path, rp.records, rp.full_id,
                      rp.need / 1048576 + 1);
        return NGX_ERROR;
    }

    ls->written_id = sh->last_id;
    ls->durable_id = sh->last_id;
    ls->seg_first = first;
    ls->seg_off = end;
    ls->replayed = sh->last_id;
    ls->done_gen = 0;

    if (ls->known) {
        sh->epoch = ls->meta_epoch;

        /*
         * the same log as before, so the master may trust the acked_id
         * this node reports: only when nothing that was acknowledged can
         * be missing
         */
        if (!cut && lg->fsync == NGX_HTTP_REPLOG_FSYNC_ALWAYS) {
            sh->incarnation = ls->meta_incarnation;
        }

        /* a master with its own log opens from it at once */
        if (zone->role == NGX_HTTP_REPLOG_MASTER) {
            sh->state = NGX_HTTP_REPLOG_OPEN;
        }

    } else if (sh->last_id) {
        ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, 0,
                      "replog_zone \"%V\": segments in \"%V\" without its "
                      "\"meta\" file: restore it or move the directory away",
                      zname, &lg->path);
        return NGX_ERROR;
    }

    epoch = ngx_http_replog_log_epoch(zone);

    if (!test && (ls->meta_epoch != epoch
                  || ls->meta_incarnation != sh->incarnation))
    {
        if (ngx_http_replog_log_write_meta(lg, epoch, sh->incarnation)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        ls->meta_epoch = epoch;
        ls->meta_incarnation = sh->incarnation;
    }

    if (sh->last_id) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "replog_zone \"%V\": %uL messages replayed from \"%V\" "
                      "in %M ms", zname, sh->last_id, &lg->path,
                      ngx_http_replog_log_now() - started);
    }

    return NGX_OK;
}


/*
 * What the zone needs at least for a log of n entries: the directory and
 * the sparse index (doubled as they grow), a chunk of entry pointers
 */

static uint64_t
ngx_http_replog_log_overhead(uint64_t n)
{
    return (n / NGX_HTTP_REPLOG_CHUNK + 1) * 4
           * (sizeof(void *) + sizeof(ngx_http_replog_idx_t))
           + 2 * NGX_HTTP_REPLOG_CHUNK * sizeof(void *) + 64 * ngx_pagesize;
}


static int
ngx_http_replog_log_replay_record(void *data, rplog_record_t *rec)
{
    ngx_http_replog_replay_t *rp = data;

    rp->records++;

    if (rp->full) {
        return 0;
    }

    /* the zone must hold the newest chunk whole: what it takes so far */
    if ((rec->id - 1) % NGX_HTTP_REPLOG_CHUNK == 0) {
        rp->need = 0;
    }

    rp->need += ngx_align(offsetof(ngx_http_replog_entry_t, data)
                          + rec->len, 16);

    if (ngx_http_replog_store_restore_locked(rp->zone, rec->id, rec->data,
                                             rec->len, rec->msg,
                                             rec->msg_len)
        != NGX_OK)
    {
        rp->full = 1;
        rp->full_id = rec->id;
        return 0;
    }

    /* the zone as the tail: where its chunks start, for the evicted */
    ngx_http_replog_store_note_locked(rp->zone->sh, rec->id, rp->seg,
                                      rec->data - RPLOG_REC_HEADER
                                      - rp->base);

    return 0;
}


/*
 * The directory: created for the worker user when missing (nginx -t
 * only looks), and writable by that user.
 */

static ngx_int_t
ngx_http_replog_log_dir(ngx_http_replog_log_t *lg, ngx_str_t *name)
{
    u_char           *p, parent[NGX_MAX_PATH];
    ngx_uid_t         uid;
    ngx_gid_t         gid;
    ngx_uint_t        ok;
    ngx_file_info_t   fi;
    ngx_core_conf_t  *ccf;

    ccf = (ngx_core_conf_t *) ngx_get_conf(lg->cycle->conf_ctx,
                                           ngx_core_module);

    uid = ccf->user;
    gid = ccf->group;

    if (ngx_file_info(lg->path.data, &fi) == NGX_FILE_ERROR) {

        if (ngx_errno != NGX_ENOENT || lg->path.len >= NGX_MAX_PATH) {
            goto failed;
        }

        if (ngx_test_config) {
            p = ngx_cpymem(parent, lg->path.data, lg->path.len);
            *p = '\0';

            while (p > parent && *p != '/') {
                p--;
            }

            *(p == parent ? p + 1 : p) = '\0';

            if (access((char *) parent, W_OK | X_OK) != 0) {
                goto failed;
            }

            return NGX_DECLINED;
        }

        if (ngx_create_dir(lg->path.data, 0700) == NGX_FILE_ERROR) {
            goto failed;
        }

        if (geteuid() == 0 && uid != (ngx_uid_t) NGX_CONF_UNSET_UINT
            && chown((char *) lg->path.data, uid, gid) == -1)
        {
            goto failed;
        }

        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "replog_zone \"%V\": created \"%V\"", name, &lg->path);

        if (ngx_file_info(lg->path.data, &fi) == NGX_FILE_ERROR) {
            goto failed;
        }
    }

    if (!ngx_is_dir(&fi)) {
        ngx_set_errno(NGX_ENOTDIR);
        goto failed;
    }

    if (geteuid() != 0 || uid == (ngx_uid_t) NGX_CONF_UNSET_UINT) {
        ok = (access((char *) lg->path.data, W_OK | X_OK) == 0);

    } else if (uid == 0) {
        ok = 1;

    } else if (fi.st_uid == uid) {
        ok = (fi.st_mode & (S_IWUSR | S_IXUSR)) == (S_IWUSR | S_IXUSR);

    } else if (fi.st_gid == gid) {
        ok = (fi.st_mode & (S_IWGRP | S_IXGRP)) == (S_IWGRP | S_IXGRP);

    } else {
        ok = (fi.st_mode & (S_IWOTH | S_IXOTH)) == (S_IWOTH | S_IXOTH);
    }

    if (!ok) {
        ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, 0,
                      "replog_zone \"%V\": path=\"%V\" cannot be written by "
                      "the worker user \"%s\"", name, &lg->path,
                      ccf->username ? ccf->username : "(this user)");
        return NGX_ERROR;
    }

    return NGX_OK;

failed:

    ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, ngx_errno,
                  "replog_zone \"%V\": path=\"%V\" cannot be created or used",
                  name, &lg->path);

    return NGX_ERROR;
}


/*
 * A reload, in the master process: the zone's log and the writer's marks
 * in it (segment, offset, durable id) belong to the directory the zone was
 * opened on, and only a start replays a directory into a zone, so path=
 * cannot be added, removed or changed by a reload; the reload is refused
 * and the running configuration kept.  fsync= takes effect with the new
 * workers.
 */

ngx_int_t
ngx_http_replog_log_reload(ngx_http_replog_zone_t *zone,
    ngx_http_replog_zone_t *ozone)
{
    u_char                    *p, from[NGX_INT_T_LEN + 3];
    u_char                     to[NGX_INT_T_LEN + 3];
    ngx_http_replog_log_t     *lg, *olg;
    ngx_http_replog_log_sh_t  *ls;

    lg = zone->log;
    olg = ozone->log;
    ls = ozone->sh->log;

    if (olg == NULL || ls == NULL) {
        if (lg == NULL) {
            return NGX_OK;
        }

        ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, 0,
                      "replog_zone \"%V\": path=\"%V\" added by a reload: "
                      "the running log is in memory only and a reload does "
                      "not move it into files; restart nginx to make it "
                      "durable (the reload is refused, the running "
                      "configuration is kept)", &zone->name, &lg->path);
        return NGX_ERROR;
    }

    if (lg == NULL) {
        ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, 0,
                      "replog_zone \"%V\": path=\"%V\" removed by a reload: "
                      "the running log is written there; restart nginx to "
                      "run in memory only (the reload is refused, the "
                      "running configuration is kept)",
                      &zone->name, &olg->path);
        return NGX_ERROR;
    }

    if (lg->path.len != olg->path.len
        || ngx_strcmp(lg->path.data, olg->path.data) != 0)
    {
        ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, 0,
                      "replog_zone \"%V\": path= changed by a reload from "
                      "\"%V\" to \"%V\": the running log is written in the "
                      "first; restart nginx to move the log (the reload is "
                      "refused, the running configuration is kept)",
                      &zone->name, &olg->path, &lg->path);
        return NGX_ERROR;
    }

    lg->zone = zone;

    if (lg->fsync == olg->fsync && lg->interval == olg->interval) {
        return NGX_OK;
    }

    p = ngx_http_replog_log_fsync_name(olg, from);
    *p = '\0';
    p = ngx_http_replog_log_fsync_name(lg, to);
    *p = '\0';

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "replog_zone \"%V\": fsync= changed by the reload from "
                  "%s to %s, the new workers follow it",
                  &zone->name, from, to);

    /*
     * one side of the change is not fsync=always: the acked_id this
     * incarnation reported may be, or become, more than the disk keeps,
     * so DIR/meta must never again name it as this node's (see
     * write_meta); rewritten now, before a new worker acknowledges
     * anything, when it still names it
     */

    if (!ls->tainted && olg->fsync == NGX_HTTP_REPLOG_FSYNC_ALWAYS) {
        ls->tainted = 1;

        return ngx_http_replog_log_write_meta(lg, ls->meta_epoch,
                                              ls->meta_incarnation);
    }

    ls->tainted = 1;

    return NGX_OK;
}


static u_char *
ngx_http_replog_log_fsync_name(ngx_http_replog_log_t *lg, u_char *buf)
{
    switch (lg->fsync) {

    case NGX_HTTP_REPLOG_FSYNC_ALWAYS:
        return ngx_cpymem(buf, "always", 6);

    case NGX_HTTP_REPLOG_FSYNC_OFF:
        return ngx_cpymem(buf, "off", 3);

    default:
        return ngx_sprintf(buf, "%Mms", lg->interval);
    }
}


/*
 * A new zone at a reload on a directory this master already locked: the
 * zone of the running configuration that writes it (another name: a zone
 * renamed) keeps writing it until its workers are gone, so the new one
 * may not replay, cut or write the same files.
 */

static ngx_int_t
ngx_http_replog_log_running(ngx_http_replog_log_t *lg, ngx_str_t *name)
{
    ngx_uint_t               i;
    ngx_list_part_t         *part;
    ngx_shm_zone_t          *shm;
    ngx_http_replog_zone_t  *oz;

    if (ngx_cycle == NULL || ngx_cycle->shared_memory.part.elts == NULL) {
        return NGX_OK;
    }

    part = (ngx_list_part_t *) &ngx_cycle->shared_memory.part;
    shm = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NGX_OK;
            }

            part = part->next;
            shm = part->elts;
            i = 0;
        }

        if (shm[i].tag != &ngx_http_replog_module || shm[i].data == NULL) {
            continue;
        }

        oz = shm[i].data;

        if (oz->log && oz->sh && oz->sh->log
            && ngx_strcmp(oz->log->path.data, lg->path.data) == 0)
        {
            ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, 0,
                          "replog_zone \"%V\": path=\"%V\" is the log of "
                          "replog_zone \"%V\" of the running configuration: "
                          "a reload cannot hand it to another zone; restart "
                          "nginx to rename the zone (the reload is refused, "
                          "the running configuration is kept)",
                          name, &lg->path, &oz->name);
            return NGX_ERROR;
        }
    }
}


/*
 * An exclusive flock() on DIR/lock: one running node per directory.  The
 * master process keeps it across reloads (a second flock() of a new open
 * file would conflict with its own).
 */

static ngx_int_t
ngx_http_replog_log_lock(ngx_http_replog_log_t *lg, ngx_str_t *name)
{
    u_char                      file[NGX_MAX_PATH];
    ngx_fd_t                    fd;
    ngx_err_t                   err;
    ngx_uint_t                  i;
    ngx_core_conf_t            *ccf;
    ngx_http_replog_log_lock_t *lk;

    lk = ngx_http_replog_log_locks;

    for (i = 0; i < ngx_http_replog_log_nlocks; i++) {
        if (ngx_strcmp(lk[i].path, lg->path.data) == 0) {
            return ngx_http_replog_log_running(lg, name);
        }
    }

    if (ngx_http_replog_log_nlocks == NGX_HTTP_REPLOG_LOG_LOCKS) {
        ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, 0,
                      "replog_zone \"%V\": too many log directories", name);
        return NGX_ERROR;
    }

    ngx_sprintf(file, "%V/lock%Z", &lg->path);

    fd = ngx_open_file(file, NGX_FILE_RDWR, NGX_FILE_CREATE_OR_OPEN,
                       NGX_FILE_DEFAULT_ACCESS);
    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, ngx_errno,
                      "replog_zone \"%V\": cannot open \"%s\"", name, file);
        return NGX_ERROR;
    }

    if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
        err = ngx_errno;

        if (ngx_inherited && err == NGX_EAGAIN) {
            /*
             * a binary upgrade (USR2): the old master, our parent, holds
             * the lock and its workers keep appending to a zone of their
             * own, so two writers would share the files
             */
            ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, 0,
                          "replog_zone \"%V\": path=\"%V\" is locked by "
                          "the running nginx (master process %P): a binary "
                          "upgrade (USR2) cannot take over a durable log "
                          "that the old workers still write; the old nginx "
                          "keeps serving: stop it, then start the new "
                          "binary", name, &lg->path, (ngx_pid_t) getppid());

        } else {
            ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, err,
                          "replog_zone \"%V\": path=\"%V\" is locked by "
                          "another running node", name, &lg->path);
        }

        ngx_close_file(fd);
        return NGX_ERROR;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(lg->cycle->conf_ctx,
                                           ngx_core_module);

    if (geteuid() == 0 && ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT) {
        (void) fchown(fd, ccf->user, ccf->group);
    }

    (void) fcntl(fd, F_SETFD, FD_CLOEXEC);

    lk = &ngx_http_replog_log_locks[ngx_http_replog_log_nlocks];

    lk->path = ngx_alloc(lg->path.len + 1, ngx_cycle->log);
    if (lk->path == NULL) {
        ngx_close_file(fd);
        return NGX_ERROR;
    }

    ngx_memcpy(lk->path, lg->path.data, lg->path.len + 1);
    lk->fd = fd;
    ngx_http_replog_log_nlocks++;

    return NGX_OK;
}


/* the segments' first ids, from their names, in order */

static ngx_int_t
ngx_http_replog_log_segments(ngx_http_replog_log_t *lg, ngx_array_t *segs)
{
    uint64_t        id, *p;
    DIR            *dir;
    struct dirent  *de;

    dir = opendir((char *) lg->path.data);
    if (dir == NULL) {
        ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, ngx_errno,
                      "opendir(\"%V\") failed", &lg->path);
        return NGX_ERROR;
    }

    while ((de = readdir(dir)) != NULL) {
        id = rplog_segment_id(de->d_name);

        if (id == 0) {
            continue;
        }

        p = ngx_array_push(segs);
        if (p == NULL) {
            closedir(dir);
            return NGX_ERROR;
        }

        *p = id;
    }

    closedir(dir);

    ngx_qsort(segs->elts, segs->nelts, sizeof(uint64_t), rplog_cmp_id);

    return NGX_OK;
}


/* a damaged secondary log: segments removed, the zone emptied */

static ngx_int_t
ngx_http_replog_log_discard(ngx_http_replog_log_t *lg, ngx_array_t *segs)
{
    u_char                    name[NGX_MAX_PATH];
    uint64_t                 *seg;
    ngx_uint_t                i;
    ngx_http_replog_sh_t     *sh;
    ngx_http_replog_log_sh_t *ls;

    seg = segs->elts;

    for (i = 0; i < segs->nelts; i++) {
        ngx_http_replog_log_name(lg, name, seg[i]);

        if (ngx_delete_file(name) == NGX_FILE_ERROR) {
            ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, ngx_errno,
                          "replog_zone \"%V\": cannot remove \"%s\"",
                          &lg->zone->name, name);
            return NGX_ERROR;
        }
    }

    if (ngx_http_replog_log_sync_dir(lg) != NGX_OK) {
        return NGX_ERROR;
    }

    (void) ngx_http_replog_store_reset(lg->zone);

    sh = lg->zone->sh;
    ls = sh->log;

    ngx_memzero(ls, sizeof(ngx_http_replog_log_sh_t));

    if (ngx_http_replog_log_write_meta(lg, 0, sh->incarnation) != NGX_OK) {
        return NGX_ERROR;
    }

    ls->known = 1;
    ls->meta_incarnation = sh->incarnation;

    return NGX_OK;
}


/*
 * A master started on DIR/meta of epoch 0: it was stopped while it
 * recovered (or the directory is a discarded secondary's).  The n messages
 * its segments hold were pulled from one secondary of an epoch the files
 * do not say, perhaps not all of them: with recovery on they are discarded
 * and pulled again; with it off the master would open with them under a
 * new epoch, unlike its secondaries' logs, so it does not start.
 */

static ngx_int_t
ngx_http_replog_log_unfinished(ngx_http_replog_log_t *lg, ngx_array_t *segs,
    uint64_t n, ngx_uint_t test)
{
    uint64_t                   epoch;
    ngx_str_t                 *zname;
    ngx_http_replog_sh_t      *sh;
    ngx_http_replog_zone_t    *zone;
    ngx_http_replog_log_sh_t  *ls;

    zone = lg->zone;
    zname = &zone->name;

    if (n && !zone->recovery) {
        ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, 0,
                      "replog_zone \"%V\": the master's log in \"%V\" is an "
                      "unfinished recovery (%uL messages pulled, \"meta\" "
                      "names no epoch): turn replog_recovery on (with "
                      "replog_cluster_size above 1) to recover it again "
                      "from the secondaries, or move the directory away to "
                      "start this master empty", zname, &lg->path, n);
        return NGX_ERROR;
    }

    if (test) {
        /* nginx -t only reads: the start does the discarding */
        if (n) {
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "replog_zone \"%V\": the master's log in \"%V\" "
                          "is an unfinished recovery: the next start "
                          "discards its %uL messages and recovers again",
                          zname, &lg->path, n);
        }

        return NGX_OK;
    }

    if (n) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "replog_zone \"%V\": the master's log in \"%V\" is an "
                      "unfinished recovery (the master stopped while it "
                      "recovered): its %uL messages are discarded, it "
                      "recovers again from its secondaries",
                      zname, &lg->path, n);
    }

    sh = zone->sh;

    /* the new epoch of this start: the reset takes it */
    epoch = sh->epoch;

    if (ngx_http_replog_log_discard(lg, segs) != NGX_OK) {
        return NGX_ERROR;
    }

    sh->epoch = epoch;
    ls = sh->log;

    /* recovery off: an empty master that opens now, under its new epoch */
    epoch = ngx_http_replog_log_epoch(zone);

    if (epoch != ls->meta_epoch) {
        if (ngx_http_replog_log_write_meta(lg, epoch, sh->incarnation)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        ls->meta_epoch = epoch;
    }

    return NGX_OK;
}


/*
 * The epoch DIR/meta names: none (0) while a master recovers, so that a
 * master stopped meanwhile does not take its partial log for its own at
 * the next start (see unfinished); a secondary's, 0 until its first batch
 */

static uint64_t
ngx_http_replog_log_epoch(ngx_http_replog_zone_t *zone)
{
    if (zone->role == NGX_HTTP_REPLOG_MASTER
        && zone->sh->state != NGX_HTTP_REPLOG_OPEN)
    {
        return 0;
    }

    return zone->sh->epoch;
}


static void
ngx_http_replog_log_name(ngx_http_replog_log_t *lg, u_char *buf,
    uint64_t first)
{
    ngx_sprintf(buf, "%V/%020uL" RPLOG_SEG_SUFFIX "%Z", &lg->path, first);
}


static ngx_int_t
ngx_http_replog_log_sync_dir(ngx_http_replog_log_t *lg)
{
    ngx_fd_t  fd;

    fd = ngx_open_file(lg->path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE || fsync(fd) == -1) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, ngx_errno,
                      "fsync(\"%V\") failed", &lg->path);

        if (fd != NGX_INVALID_FILE) {
            ngx_close_file(fd);
        }

        return NGX_ERROR;
    }

    ngx_close_file(fd);

    return NGX_OK;
}


/* DIR/meta replaced whole: a temporary file, fsync, rename, fsync DIR */

static ngx_int_t
ngx_http_replog_log_write_meta(ngx_http_replog_log_t *lg, uint64_t epoch,
    uint64_t incarnation)
{
    u_char    tmp[NGX_MAX_PATH], name[NGX_MAX_PATH];
    u_char    meta[RPLOG_META_SIZE];
    ngx_fd_t  fd;

    ngx_sprintf(tmp, "%V/meta.tmp%Z", &lg->path);
    ngx_sprintf(name, "%V/meta%Z", &lg->path);

    /*
     * a node that acknowledged without fsync=always may come back with
     * less than it reported: the incarnation it kept in the file (and
     * takes at a start with fsync=always) is then one the master never
     * saw, so the master takes its acked_id as the truth
     */
    if (lg->fsync != NGX_HTTP_REPLOG_FSYNC_ALWAYS
        || (lg->zone && lg->zone->sh->log && lg->zone->sh->log->tainted))
    {
        incarnation = ~incarnation;
    }

    rplog_header_write(meta, RPLOG_META_MAGIC, RPLOG_META_SIZE, epoch,
                       incarnation);

    fd = ngx_open_file(tmp, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE,
                       NGX_FILE_DEFAULT_ACCESS);
    if (fd == NGX_INVALID_FILE) {
        goto failed;
    }

    if (ngx_write_fd(fd, meta, RPLOG_META_SIZE) != RPLOG_META_SIZE
        || fsync(fd) == -1)
    {
        ngx_close_file(fd);
        goto failed;
    }

    ngx_close_file(fd);

    if (ngx_rename_file(tmp, name) == NGX_FILE_ERROR) {
        goto failed;
    }

    return ngx_http_replog_log_sync_dir(lg);

failed:

    ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, ngx_errno,
                  "replog_zone \"%V\": cannot write \"%s\"",
                  &lg->zone->name, name);

    return NGX_ERROR;
}


/* what a node holds of its log: with fsync=always only what is on disk */

uint64_t
ngx_http_replog_log_held(ngx_http_replog_zone_t *zone, uint64_t last_id)
{
    ngx_http_replog_log_t  *lg;

    lg = zone->log;

    if (lg == NULL || lg->fsync != NGX_HTTP_REPLOG_FSYNC_ALWAYS
        || zone->sh->log == NULL)
    {
        return last_id;
    }

    return ngx_min(last_id, zone->sh->log->durable_id);
}


static ngx_msec_t
ngx_http_replog_log_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (ngx_msec_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


/* whether this node counts as holding id: 1 or 0 */

ngx_uint_t
ngx_http_replog_log_holds(ngx_http_replog_zone_t *zone, uint64_t id)
{
    return ngx_http_replog_log_held(zone, id) >= id;
}


/* who answers what waits for the durable mark in this worker */

void
ngx_http_replog_log_on_durable(ngx_http_replog_zone_t *zone,
    ngx_http_replog_log_durable_pt handler)
{
    if (zone->log) {
        zone->log->durable = handler;
    }
}


/* whether a write waits for this node's own fsync: fsync=always */

ngx_uint_t
ngx_http_replog_log_waits(ngx_http_replog_zone_t *zone)
{
    return ngx_http_replog_log_held(zone, (uint64_t) -1)
           != (uint64_t) -1;
}


/* while the disk refuses, writes are refused too (503, or 507 if full) */

ngx_int_t
ngx_http_replog_log_refusing(ngx_http_replog_zone_t *zone, ngx_err_t *err)
{
    ngx_http_replog_log_sh_t  *ls;

    if (zone->log == NULL || zone->sh->log == NULL) {
        return 0;
    }

    ls = zone->sh->log;
    *err = ls->failed;

    return ls->failed != 0;
}


void
ngx_http_replog_log_reset(ngx_http_replog_zone_t *zone)
{
    ngx_http_replog_log_sh_t  *ls;

    if (zone->log == NULL || zone->sh->log == NULL) {
        return;
    }

    ls = zone->sh->log;

    ngx_http_replog_store_lock(zone);

    ls->reset_gen++;
    ls->written_id = 0;
    ls->durable_id = 0;

    ngx_http_replog_store_unlock(zone);

    ngx_http_replog_log_kick(zone);
}


#if (NGX_THREADS)

ngx_int_t
ngx_http_replog_log_init_process(ngx_cycle_t *cycle,
    ngx_http_replog_zone_t *zone)
{
    ngx_str_t               name = ngx_string("default");
    ngx_thread_task_t      *task;
    ngx_http_replog_log_t  *lg;

    lg = zone->log;

    if (lg == NULL || zone->sh->log == NULL) {
        return NGX_OK;
    }

    lg->zone = zone;
    lg->fd = NGX_INVALID_FILE;

    lg->tp = ngx_thread_pool_get(cycle, &name);
    if (lg->tp == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "replog_zone \"%V\": no thread pool \"default\"",
                      &zone->name);
        return NGX_ERROR;
    }

    task = ngx_thread_task_alloc(zone->pool, 0);
    if (task == NULL) {
        return NGX_ERROR;
    }

    task->ctx = lg;
    task->handler = ngx_http_replog_log_thread;
    task->event.handler = ngx_http_replog_log_done;
    task->event.data = lg;
    task->event.log = cycle->log;
    lg->task = task;

    lg->timer.handler = ngx_http_replog_log_poll;
    lg->timer.data = lg;
    lg->timer.log = cycle->log;
    lg->timer.cancelable = 1;

    lg->group.handler = ngx_http_replog_log_grouped;
    lg->group.data = lg;
    lg->group.log = cycle->log;

    ngx_add_timer(&lg->timer, NGX_HTTP_REPLOG_LOG_POLL);

    return NGX_OK;
}


void
ngx_http_replog_log_exit_process(ngx_http_replog_zone_t *zone)
{
    ngx_http_replog_log_t  *lg;

    lg = zone->log;

    if (lg == NULL || lg->task == NULL) {
        return;
    }

    if (lg->timer.timer_set) {
        ngx_del_timer(&lg->timer);
    }

    /* nginx waits for the pool's tasks before the worker exits */
}


/*
 * After appends, a reset, a flush: with fsync=always the writer goes at
 * once, as clients wait for it; with fsync=off or TIME nothing waits for
 * the write, so the appends of 10 ms go out in one (the timer is
 * not cancelable: a worker that exits writes what it took first)
 */

void
ngx_http_replog_log_kick(ngx_http_replog_zone_t *zone)
{
    ngx_http_replog_log_t  *lg;

    lg = zone->log;

    if (lg == NULL || lg->task == NULL) {
        return;
    }

    if (lg->fsync == NGX_HTTP_REPLOG_FSYNC_ALWAYS) {
        ngx_http_replog_log_post(zone);
        return;
    }

    if (!lg->group.timer_set) {
        ngx_add_timer(&lg->group, NGX_HTTP_REPLOG_LOG_GROUP);
    }
}


static void
ngx_http_replog_log_grouped(ngx_event_t *ev)
{
    ngx_http_replog_log_t *lg = ev->data;

    ngx_http_replog_log_post(lg->zone);
}


/*
 * Posts the writer's task when there is something to write or fsync and
 * no other worker's task runs: the claim in the zone makes one writer.
 */

static void
ngx_http_replog_log_post(ngx_http_replog_zone_t *zone)
{
    ngx_pid_t                  pid;
    ngx_uint_t                 work;
    ngx_http_replog_sh_t      *sh;
    ngx_http_replog_log_t     *lg;
    ngx_http_replog_log_sh_t  *ls;

    lg = zone->log;

    if (lg == NULL || lg->task == NULL || lg->posted) {
        return;
    }

    sh = zone->sh;
    ls = sh->log;

    /*
     * with fsync=TIME what is written waits for its interval: the writer
     * is not posted again and again before it is due
     */
    work = sh->last_id > ls->written_id
           || ls->reset_gen != ls->done_gen
           || ngx_http_replog_log_epoch(zone) != ls->meta_epoch
           || (ls->durable_id < ls->written_id
               && (lg->fsync == NGX_HTTP_REPLOG_FSYNC_ALWAYS
                   || (lg->fsync == NGX_HTTP_REPLOG_FSYNC_TIME
                       && ngx_current_msec - ls->synced_at
                          >= lg->interval)));

    if (!work) {
        return;
    }

    if (ls->failed
        && ngx_current_msec - ls->claimed_at < NGX_HTTP_REPLOG_LOG_RETRY)
    {
        return;
    }

    pid = (ngx_pid_t) ls->claim;

    if (pid != 0) {
        if (ngx_current_msec - ls->claimed_at < NGX_HTTP_REPLOG_LOG_STALE
            || pid == ngx_pid
            || kill(pid, 0) == 0 || ngx_errno != ESRCH)
        {
            return;
        }

        /* the writer died with its claim: its task never published */
        if (!ngx_atomic_cmp_set(&ls->claim, pid, ngx_pid)) {
            return;
        }

        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "replog_zone \"%V\": writer %P is gone, %P takes over",
                      &zone->name, pid, ngx_pid);

    } else if (!ngx_atomic_cmp_set(&ls->claim, 0, ngx_pid)) {
        return;
    }

    ls->claimed_at = ngx_current_msec;

    if (ngx_thread_task_post(lg->tp, lg->task) != NGX_OK) {
        ls->claim = 0;
        return;
    }

    lg->posted = 1;
}


/*
 * On a pool thread: everything appended since the last task in one write
 * (a few, when it is larger than the buffer or fills the segment), then
 * one fdatasync as the policy says, then the marks published in the zone.
 *
 * The zone lock is taken twice per flush: once to read the marks and take
 * the entries to write (their places and sizes, not their bytes), once to
 * publish.  The bytes are copied without the lock: appended entries do not
 * change, and what may free them under the writer is a /reset (the store
 * changes the incarnation in the section that frees them, so the copy is
 * checked against it and thrown away), a resizing reload (the old zone
 * stays mapped in its workers) and an eviction, which only takes ids the
 * files hold already (written_id, moved by this thread alone; after a
 * failed write only durable_id is in the files, see abandon).
 */

static void
ngx_http_replog_log_thread(void *data, ngx_log_t *log)
{
    ngx_http_replog_log_t *lg = data;

    u_char                      *p, *q, *r, name[NGX_MAX_PATH];
    size_t                       need;
    ssize_t                      w;
    uint64_t                     written, target, gen, epoch, incarnation;
    uint64_t                     seg_first, seg_off, bytes, synced, rolls;
    uint64_t                     meta_epoch;
    ngx_err_t                    err, was;
    ngx_msec_t                   synced_at;
    ngx_uint_t                   i, j, reset, sync, nsyncs, level, rolled;
    ngx_http_replog_sh_t        *sh;
    ngx_http_replog_zone_t      *zone;
    ngx_http_replog_log_sh_t    *ls;
    ngx_http_replog_log_take_t  *t;

    zone = lg->zone;
    sh = zone->sh;
    ls = sh->log;
    err = 0;
    was = 0;
    bytes = 0;
    nsyncs = 0;
    sync = 0;
    rolled = 0;

    /* without them the run fails as a write would, tried again later */

    if (lg->buf == NULL) {
        lg->buf = ngx_alloc(NGX_HTTP_REPLOG_LOG_BUF, log);
        lg->buf_size = lg->buf ? NGX_HTTP_REPLOG_LOG_BUF : 0;
    }

    if (lg->take == NULL) {
        lg->take = ngx_alloc(NGX_HTTP_REPLOG_LOG_TAKE
                             * sizeof(ngx_http_replog_log_take_t), log);
    }

    ngx_http_replog_store_lock(zone);

    gen = ls->reset_gen;
    reset = (gen != ls->done_gen);
    written = reset ? 0 : ls->written_id;
    synced = reset ? 0 : ls->durable_id;
    seg_first = reset ? 0 : ls->seg_first;
    seg_off = reset ? 0 : ls->seg_off;
    epoch = sh->epoch;
    meta_epoch = ngx_http_replog_log_epoch(zone);
    incarnation = sh->incarnation;
    rolls = ls->rolls + reset;
    synced_at = ls->synced_at;

    /* ids before the log's first id are in no segment to be written */
    if (sh->log_first > written + 1) {
        written = sh->log_first - 1;
        synced = ngx_max(synced, written);
    }

    if (ls->abandon) {
        /* never written again after a failure: from the durable mark on */
        seg_first = 0;
        written = synced;

        /*
         * or from the zone's first id, when what follows the mark left
         * the zone once written: it stays in the abandoned segment
         */
        if (sh->first_id > written + 1) {
            written = sh->first_id - 1;
        }
    }

    target = sh->last_id;
    lg->ntake = 0;
    lg->nnotes = 0;

    if (lg->buf && lg->take) {
        ngx_http_replog_log_take_locked(lg, sh, written + 1, target);
    }

    ngx_http_replog_store_unlock(zone);

    if (lg->buf == NULL || lg->take == NULL) {
        err = NGX_ENOMEM;
        goto failed;
    }

    /* a file another writer replaced since this one opened it */
    if (lg->fd != NGX_INVALID_FILE
        && (lg->fd_rolls != rolls || lg->fd_seg != seg_first))
    {
        ngx_close_file(lg->fd);
        lg->fd = NGX_INVALID_FILE;
    }

    if (reset) {
        /* /reset: every segment removed, durably, before the new log */
        ngx_array_t  segs;
        uint64_t    *seg;
        ngx_pool_t  *pool;

        pool = ngx_create_pool(4096, log);
        if (pool == NULL
            || ngx_array_init(&segs, pool, 16, sizeof(uint64_t)) != NGX_OK
            || ngx_http_replog_log_segments(lg, &segs) != NGX_OK)
        {
            err = ngx_errno;
            goto failed;
        }

        seg = segs.elts;

        for (i = 0; i < segs.nelts; i++) {
            ngx_http_replog_log_name(lg, name, seg[i]);

            if (ngx_delete_file(name) == NGX_FILE_ERROR) {
                err = ngx_errno;
                ngx_destroy_pool(pool);
                goto failed;
            }
        }

        ngx_destroy_pool(pool);

        if (ngx_http_replog_log_sync_dir(lg) != NGX_OK) {
            err = ngx_errno;
            goto failed;
        }
    }

    /*
     * before the records: a master's first flush after it opened names
     * its epoch before any write it took is in the files
     */
    if (meta_epoch != ls->meta_epoch || incarnation != ls->meta_incarnation)
    {
        if (ngx_http_replog_log_write_meta(lg, meta_epoch, incarnation)
            != NGX_OK)
        {
            err = ngx_errno;
            goto failed;
        }
    }

    while (lg->ntake) {
        t = lg->take;
        need = RPLOG_REC_HEADER + t[0].len;

        if (need > lg->buf_size) {
            /* an entry larger than the buffer, taken alone: a larger one */
            ngx_free(lg->buf);
            lg->buf_size = ngx_align(need, 4096);
            lg->buf = ngx_alloc(lg->buf_size, log);
            if (lg->buf == NULL) {
                lg->buf_size = 0;
                err = NGX_ENOMEM;
                goto failed;
            }
        }

        /* the records, framed without the lock: the take fits the buffer */

        p = lg->buf;

        for (i = 0; i < lg->ntake; i++) {
            p = rplog_record_write(p, written + 1 + i, t[i].msg,
                                   t[i].msg_len, t[i].data, t[i].len);
        }

        ngx_memory_barrier();

        if (sh->incarnation != incarnation || ls->reset_gen != gen) {
            /* a reset freed the entries meanwhile: the copy is not theirs */
            goto done;
        }

        rplog_records_seal(lg->buf, p);

        /* out a segment at a time: it takes what fits, and one at least */

        q = lg->buf;
        i = 0;

        while (i < lg->ntake) {
            r = q;
            j = i;

            while (seg_first && j < lg->ntake) {
                need = RPLOG_REC_HEADER + t[j].len;

                if (seg_off + (r - q) + need > lg->segment
                    && !(seg_off == RPLOG_SEG_HEADER && r == q))
                {
                    break;
                }

                /* the zone as the tail: where its chunks start */
                ngx_http_replog_log_note(lg, written + 1 + (j - i),
                                         seg_first, seg_off + (r - q));

                r += need;
                j++;
            }

            if (j == i) {
                /* the segment is full (or none yet): the next one */

                if (lg->fd != NGX_INVALID_FILE
                    && lg->fsync != NGX_HTTP_REPLOG_FSYNC_OFF
                    && synced < written)
                {
                    if (fdatasync(lg->fd) == -1) {
                        err = ngx_errno;
                        goto failed;
                    }

                    nsyncs++;
                    synced = written;
                }

                if (ngx_http_replog_log_roll(lg, written + 1, epoch, log)
                    != NGX_OK)
                {
                    err = ngx_errno;
                    goto failed;
                }

                seg_first = written + 1;
                seg_off = RPLOG_SEG_HEADER;
                lg->fd_rolls = ++rolls;
                rolled = 1;

                continue;
            }

            if (lg->fd == NGX_INVALID_FILE) {
                ngx_http_replog_log_name(lg, name, seg_first);

                lg->fd = ngx_open_file(name, NGX_FILE_WRONLY, NGX_FILE_OPEN,
                                       0);
                if (lg->fd == NGX_INVALID_FILE) {
                    err = ngx_errno;
                    goto failed;
                }

                lg->fd_seg = seg_first;
                lg->fd_rolls = rolls;

                /* a segment cut at start: preallocated to its size again */
                (void) posix_fallocate(lg->fd, 0, lg->segment);
            }

            w = pwrite(lg->fd, q, r - q, (off_t) seg_off);

            if (w != (ssize_t) (r - q)) {
                err = (w == -1) ? ngx_errno : NGX_ENOSPC;
                goto failed;
            }

            seg_off += r - q;
            bytes += r - q;
            written += j - i;
            q = r;
            i = j;
        }

        if (written >= target) {
            break;
        }

        /* more than a buffer: the next part, in a locked section more */

        ngx_http_replog_store_lock(zone);

        if (ls->reset_gen != gen) {
            ngx_http_replog_store_unlock(zone);
            goto done;
        }

        ngx_http_replog_log_notes_locked(lg, sh, incarnation);
        ngx_http_replog_log_take_locked(lg, sh, written + 1, target);

        ngx_http_replog_store_unlock(zone);
    }

    sync = 0;

    if (synced < written) {
        if (lg->fsync == NGX_HTTP_REPLOG_FSYNC_ALWAYS) {
            sync = 1;

        } else if (lg->fsync == NGX_HTTP_REPLOG_FSYNC_TIME
                   && ngx_http_replog_log_now() - synced_at >= lg->interval)
        {
            sync = 1;
        }
    }

    if (sync) {
        if (fdatasync(lg->fd) == -1) {
            err = ngx_errno;
            goto failed;
        }

        nsyncs++;
        synced = written;
        synced_at = ngx_http_replog_log_now();
    }

    /* retention: after a roll, or once a second for age= */
    if ((lg->retain_size || lg->retain_age) && seg_first
        && (rolled || (lg->retain_age
                       && ngx_http_replog_log_now() - lg->retain_at >= 1000)))
    {
        lg->retain_at = ngx_http_replog_log_now();
        ngx_http_replog_log_retain(lg, seg_first, log);
    }

done:

    ngx_http_replog_store_lock(zone);

    if (ls->reset_gen == gen) {
        ngx_http_replog_log_notes_locked(lg, sh, incarnation);

        ls->done_gen = gen;

        if (lg->fsync == NGX_HTTP_REPLOG_FSYNC_OFF) {
            synced = written;

        } else if (nsyncs && synced > ls->durable_id) {
            ls->synced_entries += synced - ls->durable_id;
        }

        ls->written_id = written;
        ls->durable_id = synced;
        ls->seg_first = seg_first;
        ls->seg_off = seg_off;
        ls->meta_epoch = meta_epoch;
        ls->meta_incarnation = incarnation;
        ls->fsyncs += nsyncs;
        ls->flushes += (bytes != 0);
        ls->synced_at = synced_at;
        ls->rolls = rolls;
        ls->bytes_written += bytes;
        was = ls->failed;
        ls->failed = 0;
        ls->abandon = 0;
    }

    ls->claim = 0;

    ngx_http_replog_store_unlock(zone);

    if (was) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "replog_zone \"%V\": the log in \"%V\" is written "
                      "again, up to id %uL: writes are taken",
                      &zone->name, &lg->path, written);
    }

    return;

failed:

    if (lg->fd != NGX_INVALID_FILE) {
        ngx_close_file(lg->fd);
        lg->fd = NGX_INVALID_FILE;
    }

    ngx_http_replog_store_lock(zone);

    was = ls->failed;
    ls->failed = err ? err : EIO;
    ls->abandon = 1;
    ls->write_errors++;
    ls->fsyncs += nsyncs;

    if (ls->reset_gen == gen && !reset) {
        ls->durable_id = ngx_max(ls->durable_id, synced);
    }

    ls->claimed_at = ngx_http_replog_log_now();
    ls->claim = 0;

    ngx_http_replog_store_unlock(zone);

    /* once per failure, not at every retry: a retry failing alike is info */
    level = (was == ls->failed) ? NGX_LOG_INFO : NGX_LOG_CRIT;

    ngx_log_error(level, log, err,
                  "replog_zone \"%V\": writing the log in \"%V\" failed "
                  "after id %uL: writes are refused until it is written "
                  "again from the zone, into a new segment",
                  &zone->name, &lg->path, synced);
}


/*
 * Where a chunk's first record went, noted without the lock as it is
 * framed for its segment and handed to the zone's index under the lock
 * once written (a failed write notes nothing: the rewrite notes again)
 */

static void
ngx_http_replog_log_note(ngx_http_replog_log_t *lg, uint64_t id,
    uint64_t seg, uint64_t off)
{
    ngx_http_replog_log_note_t  *n;

    if ((id - 1) % NGX_HTTP_REPLOG_CHUNK != 0
        || lg->nnotes == NGX_HTTP_REPLOG_LOG_NOTES)
    {
        return;
    }

    n = &lg->notes[lg->nnotes++];
    n->id = id;
    n->seg = seg;
    n->off = off;
}


static void
ngx_http_replog_log_notes_locked(ngx_http_replog_log_t *lg,
    ngx_http_replog_sh_t *sh, uint64_t incarnation)
{
    ngx_uint_t  i;

    /* of entries a reset has freed since: nothing to note */
    if (sh->incarnation == incarnation) {
        for (i = 0; i < lg->nnotes; i++) {
            ngx_http_replog_store_note_locked(sh, lg->notes[i].id,
                                              lg->notes[i].seg,
                                              lg->notes[i].off);
        }
    }

    lg->nnotes = 0;
}


/*
 * Under the zone lock: the entries from id on, up to target, as many as
 * the buffer holds framed (and always one), their places and sizes only
 */

static void
ngx_http_replog_log_take_locked(ngx_http_replog_log_t *lg,
    ngx_http_replog_sh_t *sh, uint64_t id, uint64_t target)
{
    size_t                       size, need;
    ngx_uint_t                   i, k, n;
    ngx_http_replog_entry_t    **slots, *e;
    ngx_http_replog_log_take_t  *t;

    n = 0;
    size = 0;

    while (id <= target && n < NGX_HTTP_REPLOG_LOG_TAKE) {
        slots = ngx_http_replog_store_slots_locked(sh, id, &k);
        if (slots == NULL) {
            break;
        }

        for (i = 0; i < k && id <= target; i++, id++) {
            e = slots[i];
            need = RPLOG_REC_HEADER + e->len;

            if (n == NGX_HTTP_REPLOG_LOG_TAKE
                || (n && size + need > lg->buf_size))
            {
                goto taken;
            }

            t = &lg->take[n++];
            t->data = e->data;
            t->len = e->len;
            t->msg = e->msg;
            t->msg_len = e->msg_len;
            size += need;
        }
    }

taken:

    lg->ntake = n;
}


/*
 * replog_retention ZONE [size=SIZE] [age=TIME]: bounds of a durable log's
 * files, checked by the writer
 */

char *
ngx_http_replog_log_retention(ngx_conf_t *cf, ngx_str_t *name,
    ngx_http_replog_zone_t *zone, ngx_str_t *args, ngx_uint_t n)
{
    off_t       size;
    time_t      age;
    ngx_str_t   s;
    ngx_uint_t  i;

    /* the zone's; its log (path=) takes them at open */

    if (zone->retain_size || zone->retain_age) {
        return "is duplicate";
    }

    for (i = 0; i < n; i++) {

        if (args[i].len > 5 && ngx_strncmp(args[i].data, "size=", 5) == 0) {
            s.len = args[i].len - 5;
            s.data = args[i].data + 5;
            size = ngx_parse_offset(&s);

            if (size == NGX_ERROR || size == 0) {
                goto invalid;
            }

            zone->retain_size = size;
            continue;
        }

        if (args[i].len > 4 && ngx_strncmp(args[i].data, "age=", 4) == 0) {
            s.len = args[i].len - 4;
            s.data = args[i].data + 4;
            age = ngx_parse_time(&s, 1);

            if (age == (time_t) NGX_ERROR || age == 0) {
                goto invalid;
            }

            zone->retain_age = age;
            continue;
        }

        goto invalid;
    }

    if (zone->retain_size == 0 && zone->retain_age == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "replog_retention \"%V\": size=SIZE or age=TIME "
                           "is needed", name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "replog_retention \"%V\": invalid parameter \"%V\", "
                       "use size=SIZE or age=TIME", name, &args[i]);
    return NGX_CONF_ERROR;
}


/*
 * On the writer's thread: the oldest segments dropped while the files
 * exceed size= or their newest record (the file's mtime: its last write)
 * is older than age=.  Never the segment being written (current), so
 * only written ids go.  The zone learns the log's new first id K before
 * the files go; a reader holding a dropped file reads it to its end.
 */

static void
ngx_http_replog_log_retain(ngx_http_replog_log_t *lg, uint64_t current,
    ngx_log_t *log)
{
    u_char                 name[NGX_MAX_PATH];
    off_t                  total, *sizes;
    time_t                 now, *mtimes;
    uint64_t               k, cum, *seg;
    ngx_uint_t             i, n, drop;
    ngx_pool_t            *pool;
    ngx_array_t            segs;
    ngx_file_info_t        fi;
    ngx_http_replog_zone_t *zone;

    zone = lg->zone;

    pool = ngx_create_pool(4096, log);
    if (pool == NULL) {
        return;
    }

    if (ngx_array_init(&segs, pool, 16, sizeof(uint64_t)) != NGX_OK
        || ngx_http_replog_log_segments(lg, &segs) != NGX_OK)
    {
        goto done;
    }

    seg = segs.elts;
    n = segs.nelts;

    sizes = ngx_palloc(pool, (n + 1) * sizeof(off_t));
    mtimes = ngx_palloc(pool, (n + 1) * sizeof(time_t));
    if (sizes == NULL || mtimes == NULL) {
        goto done;
    }

    total = 0;

    for (i = 0; i < n; i++) {
        ngx_http_replog_log_name(lg, name, seg[i]);

        if (ngx_file_info(name, &fi) == NGX_FILE_ERROR) {
            goto done;
        }

        sizes[i] = ngx_file_size(&fi);
        mtimes[i] = ngx_file_mtime(&fi);
        total += sizes[i];
    }

    now = time(NULL);
    drop = 0;

    while (drop + 1 < n && seg[drop] < current
           && ((lg->retain_size && total > lg->retain_size)
               || (lg->retain_age && now - mtimes[drop] > lg->retain_age)))
    {
        total -= sizes[drop];
        drop++;
    }

    if (drop == 0) {
        goto done;
    }

    k = seg[drop];

    /* the list bytes before K: from the zone, or measured in the files */
    if (ngx_http_replog_reader_cum(zone, k - 1, &cum, log) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "replog_zone \"%V\": retention cannot measure the "
                      "log up to id %uL, nothing dropped", &zone->name,
                      k - 1);
        goto done;
    }

    ngx_http_replog_store_lock(zone);
    ngx_http_replog_store_start_locked(zone->sh, k, cum);
    zone->sh->log->retained += drop;
    ngx_http_replog_store_unlock(zone);

    for (i = 0; i < drop; i++) {
        ngx_http_replog_log_name(lg, name, seg[i]);

        if (ngx_delete_file(name) == NGX_FILE_ERROR) {
            ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                          ngx_delete_file_n " \"%s\" failed", name);
        }
    }

    (void) ngx_http_replog_log_sync_dir(lg);

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "replog_zone \"%V\": retention dropped %ui segments, the "
                  "log starts at id %uL (%O bytes of files kept)",
                  &zone->name, drop, k, total);

done:

    ngx_destroy_pool(pool);
}


/*
 * A new segment: preallocated, its header written and fsynced, then the
 * directory fsynced, so its name and size survive a crash before any
 * record is counted durable in it.
 */

static ngx_int_t
ngx_http_replog_log_roll(ngx_http_replog_log_t *lg, uint64_t first,
    uint64_t epoch, ngx_log_t *log)
{
    u_char     name[NGX_MAX_PATH], header[RPLOG_SEG_HEADER];
    ngx_fd_t   fd;
    ngx_err_t  err;

    if (lg->fd != NGX_INVALID_FILE) {
        ngx_close_file(lg->fd);
        lg->fd = NGX_INVALID_FILE;
    }

    ngx_http_replog_log_name(lg, name, first);

    /* left by a failed write: replaced by a new file, never written again */
    if (ngx_delete_file(name) == NGX_FILE_ERROR && ngx_errno != NGX_ENOENT) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(name, NGX_FILE_RDWR, NGX_FILE_CREATE_OR_OPEN,
                       NGX_FILE_DEFAULT_ACCESS);
    if (fd == NGX_INVALID_FILE) {
        return NGX_ERROR;
    }

    err = posix_fallocate(fd, 0, lg->segment);

    if (err) {
        ngx_close_file(fd);
        (void) ngx_delete_file(name);
        ngx_set_errno(err);
        return NGX_ERROR;
    }

    rplog_header_write(header, RPLOG_SEG_MAGIC, RPLOG_SEG_HEADER, first,
                       epoch);

    if (pwrite(fd, header, RPLOG_SEG_HEADER, 0) != RPLOG_SEG_HEADER
        || fsync(fd) == -1)
    {
        err = ngx_errno;
        ngx_close_file(fd);
        ngx_set_errno(err);
        return NGX_ERROR;
    }

    if (ngx_http_replog_log_sync_dir(lg) != NGX_OK) {
        ngx_close_file(fd);
        return NGX_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, log, 0,
                   "replog log: segment %s from id %uL", name, first);

    lg->fd = fd;
    lg->fd_seg = first;

    return NGX_OK;
}


/* back in the event loop: the next task if more came meanwhile */

static void
ngx_http_replog_log_done(ngx_event_t *ev)
{
    ngx_http_replog_log_t *lg = ev->data;

    uint64_t                 durable;
    ngx_http_replog_zone_t  *zone;

    zone = lg->zone;
    lg->posted = 0;

    /* the next flush first: what came meanwhile is written meanwhile */
    ngx_http_replog_log_kick(zone);

    /*
     * the durable mark moved (back, too, after a reset): what is parked on
     * it is answered now, in the other workers through the wake-up channel
     * and here at once, with no poll in between
     */
    durable = zone->sh->log->durable_id;

    if (lg->fsync != NGX_HTTP_REPLOG_FSYNC_ALWAYS || durable == lg->woke) {
        return;
    }

    lg->woke = durable;

    ngx_http_replog_wake_others(zone, durable, NULL);

    if (zone->role == NGX_HTTP_REPLOG_MASTER) {
        ngx_http_replog_engine_woken((ngx_cycle_t *) ngx_cycle,
                                     NGX_HTTP_REPLOG_WOKEN_FSYNC);

    } else if (lg->durable) {
        /* a secondary's acks parked in this worker */
        lg->durable(zone, NGX_HTTP_REPLOG_WOKEN_FSYNC);
    }
}


static void
ngx_http_replog_log_poll(ngx_event_t *ev)
{
    ngx_http_replog_log_t *lg = ev->data;

    ngx_http_replog_log_post(lg->zone);

    if (!ngx_exiting && !ngx_terminate && !ngx_quit) {
        ngx_add_timer(ev, lg->fsync == NGX_HTTP_REPLOG_FSYNC_TIME
                          ? ngx_min(lg->interval, NGX_HTTP_REPLOG_LOG_POLL)
                          : NGX_HTTP_REPLOG_LOG_POLL);
    }
}

#else

ngx_int_t
ngx_http_replog_log_init_process(ngx_cycle_t *cycle,
    ngx_http_replog_zone_t *zone)
{
    return NGX_OK;
}


void
ngx_http_replog_log_exit_process(ngx_http_replog_zone_t *zone)
{
}


void
ngx_http_replog_log_kick(ngx_http_replog_zone_t *zone)
{
}

#endif
