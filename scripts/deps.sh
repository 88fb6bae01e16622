#!/bin/sh
# Installs the Debian packages replog needs that are missing; idempotent.
#   deps.sh [build|test|run|bench|all]

set -eu

build="make gcc libc6-dev nginx nginx-dev libjansson-dev libcurl4-openssl-dev"
run="nginx gettext-base curl"
test="libtest-base-perl libtext-diff-perl liblist-moreutils-perl
      libtest-longstring-perl libwww-perl libipc-run-perl curl jq procps
      python3 python3-venv"
bench="wrk"

case "${1:-all}" in
    build) want="$build" ;;
    run)   want="$build $run" ;;
    test)  want="$build $run $test" ;;
    bench) want="$build $run $bench" ;;
    *)     want="$build $run $test $bench" ;;
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
