#!/bin/bash
# End-to-end test of the image and docker-compose.yml: the acceptance-like
# flow against a real stack (master, secondary, delayed-secondary) on its
# own compose project and network, through the master's published port.
# The stack is configured by the project's .env, which begins with the
# original service's .env verbatim (API_TOKEN, MASTER_HOST=http://master,
# SECONDARY_PORT=MASTER_PORT, CONNECTION_TO_MASTER_RETRY_INTERVAL=30, ...):
# only HEALTHCHECK_DELAY and DELAY are shortened here, so that it is quick.
#
#   t/compose/run.sh          (make test-compose)
#
# REPLOG_E2E_RECOVERY=0 skips the checks after the master's restart (its log
# as before, the secondaries level again, the ids going on); the
# re-registration is checked still.  Then `down` (without -v) and `up`, and
# a `restart` of every container, keep the log (.env's DATA_DIR: the
# master's on its named volume, a secondary's in its container).
# REPLOG_E2E_KEEP_IMAGE=1 uses the image as it is, without rebuilding;
# REPLOG_IMAGE names it (default replog:latest).
# Needs docker (compose v2 or docker-compose v1), curl and jq on the host.

set -u

cd "$(dirname "$0")/../.." || exit 1

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

passed=0
failed=0
project=replog-e2e-$$
logdir=$(mktemp -d /tmp/replog-e2e.XXXXXX)

pass() { passed=$((passed + 1)); echo "ok - $*"; }
fail() { failed=$((failed + 1)); echo "not ok - $*"; }
note() { echo "# $*"; }

# Prints the summary as the very last line, whatever happened before.
finish() {
    local rc=$? left
    trap - EXIT INT TERM

    if [ -n "${compose_up:-}" ]; then
        if [ "$failed" -gt 0 ] || [ "$rc" -ne 0 ]; then
            # without the polls' access log lines, which are most of it
            note "logs of $project (tail):"
            dc logs --no-color --tail 300 2>&1 |
                grep -Ev '"GET /(healthcheck|health|secondaries|messages) ' |
                tail -60 | sed 's/^/#   /'
        fi

        timeout 120 "${COMPOSE[@]}" -p "$project" down -v --remove-orphans \
            >"$logdir/down.log" 2>&1 || sed 's/^/#   /' "$logdir/down.log"

        # down must leave nothing of the project behind
        left=$( { docker ps -aq --filter "label=com.docker.compose.project=$project"
                  docker network ls -q --filter "label=com.docker.compose.project=$project"
                  docker volume ls -q --filter "label=com.docker.compose.project=$project"
                } 2>&1 | wc -l)
        if [ "$left" -eq 0 ]; then
            pass "compose down left no containers, networks or volumes"
        else
            fail "compose down left $left containers, networks or volumes of $project"
        fi
    fi

    rm -rf "$logdir"

    [ "$rc" -eq 0 ] || [ "$failed" -gt 0 ] || fail "aborted (status $rc)"
    echo "$passed passed, $failed failed"
    # a bare exit in a trap would return the status from before the trap
    [ "$failed" -eq 0 ] && exit 0
    exit 1
}
trap finish EXIT
trap 'exit 130' INT TERM

# Stops the test: what follows depends on what just failed.
die() { fail "$*"; exit 1; }

for tool in docker curl jq timeout; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed"
done

if docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
    COMPOSE=(docker-compose)
else
    die "neither docker compose nor docker-compose is installed"
fi

dc() { timeout 180 "${COMPOSE[@]}" -p "$project" "$@"; }

# A port nobody listens on, for the master on the host; only on loopback.
port=$(free_port) || die "no free port found"

# the stack's settings come from .env: nothing of them from this shell but
# short delays, so that the run is quick
unset API_TOKEN API_KEY SERVICE_KEY SERVICE_TYPE SERVER_TYPE MASTER_HOST \
    MASTER_PORT SECONDARY_PORT SECONDARY_REMOVAL_DELAY \
    MAX_CONNECTION_TO_MASTER_DELAY CONNECTION_TO_MASTER_RETRY_INTERVAL \
    CONNECTION_TO_MASTER_RETRY_MECHANISM MAX_MESSAGE_POST_RETRY_DELAY \
    MESSAGE_POST_RETRY_INTERVAL MESSAGE_POST_RETRIES_MECHANISM \
    REPLOG_CLUSTER_SIZE REPLOG_RECOVERY DATA_DIR FSYNC
export REPLOG_HOST_PORT=127.0.0.1:$port
export REPLOG_IMAGE=${REPLOG_IMAGE:-replog:latest}
export HEALTHCHECK_DELAY=1
export DELAY=1,2
master=http://127.0.0.1:$port

# the client token of the original's .env: authentication is on
api_key=$(sed -n 's/^API_TOKEN=//p' .env | head -1)
[ -n "$api_key" ] || die ".env has no API_TOKEN"

# --- HTTP helpers ----------------------------------------------------------

# http METHOD PATH [BODY]: sets $status, the body is in $(body); a file per
# process, since a background write runs beside the polls
http() {
    bodyfile=$logdir/body.$BASHPID
    local args=(-sS -m 60 -o "$bodyfile" -w '%{http_code}' -X "$1"
                -H "x-token: $api_key")
    [ $# -lt 3 ] || args+=(-H 'content-type: application/json' --data-binary "$3")
    : > "$bodyfile"
    status=$(curl "${args[@]}" "$master$2" 2>/dev/null) || status=000
}
body() { cat "$bodyfile"; }

# post TEXT WC: 201 expected; the answer in $answer
post() {
    http POST "/messages?wc=$2" "$(jq -cn --arg m "$1" '{message: $m}')"
    answer=$(body)
    [ "$status" = 201 ]
}

# the list as stored: each node names its own holders in registered_to
stored='[.data[] | del(.meta.registered_to)]'
messages() { http GET /messages; body | jq -c "$stored" 2>/dev/null; }
secondaries() { http GET /secondaries; body | jq -c '.data' 2>/dev/null; }
last_id() { messages | jq -r 'last | .meta.message_id // 0' 2>/dev/null; }

# wait_for SECONDS COMMAND...: polls until COMMAND succeeds
wait_for() {
    local until=$((SECONDS + $1))
    shift
    while [ "$SECONDS" -lt "$until" ]; do
        "$@" && return 0
        sleep 0.5
    done
    "$@"
}

healthy_count() {
    [ "$(secondaries | jq '[.[] | select(.status == "HEALTHY")] | length')" = "$1" ]
}

# level ID: the secondary is HEALTHY and has acknowledged the master's last id
level() {
    local last
    last=$(last_id) || return 1
    secondaries | jq -e --arg id "$1" --argjson last "${last:-0}" \
        'any(.[]; .id == $id and .status == "HEALTHY" and .acked_id == $last)' \
        >/dev/null 2>&1
}

all_level() {
    local last
    last=$(last_id) || return 1
    secondaries | jq -e --argjson n "$1" --argjson last "${last:-0}" \
        '[.[] | select(.status == "HEALTHY" and .acked_id == $last)] | length == $n' \
        >/dev/null 2>&1
}

listed() {
    local s id
    s=$(secondaries) || return 1
    for id in "$@"; do
        jq -e --arg id "$id" 'any(.[]; .id == $id)' <<<"$s" >/dev/null 2>&1 || return 1
    done
}

# a secondary's id is its container's host name (the entrypoint's default)
node_id() {
    docker inspect -f '{{.Config.Hostname}}' "$(dc ps -q "$1" | sed -n "${2:-1}p")"
}

# the log as a secondary holds it, read inside its container
node_messages() {
    # shellcheck disable=SC2016
    dc exec -T --index "${2:-1}" "$1" sh -c \
        'curl -sS -m 10 -H "x-token: $API_TOKEN" "http://127.0.0.1:$SECONDARY_PORT/messages"' |
        jq -c "$stored" 2>/dev/null
}

# --- image -----------------------------------------------------------------

if [ "${REPLOG_E2E_KEEP_IMAGE:-0}" = 1 ] && docker image inspect "$REPLOG_IMAGE" >/dev/null 2>&1; then
    note "using $REPLOG_IMAGE as it is"
else
    t0=$SECONDS
    timeout 1500 docker/build-image.sh "$REPLOG_IMAGE" -- -q >"$logdir/build.log" 2>&1 || {
        sed 's/^/#   /' "$logdir/build.log" | tail -30
        die "docker/build-image.sh (base image and $REPLOG_IMAGE)"
    }
    pass "image $REPLOG_IMAGE built ($((SECONDS - t0)) s)"
fi

# --- the stack -------------------------------------------------------------

compose_up=1
dc up -d --no-build >"$logdir/up.log" 2>&1 || {
    sed 's/^/#   /' "$logdir/up.log"
    die "compose up"
}
pass "compose up ($project, master on $master)"

wait_for 30 eval '[ "$(curl -s -m 2 "$master/healthcheck")" = HEALTHY ]' \
    && pass "master /healthcheck answers HEALTHY without a token" \
    || die "master /healthcheck"

# a secondary's container has the original's variables only: .env's
# API_TOKEN and MASTER_HOST=http://master, compose's SERVICE_TYPE
# shellcheck disable=SC2016
env_of_secondary=$(dc exec -T secondary sh -c \
    'echo "$SERVICE_TYPE|${SERVER_TYPE-unset}|$MASTER_HOST|$SECONDARY_PORT|${API_KEY:-none}|$API_TOKEN"')
[ "$env_of_secondary" = "secondary|unset|http://master|8000|none|$api_key" ] \
    && pass "the secondary is configured by SERVICE_TYPE, MASTER_HOST=http://master, API_TOKEN" \
    || fail "the secondary's environment: $env_of_secondary"

# the original's CONNECTION_TO_MASTER_RETRY_INTERVAL=30: a secondary that
# came up before the master would register at its second attempt
wait_for 75 healthy_count 2 \
    && pass "/secondaries lists 2 HEALTHY secondaries, registered with auth on" \
    || die "the secondaries did not register: $(secondaries)"

status=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$master/messages")
[ "$status" = 403 ] \
    && pass "GET /messages without x-token is refused (403)" \
    || fail "GET /messages without x-token answered $status"

status=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST \
    -H 'content-type: application/json' -d '{"message":"x"}' "$master/messages")
[ "$status" = 403 ] \
    && pass "POST /messages without x-token is refused (403)" \
    || fail "POST /messages without x-token answered $status"

post Msg1 1 && pass "Msg1 wc=1: 201" || fail "Msg1 wc=1: $status $answer"
post Msg2 2 && pass "Msg2 wc=2: 201" || fail "Msg2 wc=2: $status $answer"
if post Msg3 3 \
    && [ "$(jq '.meta.registered_to | length' <<<"$answer")" = 3 ]; then
    pass "Msg3 wc=3: 201, on the master and both secondaries"
else
    fail "Msg3 wc=3: $status $answer"
fi

# --- a secondary stops and comes back --------------------------------------

sid=$(node_id secondary)
dc stop secondary >"$logdir/stop.log" 2>&1 \
    && pass "compose stop secondary ($sid)" || fail "compose stop secondary"

post "Msg4 while $sid is down" 1 \
    && pass "Msg4 wc=1 while a secondary is down: 201" \
    || fail "Msg4 wc=1: $status $answer"

dc start secondary >"$logdir/start.log" 2>&1 \
    && pass "compose start secondary" || fail "compose start secondary"

wait_for 60 level "$sid" \
    && pass "the restarted secondary is HEALTHY and level (acked_id $(last_id))" \
    || fail "the restarted secondary is not level: $(secondaries)"

want=$(messages)
[ -n "$want" ] && [ "$(node_messages secondary)" = "$want" ] \
    && pass "its GET /messages equals the master's" \
    || fail "its GET /messages differs: $(node_messages secondary) vs $want"

# --- scaling in while a wc=all write waits ---------------------------------

(
    post "Msg5 wc=all" all
    echo "$status" > "$logdir/msg5.status"
) &
post_pid=$!
sleep 0.5

dc up -d --no-build --scale delayed-secondary=2 >"$logdir/scale.log" 2>&1 \
    && pass "compose up --scale delayed-secondary=2" \
    || fail "compose up --scale: $(tail -5 "$logdir/scale.log")"

wait "$post_pid"
msg5=$(cat "$logdir/msg5.status" 2>/dev/null)
if [ "$msg5" = 201 ]; then
    pass "Msg5 wc=all: 201"
else
    note "Msg5 wc=all answered ${msg5:-nothing} (the new secondary came late): checked below"
fi

wait_for 90 all_level 3 \
    && pass "3 secondaries HEALTHY and level, the new one caught up" \
    || fail "not all 3 secondaries are level: $(secondaries)"

want=$(messages)
[ -n "$want" ] && [ "$(node_messages delayed-secondary 2)" = "$want" ] \
    && pass "the new delayed-secondary's GET /messages equals the master's" \
    || fail "the new delayed-secondary's log differs: $(node_messages delayed-secondary 2)"

# --- the master restarts ---------------------------------------------------

before=$(messages)
ids=$(secondaries | jq -r '.[].id' 2>/dev/null)
# shellcheck disable=SC2086
set -- $ids

dc restart master >"$logdir/restart.log" 2>&1 \
    && pass "compose restart master" || fail "compose restart master"

wait_for 30 eval '[ "$(curl -s -m 2 "$master/healthcheck")" = HEALTHY ]' \
    && pass "the restarted master answers /healthcheck" \
    || fail "the restarted master does not answer /healthcheck"

wait_for 60 listed "$@" \
    && pass "all $# secondaries registered again by themselves" \
    || fail "the secondaries did not register again: $(secondaries)"

if [ "${REPLOG_E2E_RECOVERY:-1}" = 0 ]; then
    note "skipped: the master's log recovered after its restart (REPLOG_E2E_RECOVERY=0)"
else
    # 503 "recovering" until it has the log back
    wait_for 60 eval '[ "$(messages)" = "$before" ]' \
        && pass "the master's GET /messages equals the one before the restart" \
        || { http GET /messages
             fail "the master's log after the restart: $status $(body), before: $before"; }

    wait_for 60 all_level $# \
        && pass "all secondaries HEALTHY and level after the restart" \
        || fail "after the restart: $(secondaries)"

    next=$(( $(jq 'length' <<<"$before") + 1 ))
    if post "Msg$next after the restart" all \
        && [ "$(jq '.meta.message_id' <<<"$answer")" = "$next" ]; then
        pass "Msg$next wc=all after the restart: 201, the ids go on"
    else
        fail "Msg$next wc=all after the restart: $status $answer"
    fi
fi

# --- down and up, restart of the stack: the log is kept -------------------

# the master's log is on its named volume: a down without -v keeps it, and
# the new secondaries (their logs went with their containers) are caught up
before=$(messages)
count=$(jq 'length' <<<"$before")

dc down >"$logdir/down1.log" 2>&1 \
    && pass "compose down (without -v)" \
    || fail "compose down: $(tail -5 "$logdir/down1.log")"

vols=$(docker volume ls -q --filter "label=com.docker.compose.project=$project")
[ -n "$vols" ] \
    && pass "the master's volume is left by down: $vols" \
    || fail "down left no volume of $project"

dc up -d --no-build >"$logdir/up2.log" 2>&1 || {
    sed 's/^/#   /' "$logdir/up2.log"
    die "compose up after down"
}
pass "compose up after down"

wait_for 30 eval '[ "$(curl -s -m 2 "$master/healthcheck")" = HEALTHY ]' \
    || die "the master does not answer /healthcheck after down and up"

wait_for 30 eval '[ "$(messages)" = "$before" ]' \
    && pass "after down and up the master's GET /messages is the one before ($count messages)" \
    || { http GET /messages
         fail "after down and up the master's log: $status $(body), before: $before"; }

# the original's CONNECTION_TO_MASTER_RETRY_INTERVAL=30, as at the first up
wait_for 75 all_level 2 \
    && pass "the 2 new secondaries registered and are level" \
    || fail "after down and up: $(secondaries)"

[ "$(node_messages secondary)" = "$before" ] \
    && pass "the new secondary's GET /messages equals the master's" \
    || fail "the new secondary's log: $(node_messages secondary)"

next=$((count + 1))
if post "Msg$next after down and up" all \
    && [ "$(jq '.meta.message_id' <<<"$answer")" = "$next" ]; then
    pass "Msg$next wc=all after down and up: 201, the ids go on"
else
    fail "Msg$next wc=all after down and up: $status $answer"
fi

# restart of every container: each node replays its own log
before=$(messages)
count=$(jq 'length' <<<"$before")

dc restart >"$logdir/restart2.log" 2>&1 \
    && pass "compose restart (every container)" \
    || fail "compose restart: $(tail -5 "$logdir/restart2.log")"

wait_for 30 eval '[ "$(messages)" = "$before" ]' \
    && pass "after compose restart the master's GET /messages is the one before ($count messages)" \
    || fail "after compose restart the master's log: $(messages), before: $before"

for svc in secondary delayed-secondary; do
    docker logs "$(dc ps -q "$svc")" 2>&1 |
        grep -q "replog_zone \"log\": $count messages replayed" \
        && pass "$svc replayed its own $count messages at its restart" \
        || fail "$svc did not replay its $count messages: $(docker logs --tail 5 "$(dc ps -q "$svc")" 2>&1)"
done

wait_for 75 all_level 2 \
    && pass "both secondaries registered again and are level" \
    || fail "after compose restart: $(secondaries)"

exit 0
