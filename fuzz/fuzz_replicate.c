
/*
 * Copyright (C) replog authors
 */


/*
 * libFuzzer harness: the batch parser, ngx_http_replog_json_entries(), as
 * POST /replicate calls it ("entries" with an epoch) and as a recovering
 * master reads a page of GET /messages ("data", no epoch).  The input is
 * the body, in a heap block of exactly its size.  An accepted batch must
 * be what jansson reads of the same body, entry by entry (the parser has
 * a fast path of its own for the master's form).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <jansson.h>
#include "ngx_http_replog_json.h"


static void ngx_fuzz_entries(u_char *body, size_t len, const char *key,
    ngx_uint_t with_epoch);
static void ngx_fuzz_same(u_char *body, size_t len, const char *key,
    ngx_http_replog_batch_entry_t *entries, ngx_uint_t n);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char  *body;

    body = malloc(size ? size : 1);
    if (body == NULL) {
        return 0;
    }

    ngx_memcpy(body, data, size);

    ngx_fuzz_entries(body, size, "entries", 1);
    ngx_fuzz_entries(body, size, "data", 0);

    free(body);

    return 0;
}


static void
ngx_fuzz_entries(u_char *body, size_t len, const char *key,
    ngx_uint_t with_epoch)
{
    json_t                         *v;
    uint64_t                        epoch, first_id;
    ngx_int_t                       rc;
    ngx_str_t                       err;
    ngx_uint_t                      i, n;
    ngx_pool_t                     *pool;
    json_error_t                    jerr;
    ngx_http_replog_batch_entry_t  *entries;

    pool = ngx_create_pool(4096, NULL);
    if (pool == NULL) {
        return;
    }

    ngx_str_null(&err);
    entries = NULL;
    n = 0;
    epoch = 0;

    rc = ngx_http_replog_json_entries(pool, body, len, key,
                                      with_epoch ? &epoch : NULL,
                                      with_epoch ? &first_id : NULL,
                                      &entries, &n, &err);

    if (rc == NGX_DECLINED && err.len == 0) {
        /* a refused batch is answered 400 with this reason */
        fprintf(stderr, "fuzz check: declined without a reason\n");
        abort();
    }

    if (rc == NGX_OK) {
        if (with_epoch && epoch == 0) {
            fprintf(stderr, "fuzz check: accepted with epoch 0\n");
            abort();
        }

        for (i = 0; i < n; i++) {
            if (entries[i].id == 0 || entries[i].time == NULL) {
                fprintf(stderr, "fuzz check: entry %lu: no id or time\n",
                        (u_long) i);
                abort();
            }

            /* the stored form is served as is: it must be a JSON string */

            v = json_loadb((const char *) entries[i].msg.data,
                           entries[i].msg.len,
                           JSON_DECODE_ANY|JSON_ALLOW_NUL, &jerr);

            if (!json_is_string(v)) {
                fprintf(stderr, "fuzz check: entry %lu: stored message is "
                        "no JSON string\n", (u_long) i);
                abort();
            }

            json_decref(v);
        }

        ngx_fuzz_same(body, len, key, entries, n);
    }

    ngx_destroy_pool(pool);
}


static void
ngx_fuzz_same(u_char *body, size_t len, const char *key,
    ngx_http_replog_batch_entry_t *entries, ngx_uint_t n)
{
    u_char        buf[1024];
    size_t        slen;
    json_t       *root, *list, *e, *meta, *m, *t, *id;
    ngx_uint_t    i;
    const char   *why;
    json_error_t  jerr;

    root = json_loadb((const char *) body, len,
                      JSON_REJECT_DUPLICATES|JSON_ALLOW_NUL, &jerr);
    list = json_object_get(root, key);

    why = NULL;

    if (!json_is_array(list) || json_array_size(list) != n) {
        why = "another number of entries";
        goto done;
    }

    for (i = 0; i < n; i++) {
        e = json_array_get(list, i);
        m = json_object_get(e, "message");
        meta = json_object_get(e, "meta");
        id = json_object_get(meta, "message_id");
        t = json_object_get(meta, "registered_at");

        if (!json_is_string(m) || !json_is_integer(id) || !json_is_string(t))
        {
            why = "an entry jansson does not read";
            goto done;
        }

        if ((uint64_t) json_integer_value(id) != entries[i].id
            || json_string_length(t) != NGX_HTTP_REPLOG_TIME_LEN
            || ngx_memcmp(json_string_value(t), entries[i].time,
                          NGX_HTTP_REPLOG_TIME_LEN) != 0)
        {
            why = "another id or time";
            goto done;
        }

        /* the stored form: the message as the escaping routine writes it */

        slen = json_string_length(m);

        if (ngx_http_replog_json_escape_len((u_char *) json_string_value(m),
                                            slen) + 2
            != entries[i].msg.len)
        {
            why = "another message";
            goto done;
        }

        if (entries[i].msg.len <= sizeof(buf)) {
            buf[0] = '"';
            ngx_http_replog_json_escape(buf + 1,
                                        (u_char *) json_string_value(m),
                                        slen);
            buf[entries[i].msg.len - 1] = '"';

            if (ngx_memcmp(buf, entries[i].msg.data, entries[i].msg.len)
                != 0)
            {
                why = "another message";
                goto done;
            }
        }
    }

done:

    json_decref(root);

    if (why) {
        fprintf(stderr, "fuzz check: accepted batch differs from jansson's "
                "reading: %s\n", why);
        abort();
    }
}
