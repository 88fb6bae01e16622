
/*
 * Copyright (C) replog authors
 */


/*
 * libFuzzer harness: the POST /register body parser,
 * ngx_http_replog_json_register(), on a pool of its own.  The input is
 * the body, in a heap block of exactly its size.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_http_replog_json.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char              *body;
    uint64_t             epoch, acked_id;
    ngx_int_t            rc;
    ngx_str_t            id, err;
    ngx_log_t            log;
    ngx_uint_t           port;
    ngx_pool_t          *pool;

    body = malloc(size ? size : 1);
    if (body == NULL) {
        return 0;
    }

    ngx_memcpy(body, data, size);

    ngx_memzero(&log, sizeof(ngx_log_t));

    pool = ngx_create_pool(4096, &log);
    if (pool == NULL) {
        free(body);
        return 0;
    }

    ngx_str_null(&id);
    ngx_str_null(&err);
    port = 0;

    rc = ngx_http_replog_json_register(pool, body, size, &id, &port, &epoch,
                                       &acked_id, &err);

    if (rc == NGX_DECLINED && err.len == 0) {
        fprintf(stderr, "fuzz check: declined without a reason\n");
        abort();
    }

    if (rc == NGX_OK
        && (id.len == 0 || id.len >= NGX_HTTP_REPLOG_ID_LEN
            || port < 1 || port > 65535))
    {
        fprintf(stderr, "fuzz check: accepted id of %lu bytes, port %lu\n",
                (u_long) id.len, (u_long) port);
        abort();
    }

    ngx_destroy_pool(pool);
    free(body);

    return 0;
}
