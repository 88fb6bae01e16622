#!/usr/bin/env bash
# CPU per replicated message, by process, loopback only.  Starts the
# replication cluster of bench/run.sh (a master with 2 workers, 2
# secondaries with 1 worker each, in memory), drives it with bench-client
# (64 connections, POST /messages?wc=N) while `perf record -a` samples
# every CPU (cpu-clock, 999 Hz), and prints per write concern: the ops,
# the messages a batch carried (replog_secondary_batches_total against
# the master's last_id, 2 secondaries), and the
# CPU time per message of the master's workers, the secondaries, the
# load client and everything else on the machine.  CPU time per message
# is robust to a shared machine where ops/s are not: compare modules
# back to back with this, as ratios.
#
#   bench/cpu.sh [MODULE.so ...]     # default build/ngx_http_replog_module.so
#
# Env: BENCH_SECONDS (8), BENCH_WC ("1 3"), BENCH_PORT_BASE (18080, uses 3
#      ports from it + 3), NGINX_BIN.  Needs perf (Debian's linux-perf) and
#      the right to sample every CPU (root, or kernel.perf_event_paranoid
#      at most 0).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
export NGINX_BIN
SECS=${BENCH_SECONDS:-8}
WCS=${BENCH_WC:-1 3}
PORT=${BENCH_PORT_BASE:-18080}
RM=$((PORT + 3)) RS1=$((PORT + 4)) RS2=$((PORT + 5))
CLIENT=$ROOT/build/bench-client
OUT=$ROOT/build/bench-cpu

die() { echo "cpu: $*" >&2; exit 1; }
command -v perf >/dev/null || die "perf not found (apt-get install linux-perf)"
[ $# -gt 0 ] || set -- "$ROOT/build/ngx_http_replog_module.so"
if [ ! -x "$CLIENT" ] || [ "$ROOT/bench/client.c" -nt "$CLIENT" ]; then
    mkdir -p "$ROOT/build"
    "${CC:-cc}" -O2 -g -Wall -Wextra -Werror -o "$CLIENT" "$ROOT/bench/client.c" ||
        die "bench/client.c does not build"
fi

declare -a PIDS=()
stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    PIDS=()
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# node ROLE NAME PORT [VAR=VALUE...]: as bench/run.sh's start_node
node() {
    local role=$1 name=$2 port=$3 dir=$OUT/$2
    shift 3
    ! port_in_use "$port" || die "127.0.0.1:$port is in use (set BENCH_PORT_BASE)"
    mkdir -p "$dir"
    node_start "$role" "$dir" REPLOG_MODULE="$OUT/replog.so" REPLOG_ID="$name" \
        REPLOG_LISTEN=127.0.0.1 REPLOG_WORKERS=1 REPLOG_ZONE_SIZE=1024m \
        REPLOG_ERROR_LOG="$dir/error.log" REPLOG_ACCESS_LOG=off \
        MASTER_PORT="$port" SECONDARY_PORT="$port" API_KEY= DELAY= FAIL_RATE= \
        REPLOG_CLUSTER_SIZE= REPLOG_RECOVERY=off "$@" >"$dir/stdout.log" 2>&1 ||
        die "render-conf.sh $role failed"
    PIDS+=("$NODE_PID")
    wait_port "$NODE_PID" "$port" 5 /health || die "$name does not start: $(tail -n 3 "$dir/error.log")"
    eval "PID_$name=$NODE_PID"
}

# batches: batches sent to the secondaries so far; last_id: the master's
batches() {
    curl -s -m 5 "http://127.0.0.1:$RM/metrics" |
        awk '$1 ~ /^replog_secondary_batches_total/ {t += $2} END {printf "%d", t}'
}
last_id() {
    curl -s -m 5 "http://127.0.0.1:$RM/health" | sed -n 's/.*"last_id":\([0-9]*\).*/\1/p'
}

for so in "$@"; do
    [ -f "$so" ] || die "$so not found"
    rm -rf "$OUT" && mkdir -p "$OUT"
    cp "$so" "$OUT/replog.so"       # a rebuild in place would crash nginx
    node secondary s1 "$RS1" REPLOG_ID=s1
    node secondary s2 "$RS2" REPLOG_ID=s2
    node master m "$RM" REPLOG_ID=master REPLOG_WORKERS=2 REPLOG_CLUSTER_SIZE=3
    for s in "s1:$RS1" "s2:$RS2"; do
        curl -s -m 5 -o /dev/null -XPOST "http://127.0.0.1:$RM/register" \
            -d "{\"id\":\"${s%:*}\",\"port\":${s#*:}}" || die "register ${s%:*} failed"
    done
    for _ in $(seq 100); do
        [ "$(curl -s -m 5 "http://127.0.0.1:$RM/secondaries" |
             grep -o '"status":"HEALTHY"' | wc -l)" = 2 ] && break
        sleep 0.05
    done
    # shellcheck disable=SC2154
    m=" $(pgrep -P "$PID_m" | tr '\n' ' ')"
    s=" $(pgrep -P "$PID_s1" | tr '\n' ' ')$(pgrep -P "$PID_s2" | tr '\n' ' ')"

    echo "module $so (sha256 $(sha256sum "$so" | cut -c1-12)), load $(cut -d' ' -f1-3 /proc/loadavg)"
    for wc in $WCS; do
        b0=$(batches) l0=$(last_id)
        perf record -a -e cpu-clock -F 999 -o "$OUT/perf.data" -- \
            sleep $((SECS + 2)) >/dev/null 2>&1 &
        perf_pid=$!
        sleep 0.5
        res=$("$CLIENT" -m http -p "$RM" -u "/messages?wc=$wc" -c 64 -d "$SECS" -w 1)
        wait "$perf_pid" || true
        b1=$(batches) l1=$(last_id)
        perf report -i "$OUT/perf.data" -n --sort pid -g none --stdio 2>/dev/null |
            awk -v m="$m" -v s="$s" -v res="$res" -v wc="$wc" -v b=$((b1 - b0)) -v l=$((l1 - l0)) '
                /^#/ || NF < 3 { next }
                { split($3, a, ":"); pid = " " a[1] " "; n = $2
                  if (index(m, pid)) M += n
                  else if (index(s, pid)) S += n
                  else if ($3 ~ /bench-client/) C += n
                  else if ($3 !~ /swapper/) O += n }
                END {
                  split(res, r, /[ =]/); ops = r[2]
                  k = 1e6 / 999 / (ops ? ops : 1)
                  printf "  wc=%s: %s\n", wc, res
                  printf "    messages a batch %.1f; CPU us a message: master %.2f, secondaries %.2f, client %.2f, other %.2f\n",
                         b ? 2 * l / b : 0, M * k, S * k, C * k, O * k }'
    done
    stop_all
done
