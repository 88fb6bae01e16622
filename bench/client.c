/*
 * bench-client: a closed-loop load generator on one epoll loop, the same
 * design for replog (HTTP), Redis and etcd, so that all are driven alike.
 *
 *   bench-client -m http|redis|etcd -p PORT [-H 127.0.0.1] [-c 64] [-d 10]
 *                [-w 1] [-u /messages?wc=1] [-r 2] [-n COUNT]
 *
 * -c connections, each with one operation in flight; -d seconds measured
 * after -w seconds of warm-up; http: POST of {"message":"<60 bytes>"} to
 * -u, any 2xx is a success; redis: "SET <unique key> <60-byte value>" and
 * "WAIT <-r> 0" in one write, done when both replies are in; etcd: POST
 * /v3/kv/put of {"key":"<base64 unique key>","value":"<base64 60 bytes>"}
 * (the grpc-gateway JSON API), a success is a 200 whose body holds a
 * "header".  Each operation is timed from its write to its last reply
 * byte.  With -n: exactly COUNT operations are sent (no warm-up, -d is
 * then only a bound), the first failure stops the run, and secs is the
 * time from the start to the last reply.  Prints one line:
 *
 *   ops=N secs=S rate=R p50=MS p99=MS p999=MS max=MS errors=E
 *
 * and, after a failure with -n, " first_error=STATUS after=OK_OPS".
 */

#define _GNU_SOURCE                 /* memmem */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>


#define IN_SIZE   16384
#define OUT_SIZE  1024


typedef struct {
    int                 fd;
    int                 connected;
    int                 busy;        /* an operation is in flight */
    int                 close_after; /* the server said Connection: close */
    int                 replies;     /* redis: replies still to come */
    int                 id;
    uint64_t            seq;
    uint64_t            start;       /* ns */
    size_t              out_len;
    size_t              out_pos;
    size_t              in_len;
    char                out[OUT_SIZE];
    char                in[IN_SIZE];
} conn_t;


enum { MODE_HTTP, MODE_REDIS, MODE_ETCD };

static int                 mode;
static int                 replicas = 2;
static const char         *path = "/messages?wc=1";
static struct sockaddr_in  addr;
static int                 ep;

static uint64_t            t_measure, t_end;
static uint64_t           *lat;
static size_t              nlat, caplat;
static uint64_t            errors;
static uint64_t            short_waits;

static uint64_t            limit;        /* -n: operations in all, 0: none */
static uint64_t            started;
static uint64_t            ok_ops;
static uint64_t            t_last;       /* ns: the last reply */
static int                 halted;       /* -n: a failure stopped the run */
static int                 first_error;  /* its HTTP status, -1: garbage */
static uint64_t            first_after;  /* successes before it */


static uint64_t
now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}


static void
die(const char *what)
{
    perror(what);
    exit(2);
}


static void
record(uint64_t start, uint64_t end)
{
    if (start < t_measure || end > t_end) {
        return;
    }

    if (nlat == caplat) {
        caplat = caplat ? caplat * 2 : 1 << 20;
        lat = realloc(lat, caplat * sizeof(uint64_t));
        if (lat == NULL) {
            die("realloc");
        }
    }

    lat[nlat++] = end - start;
}


/* whether another operation may start at time t */

static int
more(uint64_t t)
{
    if (halted || t >= t_end) {
        return 0;
    }

    return limit == 0 || started < limit;
}


static void
fail(int status)
{
    errors++;

    if (limit && !halted) {
        halted = 1;
        first_error = status;
        first_after = ok_ops;
    }
}


/* base64 of len bytes of src into dst (4 * ceil(len / 3) + 1 bytes) */

static size_t
base64(char *dst, const char *src, size_t len)
{
    size_t              i, n;
    uint32_t            v;
    static const char   tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "abcdefghijklmnopqrstuvwxyz0123456789+/";

    for (i = 0, n = 0; i < len; i += 3) {
        v = (uint32_t) (unsigned char) src[i] << 16;

        if (i + 1 < len) {
            v |= (uint32_t) (unsigned char) src[i + 1] << 8;
        }

        if (i + 2 < len) {
            v |= (unsigned char) src[i + 2];
        }

        dst[n++] = tab[(v >> 18) & 63];
        dst[n++] = tab[(v >> 12) & 63];
        dst[n++] = (i + 1 < len) ? tab[(v >> 6) & 63] : '=';
        dst[n++] = (i + 2 < len) ? tab[v & 63] : '=';
    }

    dst[n] = '\0';

    return n;
}


static void
watch(conn_t *c, int op, uint32_t events)
{
    struct epoll_event  ev;

    ev.events = events;
    ev.data.ptr = c;

    if (epoll_ctl(ep, op, c->fd, &ev) == -1) {
        die("epoll_ctl");
    }
}


static void
conn_open(conn_t *c)
{
    int  one = 1;

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd == -1) {
        die("socket");
    }

    (void) setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    c->connected = 0;
    c->busy = 0;
    c->close_after = 0;
    c->in_len = 0;

    if (connect(c->fd, (struct sockaddr *) &addr, sizeof(addr)) == -1
        && errno != EINPROGRESS)
    {
        die("connect");
    }

    watch(c, EPOLL_CTL_ADD, EPOLLIN | EPOLLOUT);
}


static void
conn_close(conn_t *c)
{
    (void) epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
}


static int
conn_flush(conn_t *c)
{
    ssize_t  n;

    while (c->out_pos < c->out_len) {
        n = write(c->fd, c->out + c->out_pos, c->out_len - c->out_pos);

        if (n == -1) {
            if (errno == EAGAIN) {
                watch(c, EPOLL_CTL_MOD, EPOLLIN | EPOLLOUT);
                return 0;
            }

            return -1;
        }

        c->out_pos += n;
    }

    watch(c, EPOLL_CTL_MOD, EPOLLIN);

    return 0;
}


static int
op_start(conn_t *c)
{
    int   n;
    char  text[96], body[256];

    c->seq++;
    started++;

    /* ~60 bytes, every one different */
    snprintf(text, sizeof(text),
             "bench c%03d n%09llu lorem ipsum dolor sit amet, consectetur.",
             c->id, (unsigned long long) c->seq);

    if (mode == MODE_REDIS) {
        char  key[32];

        snprintf(key, sizeof(key), "bench:%03d:%09llu", c->id,
                 (unsigned long long) c->seq);

        n = snprintf(c->out, OUT_SIZE,
                     "*3\r\n$3\r\nSET\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n",
                     strlen(key), key, strlen(text), text);

        c->replies = 1;

        if (replicas) {
            char  r[16];

            snprintf(r, sizeof(r), "%d", replicas);
            n += snprintf(c->out + n, OUT_SIZE - n,
                          "*3\r\n$4\r\nWAIT\r\n$%zu\r\n%s\r\n$1\r\n0\r\n",
                          strlen(r), r);
            c->replies = 2;
        }

    } else {
        int   blen;

        if (mode == MODE_ETCD) {
            char  key[32], k64[48], v64[100];

            n = snprintf(key, sizeof(key), "bench/%03d/%09llu", c->id,
                         (unsigned long long) c->seq);
            base64(k64, key, n);
            base64(v64, text, strlen(text));
            blen = snprintf(body, sizeof(body),
                            "{\"key\":\"%s\",\"value\":\"%s\"}", k64, v64);

        } else {
            blen = snprintf(body, sizeof(body), "{\"message\":\"%s\"}",
                            text);
        }

        n = snprintf(c->out, OUT_SIZE,
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: %d\r\n\r\n%s", path, blen, body);
    }

    c->out_len = n;
    c->out_pos = 0;
    c->busy = 1;
    c->start = now_ns();

    return conn_flush(c);
}


/* a complete HTTP answer at the start of c->in: its length, 0: not yet */

static size_t
http_parse(conn_t *c, int *status)
{
    char    *p, *end, *hend, *line;
    size_t   clen;

    c->in[c->in_len < IN_SIZE ? c->in_len : IN_SIZE - 1] = '\0';

    hend = strstr(c->in, "\r\n\r\n");
    if (hend == NULL) {
        return 0;
    }

    if (c->in_len < 12 || strncmp(c->in, "HTTP/1.", 7) != 0) {
        *status = -1;
        return c->in_len;
    }

    *status = atoi(c->in + 9);
    clen = 0;
    end = hend + 2;

    for (line = strstr(c->in, "\r\n") + 2; line < end;
         line = strstr(line, "\r\n") + 2)
    {
        if (strncasecmp(line, "Content-Length:", 15) == 0) {
            clen = strtoul(line + 15, NULL, 10);

        } else if (strncasecmp(line, "Connection: close", 17) == 0) {
            c->close_after = 1;

        } else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0) {
            /* every peer here sends Content-Length; say so if one does not */
            fprintf(stderr, "bench-client: a chunked answer\n");
            exit(2);
        }
    }

    p = hend + 4;

    if ((size_t) (p - c->in) + clen > c->in_len) {
        return 0;
    }

    /* etcd: a put done is a 200 with the response header in JSON */
    if (mode == MODE_ETCD && *status == 200
        && memmem(p, clen, "\"header\":{", 10) == NULL)
    {
        *status = -1;
    }

    return (p - c->in) + clen;
}


/* the replies of a Redis operation: 1 when all are in, -1 on garbage */

static int
redis_parse(conn_t *c, size_t *used)
{
    char    *p, *nl, *end;
    long     n;

    p = c->in;
    end = c->in + c->in_len;

    while (c->replies) {
        nl = memchr(p, '\n', end - p);
        if (nl == NULL) {
            break;
        }

        switch (*p) {
        case '+':
            break;
        case ':':
            n = strtol(p + 1, NULL, 10);
            if (n < replicas) {
                short_waits++;
            }
            break;
        case '-':
            fail(-1);
            break;
        default:
            return -1;
        }

        c->replies--;
        p = nl + 1;
    }

    *used = p - c->in;

    return c->replies == 0;
}


static void
op_done(conn_t *c, uint64_t t)
{
    c->busy = 0;
    record(c->start, t);
    t_last = t;

    if (c->close_after) {
        conn_close(c);

        if (more(t)) {
            conn_open(c);
        }

        return;
    }

    if (!more(t)) {
        conn_close(c);
        return;
    }

    if (op_start(c) == -1) {
        fail(-1);
        conn_close(c);

        if (more(t)) {
            conn_open(c);
        }
    }
}


static void
conn_read(conn_t *c)
{
    int       status = 0, rc;
    size_t    used;
    ssize_t   n;
    uint64_t  t;

    for ( ;; ) {
        if (c->in_len >= IN_SIZE - 1) {
            fprintf(stderr, "bench-client: an answer over %d bytes\n",
                    IN_SIZE);
            exit(2);
        }

        n = read(c->fd, c->in + c->in_len, IN_SIZE - 1 - c->in_len);

        if (n == -1 && errno == EAGAIN) {
            return;
        }

        if (n <= 0) {
            /* closed: an operation cut short is an error */
            if (c->busy) {
                fail(-1);
            }

            t = now_ns();
            conn_close(c);

            if (more(t)) {
                conn_open(c);
            }

            return;
        }

        c->in_len += n;

        for ( ;; ) {
            if (!c->busy) {
                /* nothing was asked: bytes out of turn */
                fail(-1);
                c->in_len = 0;
                break;
            }

            if (mode == MODE_REDIS) {
                rc = redis_parse(c, &used);
                if (rc == -1) {
                    fprintf(stderr, "bench-client: bad Redis reply\n");
                    exit(2);
                }

                /* the replies parsed are gone even when more are due */
                memmove(c->in, c->in + used, c->in_len - used);
                c->in_len -= used;
                used = 0;

            } else {
                used = http_parse(c, &status);
                rc = (used != 0);

                if (rc && (status < 200 || status > 299
                           || (mode == MODE_ETCD && status != 200)))
                {
                    fail(status);
                }
            }

            if (!rc) {
                break;
            }

            if (mode != MODE_REDIS && status >= 200 && status <= 299) {
                ok_ops++;
            }

            memmove(c->in, c->in + used, c->in_len - used);
            c->in_len -= used;

            t = now_ns();
            op_done(c, t);

            if (c->fd == -1 || !c->busy) {
                return;
            }

            if (c->in_len == 0) {
                break;
            }
        }

        if (c->fd == -1) {
            return;
        }
    }
}


static int
cmp_u64(const void *a, const void *b)
{
    uint64_t  x = *(const uint64_t *) a, y = *(const uint64_t *) b;

    return (x > y) - (x < y);
}


static double
pct(double q)
{
    size_t  i;

    if (nlat == 0) {
        return 0;
    }

    i = (size_t) (q * nlat + 0.999999);
    i = i ? i - 1 : 0;

    return lat[i < nlat ? i : nlat - 1] / 1e6;
}


int
main(int argc, char **argv)
{
    int                  i, opt, nconns = 64, port = 0, open_conns, n;
    double               secs = 10, warm = 1;
    conn_t              *conns, *c;
    uint64_t             t, t0, t_grace;
    const char          *host = "127.0.0.1", *mname = "http";
    struct epoll_event   evs[256];

    while ((opt = getopt(argc, argv, "m:H:p:c:d:w:u:r:n:")) != -1) {
        switch (opt) {
        case 'm': mname = optarg; break;
        case 'H': host = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'c': nconns = atoi(optarg); break;
        case 'd': secs = atof(optarg); break;
        case 'w': warm = atof(optarg); break;
        case 'u': path = optarg; break;
        case 'r': replicas = atoi(optarg); break;
        case 'n': limit = strtoull(optarg, NULL, 10); break;
        default:
            fprintf(stderr, "usage: bench-client -m http|redis|etcd -p PORT "
                    "[-H HOST] [-c CONNS] [-d SECS] [-w WARMUP] [-u PATH] "
                    "[-r REPLICAS] [-n COUNT]\n");
            return 2;
        }
    }

    if (strcmp(mname, "http") == 0) {
        mode = MODE_HTTP;

    } else if (strcmp(mname, "redis") == 0) {
        mode = MODE_REDIS;

    } else if (strcmp(mname, "etcd") == 0) {
        mode = MODE_ETCD;
        path = "/v3/kv/put";

    } else {
        mode = -1;
    }

    if (limit) {
        warm = 0;                           /* every operation counts */
    }

    if (port <= 0 || nconns <= 0 || secs <= 0 || warm < 0
        || strlen(path) > 200 || mode == -1)
    {
        fprintf(stderr, "bench-client: bad arguments\n");
        return 2;
    }

    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);

    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "bench-client: -H takes an IPv4 address\n");
        return 2;
    }

    ep = epoll_create1(0);
    if (ep == -1) {
        die("epoll_create1");
    }

    conns = calloc(nconns, sizeof(conn_t));
    if (conns == NULL) {
        die("calloc");
    }

    t = now_ns();
    t0 = t;
    t_measure = t + (uint64_t) (warm * 1e9);
    t_end = t_measure + (uint64_t) (secs * 1e9);
    t_grace = t_end + 10ULL * 1000000000;   /* in flight at the end */

    for (i = 0; i < nconns; i++) {
        conns[i].id = i;
        conn_open(&conns[i]);
    }

    for ( ;; ) {
        n = epoll_wait(ep, evs, 256, 100);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            die("epoll_wait");
        }

        for (i = 0; i < n; i++) {
            c = evs[i].data.ptr;

            if (c->fd == -1) {
                continue;
            }

            if (!c->connected) {
                int        err = 0;
                socklen_t  len = sizeof(err);

                if (!(evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
                    continue;
                }

                (void) getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);

                if (err) {
                    errno = err;
                    die("connect");
                }

                c->connected = 1;

                if (!more(now_ns())) {
                    conn_close(c);

                } else if (op_start(c) == -1) {
                    die("write");
                }

                continue;
            }

            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                conn_read(c);
            }

            if (c->fd != -1 && (evs[i].events & EPOLLOUT)
                && conn_flush(c) == -1)
            {
                errors++;
                conn_close(c);
                conn_open(c);
            }
        }

        t = now_ns();

        for (i = 0, open_conns = 0; i < nconns; i++) {
            if (conns[i].fd != -1) {
                open_conns++;

                /* idle and connected past the end: done */
                if (!more(t) && !conns[i].busy && conns[i].connected) {
                    conn_close(&conns[i]);
                    open_conns--;
                }
            }
        }

        if (open_conns == 0) {
            break;
        }

        if (t > t_grace) {
            fprintf(stderr, "bench-client: %d operations still open 10 s "
                    "after the end\n", open_conns);
            errors += open_conns;
            break;
        }
    }

    qsort(lat, nlat, sizeof(uint64_t), cmp_u64);

    if (limit) {
        secs = t_last > t0 ? (t_last - t0) / 1e9 : 1e-9;
    }

    printf("ops=%zu secs=%.2f rate=%.0f p50=%.3f p99=%.3f p999=%.3f "
           "max=%.3f errors=%llu", nlat, secs, nlat / secs, pct(0.50),
           pct(0.99), pct(0.999), nlat ? lat[nlat - 1] / 1e6 : 0.0,
           (unsigned long long) errors);

    if (mode == MODE_REDIS && replicas) {
        printf(" short_waits=%llu", (unsigned long long) short_waits);
    }

    if (halted) {
        printf(" first_error=%d after=%llu", first_error,
               (unsigned long long) first_after);
    }

    printf("\n");

    return (errors || short_waits) ? 1 : 0;
}
