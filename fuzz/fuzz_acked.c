
/*
 * Copyright (C) replog authors
 */


/*
 * libFuzzer harness: a secondary's answer to a batch as the master reads
 * it, ngx_http_replog_json_acked().  The input is the body, in a heap
 * block of exactly its size.  An accepted answer must be what jansson
 * reads of the same body (the parser has a fast path of its own for the
 * secondaries' form).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <jansson.h>
#include "ngx_http_replog_json.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char        *body, id[NGX_HTTP_REPLOG_ID_LEN];
    size_t         id_len;
    json_t        *root, *a, *i, *e;
    uint64_t       acked_id, epoch, ep;
    const char    *why;
    json_error_t   jerr;

    body = malloc(size ? size : 1);
    if (body == NULL) {
        return 0;
    }

    ngx_memcpy(body, data, size);

    why = NULL;

    if (ngx_http_replog_json_acked(body, size, &acked_id, id, &id_len,
                                   &epoch)
        == NGX_OK)
    {
        root = json_loadb((const char *) body, size,
                          JSON_REJECT_DUPLICATES|JSON_ALLOW_NUL, &jerr);
        a = json_object_get(root, "acked_id");
        i = json_object_get(root, "id");
        e = json_object_get(root, "epoch");

        if (!json_is_integer(a) || !json_is_string(i) || !json_is_string(e)
            || ngx_http_replog_parse_epoch((u_char *) json_string_value(e),
                                           json_string_length(e), &ep)
               != NGX_OK)
        {
            why = "accepted what jansson does not read as an answer";

        } else if ((uint64_t) json_integer_value(a) != acked_id
                   || ep != epoch
                   || json_string_length(i) != id_len
                   || id_len == 0 || id_len >= NGX_HTTP_REPLOG_ID_LEN
                   || ngx_memcmp(json_string_value(i), id, id_len) != 0)
        {
            why = "another answer than jansson reads";
        }

        json_decref(root);
    }

    free(body);

    if (why) {
        fprintf(stderr, "fuzz check: %s\n", why);
        abort();
    }

    return 0;
}
