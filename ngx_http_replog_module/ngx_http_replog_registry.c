
/*
 * Copyright (C) replog authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_replog_module.h"


static void ngx_http_replog_registry_set_status(ngx_http_replog_secondary_t *s,
    ngx_uint_t status, const char *why, ngx_log_t *log);


#define ngx_http_replog_registry_up(status)                                 \
    ((status) == NGX_HTTP_REPLOG_HEALTHY                                     \
     || (status) == NGX_HTTP_REPLOG_SUSPECTED)


static const char  *ngx_http_replog_status_names[] = {
    "FREE", "HEALTHY", "SUSPECTED", "UNHEALTHY", "CONFLICT"
};


static const char  *ngx_http_replog_state_names[] = {
    "open", "recovering", "pulling"
};


const char *
ngx_http_replog_state_name(ngx_uint_t state)
{
    return ngx_http_replog_state_names[state];
}


/*
 * Once the master's epoch is settled, a secondary that holds a log of
 * another epoch is a CONFLICT: it gets nothing and is never wiped silently.
 * Once the master is open, one of its epoch that holds more than the
 * master may hold entries the master never recovered: a CONFLICT too.
 */

void
ngx_http_replog_registry_judge_locked(ngx_http_replog_zone_t *zone,
    ngx_log_t *log)
{
    ngx_uint_t                    i;
    ngx_http_replog_sh_t         *sh;
    ngx_http_replog_secondary_t  *s;

    sh = zone->sh;

    for (i = 0; i < NGX_HTTP_REPLOG_MAX_SECONDARIES; i++) {
        s = &sh->secondaries[i];

        if (s->status == 0 || s->status == NGX_HTTP_REPLOG_CONFLICT
            || s->epoch == 0 || s->acked_id == 0)
        {
            continue;
        }

        if (s->epoch != sh->epoch) {
            ngx_http_replog_registry_set_status(s, NGX_HTTP_REPLOG_CONFLICT,
                                                "its log has another epoch",
                                                log);

        } else if (sh->state == NGX_HTTP_REPLOG_OPEN
                   && s->acked_id > sh->last_id)
        {
            ngx_http_replog_registry_set_status(s, NGX_HTTP_REPLOG_CONFLICT,
                                                "it holds more than the "
                                                "master", log);
        }
    }
}


const char *
ngx_http_replog_status_name(ngx_uint_t status)
{
    return ngx_http_replog_status_names[status];
}


/*
 * What a request needs to know of the node, in one look under the lock:
 * the log's state, the registered secondaries, the nodes up (the master
 * and its HEALTHY or SUSPECTED secondaries) and the cluster size.
 */

void
ngx_http_replog_registry_view(ngx_http_replog_srv_conf_t *node,
    ngx_http_replog_view_t *view)
{
    ngx_uint_t               i, status;
    ngx_http_replog_zone_t  *zone;

    zone = node->shm_zone->data;

    view->up = 1;

    ngx_shmtx_lock(&zone->shpool->mutex);

    view->state = zone->sh->state;
    view->registered = zone->sh->nsecondaries;

    for (i = 0; i < NGX_HTTP_REPLOG_MAX_SECONDARIES; i++) {
        status = zone->sh->secondaries[i].status;

        if (status == NGX_HTTP_REPLOG_HEALTHY
            || status == NGX_HTTP_REPLOG_SUSPECTED)
        {
            view->up++;
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    view->cluster_size = node->cluster_size ? node->cluster_size
                                            : view->registered + 1;
}


/*
 * Registers a secondary or updates it: its address comes from the
 * connection, and the acked_id it reports is taken as the truth (a
 * restarted secondary reports 0 and is caught up from the start).
 * Returns the slot, NGX_DECLINED when the registry is full, or NGX_BUSY
 * when the zone was copied into a resized one.
 */

ngx_int_t
ngx_http_replog_registry_add(ngx_http_replog_zone_t *zone, ngx_str_t *id,
    struct sockaddr *sa, socklen_t socklen, in_port_t port, uint64_t epoch,
    uint64_t acked_id, ngx_log_t *log)
{
    ngx_uint_t                    i, fresh;
    ngx_http_replog_sh_t         *sh;
    ngx_http_replog_secondary_t  *s, *free;

    sh = zone->sh;
    free = NULL;
    s = NULL;

    ngx_shmtx_lock(&zone->shpool->mutex);

    /* an old worker after a resizing reload: the new zone's registry rules */
    if (sh->moved) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
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
            ngx_shmtx_unlock(&zone->shpool->mutex);
            return NGX_DECLINED;
        }

        s = free;
        ngx_memzero(s, sizeof(ngx_http_replog_secondary_t));

        ngx_memcpy(s->id, id->data, id->len);
        s->id_len = id->len;
        sh->nsecondaries++;
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
    s->incarnation = 0;         /* the next answer tells */
    s->acked_at = 0;            /* catch-up starts at once */
    s->registered_at = ngx_time();
    s->last_healthy = ngx_time();
    s->status_changed = ngx_time();     /* as the original: registered */
    s->fails = 0;
    s->last_error_len = 0;

    if (epoch && acked_id && epoch != sh->epoch
        && sh->state == NGX_HTTP_REPLOG_OPEN)
    {
        /* its log diverges from ours: never mixed, never wiped */
        ngx_http_replog_registry_set_status(s, NGX_HTTP_REPLOG_CONFLICT,
                                            "its log has another epoch",
                                            log);

    } else if (epoch && epoch == sh->epoch && acked_id > sh->last_id
               && sh->state == NGX_HTTP_REPLOG_OPEN)
    {
        /*
         * more of our epoch than the master has: entries the master never
         * recovered, or ids the master gave since to other messages;
         * never counted as holding new ids
         */
        ngx_http_replog_registry_set_status(s, NGX_HTTP_REPLOG_CONFLICT,
                                            "it holds more than the master",
                                            log);

    } else {
        ngx_http_replog_registry_set_status(s, NGX_HTTP_REPLOG_HEALTHY,
                                            fresh ? "registered"
                                                  : "registered again",
                                            log);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return s - sh->secondaries;
}


/*
 * An answer of a secondary: its contiguous high-water mark.  Within one
 * incarnation of its log the mark only grows (answers of several
 * connections may be handled out of order); a new incarnation, a secondary
 * restarted or reset, is taken as the truth, even when it says 0.  A mark
 * past the master's last id is a protocol error: NGX_DECLINED, not stored.
 */

ngx_int_t
ngx_http_replog_registry_ack(ngx_http_replog_zone_t *zone, ngx_uint_t slot,
    uint64_t generation, uint64_t acked_id, uint64_t incarnation,
    ngx_log_t *log)
{
    ngx_http_replog_sh_t         *sh;
    ngx_http_replog_secondary_t  *s;

    static const char  err[] = "acked_id beyond the master's log";

    sh = zone->sh;

    ngx_shmtx_lock(&zone->shpool->mutex);

    s = &sh->secondaries[slot];

    if (s->status == 0 || s->generation != generation) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_OK;
    }

    if (acked_id > sh->last_id) {

        /* once until another error: the failure signal records this one */
        if (s->last_error_len != sizeof(err) - 1
            || ngx_strncmp(s->last_error, err, sizeof(err) - 1) != 0)
        {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "replog: secondary \"%*s\" at %*s:%d answered "
                          "acked_id %uL, beyond the master's last id %uL: "
                          "a protocol error, ignored",
                          s->id_len, s->id, s->host_len, s->host,
                          (int) s->port, acked_id, sh->last_id);
        }

        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_DECLINED;
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

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return NGX_OK;
}


/* a success or failure of a heartbeat or batch moves the health state */

void
ngx_http_replog_registry_signal(ngx_http_replog_srv_conf_t *node,
    ngx_uint_t slot, uint64_t generation, ngx_uint_t ok, const char *err,
    ngx_log_t *log)
{
    ngx_http_replog_zone_t       *zone;
    ngx_http_replog_secondary_t  *s;

    zone = node->shm_zone->data;

    ngx_shmtx_lock(&zone->shpool->mutex);

    s = &zone->sh->secondaries[slot];

    if (s->status == 0 || s->generation != generation
        || s->status == NGX_HTTP_REPLOG_CONFLICT)
    {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return;
    }

    if (ok) {
        s->fails = 0;
        s->last_healthy = ngx_time();

        if (s->status != NGX_HTTP_REPLOG_HEALTHY) {
            ngx_http_replog_registry_set_status(s, NGX_HTTP_REPLOG_HEALTHY,
                                                "answered", log);
        }

        ngx_shmtx_unlock(&zone->shpool->mutex);
        return;
    }

    s->fails++;
    s->last_error_len = ngx_cpystrn(s->last_error, (u_char *) err,
                                    NGX_HTTP_REPLOG_ERR_LEN)
                        - s->last_error;

    if (s->fails >= node->hc_fails) {
        if (s->status != NGX_HTTP_REPLOG_UNHEALTHY) {
            ngx_http_replog_registry_set_status(s, NGX_HTTP_REPLOG_UNHEALTHY,
                                                err, log);
        }

    } else if (s->fails >= node->hc_suspect) {
        if (s->status == NGX_HTTP_REPLOG_HEALTHY) {
            ngx_http_replog_registry_set_status(s, NGX_HTTP_REPLOG_SUSPECTED,
                                                err, log);
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


void
ngx_http_replog_registry_conflict(ngx_http_replog_zone_t *zone,
    ngx_uint_t slot, uint64_t generation, ngx_log_t *log)
{
    ngx_http_replog_secondary_t  *s;

    ngx_shmtx_lock(&zone->shpool->mutex);

    s = &zone->sh->secondaries[slot];

    if (s->status && s->generation == generation
        && s->status != NGX_HTTP_REPLOG_CONFLICT)
    {
        ngx_http_replog_registry_set_status(s, NGX_HTTP_REPLOG_CONFLICT,
                                            "it refused our epoch", log);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


static void
ngx_http_replog_registry_set_status(ngx_http_replog_secondary_t *s,
    ngx_uint_t status, const char *why, ngx_log_t *log)
{
    ngx_uint_t  level;

    /* a state change is logged once, at notice or warn */
    if (s->status == status) {
        level = NGX_LOG_INFO;

    } else {
        level = (status == NGX_HTTP_REPLOG_HEALTHY) ? NGX_LOG_NOTICE
                                                     : NGX_LOG_WARN;
    }

    ngx_log_error(level, log, 0,
                  "replog: secondary \"%*s\" at %*s:%d %s -> %s: %s",
                  s->id_len, s->id, s->host_len, s->host, (int) s->port,
                  ngx_http_replog_status_names[s->status],
                  ngx_http_replog_status_names[status], why);

    /* the original's status: SUSPECTED still counts as HEALTHY */
    if (ngx_http_replog_registry_up(s->status)
        != ngx_http_replog_registry_up(status))
    {
        s->status_changed = ngx_time();
    }

    s->status = status;
}


/*
 * Counts the nodes that hold a message, the master included, and lists
 * them as a JSON array of ids.
 */

ngx_uint_t
ngx_http_replog_registry_holders(ngx_http_replog_zone_t *zone, uint64_t id,
    ngx_pool_t *pool, ngx_str_t *master_id, ngx_str_t *json)
{
    u_char                       *p;
    size_t                        len;
    ngx_uint_t                    i, n;
    ngx_http_replog_sh_t         *sh;
    ngx_http_replog_secondary_t  *s;

    sh = zone->sh;
    p = NULL;

    /* durable log hook: with fsync=always the master once it is on disk */
    n = ngx_http_replog_log_holds(zone, id);

    len = pool ? sizeof("[\"\"]")
                 + ngx_http_replog_json_escape_len(master_id->data,
                                                   master_id->len)
               : 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (i = 0; i < NGX_HTTP_REPLOG_MAX_SECONDARIES; i++) {
        s = &sh->secondaries[i];

        if (s->status == 0 || s->status == NGX_HTTP_REPLOG_CONFLICT
            || s->acked_id < id)
        {
            continue;
        }

        n++;
        len += sizeof(",\"\"") + ngx_http_replog_json_escape_len(s->id,
                                                                 s->id_len);
    }

    if (pool) {
        p = ngx_pnalloc(pool, len);
    }

    if (p) {
        json->data = p;
        *p++ = '[';
        *p++ = '"';
        p = ngx_http_replog_json_escape(p, master_id->data, master_id->len);
        *p++ = '"';

        for (i = 0; i < NGX_HTTP_REPLOG_MAX_SECONDARIES; i++) {
            s = &sh->secondaries[i];

            if (s->status == 0 || s->status == NGX_HTTP_REPLOG_CONFLICT
                || s->acked_id < id)
            {
                continue;
            }

            *p++ = ',';
            *p++ = '"';
            p = ngx_http_replog_json_escape(p, s->id, s->id_len);
            *p++ = '"';
        }

        *p++ = ']';
        json->len = p - json->data;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (pool && p == NULL) {
        return 0;
    }

    return n;
}


/* [{"id":"s1","status":"HEALTHY","acked_id":7}, ...] for /health */

ngx_int_t
ngx_http_replog_registry_states(ngx_http_replog_zone_t *zone,
    ngx_pool_t *pool, ngx_str_t *json)
{
    u_char                       *p;
    ngx_uint_t                    i;
    ngx_http_replog_secondary_t  *s;

    p = ngx_pnalloc(pool, 2 + NGX_HTTP_REPLOG_MAX_SECONDARIES
                              * (sizeof("{\"id\":\"\",\"status\":\"SUSPECTED\","
                                        "\"acked_id\":},")
                                 + 6 * NGX_HTTP_REPLOG_ID_LEN
                                 + NGX_INT64_LEN));
    if (p == NULL) {
        return NGX_ERROR;
    }

    json->data = p;
    *p++ = '[';

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (i = 0; i < NGX_HTTP_REPLOG_MAX_SECONDARIES; i++) {
        s = &zone->sh->secondaries[i];

        if (s->status == 0) {
            continue;
        }

        if (p[-1] != '[') {
            *p++ = ',';
        }

        p = ngx_cpymem(p, "{\"id\":\"", sizeof("{\"id\":\"") - 1);
        p = ngx_http_replog_json_escape(p, s->id, s->id_len);
        p = ngx_sprintf(p, "\",\"status\":\"%s\",\"acked_id\":%uL}",
                        ngx_http_replog_status_names[s->status],
                        s->acked_id);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    *p++ = ']';
    json->len = p - json->data;

    return NGX_OK;
}


/*
 * GET /secondaries, or with original set GET /secondary/list: status as
 * the original has it (HEALTHY or UNHEALTHY), with last_status_change,
 * and replog's own status in "state"
 */

ngx_int_t
ngx_http_replog_registry_json(ngx_http_replog_zone_t *zone, ngx_pool_t *pool,
    ngx_uint_t original, ngx_str_t *json)
{
    u_char                       *p, *start;
    size_t                        len;
    uint64_t                      last_id;
    ngx_tm_t                      tm;
    ngx_uint_t                    i, first;
    ngx_http_replog_sh_t         *sh;
    ngx_http_replog_secondary_t  *s;

    sh = zone->sh;

    len = sizeof("{\"data\":[]}\n")
          + NGX_HTTP_REPLOG_MAX_SECONDARIES
            * (sizeof("{\"id\":\"\",\"host\":\"\",\"port\":,\"status\":\"\","
                      "\"last_status_change\":\"YYYY-MM-DD HH:MM:SS\","
                      "\"state\":\"\","
                      "\"last_healthy_status\":\"\",\"registered_at\":\"\","
                      "\"acked_id\":,\"lag\":,\"fails\":,\"epoch\":\"\","
                      "\"last_error\":\"\"},")
               + 6 * NGX_HTTP_REPLOG_ID_LEN + NGX_SOCKADDR_STRLEN
               + 2 * NGX_HTTP_REPLOG_TIME_LEN + 16 + 5 + 3 * NGX_INT64_LEN
               + 6 * NGX_HTTP_REPLOG_ERR_LEN + 16);

    start = ngx_pnalloc(pool, len);
    if (start == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(start, "{\"data\":[", sizeof("{\"data\":[") - 1);
    first = 1;

    ngx_shmtx_lock(&zone->shpool->mutex);

    last_id = sh->last_id;

    for (i = 0; i < NGX_HTTP_REPLOG_MAX_SECONDARIES; i++) {
        s = &sh->secondaries[i];

        if (s->status == 0) {
            continue;
        }

        if (!first) {
            *p++ = ',';
        }

        first = 0;

        p = ngx_cpymem(p, "{\"id\":\"", sizeof("{\"id\":\"") - 1);
        p = ngx_http_replog_json_escape(p, s->id, s->id_len);
        p = ngx_sprintf(p, "\",\"host\":\"%*s\",\"port\":%d,\"status\":\"",
                        s->host_len, s->host, (int) s->port);

        if (original) {
            ngx_gmtime(s->status_changed, &tm);

            p = ngx_sprintf(p, "%s\",\"last_status_change\":"
                            "\"%4d-%02d-%02d %02d:%02d:%02d\",\"state\":\"",
                            ngx_http_replog_registry_up(s->status)
                            ? "HEALTHY" : "UNHEALTHY",
                            tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                            tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);
        }

        p = ngx_sprintf(p, "%s\",\"last_healthy_status\":\"",
                        ngx_http_replog_status_names[s->status]);
        p = ngx_http_replog_format_time(p, (int64_t) s->last_healthy * 1000000);
        p = ngx_cpymem(p, "\",\"registered_at\":\"",
                       sizeof("\",\"registered_at\":\"") - 1);
        p = ngx_http_replog_format_time(p,
                                        (int64_t) s->registered_at * 1000000);
        p = ngx_sprintf(p, "\",\"acked_id\":%uL,\"lag\":%uL,\"fails\":%ui,"
                        "\"epoch\":\"", s->acked_id,
                        last_id > s->acked_id ? last_id - s->acked_id : 0,
                        s->fails);
        p = ngx_http_replog_format_epoch(p, s->epoch);
        p = ngx_cpymem(p, "\",\"last_error\":",
                       sizeof("\",\"last_error\":") - 1);

        if (s->last_error_len) {
            *p++ = '"';
            p = ngx_http_replog_json_escape(p, s->last_error,
                                            s->last_error_len);
            *p++ = '"';

        } else {
            p = ngx_cpymem(p, "null", 4);
        }

        *p++ = '}';
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    p = ngx_cpymem(p, "]}\n", 3);

    json->data = start;
    json->len = p - start;

    return NGX_OK;
}


/*
 * What a recovering master waits for, for /health:
 * {"needed":2,"awaited":1,"registered":["s1"]}, needed and awaited in
 * secondaries.
 */

ngx_int_t
ngx_http_replog_registry_awaited(ngx_http_replog_zone_t *zone,
    ngx_uint_t needed, ngx_pool_t *pool, ngx_str_t *json)
{
    u_char                       *p;
    ngx_uint_t                    i, n;
    ngx_http_replog_secondary_t  *s;

    p = ngx_pnalloc(pool, sizeof("{\"needed\":,\"awaited\":,"
                                 "\"registered\":[]}")
                          + 2 * NGX_INT_T_LEN
                          + NGX_HTTP_REPLOG_MAX_SECONDARIES
                            * (3 + 6 * NGX_HTTP_REPLOG_ID_LEN));
    if (p == NULL) {
        return NGX_ERROR;
    }

    json->data = p;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (i = 0, n = 0; i < NGX_HTTP_REPLOG_MAX_SECONDARIES; i++) {
        n += (zone->sh->secondaries[i].status != 0);
    }

    p = ngx_sprintf(p, "{\"needed\":%ui,\"awaited\":%ui,\"registered\":[",
                    needed, n < needed ? needed - n : 0);

    for (i = 0, n = 0; i < NGX_HTTP_REPLOG_MAX_SECONDARIES; i++) {
        s = &zone->sh->secondaries[i];

        if (s->status == 0) {
            continue;
        }

        if (n++) {
            *p++ = ',';
        }

        *p++ = '"';
        p = ngx_http_replog_json_escape(p, s->id, s->id_len);
        *p++ = '"';
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    *p++ = ']';
    *p++ = '}';

    json->len = p - json->data;

    return NGX_OK;
}
