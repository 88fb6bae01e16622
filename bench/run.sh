#!/usr/bin/env bash
# replog benchmark, loopback only.  Compares, with the same wrk command:
#   1. stock nginx answering `return 201` to the POST (baseline),
#   2. a replog master taking POST /messages?wc=1,
#   3. GET /messages of a 100k (then 200k) message log: throughput and RSS,
#   4. replication: a master (2 workers) and 2 secondaries (1 worker each)
#      taking POST /messages?wc=1, 2, 3; then the time until both
#      secondaries hold the master's whole log,
#   4a. the same cluster with path= on every node, fresh directories per
#      case: fsync=always (wc=1, wc=majority), fsync=100ms (wc=majority),
#      fsync=off (wc=1, 2, 3, twice each, between two runs of a fresh
#      in-memory twin); fsyncs/s and messages per fsync per node,
#   4c. the durable peer: 3 etcd members (etcd-server) taking kv puts
#      through their HTTP gateway, sent to the leader,
#   5. catch-up: a fresh secondary registering with a master holding
#      BENCH_CATCHUP_N messages, timed until its acked_id reaches N,
#   6. recovery: that master killed (-9) and started again with
#      replog_cluster_size 2; the secondary registers with its epoch and
#      acked_id; timed from the master's start until it is open with N,
#   7. the replay of a durable log at start (bench/replay.sh),
#   8. a log larger than the zone: a master alone (path= fsync=off) taking
#      BENCH_BIG_N messages with a 4096m zone, then a 64m one; GET of that
#      whole log cold and warm (4 connections); a fresh secondary catching
#      up from its files.
# Cases 1, 4, 4a and 4c run bench/client.c (one epoll loop, the same closed
# loop for every peer), and so does a Redis master with 2 replicas
# (redis-server on loopback, no persistence) taking SET + WAIT 2 0 (4b).
# Nodes of 4-6 and 8 run from configs rendered by scripts/render-conf.sh.
# Env: BENCH_SECONDS (10), BENCH_CONNECTIONS (64), BENCH_PORT_BASE (18080,
#      uses ports BASE to BASE+20), BENCH_GET_200K (1: also measure GET
#      with a 200k log), BENCH_SKIP_GET (1: skip 3), BENCH_SKIP_REDIS (1: no
#      Redis), BENCH_SKIP_DURABLE (1: skip 4a), BENCH_SKIP_ETCD (1: skip
#      4c), BENCH_CATCHUP_N (1000000, even), BENCH_SKIP_CATCHUP (1: skip 5
#      and 6), BENCH_SKIP_REPLAY (1: skip 7), BENCH_REPLAY_N (1000000),
#      BENCH_SKIP_BIG (1: skip 8), BENCH_BIG_N (10000000), BENCH_DUR_CASES
#      (the cases of 4a as FSYNC:WC words, FSYNC mem for in memory; a
#      case given twice runs twice), NGINX_BIN,
#      REPLOG_MODULE (the .so to test, default build/ngx_http_replog_module.so),
#      BENCH_FSYNC (always, off or a time: the nodes of 4-6 keep a durable
#      log in NAME/data with that fsync=; unset: in memory only).
# Output: raw runs and summary.txt under build/bench/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
NGINX=${NGINX_BIN:-/usr/sbin/nginx}
NGINX_BIN=$NGINX
MODULE=${REPLOG_MODULE:-$ROOT/build/ngx_http_replog_module.so}
LUA=$ROOT/bench/post.lua
OUT=$ROOT/build/bench
SECS=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNECTIONS:-64}
PORT=${BENCH_PORT_BASE:-18080}
FILL=100000                         # messages per fill step
CATCHUP_N=${BENCH_CATCHUP_N:-1000000}
SKIP_GET=${BENCH_SKIP_GET:-0}
SKIP_CATCHUP=${BENCH_SKIP_CATCHUP:-0}
SKIP_REDIS=${BENCH_SKIP_REDIS:-0}
SKIP_DURABLE=${BENCH_SKIP_DURABLE:-0}
SKIP_ETCD=${BENCH_SKIP_ETCD:-0}
SKIP_BIG=${BENCH_SKIP_BIG:-0}
SKIP_REPLAY=${BENCH_SKIP_REPLAY:-0}
BIG_N=${BENCH_BIG_N:-10000000}
CLIENT=$ROOT/build/bench-client
WARM=1                              # s of warm-up before bench-client measures
RENDER=$ROOT/scripts/render-conf.sh

die() { echo "bench: $*" >&2; exit 1; }
command -v wrk >/dev/null || die "wrk not found (apt-get install wrk)"
command -v curl >/dev/null || die "curl not found (apt-get install curl)"
[ -x "$NGINX" ] || die "nginx not found at $NGINX"
[ -f "$MODULE" ] || die "$MODULE not built: run 'make module'"
[ -x "$RENDER" ] || die "$RENDER not found"
command -v envsubst >/dev/null || die "envsubst not found (apt-get install gettext-base)"
[ "$SKIP_REDIS" = 1 ] || command -v redis-server >/dev/null ||
    die "redis-server not found (apt-get install redis-server, or BENCH_SKIP_REDIS=1)"
[ "$SKIP_REDIS" = 1 ] || command -v redis-cli >/dev/null ||
    die "redis-cli not found (apt-get install redis-tools)"
[ "$SKIP_ETCD" = 1 ] || command -v etcd >/dev/null ||
    die "etcd not found (apt-get install etcd-server, or BENCH_SKIP_ETCD=1)"
if [ ! -x "$CLIENT" ] || [ "$ROOT/bench/client.c" -nt "$CLIENT" ]; then
    mkdir -p "$ROOT/build"
    "${CC:-cc}" -O2 -g -Wall -Wextra -Werror -o "$CLIENT.tmp" "$ROOT/bench/client.c" ||
        die "bench/client.c does not build"
    mv -f "$CLIENT.tmp" "$CLIENT"
fi
case $CATCHUP_N in
    ''|*[!0-9]*) die "BENCH_CATCHUP_N must be a positive even number" ;;
esac
[ "$CATCHUP_N" -gt 0 ] && [ $((CATCHUP_N % 2)) = 0 ] ||
    die "BENCH_CATCHUP_N must be a positive even number (2 wrk threads fill it)"
case $BIG_N in
    ''|0|*[!0-9]*) die "BENCH_BIG_N must be a positive number" ;;
esac

mkdir -p "$ROOT/build"
exec 9>"$ROOT/build/.bench.lock"
flock -n 9 || die "another bench run holds $ROOT/build/.bench.lock"
rm -rf "$OUT" && mkdir -p "$OUT"
# nginx maps the .so: a rebuild in place during the run would crash it.
cp "$MODULE" "$OUT/replog.so"
LOAD_START=$(uptime)
declare -A LIVE                     # nginx masters and wrk runs to stop
track()   { LIVE[$1]=1; }
untrack() { unset "LIVE[$1]"; }

cleanup() {
    local pid
    for pid in "${!LIVE[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${!LIVE[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# now_s: wall clock in seconds (microseconds); secs_since T0: elapsed, 0.01 s
now_s() { echo "$EPOCHREALTIME"; }
secs_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.2f", b - a}'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN {printf "%.0f", (s > 0) ? n / s : 0}'; }

port_free() {
    ! port_in_use "$1" ||
        die "127.0.0.1:$1 is already in use (set BENCH_PORT_BASE)"
}

# Every instance's error log, checked after each case (check_logs) for
# lines at error level or worse and for crashed workers.
declare -A NGX_PID ERRLOG ERRSEEN START_T
BAD_LOG='\[(emerg|alert|crit|error)\]|exited on signal'
check_logs() {
    local case=$1 name log n new
    for name in "${!ERRLOG[@]}"; do
        log=${ERRLOG[$name]}
        [ -f "$log" ] || continue
        n=$(wc -l <"$log")
        new=$(sed -n "$(( ${ERRSEEN[$name]:-0} + 1 )),${n}p" "$log" | grep -E "$BAD_LOG" || true)
        ERRSEEN[$name]=$n
        if [ -n "$new" ]; then
            FAILS+=("$case: $(grep -c . <<<"$new") line(s) at error level or worse, or crashes, in $log")
            {
                echo "bench: ERROR after $case in $log:"
                head -n 10 <<<"$new" | sed 's/^/    /'
            } >&2
        fi
    done
}

# start_nginx NAME PORT MAIN_CONF HTTP_CONF SERVER_CONF: runs nginx
# (daemon off, in background) with prefix $OUT/NAME; sets MASTER to its pid.
start_nginx() {
    local dir=$OUT/$1 port=$2
    port_free "$port"
    mkdir -p "$dir/conf" "$dir/logs" "$dir/tmp"
    cat >"$dir/conf/nginx.conf" <<EOF
$3
daemon off;
pid logs/nginx.pid;
error_log logs/error.log warn;
worker_processes 2;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    $4
    server {
        listen 127.0.0.1:$port;
        $5
    }
}
EOF
    "$NGINX" -p "$dir" -c conf/nginx.conf -e "$dir/logs/error.log" \
        >"$dir/logs/stdout.log" 2>&1 &
    MASTER=$!
    track "$MASTER"
    NGX_PID[$1]=$MASTER
    ERRLOG[$1]=$dir/logs/error.log
    wait_up "$1" "$port" "$dir/logs/error.log" "$dir/logs/stdout.log"
}

# wait_up NAME PORT LOGS...: up to 5 s for the port to answer /health
# (polled every 20 ms, so that the recovery case can time from the start).
wait_up() {
    local name=$1 port=$2 rc=0; shift 2
    wait_port "${NGX_PID[$name]}" "$port" 5 /health || rc=$?
    [ "$rc" != 1 ] || die "nginx $name exited: $(tail -n 3 "$@")"
    [ "$rc" = 0 ] || die "nginx $name does not answer on 127.0.0.1:$port"
}

# start_node ROLE NAME PORT [VAR=VALUE...]: a replog node (prefix $OUT/NAME)
# from the config scripts/render-conf.sh renders: 1 worker, a 4096m zone
# (the in-memory cluster takes over 4M messages in its runs), no
# access log, no api key, id NAME, unless VAR=VALUE says otherwise.
start_node() {
    local role=$1 name=$2 port=$3 dir=$OUT/$2; shift 3
    port_free "$port"
    mkdir -p "$dir"
    ERRLOG[$name]=$dir/error.log
    node_start "$role" "$dir" REPLOG_MODULE="$OUT/replog.so" REPLOG_ID="$name" \
        REPLOG_LISTEN=127.0.0.1 REPLOG_WORKERS=1 REPLOG_ZONE_SIZE=4096m \
        REPLOG_ERROR_LOG="$dir/error.log" REPLOG_ACCESS_LOG=off \
        MASTER_PORT="$port" SECONDARY_PORT="$port" API_KEY= DELAY= FAIL_RATE= \
        REPLOG_CLUSTER_SIZE= REPLOG_RECOVERY=off \
        ${BENCH_FSYNC:+DATA_DIR="$dir/data" FSYNC="$BENCH_FSYNC"} "$@" \
        >"$dir/stdout.log" 2>&1 || die "render-conf.sh $role failed"
    START_T[$name]=$(now_s)
    NGX_PID[$name]=$NODE_PID
    track "$NODE_PID"
    wait_up "$name" "$port" "$dir/error.log" "$dir/stdout.log"
}

# kill_node NAME: kill -9 of the nginx master and its workers (a crash).
kill_node() {
    local pid=${NGX_PID[$1]} workers
    workers=$(pgrep -P "$pid" || true)
    kill -KILL "$pid" 2>/dev/null || true      # first: it would respawn workers
    # shellcheck disable=SC2086
    [ -z "$workers" ] || kill -KILL $workers 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    untrack "$pid"
    for w in $workers; do
        for _ in $(seq 50); do kill -0 "$w" 2>/dev/null || break; sleep 0.1; done
    done
}

# stop_nginx NAME: stops that instance (TERM), records crashes in FAILS.
FAILS=()
stop_nginx() {
    local st=0 pid=${NGX_PID[$1]}
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" || st=$?
    untrack "$pid"
    [ "$st" = 0 ] || FAILS+=("nginx $1: master exit status $st on TERM")
    if grep -q 'exited on signal' "${ERRLOG[$1]}"; then
        FAILS+=("nginx $1: $(grep -c 'exited on signal' "${ERRLOG[$1]}") worker(s) crashed (see ${ERRLOG[$1]})")
    fi
}

# bg_wait CMD...: runs CMD in the background and waits for it, so that a
# signal to this script is acted on at once (cleanup stops CMD too).
bg_wait() {
    local pid rc=0
    "$@" & pid=$!
    track "$pid"
    wait "$pid" || rc=$?
    untrack "$pid"
    return "$rc"
}

# run_wrk NAME WRK_ARGS...: runs wrk, keeps its output in $OUT/NAME.txt.
run_wrk() {
    local name=$1; shift
    echo "== $name: wrk $*"
    bg_wait wrk "$@" >"$OUT/$name.txt"
    cat "$OUT/$name.txt"
    if grep -q 'Socket errors' "$OUT/$name.txt"; then
        echo "bench: WARNING $name: $(grep 'Socket errors' "$OUT/$name.txt")" >&2
    fi
}

# Fields of a wrk output file.
reqs()  { awk '/^Requests\/sec:/ {print $2}' "$OUT/$1.txt"; }
xfer()  { awk '/^Transfer\/sec:/ {print $2}' "$OUT/$1.txt"; }
total() { sed -n 's/.* requests in \(.*\) read$/\1/p' "$OUT/$1.txt"; }
# pct NAME 50|99: latency percentile in ms (wrk prints us, ms or s).
pct() {
    awk -v p="$2%" '$1 == p {
        v = $2 + 0
        if ($2 ~ /us$/) v /= 1000; else if ($2 ~ /[0-9]s$/) v *= 1000
        else if ($2 ~ /m$/) v *= 60000
        printf "%.2fms", v }' "$OUT/$1.txt"
}

# rss MASTER_PID: sum over its workers of VmRSS, RssAnon, RssShmem (KiB).
rss() {
    local w
    for w in $(pgrep -P "$1"); do cat "/proc/$w/status"; done |
        awk '/^VmRSS:/ {t += $2} /^RssAnon:/ {a += $2} /^RssShmem:/ {s += $2}
             END {printf "%d KiB (anon %d, shmem %d)", t, a, s}'
}

last_id() {
    { curl -s -m 5 "http://127.0.0.1:$1/health" || true; } |
        sed -n 's/.*"last_id":\([0-9]*\).*/\1/p'
}
# health_field PORT NAME: a string field of GET /health
health_field() {
    { curl -s -m 5 "http://127.0.0.1:$1/health" || true; } | sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p"
}
# acked PORT: acked_id of every registered secondary, one a line
acked() {
    { curl -s -m 5 "http://127.0.0.1:$1/secondaries" || true; } |
        { grep -o '"acked_id":[0-9]*' || true; } | cut -d: -f2
}

# register MASTER_PORT ID PORT [EPOCH ACKED_ID]: POST /register.
register() {
    local body="{\"id\":\"$2\",\"port\":$3" code
    [ $# -lt 5 ] || body+=",\"epoch\":\"$4\",\"acked_id\":$5"
    body+="}"
    code=$(curl -s -m 5 -o "$OUT/register-$2.json" -w '%{http_code}' \
        -XPOST "http://127.0.0.1:$1/register" -d "$body") || code=000
    case $code in
        2??) ;;
        *) die "register $body: HTTP $code $(cat "$OUT/register-$2.json" 2>/dev/null)" ;;
    esac
}

# sync_wait MASTER_PORT NSEC BOUND_S: waits (polling every 50 ms, at most
# BOUND_S s) until NSEC secondaries all acked the master's last_id; prints
# the seconds it took.
sync_wait() {
    local port=$1 nsec=$2 bound=$3 t0 last ids n min
    t0=$(now_s)
    while :; do
        last=$(last_id "$port")
        ids=$(acked "$port")
        n=$(grep -c . <<<"$ids" || true)
        min=$(sort -n <<<"$ids" | head -n 1)
        if [ "$n" = "$nsec" ] && [ -n "$last" ] && [ "${min:-0}" -ge "$last" ]; then
            secs_since "$t0"; return 0
        fi
        [ "$(secs_since "$t0" | cut -d. -f1)" -lt "$bound" ] ||
            die "secondaries not in sync after ${bound} s: master last_id $last, acked $(tr '\n' ' ' <<<"$ids")"
        sleep 0.05
    done
}

# fill PORT [COUNT [CONNS]]: POSTs exactly COUNT ($FILL) more messages
# (2 threads x COUNT/2, see post.lua) over CONNS (32) connections; sets
# FILL_SECS.  wrk sleeps for its whole -d even once its threads have stopped,
# so it is interrupted (SIGINT: prints its stats, exits) at the target.
fill() {
    local port=$1 count=${2:-$FILL} conns=${3:-32} target start bound
    bound=$(( 60 + count / 4000 ))  # s; 1M: 310 s, far above the usual ~30 s
    target=$(( $(last_id "$port") + count ))
    start=$EPOCHREALTIME
    wrk -t2 -c"$conns" -d"${bound}s" -s "$LUA" "http://127.0.0.1:$port/messages" \
        -- $(( count / 2 )) >"$OUT/fill-$target.txt" &
    local wrk_pid=$!
    track "$wrk_pid"
    while kill -0 "$wrk_pid" 2>/dev/null && [ "$(last_id "$port")" -lt "$target" ]; do
        sleep 0.2
    done
    FILL_SECS=$(secs_since "$start")
    sleep 0.5                       # a POST past the target would show now
    kill -INT "$wrk_pid" 2>/dev/null || true
    wait "$wrk_pid" || true
    untrack "$wrk_pid"
    local got; got=$(last_id "$port")
    [ "$got" -ge "$target" ] || die "fill: last_id $got after $bound s, wanted $target"
    [ "$got" -eq "$target" ] || echo "bench: WARNING fill overshot: last_id $got" >&2
    ! grep -q 'Non-2xx' "$OUT/fill-$target.txt" || die "fill: non-2xx responses"
    echo "== filled log to $got messages in $FILL_SECS s"
}

# get_case NAME PORT: RSS, wrk GET /messages, one curl (bounded), RSS.
declare -A RSS_BEFORE RSS_AFTER CURL_OUT
get_case() {
    local name=$1 url=http://127.0.0.1:$2/messages rc=0
    RSS_BEFORE[$name]=$(rss "$MASTER")
    run_wrk "$name" -t2 -c4 -d"${SECS}s" --latency --timeout 10s "$url"
    bg_wait curl -s -m 20 -o /dev/null -w '%{size_download} %{time_total} %header{content-length}' \
        "$url" >"$OUT/$name.curl" || rc=$?
    CURL_OUT[$name]=$(cat "$OUT/$name.curl")
    RSS_AFTER[$name]=$(rss "$MASTER")
    [ "$(awk '/ requests in / {print $1}' "$OUT/$name.txt")" -gt 0 ] ||
        FAILS+=("$name: wrk completed no GET /messages in ${SECS}s")
    [ "$rc" = 0 ] || FAILS+=("$name: curl exit $rc: got/time/content-length ${CURL_OUT[$name]}")
}

WRK_POST=(-t2 -c"$CONNS" -d"${SECS}s" --latency -s "$LUA")

# client_case NAME ARGS...: bench-client with $CONNS connections, ${WARM}s
# of warm-up, ${SECS}s measured; keeps its line in $OUT/NAME.client.
client_case() {
    local name=$1 rc=0; shift
    echo "== $name: bench-client -c $CONNS -d $SECS -w $WARM $*"
    bg_wait "$CLIENT" -c "$CONNS" -d "$SECS" -w "$WARM" "$@" >"$OUT/$name.client" || rc=$?
    cat "$OUT/$name.client"
    [ "$rc" = 0 ] || FAILS+=("$name: bench-client exit $rc: $(cat "$OUT/$name.client")")
}
# cfield NAME FIELD: a field (ops, rate, p50, p99, p999, ...) of that line
cfield() {
    [ -f "$OUT/$1.client" ] || return 0
    tr ' ' '\n' <"$OUT/$1.client" | sed -n "s/^$2=//p"
}

# post_case NAME URL: a timed POST run; any non-2xx answer fails the bench.
post_case() {
    run_wrk "$1" "${WRK_POST[@]}" "$2"
    ! grep -q 'Non-2xx or 3xx responses' "$OUT/$1.txt" ||
        die "$1: $(grep 'Non-2xx' "$OUT/$1.txt") (see the error logs under $OUT)"
    [ "$(awk '/ requests in / {print $1}' "$OUT/$1.txt")" -gt 0 ] ||
        die "$1: wrk completed no request"
}

# 1. Baseline: stock nginx, no module.
start_nginx base "$PORT" "" "" \
    "location / { default_type application/json; return 201 '{\"ok\":true}'; }"
post_case base "http://127.0.0.1:$PORT/messages"
client_case base-c -m http -p "$PORT" -u /messages
stop_nginx base
check_logs base

# 2. replog master, POST with write concern 1.
REPLOG_MAIN="load_module $OUT/replog.so;"
REPLOG_HTTP="replog_zone log 512m;"
REPLOG_SRV="replog_node zone=log role=master id=m1; location / { replog_api; }"
start_nginx post $((PORT + 1)) "$REPLOG_MAIN" "$REPLOG_HTTP" "$REPLOG_SRV"
post_case post "http://127.0.0.1:$((PORT + 1))/messages?wc=1"
echo "== replog POST: last_id $(last_id $((PORT + 1)))"
stop_nginx post
check_logs post

# 3. GET /messages of a 100k, then a 200k message log.
GET_CASES=()
if [ "$SKIP_GET" != 1 ]; then
    GPORT=$((PORT + 2))
    start_nginx get "$GPORT" "$REPLOG_MAIN" "$REPLOG_HTTP" "$REPLOG_SRV"
    GET_CASES=(get100k)
    fill "$GPORT"
    get_case get100k "$GPORT"
    if [ "${BENCH_GET_200K:-1}" = 1 ]; then
        GET_CASES+=(get200k)
        fill "$GPORT"
        get_case get200k "$GPORT"
    fi
    stop_nginx get
    check_logs get
fi

# 4. Replication: master (2 workers, as rendered) and 2
# secondaries (1 worker each), both registered and HEALTHY before the load;
# recovery off.  After each run, the time until both secondaries acked the
# master's last_id (bounded).
RM=$((PORT + 3)) RS1=$((PORT + 4)) RS2=$((PORT + 5))

# cluster_up TAG [FSYNC]: that cluster, its nodes TAG-master, TAG-s1 and
# TAG-s2; with FSYNC every node keeps a durable log in a fresh
# $OUT/NODE/data with that fsync=.
cluster_up() {
    local tag=$1 fs=${2:-} n sp
    rm -rf "$OUT/$tag-master" "$OUT/$tag-s1" "$OUT/$tag-s2"
    for n in s1 s2; do
        sp=$RS1; [ "$n" = s1 ] || sp=$RS2
        start_node secondary "$tag-$n" "$sp" REPLOG_ID="$n" \
            ${fs:+DATA_DIR="$OUT/$tag-$n/data" FSYNC="$fs"}
    done
    start_node master "$tag-master" "$RM" REPLOG_ID=master REPLOG_WORKERS=2 \
        REPLOG_CLUSTER_SIZE=3 REPLOG_RECOVERY=off \
        ${fs:+DATA_DIR="$OUT/$tag-master/data" FSYNC="$fs"}
    [ "$(health_field "$RM" state)" = open ] ||
        die "$tag: master not open: $(curl -s -m 5 "http://127.0.0.1:$RM/health")"
    register "$RM" s1 "$RS1"
    register "$RM" s2 "$RS2"
    for _ in $(seq 100); do         # up to 5 s for both to be HEALTHY
        [ "$(healthy "$RM")" = 2 ] && break
        sleep 0.05
    done
    [ "$(healthy "$RM")" = 2 ] ||
        die "$tag: secondaries not HEALTHY: $(curl -s -m 5 "http://127.0.0.1:$RM/secondaries")"
}
healthy() {
    { curl -s -m 5 "http://127.0.0.1:$1/secondaries" || true; } |
        grep -o '"status":"HEALTHY"' | wc -l
}
# cluster_down TAG: the master first (a stopped secondary would be a
# connect() error)
cluster_down() {
    stop_nginx "$1-master"
    stop_nginx "$1-s1"
    stop_nginx "$1-s2"
}

cluster_up rep
# metric_by NAME BY FILE: the series of NAME with label by="BY"
metric_by() {
    awk -v m="$1" -v b="by=\"$2\"" 'index($1, m "{") == 1 && index($1, b) {t += $2} END {printf "%d", t}' "$OUT/$3.metrics"
}
# metric NAME: the master's /metrics value NAME, summed over its series
metric() {
    awk -v m="$1" '$1 == m || index($1, m "{") == 1 {t += $2} END {printf "%d", t}' "$OUT/$2.metrics"
}
declare -A SYNC_SECS SYNC_LAST
curl -s -m 5 "http://127.0.0.1:$RM/metrics" >"$OUT/rep-wc0.metrics"
for wc in 1 2 3; do
    post_case "rep-wc$wc" "http://127.0.0.1:$RM/messages?wc=$wc"
    client_case "rep-wc$wc-c" -m http -p "$RM" -u "/messages?wc=$wc"
    SYNC_SECS[$wc]=$(sync_wait "$RM" 2 60)
    SYNC_LAST[$wc]=$(last_id "$RM")
    curl -s -m 5 "http://127.0.0.1:$RM/metrics" >"$OUT/rep-wc$wc.metrics"
    echo "== wc=$wc: both secondaries at the master's last_id ${SYNC_LAST[$wc]} ${SYNC_SECS[$wc]} s after the run"
    check_logs "rep-wc$wc"
done
for p in "$RS1" "$RS2"; do           # what the secondaries themselves show
    got=$(last_id "$p")
    [ "$got" = "${SYNC_LAST[3]}" ] ||
        FAILS+=("secondary on port $p: /health last_id $got, master ${SYNC_LAST[3]}")
done
cluster_down rep
check_logs replication

# 4a. The same cluster with the durable log on every node (path=, fresh
# directories per case): fsync=always with wc=1 and wc=majority,
# fsync=100ms with wc=majority, fsync=off with wc=1, 2, 3.  The fsync=off
# target is a ratio to in-memory twins ("mem": the same fresh cluster
# without path=) run beside them in the order mem off off mem for each wc:
# the in-memory rows above ran minutes earlier on a cluster reused for
# wc=1..3, and on 2 shared cores a ratio to them measured drift as much
# as the writer (0.69x and 1.14x with the same module in two runs).
# bench-client only; every node's /metrics before and after the run give
# its fsyncs per second and messages per fsync.
DUR_CASES=()
DUR_TAGS=()
declare -A DUR_SECS DUR_SYNC DUR_LABEL
# cluster_metrics TAG K: /metrics of the 3 nodes into TAG-NODE-K.metrics
cluster_metrics() {
    local n
    for n in master:$RM s1:$RS1 s2:$RS2; do
        curl -s -m 5 "http://127.0.0.1:${n#*:}/metrics" >"$OUT/$1-${n%%:*}-$2.metrics" || true
    done
}
if [ "$SKIP_DURABLE" != 1 ]; then
    read -ra DUR_CASES <<<"${BENCH_DUR_CASES:-always:1 always:majority 100ms:majority mem:1 off:1 off:1 mem:1 mem:2 off:2 off:2 mem:2 mem:3 off:3 off:3 mem:3}"
    for c in "${DUR_CASES[@]}"; do
        fs=${c%%:*} wc=${c#*:} tag=dur-${c%%:*}-wc${c#*:} label="fsync=${c%%:*} ?wc=${c#*:}"
        [ "$fs" != mem ] || label="in memory ?wc=$wc"
        if [ -n "${DUR_SECS[$tag]:-}" ]; then   # a case's second run
            tag+=-2 label+=" (2nd)"
        fi
        DUR_TAGS+=("$tag")
        DUR_LABEL[$tag]=$label
        [ "$fs" != mem ] || fs=
        cluster_up "$tag" "$fs"
        cluster_metrics "$tag" 0
        t0=$(now_s)
        client_case "$tag-c" -m http -p "$RM" -u "/messages?wc=$wc"
        DUR_SECS[$tag]=$(secs_since "$t0")
        cluster_metrics "$tag" 1
        DUR_SYNC[$tag]=$(sync_wait "$RM" 2 60)
        echo "== $tag: both secondaries at the master's last_id $(last_id "$RM") ${DUR_SYNC[$tag]} s after the run"
        check_logs "$tag"
        cluster_down "$tag"
        rm -rf "$OUT/$tag-master/data" "$OUT/$tag-s1/data" "$OUT/$tag-s2/data"
    done
fi

# 4b. The peer: a Redis master and 2 replicas (loopback, no persistence,
# diskless sync at once), both replicas online first; SET of a unique key
# with a 60-byte value and WAIT 2 0 in one write, from bench-client.
if [ "$SKIP_REDIS" != 1 ]; then
    RP=$((PORT + 8))
    for i in 0 1 2; do
        p=$((RP + i))
        port_free "$p"
        mkdir -p "$OUT/redis-$i"
        args=(--port "$p" --bind 127.0.0.1 --save "" --appendonly no
              --repl-diskless-sync yes --repl-diskless-sync-delay 0
              --dir "$OUT/redis-$i" --logfile "$OUT/redis-$i/redis.log")
        [ "$i" = 0 ] || args+=(--replicaof 127.0.0.1 "$RP")
        redis-server "${args[@]}" >/dev/null 2>&1 &
        REDIS_PID[$i]=$!
        track "$!"
    done
    for _ in $(seq 100); do          # up to 10 s for both to be online
        [ "$(redis-cli -p "$RP" info replication 2>/dev/null | grep -c 'state=online')" = 2 ] && break
        sleep 0.1
    done
    [ "$(redis-cli -p "$RP" info replication 2>/dev/null | grep -c 'state=online')" = 2 ] ||
        die "redis replicas not online: $(redis-cli -p "$RP" info replication 2>&1 | tr '\r\n' '  ')"
    client_case redis-c -m redis -p "$RP" -r 2
    REDIS_KEYS=$(redis-cli -p $((RP + 2)) dbsize 2>/dev/null || echo '?')
    for i in 2 1 0; do
        kill -TERM "${REDIS_PID[$i]}" 2>/dev/null || true
        wait "${REDIS_PID[$i]}" 2>/dev/null || true
        untrack "${REDIS_PID[$i]}"
    done
fi

# 4c. The durable peer: a 3-node etcd cluster (Debian's etcd-server, its
# WAL fsynced on every commit as always) on loopback, data under $OUT on the
# same disk as the replog logs; bench-client puts through the grpc-gateway
# (POST /v3/kv/put, keep-alive) to the leader, so that no put is forwarded.
if [ "$SKIP_ETCD" != 1 ]; then
    EP=$((PORT + 11))               # clients EP..EP+2, peers EP+3..EP+5
    cl=
    for i in 0 1 2; do cl+="${cl:+,}e$i=http://127.0.0.1:$((EP + 3 + i))"; done
    for i in 0 1 2; do
        port_free $((EP + i)); port_free $((EP + 3 + i))
        d=$OUT/etcd-$i
        rm -rf "$d" && mkdir -p "$d"
        etcd --name "e$i" --data-dir "$d/data" \
            --listen-client-urls "http://127.0.0.1:$((EP + i))" \
            --advertise-client-urls "http://127.0.0.1:$((EP + i))" \
            --listen-peer-urls "http://127.0.0.1:$((EP + 3 + i))" \
            --initial-advertise-peer-urls "http://127.0.0.1:$((EP + 3 + i))" \
            --initial-cluster "$cl" --initial-cluster-state new \
            --initial-cluster-token replog-bench >"$d/etcd.log" 2>&1 &
        ETCD_PID[$i]=$!
        track "$!"
    done
    up=0
    for _ in $(seq 200); do          # up to 20 s for the 3 to be healthy
        up=0
        for i in 0 1 2; do
            curl -s -m 1 "http://127.0.0.1:$((EP + i))/health" 2>/dev/null |
                grep -q '"health":"true"' && up=$((up + 1))
        done
        [ "$up" = 3 ] && break
        sleep 0.1
    done
    [ "$up" = 3 ] || die "etcd: $up of 3 members healthy after 20 s (see $OUT/etcd-*/etcd.log)"
    ELP=
    for i in 0 1 2; do
        st=$(curl -s -m 5 -XPOST "http://127.0.0.1:$((EP + i))/v3/maintenance/status" -d '{}' || true)
        me=$(sed -n 's/.*"member_id":"\([0-9]*\)".*/\1/p' <<<"$st")
        [ -z "$me" ] || [ "$me" != "$(sed -n 's/.*"leader":"\([0-9]*\)".*/\1/p' <<<"$st")" ] ||
            ELP=$((EP + i))
    done
    [ -n "$ELP" ] || die "etcd: no member says it is the leader"
    client_case etcd-c -m etcd -p "$ELP"
    # the puts are there: keys from "\0" on, counted (bench keys only)
    ETCD_KEYS=$(curl -s -m 10 -XPOST "http://127.0.0.1:$ELP/v3/kv/range" \
        -d '{"key":"AA==","range_end":"AA==","count_only":true}' |
        sed -n 's/.*"count":"\([0-9]*\)".*/\1/p')
    for i in 2 1 0; do
        kill -TERM "${ETCD_PID[$i]}" 2>/dev/null || true
        wait "${ETCD_PID[$i]}" 2>/dev/null || true
        untrack "${ETCD_PID[$i]}"
    done
    rm -rf "$OUT"/etcd-?/data
fi

# catchup_wait WHAT MASTER_PORT SECONDARY_PORT N: registers the (fresh)
# secondary as s1 and polls every 50 ms until the master lists its acked_id
# at N; sets CATCHUP_SECS.  Bounded: 60 s + 1 s per 10,000 messages.
catchup_wait() {
    local what=$1 mp=$2 sp=$3 n=$4 bound t0 a
    bound=$(( 60 + n / 10000 ))
    t0=$(now_s)
    register "$mp" s1 "$sp"
    while :; do
        a=$(acked "$mp" | head -n 1)
        [ "${a:-0}" -lt "$n" ] || break
        [ "$(secs_since "$t0" | cut -d. -f1)" -lt "$bound" ] ||
            die "$what: acked_id ${a:-none} after $bound s, wanted $n"
        sleep 0.05
    done
    CATCHUP_SECS=$(secs_since "$t0")
    [ "$a" = "$n" ] || FAILS+=("$what: acked_id $a, wanted $n")
    [ "$(last_id "$sp")" = "$n" ] ||
        FAILS+=("$what: secondary /health last_id $(last_id "$sp"), wanted $n")
    echo "== $what: $n messages in $CATCHUP_SECS s ($(rate "$n" "$CATCHUP_SECS") messages/s)"
}

# 5. Catch-up: a master (no secondaries) filled with CATCHUP_N messages, then
# a fresh secondary registers; timed until the master lists its acked_id at
# CATCHUP_N (polled every 50 ms).
# 6. Recovery: that master killed (-9, master and workers) and started again
# on its port with replog_cluster_size 2 and recovery on; the caught-up
# secondary registers with its epoch and acked_id at once; timed from the
# master's start until /health says open with last_id CATCHUP_N.
if [ "$SKIP_CATCHUP" != 1 ]; then
    CM=$((PORT + 6)) CS=$((PORT + 7))
    start_node master cu-master "$CM" REPLOG_ID=master REPLOG_WORKERS=2
    fill "$CM" "$CATCHUP_N" "$CONNS"
    CU_FILL_SECS=$FILL_SECS
    check_logs catchup-fill
    start_node secondary cu-s1 "$CS" REPLOG_ID=s1
    catchup_wait catch-up "$CM" "$CS" "$CATCHUP_N"
    CU_SECS=$CATCHUP_SECS
    check_logs catchup

    epoch=$(health_field "$CS" epoch)
    slast=$(last_id "$CS")
    [ -n "$epoch" ] && [ "$slast" = "$CATCHUP_N" ] ||
        die "recovery: secondary epoch '$epoch', last_id '$slast'"
    kill_node cu-master
    start_node master rec-master "$CM" REPLOG_ID=master REPLOG_WORKERS=2 \
        REPLOG_CLUSTER_SIZE=2 REPLOG_RECOVERY=on
    t0=${START_T[rec-master]}
    REC_UP=$(secs_since "$t0")
    [ "$(health_field "$CM" state)" != open ] ||
        die "recovery: the restarted master is open before any registration"
    register "$CM" s1 "$CS" "$epoch" "$slast"
    REC_REG=$(secs_since "$t0")
    bound=$(( 60 + CATCHUP_N / 10000 ))
    while :; do
        h=$(curl -s -m 5 "http://127.0.0.1:$CM/health")
        st=$(sed -n 's/.*"state":"\([^"]*\)".*/\1/p' <<<"$h")
        l=$(sed -n 's/.*"last_id":\([0-9]*\).*/\1/p' <<<"$h")
        [ "$st" = open ] && [ "$l" = "$CATCHUP_N" ] && break
        [ "$st" != open ] ||
            die "recovery: master open with last_id $l, wanted $CATCHUP_N: $h"
        [ "$(secs_since "$t0" | cut -d. -f1)" -lt "$bound" ] ||
            die "recovery: not open after $bound s: $h"
        sleep 0.05
    done
    REC_SECS=$(secs_since "$t0")
    echo "== recovery: open with $CATCHUP_N messages $REC_SECS s after start ($(rate "$CATCHUP_N" "$REC_SECS") messages/s)"
    # open for writes: the next message continues the recovered ids and
    # reaches the secondary (wc=2)
    code=$(curl -s -m 10 -o "$OUT/rec-post.json" -w '%{http_code}' -XPOST \
        "http://127.0.0.1:$CM/messages?wc=2" -d '{"message":"after recovery"}') || code=000
    [ "$code" = 201 ] && grep -q "\"message_id\":$((CATCHUP_N + 1))[,}]" "$OUT/rec-post.json" ||
        FAILS+=("recovery: POST after open: HTTP $code $(cat "$OUT/rec-post.json")")
    check_logs recovery
    stop_nginx rec-master
    stop_nginx cu-s1
    check_logs catchup-stop
fi

# 7. Replay of a durable log of BENCH_REPLAY_N messages (bench/replay.sh).
if [ "$SKIP_REPLAY" != 1 ]; then
    bg_wait env REPLOG_MODULE="$OUT/replog.so" BENCH_PORT_BASE="$PORT" \
        NGINX_BIN="$NGINX" "$ROOT/bench/replay.sh" >"$OUT/replay.txt" ||
        FAILS+=("replay: bench/replay.sh failed")
    cat "$OUT/replay.txt"
fi

# 8. A log larger than the zone (issue 14): a master alone (2 workers,
# path= fsync=off, POST ?wc=1) takes BENCH_BIG_N messages from bench-client
# -n ($CONNS connections, timed over the whole fill), first with a 4096m
# zone holding the whole log, then, fresh, with a 64m zone.  Of the 64m
# master's log: GET /messages by 4 curls at once (each the whole log) after
# the page cache is dropped (needs root) and again warm, the workers' RSS
# around them; then a fresh in-memory secondary (4096m zone) catching up
# from it.  A fill stopped by an error (a 507 once a zone is full, before
# the zone is the log's tail) is reported with its status and count, and
# the rest runs on the log the master holds.
declare -A BIG_SECS BIG_LAST BIG_ERR BIG_GET BIG_RSS
BIG_CU_SECS= BIG_CU_N=
BM=$((PORT + 17)) BS=$((PORT + 18))
# big_fill NAME ZONE_SIZE: that master, filled; sets BIG_SECS, BIG_LAST and
# BIG_ERR (empty: all BIG_N in) for NAME
big_fill() {
    local name=$1 bound rc=0 st
    rm -rf "${OUT:?}/$name"
    start_node master "$name" "$BM" REPLOG_ID=master REPLOG_WORKERS=2 \
        REPLOG_ZONE_SIZE="$2" DATA_DIR="$OUT/$name/data" FSYNC=off
    bound=$(( 60 + BIG_N / 20000 ))
    echo "== $name: bench-client -c $CONNS -n $BIG_N -d $bound (a bound)"
    bg_wait "$CLIENT" -m http -p "$BM" -c "$CONNS" -n "$BIG_N" -d "$bound" \
        -u '/messages?wc=1' >"$OUT/$name.client" || rc=$?
    cat "$OUT/$name.client"
    BIG_SECS[$name]=$(cfield "$name" secs)
    BIG_LAST[$name]=$(last_id "$BM")
    BIG_ERR[$name]=
    st=$(cfield "$name" first_error)
    if [ -n "$st" ]; then
        BIG_ERR[$name]="$st after ${BIG_LAST[$name]:-?} messages (the first after $(cfield "$name" after) 2xx)"
    elif [ "$rc" != 0 ] || [ "${BIG_LAST[$name]:-0}" != "$BIG_N" ]; then
        BIG_ERR[$name]="last_id ${BIG_LAST[$name]:-?} of $BIG_N after ${BIG_SECS[$name]:-?} s (bench-client exit $rc)"
    fi
    [ -z "${BIG_ERR[$name]}" ] || echo "bench: $name: fill stopped: ${BIG_ERR[$name]}" >&2
    du -sh "$OUT/$name/data" | sed "s/^/== $name: log on disk /"
}
# big_get NAME: 4 curls of the whole log at once; BIG_GET[NAME] "MB/s
# bytes secs", MB = 10^6 bytes
big_get() {
    local name=$1 i t0 secs bytes=0 code size clen pids=()
    t0=$(now_s)
    for i in 1 2 3 4; do
        curl -s -m 600 -o /dev/null \
            -w '%{http_code} %{size_download} %header{content-length}' \
            "http://127.0.0.1:$BM/messages" >"$OUT/$name-$i.curl" &
        pids+=($!)
        track "$!"
    done
    for i in "${pids[@]}"; do wait "$i" || true; untrack "$i"; done
    secs=$(secs_since "$t0")
    for i in 1 2 3 4; do
        read -r code size clen <"$OUT/$name-$i.curl" || true
        [ "$code" = 200 ] && [ -n "$clen" ] && [ "$size" = "$clen" ] ||
            FAILS+=("$name: curl $i: HTTP ${code:-?}, got ${size:-?} of ${clen:-?} bytes")
        bytes=$(( bytes + ${size:-0} ))
    done
    BIG_GET[$name]="$(awk -v b="$bytes" -v s="$secs" 'BEGIN {printf "%.0f", (s > 0) ? b / s / 1e6 : 0}') $bytes $secs"
    echo "== $name: 4 x GET /messages: $bytes bytes in $secs s"
}
# drop_caches: the page cache emptied (root, a writable /proc/sys)
drop_caches() {
    sync
    { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null
}
if [ "$SKIP_BIG" != 1 ]; then
    big_fill big-4096m 4096m
    stop_nginx big-4096m
    check_logs big-4096m
    rm -rf "$OUT/big-4096m/data"

    big_fill big-64m 64m
    check_logs big-64m-fill
    BIG_RSS[0]=$(rss "${NGX_PID[big-64m]}")
    BIG_COLD=dropped
    drop_caches || BIG_COLD="NOT dropped (needs root and a writable /proc/sys/vm/drop_caches)"
    big_get big-get-cold
    BIG_RSS[1]=$(rss "${NGX_PID[big-64m]}")
    big_get big-get-warm
    BIG_RSS[2]=$(rss "${NGX_PID[big-64m]}")
    check_logs big-64m-get

    BIG_CU_N=${BIG_LAST[big-64m]:-0}
    start_node secondary big-s1 "$BS" REPLOG_ID=s1 REPLOG_ZONE_SIZE=4096m
    catchup_wait "big catch-up" "$BM" "$BS" "$BIG_CU_N"
    BIG_CU_SECS=$CATCHUP_SECS
    check_logs big-catchup
    stop_nginx big-64m
    stop_nginx big-s1
    check_logs big-stop
    rm -rf "$OUT/big-64m/data"
fi
LOAD_END=$(uptime)

# 9. Summary.
base=$(reqs base)
ratio() { awk -v a="$(reqs "$1")" -v b="$base" 'BEGIN {printf "%.2fx", a / b}'; }
{
    echo "replog bench: ${SECS}s per run, wrk -t2 -c$CONNS for POST, -t2 -c4 for GET, $(nproc) cores"
    echo "module: $MODULE (sha256 $(sha256sum "$OUT/replog.so" | cut -c1-12))"
    echo "load at start: ${LOAD_START##*load average: }   at end: ${LOAD_END##*load average: }"
    printf '%-28s %12s %10s %10s %8s\n' case req/s p50 p99 ratio
    for c in base post rep-wc1 rep-wc2 rep-wc3 "${GET_CASES[@]}"; do
        case $c in
            base)   label="baseline return 201" ;;
            post)   label="replog POST ?wc=1" ;;
            rep-wc*) label="replicated POST ?wc=${c#rep-wc}" ;;
            *)      label="replog GET ${c#get} log" ;;
        esac
        r=-
        case $c in get*) ;; *) r=$(ratio "$c") ;; esac
        printf '%-28s %12s %10s %10s %8s\n' "$label" "$(reqs "$c")" \
            "$(pct "$c" 50)" "$(pct "$c" 99)" "$r"
    done
    echo
    echo "Same client for every peer (bench/client.c: one epoll loop, $CONNS connections,"
    echo "closed loop, ${WARM} s warm-up, ${SECS} s measured; each op timed from its write"
    echo "to its last reply byte; throughput and percentiles from the same run):"
    printf '%-28s %10s %9s %9s %9s %8s %8s\n' case ops/s p50 p99 p99.9 "vs base" "vs redis"
    cb=$(cfield base-c rate); cr=$(cfield redis-c rate)
    for c in base-c rep-wc1-c rep-wc2-c rep-wc3-c redis-c; do
        [ -f "$OUT/$c.client" ] || continue
        case $c in
            base-c)  label="baseline return 201" ;;
            redis-c) label="redis SET + WAIT 2 0" ;;
            *)       label="replicated POST ?wc=${c//[!0-9]/}" ;;
        esac
        r=$(cfield "$c" rate)
        printf '%-28s %10s %8sms %8sms %8sms %8s %8s\n' "$label" "$r" \
            "$(cfield "$c" p50)" "$(cfield "$c" p99)" "$(cfield "$c" p999)" \
            "$(awk -v a="$r" -v b="$cb" 'BEGIN {if (b > 0) printf "%.2fx", a / b; else print "-"}')" \
            "$(awk -v a="$r" -v b="$cr" 'BEGIN {if (b > 0) printf "%.2fx", a / b; else print "-"}')"
    done
    # the targets of issue 12, from the bench-client rows
    # tgt WHAT VALUE TARGET OP: one target line, kept for the last table
    TGT=()
    tgt() {
        local line
        line=$(awk -v v="$2" -v t="$3" -v op="$4" -v what="$1" 'BEGIN {
            if (v == "") { printf "  %-44s n/a", what; exit }
            ok = (op == "<=") ? (v + 0 <= t + 0) : (v + 0 >= t + 0)
            printf "  %-44s %8s %s %-6s %s", what, v, op, t, ok ? "met" : "MISSED" }')
        echo "$line"
        TGT+=("$line")
    }
    # tgt_note WHAT TEXT: a target line that is no comparison
    tgt_note() {
        local line
        line=$(printf '  %-44s %s' "$1" "$2")
        echo "$line"
        TGT+=("$line")
    }
    ratio_of() {
        awk -v a="$(cfield "$1" rate)" -v b="$(cfield "$2" rate)" \
            'BEGIN {if (a != "" && b > 0) printf "%.2f", a / b}'
    }
    # sum_ratio TAG_A TAG_B: the rates of TAG_A's runs (TAG_A-c and its
    # second run TAG_A-2-c) summed, over TAG_B's; empty if one is missing
    sum_ratio() {
        local t a= b=
        for t in "$1-c" "$1-2-c"; do [ ! -f "$OUT/$t.client" ] || a+=" $(cfield "$t" rate)"; done
        for t in "$2-c" "$2-2-c"; do [ ! -f "$OUT/$t.client" ] || b+=" $(cfield "$t" rate)"; done
        awk -v a="$a" -v b="$b" 'BEGIN {
            na = split(a, x); nb = split(b, y)
            for (i = 1; i <= na; i++) sa += x[i]
            for (i = 1; i <= nb; i++) sb += y[i]
            if (na > 0 && na == nb && sb > 0) printf "%.2f", sa / sb }'
    }
    echo "  targets (issue 12):"
    tgt "wc=2 p99 (ms)" "$(cfield rep-wc2-c p99)" 5 "<="
    tgt "wc=3 p99 (ms)" "$(cfield rep-wc3-c p99)" 5 "<="
    tgt "wc=3 throughput / baseline" "$(ratio_of rep-wc3-c base-c)" 0.5 ">="
    tgt "wc=3 throughput / redis SET + WAIT 2 0" "$(ratio_of rep-wc3-c redis-c)" 1.0 ">="
    [ "$SKIP_REDIS" = 1 ] || echo "  redis: 3 redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'), no persistence; keys on a replica after the run: ${REDIS_KEYS:-?}"
    echo
    echo "Replication: master (2 workers) + 2 secondaries (1 worker each), all"
    echo "registered and HEALTHY first; POSTs as in the rows above."
    for wc in 1 2 3; do
        echo "  after ?wc=$wc: both secondaries at last_id ${SYNC_LAST[$wc]} ${SYNC_SECS[$wc]} s after the run"
        w=()
        for by in ack worker poll; do
            w+=($(( $(metric_by replog_wakeups_total "$by" "rep-wc$wc") - $(metric_by replog_wakeups_total "$by" "rep-wc$((wc - 1))") )))
        done
        echo "    parked clients answered (wrk and bench-client runs): by their own worker's ack ${w[0]}," \
            "by another worker's wake-up ${w[1]}, by the 1 s poll ${w[2]}"
        d=()
        for m in secondary_batches_total secondary_retries_total catchup_entries_total \
                 write_concern_timeouts_total; do
            d+=($(( $(metric "replog_$m" "rep-wc$wc") - $(metric "replog_$m" "rep-wc$((wc - 1))") )))
        done
        echo "    during the run (master /metrics): batches ${d[0]}, retries ${d[1]}," \
            "catch-up entries ${d[2]}, wc timeouts ${d[3]}"
    done
    for n in rep-s1 rep-s2 cu-s1; do
        [ -f "$OUT/$n/error.log" ] || continue
        echo "  $n: $(grep -c 'request body is buffered to a temporary file' "$OUT/$n/error.log" || true)" \
            "POST /replicate bodies buffered to temp files (client_body_buffer_size)"
    done
    if [ "$SKIP_CATCHUP" != 1 ]; then
        echo
        echo "Catch-up of a fresh secondary (zones 4096m), $CATCHUP_N messages:"
        echo "  fill of the master   $CU_FILL_SECS s ($(rate "$CATCHUP_N" "$CU_FILL_SECS") POST/s, wrk -t2 -c$CONNS)"
        echo "  register -> acked_id $CATCHUP_N: $CU_SECS s, $(rate "$CATCHUP_N" "$CU_SECS") messages/s"
        echo
        echo "Recovery (master kill -9, restart with cluster size 2), $CATCHUP_N messages on the secondary:"
        echo "  start -> answering   $REC_UP s"
        echo "  start -> registered  $REC_REG s"
        echo "  start -> open, last_id $CATCHUP_N: $REC_SECS s, $(rate "$CATCHUP_N" "$REC_SECS") messages/s"
    fi
    for c in "${GET_CASES[@]}"; do
        n=$(( ${c//[!0-9]/} * 1000 ))
        read -r size secs clen <<<"${CURL_OUT[$c]}"
        echo
        echo "GET /messages, $n-message log:"
        echo "  messages/s        $(awk -v r="$(reqs "$c")" -v n="$n" 'BEGIN {printf "%.0f", r * n}')"
        echo "  bytes/response    ${clen:-?} (Content-Length, $(( ${clen:-0} / n )) per message)"
        echo "  wrk transfer      $(xfer "$c")/s, $(total "$c") total"
        echo "  single curl       got $size of ${clen:-?} bytes in ${secs}s"
        echo "  worker RSS before ${RSS_BEFORE[$c]}"
        echo "  worker RSS after  ${RSS_AFTER[$c]}"
    done
    if [ ${#GET_CASES[@]} -gt 0 ]; then
        echo
        echo "RSS: sum over the 2 workers; anon = private memory, shmem = pages of"
        echo "the shared log zone the workers have touched (grows with the log)."
    fi
    if [ ${#DUR_CASES[@]} -gt 0 ] || [ -f "$OUT/etcd-c.client" ]; then
        echo
        echo "Durable: the cluster above with path= on its 3 nodes (fresh directories"
        echo "per case), its in-memory twins run beside the fsync=off cases (mem off"
        echo "off mem per wc: the fsync=off target), and the 3-node etcd cluster (puts"
        echo "to its leader), same client:"
        printf '%-28s %10s %9s %9s %9s %8s %8s\n' case ops/s p50 p99 p99.9 "vs base" "vs etcd"
        ce=$(cfield etcd-c rate)
        for c in "${DUR_TAGS[@]}" etcd; do
            if [ "$c" = etcd ]; then
                n=etcd-c label="etcd 3 nodes, kv put"
            else
                n=$c-c label=${DUR_LABEL[$c]}
            fi
            [ -f "$OUT/$n.client" ] || continue
            r=$(cfield "$n" rate)
            printf '%-28s %10s %8sms %8sms %8sms %8s %8s\n' "$label" "$r" \
                "$(cfield "$n" p50)" "$(cfield "$n" p99)" "$(cfield "$n" p999)" \
                "$(awk -v a="$r" -v b="$cb" 'BEGIN {if (b > 0) printf "%.2fx", a / b; else print "-"}')" \
                "$(awk -v a="$r" -v b="$ce" 'BEGIN {if (b > 0) printf "%.2fx", a / b; else print "-"}')"
        done
        [ ! -f "$OUT/etcd-c.client" ] ||
            echo "  etcd: $(etcd --version | sed -n 's/^etcd Version: //p'), WAL fsync per commit; keys after the run: ${ETCD_KEYS:-?}"
        [ ${#DUR_CASES[@]} = 0 ] ||
            echo "  fsyncs per second and messages per fsync over each run (wall s), from /metrics:"
        for tag in "${DUR_TAGS[@]}"; do
            [[ $tag != dur-mem-* ]] || continue
            line=
            for n in master s1 s2; do
                f=$(( $(metric replog_log_fsyncs_total "$tag-$n-1") - $(metric replog_log_fsyncs_total "$tag-$n-0") ))
                e=$(( $(metric replog_log_synced_entries_total "$tag-$n-1") - $(metric replog_log_synced_entries_total "$tag-$n-0") ))
                line+=$(awk -v n="$n" -v f="$f" -v e="$e" -v s="${DUR_SECS[$tag]}" 'BEGIN {
                    if (f > 0) printf "  %s %.0f/s x %.1f", n, f / s, e / f
                    else printf "  %s no fsync", n }')
            done
            printf '    %-24s %5s s%s; in sync %s s after\n' "${DUR_LABEL[$tag]}" \
                "${DUR_SECS[$tag]}" "$line" "${DUR_SYNC[$tag]}"
        done
    fi
    if [ -f "$OUT/replay.txt" ]; then
        echo
        sed 's/^replay of/Replay (bench\/replay.sh) of/' "$OUT/replay.txt"
    fi
    replay_rate=$(sed -n 's/.*replay (as logged): .* = \([0-9]*\) messages\/s.*/\1/p' "$OUT/replay.txt" 2>/dev/null || true)
    echo "  targets (issue 13):"
    tgt "durable wc=majority / baseline" "$(ratio_of dur-always-wcmajority-c base-c)" 0.2 ">="
    tgt "durable wc=majority / etcd (the aim)" "$(ratio_of dur-always-wcmajority-c etcd-c)" 5 ">="
    for wc in 1 2 3; do
        tgt "fsync=off wc=$wc / in memory beside it" "$(sum_ratio "dur-off-wc$wc" "dur-mem-wc$wc")" 0.85 ">="
    done
    for wc in 1 2 3; do                # for reference, drift included
        r=$(ratio_of "dur-off-wc$wc-c" "rep-wc$wc-c")
        [ -z "$r" ] || echo "  (fsync=off wc=$wc, 1st run / the in-memory row above: $r)"
    done
    tgt "replay messages/s" "$replay_rate" 1000000 ">="
    if [ "$SKIP_BIG" != 1 ]; then
        echo
        echo "Log larger than the zone: a master alone (2 workers), path= fsync=off,"
        echo "POST ?wc=1 by bench-client -n $BIG_N -c $CONNS, timed over the whole fill:"
        for z in 4096m 64m; do
            n=big-$z
            if [ -n "${BIG_ERR[$n]}" ]; then
                echo "  zone $z: fill stopped: ${BIG_ERR[$n]} (${BIG_SECS[$n]:-?} s)"
            else
                echo "  zone $z: $BIG_N messages in ${BIG_SECS[$n]} s = $(rate "$BIG_N" "${BIG_SECS[$n]}") messages/s"
            fi
        done
        for g in cold warm; do
            read -r mbs bytes secs <<<"${BIG_GET[big-get-$g]}"
            note=; [ "$g" = warm ] || note=" (page cache $BIG_COLD first)"
            echo "  GET /messages, 64m master's log of ${BIG_LAST[big-64m]:-?} messages, 4 curls at once, $g$note:"
            echo "    $mbs MB/s ($bytes bytes in $secs s)"
        done
        echo "  worker RSS before the GETs ${BIG_RSS[0]}"
        echo "  worker RSS after cold      ${BIG_RSS[1]}"
        echo "  worker RSS after warm      ${BIG_RSS[2]}"
        echo "  fresh in-memory secondary (4096m zone) catching up from it:" \
            "$BIG_CU_N messages in $BIG_CU_SECS s = $(rate "$BIG_CU_N" "$BIG_CU_SECS") messages/s"
        echo "  targets (issue 14):"
        if [ -n "${BIG_ERR[big-64m]}" ]; then
            tgt_note "64m zone fill / 4096m zone fill" "MISSED: ${BIG_ERR[big-64m]}"
        elif [ -n "${BIG_ERR[big-4096m]}" ]; then
            tgt_note "64m zone fill / 4096m zone fill" "n/a: the 4096m fill stopped: ${BIG_ERR[big-4096m]}"
        else
            tgt "64m zone fill / 4096m zone fill" \
                "$(awk -v a="${BIG_SECS[big-4096m]}" -v b="${BIG_SECS[big-64m]}" 'BEGIN {if (b > 0) printf "%.2f", a / b}')" 0.85 ">="
        fi
        read -r mbs _ <<<"${BIG_GET[big-get-cold]}"
        [ "$BIG_COLD" = dropped ] || mbs=
        tgt "GET of the whole log, cold (MB/s)" "$mbs" 200 ">="
        tgt "catch-up from the files (messages/s)" "$(rate "$BIG_CU_N" "$BIG_CU_SECS")" 300000 ">="
        [ -z "${BIG_ERR[big-64m]}" ] ||
            echo "  (the GET and the catch-up above ran on the ${BIG_LAST[big-64m]:-?} messages the 64m master holds)"
    fi
    echo
    echo "Polls every 50 ms (plus a curl each): times are +-0.1 s.  Replication,"
    echo "catch-up and recovery nodes use scripts/render-conf.sh configs; the"
    echo "baseline and the single-master rows use configs of their own."
    echo
    echo "All targets (issues 12, 13, 14; n/a: that case was skipped):"
    printf '%s\n' "${TGT[@]}"
    echo "load at start: ${LOAD_START##*load average: }   at end: ${LOAD_END##*load average: }"
} | tee "$OUT/summary.txt"

if [ ${#FAILS[@]} -gt 0 ]; then
    printf 'bench: FAILED: %s\n' "${FAILS[@]}" | tee -a "$OUT/summary.txt" >&2
    exit 1
fi
