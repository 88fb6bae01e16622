#!/bin/sh
# Renders conf/templates/ROLE.conf.template from the environment: the
# variables of the original service (API_TOKEN or its alias API_KEY,
# MASTER_HOST, MASTER_PORT, SECONDARY_PORT, HEALTHCHECK_DELAY,
# SECONDARY_REMOVAL_DELAY, MESSAGE_POST_*, DELAY=low,high, ...),
# SERVICE_KEY, plus REPLOG_* overrides.  The one rendering path for
# `make run`, the Docker image and the cluster tests.
#
#   render-conf.sh master|secondary [TEMPLATE_DIR] > nginx.conf

set -eu

role=${1:?usage: render-conf.sh master|secondary [TEMPLATE_DIR]}
dir=${2:-$(dirname "$0")/../conf/templates}

case "$role" in
    master|secondary) ;;
    *) echo "render-conf: role must be master or secondary, not \"$role\"" >&2; exit 64 ;;
esac

: "${MASTER_PORT:=8000}"
: "${SECONDARY_PORT:=8001}"
: "${HEALTHCHECK_DELAY:=5}"
: "${SECONDARY_REMOVAL_DELAY:=0}"
: "${MESSAGE_POST_RETRY_INTERVAL:=1}"
: "${MAX_MESSAGE_POST_RETRY_DELAY:=20}"
: "${MESSAGE_POST_RETRIES_MECHANISM:=exponential}"

: "${REPLOG_PREFIX:=/var/lib/replog}"
: "${REPLOG_ERROR_LOG:=$REPLOG_PREFIX/error.log}"
: "${REPLOG_ACCESS_LOG:=$REPLOG_PREFIX/access.log}"
: "${REPLOG_WORKERS:=auto}"
: "${REPLOG_ZONE_SIZE:=64m}"
: "${REPLOG_LISTEN:=0.0.0.0}"
: "${REPLOG_WRITE_CONCERN:=majority}"
: "${REPLOG_QUORUM:=off}"
: "${REPLOG_RECOVERY:=on}"
: "${REPLOG_HEALTHCHECK_TIMEOUT:=1s}"
: "${REPLOG_HEALTHCHECK_FAILS:=3}"
: "${REPLOG_BATCH_TIMEOUT:=60s}"

if [ "$role" = master ]; then
    : "${REPLOG_ID:=master}"
else
    : "${REPLOG_ID:=${HOSTNAME:-$(hostname)}}"
fi

# seconds as the original service had them (decimals allowed) to nginx
# times; values that carry a unit already ("500ms") pass as they are
t() {
    case "$1" in
        *[a-z]) echo "$1" ;;
        *.*)    awk -v s="$1" 'BEGIN { printf "%dms\n", s * 1000 + 0.5 }' ;;
        *)      echo "${1}s" ;;
    esac
}

REPLOG_HC_INTERVAL=$(t "$HEALTHCHECK_DELAY")
REPLOG_REMOVE_AFTER=$(t "$SECONDARY_REMOVAL_DELAY")
REPLOG_RETRY_INTERVAL=$(t "$MESSAGE_POST_RETRY_INTERVAL")
REPLOG_RETRY_MAX_DELAY=$(t "$MAX_MESSAGE_POST_RETRY_DELAY")

# the client token: API_TOKEN as the original's code and .env name it,
# API_KEY as its README did; two different ones are a mistake, not a choice
if [ -n "${API_TOKEN:-}" ] && [ -n "${API_KEY:-}" ] \
   && [ "$API_TOKEN" != "$API_KEY" ]
then
    echo "render-conf: API_TOKEN and API_KEY are both set and differ;" \
         "set one of them (API_KEY is an alias of API_TOKEN)" >&2
    exit 64
fi

token=${API_TOKEN:-${API_KEY:-}}
REPLOG_API_KEY=${token:-off}

# a key rendered into the config: nothing nginx's parser would split
clean() {
    case "$2" in
        *[!!-~]*|*[\"\'\\\;{}]*)
            echo "render-conf: $1 must be printable ASCII without spaces," \
                 "quotes, backslashes, ';' or braces" >&2
            exit 64 ;;
    esac
}

clean API_TOKEN "$REPLOG_API_KEY"

# unset: the module derives the service key from the token as the original
# service does (no secret from clients who know the derivation)
REPLOG_SERVICE_KEY_DIRECTIVE=""
if [ -n "${SERVICE_KEY:-}" ]; then
    clean SERVICE_KEY "$SERVICE_KEY"
    REPLOG_SERVICE_KEY_DIRECTIVE="replog_service_key $SERVICE_KEY;"
fi

# a secondary names its master in its 405: MASTER_HOST (may carry http://
# or https://) and MASTER_PORT, as replog-register reaches it
REPLOG_MASTER_URL_DIRECTIVE=""
if [ "$role" = secondary ]; then
    host=${MASTER_HOST:-master}
    case "$host" in
        http://*|https://*) scheme=${host%%://*}://; host=${host#*://} ;;
        *) scheme=http:// ;;
    esac
    host=${host%/}
    case "$host" in
        *:*:*) case "$host" in \[*) ;; *) host="[$host]" ;; esac ;;
    esac
    case "$host" in
        *\]:*|*[!:]:[0-9]*) url=$scheme$host ;;
        *) url=$scheme$host:$MASTER_PORT ;;
    esac
    url=${REPLOG_MASTER_URL:-$url}
    clean "the master URL" "$url"
    REPLOG_MASTER_URL_DIRECTIVE="replog_master_url $url;"
fi

REPLOG_LOAD_MODULE=""
if [ -n "${REPLOG_MODULE:-}" ]; then
    REPLOG_LOAD_MODULE="load_module $REPLOG_MODULE;"
fi

REPLOG_CLUSTER_SIZE_DIRECTIVE=""
if [ -n "${REPLOG_CLUSTER_SIZE:-}" ]; then
    REPLOG_CLUSTER_SIZE_DIRECTIVE="replog_cluster_size $REPLOG_CLUSTER_SIZE;"
fi

# DELAY=low,high in seconds, as the original service had it
REPLOG_DELAY_DIRECTIVE=""
if [ -n "${DELAY:-}" ]; then
    low=${DELAY%%,*}
    high=${DELAY#*,}
    REPLOG_DELAY_DIRECTIVE="replog_delay $(t "$low") $(t "$high");"
fi

# the durable log: DATA_DIR (empty: in memory only) and FSYNC
REPLOG_ZONE_LOG=""
if [ -n "${DATA_DIR:-}" ]; then
    REPLOG_ZONE_LOG=" path=$DATA_DIR fsync=${FSYNC:-always}"
    # REPLOG_SEGMENT: the segment size (64m by default)
    if [ -n "${REPLOG_SEGMENT:-}" ]; then
        REPLOG_ZONE_LOG="$REPLOG_ZONE_LOG segment=$REPLOG_SEGMENT"
    fi
fi

# REPLOG_RETENTION="size=SIZE age=TIME": replog_retention of the zone
REPLOG_RETENTION_DIRECTIVE=""
if [ -n "${REPLOG_RETENTION:-}" ]; then
    REPLOG_RETENTION_DIRECTIVE="replog_retention log $REPLOG_RETENTION;"
fi

REPLOG_FAIL_RATE_DIRECTIVE=""
if [ -n "${FAIL_RATE:-}" ]; then
    REPLOG_FAIL_RATE_DIRECTIVE="replog_fail_rate $FAIL_RATE;"
fi

export MASTER_PORT SECONDARY_PORT REPLOG_HC_INTERVAL REPLOG_REMOVE_AFTER \
    REPLOG_RETRY_INTERVAL REPLOG_RETRY_MAX_DELAY \
    MESSAGE_POST_RETRIES_MECHANISM REPLOG_PREFIX REPLOG_ERROR_LOG \
    REPLOG_ACCESS_LOG REPLOG_WORKERS REPLOG_ZONE_SIZE REPLOG_LISTEN \
    REPLOG_WRITE_CONCERN REPLOG_QUORUM REPLOG_RECOVERY \
    REPLOG_HEALTHCHECK_TIMEOUT \
    REPLOG_HEALTHCHECK_FAILS REPLOG_BATCH_TIMEOUT REPLOG_ID REPLOG_API_KEY \
    REPLOG_LOAD_MODULE REPLOG_CLUSTER_SIZE_DIRECTIVE REPLOG_DELAY_DIRECTIVE \
    REPLOG_FAIL_RATE_DIRECTIVE REPLOG_SERVICE_KEY_DIRECTIVE \
    REPLOG_MASTER_URL_DIRECTIVE REPLOG_ZONE_LOG REPLOG_RETENTION_DIRECTIVE

# only these names are substituted: nginx's own $variables stay as they are
envsubst '$MASTER_PORT $SECONDARY_PORT $REPLOG_HC_INTERVAL
    $REPLOG_REMOVE_AFTER $REPLOG_RETRY_INTERVAL
    $REPLOG_RETRY_MAX_DELAY $MESSAGE_POST_RETRIES_MECHANISM
    $REPLOG_PREFIX $REPLOG_ERROR_LOG $REPLOG_ACCESS_LOG $REPLOG_WORKERS
    $REPLOG_ZONE_SIZE $REPLOG_ZONE_LOG $REPLOG_LISTEN $REPLOG_WRITE_CONCERN $REPLOG_QUORUM
    $REPLOG_RECOVERY
    $REPLOG_HEALTHCHECK_TIMEOUT $REPLOG_HEALTHCHECK_FAILS
    $REPLOG_BATCH_TIMEOUT $REPLOG_ID $REPLOG_API_KEY $REPLOG_LOAD_MODULE
    $REPLOG_CLUSTER_SIZE_DIRECTIVE $REPLOG_DELAY_DIRECTIVE
    $REPLOG_FAIL_RATE_DIRECTIVE $REPLOG_SERVICE_KEY_DIRECTIVE
    $REPLOG_MASTER_URL_DIRECTIVE $REPLOG_RETENTION_DIRECTIVE' \
    < "$dir/$role.conf.template"
