
/*
 * Copyright (C) replog authors
 */


/*
 * The helper's side of replog's API: one blocking libcurl handle (the
 * helper is a program of its own, outside nginx), every request and answer
 * body read and written with jansson, every URL resolved by curl_url.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rr.h"


static size_t rr_http_write(char *data, size_t size, size_t nmemb,
    void *userdata);
static int rr_http_progress(void *userdata, curl_off_t dltotal,
    curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow);
static int rr_http_perform(rr_http_t *h, rr_url_t *base, const char *path,
    const char *body, char *err, size_t size);
static void rr_http_error_text(rr_http_t *h, char *out, size_t size);
static void rr_copy_text(char *out, size_t size, const char *p, size_t n);
static int rr_json_string(json_t *obj, const char *name, char *out,
    size_t size);
static int rr_json_uint(json_t *obj, const char *name, uint64_t *out);
static int rr_json_epoch(json_t *obj, char *out);


static size_t
rr_http_write(char *data, size_t size, size_t nmemb, void *userdata)
{
    size_t      n;
    rr_http_t  *h;

    h = userdata;
    n = size * nmemb;

    /* replog's answers are small: a longer one is cut and not read on */
    if (n > RR_BODY_MAX - h->len) {
        h->over = 1;
        n = RR_BODY_MAX - h->len;
    }

    memcpy(h->body + h->len, data, n);
    h->len += n;
    h->body[h->len] = '\0';

    return h->over ? 0 : size * nmemb;
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


int
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

    if (conf->token.value[0]) {
        snprintf(header, sizeof(header), "x-token: %s", conf->token.value);

        l = curl_slist_append(NULL, header);
        if (l == NULL) {
            goto nomem;
        }

        h->get_headers = l;
    }

    if (conf->service_key.value[0]) {
        snprintf(header, sizeof(header), "x-token: %s",
                 conf->service_key.value);

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


void
rr_http_free(rr_http_t *h)
{
    if (h->curl) {
        curl_easy_cleanup(h->curl);
        h->curl = NULL;
    }

    curl_slist_free_all(h->get_headers);
    curl_slist_free_all(h->post_headers);
    json_decref(h->json);

    h->get_headers = NULL;
    h->post_headers = NULL;
    h->json = NULL;
}


/*
 * GET base + path, or POST the JSON body there; the answer is in h->body
 * and, if it is a JSON object or array, in h->json.  RR_OK on a 2xx
 * answer, RR_AGAIN on a transport error, a 5xx or an answer over
 * RR_BODY_MAX, RR_REFUSED on anything else, RR_STOPPED on a signal.  On
 * failure, err says why.
 */

int
rr_http_request(rr_http_t *h, rr_url_t *base, const char *path,
    json_t *body, char *err, size_t size)
{
    int    rc;
    char  *text;

    if (body == NULL) {
        return rr_http_perform(h, base, path, NULL, err, size);
    }

    text = json_dumps(body, JSON_COMPACT);
    if (text == NULL) {
        snprintf(err, size, "out of memory");
        return RR_AGAIN;
    }

    rc = rr_http_perform(h, base, path, text, err, size);

    free(text);

    return rc;
}


static int
rr_http_perform(rr_http_t *h, rr_url_t *base, const char *path,
    const char *body, char *err, size_t size)
{
    char       text[RR_ERR_MAX / 2];
    CURLU     *url;
    CURLcode   rc;
    CURLUcode  urc;

    if (rr_stop) {
        return RR_STOPPED;
    }

    h->status = 0;
    h->over = 0;
    h->len = 0;
    h->body[0] = '\0';

    json_decref(h->json);
    h->json = NULL;

    /* path is relative: it resolves below the base's path */

    url = curl_url_dup(base->url);
    if (url == NULL) {
        snprintf(err, size, "out of memory");
        return RR_AGAIN;
    }

    urc = curl_url_set(url, CURLUPART_URL, path, 0);
    if (urc != CURLUE_OK) {
        curl_url_cleanup(url);
        snprintf(err, size, "%s", curl_url_strerror(urc));
        return RR_AGAIN;
    }

    curl_easy_setopt(h->curl, CURLOPT_CURLU, url);

    if (body) {
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE, (long) strlen(body));
        curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->post_headers);

    } else {
        curl_easy_setopt(h->curl, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->get_headers);
    }

    rc = curl_easy_perform(h->curl);

    /* neither outlives this call */
    curl_easy_setopt(h->curl, CURLOPT_CURLU, NULL);
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, NULL);
    curl_url_cleanup(url);

    if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && h->over)) {
        if (rr_stop) {
            return RR_STOPPED;
        }

        snprintf(err, size, "%s", curl_easy_strerror(rc));
        return RR_AGAIN;
    }

    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &h->status);

    if (!h->over && h->len) {
        h->json = json_loadb(h->body, h->len, 0, NULL);
    }

    if (h->status >= 200 && h->status < 300) {
        if (h->over) {
            snprintf(err, size, "an answer longer than %d bytes",
                     RR_BODY_MAX);
            return RR_AGAIN;
        }

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
    const char  *p, *error;

    error = json_string_value(json_object_get(h->json, "error"));

    if (error && error[0]) {
        rr_copy_text(out, size, error, strlen(error));
        return;
    }

    for (p = h->body; *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n';
         p++)
    {
        /* void */
    }

    n = strcspn(p, "\r\n");

    if (n == 0 || *p == '<') {
        snprintf(out, size, "HTTP %ld", h->status);
        return;
    }

    rr_copy_text(out, size, p, n);
}


/* a peer's text for a log line: at most size - 1 bytes, controls as "?" */

static void
rr_copy_text(char *out, size_t size, const char *p, size_t n)
{
    size_t  i;

    if (n >= size) {
        n = size - 1;
    }

    for (i = 0; i < n; i++) {
        out[i] = ((unsigned char) p[i] < ' ' || p[i] == 0x7f) ? '?' : p[i];
    }

    out[n] = '\0';
}


static int
rr_json_string(json_t *obj, const char *name, char *out, size_t size)
{
    json_t  *v;

    v = json_object_get(obj, name);

    if (!json_is_string(v) || json_string_length(v) >= size) {
        return RR_AGAIN;
    }

    memcpy(out, json_string_value(v), json_string_length(v) + 1);

    return RR_OK;
}


static int
rr_json_uint(json_t *obj, const char *name, uint64_t *out)
{
    json_t  *v;

    v = json_object_get(obj, name);

    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        return RR_AGAIN;
    }

    *out = (uint64_t) json_integer_value(v);

    return RR_OK;
}


/* "epoch": 16 hex digits */

static int
rr_json_epoch(json_t *obj, char *out)
{
    size_t  n;

    if (rr_json_string(obj, "epoch", out, RR_EPOCH_LEN + 1) != RR_OK) {
        return RR_AGAIN;
    }

    for (n = 0; out[n]; n++) {
        if (!((out[n] >= '0' && out[n] <= '9')
              || (out[n] >= 'a' && out[n] <= 'f')
              || (out[n] >= 'A' && out[n] <= 'F')))
        {
            return RR_AGAIN;
        }
    }

    return n == RR_EPOCH_LEN ? RR_OK : RR_AGAIN;
}


/*
 * the local node's epoch and what it acknowledges, from /health: acked_id
 * (with fsync=always its durable prefix), or the contiguous high-water
 * mark last_id of a node that does not tell it
 */

int
rr_local_state(rr_conf_t *conf, rr_http_t *h, char *epoch,
    uint64_t *last_id, char *err, size_t size)
{
    int  rc;

    rc = rr_http_request(h, &conf->local, "health", NULL, err, size);
    if (rc != RR_OK) {
        return rc;
    }

    if (rr_json_epoch(h->json, epoch) != RR_OK
        || (rr_json_uint(h->json, "acked_id", last_id) != RR_OK
            && rr_json_uint(h->json, "last_id", last_id) != RR_OK))
    {
        snprintf(err, size, "no epoch and last_id in its /health answer");
        return RR_AGAIN;
    }

    return RR_OK;
}


/* POST /register {"id","port","epoch","acked_id"} to the master */

int
rr_register(rr_conf_t *conf, rr_http_t *h, const char *epoch,
    uint64_t last_id, rr_reg_t *reg, char *err, size_t size)
{
    int      rc;
    json_t  *body;

    body = json_pack("{s:s, s:i, s:s, s:I}",
                     "id", conf->id.value,
                     "port", (int) conf->port,
                     "epoch", epoch,
                     "acked_id", (json_int_t) last_id);

    if (body == NULL) {
        snprintf(err, size, "out of memory");
        return RR_AGAIN;
    }

    rc = rr_http_request(h, &conf->master, "register", body, err, size);

    json_decref(body);

    if (rc != RR_OK) {
        return rc;
    }

    if (rr_json_epoch(h->json, reg->epoch) != RR_OK
        || rr_json_uint(h->json, "last_id", &reg->last_id) != RR_OK)
    {
        snprintf(err, size, "no epoch and last_id in its /register answer");
        return RR_AGAIN;
    }

    if (rr_json_string(h->json, "master_id", reg->master_id,
                       sizeof(reg->master_id))
        != RR_OK)
    {
        strcpy(reg->master_id, "?");
    }

    return RR_OK;
}


/* POST /reset {} to the local node */

int
rr_reset(rr_conf_t *conf, rr_http_t *h, char *err, size_t size)
{
    int      rc;
    json_t  *body;

    body = json_object();
    if (body == NULL) {
        snprintf(err, size, "out of memory");
        return RR_AGAIN;
    }

    rc = rr_http_request(h, &conf->local, "reset", body, err, size);

    json_decref(body);

    return rc;
}


/* the epoch of the master's /health answer just read */

int
rr_master_epoch(rr_http_t *h, char *epoch)
{
    return rr_json_epoch(h->json, epoch);
}


/*
 * Whether the master's /secondaries answer just read lists id: 1 yes,
 * 0 no, -1 cannot tell
 */

int
rr_listed(rr_http_t *h, const char *id)
{
    size_t       i;
    json_t      *data, *entry;
    const char  *v;

    data = json_object_get(h->json, "data");

    if (!json_is_array(data)) {
        return -1;
    }

    json_array_foreach(data, i, entry) {
        v = json_string_value(json_object_get(entry, "id"));

        if (v && strcmp(v, id) == 0) {
            return 1;
        }
    }

    return 0;
}
