#!/bin/sh
# The OpenAPI document's test (make test-openapi): validates api/openapi.json,
# starts a master and a secondary (two nginx processes on loopback), checks
# what /openapi.json and /docs serve, then drives each node from the
# document with schemathesis, bounded in examples and time.  Stops
# everything it started and ends with "openapi: N passed, M failed".
#
# Environment: OPENAPI_PORT (first of two ports; default: two free ones),
# OPENAPI_MODULE (the .so), OPENAPI_LD_PRELOAD (e.g. the ASan runtime),
# OPENAPI_EXAMPLES (per operation, 100), OPENAPI_TIME (seconds per node,
# 60), OPENAPI_DOC (the document schemathesis reads; default: api/'s),
# OPENAPI_CHECKS (schemathesis' checks; default: no 500, status code,
# content type, response schema and headers conformance),
# NGINX (/usr/sbin/nginx), PYTHON (/usr/bin/python3).

set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
build=$top/build
venv=$build/venv
dir=$build/openapi
doc=$top/api/openapi.json
html=$top/api/docs.html
req=$top/t/openapi/requirements.txt
pins=$top/t/openapi/constraints.txt

: "${NGINX:=/usr/sbin/nginx}"
: "${PYTHON:=/usr/bin/python3}"
: "${OPENAPI_MODULE:=$build/ngx_http_replog_module.so}"
: "${OPENAPI_LD_PRELOAD:=}"
: "${OPENAPI_EXAMPLES:=100}"
: "${OPENAPI_TIME:=60}"

token=openapi-test-token
passed=0
failed=0

say() { echo "openapi: $*"; }

# the processes of one node: its nginx master and that one's children
pids() {
    pid=$(cat "$dir/$1/nginx.pid" 2>/dev/null) || return 0
    echo "$pid" $(pgrep -P "$pid")
}

finish() {
    for node in master secondary; do
        # shellcheck disable=SC2046
        kill -CONT $(pids "$node") 2>/dev/null
        pid=$(cat "$dir/$node/nginx.pid" 2>/dev/null) || continue
        kill -QUIT "$pid" 2>/dev/null
        i=0
        while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        kill -KILL "$pid" 2>/dev/null
    done

    # a sanitizer report or a crashed worker fails the run
    if cat "$dir"/*/error.log 2>/dev/null \
        | grep -E 'ERROR: AddressSanitizer|runtime error:|exited on signal' \
        > "$dir/crashes.txt"
    then
        say "not ok - a worker crashed or a sanitizer reported:" \
            "$dir/crashes.txt"
        failed=$((failed + 1))
    fi

    say "$passed passed, $failed failed"
    [ "$failed" = 0 ]
}

count() {
    # "ok - ..." / "not ok - ..." lines of check.py
    passed=$((passed + $(grep -c '^openapi: ok - ' "$1")))
    failed=$((failed + $(grep -c '^openapi: not ok - ' "$1")))
}

if [ ! -f "$OPENAPI_MODULE" ] || [ ! -x "$build/replog-register" ]; then
    say "no module at $OPENAPI_MODULE or no helper in $build (make module helper)"
    exit 1
fi

# the tools, in a venv made once per requirements file

stamp="$(cat "$req" "$pins" | cksum)"
if [ "$(cat "$venv/.replog-stamp" 2>/dev/null)" != "$stamp" ]; then
    say "installing $(grep -v '^#' "$req" | tr '\n' ' ')into $venv"
    rm -rf "$venv"
    "$PYTHON" -m venv "$venv" \
        && "$venv/bin/pip" install -q --disable-pip-version-check \
               -r "$req" -c "$pins" \
        || { say "could not make the venv"; exit 1; }
    echo "$stamp" > "$venv/.replog-stamp"
fi

rm -rf "$dir"
mkdir -p "$dir"
say "module $OPENAPI_MODULE${OPENAPI_LD_PRELOAD:+, preloading $OPENAPI_LD_PRELOAD}"
trap 'finish; exit $?' EXIT
trap 'exit 1' INT TERM

"$venv/bin/python" "$top/t/openapi/check.py" validate "$doc" "$html" \
    | sed 's/^/openapi: /' | tee "$dir/validate.txt"
count "$dir/validate.txt"

# two free loopback ports, or the ones asked for

if [ -n "${OPENAPI_PORT:-}" ]; then
    mport=$OPENAPI_PORT
    sport=$((OPENAPI_PORT + 1))
else
    set -- $("$venv/bin/python" -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
    mport=$1
    sport=$2
fi

conf() {
    # conf NODE PORT ROLE EXTRA
    mkdir -p "$dir/$1/tmp"
    cat > "$dir/$1/nginx.conf" <<END
load_module $OPENAPI_MODULE;
worker_processes 2;
pid $dir/$1/nginx.pid;
error_log $dir/$1/error.log notice;
events { worker_connections 512; }
http {
    access_log $dir/$1/access.log;
    client_body_temp_path $dir/$1/tmp;
    replog_zone log 32m;
    server {
        listen 127.0.0.1:$2;
        replog_node zone=log role=$3 id=openapi-$1;
        replog_api_key $token;
        $4
        location / { replog_api; }
    }
}
END
}

# waits bounded like the write concern's: a tailer parks 300 ms at most
conf master "$mport" master "replog_write_concern default=majority timeout=2s;
        replog_healthcheck interval=1s timeout=1s;
        replog_tail_max_wait 300ms;"
conf secondary "$sport" secondary "replog_tail_max_wait 300ms;"

for node in master secondary; do
    if ! LD_PRELOAD="$OPENAPI_LD_PRELOAD" "$NGINX" -p "$dir/$node" \
        -c "$dir/$node/nginx.conf" -e "$dir/$node/error.log" \
        2> "$dir/$node/start.log"
    then
        say "not ok - the $node did not start: $(tail -1 "$dir/$node/start.log")"
        failed=$((failed + 1))
        exit 1
    fi
done

master=http://127.0.0.1:$mport
secondary=http://127.0.0.1:$sport

if ! "$build/replog-register" --master "$master" --id openapi-secondary \
    --port "$sport" --token "$token" --retry-interval 0.2 --timeout 20 -q \
    > "$dir/register.log" 2>&1
then
    say "not ok - the secondary did not register: $(tail -1 "$dir/register.log")"
    failed=$((failed + 1))
    exit 1
fi

# a few messages, so that lists have items to check against their schema

for i in 1 2 3; do
    curl -s -o /dev/null -H "x-token: $token" -XPOST \
        "$master/messages?wc=all&timeout=2000" -d "{\"message\":\"m$i\"}"
done

for node in master secondary; do
    eval url=\$$node
    "$venv/bin/python" "$top/t/openapi/check.py" serve "$url" "$doc" "$token" \
        | sed "s/^ok - /ok - $node: /; s/^not ok - /not ok - $node: /" \
        | sed 's/^/openapi: /' | tee "$dir/serve-$node.txt"
    count "$dir/serve-$node.txt"
done

# schemathesis against each node: one result per operation

checks=not_a_server_error,status_code_conformance,content_type_conformance
checks=$checks,response_schema_conformance,response_headers_conformance
checks=${OPENAPI_CHECKS:-$checks}

for node in master secondary; do
    eval url=\$$node
    say "schemathesis: $node at $url ($OPENAPI_EXAMPLES examples" \
        "per operation, at most ${OPENAPI_TIME}s)"

    (cd "$dir" && timeout -k 5 "$OPENAPI_TIME" "$venv/bin/schemathesis" \
        --config-file "$top/t/openapi/schemathesis.toml" --no-color \
        run "${OPENAPI_DOC:-$doc}" --url "$url" -H "x-token: $token" \
        --checks "$checks" --phases examples,coverage,fuzzing \
        --max-examples "$OPENAPI_EXAMPLES" --seed 1 --workers 1 \
        --max-response-time 5 --request-timeout 10 \
        --generation-database none \
        --report junit --report-junit-path "$dir/schemathesis-$node.xml" \
        > "$dir/schemathesis-$node.txt" 2>&1)
    rc=$?

    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        say "not ok - $node: schemathesis took longer than ${OPENAPI_TIME}s"
        failed=$((failed + 1))
        continue
    fi

    "$venv/bin/python" - "$dir/schemathesis-$node.xml" "$node" \
        > "$dir/result-$node.txt" <<'END'
import sys
import xml.etree.ElementTree as ET

node = sys.argv[2]
try:
    cases = list(ET.parse(sys.argv[1]).getroot().iter("testcase"))
except (OSError, ET.ParseError) as e:
    print("not ok - %s: no schemathesis report (%s)" % (node, e))
    sys.exit()
if not cases:
    print("not ok - %s: schemathesis tested no operation" % node)
for c in cases:
    bad = c.find("failure") is not None or c.find("error") is not None
    print("%s - %s: schemathesis %s" % ("not ok" if bad else "ok", node,
                                        c.get("name")))
END
    sed -i 's/^/openapi: /' "$dir/result-$node.txt"
    cat "$dir/result-$node.txt"
    count "$dir/result-$node.txt"

    if [ $rc -ne 0 ]; then
        if ! grep -q '^openapi: not ok' "$dir/result-$node.txt"; then
            say "not ok - $node: schemathesis exited with $rc"
            failed=$((failed + 1))
        fi
        say "$node: schemathesis' findings:"
        sed -n '/= \(FAILURES\|ERRORS\) =/,$p' "$dir/schemathesis-$node.txt" \
            | head -300 | sed 's/^/    /'
    fi
done

# what schemathesis cannot reach on a healthy pair: a write concern not met
# in time, and the lists while the secondary does not answer

# shellcheck disable=SC2046
kill -STOP $(pids secondary)
"$venv/bin/python" "$top/t/openapi/check.py" stalled "$master" \
    "${OPENAPI_DOC:-$doc}" "$token" \
    | sed 's/^ok - /ok - master: /; s/^not ok - /not ok - master: /' \
    | sed 's/^/openapi: /' | tee "$dir/stalled.txt"
count "$dir/stalled.txt"
# shellcheck disable=SC2046
kill -CONT $(pids secondary)
