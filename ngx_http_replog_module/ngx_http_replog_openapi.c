
/*
 * Copyright (C) replog authors
 */


/*
 * GET /openapi.json and GET /docs: the API's description, compiled in from
 * api/ at build time (scripts/gen-openapi.sh), so nothing is read at run
 * time and the answer is the same bytes on every node of one build.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_replog_api.h"
#include "ngx_http_replog_openapi.h"


ngx_int_t
ngx_http_replog_openapi(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_str_t  body;

    if (path->len == sizeof("/docs") - 1) {
        body.data = ngx_http_replog_docs_html;
        body.len = sizeof(ngx_http_replog_docs_html);
        ngx_str_set(&r->headers_out.content_type, "text/html; charset=utf-8");

    } else {
        body.data = ngx_http_replog_openapi_json;
        body.len = sizeof(ngx_http_replog_openapi_json);
        ngx_str_set(&r->headers_out.content_type, "application/json");
    }

    r->headers_out.status = NGX_HTTP_OK;

    return ngx_http_replog_send_body(r, &body);
}
