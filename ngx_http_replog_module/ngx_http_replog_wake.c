
/*
 * Copyright (C) replog authors
 */


/*
 * Wake-ups across workers.  Every worker of a node binds a datagram
 * socket in the abstract UNIX namespace, named by its pid, and registers
 * in each node's zone under its ngx_process_slot; in a master zone with
 * the lowest id it has parked clients for and the least write concern
 * among them.  A worker that reads an ack sends one byte to every other
 * worker whose lowest parked id the ack covers and is now held by that
 * many nodes (no parked client of that worker can be satisfied
 * otherwise); the receiver looks at its waiters again.  A "woken" flag
 * per entry keeps at most one byte on its way to a worker; spurious
 * wake-ups only cost a look at the registry.
 *
 * Tailers (GET /messages?wait=) use the same channel on masters and
 * secondaries: a worker with parked tailers marks the lowest id they wait
 * for (tail), and a worker that appended up to last_id sends its byte to
 * the others whose mark it reaches.  The zone counts the marked entries,
 * so that while nobody tails an append looks at one word only.  The same
 * ordering holds: the tailer marks before the locked look at last_id, the
 * appender reads the marks after the locked append.
 *
 * The durable log's writer (log.c) uses the same channel when its fsync
 * moved the durable mark: on a master every worker with a client parked
 * at or below the mark looks (its links send what is now durable), on a
 * secondary with fsync=always every worker with an ack parked below it
 * answers it; there the lowest parked id is the lowest acked_id parked.
 *
 * Ordering: a worker that will park marks itself before it takes the
 * zone lock to append (ngx_http_replog_engine_expect) and looks at the
 * registry in that append; the acking worker moves acked_id and copies
 * the registry in one locked section, and reads the marks after it
 * released the lock (locked instructions, full barriers): one of the two
 * always sees the other, and of two workers moving the acks of two
 * secondaries at once the later one counts both.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>
#include <sys/un.h>
#include "ngx_http_replog_engine.h"
#include "ngx_http_replog_tail.h"


/* datagrams read at most in one go; the rest in the next loop turn */
#define NGX_HTTP_REPLOG_WAKE_READS    256


static ngx_int_t ngx_http_replog_wake_open(ngx_cycle_t *cycle);
static socklen_t ngx_http_replog_wake_addr(struct sockaddr_un *sun,
    ngx_pid_t pid);
static void ngx_http_replog_wake_read(ngx_event_t *rev);
static void ngx_http_replog_wake_send(ngx_http_replog_wake_slot_t *e,
    ngx_atomic_uint_t pid);
static ngx_http_replog_wake_slot_t *ngx_http_replog_wake_register(
    ngx_http_replog_zone_t *zone, ngx_log_t *log);


static ngx_connection_t  *ngx_http_replog_wake_conn;
static ngx_uint_t         ngx_http_replog_wake_failing;


static socklen_t
ngx_http_replog_wake_addr(struct sockaddr_un *sun, ngx_pid_t pid)
{
    u_char  *p;

    ngx_memzero(sun, sizeof(struct sockaddr_un));
    sun->sun_family = AF_UNIX;

    /* abstract: a leading NUL, no file, gone with the socket */
    p = ngx_sprintf((u_char *) sun->sun_path + 1, "nginx-replog-wake/%P",
                    pid);

    return (socklen_t) (offsetof(struct sockaddr_un, sun_path)
                        + (p - (u_char *) sun->sun_path));
}


static ngx_int_t
ngx_http_replog_wake_open(ngx_cycle_t *cycle)
{
    socklen_t            len;
    ngx_socket_t         s;
    ngx_connection_t    *c;
    struct sockaddr_un   sun;

    s = socket(AF_UNIX, SOCK_DGRAM, 0);

    if (s == (ngx_socket_t) -1) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_socket_errno,
                      "replog: wake-up socket() failed, waiters rely on "
                      "the poll");
        return NGX_ERROR;
    }

    len = ngx_http_replog_wake_addr(&sun, ngx_pid);

    if (ngx_nonblocking(s) == -1
        || fcntl(s, F_SETFD, FD_CLOEXEC) == -1
        || bind(s, (struct sockaddr *) &sun, len) == -1)
    {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_socket_errno,
                      "replog: wake-up socket of worker %P failed, waiters "
                      "rely on the poll", ngx_pid);
        (void) ngx_close_socket(s);
        return NGX_ERROR;
    }

    c = ngx_get_connection(s, cycle->log);

    if (c == NULL) {
        (void) ngx_close_socket(s);
        return NGX_ERROR;
    }

    c->read->handler = ngx_http_replog_wake_read;
    c->read->log = cycle->log;
    c->write->log = cycle->log;

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_close_connection(c);
        return NGX_ERROR;
    }

    ngx_http_replog_wake_conn = c;

    return NGX_OK;
}


/* an entry of this worker's slot: a crashed predecessor's is taken over */

static ngx_http_replog_wake_slot_t *
ngx_http_replog_wake_register(ngx_http_replog_zone_t *zone, ngx_log_t *log)
{
    ngx_uint_t                    full;
    ngx_http_replog_wake_slot_t  *e;

    e = ngx_http_replog_store_wake(zone, ngx_process_slot, ngx_pid, &full);

    /* a crashed predecessor's tail mark: it parks nobody any more */
    if (e && e->tail) {
        e->tail = 0;
        (void) ngx_atomic_fetch_add(&zone->sh->wake->tailing, -1);
    }

    if (e == NULL) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "replog: no wake-up entry for worker %P in replog_zone "
                      "\"%V\" (%s): its waiters rely on the poll", ngx_pid,
                      &zone->name, full ? "the zone is full" : "all taken");
    }

    return e;
}


ngx_int_t
ngx_http_replog_wake_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                     i;
    ngx_http_replog_zone_t        *zone;
    ngx_http_replog_srv_conf_t   **nodes;
    ngx_http_replog_main_conf_t   *rmcf;

    /* the cache manager and loader never park a client */
    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    rmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_replog_module);

    if (rmcf == NULL) {
        return NGX_OK;
    }

    nodes = rmcf->nodes.elts;

    /*
     * masters for writers and tailers, secondaries for tailers and for
     * their acks parked until the durable mark covers them
     */

    for (i = 0; i < rmcf->nodes.nelts; i++) {
        zone = nodes[i]->shm_zone->data;

        if (zone->wake) {
            /* two nodes of one zone */
            continue;
        }

        /* no socket: nobody is told to wake this worker, it polls */
        if (ngx_http_replog_wake_conn == NULL
            && ngx_http_replog_wake_open(cycle) != NGX_OK)
        {
            return NGX_OK;
        }

        zone->wake = ngx_http_replog_wake_register(zone, cycle->log);
    }

    return NGX_OK;
}


void
ngx_http_replog_wake_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                     i;
    ngx_http_replog_zone_t        *zone;
    ngx_http_replog_srv_conf_t   **nodes;
    ngx_http_replog_main_conf_t   *rmcf;

    rmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_replog_module);

    if (rmcf) {
        nodes = rmcf->nodes.elts;

        for (i = 0; i < rmcf->nodes.nelts; i++) {
            zone = nodes[i]->shm_zone->data;

            if (zone->wake == NULL) {
                continue;
            }

            zone->wake->lowest = 0;
            ngx_http_replog_wake_tail_mark(zone, 0);
            (void) ngx_atomic_cmp_set(&zone->wake->pid, ngx_pid, 0);
            zone->wake = NULL;
        }
    }

    if (ngx_http_replog_wake_conn) {
        ngx_close_connection(ngx_http_replog_wake_conn);
        ngx_http_replog_wake_conn = NULL;
    }
}


/*
 * this worker's lowest parked id in a zone (0 when none is parked) and the
 * least write concern parked; the concern first: a reader that sees the
 * new id with the old concern errs on the side of a wake-up
 */

void
ngx_http_replog_wake_mark(ngx_http_replog_wake_slot_t *me, uint64_t lowest,
    ngx_uint_t minwc)
{
    if (me) {
        if (lowest && (ngx_uint_t) me->minwc > minwc) {
            me->minwc = minwc;
            me->lowest = (ngx_atomic_uint_t) lowest;

        } else {
            me->lowest = (ngx_atomic_uint_t) lowest;
            me->minwc = minwc;
        }
    }
}


/*
 * a secondary answered acked_id to this worker: wake the others whose
 * parked clients it may satisfy, as the registry copied with the ack
 * (peers) tells; without peers the durable mark moved to acked_id, and
 * every worker with something parked below it looks (its links may send)
 */

void
ngx_http_replog_wake_others(ngx_http_replog_zone_t *zone, uint64_t acked_id,
    ngx_http_replog_peers_t *peers)
{
    ngx_uint_t                    i;
    ngx_atomic_uint_t             pid, lowest;
    ngx_http_replog_wake_sh_t    *wake;
    ngx_http_replog_wake_slot_t  *e;

    wake = zone->sh->wake;

    if (wake == NULL || ngx_http_replog_wake_conn == NULL) {
        return;
    }

    for (i = 0; i < NGX_HTTP_REPLOG_WAKE_SLOTS; i++) {
        e = &wake->slots[i];

        pid = e->pid;
        lowest = e->lowest;

        if (pid == 0 || pid == (ngx_atomic_uint_t) ngx_pid
            || lowest == 0 || lowest > acked_id || e->woken)
        {
            continue;
        }

        /* the master holds every id */
        if (peers
            && ngx_http_replog_holders(peers, lowest) < (ngx_uint_t) e->minwc)
        {
            /* its clients need more nodes: a later ack wakes it */
            continue;
        }

        ngx_http_replog_wake_send(e, pid);
    }
}


/*
 * this worker appended up to last_id: wake the other workers with parked
 * tailers that it satisfies
 */

void
ngx_http_replog_wake_tailers(ngx_http_replog_zone_t *zone, uint64_t last_id)
{
    ngx_uint_t                    i;
    ngx_atomic_uint_t             pid, tail;
    ngx_http_replog_wake_sh_t    *wake;
    ngx_http_replog_wake_slot_t  *e;

    wake = zone->sh->wake;

    /* after the append's unlock (a full barrier): see the ordering above */
    if (wake == NULL || wake->tailing == 0
        || ngx_http_replog_wake_conn == NULL)
    {
        return;
    }

    for (i = 0; i < NGX_HTTP_REPLOG_WAKE_SLOTS; i++) {
        e = &wake->slots[i];

        pid = e->pid;
        tail = e->tail;

        if (pid == 0 || pid == (ngx_atomic_uint_t) ngx_pid
            || tail == 0 || tail > last_id || e->woken)
        {
            continue;
        }

        ngx_http_replog_wake_send(e, pid);
    }
}


/*
 * this worker's tail mark in a zone: the lowest id its parked tailers wait
 * for, 0 when none is parked; the zone counts the marked entries
 */

void
ngx_http_replog_wake_tail_mark(ngx_http_replog_zone_t *zone, uint64_t tail)
{
    ngx_http_replog_wake_slot_t  *me;

    me = zone->wake;

    if (me == NULL || me->tail == (ngx_atomic_uint_t) tail) {
        return;
    }

    if (me->tail == 0) {
        /* counted first: an append that sees the mark also sees the count */
        (void) ngx_atomic_fetch_add(&zone->sh->wake->tailing, 1);
        me->tail = (ngx_atomic_uint_t) tail;
        return;
    }

    me->tail = (ngx_atomic_uint_t) tail;

    if (tail == 0) {
        (void) ngx_atomic_fetch_add(&zone->sh->wake->tailing, -1);
    }
}


/* one byte to the worker of entry e, at most one on its way */

static void
ngx_http_replog_wake_send(ngx_http_replog_wake_slot_t *e,
    ngx_atomic_uint_t pid)
{
    ngx_err_t           err;
    socklen_t           len;
    struct sockaddr_un  sun;

    if (!ngx_atomic_cmp_set(&e->woken, 0, 1)) {
        /* a byte is on its way: the worker has not looked yet */
        return;
    }

    len = ngx_http_replog_wake_addr(&sun, (ngx_pid_t) pid);

    if (sendto(ngx_http_replog_wake_conn->fd, "w", 1, 0,
               (struct sockaddr *) &sun, len)
        != -1)
    {
        ngx_http_replog_wake_failing = 0;
        return;
    }

    err = ngx_socket_errno;

    if (err == NGX_EAGAIN) {
        /* its queue is full: it has bytes to read anyway */
        return;
    }

    if (err == NGX_ECONNREFUSED || err == NGX_ENOENT) {
        /* nobody binds the name: a worker that died without exit */
        if (ngx_atomic_cmp_set(&e->pid, pid, 0)) {
            ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, err,
                          "replog: worker %P is gone, its wake-up "
                          "entry is freed", (ngx_pid_t) pid);
        }

        return;
    }

    /* logged once until a wake-up gets through again */
    if (!ngx_http_replog_wake_failing) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, err,
                      "replog: wake-up of worker %P failed, waiters "
                      "there rely on the next ack or the poll",
                      (ngx_pid_t) pid);
        ngx_http_replog_wake_failing = 1;
    }

    e->woken = 0;
}


static void
ngx_http_replog_wake_read(ngx_event_t *rev)
{
    u_char                         buf[64];
    ssize_t                        n;
    ngx_err_t                      err;
    ngx_uint_t                     i;
    ngx_connection_t              *c;
    ngx_http_replog_zone_t        *zone;
    ngx_http_replog_srv_conf_t   **nodes;
    ngx_http_replog_main_conf_t   *rmcf;

    c = rev->data;

    /* what the bytes say does not matter: any of them means "look" */

    for (i = 0; i < NGX_HTTP_REPLOG_WAKE_READS; i++) {
        n = recv(c->fd, buf, sizeof(buf), 0);

        if (n == -1) {
            err = ngx_socket_errno;

            if (err != NGX_EAGAIN && err != NGX_EINTR) {
                ngx_log_error(NGX_LOG_ALERT, rev->log, err,
                              "replog: wake-up recv() failed");
            }

            if (err != NGX_EINTR) {
                break;
            }
        }
    }

    if (i == NGX_HTTP_REPLOG_WAKE_READS) {
        /* flooded: the rest in the next turn of the loop */
        ngx_post_event(rev, &ngx_posted_events);

    } else {
        rev->ready = 0;

        if (ngx_handle_read_event(rev, 0) != NGX_OK) {
            ngx_log_error(NGX_LOG_ALERT, rev->log, 0,
                          "replog: wake-up socket lost, waiters rely on "
                          "the poll");
        }
    }

    rmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_replog_module);
    if (rmcf == NULL) {
        return;
    }

    /* cleared before the look: a later ack sends another byte */

    nodes = rmcf->nodes.elts;

    for (i = 0; i < rmcf->nodes.nelts; i++) {
        zone = nodes[i]->shm_zone->data;

        if (zone->wake) {
            zone->wake->woken = 0;
        }
    }

    ngx_http_replog_engine_woken((ngx_cycle_t *) ngx_cycle,
                                 NGX_HTTP_REPLOG_WOKEN_WORKER);
    ngx_http_replog_tail_woken((ngx_cycle_t *) ngx_cycle);

    /* a secondary's acks parked for the durable mark */
    for (i = 0; i < rmcf->nodes.nelts; i++) {
        zone = nodes[i]->shm_zone->data;

        if (zone->wake && zone->log && zone->log->durable) {
            zone->log->durable(zone, NGX_HTTP_REPLOG_WOKEN_WORKER);
        }
    }
}
