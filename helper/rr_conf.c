
/*
 * Copyright (C) replog authors
 */


/*
 * The helper's settings: one table names each option, its environment
 * variable, its kind and where it goes.  The environment is read first,
 * then the options override it; what needs all of them (the URLs, the id,
 * the keys) is checked once both are read.
 */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "rr.h"


#define RR_SECONDS_MAX    1000000.0

/*
 * The local nginx starts beside the helper: polled for at most this many
 * seconds by default, whatever the retry interval towards the master
 */
#define RR_LOCAL_WAIT     5.0

/* getopt_long()'s value of a setting without a short option: this + row */
#define RR_LONG_BASE      256


typedef enum {
    RR_STRING = 0,    /* kept as given: checked once all are read */
    RR_PORT,
    RR_SECONDS,       /* zero or more */
    RR_POSITIVE,      /* seconds, more than zero */
    RR_MECHANISM,     /* uniform or exponential: sets a flag */
    RR_FLAG,          /* takes no value: sets 1 */
    RR_HELP
} rr_kind_e;


typedef struct {
    const char         *option;    /* "--name", or NULL */
    int                 letter;    /* its short form, or 0 */
    const char         *env;       /* its environment variable, or NULL */
    rr_kind_e           kind;
    size_t              offset;    /* where in rr_conf_t */
} rr_setting_t;


static int rr_from_env(rr_conf_t *conf);
static int rr_from_options(rr_conf_t *conf, int argc, char **argv);
static int rr_option_value(size_t i);
static int rr_keys(rr_conf_t *conf);
static int rr_usage_error(const char *fmt, ...);
static void rr_usage(void);
static int rr_set(rr_conf_t *conf, const rr_setting_t *s, const char *from,
    const char *value);
static int rr_parse_seconds(const char *name, const char *value,
    int positive, double *out);
static int rr_parse_port(const char *name, const char *value,
    unsigned *out);
static int rr_url_parse(rr_url_t *url, rr_str_t *s, const char *port);
static char *rr_url_bracket(const char *value);
static CURLUcode rr_url_path(CURLU *url, int root);
static int rr_url_error(rr_str_t *s, CURLUcode rc);
static int rr_check_key(rr_str_t *key);
static int rr_derive_key(const char *token, char *out);
static int rr_valid_id(const char *id);


#define rr_dest(conf, s, type)  ((type *) ((char *) (conf) + (s)->offset))

/* the environment names are those of the original Python service */

static const rr_setting_t  rr_settings[] = {

    { "--master", 0, NULL, RR_STRING, offsetof(rr_conf_t, master_opt) },
    { NULL, 0, "MASTER_HOST", RR_STRING, offsetof(rr_conf_t, master_host) },
    { NULL, 0, "MASTER_PORT", RR_STRING, offsetof(rr_conf_t, master_port) },
    { "--id", 0, "HOSTNAME", RR_STRING, offsetof(rr_conf_t, id) },
    { "--port", 0, "SECONDARY_PORT", RR_PORT, offsetof(rr_conf_t, port) },
    { "--local", 0, NULL, RR_STRING, offsetof(rr_conf_t, local_opt) },

    /* API_TOKEN as the original's code and .env name it, API_KEY as its
     * README did */
    { "--token", 0, "API_TOKEN", RR_STRING, offsetof(rr_conf_t, token) },
    { NULL, 0, "API_KEY", RR_STRING, offsetof(rr_conf_t, api_key) },
    { "--service-key", 0, "SERVICE_KEY", RR_STRING,
      offsetof(rr_conf_t, service_key) },

    { "--retry-interval", 0, "CONNECTION_TO_MASTER_RETRY_INTERVAL",
      RR_POSITIVE, offsetof(rr_conf_t, retry_interval) },
    { "--retry-mechanism", 0, "CONNECTION_TO_MASTER_RETRY_MECHANISM",
      RR_MECHANISM, offsetof(rr_conf_t, exponential) },
    { "--max-delay", 0, "MAX_CONNECTION_TO_MASTER_DELAY", RR_SECONDS,
      offsetof(rr_conf_t, max_delay) },
    { "--watch", 0, "REPLOG_WATCH", RR_SECONDS, offsetof(rr_conf_t, watch) },
    { "--timeout", 0, NULL, RR_POSITIVE, offsetof(rr_conf_t, timeout) },
    { "--local-wait", 0, NULL, RR_SECONDS, offsetof(rr_conf_t, local_wait) },

    { "--quiet", 'q', NULL, RR_FLAG, offsetof(rr_conf_t, quiet) },
    { "--reset", 0, NULL, RR_FLAG, offsetof(rr_conf_t, reset) },
    { "--help", 'h', NULL, RR_HELP, 0 }
};

#define RR_NSETTINGS  (sizeof(rr_settings) / sizeof(rr_settings[0]))


int
rr_configure(rr_conf_t *conf, int argc, char **argv)
{
    char         port[sizeof("65535")];
    unsigned     mp;
    rr_str_t    *master;
    const char  *v;

    memset(conf, 0, sizeof(rr_conf_t));

    conf->port = 8001;
    conf->retry_interval = 1;
    conf->max_delay = 60;
    conf->timeout = 2;
    conf->local_wait = RR_LOCAL_WAIT;

    if (rr_from_env(conf) != RR_OK
        || rr_from_options(conf, argc, argv) != RR_OK)
    {
        return RR_EXIT_USAGE;
    }

    /* --master as it is, or MASTER_HOST with MASTER_PORT unless it has one */

    if (conf->master_opt.value) {
        master = &conf->master_opt;
        v = NULL;

    } else {
        master = &conf->master_host;

        if (master->value == NULL) {
            master->value = "master";
            master->from = "MASTER_HOST";
        }

        v = "8000";

        if (conf->master_port.value) {
            if (rr_parse_port(conf->master_port.from,
                              conf->master_port.value, &mp)
                != RR_OK)
            {
                return RR_EXIT_USAGE;
            }

            snprintf(port, sizeof(port), "%u", mp);
            v = port;
        }
    }

    if (rr_url_parse(&conf->master, master, v) != RR_OK) {
        return RR_EXIT_USAGE;
    }

    /* --local as it is, or 127.0.0.1 on --port */

    v = NULL;

    if (conf->local_opt.value == NULL) {
        conf->local_opt.value = "127.0.0.1";
        conf->local_opt.from = "--port";

        snprintf(port, sizeof(port), "%u", conf->port);
        v = port;
    }

    if (rr_url_parse(&conf->local, &conf->local_opt, v) != RR_OK) {
        return RR_EXIT_USAGE;
    }

    if (conf->id.value == NULL) {
        if (gethostname(conf->hostname, sizeof(conf->hostname)) != 0) {
            conf->hostname[0] = '\0';
        }

        conf->hostname[sizeof(conf->hostname) - 1] = '\0';
        conf->id.value = conf->hostname;
        conf->id.from = "host name";
    }

    /* refused here, before any request; not echoed: it may hold controls */
    if (rr_valid_id(conf->id.value) != RR_OK) {
        return rr_usage_error("invalid %s: expected 1 to %d printable ASCII "
                              "characters, without spaces, quotes or "
                              "backslashes", conf->id.from, RR_ID_MAX);
    }

    return rr_keys(conf);
}


/* the environment first; an empty variable counts as unset */

static int
rr_from_env(rr_conf_t *conf)
{
    size_t               i;
    const char          *v;
    const rr_setting_t  *s;

    for (i = 0; i < RR_NSETTINGS; i++) {
        s = &rr_settings[i];

        if (s->env == NULL) {
            continue;
        }

        v = getenv(s->env);

        if (v && *v && rr_set(conf, s, s->env, v) != RR_OK) {
            return RR_EXIT_USAGE;
        }
    }

    if (conf->api_key.value) {
        if (conf->token.value
            && strcmp(conf->token.value, conf->api_key.value) != 0)
        {
            return rr_usage_error("API_TOKEN and API_KEY are both set and "
                                  "differ; set one of them (API_KEY is an "
                                  "alias of API_TOKEN)");
        }

        conf->token = conf->api_key;
    }

    return RR_OK;
}


/* then the options over it, from the same table */

static int
rr_from_options(rr_conf_t *conf, int argc, char **argv)
{
    int                  c, n;
    char                 letters[RR_NSETTINGS + 2];
    size_t               i, k;
    struct option        options[RR_NSETTINGS + 1];
    const rr_setting_t  *s;

    memset(options, 0, sizeof(options));

    k = 0;
    n = 0;
    letters[n++] = ':';

    for (i = 0; i < RR_NSETTINGS; i++) {
        s = &rr_settings[i];

        if (s->option == NULL) {
            continue;
        }

        options[k].name = s->option + 2;
        options[k].has_arg = (s->kind == RR_FLAG || s->kind == RR_HELP)
                             ? no_argument : required_argument;
        options[k].val = rr_option_value(i);
        k++;

        if (s->letter) {
            letters[n++] = (char) s->letter;
        }
    }

    letters[n] = '\0';

    opterr = 0;

    while ((c = getopt_long(argc, argv, letters, options, NULL)) != -1) {

        if (c == ':') {
            return rr_usage_error("option %s needs a value",
                                  argv[optind - 1]);
        }

        for (i = 0; i < RR_NSETTINGS; i++) {
            if (rr_settings[i].option && c == rr_option_value(i)) {
                break;
            }
        }

        if (i == RR_NSETTINGS) {
            if (optopt) {
                return rr_usage_error("unknown option -%c", optopt);
            }

            return rr_usage_error("unknown option %s", argv[optind - 1]);
        }

        s = &rr_settings[i];

        if (rr_set(conf, s, s->option, optarg) != RR_OK) {
            return RR_EXIT_USAGE;
        }
    }

    if (optind < argc) {
        return rr_usage_error("unexpected argument \"%s\"", argv[optind]);
    }

    return RR_OK;
}


/* getopt_long()'s answer for the option of row i */

static int
rr_option_value(size_t i)
{
    return rr_settings[i].letter ? rr_settings[i].letter
                                 : (int) (RR_LONG_BASE + i);
}


/* the api key, and the service key given or derived from it */

static int
rr_keys(rr_conf_t *conf)
{
    if (conf->token.value == NULL) {
        conf->token.value = "";
        conf->token.from = "--token";
    }

    if (rr_check_key(&conf->token) != RR_OK) {
        return RR_EXIT_USAGE;
    }

    if (conf->service_key.value) {
        if (*conf->service_key.value == '\0') {
            return rr_usage_error("invalid %s: empty",
                                  conf->service_key.from);
        }

        return rr_check_key(&conf->service_key);
    }

    if (conf->token.value[0] == '\0') {
        conf->service_key.value = "";
        return RR_OK;
    }

    if (rr_derive_key(conf->token.value, conf->derived) != RR_OK) {
        rr_log("cannot derive the service key: SHA-256 failed");
        return RR_EXIT_USAGE;
    }

    conf->service_key.value = conf->derived;

    return RR_OK;
}


void
rr_conf_free(rr_conf_t *conf)
{
    rr_url_t  *u[2];
    size_t     i;

    u[0] = &conf->master;
    u[1] = &conf->local;

    for (i = 0; i < 2; i++) {
        curl_url_cleanup(u[i]->url);
        curl_free(u[i]->text);
        u[i]->url = NULL;
        u[i]->text = NULL;
    }
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


/* one setting from the option or variable "from" */

static int
rr_set(rr_conf_t *conf, const rr_setting_t *s, const char *from,
    const char *value)
{
    rr_str_t  *str;

    switch (s->kind) {

    case RR_STRING:
        str = rr_dest(conf, s, rr_str_t);
        str->value = value;
        str->from = from;
        return RR_OK;

    case RR_PORT:
        return rr_parse_port(from, value, rr_dest(conf, s, unsigned));

    case RR_SECONDS:
    case RR_POSITIVE:
        return rr_parse_seconds(from, value, s->kind == RR_POSITIVE,
                                rr_dest(conf, s, double));

    case RR_MECHANISM:
        if (strcmp(value, "exponential") == 0) {
            *rr_dest(conf, s, int) = 1;
            return RR_OK;
        }

        if (strcmp(value, "uniform") == 0) {
            *rr_dest(conf, s, int) = 0;
            return RR_OK;
        }

        return rr_usage_error("invalid %s \"%s\": expected uniform or "
                              "exponential", from, value);

    case RR_FLAG:
        *rr_dest(conf, s, int) = 1;
        return RR_OK;

    default: /* RR_HELP */
        rr_usage();
        exit(RR_EXIT_OK);
    }
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


/*
 * A node's base URL from "host", "host:port", "[v6]:port", a bare IPv6
 * address or "http(s)://host[:port][/path]", as the original's .env
 * (MASTER_HOST=http://master) and README ("master") have it.  Given a
 * port, the value names a host: it gets that port unless it has its own,
 * and no path.  The path is made to end in one "/", so that an
 * endpoint's relative path resolves below it.
 */

static int
rr_url_parse(rr_url_t *url, rr_str_t *s, const char *port)
{
    int          scheme;
    char        *text;
    CURLUcode    rc;
    const char  *p;

    for (p = s->value; *p; p++) {
        if ((unsigned char) *p <= ' ' || *p == 0x7f) {
            return rr_usage_error("invalid %s: spaces or control "
                                  "characters", s->from);
        }
    }

    text = rr_url_bracket(s->value);
    url->url = curl_url();

    if (text == NULL || url->url == NULL) {
        free(text);
        return rr_url_error(s, CURLUE_OUT_OF_MEMORY);
    }

    /* no scheme: curl guesses one from the host name; it is http here */

    scheme = strstr(s->value, "://") != NULL;

    rc = curl_url_set(url->url, CURLUPART_URL, text,
                      scheme ? 0 : CURLU_GUESS_SCHEME);
    free(text);

    if (rc == CURLUE_OK && !scheme) {
        rc = curl_url_set(url->url, CURLUPART_SCHEME, "http", 0);
    }

    if (rc == CURLUE_OK) {
        rc = curl_url_get(url->url, CURLUPART_SCHEME, &text, 0);
    }

    if (rc != CURLUE_OK) {
        return rr_url_error(s, rc);
    }

    scheme = strcmp(text, "http") == 0 || strcmp(text, "https") == 0;
    curl_free(text);

    if (!scheme) {
        return rr_usage_error("invalid %s \"%s\": expected http:// or "
                              "https:// or no scheme", s->from, s->value);
    }

    if (port) {
        rc = curl_url_get(url->url, CURLUPART_PORT, &text, 0);

        if (rc == CURLUE_NO_PORT) {
            rc = curl_url_set(url->url, CURLUPART_PORT, port, 0);

        } else if (rc == CURLUE_OK) {
            curl_free(text);
        }
    }

    /* a query or a fragment would be dropped by the endpoints' paths */

    if (rc == CURLUE_OK) {
        rc = curl_url_set(url->url, CURLUPART_QUERY, NULL, 0);
    }

    if (rc == CURLUE_OK) {
        rc = curl_url_set(url->url, CURLUPART_FRAGMENT, NULL, 0);
    }

    if (rc == CURLUE_OK) {
        rc = rr_url_path(url->url, port != NULL);
    }

    if (rc == CURLUE_OK) {
        rc = curl_url_get(url->url, CURLUPART_URL, &url->text, 0);
    }

    if (rc != CURLUE_OK) {
        return rr_url_error(s, rc);
    }

    /* "http://h:1/" is said "http://h:1", "http://h:1/p/" "http://h:1/p" */
    url->text[strlen(url->text) - 1] = '\0';

    return RR_OK;
}


/*
 * A copy of value, a bare IPv6 address in its host bracketed as curl_url
 * wants it: two colons or more after any "user@" and before any "/"
 */

static char *
rr_url_bracket(const char *value)
{
    char        *text;
    size_t       n, colons, len;
    const char  *p, *host;

    p = strstr(value, "://");
    host = p ? p + 3 : value;
    n = strcspn(host, "/");

    for (p = host; p < host + n; p++) {
        if (*p == '@') {
            n -= p + 1 - host;
            host = p + 1;
        }
    }

    for (colons = 0, p = host; p < host + n; p++) {
        colons += (*p == ':');
    }

    len = strlen(value) + sizeof("[]");

    text = malloc(len);
    if (text == NULL) {
        return NULL;
    }

    if (colons >= 2 && host[0] != '[') {
        snprintf(text, len, "%.*s[%.*s]%s", (int) (host - value), value,
                 (int) n, host, host + n);

    } else {
        snprintf(text, len, "%s", value);
    }

    return text;
}


/* "/", "/p" or "/p//" -> "/" or "/p/"; a host's ("root") -> "/" */

static CURLUcode
rr_url_path(CURLU *url, int root)
{
    char       *text, *path;
    size_t      len;
    CURLUcode   rc;

    if (root) {
        return curl_url_set(url, CURLUPART_PATH, "/", 0);
    }

    rc = curl_url_get(url, CURLUPART_PATH, &text, 0);
    if (rc != CURLUE_OK) {
        return rc;
    }

    for (len = strlen(text); len && text[len - 1] == '/'; len--) {
        /* void */
    }

    path = malloc(len + 2);

    if (path == NULL) {
        curl_free(text);
        return CURLUE_OUT_OF_MEMORY;
    }

    memcpy(path, text, len);
    path[len] = '/';
    path[len + 1] = '\0';
    curl_free(text);

    rc = curl_url_set(url, CURLUPART_PATH, path, 0);
    free(path);

    return rc;
}


static int
rr_url_error(rr_str_t *s, CURLUcode rc)
{
    if (rc == CURLUE_OUT_OF_MEMORY) {
        rr_log("out of memory");
        return RR_EXIT_USAGE;
    }

    return rr_usage_error("invalid %s \"%s\": %s", s->from, s->value,
                          curl_url_strerror(rc));
}


static int
rr_check_key(rr_str_t *key)
{
    const char  *v;

    if (strlen(key->value) > RR_TOKEN_MAX) {
        return rr_usage_error("invalid %s: longer than %d bytes", key->from,
                              RR_TOKEN_MAX);
    }

    for (v = key->value; *v; v++) {
        if ((unsigned char) *v < ' ' || *v == 0x7f) {
            return rr_usage_error("invalid %s: control characters",
                                  key->from);
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


/*
 * The master's id rule (ngx_http_replog_valid_id()): 1 to 63 bytes of
 * printable ASCII, without spaces, quotes or backslashes
 */

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
        if (!ngx_http_replog_id_char(*p)) {
            return RR_REFUSED;
        }
    }

    return RR_OK;
}
