
/*
 * Copyright (C) replog authors
 */


#ifndef _NGX_HTTP_REPLOG_COMMON_H_INCLUDED_
#define _NGX_HTTP_REPLOG_COMMON_H_INCLUDED_


/*
 * What the module and the replog-register helper must agree on; plain
 * C, included by both.
 */

/* a node id holds at most this many bytes, its terminating NUL included */
#define NGX_HTTP_REPLOG_ID_LEN        64

/*
 * a byte a node id may hold: printable ASCII without spaces, quotes or
 * backslashes (ids are logged, listed and put in JSON unescaped)
 */
#define ngx_http_replog_id_char(c)                                           \
    ((unsigned char) (c) > ' ' && (unsigned char) (c) < 0x7f                 \
     && (c) != '"' && (c) != '\'' && (c) != '\\')

/*
 * the default service key is the lowercase hex SHA-256 of the api key,
 * "&" and this salt: the original service's derivation
 */
#define NGX_HTTP_REPLOG_SALT                                                 \
    "028ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZ61702"


#endif /* _NGX_HTTP_REPLOG_COMMON_H_INCLUDED_ */
