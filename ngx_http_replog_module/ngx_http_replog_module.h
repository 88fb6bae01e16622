
/*
 * Copyright (C) replog authors
 */


#ifndef _NGX_HTTP_REPLOG_MODULE_H_INCLUDED_
#define _NGX_HTTP_REPLOG_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGX_HTTP_REPLOG_MASTER        1
#define NGX_HTTP_REPLOG_SECONDARY     2

#define NGX_HTTP_REPLOG_WC_MAJORITY   -2
#define NGX_HTTP_REPLOG_WC_ALL        -3

/* entries per index chunk; the index is a directory of such chunks */
#define NGX_HTTP_REPLOG_CHUNK         1024

#define NGX_HTTP_REPLOG_ID_LEN        64
#define NGX_HTTP_REPLOG_HOST_LEN      64
#define NGX_HTTP_REPLOG_ERR_LEN       128

/* "2026-11-27T12:07:09.123456Z" */
#define NGX_HTTP_REPLOG_TIME_LEN      (sizeof("1970-01-01T00:00:00.000000Z") - 1)

/* store results besides NGX_OK / NGX_ERROR */
#define NGX_HTTP_REPLOG_FULL          1
#define NGX_HTTP_REPLOG_GAP           2
#define NGX_HTTP_REPLOG_EPOCH         3


/*
 * One message as stored in the zone.  data holds its list form,
 * ',{"id":7,"registered_at":"...","message":"..."}', so reads and
 * replication stream bytes without encoding them again; the leading comma
 * is skipped for the first entry of a list.
 */
typedef struct {
    uint64_t                        id;
    uint64_t                        cum;      /* list bytes of 1..id */
    int64_t                         usec;     /* registered_at */
    uint32_t                        len;      /* of data */
    uint32_t                        msg;      /* message JSON in data */
    uint32_t                        msg_len;
    u_char                          data[1];
} ngx_http_replog_entry_t;


typedef struct {
    /* the log: a directory of chunks of entry pointers, dense by id */
    ngx_http_replog_entry_t      ***dir;
    ngx_uint_t                      dir_cap;

    uint64_t                        epoch;
    uint64_t                        last_id;  /* contiguous prefix */
    uint64_t                        max_id;   /* highest id held */
    uint64_t                        bytes;    /* list bytes of the prefix */
    ngx_uint_t                      pending;  /* held past a gap */

    uint64_t                        appended;
    uint64_t                        rejected_full;
    ngx_msec_t                      started;
} ngx_http_replog_sh_t;


typedef struct {
    ngx_http_replog_sh_t           *sh;
    ngx_slab_pool_t                *shpool;
    ngx_str_t                       name;
    ngx_uint_t                      used;     /* by a replog_node */
} ngx_http_replog_zone_t;


typedef struct {
    ngx_shm_zone_t                 *shm_zone;
    ngx_uint_t                      role;
    ngx_str_t                       id;
    ngx_uint_t                      cluster_size;
    ngx_uint_t                      max_pending;

    u_char                         *file;     /* where replog_node was */
    ngx_uint_t                      line;
} ngx_http_replog_srv_conf_t;


typedef struct {
    ngx_flag_t                      api;
    ngx_str_t                       api_key;  /* .data == NULL: unset */
    ngx_int_t                       wc;
    ngx_msec_t                      wc_timeout;
    off_t                           max_body;
    ngx_http_replog_srv_conf_t     *node;
    ngx_http_core_loc_conf_t       *clcf;

    u_char                         *file;     /* where replog_api was */
    ngx_uint_t                      line;
} ngx_http_replog_loc_conf_t;


typedef struct {
    ngx_array_t                     zones;    /* ngx_shm_zone_t * */
    ngx_array_t                     apis;     /* loc conf * */
    ngx_array_t                     nodes;    /* srv conf * */
} ngx_http_replog_main_conf_t;


/* the result of an append, copied out of the zone */
typedef struct {
    uint64_t                        id;
    int64_t                         usec;
} ngx_http_replog_appended_t;


/* store: the zone log, knows no network and no HTTP */
ngx_int_t ngx_http_replog_init_zone(ngx_shm_zone_t *shm_zone, void *data);
ngx_int_t ngx_http_replog_store_append(ngx_http_replog_zone_t *zone,
    u_char *msg, size_t len, ngx_http_replog_appended_t *out);
ngx_http_replog_entry_t *ngx_http_replog_store_get_locked(
    ngx_http_replog_sh_t *sh, uint64_t id);
uint64_t ngx_http_replog_store_cum_locked(ngx_http_replog_sh_t *sh,
    uint64_t id);
uint64_t ngx_http_replog_new_epoch(void);
ngx_int_t ngx_http_replog_parse_wc(u_char *p, size_t len);
u_char *ngx_http_replog_format_time(u_char *p, int64_t usec);
u_char *ngx_http_replog_format_epoch(u_char *p, uint64_t epoch);

/* JSON glue */
ngx_int_t ngx_http_replog_json_message(ngx_http_request_t *r, u_char *body,
    size_t len, ngx_str_t *msg, ngx_str_t *err);
size_t ngx_http_replog_json_escape_len(u_char *s, size_t len);
u_char *ngx_http_replog_json_escape(u_char *dst, u_char *s, size_t len);

/* API handlers */
ngx_int_t ngx_http_replog_handler(ngx_http_request_t *r);
void ngx_http_replog_api_init(void);
ngx_int_t ngx_http_replog_send_body(ngx_http_request_t *r, ngx_str_t *body);
ngx_int_t ngx_http_replog_send_json(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *json);
ngx_int_t ngx_http_replog_send_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *fmt, ...);


extern ngx_module_t  ngx_http_replog_module;


#endif /* _NGX_HTTP_REPLOG_MODULE_H_INCLUDED_ */
