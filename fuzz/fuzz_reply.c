
/*
 * Copyright (C) replog authors
 */


/*
 * libFuzzer harness: the outbound client's reply parser,
 * ngx_http_replog_client_parse(), on a reply set up as
 * ngx_http_replog_client_send() leaves it, capturing X-Replog-Log as the
 * engine does.
 *
 * The input is the peer's bytes.  It is parsed once whole (a heap block of
 * exactly its size, so ASan sees any read past the received bytes, then
 * eof), and once in two reads split at the first byte's value modulo the
 * length; during the first read the bytes not yet received are poisoned.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <sanitizer/asan_interface.h>
#include "ngx_http_replog_json.h"
#include "ngx_http_replog_client.h"


static void ngx_fuzz_reply_init(ngx_http_replog_client_t *cl, u_char *buf,
    size_t size);
static void ngx_fuzz_reply_check(ngx_http_replog_client_t *cl);


/* keeps the reads of the body from being optimised away */
static volatile u_char  ngx_fuzz_sink;


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                    *buf;
    size_t                     k;
    ngx_int_t                  rc;
    ngx_http_replog_client_t   cl;

    buf = malloc(size ? size : 1);
    if (buf == NULL) {
        return 0;
    }

    ngx_memcpy(buf, data, size);

    /* all of it in one read */

    ngx_fuzz_reply_init(&cl, buf, size);
    cl.in.last = buf + size;

    rc = ngx_http_replog_client_parse(&cl, 0);

    if (rc == NGX_AGAIN) {
        rc = ngx_http_replog_client_parse(&cl, 1);
    }

    if (rc == NGX_OK) {
        ngx_fuzz_reply_check(&cl);
    }

    /* two reads, the second one into the same buffer, then eof */

    k = size ? data[0] % size : 0;

    ngx_fuzz_reply_init(&cl, buf, size);
    cl.in.last = buf + k;

    ASAN_POISON_MEMORY_REGION(buf + k, size - k);
    rc = ngx_http_replog_client_parse(&cl, 0);
    ASAN_UNPOISON_MEMORY_REGION(buf + k, size - k);

    if (rc == NGX_AGAIN) {
        cl.in.last = buf + size;
        rc = ngx_http_replog_client_parse(&cl, 0);

        if (rc == NGX_AGAIN) {
            rc = ngx_http_replog_client_parse(&cl, 1);
        }
    }

    if (rc == NGX_OK) {
        ngx_fuzz_reply_check(&cl);
    }

    free(buf);

    return 0;
}


/* what ngx_http_replog_client_init() and _send() set before a reply */

static void
ngx_fuzz_reply_init(ngx_http_replog_client_t *cl, u_char *buf, size_t size)
{
    ngx_memzero(cl, sizeof(ngx_http_replog_client_t));

    cl->in_max = 1024 * 1024;
    cl->in.start = buf;
    cl->in.pos = buf;
    cl->in.last = buf;
    cl->in.end = buf + size;
    ngx_str_set(&cl->capture, "X-Replog-Log");

    ngx_http_replog_client_parse_init(cl);
}


/* an accepted reply: its body and captured header lie in what was read */

static void
ngx_fuzz_reply_check(ngx_http_replog_client_t *cl)
{
    size_t    i;
    u_char    sum;
    uint64_t  epoch;

    if (cl->body < cl->in.start || cl->body > cl->in.last
        || cl->body_len > (size_t) (cl->in.last - cl->body))
    {
        fprintf(stderr, "fuzz check: body outside the received bytes\n");
        abort();
    }

    /* the engine and recovery read every body byte */

    sum = 0;
    for (i = 0; i < cl->body_len; i++) {
        sum ^= cl->body[i];
    }

    if (cl->captured.len) {
        if (cl->captured.data < cl->in.start
            || cl->captured.data + cl->captured.len > cl->in.last)
        {
            fprintf(stderr, "fuzz check: captured header outside the "
                    "received bytes\n");
            abort();
        }

        if (cl->captured.len == 16) {
            (void) ngx_http_replog_parse_epoch(cl->captured.data, 16,
                                               &epoch);
        }
    }

    ngx_fuzz_sink = sum;
}
