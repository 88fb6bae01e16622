
/*
 * Copyright (C) replog authors
 */


/*
 * replog-register: registers a replog secondary with its master at
 * start-up and, with --watch, registers it again whenever the master has
 * forgotten it (restart with a new log, removal from its registry).
 * This file runs those steps; rr_conf.c reads the settings, rr_http.c
 * speaks to the nodes.
 * Built by "make helper" (libcurl, jansson and libcrypto).
 */


#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rr.h"


/* how late a signal that races with the check before nanosleep() is seen */
#define RR_SLEEP_STEP     0.1

/* the local nginx starts beside the helper: polled this often */
#define RR_LOCAL_POLL     0.15


typedef struct {
    double              start;
    double              delay;
} rr_backoff_t;


static double rr_now(void);
static void rr_on_signal(int signo);
static int rr_sleep(double seconds);
static void rr_backoff_init(rr_backoff_t *b, rr_conf_t *conf);
static int rr_backoff_wait(rr_backoff_t *b, rr_conf_t *conf);
static int rr_startup(rr_conf_t *conf, rr_http_t *h, rr_reg_t *reg);
static void rr_note(char *last, const char *fmt, ...);
static int rr_watch(rr_conf_t *conf, rr_http_t *h, rr_reg_t *reg);


volatile sig_atomic_t  rr_stop;


int
main(int argc, char **argv)
{
    int               rc;
    rr_reg_t          reg;
    rr_conf_t         conf;
    struct sigaction  sa;
    static rr_http_t  http;    /* 64 KiB buffer: not on the stack */

    rc = rr_configure(&conf, argc, argv);
    if (rc != RR_OK) {
        rr_conf_free(&conf);
        return rc;
    }

    /* no SA_RESTART: a signal cuts nanosleep() and curl's poll() short */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = rr_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        rr_log("curl_global_init() failed");
        rr_conf_free(&conf);
        return RR_EXIT_GAVE_UP;
    }

    rc = rr_http_init(&http, &conf);

    if (rc == RR_OK) {
        rc = rr_startup(&conf, &http, &reg);

        if (rc == RR_EXIT_OK && conf.watch > 0) {
            rc = rr_watch(&conf, &http, &reg);
        }

    } else {
        rc = RR_EXIT_GAVE_UP;
    }

    rr_http_free(&http);
    rr_conf_free(&conf);
    curl_global_cleanup();

    return rc;
}


void
rr_vlog(const char *fmt, va_list args)
{
    char  line[RR_ERR_MAX * 2];

    vsnprintf(line, sizeof(line), fmt, args);

    /* one write per line: lines of concurrent writers stay whole */
    fprintf(stderr, RR_NAME ": %s\n", line);
}


void
rr_log(const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    rr_vlog(fmt, args);
    va_end(args);
}


void
rr_info(rr_conf_t *conf, const char *fmt, ...)
{
    va_list  args;

    if (conf->quiet) {
        return;
    }

    va_start(args, fmt);
    rr_vlog(fmt, args);
    va_end(args);
}


static double
rr_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static void
rr_on_signal(int signo)
{
    (void) signo;

    rr_stop = 1;
}


/* RR_OK after the time, RR_STOPPED as soon as a signal asks to stop */

static int
rr_sleep(double seconds)
{
    double           until, left;
    struct timespec  ts;

    until = rr_now() + seconds;

    while (!rr_stop) {
        left = until - rr_now();

        if (left <= 0) {
            return RR_OK;
        }

        if (left > RR_SLEEP_STEP) {
            left = RR_SLEEP_STEP;
        }

        ts.tv_sec = (time_t) left;
        ts.tv_nsec = (long) ((left - ts.tv_sec) * 1e9);

        (void) nanosleep(&ts, NULL);
    }

    return RR_STOPPED;
}


static void
rr_backoff_init(rr_backoff_t *b, rr_conf_t *conf)
{
    b->start = rr_now();
    b->delay = conf->retry_interval;
}


/* RR_OK: try again now; RR_AGAIN: the budget is spent; or RR_STOPPED */

static int
rr_backoff_wait(rr_backoff_t *b, rr_conf_t *conf)
{
    double  left, wait;

    left = conf->max_delay - (rr_now() - b->start);

    if (left <= 0) {
        return RR_AGAIN;
    }

    wait = b->delay;

    if (wait > conf->max_delay) {
        wait = conf->max_delay;
    }

    /* one last attempt right when the budget ends, not after it */
    if (wait > left) {
        wait = left;
    }

    if (rr_sleep(wait) != RR_OK) {
        return RR_STOPPED;
    }

    if (conf->exponential) {
        b->delay = b->delay * 5 / 4;
    }

    return RR_OK;
}


/* steps 1 to 3: wait for the local node, read its state, register */

static int
rr_startup(rr_conf_t *conf, rr_http_t *h, rr_reg_t *reg)
{
    int           rc;
    char          err[RR_ERR_MAX], epoch[RR_EPOCH_LEN + 1];
    double        bound, until;
    uint64_t      last_id;
    rr_backoff_t  b;

    /*
     * the local nginx starts beside us and is up in well under a second:
     * polled briefly, not at the pace of the retries towards the master
     */

    bound = conf->local_wait < conf->max_delay ? conf->local_wait
                                                : conf->max_delay;
    until = rr_now() + bound;

    for ( ;; ) {
        rc = rr_http_request(h, &conf->local, "healthcheck", NULL, err,
                             sizeof(err));

        if (rc == RR_OK && h->status != 200) {
            snprintf(err, sizeof(err), "answered %ld", h->status);
            rc = RR_AGAIN;
        }

        if (rc == RR_REFUSED) {
            snprintf(err, sizeof(err), "answered %ld", h->status);
        }

        if (rc == RR_OK) {
            break;
        }

        if (rc != RR_STOPPED) {
            if (rr_now() >= until) {
                rr_log("local node %s does not answer /healthcheck after "
                       "%gs: %s", conf->local.text, bound, err);
                return RR_EXIT_GAVE_UP;
            }

            rc = rr_sleep(RR_LOCAL_POLL);
        }

        if (rc == RR_STOPPED) {
            rr_log("stopped before registering");
            return RR_EXIT_GAVE_UP;
        }
    }

    /* the operator's answer to CONFLICT: discard the log, rejoin from 1 */

    if (conf->reset) {
        rc = rr_reset(conf, h, err, sizeof(err));

        if (rc != RR_OK || h->status != 200) {
            rr_log("local node %s refused /reset (%ld): %s",
                   conf->local.text, h->status, err);
            return RR_EXIT_REFUSED;
        }

        rr_info(conf, "the log of \"%s\" is discarded", conf->id.value);
    }

    rc = rr_local_state(conf, h, epoch, &last_id, err, sizeof(err));

    switch (rc) {

    case RR_OK:
        break;

    case RR_REFUSED:
        rr_log("local node refused /health (%ld): %s", h->status, err);
        return RR_EXIT_REFUSED;

    case RR_STOPPED:
        rr_log("stopped before registering");
        return RR_EXIT_GAVE_UP;

    default:
        rr_log("local node %s /health: %s", conf->local.text, err);
        return RR_EXIT_GAVE_UP;
    }

    rr_backoff_init(&b, conf);

    for ( ;; ) {
        rc = rr_register(conf, h, epoch, last_id, reg, err, sizeof(err));

        if (rc == RR_OK) {
            break;
        }

        if (rc == RR_REFUSED) {
            rr_log("master refused registration (%ld): %s", h->status, err);
            return RR_EXIT_REFUSED;
        }

        if (rc != RR_STOPPED) {
            rc = rr_backoff_wait(&b, conf);
        }

        if (rc == RR_STOPPED) {
            rr_log("stopped before registering");
            return RR_EXIT_GAVE_UP;
        }

        if (rc == RR_AGAIN) {
            rr_log("master %s unreachable after %gs: %s", conf->master.text,
                   conf->max_delay, err);
            return RR_EXIT_GAVE_UP;
        }
    }

    rr_info(conf, "registered \"%s\" with master \"%s\" (epoch %s, master "
            "last_id %" PRIu64 ")", conf->id.value, reg->master_id,
            reg->epoch, reg->last_id);

    return RR_EXIT_OK;
}


/* logs a problem once, not again while it stays the same */

static void
rr_note(char *last, const char *fmt, ...)
{
    char     line[RR_ERR_MAX * 2];
    va_list  args;

    va_start(args, fmt);
    vsnprintf(line, sizeof(line), fmt, args);
    va_end(args);

    if (strcmp(line, last) == 0) {
        return;
    }

    snprintf(last, RR_ERR_MAX * 2, "%s", line);

    rr_log("%s", line);
}


/*
 * Step 4: register again whenever the master has lost us: a new epoch (a
 * restart with a new log), our id missing from /secondaries (a restart, or
 * removal), or the master back after being unreachable.  Failures are
 * logged once per change, and retried on the next round.
 */

static int
rr_watch(rr_conf_t *conf, rr_http_t *h, rr_reg_t *reg)
{
    int          rc, up, registered, listed;
    char         err[RR_ERR_MAX], epoch[RR_EPOCH_LEN + 1];
    char         last[RR_ERR_MAX * 2];
    uint64_t     last_id;
    const char  *why;

    up = 1;
    registered = 1;
    last[0] = '\0';

    while (rr_sleep(conf->watch) == RR_OK) {

        rc = rr_http_request(h, &conf->master, "health", NULL, err,
                             sizeof(err));

        if (rc == RR_STOPPED) {
            break;
        }

        if (rc == RR_AGAIN) {
            if (up) {
                rr_note(last, "master %s unreachable: %s", conf->master.text,
                        err);
            }

            up = 0;
            continue;
        }

        if (rc == RR_REFUSED) {
            rr_note(last, "master refused /health (%ld): %s", h->status, err);
            continue;
        }

        if (rr_master_epoch(h, epoch) != RR_OK) {
            rr_note(last, "master %s: no epoch in its /health answer",
                    conf->master.text);
            continue;
        }

        why = NULL;

        if (!up) {
            why = "the master is reachable again";

        } else if (!registered) {
            why = "the last attempt failed";

        } else if (strcmp(epoch, reg->epoch) != 0) {
            why = "the master's epoch changed";

        } else {
            rc = rr_http_request(h, &conf->master, "secondaries", NULL,
                                 err, sizeof(err));

            if (rc == RR_STOPPED) {
                break;
            }

            if (rc == RR_REFUSED) {
                /* e.g. a master with another api key */
                rr_note(last, "master refused /secondaries (%ld): %s: cannot "
                        "tell whether it still lists \"%s\"", h->status, err,
                        conf->id.value);
            }

            listed = (rc == RR_OK) ? rr_listed(h, conf->id.value) : -1;

            if (listed == 0) {
                why = "the master does not list it";
            }
        }

        up = 1;

        if (why == NULL) {
            continue;
        }

        registered = 0;

        rc = rr_local_state(conf, h, epoch, &last_id, err, sizeof(err));

        if (rc == RR_STOPPED) {
            break;
        }

        if (rc != RR_OK) {
            rr_note(last, "cannot register again: local node %s /health: %s",
                    conf->local.text, err);
            continue;
        }

        rc = rr_register(conf, h, epoch, last_id, reg, err, sizeof(err));

        if (rc == RR_STOPPED) {
            break;
        }

        if (rc == RR_REFUSED) {
            rr_note(last, "master refused registration (%ld): %s", h->status,
                    err);
            continue;
        }

        if (rc != RR_OK) {
            rr_note(last, "cannot register again with master %s: %s",
                    conf->master.text, err);
            continue;
        }

        registered = 1;
        last[0] = '\0';

        rr_info(conf, "registered \"%s\" with master \"%s\" (epoch %s, master "
                "last_id %" PRIu64 ") again: %s", conf->id.value,
                reg->master_id, reg->epoch, reg->last_id, why);
    }

    return RR_EXIT_OK;
}
