
/*
 * Copyright (C) replog authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>
#include "ngx_http_replog_module.h"


/*
 * Parses a client's body, {"message": "text"}, and returns the message
 * already encoded as a JSON string, ready to be stored.
 */

ngx_int_t
ngx_http_replog_json_message(ngx_http_request_t *r, u_char *body, size_t len,
    ngx_str_t *msg, ngx_str_t *err)
{
    u_char        *s;
    size_t         n;
    json_t        *root, *m;
    json_error_t   jerr;

    root = json_loadb((const char *) body, len,
                      JSON_REJECT_DUPLICATES|JSON_ALLOW_NUL, &jerr);

    if (root == NULL) {
        ngx_str_set(err, "invalid JSON");
        return NGX_DECLINED;
    }

    if (!json_is_object(root)) {
        ngx_str_set(err, "the body must be a JSON object");
        goto failed;
    }

    m = json_object_get(root, "message");

    if (m == NULL) {
        ngx_str_set(err, "\\\"message\\\" is missing");
        goto failed;
    }

    if (!json_is_string(m)) {
        ngx_str_set(err, "\\\"message\\\" must be a string");
        goto failed;
    }

    s = (u_char *) json_string_value(m);
    n = json_string_length(m);

    msg->len = ngx_http_replog_json_escape_len(s, n) + 2;
    msg->data = ngx_pnalloc(r->pool, msg->len);

    if (msg->data == NULL) {
        json_decref(root);
        return NGX_ERROR;
    }

    msg->data[0] = '"';
    ngx_http_replog_json_escape(msg->data + 1, s, n);
    msg->data[msg->len - 1] = '"';

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
