#!/bin/sh
# Builds replog:latest (docker/Dockerfile), first the base image if missing.
# The builder stage is tagged too (replog:builder): it is the cache of the
# next build, and so the builder images it replaces can be pruned by label
# without losing it.
#
#   docker/build-image.sh [IMAGE] [-- DOCKER_BUILD_ARGS...]
#   e.g. docker/build-image.sh replog:latest -- -q

set -eu

cd "$(dirname "$0")/.."

image=${1:-replog:latest}
[ $# -eq 0 ] || shift
[ "${1:-}" != -- ] || shift

docker/make-base-image.sh

build() {
    docker build --network host -f docker/Dockerfile "$@" .
}

build "$@" --target builder -t "${image%:*}:builder"
build "$@" -t "$image"

# only ours, and only dangling: images this build replaced
docker image prune -f --filter label=org.replog.image >/dev/null
