#!/usr/bin/env bash
# The zone as the log's tail (issue 14): two masters in one run, both with
# path= and fsync=off, one with a small zone (BENCH_TAIL_SMALL, 8m) that
# evicts most of its log, one whose zone holds it all (BENCH_TAIL_WHOLE,
# 512m).  Each is filled by bench-client for BENCH_TAIL_SECONDS (10) with
# 64 connections at wc=1 (append rate over the whole fill), then its whole
# log is read with GET /messages BENCH_TAIL_GETS times (3; warm page
# cache: the small one reads most of it from the files), then a fresh
# in-memory secondary (1024m zone) registers and is timed until the
# master lists it at the last id (catch-up: from the files for the small
# one).  Ratios are small to whole, in this run.
# Env: BENCH_PORT_BASE (18080, uses the port + 30 and + 31), NGINX_BIN,
#      REPLOG_MODULE.  Output: build/bench-tail/summary.txt.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NGINX=${NGINX_BIN:-/usr/sbin/nginx}
MODULE=${REPLOG_MODULE:-$ROOT/build/ngx_http_replog_module.so}
SECONDS_FILL=${BENCH_TAIL_SECONDS:-10}
GETS=${BENCH_TAIL_GETS:-3}
BASE=$(( ${BENCH_PORT_BASE:-18080} + 30 ))
OUT=$ROOT/build/bench-tail
CLIENT=$ROOT/build/bench-client

die() { echo "bench-tail: $*" >&2; exit 1; }
[ -f "$MODULE" ] || die "$MODULE not built: run 'make module'"
if [ ! -x "$CLIENT" ] || [ "$ROOT/bench/client.c" -nt "$CLIENT" ]; then
    "${CC:-cc}" -O2 -Wall -Wextra -Werror -o "$CLIENT" "$ROOT/bench/client.c"
fi

rm -rf "$OUT"
mkdir -p "$OUT"

# node NAME SIZE PORT [secondary]: a node's prefix and config
node() {
    local role=${4:-master} log=" path=$OUT/$1/data fsync=off"
    [ "$role" = master ] || log=
    mkdir -p "$OUT/$1/logs"
    cat > "$OUT/$1/nginx.conf" <<CONF
load_module $MODULE;
worker_processes 2;
error_log $OUT/$1/logs/error.log notice;
pid $OUT/$1/logs/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $OUT/$1/logs;
    replog_zone log $2$log;
    server {
        listen 127.0.0.1:$3;
        replog_node zone=log role=$role id=$1;
        replog_recovery off;
        location / { replog_api; }
    }
}
CONF
}

start() {
    "$NGINX" -p "$OUT/$1" -c "$OUT/$1/nginx.conf" 2>> "$OUT/$1/logs/start.log"
    until curl -sf "http://127.0.0.1:$2/healthcheck" >/dev/null; do
        sleep 0.05
    done
}

stop() {
    kill -QUIT "$(cat "$OUT/$1/logs/nginx.pid")"
    while [ -e "$OUT/$1/logs/nginx.pid" ]; do sleep 0.05; done
}

field() { sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" <<< "$1"; }

run() {
    local name=$1 size=$2 port=$3 fill health t0 t1 bytes ms best=0

    node "$name" "$size" "$port"
    start "$name" "$port"

    fill=$("$CLIENT" -m http -p "$port" -c 64 -d "$SECONDS_FILL" -w 0 \
               -u '/messages?wc=1')
    health=$(curl -s "http://127.0.0.1:$port/health")

    for _ in $(seq "$GETS"); do
        t0=$(date +%s%N)
        bytes=$(curl -s -o /dev/null -w '%{size_download}' \
                     "http://127.0.0.1:$port/messages")
        t1=$(date +%s%N)
        ms=$(( (t1 - t0) / 1000000 ))
        rate=$(( bytes / 1048576 * 1000 / (ms > 0 ? ms : 1) ))
        if [ "$rate" -gt "$best" ]; then best=$rate; fi
    done

    # catch-up of a fresh in-memory secondary
    node "$name-s1" 1024m $(( port + 2 )) secondary
    start "$name-s1" $(( port + 2 ))
    last=$(field "$health" last_id)
    t0=$(date +%s%N)
    curl -s -o /dev/null -XPOST "http://127.0.0.1:$port/register" \
         -d "{\"id\":\"$name-s1\",\"port\":$(( port + 2 ))}"
    for _ in $(seq 6000); do
        acked=$(curl -s "http://127.0.0.1:$port/secondaries" |
                sed -n 's/.*"acked_id":\([0-9]*\).*/\1/p')
        [ "${acked:-0}" -lt "$last" ] || break
        sleep 0.02
    done
    t1=$(date +%s%N)
    cu_ms=$(( (t1 - t0) / 1000000 ))
    stop "$name-s1"

    echo "$name $size: fill $fill"
    echo "$name $size: catch-up of ${acked:-0} of $last messages in" \
         "$cu_ms ms: $(( ${acked:-0} * 1000 / (cu_ms > 0 ? cu_ms : 1) ))" \
         "messages/s"
    echo "$name $size: last_id $(field "$health" last_id)" \
         "zone first_id $(field "$health" first_id)" \
         "evicted $(field "$health" evicted)" \
         "file_reads $(field "$health" file_reads);" \
         "GET /messages $bytes bytes, best of $GETS: $best MB/s"
    stop "$name"
}

{
    run small "${BENCH_TAIL_SMALL:-8m}" "$BASE"
    run whole "${BENCH_TAIL_WHOLE:-512m}" $(( BASE + 1 ))
} | tee "$OUT/summary.txt"

rate() { sed -n "s/^$1 .*rate=\([0-9.]*\).*/\1/p" "$OUT/summary.txt"; }
get() { sed -n "s/^$1 .*: \([0-9]*\) MB\/s$/\1/p" "$OUT/summary.txt"; }
cu() { sed -n "s/^$1 .*: \([0-9]*\) messages\/s$/\1/p" "$OUT/summary.txt"; }

awk -v a="$(rate small)" -v b="$(rate whole)" -v c="$(get small)" \
    -v d="$(get whole)" -v e="$(cu small)" -v f="$(cu whole)" 'BEGIN {
        printf "append rate small/whole: %.2fx; GET MB/s small/whole: " \
               "%.2fx; catch-up small/whole: %.2fx\n",
               a / b, (d > 0 ? c / d : 0), (f > 0 ? e / f : 0)
    }' | tee -a "$OUT/summary.txt"
