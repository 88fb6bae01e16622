
/*
 * Copyright (C) replog authors
 */


/*
 * libFuzzer harness: the batch parser, ngx_http_replog_json_entries(), as
 * POST /replicate calls it ("entries" with an epoch) and as a recovering
 * master reads a page of GET /messages ("data", no epoch).  The input is
 * the body, in a heap block of exactly its size.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <jansson.h>
#include "ngx_http_replog_json.h"


static void ngx_fuzz_entries(u_char *body, size_t len, const char *key,
    ngx_uint_t with_epoch);


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
    uint64_t                        epoch;
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
    }

    ngx_destroy_pool(pool);
}
