
/*
 * Copyright (C) replog authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <jansson.h>
#include "ngx_http_replog_json.h"


static json_t *ngx_http_replog_json_object(u_char *body, size_t len,
    const char *what, ngx_str_t *err);
static ngx_int_t ngx_http_replog_json_encode(ngx_pool_t *pool, json_t *v,
    ngx_str_t *out);
static ngx_int_t ngx_http_replog_printable(u_char *p, size_t len);
static u_char *ngx_http_replog_json_utf8(u_char *p, u_char *last);
static u_char *ngx_http_replog_json_ws(u_char *p, u_char *last);
static u_char *ngx_http_replog_json_canonical(u_char *p, u_char *last);
static ngx_int_t ngx_http_replog_json_message_fast(u_char *body, size_t len,
    ngx_str_t *msg);
static ngx_int_t ngx_http_replog_json_acked_fast(u_char *body, size_t len,
    uint64_t *acked_id, u_char *id, size_t *id_len, uint64_t *epoch);
static ngx_int_t ngx_http_replog_json_entries_fast(ngx_pool_t *pool,
    u_char *body, size_t len, uint64_t *epoch, uint64_t *first_id,
    ngx_http_replog_batch_entry_t **entries, ngx_uint_t *n);
static u_char *ngx_http_replog_json_health_secondaries(u_char *p,
    ngx_http_replog_status_t *st, ngx_uint_t needed);


/* the names of a secondary's status and of a log's state, as shown */

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


const char *
ngx_http_replog_status_name(ngx_uint_t status)
{
    return ngx_http_replog_status_names[status];
}


/* a body that must be a JSON object; NULL with err set otherwise */

static json_t *
ngx_http_replog_json_object(u_char *body, size_t len, const char *what,
    ngx_str_t *err)
{
    json_t        *root;
    json_error_t   jerr;

    root = json_loadb((const char *) body, len,
                      JSON_REJECT_DUPLICATES|JSON_ALLOW_NUL|JSON_DECODE_ANY,
                      &jerr);

    if (root == NULL) {
        ngx_str_set(err, "invalid JSON");
        return NULL;
    }

    if (!json_is_object(root)) {
        err->data = (u_char *) what;
        err->len = ngx_strlen(what);
        json_decref(root);
        return NULL;
    }

    return root;
}


/* a JSON string value in the form it is stored: quoted and escaped */

static ngx_int_t
ngx_http_replog_json_encode(ngx_pool_t *pool, json_t *v, ngx_str_t *out)
{
    u_char  *s;
    size_t   n;

    s = (u_char *) json_string_value(v);
    n = json_string_length(v);

    out->len = ngx_http_replog_json_escape_len(s, n) + 2;
    out->data = ngx_pnalloc(pool, out->len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    out->data[0] = '"';
    ngx_http_replog_json_escape(out->data + 1, s, n);
    out->data[out->len - 1] = '"';

    return NGX_OK;
}


/*
 * Parses a client's body, {"message": "text"}, and returns the message
 * already encoded as a JSON string, ready to be stored.
 */

ngx_int_t
ngx_http_replog_json_message(ngx_pool_t *pool, u_char *body, size_t len,
    ngx_str_t *msg, ngx_str_t *err)
{
    json_t  *root, *m;

    if (ngx_http_replog_json_message_fast(body, len, msg) == NGX_OK) {
        return NGX_OK;
    }

    root = ngx_http_replog_json_object(body, len,
                                       "the body must be a JSON object", err);
    if (root == NULL) {
        return NGX_DECLINED;
    }

    m = json_object_get(root, "message");

    if (m == NULL) {
        ngx_str_set(err, "\"message\" is missing");
        goto failed;
    }

    if (!json_is_string(m)) {
        ngx_str_set(err, "\"message\" must be a string");
        goto failed;
    }

    if (ngx_http_replog_json_encode(pool, m, msg) != NGX_OK) {
        json_decref(root);
        return NGX_ERROR;
    }

    json_decref(root);

    return NGX_OK;

failed:

    json_decref(root);

    return NGX_DECLINED;
}


size_t
ngx_http_replog_json_escape_len(u_char *s, size_t len)
{
    size_t  n;

    for (n = len; len; len--, s++) {
        if (*s == '"' || *s == '\\') {
            n++;

        } else if (*s < 0x20) {
            n += (*s == '\n' || *s == '\r' || *s == '\t'
                  || *s == '\b' || *s == '\f') ? 1 : 5;
        }
    }

    return n;
}


u_char *
ngx_http_replog_json_escape(u_char *dst, u_char *s, size_t len)
{
    u_char         c;
    static u_char  hex[] = "0123456789abcdef";

    while (len--) {
        c = *s++;

        if (c >= 0x20 && c != '"' && c != '\\') {
            *dst++ = c;
            continue;
        }

        *dst++ = '\\';

        switch (c) {
        case '"':
        case '\\':
            *dst++ = c;
            break;
        case '\n':
            *dst++ = 'n';
            break;
        case '\r':
            *dst++ = 'r';
            break;
        case '\t':
            *dst++ = 't';
            break;
        case '\b':
            *dst++ = 'b';
            break;
        case '\f':
            *dst++ = 'f';
            break;
        default:
            *dst++ = 'u';
            *dst++ = '0';
            *dst++ = '0';
            *dst++ = hex[c >> 4];
            *dst++ = hex[c & 0xf];
        }
    }

    return dst;
}


/*
 * registered_to of message id: ["<master>","<secondary>",...], the master
 * first, then the secondaries of the snapshot that hold it, in slot order
 */

ngx_int_t
ngx_http_replog_json_holders(ngx_pool_t *pool, ngx_str_t *master,
    ngx_http_replog_peers_t *peers, uint64_t id, ngx_str_t *json)
{
    u_char                  *p;
    size_t                   len;
    ngx_uint_t               i;
    ngx_http_replog_peer_t  *s;

    len = sizeof("[\"\"]") - 1
          + ngx_http_replog_json_escape_len(master->data, master->len);

    for (i = 0; i < NGX_HTTP_REPLOG_MAX_SECONDARIES; i++) {
        s = &peers->peer[i];

        if (ngx_http_replog_holds(s, id)) {
            len += sizeof(",\"\"") - 1
                   + ngx_http_replog_json_escape_len(s->id, s->id_len);
        }
    }

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    json->data = p;

    *p++ = '[';
    *p++ = '"';
    p = ngx_http_replog_json_escape(p, master->data, master->len);
    *p++ = '"';

    for (i = 0; i < NGX_HTTP_REPLOG_MAX_SECONDARIES; i++) {
        s = &peers->peer[i];

        if (ngx_http_replog_holds(s, id)) {
            *p++ = ',';
            *p++ = '"';
            p = ngx_http_replog_json_escape(p, s->id, s->id_len);
            *p++ = '"';
        }
    }

    *p++ = ']';

    json->len = p - json->data;

    return NGX_OK;
}


ngx_int_t
ngx_http_replog_parse_epoch(u_char *p, size_t len, uint64_t *epoch)
{
    ngx_int_t  n;
    uint64_t   e;

    if (len != 16) {
        return NGX_ERROR;
    }

    e = 0;

    while (len--) {
        n = ngx_hextoi(p++, 1);
        if (n == NGX_ERROR) {
            return NGX_ERROR;
        }

        e = (e << 4) | (uint64_t) n;
    }

    *epoch = e;

    return NGX_OK;
}


/* "YYYY-MM-DDTHH:MM:SS.uuuuuuZ", digits where digits belong */

static ngx_int_t
ngx_http_replog_json_time_ok(const char *s, size_t len)
{
    size_t       i;
    const char  *form = "dddd-dd-ddTdd:dd:dd.ddddddZ";

    if (len != NGX_HTTP_REPLOG_TIME_LEN) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (form[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != form[i]) {
            return 0;
        }
    }

    return 1;
}


/*
 * A time of that form is a date and a time of day that exist (RFC 3339:
 * months 01-12, the days of that month, 00-23:00-59:00-60)
 */

#define ngx_http_replog_json_2d(s)  (((s)[0] - '0') * 10 + (s)[1] - '0')

static ngx_int_t
ngx_http_replog_json_time_valid(const char *s)
{
    ngx_uint_t  year, month, day, mdays;

    static const ngx_uint_t  days[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30,
                                        31, 30, 31 };

    year = ngx_http_replog_json_2d(s) * 100 + ngx_http_replog_json_2d(s + 2);
    month = ngx_http_replog_json_2d(s + 5);
    day = ngx_http_replog_json_2d(s + 8);

    if (month < 1 || month > 12 || day < 1) {
        return 0;
    }

    mdays = days[month - 1];

    if (month == 2
        && !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)))
    {
        mdays = 28;
    }

    return day <= mdays
           && ngx_http_replog_json_2d(s + 11) <= 23
           && ngx_http_replog_json_2d(s + 14) <= 59
           && ngx_http_replog_json_2d(s + 17) <= 60;
}


static ngx_int_t
ngx_http_replog_json_epoch(json_t *root, uint64_t *epoch)
{
    json_t  *v;

    v = json_object_get(root, "epoch");

    if (v == NULL || json_is_null(v)) {
        *epoch = 0;
        return NGX_OK;
    }

    if (!json_is_string(v)) {
        return NGX_ERROR;
    }

    if (json_string_length(v) == 0) {
        *epoch = 0;
        return NGX_OK;
    }

    return ngx_http_replog_parse_epoch((u_char *) json_string_value(v),
                                       json_string_length(v), epoch);
}


/*
 * A batch from the master: {"epoch": "<16 hex>", "entries": [{"message":
 * "...", "meta": {"message_id": 1, "registered_at": "..."}}, ...]}, or with
 * key "data" and no epoch, a page of GET /messages that a recovering master
 * pulls (its "registered_to" arrays are what that node saw, not kept).
 * Checked whole before anything is applied.
 */

ngx_int_t
ngx_http_replog_json_entries(ngx_pool_t *pool, u_char *body, size_t len,
    const char *key, uint64_t *epoch, uint64_t *first_id,
    ngx_http_replog_batch_entry_t **entries, ngx_uint_t *n, ngx_str_t *err)
{
    size_t                          i, size;
    json_t                         *root, *list, *e, *meta, *id, *t, *m, *to;
    json_t                         *first;
    ngx_int_t                       rc;
    ngx_http_replog_batch_entry_t  *be;

    if (epoch && ngx_strcmp(key, "entries") == 0) {
        rc = ngx_http_replog_json_entries_fast(pool, body, len, epoch,
                                               first_id,
                                               entries, n);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    root = ngx_http_replog_json_object(body, len,
                                       "the batch must be a JSON object", err);
    if (root == NULL) {
        return NGX_DECLINED;
    }

    if (epoch
        && (ngx_http_replog_json_epoch(root, epoch) != NGX_OK || *epoch == 0))
    {
        ngx_str_set(err, "\"epoch\" must be 16 hex digits");
        goto failed;
    }

    /* a batch whose log starts at first_id: the master's retention */
    if (first_id) {
        first = json_object_get(root, "first_id");
        *first_id = 0;

        if (first) {
            if (!json_is_integer(first) || json_integer_value(first) < 1) {
                ngx_str_set(err, "\"first_id\" must be an integer from 1");
                goto failed;
            }

            *first_id = (uint64_t) json_integer_value(first);
        }
    }

    list = json_object_get(root, key);

    if (!json_is_array(list)) {
        ngx_str_set(err, "\"entries\" must be an array");
        goto failed;
    }

    size = json_array_size(list);

    be = ngx_palloc(pool, (size + 1) * sizeof(ngx_http_replog_batch_entry_t));
    if (be == NULL) {
        json_decref(root);
        return NGX_ERROR;
    }

    for (i = 0; i < size; i++) {
        e = json_array_get(list, i);
        m = json_object_get(e, "message");
        meta = json_object_get(e, "meta");
        id = json_object_get(meta, "message_id");
        t = json_object_get(meta, "registered_at");
        to = json_object_get(meta, "registered_to");

        if (!json_is_object(e)
            || !json_is_string(m)
            || !json_is_object(meta)
            || !json_is_integer(id) || json_integer_value(id) < 1
            || !json_is_string(t)
            || !ngx_http_replog_json_time_ok(json_string_value(t),
                                             json_string_length(t))
            || (to && !json_is_array(to)))
        {
            ngx_str_set(err, "each entry needs a string \"message\" and "
                        "a \"meta\" object with an integer "
                        "\"message_id\" from 1 and \"registered_at\"");
            goto failed;
        }

        if (!ngx_http_replog_json_time_valid(json_string_value(t))) {
            ngx_str_set(err, "\"registered_at\" must be a valid "
                        "RFC 3339 UTC time: YYYY-MM-DDTHH:MM:SS.uuuuuuZ");
            goto failed;
        }

        be[i].id = (uint64_t) json_integer_value(id);

        be[i].time = ngx_pnalloc(pool, NGX_HTTP_REPLOG_TIME_LEN);
        if (be[i].time == NULL) {
            json_decref(root);
            return NGX_ERROR;
        }

        ngx_memcpy(be[i].time, json_string_value(t), NGX_HTTP_REPLOG_TIME_LEN);

        if (ngx_http_replog_json_encode(pool, m, &be[i].msg) != NGX_OK) {
            json_decref(root);
            return NGX_ERROR;
        }
    }

    json_decref(root);

    *entries = be;
    *n = size;

    return NGX_OK;

failed:

    json_decref(root);

    return NGX_DECLINED;
}


/*
 * The fast paths.  Our own nodes send a batch in exactly one form (the
 * master's encoder above, no spaces, keys in its order) and the messages
 * in the one form the escaping routine makes; clients mostly send
 * {"message":"text"}.  Those forms are parsed here without jansson, every
 * byte checked within bounds; whatever differs by a byte (spaces, another
 * key order, an escape the routine does not make, a number too long, any
 * error) declines, and jansson reads it as before and says what is wrong.
 * So a fast path accepts only what the jansson path accepts, and gives
 * the same result (fuzz_replicate and fuzz_message compare both).
 */


/* one UTF-8 sequence from p (p[0] >= 0x80) as RFC 3629 has it, or NULL */

static u_char *
ngx_http_replog_json_utf8(u_char *p, u_char *last)
{
    u_char      c, lo, hi;
    ngx_uint_t  n;

    c = *p++;

    lo = 0x80;
    hi = 0xbf;

    if (c >= 0xc2 && c <= 0xdf) {
        n = 1;

    } else if (c >= 0xe0 && c <= 0xef) {
        n = 2;

        if (c == 0xe0) {
            lo = 0xa0;                              /* overlong */

        } else if (c == 0xed) {
            hi = 0x9f;                              /* surrogates */
        }

    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 3;

        if (c == 0xf0) {
            lo = 0x90;                              /* overlong */

        } else if (c == 0xf4) {
            hi = 0x8f;                              /* past U+10FFFF */
        }

    } else {
        return NULL;
    }

    if ((size_t) (last - p) < n || p[0] < lo || p[0] > hi) {
        return NULL;
    }

    for (p++, n--; n; p++, n--) {
        if (*p < 0x80 || *p > 0xbf) {
            return NULL;
        }
    }

    return p;
}


/*
 * A JSON string at p (its opening quote) in the form the escaping routine
 * makes of what it decodes to: the end past its closing quote, or NULL
 */

static u_char *
ngx_http_replog_json_canonical(u_char *p, u_char *last)
{
    u_char  c;

    if (p == last || *p++ != '"') {
        return NULL;
    }

    while (p < last) {
        c = *p;

        if (c == '"') {
            return p + 1;
        }

        if (c >= 0x80) {
            p = ngx_http_replog_json_utf8(p, last);
            if (p == NULL) {
                return NULL;
            }

            continue;
        }

        if (c >= 0x20 && c != '\\') {
            p++;
            continue;
        }

        if (c < 0x20 || last - p < 2) {
            return NULL;
        }

        switch (p[1]) {
        case '"':
        case '\\':
        case 'n':
        case 'r':
        case 't':
        case 'b':
        case 'f':
            p += 2;
            continue;

        case 'u':
            /* only \u00XX, lowercase, of a control byte without a short form */
            if (last - p < 6 || p[2] != '0' || p[3] != '0'
                || (p[4] != '0' && p[4] != '1'))
            {
                return NULL;
            }

            if (p[5] >= '0' && p[5] <= '9') {
                c = (u_char) ((p[4] - '0') * 16 + p[5] - '0');

            } else if (p[5] >= 'a' && p[5] <= 'f') {
                c = (u_char) ((p[4] - '0') * 16 + p[5] - 'a' + 10);

            } else {
                return NULL;
            }

            if (c == '\n' || c == '\r' || c == '\t' || c == '\b'
                || c == '\f')
            {
                return NULL;
            }

            p += 6;
            continue;

        default:
            return NULL;
        }
    }

    return NULL;
}


/* past JSON's white space */

static u_char *
ngx_http_replog_json_ws(u_char *p, u_char *last)
{
    while (p < last
           && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    {
        p++;
    }

    return p;
}

#define ngx_http_replog_json_lit(p, last, s)                                 \
    ((size_t) ((last) - (p)) >= sizeof(s) - 1                               \
     && ngx_memcmp(p, s, sizeof(s) - 1) == 0)


/* {"message":"text"}, spaces allowed between the tokens */

static ngx_int_t
ngx_http_replog_json_message_fast(u_char *body, size_t len, ngx_str_t *msg)
{
    u_char  *p, *last, *m;

    p = body;
    last = body + len;

    p = ngx_http_replog_json_ws(p, last);

    if (p == last || *p++ != '{') {
        return NGX_DECLINED;
    }

    p = ngx_http_replog_json_ws(p, last);

    if (!ngx_http_replog_json_lit(p, last, "\"message\"")) {
        return NGX_DECLINED;
    }

    p += sizeof("\"message\"") - 1;

    p = ngx_http_replog_json_ws(p, last);

    if (p == last || *p++ != ':') {
        return NGX_DECLINED;
    }

    p = ngx_http_replog_json_ws(p, last);

    m = p;

    p = ngx_http_replog_json_canonical(p, last);
    if (p == NULL) {
        return NGX_DECLINED;
    }

    msg->data = m;
    msg->len = p - m;

    p = ngx_http_replog_json_ws(p, last);

    if (p == last || *p++ != '}') {
        return NGX_DECLINED;
    }

    p = ngx_http_replog_json_ws(p, last);

    return (p == last) ? NGX_OK : NGX_DECLINED;
}


/* the smallest entry of the master's batch form */
#define NGX_HTTP_REPLOG_JSON_MIN_ENTRY                                       \
    (sizeof("{\"message\":\"\",\"meta\":{\"message_id\":1,"                  \
            "\"registered_at\":\"\"}}") - 1 + NGX_HTTP_REPLOG_TIME_LEN)

/* message ids of up to 18 digits cannot overflow jansson's integer */
#define NGX_HTTP_REPLOG_JSON_ID_DIGITS  18


/*
 * A batch in the master's own form: '{"epoch":"<16 hex>",', after
 * retention '"first_id":ID,', the blanks of the head's fixed room,
 * '"entries":[', entries
 * '{"message":MSG,"meta":{"message_id":ID,"registered_at":"TIME"}}'
 * separated by commas, and ']}'.  The entries point into the body.
 */

static ngx_int_t
ngx_http_replog_json_entries_fast(ngx_pool_t *pool, u_char *body,
    size_t len, uint64_t *epoch, uint64_t *first_id,
    ngx_http_replog_batch_entry_t **entries, ngx_uint_t *n)
{
    u_char                         *p, *last, *m, *d;
    uint64_t                        id;
    ngx_uint_t                      i, max;
    ngx_http_replog_batch_entry_t  *be;

    p = body;
    last = body + len;

    if (!ngx_http_replog_json_lit(p, last, "{\"epoch\":\"")) {
        return NGX_DECLINED;
    }

    p += sizeof("{\"epoch\":\"") - 1;

    if (last - p < 16
        || ngx_http_replog_parse_epoch(p, 16, epoch) != NGX_OK
        || *epoch == 0)
    {
        return NGX_DECLINED;
    }

    p += 16;

    if (!ngx_http_replog_json_lit(p, last, "\",")) {
        return NGX_DECLINED;
    }

    p += 2;

    if (first_id) {
        *first_id = 0;
    }

    if (ngx_http_replog_json_lit(p, last, "\"first_id\":")) {
        p += sizeof("\"first_id\":") - 1;
        d = p;
        id = 0;

        while (p < last && *p >= '0' && *p <= '9'
               && p - d < NGX_HTTP_REPLOG_JSON_ID_DIGITS)
        {
            id = id * 10 + (*p++ - '0');
        }

        /* no leading zero, no 0, as jansson and the check there say */
        if (first_id == NULL || p == d || *d == '0' || p == last
            || *p++ != ',')
        {
            return NGX_DECLINED;
        }

        *first_id = id;
    }

    while (p < last && *p == ' ') {
        p++;
    }

    if (!ngx_http_replog_json_lit(p, last, "\"entries\":[")) {
        return NGX_DECLINED;
    }

    p += sizeof("\"entries\":[") - 1;

    max = (last - p) / NGX_HTTP_REPLOG_JSON_MIN_ENTRY + 1;

    be = ngx_palloc(pool, max * sizeof(ngx_http_replog_batch_entry_t));
    if (be == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; p < last && *p != ']'; i++) {

        if (i == max || (i && *p++ != ',')) {
            return NGX_DECLINED;
        }

        if (!ngx_http_replog_json_lit(p, last, "{\"message\":")) {
            return NGX_DECLINED;
        }

        p += sizeof("{\"message\":") - 1;
        m = p;

        p = ngx_http_replog_json_canonical(p, last);
        if (p == NULL) {
            return NGX_DECLINED;
        }

        be[i].msg.data = m;
        be[i].msg.len = p - m;

        if (!ngx_http_replog_json_lit(p, last, ",\"meta\":{\"message_id\":")) {
            return NGX_DECLINED;
        }

        p += sizeof(",\"meta\":{\"message_id\":") - 1;

        if (p == last || *p < '1' || *p > '9') {
            return NGX_DECLINED;
        }

        id = 0;

        for (d = p; p < last && *p >= '0' && *p <= '9'; p++) {
            if (p - d == NGX_HTTP_REPLOG_JSON_ID_DIGITS) {
                return NGX_DECLINED;
            }

            id = id * 10 + (*p - '0');
        }

        be[i].id = id;

        if (!ngx_http_replog_json_lit(p, last, ",\"registered_at\":\"")) {
            return NGX_DECLINED;
        }

        p += sizeof(",\"registered_at\":\"") - 1;

        if ((size_t) (last - p) < NGX_HTTP_REPLOG_TIME_LEN + 3
            || !ngx_http_replog_json_time_ok((const char *) p,
                                             NGX_HTTP_REPLOG_TIME_LEN)
            || !ngx_http_replog_json_time_valid((const char *) p))
        {
            return NGX_DECLINED;
        }

        be[i].time = p;
        p += NGX_HTTP_REPLOG_TIME_LEN;

        if (p[0] != '"' || p[1] != '}' || p[2] != '}') {
            return NGX_DECLINED;
        }

        p += 3;
    }

    if (last - p != 2 || p[0] != ']' || p[1] != '}') {
        return NGX_DECLINED;
    }

    *entries = be;
    *n = i;

    return NGX_OK;
}


/*
 * A secondary's answer in its own form, '{"acked_id":N,"id":"ID",
 * "epoch":"<16 hex>"}' and white space: an id of the characters ids are
 * made of is the same bytes decoded
 */

static ngx_int_t
ngx_http_replog_json_acked_fast(u_char *body, size_t len, uint64_t *acked_id,
    u_char *id, size_t *id_len, uint64_t *epoch)
{
    u_char    *p, *last, *d;
    uint64_t   n;

    p = body;
    last = body + len;

    if (!ngx_http_replog_json_lit(p, last, "{\"acked_id\":")) {
        return NGX_DECLINED;
    }

    p += sizeof("{\"acked_id\":") - 1;

    if (p == last || *p < '0' || *p > '9' || (*p == '0' && last - p > 1
                                                && p[1] >= '0'
                                                && p[1] <= '9'))
    {
        return NGX_DECLINED;
    }

    n = 0;

    for (d = p; p < last && *p >= '0' && *p <= '9'; p++) {
        if (p - d == NGX_HTTP_REPLOG_JSON_ID_DIGITS) {
            return NGX_DECLINED;
        }

        n = n * 10 + (*p - '0');
    }

    if (!ngx_http_replog_json_lit(p, last, ",\"id\":\"")) {
        return NGX_DECLINED;
    }

    p += sizeof(",\"id\":\"") - 1;

    for (d = p; p < last && *p != '"'; p++) {
        if (p - d == NGX_HTTP_REPLOG_ID_LEN - 1
            || !ngx_http_replog_id_char(*p))
        {
            return NGX_DECLINED;
        }
    }

    if (p == d || !ngx_http_replog_json_lit(p, last, "\",\"epoch\":\"")) {
        return NGX_DECLINED;
    }

    *id_len = p - d;
    ngx_memcpy(id, d, *id_len);

    p += sizeof("\",\"epoch\":\"") - 1;

    if (last - p < 18
        || ngx_http_replog_parse_epoch(p, 16, epoch) != NGX_OK
        || p[16] != '"' || p[17] != '}')
    {
        return NGX_DECLINED;
    }

    p = ngx_http_replog_json_ws(p + 18, last);

    if (p != last) {
        return NGX_DECLINED;
    }

    *acked_id = n;

    return NGX_OK;
}


/*
 * A node id: 1 to 63 bytes of printable ASCII, without spaces, quotes or
 * backslashes, so that it is logged, listed and sent as it is.
 */

ngx_int_t
ngx_http_replog_valid_id(u_char *p, size_t len)
{
    if (len == 0 || len >= NGX_HTTP_REPLOG_ID_LEN) {
        return NGX_DECLINED;
    }

    return ngx_http_replog_printable(p, len);
}


/* printable ASCII without spaces, quotes or backslashes */

static ngx_int_t
ngx_http_replog_printable(u_char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (!ngx_http_replog_id_char(p[i])) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/*
 * The master's URL as clients are told it: "http://" or "https://" and
 * up to NGX_HTTP_REPLOG_HOST_LEN bytes of what a valid id may hold.
 */

ngx_int_t
ngx_http_replog_valid_url(u_char *p, size_t len)
{
    size_t  skip;

    if (len > 7 && ngx_strncasecmp(p, (u_char *) "http://", 7) == 0) {
        skip = 7;

    } else if (len > 8 && ngx_strncasecmp(p, (u_char *) "https://", 8) == 0) {
        skip = 8;

    } else {
        return NGX_DECLINED;
    }

    if (len > NGX_HTTP_REPLOG_HOST_LEN) {
        return NGX_DECLINED;
    }

    return ngx_http_replog_printable(p + skip, len - skip);
}


/* {"id": "s1", "port": 8001, "epoch": "<16 hex>", "acked_id": 0} */

ngx_int_t
ngx_http_replog_json_register(ngx_pool_t *pool, u_char *body,
    size_t len, ngx_str_t *id, ngx_uint_t *port, uint64_t *epoch,
    uint64_t *acked_id, ngx_str_t *err)
{
    json_t  *root, *v;

    root = ngx_http_replog_json_object(body, len,
                                       "the body must be a JSON object", err);
    if (root == NULL) {
        return NGX_DECLINED;
    }

    v = json_object_get(root, "id");

    /* ids reach log lines and answers: printable, nothing to escape */

    if (!json_is_string(v)
        || ngx_http_replog_valid_id((u_char *) json_string_value(v),
                                    json_string_length(v))
           != NGX_OK)
    {
        ngx_str_set(err, "\"id\" must be a string of 1 to 63 "
                         "printable ASCII characters, without spaces, quotes "
                         "or backslashes");
        goto failed;
    }

    id->len = json_string_length(v);
    id->data = ngx_pnalloc(pool, id->len);
    if (id->data == NULL) {
        json_decref(root);
        return NGX_ERROR;
    }

    ngx_memcpy(id->data, json_string_value(v), id->len);

    v = json_object_get(root, "port");

    if (!json_is_integer(v) || json_integer_value(v) < 1
        || json_integer_value(v) > 65535)
    {
        ngx_str_set(err, "\"port\" must be an integer from 1 to 65535");
        goto failed;
    }

    *port = (ngx_uint_t) json_integer_value(v);

    if (ngx_http_replog_json_epoch(root, epoch) != NGX_OK) {
        ngx_str_set(err, "\"epoch\" must be 16 hex digits");
        goto failed;
    }

    v = json_object_get(root, "acked_id");
    *acked_id = 0;

    if (v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            ngx_str_set(err, "\"acked_id\" must be an integer from 0");
            goto failed;
        }

        *acked_id = (uint64_t) json_integer_value(v);
    }

    json_decref(root);

    return NGX_OK;

failed:

    json_decref(root);

    return NGX_DECLINED;
}


/*
 * A secondary's /replicate answer, on the master: {"acked_id": N, "id":
 * "...", "epoch": "<16 hex>"} and maybe an "error"; other keys are ignored.
 * id must hold NGX_HTTP_REPLOG_ID_LEN bytes.
 */

ngx_int_t
ngx_http_replog_json_acked(u_char *body, size_t len, uint64_t *acked_id,
    u_char *id, size_t *id_len, uint64_t *epoch)
{
    json_t     *root, *v;
    ngx_str_t   err;
    ngx_int_t   rc;

    if (ngx_http_replog_json_acked_fast(body, len, acked_id, id, id_len,
                                        epoch)
        == NGX_OK)
    {
        return NGX_OK;
    }

    root = ngx_http_replog_json_object(body, len, "not an object", &err);
    if (root == NULL) {
        return NGX_DECLINED;
    }

    rc = NGX_DECLINED;

    v = json_object_get(root, "acked_id");

    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        goto done;
    }

    *acked_id = (uint64_t) json_integer_value(v);

    v = json_object_get(root, "id");

    if (!json_is_string(v) || json_string_length(v) == 0
        || json_string_length(v) >= NGX_HTTP_REPLOG_ID_LEN)
    {
        goto done;
    }

    *id_len = json_string_length(v);
    ngx_memcpy(id, json_string_value(v), *id_len);

    v = json_object_get(root, "epoch");

    if (!json_is_string(v)
        || ngx_http_replog_parse_epoch((u_char *) json_string_value(v),
                                       json_string_length(v), epoch)
           != NGX_OK)
    {
        goto done;
    }

    rc = NGX_OK;

done:

    json_decref(root);

    return rc;
}


/*
 * A 410 of GET /messages, on a recovering master: {"error": "...",
 * "first_id": K}, K from 2 (a log starting at 1 drops nothing).
 */

ngx_int_t
ngx_http_replog_json_gone(u_char *body, size_t len, uint64_t *first_id)
{
    json_t     *root, *v;
    ngx_str_t   err;
    ngx_int_t   rc;

    root = ngx_http_replog_json_object(body, len, "not an object", &err);
    if (root == NULL) {
        return NGX_DECLINED;
    }

    rc = NGX_DECLINED;

    v = json_object_get(root, "first_id");

    if (json_is_integer(v) && json_integer_value(v) > 1) {
        *first_id = (uint64_t) json_integer_value(v);
        rc = NGX_OK;
    }

    json_decref(root);

    return rc;
}


/*
 * The encoders.  Every text from a peer, a client or the configuration
 * goes through the one escaping routine above; numbers, epochs and times
 * are formatted here.
 */


u_char *
ngx_http_replog_format_time(u_char *p, int64_t usec)
{
    ngx_tm_t  tm;

    ngx_gmtime((time_t) (usec / 1000000), &tm);

    return ngx_sprintf(p, "%4d-%02d-%02dT%02d:%02d:%02d.%06dZ",
                       tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                       tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec,
                       (int) (usec % 1000000));
}


u_char *
ngx_http_replog_format_epoch(u_char *p, uint64_t epoch)
{
    return ngx_sprintf(p, "%016xL", epoch);
}


/*
 * An entry as the zone stores it, its list form up to its holders:
 * ',{"message":MSG,"meta":{"message_id":ID,"registered_at":"TIME"' (MSG is
 * JSON already), left open for a list's ',"registered_to":[...]}}' or a
 * batch's '}}'; NGX_HTTP_REPLOG_JSON_ENTRY_LEN(len) bytes at most.
 */

u_char *
ngx_http_replog_json_entry(u_char *p, u_char *msg, size_t len, uint64_t id,
    u_char *time)
{
    p = ngx_cpymem(p, ",{\"message\":", sizeof(",{\"message\":") - 1);
    p = ngx_cpymem(p, msg, len);
    p = ngx_sprintf(p, ",\"meta\":{\"message_id\":%uL,\"registered_at\":\"",
                    id);
    p = ngx_cpymem(p, time, NGX_HTTP_REPLOG_TIME_LEN);
    *p++ = '"';

    return p;
}


/* a batch's envelope: '{"epoch":"<16 hex>","entries":[' and ']}' */

u_char *
ngx_http_replog_json_batch_head(u_char *p, uint64_t epoch,
    uint64_t first_id)
{
    u_char  *end;

    /* the head's room is fixed: what first_id leaves is JSON blanks */
    end = p + NGX_HTTP_REPLOG_JSON_BATCH_HEAD - (sizeof("\"entries\":[") - 1);

    p = ngx_sprintf(p, "{\"epoch\":\"%016xL\",", epoch);

    if (first_id) {
        p = ngx_sprintf(p, "\"first_id\":%uL,", first_id);
    }

    while (p < end) {
        *p++ = ' ';
    }

    return ngx_cpymem(p, "\"entries\":[", sizeof("\"entries\":[") - 1);
}


u_char *
ngx_http_replog_json_batch_tail(u_char *p)
{
    *p++ = ']';
    *p++ = '}';

    return p;
}


/* a batch's entries are closed with "}}": it does not say who holds them */

void
ngx_http_replog_json_batch_run(ngx_http_replog_run_t *run)
{
    static u_char  close[8] = "}}";

    run->hi = (uint64_t) -1;
    run->suffix.data = close;
    run->suffix.len = 2;
    run->padded = sizeof(close);
}


/*
 * The members of the errors a write may get before its body is read:
 * the master recovering, no quorum; and a secondary's 405 names where to
 * write (a URL already checked to be printable, no quotes)
 */

u_char *
ngx_http_replog_json_recovering(u_char *p, ngx_uint_t registered,
    ngx_uint_t needed, ngx_uint_t state)
{
    return ngx_sprintf(p, "\"reason\":\"the master restarted with an empty "
                       "log and restores it from its secondaries before it "
                       "accepts writes\",\"registered\":%ui,"
                       "\"needed\":%ui,\"state\":\"%s\"",
                       registered, needed, ngx_http_replog_state_name(state));
}


u_char *
ngx_http_replog_json_quorum(u_char *p, ngx_uint_t up, ngx_uint_t needed,
    ngx_uint_t n)
{
    return ngx_sprintf(p, "\"up\":%ui,\"needed\":%ui,\"cluster_size\":%ui",
                       up, needed, n);
}


u_char *
ngx_http_replog_json_master(u_char *p, u_char *url, size_t len)
{
    return ngx_sprintf(p, "\"master\":\"%*s\"", len, url);
}


/*
 * The suffix of a list's run of ids held by the same nodes (those that
 * hold id): ',"registered_to":[...]}}', in a buffer of whole 8-byte words
 * (padded with zeros), so that it is copied without a call.
 */

ngx_int_t
ngx_http_replog_json_run(ngx_pool_t *pool, ngx_str_t *master,
    ngx_http_replog_peers_t *peers, uint64_t id, ngx_http_replog_run_t *run)
{
    u_char     *p;
    ngx_str_t   holders;

    if (ngx_http_replog_json_holders(pool, master, peers, id, &holders)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    run->suffix.len = sizeof(",\"registered_to\":}}") - 1 + holders.len;
    run->padded = ngx_align(run->suffix.len, 8);

    p = ngx_pcalloc(pool, run->padded);
    if (p == NULL) {
        return NGX_ERROR;
    }

    run->suffix.data = p;

    p = ngx_cpymem(p, ",\"registered_to\":",
                   sizeof(",\"registered_to\":") - 1);
    p = ngx_cpymem(p, holders.data, holders.len);
    *p++ = '}';
    *p = '}';

    return NGX_OK;
}


/*
 * A write's answer, {"message":M,"meta":{"message_id":7,
 * "registered_at":"...","registered_to":[...]}}, or with wc (a 504) the
 * members an error carries: "write_concern":wc,"acks":acks,"message":...
 */

ngx_int_t
ngx_http_replog_json_written(ngx_pool_t *pool, ngx_str_t *msg,
    ngx_http_replog_appended_t *a, ngx_str_t *master,
    ngx_http_replog_peers_t *peers, ngx_int_t wc, ngx_uint_t acks,
    ngx_str_t *json)
{
    u_char     *p;
    size_t      len;
    ngx_str_t   holders;

    if (ngx_http_replog_json_holders(pool, master, peers, a->id, &holders)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    len = sizeof("{\"write_concern\":,\"acks\":,\"message\":,\"meta\":"
                 "{\"message_id\":,\"registered_at\":\"\","
                 "\"registered_to\":}}\n")
          + 2 * NGX_INT_T_LEN + msg->len + NGX_INT64_LEN
          + NGX_HTTP_REPLOG_TIME_LEN + holders.len;

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    json->data = p;

    if (wc) {
        p = ngx_sprintf(p, "\"write_concern\":%i,\"acks\":%ui,", wc, acks);

    } else {
        *p++ = '{';
    }

    p = ngx_sprintf(p, "\"message\":%V,\"meta\":{\"message_id\":%uL,"
                    "\"registered_at\":\"", msg, a->id);
    p = ngx_http_replog_format_time(p, a->usec);
    p = ngx_sprintf(p, "\",\"registered_to\":%V}", &holders);

    if (!wc) {
        *p++ = '}';
        *p++ = '\n';
    }

    json->len = p - json->data;

    return NGX_OK;
}


/* {"error":"<text>","detail":"<text>"[,<fields>]}: the text escaped here */

ngx_int_t
ngx_http_replog_json_error(ngx_pool_t *pool, u_char *text, size_t len,
    ngx_str_t *fields, ngx_str_t *json)
{
    u_char  *p;
    size_t   elen;

    elen = ngx_http_replog_json_escape_len(text, len);

    json->len = sizeof("{\"error\":\"\",\"detail\":\"\"}\n") - 1 + 2 * elen
                + (fields ? fields->len + 1 : 0);
    json->data = ngx_pnalloc(pool, json->len);
    if (json->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(json->data, "{\"error\":\"", sizeof("{\"error\":\"") - 1);
    p = ngx_http_replog_json_escape(p, text, len);
    p = ngx_cpymem(p, "\",\"detail\":\"", sizeof("\",\"detail\":\"") - 1);
    p = ngx_http_replog_json_escape(p, text, len);
    *p++ = '"';

    if (fields) {
        *p++ = ',';
        p = ngx_cpymem(p, fields->data, fields->len);
    }

    *p++ = '}';
    *p++ = '\n';

    json->len = p - json->data;

    return NGX_OK;
}


/* a master's answer to a registration */

ngx_int_t
ngx_http_replog_json_registered(ngx_pool_t *pool, ngx_str_t *id,
    ngx_str_t *master_id, uint64_t epoch, uint64_t last_id, ngx_str_t *json)
{
    u_char  *p;
    size_t   len;

    len = sizeof("{\"id\":\"\",\"master_id\":\"\",\"epoch\":\"\","
                 "\"last_id\":}\n")
          + ngx_http_replog_json_escape_len(id->data, id->len)
          + ngx_http_replog_json_escape_len(master_id->data, master_id->len)
          + 16 + NGX_INT64_LEN;

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    json->data = p;

    p = ngx_cpymem(p, "{\"id\":\"", sizeof("{\"id\":\"") - 1);
    p = ngx_http_replog_json_escape(p, id->data, id->len);
    p = ngx_cpymem(p, "\",\"master_id\":\"", sizeof("\",\"master_id\":\"") - 1);
    p = ngx_http_replog_json_escape(p, master_id->data, master_id->len);
    p = ngx_cpymem(p, "\",\"epoch\":\"", sizeof("\",\"epoch\":\"") - 1);
    p = ngx_http_replog_format_epoch(p, epoch);
    p = ngx_sprintf(p, "\",\"last_id\":%uL}\n", last_id);

    json->len = p - json->data;

    return NGX_OK;
}


/*
 * A secondary's answer to a batch, {"acked_id":N,"id":"<id>","epoch":".."}
 * ("error" first when err): what ngx_http_replog_json_acked() parses
 */

ngx_int_t
ngx_http_replog_json_ack(ngx_pool_t *pool, const char *err,
    uint64_t acked_id, ngx_str_t *id, uint64_t epoch, ngx_str_t *json)
{
    u_char  *p;
    size_t   len, elen;

    elen = err ? ngx_http_replog_json_escape_len((u_char *) err,
                                                 ngx_strlen(err))
               : 0;

    len = sizeof("{\"error\":\"\",\"acked_id\":,\"id\":\"\","
                 "\"epoch\":\"\"}\n")
          + NGX_INT64_LEN + elen
          + ngx_http_replog_json_escape_len(id->data, id->len) + 16;

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    json->data = p;

    if (err) {
        p = ngx_cpymem(p, "{\"error\":\"", sizeof("{\"error\":\"") - 1);
        p = ngx_http_replog_json_escape(p, (u_char *) err, ngx_strlen(err));
        *p++ = '"';
        *p++ = ',';

    } else {
        *p++ = '{';
    }

    p = ngx_sprintf(p, "\"acked_id\":%uL,\"id\":\"", acked_id);
    p = ngx_http_replog_json_escape(p, id->data, id->len);
    p = ngx_cpymem(p, "\",\"epoch\":\"", sizeof("\",\"epoch\":\"") - 1);
    p = ngx_http_replog_format_epoch(p, epoch);
    p = ngx_cpymem(p, "\"}\n", sizeof("\"}\n") - 1);

    json->len = p - json->data;

    return NGX_OK;
}


/*
 * GET /health: {"role":..,"id":..,"epoch":..,"state":..,"waiters":..,
 * "read_only":..,"last_id":..,"bytes":..,"pending":..,"cluster_size":n,
 * "quorum":{"up":..,"needed":..}}, with path= the zone's
 * "zone":{"first_id":..,"evicted":..,"file_reads":..,"file_read_bytes":..},
 * on a master with its "secondaries" and,
 * while it recovers, the registrations it waits for:
 * "recovery":{"needed":2,"awaited":1,"registered":["s1"]}
 */

ngx_int_t
ngx_http_replog_json_health(ngx_pool_t *pool, ngx_http_replog_status_t *st,
    ngx_str_t *id, ngx_uint_t master, ngx_uint_t read_only, ngx_uint_t n,
    ngx_uint_t up, ngx_uint_t needed, ngx_str_t *json)
{
    u_char  *p;
    size_t   len;

    len = sizeof("{\"role\":\"secondary\",\"id\":\"\",\"epoch\":\"\","
                 "\"state\":\"recovering\",\"waiters\":,"
                 "\"read_only\":false,\"last_id\":,\"acked_id\":,"
                 "\"bytes\":,\"pending\":,\"cluster_size\":,"
                 "\"quorum\":{\"up\":,\"needed\":}}\n")
          + 16 + 3 * NGX_INT64_LEN + 5 * NGX_INT_T_LEN
          + sizeof(",\"log_first_id\":") - 1 + NGX_INT64_LEN
          + sizeof(",\"zone\":{\"first_id\":,\"evicted\":,"
                   "\"file_reads\":,\"file_read_bytes\":}")
          + 4 * NGX_INT64_LEN
          + ngx_http_replog_json_escape_len(id->data, id->len);

    if (master) {
        len += sizeof(",\"secondaries\":[]")
               + sizeof(",\"recovery\":{\"needed\":,\"awaited\":,"
                        "\"registered\":[]}")
               + 2 * NGX_INT_T_LEN
               + NGX_HTTP_REPLOG_MAX_SECONDARIES
                 * (sizeof("{\"id\":\"\",\"status\":\"SUSPECTED\","
                           "\"acked_id\":},") + 3
                    + 2 * 6 * NGX_HTTP_REPLOG_ID_LEN + NGX_INT64_LEN);
    }

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    json->data = p;

    p = ngx_sprintf(p, "{\"role\":\"%s\",\"id\":\"",
                    master ? "master" : "secondary");
    p = ngx_http_replog_json_escape(p, id->data, id->len);
    p = ngx_cpymem(p, "\",\"epoch\":\"", sizeof("\",\"epoch\":\"") - 1);
    p = ngx_http_replog_format_epoch(p, st->epoch);
    p = ngx_sprintf(p, "\",\"state\":\"%s\",\"waiters\":%ui",
                    ngx_http_replog_state_name(st->state),
                    st->counters[NGX_HTTP_REPLOG_WAITERS]);
    p = ngx_sprintf(p, ",\"read_only\":%s,\"last_id\":%uL,\"acked_id\":%uL,"
                    "\"bytes\":%uL,\"pending\":%ui,\"cluster_size\":%ui,"
                    "\"quorum\":{\"up\":%ui,\"needed\":%ui}",
                    read_only ? "true" : "false",
                    st->last_id, st->held_id, st->bytes, st->pending,
                    n, up, n / 2 + 1);

    /* the log's first id: path=, or moved by retention */
    if (st->logged || st->log_first) {
        p = ngx_sprintf(p, ",\"log_first_id\":%uL",
                        st->log_first ? st->log_first
                        : (st->last_id ? 1 : 0));
    }

    /* path=: the zone as the log's tail, and what the files gave */
    if (st->logged) {
        p = ngx_sprintf(p, ",\"zone\":{\"first_id\":%uL,\"evicted\":%uL,"
                        "\"file_reads\":%uL,\"file_read_bytes\":%uL}",
                        st->first_id, st->evicted, st->file_reads,
                        st->file_bytes);
    }

    if (master) {
        p = ngx_http_replog_json_health_secondaries(p, st, needed);
    }

    *p++ = '}';
    *p++ = '\n';

    json->len = p - json->data;

    return NGX_OK;
}


static u_char *
ngx_http_replog_json_health_secondaries(u_char *p, ngx_http_replog_status_t *st,
    ngx_uint_t needed)
{
    ngx_uint_t                    i, n;
    ngx_http_replog_secondary_t  *s;

    /* a recovering master: the registrations it still waits for */

    if (st->state != NGX_HTTP_REPLOG_OPEN) {
        n = st->nsecondaries;

        p = ngx_sprintf(p, ",\"recovery\":{\"needed\":%ui,\"awaited\":%ui,"
                        "\"registered\":[", needed,
                        n < needed ? needed - n : 0);

        for (i = 0, n = 0; i < NGX_HTTP_REPLOG_MAX_SECONDARIES; i++) {
            s = &st->secondaries[i];

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

        *p++ = ']';
        *p++ = '}';
    }

    /* [{"id":"s1","status":"HEALTHY","acked_id":7}, ...] */

    p = ngx_cpymem(p, ",\"secondaries\":[", sizeof(",\"secondaries\":[") - 1);

    for (i = 0, n = 0; i < NGX_HTTP_REPLOG_MAX_SECONDARIES; i++) {
        s = &st->secondaries[i];

        if (s->status == 0) {
            continue;
        }

        if (n++) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, "{\"id\":\"", sizeof("{\"id\":\"") - 1);
        p = ngx_http_replog_json_escape(p, s->id, s->id_len);
        p = ngx_sprintf(p, "\",\"status\":\"%s\",\"acked_id\":%uL}",
                        ngx_http_replog_status_name(s->status), s->acked_id);
    }

    *p++ = ']';

    return p;
}


/*
 * GET /secondaries, or with original GET /secondary/list: there status as
 * the original has it (HEALTHY or UNHEALTHY), with last_status_change,
 * and replog's own status in "state"
 */

ngx_int_t
ngx_http_replog_json_secondaries(ngx_pool_t *pool,
    ngx_http_replog_status_t *st, ngx_uint_t original, ngx_str_t *json)
{
    u_char                       *p, *start;
    size_t                        len;
    ngx_tm_t                      tm;
    ngx_uint_t                    i, first;
    ngx_http_replog_secondary_t  *s;

    len = sizeof("{\"data\":[]}\n")
          + NGX_HTTP_REPLOG_MAX_SECONDARIES
            * (sizeof("{\"id\":\"\",\"host\":\"\",\"port\":,\"status\":\"\","
                      "\"last_status_change\":\"YYYY-MM-DD HH:MM:SS\","
                      "\"state\":\"\","
                      "\"last_healthy_status\":\"\",\"registered_at\":\"\","
                      "\"acked_id\":,\"first_id\":,\"lag\":,\"fails\":,"
                      "\"epoch\":\"\",\"last_error\":\"\"},")
               + 6 * NGX_HTTP_REPLOG_ID_LEN + NGX_SOCKADDR_STRLEN
               + 2 * NGX_HTTP_REPLOG_TIME_LEN + 16 + 5 + 4 * NGX_INT64_LEN
               + 6 * NGX_HTTP_REPLOG_ERR_LEN + 16);

    start = ngx_pnalloc(pool, len);
    if (start == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(start, "{\"data\":[", sizeof("{\"data\":[") - 1);
    first = 1;

    for (i = 0; i < NGX_HTTP_REPLOG_MAX_SECONDARIES; i++) {
        s = &st->secondaries[i];

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
                            ngx_http_replog_up(s->status)
                            ? "HEALTHY" : "UNHEALTHY",
                            tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                            tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);
        }

        p = ngx_sprintf(p, "%s\",\"last_healthy_status\":\"",
                        ngx_http_replog_status_name(s->status));
        p = ngx_http_replog_format_time(p, (int64_t) s->last_healthy * 1000000);
        p = ngx_cpymem(p, "\",\"registered_at\":\"",
                       sizeof("\",\"registered_at\":\"") - 1);
        p = ngx_http_replog_format_time(p,
                                        (int64_t) s->registered_at * 1000000);
        p = ngx_sprintf(p, "\",\"acked_id\":%uL,\"first_id\":%uL,"
                        "\"lag\":%uL,\"fails\":%ui,\"epoch\":\"",
                        s->acked_id, s->first_id ? s->first_id : 1,
                        st->last_id > s->acked_id
                        ? st->last_id - s->acked_id : 0,
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

    p = ngx_cpymem(p, "]}\n", 3);

    json->data = start;
    json->len = p - start;

    return NGX_OK;
}
