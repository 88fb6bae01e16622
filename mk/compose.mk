# Docker image and the end-to-end test of docker-compose.yml.
# Included from the Makefile: include mk/compose.mk
#
# Both skip (status 0) where no Docker engine answers, so that `make` on a
# machine without Docker is not an error.

.PHONY: image test-compose

DOCKER_IMAGE ?= replog:latest

image:
	@if ! docker info >/dev/null 2>&1; then echo "SKIPPED: no Docker engine"; exit 0; fi; \
	docker/build-image.sh $(DOCKER_IMAGE)

test-compose:
	@if ! docker info >/dev/null 2>&1; then echo "SKIPPED: no Docker engine"; exit 0; fi; \
	t/compose/run.sh
