#!/usr/bin/env bash
# Replay of the durable log: a master with path= (fsync=off for the fill)
# takes BENCH_REPLAY_N messages (1,000,000) from bench-client, is stopped,
# and is started again with the page cache warm; the replay time is the
# one the master logs ("N messages replayed from DIR in T ms", measured
# around the reads and the copies into the zone), and start-to-open is
# from the exec of nginx to its first /health answer saying "open".
# Env: BENCH_REPLAY_N, BENCH_PORT_BASE (18080, uses the port + 20),
#      NGINX_BIN, REPLOG_MODULE.  Output: build/bench-replay/summary.txt.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NGINX=${NGINX_BIN:-/usr/sbin/nginx}
MODULE=${REPLOG_MODULE:-$ROOT/build/ngx_http_replog_module.so}
N=${BENCH_REPLAY_N:-1000000}
PORT=$(( ${BENCH_PORT_BASE:-18080} + 20 ))
OUT=$ROOT/build/bench-replay
CLIENT=$ROOT/build/bench-client

die() { echo "bench-replay: $*" >&2; exit 1; }
[ -f "$MODULE" ] || die "$MODULE not built: run 'make module'"
if [ ! -x "$CLIENT" ] || [ "$ROOT/bench/client.c" -nt "$CLIENT" ]; then
    "${CC:-cc}" -O2 -Wall -Wextra -Werror -o "$CLIENT" "$ROOT/bench/client.c"
fi

rm -rf "$OUT"
mkdir -p "$OUT/logs"

cat > "$OUT/nginx.conf" <<CONF
load_module $MODULE;
worker_processes 2;
error_log $OUT/logs/error.log notice;
pid $OUT/logs/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $OUT/logs;
    replog_zone log 1024m path=$OUT/data fsync=off;
    server {
        listen 127.0.0.1:$PORT;
        replog_node zone=log role=master id=bench;
        replog_recovery off;
        location / { replog_api; }
    }
}
CONF

# what the master logs before its error_log is open goes to stderr
start() { "$NGINX" -p "$OUT" -c "$OUT/nginx.conf" 2>> "$OUT/logs/start.log"; }
stop() {
    kill -QUIT "$(cat "$OUT/logs/nginx.pid")"
    while [ -e "$OUT/logs/nginx.pid" ]; do sleep 0.05; done
}
last_id() {
    curl -s "http://127.0.0.1:$PORT/health" |
        sed -n 's/.*"last_id":\([0-9]*\).*/\1/p'
}

start
until curl -sf "http://127.0.0.1:$PORT/healthcheck" >/dev/null; do
    sleep 0.05
done

# fill: bench-client runs by time, so in rounds until N are in
while [ "$(last_id)" -lt "$N" ]; do
    "$CLIENT" -m http -p "$PORT" -c 64 -d 3 -w 0 -u '/messages?wc=1' \
        >> "$OUT/fill.txt"
done
have=$(last_id)
stop

# the page cache warm: the files read once
cat "$OUT"/data/*.seg > /dev/null

t0=$(date +%s%N)
start
until curl -s "http://127.0.0.1:$PORT/health" | grep -q '"state":"open"'; do
    sleep 0.001
done
t1=$(date +%s%N)
stop

line=$(grep -o 'messages replayed from .* in [0-9]* ms' "$OUT/logs/start.log" |
       tail -1)
ms=$(echo "$line" | sed 's/.* in \([0-9]*\) ms/\1/')
open_ms=$(( (t1 - t0) / 1000000 ))
bytes=$(du -cb "$OUT"/data/*.seg | tail -1 | cut -f1)

{
    echo "replay of $have messages ($(ls "$OUT"/data/*.seg | wc -l) segments, preallocated $bytes bytes)"
    echo "  replay (as logged):  $ms ms = $(( have * 1000 / (ms > 0 ? ms : 1) )) messages/s"
    echo "  start to open:       $open_ms ms = $(( have * 1000 / (open_ms > 0 ? open_ms : 1) )) messages/s"
} | tee "$OUT/summary.txt"
