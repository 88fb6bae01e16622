
/*
 * replog-register: registers a replog secondary with its master at
 * start-up and, with --watch, registers it again whenever the master has
 * forgotten it (restart with a new log, removal from its registry).
 *
 * cc -O2 -Wall -Wextra -Werror -o build/replog-register \
 *     helper/replog-register.c -lcurl -lcrypto
 */


#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "ngx_http_replog_common.h"


#define RR_NAME           "replog-register"

#define RR_EXIT_OK        0
#define RR_EXIT_GAVE_UP   1
#define RR_EXIT_REFUSED   2
#define RR_EXIT_USAGE     64

#define RR_OK             0
#define RR_AGAIN          -1    /* transport error or 5xx: worth retrying */
#define RR_REFUSED        -2    /* any other answer: retrying will not help */
#define RR_STOPPED        -3    /* SIGTERM or SIGINT */

#define RR_BODY_MAX       65536
#define RR_URL_MAX        2048
#define RR_ID_MAX         (NGX_HTTP_REPLOG_ID_LEN - 1)
#define RR_TOKEN_MAX      1024
#define RR_ERR_MAX        512
#define RR_EPOCH_LEN      16
#define RR_KEY_LEN        64    /* a derived service key: hex SHA-256 */

#define RR_SECONDS_MAX    1000000.0

/* how late a signal that races with the check before nanosleep() is seen */
#define RR_SLEEP_STEP     0.1

/*
 * The local nginx starts beside the helper: polled this often, for at most
 * --local-wait seconds, whatever the retry interval towards the master
 */
#define RR_LOCAL_POLL     0.15
#define RR_LOCAL_WAIT     5.0


typedef struct {
    const char         *id;
    const char         *token;
    const char         *service_key;
    unsigned            port;
    int                 exponential;
    int                 quiet;
    int                 reset;
    double              retry_interval;
    double              max_delay;
    double              watch;
    double              timeout;
    double              local_wait;
    char                master[RR_URL_MAX];
    char                local[RR_URL_MAX];
    char                hostname[RR_ID_MAX + 1];
    char                derived[RR_KEY_LEN + 1];
} rr_conf_t;


typedef struct {
    CURL               *curl;
    struct curl_slist  *get_headers;
    struct curl_slist  *post_headers;
    long                status;
    int                 truncated;
    size_t              len;
    char                url[RR_URL_MAX + 32];
    char                body[RR_BODY_MAX + 1];
} rr_http_t;


typedef struct {
    char                master_id[RR_ID_MAX + 1];
    char                epoch[RR_EPOCH_LEN + 1];
    uint64_t            last_id;
} rr_reg_t;


typedef struct {
    double              start;
    double              delay;
} rr_backoff_t;


static void rr_log(const char *fmt, ...);
static void rr_info(rr_conf_t *conf, const char *fmt, ...);
static int rr_usage_error(const char *fmt, ...);
static void rr_usage(void);
static int rr_parse_seconds(const char *name, const char *value,
    int positive, double *out);
static int rr_parse_port(const char *name, const char *value,
    unsigned *out);
static int rr_base_url(const char *name, const char *value, char *out);
static int rr_master_url(const char *host, const char *port, char *out);
static int rr_configure(rr_conf_t *conf, int argc, char **argv);
static int rr_check_key(const char *name, const char *key);
static int rr_derive_key(const char *token, char *out);
static int rr_valid_id(const char *id);
static double rr_now(void);
static void rr_on_signal(int signo);
static int rr_sleep(double seconds);
static void rr_backoff_init(rr_backoff_t *b, rr_conf_t *conf);
static int rr_backoff_wait(rr_backoff_t *b, rr_conf_t *conf);
static size_t rr_http_write(char *data, size_t size, size_t nmemb,
    void *userdata);
static int rr_http_progress(void *userdata, curl_off_t dltotal,
    curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow);
static int rr_http_init(rr_http_t *h, rr_conf_t *conf);
static void rr_http_free(rr_http_t *h);
static int rr_http_request(rr_http_t *h, const char *base, const char *path,
    const char *body, char *err, size_t size);
static void rr_http_error_text(rr_http_t *h, char *out, size_t size);
static const char *rr_json_find(const char *json, const char *name);
static int rr_json_unquote(const char *p, char *out, size_t size,
    const char **end);
static int rr_json_string(const char *json, const char *name, char *out,
    size_t size);
static int rr_json_uint(const char *json, const char *name, uint64_t *out);
static void rr_json_escape(char *dst, const char *src);
static int rr_is_epoch(const char *s);
static int rr_local_state(rr_conf_t *conf, rr_http_t *h, char *epoch,
    uint64_t *last_id, char *err, size_t size);
static int rr_register(rr_conf_t *conf, rr_http_t *h, const char *epoch,
    uint64_t last_id, rr_reg_t *reg, char *err, size_t size);
static int rr_listed(rr_http_t *h, const char *id);
static int rr_startup(rr_conf_t *conf, rr_http_t *h, rr_reg_t *reg);
static void rr_note(char *last, const char *fmt, ...);
static int rr_watch(rr_conf_t *conf, rr_http_t *h, rr_reg_t *reg);


static volatile sig_atomic_t  rr_stop;


static const struct option  rr_options[] = {
    { "master",          required_argument, NULL, 'm' },
    { "id",              required_argument, NULL, 'i' },
    { "port",            required_argument, NULL, 'p' },
    { "local",           required_argument, NULL, 'l' },
    { "token",           required_argument, NULL, 't' },
    { "service-key",     required_argument, NULL, 'k' },
    { "retry-interval",  required_argument, NULL, 'r' },
    { "retry-mechanism", required_argument, NULL, 'M' },
    { "max-delay",       required_argument, NULL, 'd' },
    { "watch",           required_argument, NULL, 'w' },
    { "timeout",         required_argument, NULL, 'T' },
    { "local-wait",      required_argument, NULL, 'L' },
    { "quiet",           no_argument,       NULL, 'q' },
    { "reset",           no_argument,       NULL, 'R' },
    { "help",            no_argument,       NULL, 'h' },
    { NULL,              0,                 NULL, 0 }
};


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
        return RR_EXIT_GAVE_UP;
    }

    if (rr_http_init(&http, &conf) != RR_OK) {
        rr_http_free(&http);
        curl_global_cleanup();
        return RR_EXIT_GAVE_UP;
    }

    rc = rr_startup(&conf, &http, &reg);

    if (rc == RR_EXIT_OK && conf.watch > 0) {
        rc = rr_watch(&conf, &http, &reg);
    }

    rr_http_free(&http);
    curl_global_cleanup();

    return rc;
}


static void
rr_vlog(const char *fmt, va_list args)
{
    char  line[RR_ERR_MAX * 2];

    vsnprintf(line, sizeof(line), fmt, args);

    /* one write per line: lines of concurrent writers stay whole */
    fprintf(stderr, RR_NAME ": %s\n", line);
}


static void
rr_log(const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    rr_vlog(fmt, args);
    va_end(args);
}


static void
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


static int
rr_usage_error(const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    rr_vlog(fmt, args);
    va_end(args);

    fprintf(stderr, "Try \"" RR_NAME " --help\".\n");

    return RR_EXIT_USAGE;
}


static void
rr_usage(void)
{
    printf(
"usage: " RR_NAME " [options]\n"
"Registers a replog secondary with its master; with --watch, registers it\n"
"again whenever the master has forgotten it.  Options override the\n"
"environment variables named in brackets.\n"
"\n"
"  --master URL            the master [MASTER_HOST, with or without\n"
"                          http://, and MASTER_PORT unless MASTER_HOST has\n"
"                          a port] (default http://master:8000)\n"
"  --id ID                 this secondary's id [HOSTNAME] (default: the\n"
"                          host name)\n"
"  --port PORT             this secondary's port [SECONDARY_PORT]\n"
"                          (default 8001)\n"
"  --local URL             this secondary's nginx\n"
"                          (default http://127.0.0.1:PORT)\n"
"  --token TOKEN           x-token of the client API (/health,\n"
"                          /secondaries) [API_TOKEN, or its alias API_KEY]\n"
"                          (default: none)\n"
"  --service-key KEY       x-token of /register and /reset [SERVICE_KEY]\n"
"                          (default: derived from the token as the module\n"
"                          derives it; none without a token)\n"
"  --retry-interval SEC    first wait between attempts\n"
"                          [CONNECTION_TO_MASTER_RETRY_INTERVAL] (default 1)\n"
"  --retry-mechanism MECH  uniform, or exponential (each wait 5/4 of the\n"
"                          last) [CONNECTION_TO_MASTER_RETRY_MECHANISM]\n"
"                          (default uniform)\n"
"  --max-delay SEC         give up after retrying this long; also caps a\n"
"                          wait [MAX_CONNECTION_TO_MASTER_DELAY] (default 60)\n"
"  --watch SEC             check the master every SEC seconds and register\n"
"                          again when needed [REPLOG_WATCH] (default 0: off)\n"
"  --timeout SEC           per HTTP request (default 2)\n"
"  --local-wait SEC        wait this long at most for this secondary's own\n"
"                          nginx, polled every 0.15 s (default 5; at most\n"
"                          the max delay)\n"
"  --reset                 discard the local log first (a CONFLICT\n"
"                          secondary then rejoins from the start)\n"
"  -q, --quiet             no progress lines\n"
"  -h, --help              this text\n"
"\n"
"Exit status: 0 registered (or stopped by SIGTERM/SIGINT while watching),\n"
"1 gave up, 2 refused, 64 usage error.\n");
}


/* a decimal number of seconds: "1", "0.2", ".5"; no signs, no exponents */

static int
rr_parse_seconds(const char *name, const char *value, int positive,
    double *out)
{
    int          digits, dot;
    double       v;
    const char  *p;

    digits = 0;
    dot = 0;

    for (p = value; *p; p++) {
        if (*p >= '0' && *p <= '9') {
            digits++;

        } else if (*p == '.' && !dot) {
            dot = 1;

        } else {
            digits = 0;
            break;
        }
    }

    v = digits ? strtod(value, NULL) : -1;

    if (v < 0 || v > RR_SECONDS_MAX || (positive && v == 0)) {
        return rr_usage_error("invalid %s \"%s\": expected %s number of "
                              "seconds up to %.0f", name, value,
                              positive ? "a positive" : "a",
                              RR_SECONDS_MAX);
    }

    *out = v;

    return RR_OK;
}


static int
rr_parse_port(const char *name, const char *value, unsigned *out)
{
    unsigned     n;
    const char  *p;

    n = 0;

    for (p = value; *p >= '0' && *p <= '9' && n <= 65535; p++) {
        n = n * 10 + (*p - '0');
    }

    if (p == value || *p != '\0' || n == 0 || n > 65535) {
        return rr_usage_error("invalid %s \"%s\": expected a port from 1 "
                              "to 65535", name, value);
    }

    *out = n;

    return RR_OK;
}


/* "host:port" or "http://host:port/" -> "http://host:port" */

static int
rr_base_url(const char *name, const char *value, char *out)
{
    int          n;
    size_t       len;
    const char  *p;

    for (p = value; *p; p++) {
        if ((unsigned char) *p <= ' ' || *p == 0x7f) {
            return rr_usage_error("invalid %s \"%s\": spaces or control "
                                  "characters", name, value);
        }
    }

    n = snprintf(out, RR_URL_MAX, "%s%s",
                 strstr(value, "://") ? "" : "http://", value);

    if (n < 0 || n >= RR_URL_MAX) {
        return rr_usage_error("invalid %s: longer than %d bytes", name,
                              RR_URL_MAX - 1);
    }

    /* paths are appended: "/register", "/health" */
    for (len = n; len && out[len - 1] == '/'; len--) {
        out[len - 1] = '\0';
    }

    p = strstr(out, "://");

    if (p == NULL || p[3] == '\0') {
        return rr_usage_error("invalid %s \"%s\": no host", name, value);
    }

    return RR_OK;
}


/*
 * MASTER_HOST and MASTER_PORT to a URL.  The original's .env has
 * MASTER_HOST=http://master, its README "master": both work.  A host that
 * carries a port keeps it; a bare IPv6 address gets brackets.
 */

static int
rr_master_url(const char *host, const char *port, char *out)
{
    int          n, v6;
    size_t       len;
    const char  *rest, *scheme, *colon, *p;

    rest = strstr(host, "://");

    if (rest) {
        scheme = host;
        len = rest - host;
        rest += 3;

        if (!((len == 4 && strncmp(host, "http", 4) == 0)
              || (len == 5 && strncmp(host, "https", 5) == 0)))
        {
            return rr_usage_error("invalid MASTER_HOST \"%s\": expected "
                                  "http:// or https:// or no scheme", host);
        }

    } else {
        scheme = "http";
        len = 4;
        rest = host;
    }

    /* the host part ends at a path, if any */
    n = (int) strcspn(rest, "/");

    if (n == 0) {
        return rr_usage_error("invalid MASTER_HOST \"%s\": no host", host);
    }

    colon = memchr(rest, ':', n);
    v6 = colon && rest[0] != '['
         && memchr(colon + 1, ':', n - (colon + 1 - rest)) != NULL;

    /* "host:port" or "[v6]:port": a port of its own, digits after a colon */
    p = (rest[0] == '[') ? memchr(rest, ']', n) : colon;

    if (!v6 && p && *p == ']') {
        p = (p + 1 < rest + n && p[1] == ':') ? p + 1 : NULL;
    }

    if (!v6 && p && p + 1 < rest + n) {
        for (p++; p < rest + n && *p >= '0' && *p <= '9'; p++) {
            /* void */
        }

        if (p == rest + n) {
            port = NULL;
        }
    }

    if (port) {
        n = snprintf(out, RR_URL_MAX, v6 ? "%.*s://[%.*s]:%s"
                                         : "%.*s://%.*s:%s",
                     (int) len, scheme, n, rest, port);

    } else {
        n = snprintf(out, RR_URL_MAX, "%.*s://%.*s", (int) len, scheme, n,
                     rest);
    }

    if (n < 0 || n >= RR_URL_MAX) {
        return rr_usage_error("invalid MASTER_HOST: longer than %d bytes",
                              RR_URL_MAX - 32);
    }

    return RR_OK;
}


static int
rr_configure(rr_conf_t *conf, int argc, char **argv)
{
    int          c, have_local;
    char         url[RR_URL_MAX];
    unsigned     mp;
    const char  *v, *host, *mport, *master, *name;

    memset(conf, 0, sizeof(rr_conf_t));

    conf->port = 8001;
    conf->retry_interval = 1;
    conf->max_delay = 60;
    conf->timeout = 2;
    conf->local_wait = RR_LOCAL_WAIT;
    conf->token = "";

    /* the environment first: the names of the original Python service */

    v = getenv("HOSTNAME");
    conf->id = (v && *v) ? v : NULL;

    /* API_TOKEN as the original's code and .env name it; API_KEY as its
     * README did */
    v = getenv("API_TOKEN");
    conf->token = (v && *v) ? v : "";

    v = getenv("API_KEY");
    if (v && *v) {
        if (conf->token[0] && strcmp(conf->token, v) != 0) {
            return rr_usage_error("API_TOKEN and API_KEY are both set and "
                                  "differ; set one of them (API_KEY is an "
                                  "alias of API_TOKEN)");
        }

        conf->token = v;
    }

    v = getenv("SERVICE_KEY");
    conf->service_key = (v && *v) ? v : NULL;

    host = getenv("MASTER_HOST");
    host = (host && *host) ? host : "master";

    mport = getenv("MASTER_PORT");
    mport = (mport && *mport) ? mport : NULL;

    v = getenv("SECONDARY_PORT");
    if (v && *v && rr_parse_port("SECONDARY_PORT", v, &conf->port) != RR_OK)
    {
        return RR_EXIT_USAGE;
    }

    v = getenv("CONNECTION_TO_MASTER_RETRY_INTERVAL");
    if (v && *v
        && rr_parse_seconds("CONNECTION_TO_MASTER_RETRY_INTERVAL", v, 1,
                            &conf->retry_interval)
           != RR_OK)
    {
        return RR_EXIT_USAGE;
    }

    v = getenv("CONNECTION_TO_MASTER_RETRY_MECHANISM");
    if (v && *v) {
        if (strcmp(v, "exponential") == 0) {
            conf->exponential = 1;

        } else if (strcmp(v, "uniform") != 0) {
            return rr_usage_error("invalid "
                                  "CONNECTION_TO_MASTER_RETRY_MECHANISM "
                                  "\"%s\": expected uniform or exponential",
                                  v);
        }
    }

    v = getenv("MAX_CONNECTION_TO_MASTER_DELAY");
    if (v && *v
        && rr_parse_seconds("MAX_CONNECTION_TO_MASTER_DELAY", v, 0,
                            &conf->max_delay)
           != RR_OK)
    {
        return RR_EXIT_USAGE;
    }

    v = getenv("REPLOG_WATCH");
    if (v && *v && rr_parse_seconds("REPLOG_WATCH", v, 0, &conf->watch)
                   != RR_OK)
    {
        return RR_EXIT_USAGE;
    }

    /* then the options */

    master = NULL;
    have_local = 0;
    opterr = 0;

    while ((c = getopt_long(argc, argv, ":qh", rr_options, NULL)) != -1) {

        switch (c) {

        case 'm':
            master = optarg;
            break;

        case 'i':
            conf->id = optarg;
            break;

        case 'p':
            if (rr_parse_port("--port", optarg, &conf->port) != RR_OK) {
                return RR_EXIT_USAGE;
            }
            break;

        case 'l':
            if (rr_base_url("--local", optarg, conf->local) != RR_OK) {
                return RR_EXIT_USAGE;
            }
            have_local = 1;
            break;

        case 't':
            conf->token = optarg;
            break;

        case 'k':
            conf->service_key = optarg;
            break;

        case 'r':
            if (rr_parse_seconds("--retry-interval", optarg, 1,
                                 &conf->retry_interval)
                != RR_OK)
            {
                return RR_EXIT_USAGE;
            }
            break;

        case 'M':
            if (strcmp(optarg, "exponential") == 0) {
                conf->exponential = 1;

            } else if (strcmp(optarg, "uniform") == 0) {
                conf->exponential = 0;

            } else {
                return rr_usage_error("invalid --retry-mechanism \"%s\": "
                                      "expected uniform or exponential",
                                      optarg);
            }
            break;

        case 'd':
            if (rr_parse_seconds("--max-delay", optarg, 0, &conf->max_delay)
                != RR_OK)
            {
                return RR_EXIT_USAGE;
            }
            break;

        case 'w':
            if (rr_parse_seconds("--watch", optarg, 0, &conf->watch)
                != RR_OK)
            {
                return RR_EXIT_USAGE;
            }
            break;

        case 'T':
            if (rr_parse_seconds("--timeout", optarg, 1, &conf->timeout)
                != RR_OK)
            {
                return RR_EXIT_USAGE;
            }
            break;

        case 'L':
            if (rr_parse_seconds("--local-wait", optarg, 0, &conf->local_wait)
                != RR_OK)
            {
                return RR_EXIT_USAGE;
            }
            break;

        case 'q':
            conf->quiet = 1;
            break;

        case 'R':
            conf->reset = 1;
            break;

        case 'h':
            rr_usage();
            exit(RR_EXIT_OK);

        case ':':
            return rr_usage_error("option %s needs a value",
                                  argv[optind - 1]);

        default:
            if (optopt) {
                return rr_usage_error("unknown option -%c", optopt);
            }

            return rr_usage_error("unknown option %s", argv[optind - 1]);
        }
    }

    if (optind < argc) {
        return rr_usage_error("unexpected argument \"%s\"", argv[optind]);
    }

    if (master) {
        if (rr_base_url("--master", master, conf->master) != RR_OK) {
            return RR_EXIT_USAGE;
        }

    } else {
        if (mport == NULL) {
            mport = "8000";

        } else if (rr_parse_port("MASTER_PORT", mport, &mp) != RR_OK) {
            return RR_EXIT_USAGE;
        }

        if (rr_master_url(host, mport, url) != RR_OK
            || rr_base_url("MASTER_HOST", url, conf->master) != RR_OK)
        {
            return RR_EXIT_USAGE;
        }
    }

    if (!have_local) {
        snprintf(conf->local, RR_URL_MAX, "http://127.0.0.1:%u", conf->port);
    }

    if (conf->id == NULL) {
        if (gethostname(conf->hostname, sizeof(conf->hostname)) != 0) {
            conf->hostname[0] = '\0';
        }

        conf->hostname[sizeof(conf->hostname) - 1] = '\0';
        conf->id = conf->hostname;
    }

    name = (conf->id == conf->hostname) ? "host name" : "--id";

    /* not echoed: it may hold control characters */
    if (rr_valid_id(conf->id) != RR_OK) {
        return rr_usage_error("invalid %s: expected 1 to %d printable ASCII "
                              "characters, without spaces, quotes or "
                              "backslashes", name, RR_ID_MAX);
    }

    if (rr_check_key("--token", conf->token) != RR_OK) {
        return RR_EXIT_USAGE;
    }

    if (conf->service_key) {
        if (*conf->service_key == '\0') {
            return rr_usage_error("invalid --service-key: empty");
        }

        if (rr_check_key("--service-key", conf->service_key) != RR_OK) {
            return RR_EXIT_USAGE;
        }

    } else if (conf->token[0]) {
        if (rr_derive_key(conf->token, conf->derived) != RR_OK) {
            rr_log("cannot derive the service key: SHA-256 failed");
            return RR_EXIT_USAGE;
        }

        conf->service_key = conf->derived;

    } else {
        conf->service_key = "";
    }

    return RR_OK;
}


static int
rr_check_key(const char *name, const char *key)
{
    const char  *v;

    if (strlen(key) > RR_TOKEN_MAX) {
        return rr_usage_error("invalid %s: longer than %d bytes", name,
                              RR_TOKEN_MAX);
    }

    for (v = key; *v; v++) {
        if ((unsigned char) *v < ' ' || *v == 0x7f) {
            return rr_usage_error("invalid %s: control characters", name);
        }
    }

    return RR_OK;
}


/* the lowercase hex SHA-256 of TOKEN "&" SALT, as the module derives it */

static int
rr_derive_key(const char *token, char *out)
{
    char           *s;
    size_t          len, i;
    unsigned int    n;
    unsigned char   md[EVP_MAX_MD_SIZE];

    len = strlen(token) + 1 + sizeof(NGX_HTTP_REPLOG_SALT) - 1;

    s = malloc(len + 1);
    if (s == NULL) {
        return RR_AGAIN;
    }

    snprintf(s, len + 1, "%s&%s", token, NGX_HTTP_REPLOG_SALT);

    if (EVP_Digest(s, len, md, &n, EVP_sha256(), NULL) != 1
        || n * 2 != RR_KEY_LEN)
    {
        free(s);
        return RR_AGAIN;
    }

    free(s);

    for (i = 0; i < n; i++) {
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    }

    return RR_OK;
}


/* as the module wants ids: printable, no spaces, quotes or backslashes */

static int
rr_valid_id(const char *id)
{
    size_t       len;
    const char  *p;

    len = strlen(id);

    if (len == 0 || len > RR_ID_MAX) {
        return RR_REFUSED;
    }

    for (p = id; *p; p++) {
        if ((unsigned char) *p <= ' ' || (unsigned char) *p >= 0x7f
            || *p == '"' || *p == '\'' || *p == '\\')
        {
            return RR_REFUSED;
        }
    }

    return RR_OK;
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


static size_t
rr_http_write(char *data, size_t size, size_t nmemb, void *userdata)
{
    size_t      n;
    rr_http_t  *h;

    h = userdata;
    n = size * nmemb;

    /* the rest is dropped, not an error: the answers read here are small */
    if (n > RR_BODY_MAX - h->len) {
        h->truncated = 1;
        n = RR_BODY_MAX - h->len;
    }

    memcpy(h->body + h->len, data, n);
    h->len += n;
    h->body[h->len] = '\0';

    return size * nmemb;
}


static int
rr_http_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
    (void) userdata;
    (void) dltotal;
    (void) dlnow;
    (void) ultotal;
    (void) ulnow;

    /* non-zero aborts the transfer: a signal must not wait for a timeout */
    return rr_stop != 0;
}


static int
rr_http_init(rr_http_t *h, rr_conf_t *conf)
{
    long                ms;
    char                header[RR_TOKEN_MAX + sizeof("x-token: ")];
    CURL               *c;
    struct curl_slist  *l;

    h->curl = curl_easy_init();
    if (h->curl == NULL) {
        rr_log("curl_easy_init() failed");
        return RR_AGAIN;
    }

    c = h->curl;
    ms = (long) (conf->timeout * 1000);

    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, rr_http_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, rr_http_progress);
    curl_easy_setopt(c, CURLOPT_USERAGENT, RR_NAME);

    /* cluster traffic stays inside: no proxy picked up from the environment */
    curl_easy_setopt(c, CURLOPT_PROXY, "");

#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#endif

    /*
     * GETs read the client API with the api key; the only POSTs,
     * /register and /reset, are node endpoints: the service key
     */

    if (conf->token[0]) {
        snprintf(header, sizeof(header), "x-token: %s", conf->token);

        l = curl_slist_append(NULL, header);
        if (l == NULL) {
            goto nomem;
        }

        h->get_headers = l;
    }

    if (conf->service_key[0]) {
        snprintf(header, sizeof(header), "x-token: %s", conf->service_key);

        l = curl_slist_append(NULL, header);
        if (l == NULL) {
            goto nomem;
        }

        h->post_headers = l;
    }

    l = curl_slist_append(h->post_headers, "Content-Type: application/json");
    if (l == NULL) {
        goto nomem;
    }

    h->post_headers = l;

    return RR_OK;

nomem:

    rr_log("out of memory");

    return RR_AGAIN;
}


static void
rr_http_free(rr_http_t *h)
{
    if (h->curl) {
        curl_easy_cleanup(h->curl);
        h->curl = NULL;
    }

    curl_slist_free_all(h->get_headers);
    curl_slist_free_all(h->post_headers);

    h->get_headers = NULL;
    h->post_headers = NULL;
}


/*
 * GET base + path, or POST the JSON body there.  RR_OK on a 2xx answer,
 * RR_AGAIN on a transport error or a 5xx, RR_REFUSED on anything else,
 * RR_STOPPED on a signal.  On failure, err says why.
 */

static int
rr_http_request(rr_http_t *h, const char *base, const char *path,
    const char *body, char *err, size_t size)
{
    char      text[RR_ERR_MAX / 2];
    CURLcode  rc;

    if (rr_stop) {
        return RR_STOPPED;
    }

    snprintf(h->url, sizeof(h->url), "%s%s", base, path);

    h->status = 0;
    h->truncated = 0;
    h->len = 0;
    h->body[0] = '\0';

    curl_easy_setopt(h->curl, CURLOPT_URL, h->url);

    if (body) {
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE, (long) strlen(body));
        curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->post_headers);

    } else {
        curl_easy_setopt(h->curl, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->get_headers);
    }

    rc = curl_easy_perform(h->curl);

    if (rc != CURLE_OK) {
        if (rr_stop) {
            return RR_STOPPED;
        }

        snprintf(err, size, "%s", curl_easy_strerror(rc));
        return RR_AGAIN;
    }

    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &h->status);

    if (h->status >= 200 && h->status < 300) {
        return RR_OK;
    }

    rr_http_error_text(h, text, sizeof(text));

    if (h->status >= 500) {
        snprintf(err, size, "answered %ld: %s", h->status, text);
        return RR_AGAIN;
    }

    snprintf(err, size, "%s", text);

    return RR_REFUSED;
}


/* replog's {"error":"..."}, else the first line of a non-HTML body */

static void
rr_http_error_text(rr_http_t *h, char *out, size_t size)
{
    size_t       n;
    const char  *p, *end;

    if (rr_json_string(h->body, "error", out, size) == RR_OK && out[0]) {
        return;
    }

    for (p = h->body; *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n';
         p++)
    {
        /* void */
    }

    end = p + strcspn(p, "\r\n");
    n = end - p;

    if (n == 0 || *p == '<') {
        snprintf(out, size, "HTTP %ld", h->status);
        return;
    }

    if (n >= size) {
        n = size - 1;
    }

    memcpy(out, p, n);
    out[n] = '\0';
}


/*
 * A tiny extractor, enough for replog's own flat answers: the value right
 * after the first "name": in json, or NULL.
 */

static const char *
rr_json_find(const char *json, const char *name)
{
    size_t       len;
    const char  *p, *v;

    len = strlen(name);

    for (p = strchr(json, '"'); p; p = strchr(p + 1, '"')) {

        if (strncmp(p + 1, name, len) != 0 || p[len + 1] != '"') {
            continue;
        }

        for (v = p + len + 2; *v == ' ' || *v == '\t' || *v == '\r'
                              || *v == '\n'; v++)
        {
            /* void */
        }

        if (*v != ':') {
            continue;
        }

        for (v++; *v == ' ' || *v == '\t' || *v == '\r' || *v == '\n'; v++) {
            /* void */
        }

        return v;
    }

    return NULL;
}


/* decodes the JSON string that starts after the quote at p */

static int
rr_json_unquote(const char *p, char *out, size_t size, const char **end)
{
    int       i;
    size_t    n, need;
    unsigned  c, u;
    char      utf8[3];

    n = 0;

    for ( ;; ) {
        c = (unsigned char) *p++;

        if (c == '\0') {
            return RR_AGAIN;
        }

        if (c == '"') {
            break;
        }

        need = 1;
        utf8[0] = (char) c;

        if (c == '\\') {
            c = (unsigned char) *p++;

            switch (c) {
            case '"':
            case '\\':
            case '/':
                break;
            case 'b':
                c = '\b';
                break;
            case 'f':
                c = '\f';
                break;
            case 'n':
                c = '\n';
                break;
            case 'r':
                c = '\r';
                break;
            case 't':
                c = '\t';
                break;

            case 'u':
                u = 0;

                for (i = 0; i < 4; i++) {
                    c = (unsigned char) *p++;

                    if (c >= '0' && c <= '9') {
                        u = u * 16 + c - '0';

                    } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
                        u = u * 16 + (c | 0x20) - 'a' + 10;

                    } else {
                        return RR_AGAIN;
                    }
                }

                /* surrogate pairs do not occur in replog's answers */
                if (u >= 0xd800 && u <= 0xdfff) {
                    u = '?';
                }

                if (u < 0x80) {
                    c = u;

                } else if (u < 0x800) {
                    utf8[0] = (char) (0xc0 | (u >> 6));
                    utf8[1] = (char) (0x80 | (u & 0x3f));
                    need = 2;

                } else {
                    utf8[0] = (char) (0xe0 | (u >> 12));
                    utf8[1] = (char) (0x80 | ((u >> 6) & 0x3f));
                    utf8[2] = (char) (0x80 | (u & 0x3f));
                    need = 3;
                }

                break;

            default:
                return RR_AGAIN;
            }

            if (need == 1) {
                utf8[0] = (char) c;
            }
        }

        if (n + need >= size) {
            return RR_AGAIN;
        }

        memcpy(out + n, utf8, need);
        n += need;
    }

    out[n] = '\0';

    if (end) {
        *end = p;
    }

    return RR_OK;
}


static int
rr_json_string(const char *json, const char *name, char *out, size_t size)
{
    const char  *v;

    v = rr_json_find(json, name);

    if (v == NULL || *v != '"') {
        return RR_AGAIN;
    }

    return rr_json_unquote(v + 1, out, size, NULL);
}


static int
rr_json_uint(const char *json, const char *name, uint64_t *out)
{
    uint64_t     n;
    const char  *v;

    v = rr_json_find(json, name);

    if (v == NULL || *v < '0' || *v > '9') {
        return RR_AGAIN;
    }

    for (n = 0; *v >= '0' && *v <= '9'; v++) {
        if (n > (UINT64_MAX - 9) / 10) {
            return RR_AGAIN;
        }

        n = n * 10 + (*v - '0');
    }

    *out = n;

    return RR_OK;
}


/* dst has room for 6 bytes per byte of src, plus one */

static void
rr_json_escape(char *dst, const char *src)
{
    unsigned char        c;
    static const char    hex[] = "0123456789abcdef";

    while ((c = (unsigned char) *src++) != '\0') {

        if (c == '"' || c == '\\') {
            *dst++ = '\\';
            *dst++ = (char) c;

        } else if (c < 0x20 || c == 0x7f) {
            *dst++ = '\\';
            *dst++ = 'u';
            *dst++ = '0';
            *dst++ = '0';
            *dst++ = hex[c >> 4];
            *dst++ = hex[c & 0xf];

        } else {
            *dst++ = (char) c;
        }
    }

    *dst = '\0';
}


static int
rr_is_epoch(const char *s)
{
    size_t  n;

    for (n = 0; s[n]; n++) {
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')
              || (s[n] >= 'A' && s[n] <= 'F')))
        {
            return 0;
        }
    }

    return n == RR_EPOCH_LEN;
}


/* the local node's epoch and contiguous high-water mark */

static int
rr_local_state(rr_conf_t *conf, rr_http_t *h, char *epoch,
    uint64_t *last_id, char *err, size_t size)
{
    int  rc;

    rc = rr_http_request(h, conf->local, "/health", NULL, err, size);
    if (rc != RR_OK) {
        return rc;
    }

    if (rr_json_string(h->body, "epoch", epoch, RR_EPOCH_LEN + 1) != RR_OK
        || !rr_is_epoch(epoch)
        || rr_json_uint(h->body, "last_id", last_id) != RR_OK)
    {
        snprintf(err, size, "no epoch and last_id in its /health answer");
        return RR_AGAIN;
    }

    return RR_OK;
}


static int
rr_register(rr_conf_t *conf, rr_http_t *h, const char *epoch,
    uint64_t last_id, rr_reg_t *reg, char *err, size_t size)
{
    int   rc;
    char  id[RR_ID_MAX * 6 + 1];
    char  body[sizeof(id) + 128];

    rr_json_escape(id, conf->id);

    snprintf(body, sizeof(body),
             "{\"id\":\"%s\",\"port\":%u,\"epoch\":\"%s\",\"acked_id\":%"
             PRIu64 "}", id, conf->port, epoch, last_id);

    rc = rr_http_request(h, conf->master, "/register", body, err, size);
    if (rc != RR_OK) {
        return rc;
    }

    if (rr_json_string(h->body, "epoch", reg->epoch, sizeof(reg->epoch))
        != RR_OK
        || !rr_is_epoch(reg->epoch)
        || rr_json_uint(h->body, "last_id", &reg->last_id) != RR_OK)
    {
        snprintf(err, size, "no epoch and last_id in its /register answer");
        return RR_AGAIN;
    }

    if (rr_json_string(h->body, "master_id", reg->master_id,
                       sizeof(reg->master_id))
        != RR_OK)
    {
        strcpy(reg->master_id, "?");
    }

    return RR_OK;
}


/*
 * Whether the master's /secondaries answer lists id: 1 yes, 0 no, -1
 * cannot tell.  Each entry starts with {"id":"...", and inside JSON
 * strings every quote is escaped, so that pattern marks entries only.
 */

static int
rr_listed(rr_http_t *h, const char *id)
{
    char         entry[RR_ID_MAX * 4 + 1];
    const char  *p;

    if (strstr(h->body, "\"data\"") == NULL) {
        return -1;
    }

    for (p = strstr(h->body, "{\"id\":\""); p; p = strstr(p, "{\"id\":\"")) {
        p += sizeof("{\"id\":\"") - 1;

        if (rr_json_unquote(p, entry, sizeof(entry), &p) == RR_OK
            && strcmp(entry, id) == 0)
        {
            return 1;
        }
    }

    return h->truncated ? -1 : 0;
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
        rc = rr_http_request(h, conf->local, "/healthcheck", NULL, err,
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
                       "%gs: %s", conf->local, bound, err);
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
        rc = rr_http_request(h, conf->local, "/reset", "{}", err,
                             sizeof(err));

        if (rc != RR_OK || h->status != 200) {
            rr_log("local node %s refused /reset (%ld): %s", conf->local,
                   h->status, err);
            return RR_EXIT_REFUSED;
        }

        rr_info(conf, "the log of \"%s\" is discarded", conf->id);
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
        rr_log("local node %s /health: %s", conf->local, err);
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
            rr_log("master %s unreachable after %gs: %s", conf->master,
                   conf->max_delay, err);
            return RR_EXIT_GAVE_UP;
        }
    }

    rr_info(conf, "registered \"%s\" with master \"%s\" (epoch %s, master "
            "last_id %" PRIu64 ")", conf->id, reg->master_id, reg->epoch,
            reg->last_id);

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

        rc = rr_http_request(h, conf->master, "/health", NULL, err,
                             sizeof(err));

        if (rc == RR_STOPPED) {
            break;
        }

        if (rc == RR_AGAIN) {
            if (up) {
                rr_note(last, "master %s unreachable: %s", conf->master, err);
            }

            up = 0;
            continue;
        }

        if (rc == RR_REFUSED) {
            rr_note(last, "master refused /health (%ld): %s", h->status, err);
            continue;
        }

        if (rr_json_string(h->body, "epoch", epoch, sizeof(epoch)) != RR_OK) {
            rr_note(last, "master %s: no epoch in its /health answer",
                    conf->master);
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
            rc = rr_http_request(h, conf->master, "/secondaries", NULL, err,
                                 sizeof(err));

            if (rc == RR_STOPPED) {
                break;
            }

            if (rc == RR_REFUSED) {
                /* e.g. a master with another api key */
                rr_note(last, "master refused /secondaries (%ld): %s: cannot "
                        "tell whether it still lists \"%s\"", h->status, err,
                        conf->id);
            }

            listed = (rc == RR_OK) ? rr_listed(h, conf->id) : -1;

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
                    conf->local, err);
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
                    conf->master, err);
            continue;
        }

        registered = 1;
        last[0] = '\0';

        rr_info(conf, "registered \"%s\" with master \"%s\" (epoch %s, master "
                "last_id %" PRIu64 ") again: %s", conf->id, reg->master_id,
                reg->epoch, reg->last_id, why);
    }

    return RR_EXIT_OK;
}
