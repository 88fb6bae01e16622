#!/bin/sh
# Builds the libFuzzer harnesses of the module's parsers.
#
#   fuzz/build.sh NGINX_TREE OUT_DIR
#
# NGINX_TREE is the tree configured by scripts/build-module.sh (make module):
# its headers and objs/ngx_auto_config.h.  nginx-dev ships no core sources,
# so the few core functions the parsers call come from ngx_fuzz_shim.c.
# Each fuzzer is the parser's module file, the shim and the harness, built
# with clang -fsanitize=fuzzer,address,undefined.

set -eu

tree=$(cd "$1" && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
mod=$top/ngx_http_replog_module
fuzz=$top/fuzz

CLANG=${CLANG:-clang}

if [ ! -f "$tree/objs/ngx_auto_config.h" ]; then
    echo "fuzz: no configured nginx tree in $tree (run make module)" >&2
    exit 1
fi

if ! command -v "$CLANG" > /dev/null 2>&1; then
    echo "fuzz: $CLANG not found (make deps DEPS_SET=fuzz)" >&2
    exit 1
fi

# the module build's include list (objs/Makefile ALL_INCS)
incs="-I $tree/src/core -I $tree/src/event -I $tree/src/event/modules
      -I $tree/src/os/unix -I $mod -I $tree/objs -I $tree/src/http
      -I $tree/src/http/modules -I $tree/src/http/v2"

cflags="-g -O1 -fno-omit-frame-pointer
        -fsanitize=fuzzer-no-link,address,undefined
        -fno-sanitize-recover=undefined -Wall -Wno-unused-parameter -Werror"
ldflags="-fsanitize=fuzzer,address,undefined"
libs="-ljansson"

obj=$out/obj
mkdir -p "$obj"

compile() {
    # shellcheck disable=SC2086
    $CLANG -c $cflags $incs -o "$obj/$(basename "$1" .c).o" "$1"
}

compile "$fuzz/ngx_fuzz_shim.c"
compile "$mod/ngx_http_replog_json.c"
compile "$mod/ngx_http_replog_client.c"

link() {
    name=$1
    shift
    compile "$fuzz/$name.c"
    # shellcheck disable=SC2086
    $CLANG $ldflags -o "$out/$name.tmp" "$obj/$name.o" "$@" \
        "$obj/ngx_fuzz_shim.o" $libs
    mv -f "$out/$name.tmp" "$out/$name"
}

link fuzz_replicate "$obj/ngx_http_replog_json.o"
link fuzz_register "$obj/ngx_http_replog_json.o"
link fuzz_message "$obj/ngx_http_replog_json.o"
link fuzz_acked "$obj/ngx_http_replog_json.o"
link fuzz_reply "$obj/ngx_http_replog_client.o" "$obj/ngx_http_replog_json.o"

echo "fuzz: built fuzz_replicate fuzz_register fuzz_message fuzz_acked fuzz_reply in $out" >&2
