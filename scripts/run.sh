#!/bin/bash
# `make run`: a local master and SECONDARIES secondaries, each its own nginx
# process with a config rendered from conf/templates/, each secondary
# registered by replog-register in watch mode.  Foreground; Ctrl-C or
# SIGTERM stops everything it started.

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)

# the original service's .env keeps working; the local run overrides hosts
if [ -f "$top/.env" ]; then
    set -a
    # shellcheck disable=SC1091
    . "$top/.env"
    set +a
fi

export MASTER_HOST=127.0.0.1
: "${MASTER_PORT:=8000}"
: "${SECONDARY_PORT:=8001}"
: "${SECONDARIES:=2}"
: "${RUN_DIR:=$top/build/run}"
: "${NGINX_BIN:=/usr/sbin/nginx}"
: "${REPLOG_WORKERS:=2}"
: "${REPLOG_ZONE_SIZE:=256m}"
export MASTER_PORT REPLOG_WORKERS REPLOG_ZONE_SIZE
export REPLOG_LISTEN=127.0.0.1
export REPLOG_MODULE="$top/build/ngx_http_replog_module.so"
export REPLOG_CLUSTER_SIZE=${REPLOG_CLUSTER_SIZE:-$((SECONDARIES + 1))}

pids=()

stop() {
    trap - INT TERM EXIT
    echo "run: stopping" >&2
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    exit 0
}

trap stop INT TERM EXIT

start_node() {    # role name port
    local role=$1 name=$2 port=$3 prefix=$RUN_DIR/$2

    mkdir -p "$prefix/tmp"
    REPLOG_PREFIX=$prefix REPLOG_ID=$name SECONDARY_PORT=$port \
        "$top/scripts/render-conf.sh" "$role" > "$prefix/nginx.conf"

    "$NGINX_BIN" -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/error.log" \
        -g 'daemon off;' &
    pids+=($!)
}

start_node master master "$MASTER_PORT"

for i in $(seq 1 "$SECONDARIES"); do
    port=$((SECONDARY_PORT + i - 1))
    start_node secondary "secondary-$i" "$port"

    HOSTNAME=secondary-$i SECONDARY_PORT=$port \
        "$top/build/replog-register" --watch 2 -q \
        >> "$RUN_DIR/secondary-$i/register.log" 2>&1 &
    pids+=($!)
done

cat >&2 <<INFO
run: master       http://127.0.0.1:$MASTER_PORT  ($RUN_DIR/master)
run: secondaries  $SECONDARIES from port $SECONDARY_PORT  ($RUN_DIR/secondary-N)
run: try  curl -s -XPOST 127.0.0.1:$MASTER_PORT/messages -d '{"message":"hi"}'
run: Ctrl-C stops everything
INFO

wait
