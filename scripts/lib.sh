# Shell shared by scripts/run.sh, bench/run.sh and t/compose/run.sh
# (bash; sourced, never run): starting a node from conf/templates/, waiting
# for a port, finding a free one.  Everything is on 127.0.0.1.

REPLOG_TOP=${REPLOG_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}

# port_in_use PORT: true when something on 127.0.0.1 accepts on PORT
port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port: prints a port from 20000 to 49999 nobody accepts on; fails
# after 50 tries
free_port() {
    local p

    for _ in $(seq 50); do
        p=$((20000 + RANDOM % 30000))
        if ! port_in_use "$p"; then
            echo "$p"
            return 0
        fi
    done

    return 1
}

# wait_port PID PORT SECONDS [PATH]: polls every 20 ms until PORT accepts
# (with PATH: until GET PATH answers there); 1 as soon as process PID is
# gone (a port taken meanwhile, a bad config), 2 after SECONDS
wait_port() {
    local pid=$1 port=$2 path=${4:-} i

    for i in $(seq $(($3 * 50))); do
        kill -0 "$pid" 2>/dev/null || return 1

        if [ -n "$path" ]; then
            curl -s -o /dev/null -m 1 "http://127.0.0.1:$port$path" &&
                return 0
        elif port_in_use "$port"; then
            return 0
        fi

        sleep 0.02
    done

    return 2
}

# node_start ROLE PREFIX [VAR=VALUE...]: renders PREFIX/nginx.conf from
# conf/templates/ (scripts/render-conf.sh, REPLOG_PREFIX=PREFIX and the
# VAR=VALUE given on top of the environment) and starts NGINX_BIN on it as
# a background job in the foreground mode, its error log PREFIX/error.log;
# NODE_PID is its master's pid.  Output goes where the caller's goes.
node_start() {
    local role=$1 prefix=$2
    shift 2

    mkdir -p "$prefix/tmp"
    env REPLOG_PREFIX="$prefix" "$@" "$REPLOG_TOP/scripts/render-conf.sh" \
        "$role" > "$prefix/nginx.conf" || return 1

    "${NGINX_BIN:-/usr/sbin/nginx}" -p "$prefix" -c "$prefix/nginx.conf" \
        -e "$prefix/error.log" -g 'daemon off;' &
    NODE_PID=$!
}
