# replog: build, run and test.  See README.md.

NGINX_SRC  ?= /usr/share/nginx/src
NGINX_BIN  ?= /usr/sbin/nginx
BUILD      ?= build

MODULE      = $(BUILD)/ngx_http_replog_module.so
ASAN_MODULE = $(BUILD)/asan/ngx_http_replog_module.so
SRCS        = config $(wildcard ngx_http_replog_module/*.[ch]) \
              api/openapi.json api/docs.html scripts/gen-openapi.sh

ASAN_FLAGS  = -fsanitize=address,undefined -fno-omit-frame-pointer \
              -fno-sanitize-recover=undefined -g -O1

HELPER      = $(BUILD)/replog-register
LOG_TOOL    = $(BUILD)/replog-log

FUZZ        = $(BUILD)/fuzz
FUZZ_SRCS   = $(wildcard fuzz/*.c) fuzz/build.sh \
              ngx_http_replog_module/ngx_http_replog_json.c \
              ngx_http_replog_module/ngx_http_replog_client.c \
              $(wildcard ngx_http_replog_module/*.h)

.PHONY: all deps module helper asan run test test-unit test-asan \
        test-valgrind test-openapi bench clean fuzz test-fuzz

all: deps module helper

deps:
	@scripts/deps.sh $(DEPS_SET)

module: $(MODULE)

$(MODULE): $(SRCS)
	scripts/build-module.sh $(NGINX_SRC) $(BUILD)

helper: $(HELPER) $(LOG_TOOL)

# the durable log's offline reader, on the module's own format header
$(LOG_TOOL): helper/replog-log.c \
          ngx_http_replog_module/ngx_http_replog_log_format.h
	@mkdir -p $(BUILD)
	$(CC) -O2 -g -Wall -Wextra -Werror -I ngx_http_replog_module \
	    -o $@.tmp $<
	mv -f $@.tmp $@

HELPER_SRCS = $(filter-out helper/replog-log.c,$(wildcard helper/*.c))

$(HELPER): $(HELPER_SRCS) $(wildcard helper/*.h) \
          ngx_http_replog_module/ngx_http_replog_common.h
	@mkdir -p $(BUILD)
	$(CC) -O2 -g -Wall -Wextra -Werror -I ngx_http_replog_module \
	    -o $@.tmp $(HELPER_SRCS) -lcurl -ljansson -lcrypto
	mv -f $@.tmp $@

asan: $(ASAN_MODULE)

$(ASAN_MODULE): $(SRCS)
	scripts/build-module.sh $(NGINX_SRC) $(BUILD)/asan \
	    "$(ASAN_FLAGS)" "$(ASAN_FLAGS)"

run: DEPS_SET = run
run: deps module helper
	scripts/run.sh

test: DEPS_SET = test
test: deps module helper asan fuzz
	$(MAKE) --no-print-directory test-unit
	$(MAKE) --no-print-directory test-asan
	$(MAKE) --no-print-directory test-fuzz
	$(MAKE) --no-print-directory test-openapi
	$(MAKE) --no-print-directory test-valgrind

test-unit:
	TEST_NGINX_BINARY=$(NGINX_BIN) \
	TEST_NGINX_LOAD_MODULES=$(CURDIR)/$(MODULE) \
	    prove -I t/lib -r t/

test-asan: asan
	TEST_NGINX_BINARY=$(NGINX_BIN) \
	TEST_NGINX_LOAD_MODULES=$(CURDIR)/$(ASAN_MODULE) \
	TEST_NGINX_LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    prove -I t/lib -r t/

# libFuzzer harnesses of the parsers (clang); see README "Fuzzing"
fuzz: $(FUZZ)/.built

$(FUZZ)/.built: $(FUZZ_SRCS) $(MODULE)
	fuzz/build.sh $(BUILD)/nginx $(FUZZ)
	@touch $@

# every seed input once, under ASan and UBSan, and every crasher found so
# far (each fixed since)
FUZZ_CORPORA ?= fuzz/corpus fuzz/crashers

test-fuzz: fuzz
	fuzz/run-corpus.sh $(FUZZ) $(FUZZ_CORPORA)

# the tests that drive the outbound client, nginx under valgrind memcheck:
# any invalid read or write fails them
VALGRIND_TESTS = t/014-peer-replies.t t/010-replicate.t t/011-register.t \
                 t/012-write-concern.t t/perl/010-replicate.t \
                 t/perl/011-register.t t/perl/012-write-concern.t \
                 t/cluster/095-hostile-peer.t

test-valgrind: module
	TEST_NGINX_BINARY=$(NGINX_BIN) \
	TEST_NGINX_LOAD_MODULES=$(CURDIR)/$(MODULE) \
	TEST_NGINX_USE_VALGRIND=1 \
	    prove -I t/lib $(VALGRIND_TESTS)

# api/openapi.json: validated, then a master and a secondary driven from it
# by schemathesis (t/openapi/run.sh, tools in build/venv), plain and ASan
test-openapi: module asan helper
	@plain=0; asan=0; \
	t/openapi/run.sh || plain=$$?; \
	OPENAPI_MODULE=$(CURDIR)/$(ASAN_MODULE) \
	OPENAPI_LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    t/openapi/run.sh || asan=$$?; \
	[ $$plain = 0 ] && [ $$asan = 0 ]

BENCH_CLIENT = $(BUILD)/bench-client

$(BENCH_CLIENT): bench/client.c
	@mkdir -p $(BUILD)
	$(CC) -O2 -g -Wall -Wextra -Werror -o $@.tmp $<
	mv -f $@.tmp $@

bench: DEPS_SET = bench
bench: deps module $(BENCH_CLIENT)
	bench/run.sh

# the image and its end-to-end test (absent inside the image build)
-include mk/compose.mk

clean:
	rm -rf $(BUILD) t/servroot t/servroot-cluster
