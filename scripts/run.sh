#!/bin/bash
# `make run`: a local master and SECONDARIES secondaries (plus
# DELAYED_SECONDARIES slow ones, none by default), each its own nginx
# process with a config rendered from conf/templates/, each secondary
# registered by replog-register in watch mode.  Foreground; Ctrl-C or
# SIGTERM stops everything it started.  Each node keeps its log in its own
# DATA_DIR (default data, under RUN_DIR/NODE), so the next run has it.
#
# Settings: ENV_FILE (default .env: the original service's file, then
# replog's own variables), overridden by the shell's environment.

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
env_file=${ENV_FILE:-$top/.env}

# shellcheck source=scripts/lib.sh
. "$top/scripts/lib.sh"

# NAME=VALUE lines, as docker compose reads them; a variable the shell
# already has wins, as with compose
load_env() {
    local line name value

    while IFS= read -r line || [ -n "$line" ]; do
        line=${line%$'\r'}
        case "$line" in
            ''|'#'*) continue ;;
        esac

        name=${line%%=*}
        value=${line#*=}

        if [[ ! $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || [ "$name" = "$line" ]
        then
            echo "run: $1: not NAME=VALUE: $line" >&2
            exit 1
        fi

        case "$value" in
            \"*\") value=${value:1:${#value}-2} ;;
            \'*\') value=${value:1:${#value}-2} ;;
        esac

        [ -n "${!name+set}" ] || export "$name=$value"
    done < "$1"
}

# replog's own count of nodes, not the compose stack's REPLOG_CLUSTER_SIZE
cluster_size=${REPLOG_CLUSTER_SIZE:-}

if [ -f "$env_file" ]; then
    load_env "$env_file"
fi

# the local run has its own hosts, and delays only where asked
export MASTER_HOST=127.0.0.1
: "${MASTER_PORT:=8000}"
: "${SECONDARY_PORT:=8001}"
: "${SECONDARIES:=2}"
: "${DELAYED_SECONDARIES:=0}"
: "${RUN_DIR:=$top/build/run}"
: "${NGINX_BIN:=/usr/sbin/nginx}"
: "${REPLOG_WORKERS:=2}"
: "${REPLOG_ZONE_SIZE:=256m}"
: "${REPLOG_MODULE:=$top/build/ngx_http_replog_module.so}"
# set but empty: memory only
: "${DATA_DIR=data}"
: "${FSYNC:=always}"
delay=${DELAY:-10,40}
unset DELAY
export MASTER_PORT REPLOG_WORKERS REPLOG_ZONE_SIZE REPLOG_MODULE FSYNC
export REPLOG_LISTEN=127.0.0.1
export REPLOG_CLUSTER_SIZE=${cluster_size:-$((SECONDARIES
                                               + DELAYED_SECONDARIES + 1))}

for v in MASTER_PORT SECONDARY_PORT SECONDARIES DELAYED_SECONDARIES; do
    if [[ ! ${!v} =~ ^[0-9]+$ ]]; then
        echo "run: $v must be a number, not \"${!v}\"" >&2
        exit 1
    fi
done

# The original's .env has SECONDARY_PORT=MASTER_PORT, one address per
# container.  Here all nodes share 127.0.0.1: the secondaries take the
# ports after the master's.
nodes=$((SECONDARIES + DELAYED_SECONDARIES))
first=$SECONDARY_PORT

if [ "$first" -le "$MASTER_PORT" ] \
   && [ $((first + nodes)) -gt "$MASTER_PORT" ]
then
    first=$((MASTER_PORT + 1))
    echo "run: SECONDARY_PORT=$SECONDARY_PORT overlaps" \
         "MASTER_PORT=$MASTER_PORT on one host: the secondaries take" \
         "ports $first..$((first + nodes - 1))" >&2
fi

if [ $((first + nodes - 1)) -gt 65535 ]; then
    echo "run: no room for $nodes secondaries from port $first" >&2
    exit 1
fi

# a port someone answers on: the node would not get it
for port in "$MASTER_PORT" $(seq "$first" $((first + nodes - 1))); do
    if port_in_use "$port"; then
        echo "run: port $port on 127.0.0.1 is already in use; not starting" \
             "(free it, or set MASTER_PORT / SECONDARY_PORT)" >&2
        exit 1
    fi
done

mkdir -p "$RUN_DIR"
RUN_DIR=$(cd "$RUN_DIR" && pwd)

# a node's log directory: DATA_DIR under the node's own directory, or
# DATA_DIR/NODE when DATA_DIR is absolute; nodes never share one
data_dir() {    # name
    case "$DATA_DIR" in
        '') ;;
        /*) echo "${DATA_DIR%/}/$1" ;;
        *)  echo "$RUN_DIR/$1/$DATA_DIR" ;;
    esac
}

pids=()
kept=0

stop() {
    trap - INT TERM EXIT
    echo "run: stopping" >&2
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    exit "${1:-0}"
}

trap stop INT TERM EXIT

# waits until the node's nginx accepts connections; stops everything if it
# exits first (a port taken meanwhile, a bad config)
wait_node() {    # name port pid
    local rc=0

    wait_port "$3" "$2" 5 || rc=$?

    if [ "$rc" = 1 ]; then
        echo "run: $1 did not start on port $2:" >&2
        tail -3 "$RUN_DIR/$1/error.log" >&2 2>/dev/null || true
        stop 1
    elif [ "$rc" != 0 ]; then
        echo "run: $1 does not answer on port $2 after 5 s" >&2
        stop 1
    fi
}

start_node() {    # role name port [DELAY]
    local data

    data=$(data_dir "$2")
    if [ -n "$data" ]; then
        [ ! -e "$data/meta" ] || kept=$((kept + 1))
    fi

    mkdir -p "$RUN_DIR/$2"
    : > "$RUN_DIR/$2/error.log"
    node_start "$1" "$RUN_DIR/$2" REPLOG_ID="$2" SECONDARY_PORT="$3" \
        DELAY="${4:-}" DATA_DIR="$data" || stop 1
    pids+=("$NODE_PID")
}

start_secondary() {    # name port [DELAY]
    start_node secondary "$1" "$2" "${3:-}"

    # its id and port; the wait for its own nginx is short, the retries
    # towards the master follow CONNECTION_TO_MASTER_*
    HOSTNAME=$1 SECONDARY_PORT=$2 \
        "$top/build/replog-register" --watch 2 -q \
        >> "$RUN_DIR/$1/register.log" 2>&1 &
    pids+=($!)
}

# the master first: the helpers then register at their first attempt
start_node master master "$MASTER_PORT"
wait_node master "$MASTER_PORT" "${pids[-1]}"

port=$first
names=()

for i in $(seq 1 "$SECONDARIES"); do
    start_secondary "secondary-$i" "$port"
    names+=("secondary-$i:$port:${pids[-2]}")
    port=$((port + 1))
done

for i in $(seq 1 "$DELAYED_SECONDARIES"); do
    start_secondary "delayed-secondary-$i" "$port" "$delay"
    names+=("delayed-secondary-$i:$port:${pids[-2]}")
    port=$((port + 1))
done

for n in "${names[@]}"; do
    IFS=: read -r name port pid <<<"$n"
    wait_node "$name" "$port" "$pid"
done

# the token is not printed: the hint names the variable that holds it
auth=
if [ -n "${API_TOKEN:-}" ]; then
    auth=' -H "x-token: $API_TOKEN"'
elif [ -n "${API_KEY:-}" ]; then
    auth=' -H "x-token: $API_KEY"'
fi

delayed=
if [ "$DELAYED_SECONDARIES" -gt 0 ]; then
    delayed=", the last $DELAYED_SECONDARIES delayed by $delay s"
fi

if [ -n "$DATA_DIR" ]; then
    if [ "$kept" -gt 0 ]; then
        data="kept: $kept of $((nodes + 1)) nodes have a log from an earlier run, replayed"
    else
        data="new: no node had a log yet"
    fi
    data="run: data         $(data_dir '<node>')  ($data, FSYNC=$FSYNC)
run: start empty  stop, then rm -rf $(data_dir '*')
run:              (or DATA_DIR= make run: memory only)"
else
    data="run: data         in memory only (DATA_DIR is empty): lost when it stops"
fi

cat >&2 <<INFO
run: master       http://127.0.0.1:$MASTER_PORT  ($RUN_DIR/master)
run: secondaries  $nodes on ports $first..$((first + nodes - 1))$delayed  ($RUN_DIR/*secondary-N)
$data
run: try  curl -s -XPOST '127.0.0.1:$MASTER_PORT/messages?wc=$((SECONDARIES + 1))'$auth -d '{"message":"hi"}'
run: Ctrl-C stops everything
INFO

wait
