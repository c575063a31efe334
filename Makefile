# placehub build. `make` builds everything into build/; `make test` runs the
# unit tests and the integration tests on a real Kafka broker; `make demo`
# runs the whole hub with two simulated partners and sample events.
#
# CI=true (as .ci/run sets it) turns warnings into errors. CC=clang works too.

SHELL   := /bin/bash
CC      ?= cc
BUILD   ?= build
PYTHON  ?= python3

# librdkafka is not among them: scripts/librdkafka.sh builds a pinned release
# into the cache (Debian 12's 2.0.2 starves consumers; the script says how),
# and every program links it statically. libssl, zlib and libzstd are its
# dependencies.
PKGS := avro-c libcurl jansson yaml-0.1 libmicrohttpd uuid libcrypto libssl zlib libzstd sqlite3
RDKAFKA_PREFIX := $(shell scripts/librdkafka.sh --print-prefix)
RDKAFKA_LIB    := $(RDKAFKA_PREFIX)/lib/librdkafka.a

WARNINGS := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wformat=2 -Wvla -Wno-format-nonliteral
# Error messages are cut to the caller's buffer on purpose (snprintf); gcc's
# -Wformat-truncation would flag every one. clang does not know the option.
WARNINGS += $(shell $(CC) -Werror -Wno-format-truncation -E -x c /dev/null >/dev/null 2>&1 && echo -Wno-format-truncation)
ifeq ($(CI),true)
WARNINGS += -Werror
endif
ifdef WERROR
WARNINGS += -Werror
endif

OPT      ?= -O2 -g
SANITIZE ?=
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CPPFLAGS += -Iinclude -Ilib -D_GNU_SOURCE
CFLAGS   += -std=c11 $(OPT) $(WARNINGS) $(SANITIZE) -isystem $(RDKAFKA_PREFIX)/include $(PKG_CFLAGS) -MMD -MP
LDFLAGS  += $(SANITIZE)
LDLIBS   += $(RDKAFKA_LIB) $(PKG_LIBS) -lpthread -lm -ldl -lrt

LIB_SRCS       := $(wildcard lib/*/*.c)
# Built-in connectors go into the library; connectors/example is built the
# way a partner builds theirs, as a shared object loaded by path.
CONNECTOR_SRCS := $(filter-out connectors/example/%,$(wildcard connectors/*/*.c))
EXAMPLE_CONNECTOR := $(BUILD)/connectors/example.so
LIB_OBJS       := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRCS) $(CONNECTOR_SRCS))
LIBPLACEHUB    := $(BUILD)/libplacehub.a

SERVICES := ingest dispatch registry partner-sim mllp connector-test ctl console mesh-inbox
BINS     := $(patsubst %,$(BUILD)/bin/placehub-%,$(SERVICES))

FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SECONDS ?= 20

UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))

.PHONY: all deps check-layers test test-unit test-alerts test-integration test-asan reliability test-valgrind demo kafka-start kafka-stop \
        clean format format-check pyenv fhir-validator fuzz fuzz-build fuzz-replay bench

all: $(BINS)

# docs/connectors.md's worked example (one compiler line, as in the guide)
# and the test kit that checks it.
all: $(EXAMPLE_CONNECTOR)
$(EXAMPLE_CONNECTOR): $(wildcard connectors/example/*.c) include/placehub/connector.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(OPT) $(WARNINGS) $(SANITIZE) -Iinclude -fPIC -shared -o $@ \
	  $(filter %.c,$^) -ljansson
	@chmod go-w $@

deps:
	@scripts/install-deps.sh

$(RDKAFKA_LIB):
	@scripts/librdkafka.sh

$(BUILD)/obj/%.o: %.c | $(RDKAFKA_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIBPLACEHUB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

# One folder per program: every .c file in services/<name>/ is linked into
# placehub-<name>. (A function, because a literal % in a pattern rule's
# prerequisites would be taken for the stem.)
service_objs = $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard services/$(1)/*.c))
# Keep the services' object files between builds.
.SECONDARY:
.SECONDEXPANSION:
$(BUILD)/bin/placehub-%: $$(call service_objs,$$*) $(LIBPLACEHUB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The console's pages are compiled into it (tools/embed-assets.py).
CONSOLE_ASSETS := $(wildcard services/console/assets/*)
$(BUILD)/gen/console_assets.c: $(CONSOLE_ASSETS) tools/embed-assets.py
	@mkdir -p $(dir $@)
	$(PYTHON) tools/embed-assets.py services/console/assets $@
$(BUILD)/obj/gen/console_assets.o: $(BUILD)/gen/console_assets.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Iservices/console $(CFLAGS) -c -o $@ $<
$(BUILD)/bin/placehub-console: $(BUILD)/obj/gen/console_assets.o

$(BUILD)/tests/test_%: $(BUILD)/obj/tests/unit/test_%.o $(LIBPLACEHUB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# --- fault injection -----------------------------------------------------
# A librdkafka mock cluster in a process of its own, driven from stdin by
# tests/integration/test_kafka_faults.py (see tests/fault/mock_cluster.c).

MOCK_CLUSTER := $(BUILD)/fault/mock_cluster
$(MOCK_CLUSTER): $(BUILD)/obj/tests/fault/mock_cluster.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# --- fuzzing -------------------------------------------------------------
# Every parser of outside input has a target tests/fuzz/fuzz_<name>.c with a
# seed corpus in tests/fuzz/corpus/<name>/. `make fuzz-replay` builds each
# with the plain replay driver (any compiler) and feeds it its corpus;
# `make fuzz` builds them with clang's libFuzzer, ASan and UBSan and fuzzes
# each for FUZZ_SECONDS, starting from a copy of the corpus.

$(BUILD)/fuzz-replay/fuzz_%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(BUILD)/obj/tests/fuzz/replay.o $(LIBPLACEHUB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

fuzz-replay: $(patsubst %,$(BUILD)/fuzz-replay/fuzz_%,$(FUZZ_NAMES))
	@set -e; for name in $(FUZZ_NAMES); do \
	  $(BUILD)/fuzz-replay/fuzz_$$name tests/fuzz/corpus/$$name; done

$(BUILD)/fuzz/fuzz_%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(LIBPLACEHUB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

fuzz-build: $(patsubst %,$(BUILD)/fuzz/fuzz_%,$(FUZZ_NAMES))

FUZZ_SANITIZE := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
fuzz: deps
	@$(MAKE) --no-print-directory CC=clang BUILD=build-fuzz OPT="-O1 -g" \
	  SANITIZE="$(FUZZ_SANITIZE)" fuzz-build
	@set -e; for name in $(FUZZ_NAMES); do \
	  mkdir -p build-fuzz/corpus/$$name; cp -n tests/fuzz/corpus/$$name/* build-fuzz/corpus/$$name/ 2>/dev/null || true; \
	  echo "== fuzz_$$name for $(FUZZ_SECONDS) s"; \
	  build-fuzz/fuzz/fuzz_$$name -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=build-fuzz/crash-$$name- build-fuzz/corpus/$$name 2>&1 \
	    | grep -E '^(INFO: Seed|#[0-9]+ +DONE|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY)' ; \
	  test $${PIPESTATUS[0]} -eq 0; done

# --- the reliability report ----------------------------------------------
# tests/reliability/report.py: the fault suite (Kafka faults on librdkafka's
# mock cluster, the real broker stopped mid-stream, kill -9 cycles, bad
# partner answers), then every fuzz target for a bounded time, and a table
# of events acknowledged, delivered, dead-lettered, duplicated and lost, and
# of fuzz executions and crashes. Fails on any loss or crash. The short form
# runs in CI; LONG=1 is the long form (21 kill cycles, 300 s per target).
# docs/reliability.md explains the table.

RELIABILITY_ARGS ?= $(if $(LONG),--long,)
reliability: deps
	@$(MAKE) --no-print-directory all $(MOCK_CLUSTER) pyenv
	@$(MAKE) --no-print-directory CC=clang BUILD=build-fuzz OPT="-O1 -g" \
	  SANITIZE="$(FUZZ_SANITIZE)" fuzz-build
	@BUILD=$(BUILD) .cache/venv/bin/python tests/reliability/report.py $(RELIABILITY_ARGS)

# --- benchmarks ----------------------------------------------------------
# Figures measured in one run on this machine, each next to its ceiling
# (bench/run.py says what is measured). Never part of `make test`.

BENCH_TOOLS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))

$(BUILD)/bench/%: bench/%.c $(LIBPLACEHUB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LIBPLACEHUB) $(LDFLAGS) $(LDLIBS)

bench: deps
	@$(MAKE) --no-print-directory all $(BENCH_TOOLS) pyenv
	@BUILD=$(BUILD) .cache/venv/bin/python bench/run.py

# --- tests ---------------------------------------------------------------

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory test-unit
	@$(MAKE) --no-print-directory test-alerts
	@$(MAKE) --no-print-directory test-integration

test-unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done
	@$(MAKE) --no-print-directory fuzz-replay

# The Prometheus alert rules (deploy/prometheus/placehub-alerts.yml, wired
# into docker-compose.yml's Prometheus): promtool checks them and runs their
# unit tests (tests/prometheus/), a firing and a quiet case per alert.
# promtool comes from scripts/install-deps.sh (Debian's prometheus package).
ALERT_RULES := deploy/prometheus/placehub-alerts.yml
ALERT_TESTS := $(wildcard tests/prometheus/*.test.yml)
PROMTOOL    ?= promtool

test-alerts:
	@command -v $(PROMTOOL) >/dev/null 2>&1 || scripts/install-deps.sh
	$(PROMTOOL) check config deploy/prometheus/prometheus.yml
	$(PROMTOOL) check rules $(ALERT_RULES)
	$(PROMTOOL) test rules $(ALERT_TESTS)

# The whole suite again with AddressSanitizer (leaks included) and
# UndefinedBehaviorSanitizer in every program and unit test, in a separate
# build folder. The integration harness fails a test whose services print a
# sanitizer report or exit non-zero.
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
test-asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g" SANITIZE="$(ASAN_FLAGS)" all test-unit
	@ASAN_OPTIONS=abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  $(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g" SANITIZE="$(ASAN_FLAGS)" test-integration

# The unit tests and every fuzz target's corpus replay under valgrind's
# memcheck (a second opinion beside ASan, on the optimised gcc build):
# invalid reads or writes, uses of uninitialised values and definite or
# indirect leaks fail. tests/valgrind.supp holds suppressions for
# third-party libraries only, each explained.
VALGRIND := valgrind -q --error-exitcode=99 --leak-check=full \
            --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
            --suppressions=tests/valgrind.supp
test-valgrind: $(UNIT_BINS) $(patsubst %,$(BUILD)/fuzz-replay/fuzz_%,$(FUZZ_NAMES))
	@set -e; for t in $(UNIT_BINS); do echo "== valgrind $$t"; $(VALGRIND) $$t >/dev/null; done
	@set -e; for name in $(FUZZ_NAMES); do echo "== valgrind fuzz_$$name"; \
	  $(VALGRIND) $(BUILD)/fuzz-replay/fuzz_$$name tests/fuzz/corpus/$$name; done

pyenv:
	@scripts/pyenv.sh

# Two workers, a test module each at a time (each module starts its own
# broker): most of a module's time is spent waiting for brokers, partners and
# timeouts, so two share two cores well. PYTEST_ARGS= runs them one by one.
PYTEST_ARGS ?= -n 2 --dist loadfile

# HAPI FHIR's R4 validator (tools/fhir-validator), which every Bundle of the
# fhir connector's tests goes through: built with Maven the first time
# (fetching HAPI FHIR) and cached under .cache/fhir-validator; after that
# this only checks the cache.
fhir-validator:
	@scripts/fhir-validator.sh build >/dev/null

# The browser tests (the console, the status pages) drive Debian's chromium
# and chromium-driver: installed here, for the tests only.
test-integration: all pyenv $(MOCK_CLUSTER) fhir-validator
	@scripts/install-deps.sh --browser
	@BUILD=$(BUILD) .cache/venv/bin/python -m pytest -q tests/integration $(PYTEST_ARGS)

# --- the dev stack -------------------------------------------------------

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh $(DEMO_ARGS)

# The demo left running in the background, to script against
# (scripts/demo.sh --help); DEMO_ARGS=--fresh starts from empty topics.
.PHONY: demo-detach demo-stop
demo-detach: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh --detach $(DEMO_ARGS)

demo-stop:
	@scripts/demo.sh --stop

kafka-start:
	@scripts/kafka.sh start

kafka-stop:
	@scripts/kafka.sh stop

# One style, checked in CI. Debian 12's clang-format (14) is the reference:
# other versions may lay out a few lines differently.
CLANG_FORMAT ?= $(shell command -v clang-format-14 || command -v clang-format)
FORMAT_SRCS = $(LIB_SRCS) $(CONNECTOR_SRCS) $(wildcard services/*/*.c services/*/*.h \
              include/placehub/*.h lib/*/*.h connectors/*/*.h tests/unit/*.c tests/unit/*.h \
              tests/fault/*.c tests/fuzz/*.c bench/*.c connectors/example/*.c)

format:
	$(CLANG_FORMAT) -i $(FORMAT_SRCS)

format-check:
	$(CLANG_FORMAT) --dry-run --Werror $(FORMAT_SRCS)

# lib/ is layered (docs/architecture.md): no module includes a higher layer.
check-layers:
	@$(PYTHON) tools/check-layers.py

# --- install -------------------------------------------------------------
# make install PREFIX=/opt/placehub [DESTDIR=/tmp/stage]: the programs in
# bin/, the example connector in lib/placehub/connectors/, connector.h for
# partners' connectors in include/placehub/, and in share/placehub/ the
# schemas and the example configurations (config/placehub.yaml finds the
# schemas as ../schemas, as in the tree). The programs read -c CONFIG
# (default config/placehub.yaml in the folder they run in).

PREFIX  ?= /usr/local
DESTDIR ?=
INSTALL ?= install
PLACEHUB_SHARE = $(DESTDIR)$(PREFIX)/share/placehub

.PHONY: install uninstall
install: all
	$(INSTALL) -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/placehub/connectors \
	  $(DESTDIR)$(PREFIX)/include/placehub $(PLACEHUB_SHARE)/schemas $(PLACEHUB_SHARE)/config
	$(INSTALL) -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	$(INSTALL) -m 755 $(EXAMPLE_CONNECTOR) $(DESTDIR)$(PREFIX)/lib/placehub/connectors/
	$(INSTALL) -m 644 include/placehub/connector.h $(DESTDIR)$(PREFIX)/include/placehub/
	$(INSTALL) -m 644 schemas/*.avsc schemas/catalogue.json $(PLACEHUB_SHARE)/schemas/
	$(INSTALL) -m 644 config/placehub.yaml config/placehub.docker.yaml $(PLACEHUB_SHARE)/config/

uninstall:
	rm -f $(patsubst $(BUILD)/bin/%,$(DESTDIR)$(PREFIX)/bin/%,$(BINS))
	rm -f $(DESTDIR)$(PREFIX)/lib/placehub/connectors/$(notdir $(EXAMPLE_CONNECTOR))
	rm -f $(DESTDIR)$(PREFIX)/include/placehub/connector.h
	rm -rf $(PLACEHUB_SHARE)
	-rmdir $(DESTDIR)$(PREFIX)/lib/placehub/connectors $(DESTDIR)$(PREFIX)/lib/placehub \
	  $(DESTDIR)$(PREFIX)/include/placehub 2>/dev/null

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
