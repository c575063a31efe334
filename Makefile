# placehub build. `make` builds everything into build/; `make test` runs the
# unit tests and the integration tests on a real Kafka broker; `make demo`
# runs the whole hub with two simulated partners and sample events.
#
# CI=true (as .ci/run sets it) turns warnings into errors. CC=clang works too.

CC      ?= cc
BUILD   ?= build
PYTHON  ?= python3

PKGS := rdkafka avro-c libcurl jansson yaml-0.1 libmicrohttpd uuid libcrypto

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
CFLAGS   += -std=c11 $(OPT) $(WARNINGS) $(SANITIZE) $(PKG_CFLAGS) -MMD -MP
LDFLAGS  += $(SANITIZE)
LDLIBS   += $(PKG_LIBS) -lpthread -lm -ldl

LIB_SRCS       := $(wildcard lib/*.c)
CONNECTOR_SRCS := $(wildcard connectors/webhook/*.c)
LIB_OBJS       := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRCS) $(CONNECTOR_SRCS))
LIBPLACEHUB    := $(BUILD)/libplacehub.a

SERVICES := ingest dispatch registry partner-sim
BINS     := $(patsubst %,$(BUILD)/bin/placehub-%,$(SERVICES))

UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))

.PHONY: all deps test test-unit test-integration test-asan demo kafka-start kafka-stop \
        clean format format-check pyenv

all: $(BINS)

deps:
	@scripts/install-deps.sh

$(BUILD)/obj/%.o: %.c
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

$(BUILD)/tests/test_%: $(BUILD)/obj/tests/unit/test_%.o $(LIBPLACEHUB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# --- tests ---------------------------------------------------------------

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory test-unit
	@$(MAKE) --no-print-directory test-integration

test-unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

# The whole suite again with AddressSanitizer (leaks included) and
# UndefinedBehaviorSanitizer in every program and unit test, in a separate
# build folder. The integration harness fails a test whose services print a
# sanitizer report or exit non-zero.
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
test-asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g" SANITIZE="$(ASAN_FLAGS)" all test-unit
	@ASAN_OPTIONS=abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  $(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g" SANITIZE="$(ASAN_FLAGS)" test-integration

pyenv:
	@scripts/pyenv.sh

test-integration: all pyenv
	@BUILD=$(BUILD) .cache/venv/bin/python -m pytest -q tests/integration $(PYTEST_ARGS)

# --- the dev stack -------------------------------------------------------

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh

kafka-start:
	@scripts/kafka.sh start

kafka-stop:
	@scripts/kafka.sh stop

# One style, checked in CI. Debian 12's clang-format (14) is the reference:
# other versions may lay out a few lines differently.
CLANG_FORMAT ?= $(shell command -v clang-format-14 || command -v clang-format)
FORMAT_SRCS = $(LIB_SRCS) $(CONNECTOR_SRCS) $(wildcard services/*/*.c services/*/*.h \
              include/placehub/*.h lib/*.h tests/unit/*.c tests/unit/*.h)

format:
	$(CLANG_FORMAT) -i $(FORMAT_SRCS)

format-check:
	$(CLANG_FORMAT) --dry-run --Werror $(FORMAT_SRCS)

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
