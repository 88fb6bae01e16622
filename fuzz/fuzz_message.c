
/*
 * Copyright (C) replog authors
 */


/*
 * libFuzzer harness: a client's POST /messages body,
 * ngx_http_replog_json_message().  The input is the body, in a heap block
 * of exactly its size.  An accepted message must be the stored form of
 * what jansson reads as "message" from the same body (the parser has a
 * fast path of its own for {"message":"text"}).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <jansson.h>
#include "ngx_http_replog_json.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char        *body, *buf;
    size_t         slen;
    json_t        *root, *m;
    ngx_int_t      rc;
    ngx_str_t      msg, err;
    ngx_pool_t    *pool;
    const char    *why;
    json_error_t   jerr;

    body = malloc(size ? size : 1);
    if (body == NULL) {
        return 0;
    }

    ngx_memcpy(body, data, size);

    pool = ngx_create_pool(4096, NULL);
    if (pool == NULL) {
        free(body);
        return 0;
    }

    ngx_str_null(&err);

    rc = ngx_http_replog_json_message(pool, body, size, &msg, &err);

    why = NULL;

    if (rc == NGX_DECLINED && err.len == 0) {
        why = "declined without a reason";
    }

    if (rc == NGX_OK) {
        root = json_loadb((const char *) body, size,
                          JSON_REJECT_DUPLICATES|JSON_ALLOW_NUL
                          |JSON_DECODE_ANY, &jerr);
        m = json_object_get(root, "message");

        if (!json_is_string(m)) {
            why = "accepted what jansson reads no message of";

        } else {
            slen = json_string_length(m);
            buf = ngx_pnalloc(pool,
                              ngx_http_replog_json_escape_len(
                                  (u_char *) json_string_value(m), slen)
                              + 2);

            if (buf) {
                buf[0] = '"';
                slen = ngx_http_replog_json_escape(buf + 1,
                           (u_char *) json_string_value(m), slen)
                       - buf + 1;
                buf[slen - 1] = '"';

                if (slen != msg.len || ngx_memcmp(buf, msg.data, slen) != 0)
                {
                    why = "another message than jansson reads";
                }
            }
        }

        json_decref(root);
    }

    if (why) {
        fprintf(stderr, "fuzz check: %s\n", why);
        abort();
    }

    ngx_destroy_pool(pool);
    free(body);

    return 0;
}
