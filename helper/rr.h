
/*
 * Copyright (C) replog authors
 */


#ifndef _RR_H_INCLUDED_
#define _RR_H_INCLUDED_


/*
 * replog-register: what its three files share.  rr_conf.c reads the
 * settings, rr_http.c speaks to the nodes (libcurl and jansson),
 * replog-register.c runs the registration.  No nginx in here.
 */

#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>

#include "ngx_http_replog_common.h"


#define RR_NAME           "replog-register"

#define RR_EXIT_OK        0
#define RR_EXIT_GAVE_UP   1
#define RR_EXIT_REFUSED   2
#define RR_EXIT_USAGE     64

#define RR_OK             0
#define RR_AGAIN          -1    /* transport error or 5xx: worth retrying */
#define RR_REFUSED        -2    /* any other answer: retrying will not help */
#define RR_STOPPED        -3    /* SIGTERM or SIGINT */

/* the master's id rule: 1 to 63 bytes */
#define RR_ID_MAX         (NGX_HTTP_REPLOG_ID_LEN - 1)
#define RR_BODY_MAX       65536
#define RR_TOKEN_MAX      1024
#define RR_ERR_MAX        512
#define RR_EPOCH_LEN      16
#define RR_KEY_LEN        64    /* a derived service key: hex SHA-256 */

#ifndef HOST_NAME_MAX
#define HOST_NAME_MAX     255
#endif


/* a setting as given, and the option or variable it came from */
typedef struct {
    const char         *value;
    const char         *from;
} rr_str_t;


typedef struct {
    CURLU              *url;    /* its path ends in "/" */
    char               *text;   /* for messages: no trailing "/" */
} rr_url_t;


typedef struct {
    rr_str_t            id;
    rr_str_t            token;
    rr_str_t            api_key;         /* API_KEY: an alias of API_TOKEN */
    rr_str_t            service_key;
    rr_str_t            master_opt;      /* --master */
    rr_str_t            master_host;     /* MASTER_HOST */
    rr_str_t            master_port;     /* MASTER_PORT */
    rr_str_t            local_opt;       /* --local */
    unsigned            port;
    int                 exponential;
    int                 quiet;
    int                 reset;
    double              retry_interval;
    double              max_delay;
    double              watch;
    double              timeout;
    double              local_wait;
    rr_url_t            master;
    rr_url_t            local;
    char                hostname[HOST_NAME_MAX + 1];
    char                derived[RR_KEY_LEN + 1];
} rr_conf_t;


typedef struct {
    CURL               *curl;
    struct curl_slist  *get_headers;
    struct curl_slist  *post_headers;
    json_t             *json;    /* the last answer, if it is JSON */
    long                status;
    int                 over;    /* the answer was longer than the buffer */
    size_t              len;
    char                body[RR_BODY_MAX + 1];
} rr_http_t;


typedef struct {
    char                master_id[RR_ID_MAX + 1];
    char                epoch[RR_EPOCH_LEN + 1];
    uint64_t            last_id;
} rr_reg_t;


/* replog-register.c */
void rr_log(const char *fmt, ...);
void rr_vlog(const char *fmt, va_list args);
void rr_info(rr_conf_t *conf, const char *fmt, ...);

/* rr_conf.c */
int rr_configure(rr_conf_t *conf, int argc, char **argv);
void rr_conf_free(rr_conf_t *conf);

/* rr_http.c */
int rr_http_init(rr_http_t *h, rr_conf_t *conf);
void rr_http_free(rr_http_t *h);
int rr_http_request(rr_http_t *h, rr_url_t *base, const char *path,
    json_t *body, char *err, size_t size);
int rr_local_state(rr_conf_t *conf, rr_http_t *h, char *epoch,
    uint64_t *last_id, char *err, size_t size);
int rr_register(rr_conf_t *conf, rr_http_t *h, const char *epoch,
    uint64_t last_id, rr_reg_t *reg, char *err, size_t size);
int rr_master_epoch(rr_http_t *h, char *epoch);
int rr_listed(rr_http_t *h, const char *id);
int rr_reset(rr_conf_t *conf, rr_http_t *h, char *err, size_t size);


extern volatile sig_atomic_t  rr_stop;


#endif /* _RR_H_INCLUDED_ */
