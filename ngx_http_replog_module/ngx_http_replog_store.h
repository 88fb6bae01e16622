
/*
 * Copyright (C) replog authors
 */


#ifndef _NGX_HTTP_REPLOG_STORE_H_INCLUDED_
#define _NGX_HTTP_REPLOG_STORE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_http_replog_common.h"
#include "ngx_http_replog_wake.h"
#include "ngx_http_replog_log.h"


/*
 * The store: the zone's log, the registry of secondaries and their health,
 * the epoch and the counters.  It knows no network and no HTTP; only its
 * files (store.c, registry.c) take the zone's lock, and everything the
 * others need is copied out in one look or changed in one call.
 */


/* the node's role, as its zone records it */
#define NGX_HTTP_REPLOG_MASTER        1
#define NGX_HTTP_REPLOG_SECONDARY     2

/* entries per index chunk; the index is a directory of such chunks */
#define NGX_HTTP_REPLOG_CHUNK         1024

#define NGX_HTTP_REPLOG_MAX_SECONDARIES  32

/* a secondary's state in the registry; 0 is a free slot */
#define NGX_HTTP_REPLOG_HEALTHY       1
#define NGX_HTTP_REPLOG_SUSPECTED     2
#define NGX_HTTP_REPLOG_UNHEALTHY     3
#define NGX_HTTP_REPLOG_CONFLICT      4

/* a master's log: open for writes, or recovering after a restart */
#define NGX_HTTP_REPLOG_OPEN          0
#define NGX_HTTP_REPLOG_RECOVERING    1
#define NGX_HTTP_REPLOG_PULLING       2

#define NGX_HTTP_REPLOG_HOST_LEN      64
#define NGX_HTTP_REPLOG_ERR_LEN       128

/* "2026-11-27T12:07:09.123456Z" */
#define NGX_HTTP_REPLOG_TIME_LEN                                             \
    (sizeof("1970-01-01T00:00:00.000000Z") - 1)

/* counters of the zone, atomic words */
#define NGX_HTTP_REPLOG_WAITERS       NGX_HTTP_REPLOG_WOKEN_N  /* a gauge */
#define NGX_HTTP_REPLOG_WC_TIMEOUTS   (NGX_HTTP_REPLOG_WOKEN_N + 1)
#define NGX_HTTP_REPLOG_CATCHUP       (NGX_HTTP_REPLOG_WOKEN_N + 2)
#define NGX_HTTP_REPLOG_TAILERS       (NGX_HTTP_REPLOG_WOKEN_N + 3)  /* gauge */
#define NGX_HTTP_REPLOG_TAILED        (NGX_HTTP_REPLOG_WOKEN_N + 4)  /* + by */
#define NGX_HTTP_REPLOG_COUNTERS                                             \
    (NGX_HTTP_REPLOG_TAILED + NGX_HTTP_REPLOG_TAIL_N)

/* a secondary that counts for the quorum and is sent batches */
#define ngx_http_replog_up(status)                                           \
    ((status) == NGX_HTTP_REPLOG_HEALTHY                                     \
     || (status) == NGX_HTTP_REPLOG_SUSPECTED)

/* a secondary of a snapshot that holds message id */
#define ngx_http_replog_holds(p, id)                                         \
    ((p)->status != 0 && (p)->status != NGX_HTTP_REPLOG_CONFLICT             \
     && (p)->acked_id >= (id))

/* store results besides NGX_OK / NGX_ERROR */
#define NGX_HTTP_REPLOG_FULL          1
#define NGX_HTTP_REPLOG_EPOCH         3
#define NGX_HTTP_REPLOG_MOVED         4   /* copied into a resized zone */
#define NGX_HTTP_REPLOG_FILES         5   /* the next id: in the files only */
#define NGX_HTTP_REPLOG_GONE          6   /* dropped by retention */

/* GET /messages without since: from the log's first id */
#define NGX_HTTP_REPLOG_SINCE_FIRST   ((uint64_t) -1)


/*
 * One message as stored in the zone.  data holds its list form up to its
 * holders, ',{"message":"...","meta":{"message_id":7,"registered_at":"..."',
 * so reads and replication stream bytes without encoding them again: a
 * list appends ',"registered_to":[...]}}', a batch '}}'.  The leading comma
 * is skipped for the first entry of a list.
 */
typedef struct {
    uint64_t                        id;
    uint64_t                        cum;      /* list bytes of 1..id */
    uint32_t                        len;      /* of data */
    uint32_t                        msg;      /* message JSON in data */
    uint32_t                        msg_len;
    u_char                          data[1];
} ngx_http_replog_entry_t;


/*
 * path=: where the chunk of ids c*CHUNK+1.. starts in the files, noted by
 * the writer as it frames the chunk's first record (or by the replay), so
 * that entries evicted from the zone are found and measured there
 */
typedef struct {
    uint64_t                        seg;      /* its segment, 0: none yet */
    uint64_t                        off;      /* the record's offset */
    uint64_t                        cum;      /* list bytes before it */
} ngx_http_replog_idx_t;


typedef struct {
    ngx_uint_t                      status;
    uint64_t                        generation;  /* bumped on register */

    u_char                          id[NGX_HTTP_REPLOG_ID_LEN];
    size_t                          id_len;
    ngx_sockaddr_t                  sockaddr;
    socklen_t                       socklen;
    u_char                          host[NGX_SOCKADDR_STRLEN];
    size_t                          host_len;
    in_port_t                       port;

    uint64_t                        epoch;
    uint64_t                        acked_id;
    uint64_t                        first_id;    /* its log's, 0: 1 */
    uint64_t                        incarnation; /* of its log, see ack */
    ngx_msec_t                      acked_at;    /* when acked_id moved */
    time_t                          registered_at;
    time_t                          last_healthy;
    time_t                          status_changed;  /* HEALTHY or not */
    ngx_uint_t                      fails;

    u_char                          last_error[NGX_HTTP_REPLOG_ERR_LEN];
    size_t                          last_error_len;

    uint64_t                        batches;
    uint64_t                        retries;
} ngx_http_replog_secondary_t;


typedef struct {
    /* the log: a directory of chunks of entry pointers, dense by id */
    ngx_http_replog_entry_t      ***dir;
    ngx_uint_t                      dir_cap;

    /*
     * path=: the sparse index (dir_cap of them) and the zone as the
     * log's tail: ids below first_id were evicted, whole chunks at a
     * time, once written, and are read from the files
     */
    ngx_http_replog_idx_t          *idx;
    uint64_t                        first_id;

    /*
     * the log's first id K (0: from 1), ids before it dropped by
     * retention, and the list bytes of the ids before it
     */
    uint64_t                        log_first;
    uint64_t                        log_cum;
    uint64_t                        evicted;
    ngx_atomic_t                    file_reads;
    ngx_atomic_t                    file_bytes;

    uint64_t                        epoch;
    uint64_t                        incarnation;  /* new with every log */
    uint64_t                        last_id;  /* contiguous prefix */
    uint64_t                        max_id;   /* highest id held */
    uint64_t                        bytes;    /* list bytes of the prefix */
    ngx_uint_t                      pending;  /* held past a gap */
    ngx_uint_t                      moved;    /* copied by a resize */

    uint64_t                        appended;
    uint64_t                        rejected_full;

    /*
     * written under the lock, read without it: what a request checks
     * before it reads its body (the state, the registered secondaries,
     * those up), and the lock's round trips
     */
    ngx_atomic_t                    state;
    ngx_atomic_t                    nsecondaries;
    ngx_atomic_t                    up;
    ngx_atomic_t                    locks;

    ngx_msec_t                      recovery_start;

    /* master: the registry */
    ngx_http_replog_secondary_t
                           secondaries[NGX_HTTP_REPLOG_MAX_SECONDARIES];
    uint64_t                        generation;

    /* secondary: where the batches come from */
    u_char                          master[NGX_HTTP_REPLOG_HOST_LEN];
    size_t                          master_len;

    /* counters moved without the lock, see ngx_http_replog_store_count */
    ngx_atomic_t                    counters[NGX_HTTP_REPLOG_COUNTERS];

    /* master: workers to wake when an ack covers their parked clients */
    ngx_http_replog_wake_sh_t      *wake;

    /* the durable log writer's marks, NULL without path= */
    ngx_http_replog_log_sh_t       *log;
} ngx_http_replog_sh_t;


/* typedef'd in ngx_http_replog_log.h, the log's files need it too */
struct ngx_http_replog_zone_s {
    ngx_http_replog_sh_t           *sh;
    ngx_slab_pool_t                *shpool;
    ngx_str_t                       name;
    ngx_uint_t                      used;     /* by a replog_node */
    ngx_uint_t                      role;
    ngx_uint_t                      recovery;
    ngx_pool_t                     *pool;     /* of the cycle it is of */
    ngx_http_replog_wake_slot_t    *wake;     /* this worker's entry */
    ngx_http_replog_log_t          *log;      /* path=, or NULL */
    off_t                           retain_size;  /* replog_retention */
    time_t                          retain_age;
};


/* the result of an append, copied out of the zone */
typedef struct {
    uint64_t                        id;
    int64_t                         usec;
} ngx_http_replog_appended_t;


/* a node's state and counts, read without the lock */
typedef struct {
    ngx_uint_t                      state;
    ngx_uint_t                      registered;
    ngx_uint_t                      up;
    ngx_uint_t                      cluster_size;
} ngx_http_replog_view_t;


/* a registry slot as the engine and the answers use it, a copy */
typedef struct {
    ngx_uint_t                      status;
    uint64_t                        generation;
    uint64_t                        acked_id;
    ngx_msec_t                      acked_at;
    time_t                          last_healthy;
    size_t                          id_len;
    u_char                          id[NGX_HTTP_REPLOG_ID_LEN];
} ngx_http_replog_peer_t;


/* the registry and the log's end, copied in one look */
typedef struct {
    uint64_t                        last_id;
    uint64_t                        held;     /* the master's own copy:
                                                 durable ids, see log.c */
    ngx_atomic_uint_t               locks;    /* this look's included */
    ngx_http_replog_peer_t          peer[NGX_HTTP_REPLOG_MAX_SECONDARIES];

    /* the acked_ids of the peers that count as holders, for counting */
    ngx_uint_t                      ncounted;
    uint64_t                        counted[NGX_HTTP_REPLOG_MAX_SECONDARIES];
} ngx_http_replog_peers_t;


/* all a status endpoint shows, copied in one look, formatted after */
typedef struct {
    uint64_t                        epoch;
    uint64_t                        last_id;
    uint64_t                        bytes;
    uint64_t                        appended;
    uint64_t                        rejected_full;
    uint64_t                        locks;
    uint64_t                        max_id;
    ngx_msec_t                      recovery_start;
    ngx_uint_t                      pending;
    ngx_uint_t                      state;
    ngx_uint_t                      nsecondaries;
    ngx_uint_t                      counters[NGX_HTTP_REPLOG_COUNTERS];
    ngx_http_replog_secondary_t
                           secondaries[NGX_HTTP_REPLOG_MAX_SECONDARIES];
    ngx_uint_t                      logged;   /* path= */
    uint64_t                        first_id; /* held in the zone */
    uint64_t                        log_first;  /* of the log */
    uint64_t                        evicted;
    uint64_t                        file_reads;
    uint64_t                        file_bytes;
    ngx_http_replog_log_sh_t        log;      /* its counters */
    uint64_t                        held_id;  /* what this node acks */
} ngx_http_replog_status_t;


/* what an apply left: the secondary's mark and its log's identity */
typedef struct {
    uint64_t                        acked_id;
    uint64_t                        epoch;
    uint64_t                        incarnation;
    uint64_t                        restarted;   /* at first_id, or 0 */
    uint64_t                        ended;       /* the log before it */
} ngx_http_replog_applied_t;


/*
 * ids up to hi of a list have the same holders: the suffix of each, kept
 * in a buffer of whole 8-byte words (padded) so that it is copied without
 * a call
 */
typedef struct {
    uint64_t                        hi;
    ngx_str_t                       suffix;
    size_t                          padded;
} ngx_http_replog_run_t;


/*
 * A reader's place in the log, copying entries in list form: the ids
 * next..last, or the n ids of a ring of ids from head; each entry is
 * followed by the suffix of its run.  An incarnation that is not the log's
 * any more ends the read.
 */
typedef struct {
    uint64_t                        next;
    uint64_t                        last;
    uint64_t                       *ring;
    ngx_uint_t                      ring_size;
    ngx_uint_t                      head;
    ngx_uint_t                      n;
    uint64_t                        incarnation;
    ngx_http_replog_run_t          *run;
    unsigned                        tail:1;   /* the next entry: a comma */
} ngx_http_replog_cursor_t;


/* an entry of a batch, parsed on the secondary */
typedef struct {
    uint64_t                        id;
    u_char                         *time;     /* NGX_HTTP_REPLOG_TIME_LEN */
    ngx_str_t                       msg;      /* JSON string */
} ngx_http_replog_batch_entry_t;

/* store: the zone log, knows no network and no HTTP */
ngx_int_t ngx_http_replog_init_zone(ngx_shm_zone_t *shm_zone, void *data);
void ngx_http_replog_store_lock(ngx_http_replog_zone_t *zone);
void ngx_http_replog_store_unlock(ngx_http_replog_zone_t *zone);
ngx_int_t ngx_http_replog_store_append(ngx_http_replog_zone_t *zone,
    u_char *msg, size_t len, ngx_http_replog_appended_t *out,
    ngx_http_replog_peers_t *peers);
uint64_t ngx_http_replog_store_first(ngx_http_replog_zone_t *zone);
ngx_int_t ngx_http_replog_store_apply(ngx_http_replog_zone_t *zone,
    uint64_t epoch, uint64_t first_id,
    ngx_http_replog_batch_entry_t *entries, ngx_uint_t n,
    ngx_uint_t max_pending, ngx_str_t *master,
    ngx_http_replog_applied_t *out);
ngx_int_t ngx_http_replog_store_reset(ngx_http_replog_zone_t *zone);
ngx_int_t ngx_http_replog_store_restore_locked(ngx_http_replog_zone_t *zone,
    uint64_t id, const u_char *data, size_t len, uint32_t msg,
    uint32_t msg_len);
ngx_http_replog_entry_t **ngx_http_replog_store_slots_locked(
    ngx_http_replog_sh_t *sh, uint64_t id, ngx_uint_t *n);
ngx_int_t ngx_http_replog_store_list(ngx_http_replog_zone_t *zone,
    uint64_t since, uint64_t limit, ngx_http_replog_cursor_t *cur,
    off_t *bytes, uint64_t *epoch, ngx_http_replog_peers_t *peers,
    uint64_t *measure);
ngx_uint_t ngx_http_replog_store_put(ngx_http_replog_cursor_t *cur,
    const u_char *data, size_t len, u_char **pos, u_char *end,
    size_t *need);
ngx_uint_t ngx_http_replog_store_evict_locked(ngx_http_replog_zone_t *zone,
    uint64_t written);
void ngx_http_replog_store_start_locked(ngx_http_replog_sh_t *sh,
    uint64_t first, uint64_t cum);
ngx_int_t ngx_http_replog_store_cum(ngx_http_replog_zone_t *zone,
    uint64_t id, uint64_t *cum);
void ngx_http_replog_store_note_locked(ngx_http_replog_sh_t *sh,
    uint64_t id, uint64_t seg, uint64_t off);
ngx_int_t ngx_http_replog_store_read(ngx_http_replog_zone_t *zone,
    ngx_http_replog_cursor_t *cur, u_char **pos, u_char *end,
    ngx_uint_t max, size_t *need, uint64_t *epoch);
size_t ngx_http_replog_store_master(ngx_http_replog_zone_t *zone,
    u_char *buf);
ngx_http_replog_wake_slot_t *ngx_http_replog_store_wake(
    ngx_http_replog_zone_t *zone, ngx_int_t slot, ngx_pid_t pid,
    ngx_uint_t *full);
void ngx_http_replog_store_count(ngx_http_replog_zone_t *zone, ngx_uint_t k,
    ngx_atomic_int_t n);
ngx_uint_t ngx_http_replog_store_changed(ngx_http_replog_zone_t *zone,
    ngx_atomic_uint_t seen);
uint64_t ngx_http_replog_new_epoch(void);

/* registry: secondaries and their health, in the master's zone */
ngx_int_t ngx_http_replog_registry_add(ngx_http_replog_zone_t *zone,
    ngx_str_t *id, struct sockaddr *sa, socklen_t socklen, in_port_t port,
    uint64_t epoch, uint64_t acked_id, uint64_t *master_epoch,
    uint64_t *last_id, ngx_log_t *log);
ngx_int_t ngx_http_replog_registry_ack(ngx_http_replog_zone_t *zone,
    ngx_uint_t slot, uint64_t generation, uint64_t acked_id,
    uint64_t incarnation, ngx_uint_t ok, ngx_http_replog_peers_t *peers,
    ngx_log_t *log);
void ngx_http_replog_registry_signal(ngx_http_replog_zone_t *zone,
    ngx_uint_t slot, uint64_t generation, ngx_uint_t ok, const char *err,
    ngx_uint_t retried, ngx_uint_t suspect, ngx_uint_t fails,
    ngx_log_t *log);
void ngx_http_replog_registry_conflict(ngx_http_replog_zone_t *zone,
    ngx_uint_t slot, uint64_t generation, ngx_log_t *log);
void ngx_http_replog_registry_first(ngx_http_replog_zone_t *zone,
    ngx_uint_t slot, uint64_t generation, uint64_t first_id);
ngx_int_t ngx_http_replog_registry_retry(ngx_http_replog_zone_t *zone,
    ngx_uint_t slot, uint64_t generation);
void ngx_http_replog_registry_remove(ngx_http_replog_zone_t *zone,
    ngx_uint_t slot, uint64_t generation, ngx_msec_t after, ngx_log_t *log);
ngx_int_t ngx_http_replog_registry_addr(ngx_http_replog_zone_t *zone,
    ngx_uint_t slot, uint64_t *generation, ngx_sockaddr_t *sockaddr,
    socklen_t *socklen, u_char *id, size_t *id_len);
void ngx_http_replog_registry_peers(ngx_http_replog_zone_t *zone,
    ngx_http_replog_peers_t *peers);
void ngx_http_replog_registry_peers_locked(ngx_http_replog_zone_t *zone,
    ngx_http_replog_peers_t *peers);
ngx_uint_t ngx_http_replog_holders(ngx_http_replog_peers_t *peers,
    uint64_t id);
void ngx_http_replog_registry_view(ngx_http_replog_zone_t *zone,
    ngx_uint_t cluster_size, ngx_http_replog_view_t *view);
void ngx_http_replog_registry_status(ngx_http_replog_zone_t *zone,
    ngx_http_replog_status_t *st);
ngx_uint_t ngx_http_replog_registry_open(ngx_http_replog_zone_t *zone,
    uint64_t *last_id, uint64_t *epoch, ngx_log_t *log);
ngx_int_t ngx_http_replog_registry_adopt(ngx_http_replog_zone_t *zone,
    ngx_uint_t slot, uint64_t generation, ngx_log_t *log);
ngx_int_t ngx_http_replog_registry_source(ngx_http_replog_zone_t *zone,
    ngx_uint_t slot, uint64_t generation, ngx_str_t *id);


#endif /* _NGX_HTTP_REPLOG_STORE_H_INCLUDED_ */
