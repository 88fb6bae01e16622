
/*
 * Copyright (C) replog authors
 */


/*
 * The few nginx core functions the fuzzed parsers call, for the fuzzers
 * only.  nginx-dev ships headers but no core sources or objects, so these
 * are written here against the contracts in nginx's headers, with the same
 * results (number conversions refuse empty input, non-digits and
 * overflow; case-insensitive compares stop at a NUL in both strings).
 *
 * A pool gives every allocation its own malloc() block of exactly the size
 * asked, so ASan catches a read one byte past any of them.
 *
 * The rest are symbols the module files reference from code the harnesses
 * never run (connecting, events, timers): they abort, so a harness that
 * reaches one fails loudly instead of misbehaving.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>


volatile ngx_cycle_t  *ngx_cycle;
volatile ngx_msec_t    ngx_current_msec;
ngx_rbtree_t           ngx_event_timer_rbtree;


static void
ngx_fuzz_unreachable(const char *name)
{
    fprintf(stderr, "fuzz shim: %s() called, the harness must not\n", name);
    abort();
}


void
ngx_log_error_core(ngx_uint_t level, ngx_log_t *log, ngx_err_t err,
    const char *fmt, ...)
{
    /* the parsers' logs are not under test */
}


void *
ngx_alloc(size_t size, ngx_log_t *log)
{
    return malloc(size);
}


ngx_pool_t *
ngx_create_pool(size_t size, ngx_log_t *log)
{
    ngx_pool_t  *pool;

    pool = calloc(1, sizeof(ngx_pool_t));
    if (pool == NULL) {
        return NULL;
    }

    pool->log = log;

    return pool;
}


void
ngx_destroy_pool(ngx_pool_t *pool)
{
    ngx_pool_large_t  *l, *next;

    for (l = pool->large; l; l = next) {
        next = l->next;
        free(l->alloc);
        free(l);
    }

    free(pool);
}


void *
ngx_palloc(ngx_pool_t *pool, size_t size)
{
    ngx_pool_large_t  *l;

    l = malloc(sizeof(ngx_pool_large_t));
    if (l == NULL) {
        return NULL;
    }

    l->alloc = malloc(size ? size : 1);
    if (l->alloc == NULL) {
        free(l);
        return NULL;
    }

    l->next = pool->large;
    pool->large = l;

    return l->alloc;
}


void *
ngx_pnalloc(ngx_pool_t *pool, size_t size)
{
    return ngx_palloc(pool, size);
}


void *
ngx_pcalloc(ngx_pool_t *pool, size_t size)
{
    void  *p;

    p = ngx_palloc(pool, size);
    if (p) {
        ngx_memzero(p, size);
    }

    return p;
}


ngx_int_t
ngx_strncasecmp(u_char *s1, u_char *s2, size_t n)
{
    ngx_uint_t  c1, c2;

    for ( /* void */ ; n; n--) {
        c1 = ngx_tolower(*s1);
        c2 = ngx_tolower(*s2);
        s1++;
        s2++;

        if (c1 != c2) {
            return c1 - c2;
        }

        if (c1 == 0) {
            return 0;
        }
    }

    return 0;
}


/* s2 is lowercase and n + 1 bytes long; found in [s1, last) or NULL */

u_char *
ngx_strlcasestrn(u_char *s1, u_char *last, u_char *s2, size_t n)
{
    u_char  *p;

    if ((size_t) (last - s1) <= n) {
        return NULL;
    }

    for (p = s1; p < last - n; p++) {
        if (ngx_tolower(*p) == ngx_tolower(*s2)
            && ngx_strncasecmp(p + 1, s2 + 1, n) == 0)
        {
            return p;
        }
    }

    return NULL;
}


ngx_int_t
ngx_atoi(u_char *line, size_t n)
{
    ngx_int_t  value, d;

    if (n == 0) {
        return NGX_ERROR;
    }

    for (value = 0; n--; line++) {
        if (*line < '0' || *line > '9') {
            return NGX_ERROR;
        }

        d = *line - '0';

        if (value > (NGX_MAX_INT_T_VALUE - d) / 10) {
            return NGX_ERROR;
        }

        value = value * 10 + d;
    }

    return value;
}


off_t
ngx_atoof(u_char *line, size_t n)
{
    off_t  value, d;

    if (n == 0) {
        return NGX_ERROR;
    }

    for (value = 0; n--; line++) {
        if (*line < '0' || *line > '9') {
            return NGX_ERROR;
        }

        d = *line - '0';

        if (value > (NGX_MAX_OFF_T_VALUE - d) / 10) {
            return NGX_ERROR;
        }

        value = value * 10 + d;
    }

    return value;
}


ngx_int_t
ngx_hextoi(u_char *line, size_t n)
{
    u_char     c;
    ngx_int_t  value, d;

    if (n == 0) {
        return NGX_ERROR;
    }

    for (value = 0; n--; line++) {
        c = *line;

        if (c >= '0' && c <= '9') {
            d = c - '0';

        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            d = (c | 0x20) - 'a' + 10;

        } else {
            return NGX_ERROR;
        }

        if (value > (NGX_MAX_INT_T_VALUE - d) / 16) {
            return NGX_ERROR;
        }

        value = value * 16 + d;
    }

    return value;
}


/* never reached from the parsers */

ngx_int_t
ngx_event_connect_peer(ngx_peer_connection_t *pc)
{
    ngx_fuzz_unreachable("ngx_event_connect_peer");
    return NGX_ERROR;
}


ngx_int_t
ngx_event_get_peer(ngx_peer_connection_t *pc, void *data)
{
    ngx_fuzz_unreachable("ngx_event_get_peer");
    return NGX_ERROR;
}


void
ngx_close_connection(ngx_connection_t *c)
{
    ngx_fuzz_unreachable("ngx_close_connection");
}


ngx_int_t
ngx_handle_read_event(ngx_event_t *rev, ngx_uint_t flags)
{
    ngx_fuzz_unreachable("ngx_handle_read_event");
    return NGX_ERROR;
}


ngx_int_t
ngx_handle_write_event(ngx_event_t *wev, size_t lowat)
{
    ngx_fuzz_unreachable("ngx_handle_write_event");
    return NGX_ERROR;
}


/* the encoders' time formatting, never run by a harness of a parser */

void
ngx_gmtime(time_t t, ngx_tm_t *tp)
{
    ngx_fuzz_unreachable("ngx_gmtime");
}


/* the client's request builders, never run by a harness of its parser */

u_char * ngx_cdecl
ngx_sprintf(u_char *buf, const char *fmt, ...)
{
    ngx_fuzz_unreachable("ngx_sprintf");
    return buf;
}


size_t
ngx_sock_ntop(struct sockaddr *sa, socklen_t socklen, u_char *text,
    size_t len, ngx_uint_t port)
{
    ngx_fuzz_unreachable("ngx_sock_ntop");
    return 0;
}


void
ngx_rbtree_insert(ngx_rbtree_t *tree, ngx_rbtree_node_t *node)
{
    ngx_fuzz_unreachable("ngx_rbtree_insert");
}


void
ngx_rbtree_delete(ngx_rbtree_t *tree, ngx_rbtree_node_t *node)
{
    ngx_fuzz_unreachable("ngx_rbtree_delete");
}
