
/*
 * Copyright (C) replog authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_replog_api.h"
#include "ngx_http_replog_engine.h"
#include "ngx_http_replog_json.h"
#include "ngx_http_replog_tail.h"

#include <openssl/evp.h>


static ngx_int_t ngx_http_replog_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_replog_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_replog_create_srv_conf(ngx_conf_t *cf);
static char *ngx_http_replog_merge_srv_conf(ngx_conf_t *cf, void *parent,
    void *child);
static void *ngx_http_replog_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_replog_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);

static char *ngx_http_replog_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_replog_retention(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_replog_node(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_replog_api(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_replog_api_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_replog_write_concern(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_replog_master_url(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_replog_resolve_keys(ngx_conf_t *cf,
    ngx_http_replog_main_conf_t *rmcf, ngx_http_replog_srv_conf_t *node);
static ngx_int_t ngx_http_replog_derive_key(ngx_conf_t *cf, ngx_str_t *key,
    ngx_str_t *out);


static char *ngx_http_replog_params(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_replog_delay(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_replog_fail_rate(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_replog_recovery(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_replog_init_process(ngx_cycle_t *cycle);
static void ngx_http_replog_exit_process(ngx_cycle_t *cycle);


#define NGX_HTTP_REPLOG_PARAM_TIME       0
#define NGX_HTTP_REPLOG_PARAM_NUM        1
#define NGX_HTTP_REPLOG_PARAM_SIZE       2
#define NGX_HTTP_REPLOG_PARAM_MECHANISM  3


/* key=value arguments of a directive, each stored in the server conf */
typedef struct {
    ngx_str_t                       name;
    ngx_uint_t                      type;
    size_t                          offset;
} ngx_http_replog_param_t;


static ngx_http_replog_param_t  ngx_http_replog_healthcheck_params[] = {
    { ngx_string("interval"), NGX_HTTP_REPLOG_PARAM_TIME,
      offsetof(ngx_http_replog_srv_conf_t, hc_interval) },
    { ngx_string("timeout"), NGX_HTTP_REPLOG_PARAM_TIME,
      offsetof(ngx_http_replog_srv_conf_t, hc_timeout) },
    { ngx_string("suspect"), NGX_HTTP_REPLOG_PARAM_NUM,
      offsetof(ngx_http_replog_srv_conf_t, hc_suspect) },
    { ngx_string("fails"), NGX_HTTP_REPLOG_PARAM_NUM,
      offsetof(ngx_http_replog_srv_conf_t, hc_fails) },
    { ngx_string("remove_after"), NGX_HTTP_REPLOG_PARAM_TIME,
      offsetof(ngx_http_replog_srv_conf_t, hc_remove_after) },
    { ngx_null_string, 0, 0 }
};


static ngx_http_replog_param_t  ngx_http_replog_retry_params[] = {
    { ngx_string("interval"), NGX_HTTP_REPLOG_PARAM_TIME,
      offsetof(ngx_http_replog_srv_conf_t, retry_interval) },
    { ngx_string("max_delay"), NGX_HTTP_REPLOG_PARAM_TIME,
      offsetof(ngx_http_replog_srv_conf_t, retry_max_delay) },
    { ngx_string("mechanism"), NGX_HTTP_REPLOG_PARAM_MECHANISM,
      offsetof(ngx_http_replog_srv_conf_t, retry_mechanism) },
    { ngx_null_string, 0, 0 }
};


static ngx_http_replog_param_t  ngx_http_replog_batch_params[] = {
    { ngx_string("max"), NGX_HTTP_REPLOG_PARAM_NUM,
      offsetof(ngx_http_replog_srv_conf_t, batch_max) },
    { ngx_string("bytes"), NGX_HTTP_REPLOG_PARAM_SIZE,
      offsetof(ngx_http_replog_srv_conf_t, batch_bytes) },
    { ngx_string("timeout"), NGX_HTTP_REPLOG_PARAM_TIME,
      offsetof(ngx_http_replog_srv_conf_t, batch_timeout) },
    { ngx_null_string, 0, 0 }
};


static ngx_conf_num_bounds_t  ngx_http_replog_cluster_size_bounds = {
    ngx_conf_check_num_bounds, 1, 255
};


static ngx_command_t  ngx_http_replog_commands[] = {

    { ngx_string("replog_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_replog_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("replog_retention"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_replog_retention,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("replog_node"),
      NGX_HTTP_SRV_CONF|NGX_CONF_1MORE,
      ngx_http_replog_node,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("replog_cluster_size"),
      NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_replog_srv_conf_t, cluster_size),
      &ngx_http_replog_cluster_size_bounds },

    { ngx_string("replog_service_key"),
      NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_replog_srv_conf_t, service_key),
      NULL },

    { ngx_string("replog_master_url"),
      NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_http_replog_master_url,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("replog_quorum"),
      NGX_HTTP_SRV_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_replog_srv_conf_t, quorum),
      NULL },

    { ngx_string("replog_recovery"),
      NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_http_replog_recovery,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("replog_max_pending"),
      NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_replog_srv_conf_t, max_pending),
      NULL },

    { ngx_string("replog_healthcheck"),
      NGX_HTTP_SRV_CONF|NGX_CONF_1MORE,
      ngx_http_replog_params,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      ngx_http_replog_healthcheck_params },

    { ngx_string("replog_retry"),
      NGX_HTTP_SRV_CONF|NGX_CONF_1MORE,
      ngx_http_replog_params,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      ngx_http_replog_retry_params },

    { ngx_string("replog_batch"),
      NGX_HTTP_SRV_CONF|NGX_CONF_1MORE,
      ngx_http_replog_params,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      ngx_http_replog_batch_params },

    { ngx_string("replog_delay"),
      NGX_HTTP_SRV_CONF|NGX_CONF_TAKE2,
      ngx_http_replog_delay,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("replog_fail_rate"),
      NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_http_replog_fail_rate,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("replog_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_replog_api,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("replog_api_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_replog_api_key,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("replog_write_concern"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_replog_write_concern,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("replog_tail_max_wait"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_replog_loc_conf_t, tail_max_wait),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_replog_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_replog_postconfiguration,     /* postconfiguration */

    ngx_http_replog_create_main_conf,      /* create main configuration */
    NULL,                                  /* init main configuration */

    ngx_http_replog_create_srv_conf,       /* create server configuration */
    ngx_http_replog_merge_srv_conf,        /* merge server configuration */

    ngx_http_replog_create_loc_conf,       /* create location configuration */
    ngx_http_replog_merge_loc_conf         /* merge location configuration */
};


ngx_module_t  ngx_http_replog_module = {
    NGX_MODULE_V1,
    &ngx_http_replog_module_ctx,           /* module context */
    ngx_http_replog_commands,              /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_replog_init_process,          /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_replog_exit_process,          /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_replog_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_replog_main_conf_t  *rmcf;

    rmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_replog_main_conf_t));
    if (rmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&rmcf->zones, cf->pool, 2, sizeof(ngx_shm_zone_t *))
        != NGX_OK
        || ngx_array_init(&rmcf->apis, cf->pool, 4, sizeof(void *))
           != NGX_OK
        || ngx_array_init(&rmcf->nodes, cf->pool, 2, sizeof(void *))
           != NGX_OK)
    {
        return NULL;
    }

    return rmcf;
}


static void *
ngx_http_replog_create_srv_conf(ngx_conf_t *cf)
{
    ngx_http_replog_srv_conf_t  *rscf;

    rscf = ngx_pcalloc(cf->pool, sizeof(ngx_http_replog_srv_conf_t));
    if (rscf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     rscf->shm_zone = NULL;
     *     rscf->role = 0;
     *     rscf->id = { 0, NULL };
     */

    rscf->cluster_size = NGX_CONF_UNSET_UINT;
    rscf->max_pending = NGX_CONF_UNSET_UINT;
    rscf->quorum = NGX_CONF_UNSET;
    rscf->recovery = NGX_CONF_UNSET;
    rscf->recovery_unsafe = NGX_CONF_UNSET_MSEC;
    rscf->hc_interval = NGX_CONF_UNSET_MSEC;
    rscf->hc_timeout = NGX_CONF_UNSET_MSEC;
    rscf->hc_suspect = NGX_CONF_UNSET_UINT;
    rscf->hc_fails = NGX_CONF_UNSET_UINT;
    rscf->hc_remove_after = NGX_CONF_UNSET_MSEC;
    rscf->retry_interval = NGX_CONF_UNSET_MSEC;
    rscf->retry_max_delay = NGX_CONF_UNSET_MSEC;
    rscf->retry_mechanism = NGX_CONF_UNSET_UINT;
    rscf->batch_max = NGX_CONF_UNSET_UINT;
    rscf->batch_bytes = NGX_CONF_UNSET_SIZE;
    rscf->batch_timeout = NGX_CONF_UNSET_MSEC;
    rscf->delay_low = NGX_CONF_UNSET_MSEC;
    rscf->delay_high = NGX_CONF_UNSET_MSEC;
    rscf->fail_rate = NGX_CONF_UNSET_UINT;

    return rscf;
}


static char *
ngx_http_replog_merge_srv_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_replog_srv_conf_t  *conf = child;

    /* 0: registered secondaries + 1 */
    ngx_conf_init_uint_value(conf->cluster_size, 0);
    ngx_conf_init_uint_value(conf->max_pending, 65536);
    ngx_conf_init_value(conf->quorum, 0);
    ngx_conf_init_value(conf->recovery, 1);
    ngx_conf_init_msec_value(conf->recovery_unsafe, 0);
    ngx_conf_init_msec_value(conf->hc_interval, 5000);
    ngx_conf_init_msec_value(conf->hc_timeout, 1000);
    ngx_conf_init_uint_value(conf->hc_suspect, 1);
    ngx_conf_init_uint_value(conf->hc_fails, 3);
    ngx_conf_init_msec_value(conf->hc_remove_after, 0);
    ngx_conf_init_msec_value(conf->retry_interval, 1000);
    ngx_conf_init_msec_value(conf->retry_max_delay, 20000);
    ngx_conf_init_uint_value(conf->retry_mechanism,
                             NGX_HTTP_REPLOG_RETRY_UNIFORM);
    ngx_conf_init_uint_value(conf->batch_max, 4096);
    ngx_conf_init_size_value(conf->batch_bytes, 1024 * 1024);
    ngx_conf_init_msec_value(conf->batch_timeout, 60000);
    ngx_conf_init_msec_value(conf->delay_low, 0);
    ngx_conf_init_msec_value(conf->delay_high, 0);
    ngx_conf_init_uint_value(conf->fail_rate, 0);

    if (conf->hc_fails < conf->hc_suspect) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "replog_healthcheck: fails=%ui is below "
                           "suspect=%ui", conf->hc_fails, conf->hc_suspect);
        return NGX_CONF_ERROR;
    }

    if (conf->hc_interval == 0 || conf->hc_timeout == 0
        || conf->hc_fails == 0 || conf->batch_max == 0
        || conf->batch_timeout == 0 || conf->retry_interval == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "replog: intervals, timeouts, fails= and max= "
                           "must be above zero");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_replog_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_replog_loc_conf_t  *rlcf;

    rlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_replog_loc_conf_t));
    if (rlcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     rlcf->api_key = { 0, NULL };
     *     rlcf->node = NULL;
     */

    rlcf->api = NGX_CONF_UNSET;
    rlcf->wc = NGX_CONF_UNSET;
    rlcf->wc_timeout = NGX_CONF_UNSET_MSEC;
    rlcf->tail_max_wait = NGX_CONF_UNSET_MSEC;

    return rlcf;
}


static char *
ngx_http_replog_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_replog_loc_conf_t  *prev = parent;
    ngx_http_replog_loc_conf_t  *conf = child;

    ngx_conf_merge_value(conf->api, prev->api, 0);

    if (conf->api_key.data == NULL) {
        conf->api_key = prev->api_key;
    }

    ngx_conf_merge_value(conf->wc, prev->wc, NGX_HTTP_REPLOG_WC_MAJORITY);
    ngx_conf_merge_msec_value(conf->wc_timeout, prev->wc_timeout, 0);
    ngx_conf_merge_msec_value(conf->tail_max_wait, prev->tail_max_wait,
                              60000);

    return NGX_CONF_OK;
}


static char *
ngx_http_replog_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_replog_main_conf_t *rmcf = conf;

    ssize_t                  size;
    ngx_str_t               *value;
    ngx_uint_t               i;
    ngx_shm_zone_t          *shm_zone, **pz;
    ngx_http_replog_zone_t  *zone, *ozone;

    value = cf->args->elts;

    size = ngx_parse_size(&value[2]);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "replog_zone \"%V\": invalid size \"%V\"",
                           &value[1], &value[2]);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (16 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "replog_zone \"%V\" is too small: \"%V\", "
                           "it needs at least %uzk",
                           &value[1], &value[2], 16 * ngx_pagesize / 1024);
        return NGX_CONF_ERROR;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_replog_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->name = value[1];
    zone->pool = cf->pool;

    shm_zone = ngx_shared_memory_add(cf, &value[1], size,
                                     &ngx_http_replog_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "replog_zone \"%V\" is already defined",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    /* durable log hook: path= and fsync= */
    if (ngx_http_replog_log_parse(cf, &value[1], &value[3],
                                  cf->args->nelts - 3, &zone->log)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* one writer per directory: two zones would write the same files */
    pz = rmcf->zones.elts;

    for (i = 0; zone->log && i < rmcf->zones.nelts; i++) {
        ozone = pz[i]->data;

        if (ozone->log
            && ngx_strcmp(ozone->log->path.data, zone->log->path.data) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "replog_zone \"%V\": path=\"%V\" is already "
                               "the log of replog_zone \"%V\"", &value[1],
                               &zone->log->path, &ozone->name);
            return NGX_CONF_ERROR;
        }
    }

    shm_zone->init = ngx_http_replog_init_zone;
    shm_zone->data = zone;

    pz = ngx_array_push(&rmcf->zones);
    if (pz == NULL) {
        return NGX_CONF_ERROR;
    }

    *pz = shm_zone;

    return NGX_CONF_OK;
}


/* replog_retention ZONE size= age=: after the zone's replog_zone */

static char *
ngx_http_replog_retention(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_replog_main_conf_t *rmcf = conf;

    ngx_str_t                *value;
    ngx_uint_t                i;
    ngx_shm_zone_t          **pz;
    ngx_http_replog_zone_t   *zone;

    value = cf->args->elts;
    pz = rmcf->zones.elts;

    for (i = 0; i < rmcf->zones.nelts; i++) {
        zone = pz[i]->data;

        if (zone->name.len == value[1].len
            && ngx_strncmp(zone->name.data, value[1].data, value[1].len) == 0)
        {
            return ngx_http_replog_log_retention(cf, &value[1], zone,
                                                 &value[2],
                                                 cf->args->nelts - 2);
        }
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "replog_retention: no replog_zone \"%V\" before it",
                       &value[1]);
    return NGX_CONF_ERROR;
}


static char *
ngx_http_replog_node(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_replog_srv_conf_t *rscf = conf;

    ngx_str_t                     *value, s;
    ngx_uint_t                     i;
    ngx_http_replog_srv_conf_t   **pn;
    ngx_http_replog_main_conf_t   *rmcf;

    if (rscf->role) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            if (s.len == 0) {
                goto invalid;
            }

            /* size 0: a reference, checked in postconfiguration */
            rscf->shm_zone = ngx_shared_memory_add(cf, &s, 0,
                                                   &ngx_http_replog_module);
            if (rscf->shm_zone == NULL) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strcmp(value[i].data, "role=master") == 0) {
            rscf->role = NGX_HTTP_REPLOG_MASTER;
            continue;
        }

        if (ngx_strcmp(value[i].data, "role=secondary") == 0) {
            rscf->role = NGX_HTTP_REPLOG_SECONDARY;
            continue;
        }

        if (ngx_strncmp(value[i].data, "id=", 3) == 0) {
            rscf->id.data = value[i].data + 3;
            rscf->id.len = value[i].len - 3;

            if (ngx_http_replog_valid_id(rscf->id.data, rscf->id.len)
                != NGX_OK)
            {
                goto invalid_id;
            }

            continue;
        }

        goto invalid;
    }

    if (rscf->shm_zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "replog_node: zone=NAME is missing");
        return NGX_CONF_ERROR;
    }

    if (rscf->role == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "replog_node: role=master or role=secondary "
                           "is missing");
        return NGX_CONF_ERROR;
    }

    if (rscf->id.data == NULL) {
        rscf->id.data = cf->cycle->hostname.data;
        rscf->id.len = ngx_min(cf->cycle->hostname.len,
                               NGX_HTTP_REPLOG_ID_LEN - 1);

        if (ngx_http_replog_valid_id(rscf->id.data, rscf->id.len) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "replog_node: the host name is no valid id, "
                               "set id=");
            return NGX_CONF_ERROR;
        }
    }

    rscf->file = cf->conf_file->file.name.data;
    rscf->line = cf->conf_file->line;
    rscf->loc_conf = ngx_http_conf_get_module_loc_conf(cf,
                                                       ngx_http_replog_module);

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_replog_module);

    pn = ngx_array_push(&rmcf->nodes);
    if (pn == NULL) {
        return NGX_CONF_ERROR;
    }

    *pn = rscf;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "replog_node: invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;

invalid_id:

    /* the id may hold anything: not echoed */
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "replog_node: id must be 1 to %d printable ASCII "
                       "characters, without spaces, quotes or backslashes",
                       NGX_HTTP_REPLOG_ID_LEN - 1);

    return NGX_CONF_ERROR;
}


static char *
ngx_http_replog_master_url(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_replog_srv_conf_t *rscf = conf;

    ngx_str_t  *value;

    if (rscf->master_url.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_replog_valid_url(value[1].data, value[1].len) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "replog_master_url: expected \"http://\" or "
                           "\"https://\" and a host, up to %d printable "
                           "bytes without spaces, quotes or backslashes",
                           NGX_HTTP_REPLOG_HOST_LEN);
        return NGX_CONF_ERROR;
    }

    rscf->master_url = value[1];

    return NGX_CONF_OK;
}


static char *
ngx_http_replog_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_replog_loc_conf_t *rlcf = conf;

    ngx_http_core_loc_conf_t      *clcf;
    ngx_http_replog_loc_conf_t   **pa;
    ngx_http_replog_main_conf_t   *rmcf;

    if (rlcf->api != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    rlcf->api = 1;

    /* replog_node may follow in the server block: checked later */
    rlcf->node = ngx_http_conf_get_module_srv_conf(cf, ngx_http_replog_module);
    rlcf->file = cf->conf_file->file.name.data;
    rlcf->line = cf->conf_file->line;

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_replog_module);

    pa = ngx_array_push(&rmcf->apis);
    if (pa == NULL) {
        return NGX_CONF_ERROR;
    }

    *pa = rlcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_replog_handler;
    rlcf->clcf = clcf;

    return NGX_CONF_OK;
}


static char *
ngx_http_replog_api_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_replog_loc_conf_t *rlcf = conf;

    ngx_str_t  *value;

    if (rlcf->api_key.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "replog_api_key: empty key, use \"off\" "
                           "to allow requests without a token");
        return NGX_CONF_ERROR;
    }

    if (ngx_strcmp(value[1].data, "off") == 0) {
        /* set, but empty: no token required */
        rlcf->api_key.data = (u_char *) "";
        rlcf->api_key.len = 0;
        return NGX_CONF_OK;
    }

    rlcf->api_key = value[1];

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_replog_parse_wc(u_char *p, size_t len)
{
    ngx_int_t  n;

    if (len == sizeof("majority") - 1
        && ngx_strncmp(p, "majority", len) == 0)
    {
        return NGX_HTTP_REPLOG_WC_MAJORITY;
    }

    if (len == sizeof("all") - 1 && ngx_strncmp(p, "all", len) == 0) {
        return NGX_HTTP_REPLOG_WC_ALL;
    }

    if (len == 0 || len > 3) {
        return NGX_ERROR;
    }

    n = ngx_atoi(p, len);

    if (n < 1) {
        return NGX_ERROR;
    }

    return n;
}


static char *
ngx_http_replog_write_concern(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_replog_loc_conf_t *rlcf = conf;

    ngx_str_t   *value, s;
    ngx_uint_t   i;

    if (rlcf->wc != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;
    rlcf->wc = NGX_HTTP_REPLOG_WC_MAJORITY;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "default=", 8) == 0) {
            rlcf->wc = ngx_http_replog_parse_wc(value[i].data + 8,
                                                value[i].len - 8);
            if (rlcf->wc == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "replog_write_concern: invalid \"%V\", "
                                   "use a number from 1, \"majority\" "
                                   "or \"all\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            rlcf->wc_timeout = ngx_parse_time(&s, 0);
            if (rlcf->wc_timeout == (ngx_msec_t) NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "replog_write_concern: invalid timeout "
                                   "\"%V\"", &s);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "replog_write_concern: invalid parameter \"%V\"",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_replog_postconfiguration(ngx_conf_t *cf)
{
    size_t                         size;
    ngx_uint_t                     i, j;
    ngx_http_replog_zone_t        *zone;
    ngx_http_replog_loc_conf_t   **apis;
    ngx_http_replog_srv_conf_t   **nodes;
    ngx_http_replog_main_conf_t   *rmcf;

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_replog_module);

    nodes = rmcf->nodes.elts;

    for (i = 0; i < rmcf->nodes.nelts; i++) {
        zone = nodes[i]->shm_zone->data;

        if (nodes[i]->shm_zone->shm.size == 0 || zone == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "replog_node in %s:%ui: unknown zone \"%V\", "
                          "declare it with replog_zone",
                          nodes[i]->file, nodes[i]->line,
                          &nodes[i]->shm_zone->shm.name);
            return NGX_ERROR;
        }

        if (zone->used) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "replog_node in %s:%ui: zone \"%V\" is already "
                          "used by another node", nodes[i]->file,
                          nodes[i]->line, &zone->name);
            return NGX_ERROR;
        }

        zone->used = 1;
        zone->role = nodes[i]->role;
        zone->recovery = (nodes[i]->role == NGX_HTTP_REPLOG_MASTER
                          && nodes[i]->cluster_size > 1
                          && nodes[i]->recovery);

        if (ngx_http_replog_resolve_keys(cf, rmcf, nodes[i]) != NGX_OK) {
            return NGX_ERROR;
        }

        for (j = 0; j < i; j++) {
            if (nodes[j]->id.len == nodes[i]->id.len
                && ngx_strncmp(nodes[j]->id.data, nodes[i]->id.data,
                               nodes[i]->id.len) == 0)
            {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "replog_node in %s:%ui: id \"%V\" is already "
                              "used by another node, set id=",
                              nodes[i]->file, nodes[i]->line,
                              &nodes[i]->id);
                return NGX_ERROR;
            }
        }
    }

    apis = rmcf->apis.elts;

    for (i = 0; i < rmcf->apis.nelts; i++) {
        if (apis[i]->node->role == 0) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "replog_api in %s:%ui: no replog_node in its "
                          "server block", apis[i]->file, apis[i]->line);
            return NGX_ERROR;
        }

        /*
         * the API enforces client_max_body_size itself, to answer in JSON
         * (merged values are final here)
         */
        apis[i]->max_body = apis[i]->clcf->client_max_body_size;

        if (apis[i]->max_body == 0 || apis[i]->max_body > 64 * 1024 * 1024) {
            apis[i]->max_body = 64 * 1024 * 1024;
        }

        apis[i]->clcf->client_max_body_size = 0;

        /*
         * bodies up to the limit are read in memory: a temporary file
         * would be written and read back with blocking file I/O in the
         * worker (nginx allocates only the Content-Length of a body)
         */
        if (apis[i]->clcf->client_body_in_file_only) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "replog_api in %s:%ui: client_body_in_file_only "
                          "must be off", apis[i]->file, apis[i]->line);
            return NGX_ERROR;
        }

        size = (size_t) apis[i]->max_body;

        if (apis[i]->clcf->client_body_buffer_size < size) {
            apis[i]->clcf->client_body_buffer_size = size;
        }
    }

    if (rmcf->apis.nelts) {
        ngx_http_replog_api_init();
    }

    return NGX_OK;
}


/*
 * The service key of a node guards /register, /replicate and /reset and is
 * what it sends to other nodes; one per server.  Unset, it is derived from
 * the api key of the node's locations as the original service derives its
 * own; a client key never opens the node endpoints.
 */

static ngx_int_t
ngx_http_replog_resolve_keys(ngx_conf_t *cf,
    ngx_http_replog_main_conf_t *rmcf, ngx_http_replog_srv_conf_t *node)
{
    ngx_str_t                     *key, *k, *svc;
    ngx_uint_t                     i, set;
    ngx_http_replog_loc_conf_t   **apis;

    svc = &node->service_key;
    set = (svc->data != NULL);

    if (set && svc->len == 3 && ngx_strncmp(svc->data, "off", 3) == 0) {
        svc->len = 0;
    }

    key = NULL;
    apis = rmcf->apis.elts;

    /* api keys are merged into the locations by now */

    for (i = 0; i < rmcf->apis.nelts; i++) {
        if (apis[i]->node != node || apis[i]->api_key.len == 0) {
            continue;
        }

        k = &apis[i]->api_key;

        if (key && (key->len != k->len
                    || ngx_strncmp(key->data, k->data, k->len) != 0)
            && !set)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "replog_node in %s:%ui: its locations set "
                          "different replog_api_key values, add "
                          "\"replog_service_key KEY;\" to the server: the "
                          "node endpoints take one key", node->file,
                          node->line);
            return NGX_ERROR;
        }

        if (key == NULL) {
            key = k;
        }
    }

    if (set && svc->len == 0 && key) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "replog_node in %s:%ui: the client API is protected "
                      "by replog_api_key while \"replog_service_key off\" "
                      "leaves /register, /replicate and /reset open: set "
                      "\"replog_service_key KEY;\", or remove it to use the "
                      "key derived from replog_api_key",
                      node->file, node->line);
        return NGX_ERROR;
    }

    if (!set) {
        if (key == NULL) {
            ngx_str_null(svc);

        } else if (ngx_http_replog_derive_key(cf, key, svc) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    /* a client key never opens the node endpoints */

    for (i = 0; svc->len && i < rmcf->apis.nelts; i++) {
        k = &apis[i]->api_key;

        if (apis[i]->node == node && svc->len == k->len
            && ngx_strncmp(svc->data, k->data, k->len) == 0)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "replog_node in %s:%ui: replog_service_key is "
                          "the same as a replog_api_key: clients would "
                          "have the node endpoints, set another "
                          "replog_service_key", node->file, node->line);
            return NGX_ERROR;
        }
    }

    if (svc->len == 0) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "replog_node in %s:%ui: no replog_api_key nor "
                      "replog_service_key: /register, /replicate and "
                      "/reset are open to anyone, as the client API is",
                      node->file, node->line);
    }

    return NGX_OK;
}


/* the lowercase hex SHA-256 of KEY "&" SALT, as the original service has it */

static ngx_int_t
ngx_http_replog_derive_key(ngx_conf_t *cf, ngx_str_t *key, ngx_str_t *out)
{
    u_char        *p, *s;
    size_t         len;
    unsigned int   n;
    u_char         md[EVP_MAX_MD_SIZE];

    len = key->len + 1 + sizeof(NGX_HTTP_REPLOG_SALT) - 1;

    s = ngx_pnalloc(cf->pool, len);
    if (s == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(s, key->data, key->len);
    *p++ = '&';
    ngx_memcpy(p, NGX_HTTP_REPLOG_SALT, sizeof(NGX_HTTP_REPLOG_SALT) - 1);

    if (EVP_Digest(s, len, md, &n, EVP_sha256(), NULL) != 1 || n != 32) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "replog: SHA-256 of the service key failed");
        return NGX_ERROR;
    }

    out->data = ngx_pnalloc(cf->pool, 2 * n);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    out->len = ngx_hex_dump(out->data, md, n) - out->data;

    return NGX_OK;
}


static char *
ngx_http_replog_params(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    u_char  *base = conf;

    size_t                    size;
    ngx_str_t                *value, v;
    ngx_int_t                 n;
    ngx_uint_t                i;
    ngx_msec_t                ms;
    ngx_http_replog_param_t  *p;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        for (p = cmd->post; p->name.len; p++) {
            if (value[i].len > p->name.len
                && value[i].data[p->name.len] == '='
                && ngx_strncmp(value[i].data, p->name.data, p->name.len)
                   == 0)
            {
                break;
            }
        }

        if (p->name.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%V: unknown parameter \"%V\"",
                               &cmd->name, &value[i]);
            return NGX_CONF_ERROR;
        }

        v.data = value[i].data + p->name.len + 1;
        v.len = value[i].len - p->name.len - 1;

        switch (p->type) {

        case NGX_HTTP_REPLOG_PARAM_TIME:
            ms = ngx_parse_time(&v, 0);
            if (ms == (ngx_msec_t) NGX_ERROR) {
                goto invalid;
            }

            *(ngx_msec_t *) (base + p->offset) = ms;
            break;

        case NGX_HTTP_REPLOG_PARAM_NUM:
            n = ngx_atoi(v.data, v.len);
            if (n == NGX_ERROR) {
                goto invalid;
            }

            *(ngx_uint_t *) (base + p->offset) = n;
            break;

        case NGX_HTTP_REPLOG_PARAM_SIZE:
            size = ngx_parse_size(&v);
            if (size == (size_t) NGX_ERROR) {
                goto invalid;
            }

            *(size_t *) (base + p->offset) = size;
            break;

        default: /* NGX_HTTP_REPLOG_PARAM_MECHANISM */
            if (v.len == 7 && ngx_strncmp(v.data, "uniform", 7) == 0) {
                n = NGX_HTTP_REPLOG_RETRY_UNIFORM;

            } else if (v.len == 11
                       && ngx_strncmp(v.data, "exponential", 11) == 0)
            {
                n = NGX_HTTP_REPLOG_RETRY_EXPONENTIAL;

            } else {
                goto invalid;
            }

            *(ngx_uint_t *) (base + p->offset) = n;
            break;
        }

        continue;

    invalid:

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%V: invalid value \"%V\"",
                           &cmd->name, &value[i]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_replog_delay(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_replog_srv_conf_t *rscf = conf;

    ngx_str_t  *value;

    if (rscf->delay_high != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    rscf->delay_low = ngx_parse_time(&value[1], 0);
    rscf->delay_high = ngx_parse_time(&value[2], 0);

    if (rscf->delay_low == (ngx_msec_t) NGX_ERROR
        || rscf->delay_high == (ngx_msec_t) NGX_ERROR
        || rscf->delay_low > rscf->delay_high)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "replog_delay: needs two times, LOW <= HIGH, "
                           "got \"%V\" \"%V\"", &value[1], &value[2]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_replog_fail_rate(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_replog_srv_conf_t *rscf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (rscf->fail_rate != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    /* a probability with up to 6 decimals, kept per million */
    n = ngx_atofp(value[1].data, value[1].len, 6);

    if (n == NGX_ERROR || n > 1000000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "replog_fail_rate: \"%V\" is not a probability "
                           "from 0 to 1", &value[1]);
        return NGX_CONF_ERROR;
    }

    rscf->fail_rate = n;

    return NGX_CONF_OK;
}


static char *
ngx_http_replog_recovery(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_replog_srv_conf_t *rscf = conf;

    ngx_str_t   *value, s;
    ngx_msec_t   t;

    if (rscf->recovery != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "on") == 0) {
        rscf->recovery = 1;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "off") == 0) {
        rscf->recovery = 0;
        return NGX_CONF_OK;
    }

    /* the old shortcut opened with too few registrations: never silently */
    if (ngx_strncmp(value[1].data, "timeout=", 8) == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "replog_recovery: \"%V\" is gone: a master waits "
                           "for enough secondaries to register; to open "
                           "anyway after a time, at the risk of losing "
                           "acknowledged writes, use "
                           "\"unsafe_open_after=TIME\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_strncmp(value[1].data, "unsafe_open_after=", 18) == 0) {
        s.data = value[1].data + 18;
        s.len = value[1].len - 18;

        t = ngx_parse_time(&s, 0);

        if (t != (ngx_msec_t) NGX_ERROR && t != 0) {
            rscf->recovery = 1;
            rscf->recovery_unsafe = t;
            return NGX_CONF_OK;
        }
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "replog_recovery: use \"on\", \"off\" or "
                       "\"unsafe_open_after=TIME\", not \"%V\"",
                       &value[1]);

    return NGX_CONF_ERROR;
}


static ngx_int_t
ngx_http_replog_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                     i;
    ngx_shm_zone_t               **zones;
    ngx_http_replog_main_conf_t   *rmcf;

    rmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_replog_module);

    if (rmcf == NULL) {
        return NGX_OK;
    }

    if (ngx_http_replog_wake_init_process(cycle) != NGX_OK
        || ngx_http_replog_tail_init_process(cycle) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* durable log hook: this worker's writer of each zone */
    zones = rmcf->zones.elts;

    for (i = 0; i < rmcf->zones.nelts; i++) {
        if (ngx_http_replog_log_init_process(cycle, zones[i]->data)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_http_replog_engine_init_process(cycle);
}


static void
ngx_http_replog_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                     i;
    ngx_shm_zone_t               **zones;
    ngx_http_replog_main_conf_t   *rmcf;

    ngx_http_replog_engine_exit_process(cycle);
    ngx_http_replog_wake_exit_process(cycle);

    /* durable log hook */
    rmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_replog_module);

    if (rmcf == NULL) {
        return;
    }

    zones = rmcf->zones.elts;

    for (i = 0; i < rmcf->zones.nelts; i++) {
        ngx_http_replog_log_exit_process(zones[i]->data);
    }
}
