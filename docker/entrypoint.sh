#!/bin/bash
# Container entrypoint: renders the nginx config for SERVICE_TYPE (master or
# secondary; SERVER_TYPE is an alias) from the environment, runs nginx in
# the foreground and, on a secondary, replog-register --watch beside it.  Stays PID 1 as a small
# supervisor so that docker's SIGTERM reaches both and the container ends
# when nginx does.
#
#   replog-entrypoint              run the node
#   replog-entrypoint healthcheck  exit 0 if the local /healthcheck is 200
#   replog-entrypoint CMD...       run CMD instead (e.g. a shell)

set -u

# SERVICE_TYPE as the original's code reads it, SERVER_TYPE as its README
# named it
if [ -n "${SERVICE_TYPE:-}" ] && [ -n "${SERVER_TYPE:-}" ] \
   && [ "$SERVICE_TYPE" != "$SERVER_TYPE" ]
then
    echo "replog-entrypoint: SERVICE_TYPE=$SERVICE_TYPE and" \
         "SERVER_TYPE=$SERVER_TYPE differ; set one of them" >&2
    exit 64
fi

role=${SERVICE_TYPE:-${SERVER_TYPE:-master}}

case "$role" in
    master)    port=${MASTER_PORT:-8000} ;;
    secondary) port=${SECONDARY_PORT:-8001} ;;
    *) echo "replog-entrypoint: SERVICE_TYPE must be master or secondary," \
            "not \"$role\"" >&2
       exit 64 ;;
esac

if [ "${1:-}" = healthcheck ]; then
    exec curl -fsS -o /dev/null -m 2 "http://127.0.0.1:$port/healthcheck"
fi

if [ $# -gt 0 ]; then
    exec "$@"
fi

export REPLOG_MODULE=/usr/lib/nginx/modules/ngx_http_replog_module.so
export REPLOG_PREFIX=${REPLOG_PREFIX:-/var/lib/replog}
export REPLOG_ERROR_LOG=${REPLOG_ERROR_LOG:-/dev/stderr}
export REPLOG_ACCESS_LOG=${REPLOG_ACCESS_LOG:-/dev/stdout}

# docker sets HOSTNAME to the container id: unique per replica
if [ "$role" = master ]; then
    export REPLOG_ID=${REPLOG_ID:-master}
else
    export REPLOG_ID=${REPLOG_ID:-${HOSTNAME:-$(hostname)}}
fi

# the durable log: DATA_DIR relative to the prefix (the image's default is
# data: /var/lib/replog/data, kept with the container or on a volume
# mounted at /var/lib/replog); empty: memory only
case "${DATA_DIR:-}" in
    ''|/*) ;;
    *) export DATA_DIR=$REPLOG_PREFIX/$DATA_DIR ;;
esac

conf=$REPLOG_PREFIX/nginx.conf
mkdir -p "$REPLOG_PREFIX/tmp"
/etc/replog/render-conf.sh "$role" /etc/replog/templates > "$conf" || exit 1

# -e stderr: messages from before the config is read go to docker's log too
nginx -c "$conf" -e stderr -g 'daemon off;' &
nginx_pid=$!
helper_pid=

if [ "$role" = secondary ]; then
    # the id must match the one nginx was rendered with
    replog-register --id "$REPLOG_ID" --port "$port" --watch "${REPLOG_WATCH:-2}" &
    helper_pid=$!
fi

stopping=
stop() {
    stopping=1
    kill -"$1" "$nginx_pid" 2>/dev/null
    [ -z "$helper_pid" ] || kill -TERM "$helper_pid" 2>/dev/null
}

# TERM/INT (docker stop, ^C): nginx's fast shutdown, since docker kills
# after 10 s anyway; QUIT: nginx's graceful one.  HUP reloads nginx.
trap 'stop TERM' TERM INT
trap 'stop QUIT' QUIT
trap 'kill -HUP "$nginx_pid" 2>/dev/null' HUP

while :; do
    done_pid=
    wait -n -p done_pid
    rc=$?

    if [ -z "${done_pid:-}" ]; then
        # interrupted by a signal (bash unsets done_pid); or no children left
        kill -0 "$nginx_pid" 2>/dev/null || exit "$rc"
        continue
    fi

    if [ "$done_pid" = "$nginx_pid" ]; then
        [ -z "$helper_pid" ] || { kill -TERM "$helper_pid" 2>/dev/null; wait "$helper_pid"; }
        [ -n "$stopping" ] || echo "replog-entrypoint: nginx exited with status $rc" >&2
        exit "$rc"
    fi

    # the helper: 0 is done (registered, no --watch); anything else means this
    # secondary will not be registered, so it stops and the restart policy
    # decides
    helper_pid=
    if [ "$rc" != 0 ] && [ -z "$stopping" ]; then
        echo "replog-entrypoint: replog-register exited with status $rc, stopping" >&2
        stop TERM
        wait "$nginx_pid"
        exit "$rc"
    fi
done
