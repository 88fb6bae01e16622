#!/bin/sh
# Builds ngx_http_replog_module.so against an nginx source tree.
#
#   build-module.sh NGINX_SRC OUT_DIR [CC_OPT [LD_OPT]]
#
# The tree is copied into OUT_DIR/nginx and configured once with the flags
# of the nginx it came from (Debian's nginx-dev ships them in conf_flags),
# so the module loads into that nginx binary with load_module.

set -eu

src=$1
mkdir -p "$2"
out=$(cd "$2" && pwd)
cc_opt=${3:-}
ld_opt=${4:-}
top=$(cd "$(dirname "$0")/.." && pwd)
tree=$out/nginx

if [ ! -x "$src/configure" ]; then
    echo "build-module: no nginx source tree in $src (install nginx-dev or set NGINX_SRC)" >&2
    exit 1
fi

mkdir -p "$out"

stamp="$src|$cc_opt|$ld_opt|$(cksum < "$top/config")"

if [ ! -f "$tree/objs/Makefile" ] || [ "$(cat "$tree/.replog-stamp" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$tree"
    cp -a "$src" "$tree"

    NGX_CONF_FLAGS=""
    if [ -f "$src/conf_flags" ]; then
        # defines NGX_CONF_FLAGS=( ... ) for bash; flatten for sh
        flags=$(sed -n 's/^NGX_CONF_FLAGS=( *\(.*\) *)$/\1/p' "$src/conf_flags")
    else
        flags="--with-compat"
    fi

    (
        cd "$tree"
        # shellcheck disable=SC2086
        ./configure $flags --with-cc-opt="$cc_opt" --with-ld-opt="$ld_opt" \
            --add-dynamic-module="$top" > "$out/configure.log" 2>&1 || {
            tail -20 "$out/configure.log" >&2
            exit 1
        }
    )

    echo "$stamp" > "$tree/.replog-stamp"
fi

# the compiled-in OpenAPI document and /docs page, kept up to date with api/
sh "$top/scripts/gen-openapi.sh" "$tree/objs/ngx_http_replog_openapi.h" \
    "$top/api/openapi.json" "$top/api/docs.html"

make -s -C "$tree" -f objs/Makefile modules >&2
# a new inode: a running nginx keeps the module it mapped
cp "$tree/objs/ngx_http_replog_module.so" "$out/.ngx_http_replog_module.so.tmp"
mv -f "$out/.ngx_http_replog_module.so.tmp" "$out/ngx_http_replog_module.so"
