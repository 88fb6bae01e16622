#!/bin/sh
# Installs the Debian packages replog needs that are missing; idempotent.
#   deps.sh [build|test|run|bench|fuzz|all]

set -eu

build="make gcc libc6-dev nginx nginx-dev libjansson-dev libcurl4-openssl-dev
       libssl-dev"
run="nginx gettext-base curl"
test="libtest-base-perl libtext-diff-perl liblist-moreutils-perl
      libtest-longstring-perl libwww-perl libipc-run-perl curl jq procps
      valgrind python3 python3-venv"
bench="wrk redis-server redis-tools etcd-server"
fuzz="clang libclang-rt-14-dev"

case "${1:-all}" in
    build) want="$build" ;;
    run)   want="$build $run" ;;
    test)  want="$build $run $test $fuzz" ;;
    bench) want="$build $run $bench" ;;
    fuzz)  want="$build $fuzz" ;;
    *)     want="$build $run $test $bench $fuzz" ;;
esac

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    SUDO=sudo
else
    SUDO=
fi

echo "deps: installing$missing" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >&2
