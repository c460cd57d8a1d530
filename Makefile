# rblcache -- plain GNU make; `make help` lists the targets.

CC      ?= cc
OPTIMIZATION ?= -O2
CFLAGS  ?= $(OPTIMIZATION) -g
WARN    := -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE
DEPS_CFLAGS := $(shell pkg-config --cflags libunbound libconfuse hiredis 2>/dev/null)
# libev is linked statically: its shared library also exports a libevent
# emulation (event_add, event_set, ...) that would interpose on the real
# libevent calls inside libunbound and corrupt its event base.  From the
# archive, with --exclude-libs, none of its names are exported, so
# libunbound binds to the real libevent.
LIBS    := $(shell pkg-config --libs libconfuse libunbound hiredis 2>/dev/null) -Wl,-Bstatic -lev -Wl,-Bdynamic -Wl,--exclude-libs,libev.a -lm -lpthread
SANFLAGS :=

# `make asan` rebuilds everything into build-asan/ with ASan+UBSan.
BUILD   ?= build
ALL_CFLAGS = $(WARN) $(CFLAGS) $(SANFLAGS) $(DEPS_CFLAGS) -Icommon -Idaemon -MMD -MP
ALL_LDFLAGS = $(SANFLAGS) $(LDFLAGS)

COMMON_SRC := $(wildcard common/*.c)
DAEMON_SRC := $(filter-out daemon/main.c,$(wildcard daemon/*.c))
CLIENT_SRC := $(wildcard client/*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)

COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/obj/%.o)
DAEMON_OBJ := $(DAEMON_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_BIN  := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
REPLAY_BIN := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=$(BUILD)/fuzz/replay_%)

QUIET_CC = @printf '    CC %s\n' $@;
QUIET_LD = @printf '    LD %s\n' $@;

# keep the unit tests' objects (make would delete them as intermediates)
.SECONDARY:

.PHONY: all deps test unit system asan asan-suites run bench fuzz clean help
all: $(BUILD)/rblcached $(BUILD)/rblctl $(UNIT_BIN) $(BENCH_BIN) $(REPLAY_BIN)

help:
	@echo "make            build build/rblcached, build/rblctl and the unit tests"
	@echo "make deps       install the Debian packages the project needs (idempotent)"
	@echo "make test       deps + build + unit tests (cmocka) + system tests (pytest),"
	@echo "                then the same suites under ASan+UBSan"
	@echo "make asan       the same suites built with AddressSanitizer+UBSan"
	@echo "make run        deps + build + run the daemon on conf/rblcache.conf"
	@echo "make bench      hot-path and load benchmarks"
	@echo "make fuzz       libFuzzer on every harness, FUZZ_TIME seconds each"

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(QUIET_CC)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/rblcached: $(BUILD)/obj/daemon/main.o $(DAEMON_OBJ) $(COMMON_OBJ)
	$(QUIET_LD)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/rblctl: $(CLIENT_SRC:%.c=$(BUILD)/obj/%.o) $(COMMON_OBJ)
	$(QUIET_LD)$(CC) $(ALL_LDFLAGS) -o $@ $^

# Unit tests link the daemon's objects minus main.
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(DAEMON_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(QUIET_LD)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) -lcmocka

# Benchmark tools: hotpath and cachemem link the daemon's objects minus main; the
# others (load generator, do-nothing responder) stand alone.
$(BUILD)/bench/hotpath $(BUILD)/bench/cachemem: $(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(DAEMON_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(QUIET_LD)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o
	@mkdir -p $(dir $@)
	$(QUIET_LD)$(CC) $(ALL_LDFLAGS) -o $@ $^ -lm -lpthread

# Fuzz harnesses: replay_NAME runs tests/fuzz/corpus/NAME without
# libFuzzer (part of make test); `make fuzz` runs libFuzzer (clang).
$(BUILD)/fuzz/replay_%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(BUILD)/obj/tests/fuzz/replay.o $(DAEMON_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(QUIET_LD)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

FUZZ_TIME ?= 60
fuzz: deps
	@mkdir -p build-fuzz
	@for h in $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%); do \
		clang -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
			-Icommon -Idaemon tests/fuzz/fuzz_$$h.c $(DAEMON_SRC) $(COMMON_SRC) \
			-o build-fuzz/fuzz_$$h $(LIBS) || exit 1; \
		mkdir -p build-fuzz/corpus_$$h; \
		build-fuzz/fuzz_$$h -max_total_time=$(FUZZ_TIME) -max_len=1024 \
			build-fuzz/corpus_$$h tests/fuzz/corpus/$$h || exit 1; \
	done

deps:
	@sh tests/deps.sh

unit: $(UNIT_BIN) $(REPLAY_BIN)
	@sh tests/run-unit.sh $(BUILD)
	@for h in $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%); do \
		$(BUILD)/fuzz/replay_$$h tests/fuzz/corpus/$$h || exit 1; done

system: $(BUILD)/rblcached $(BUILD)/rblctl
	@RBLCACHE_BUILD=$(BUILD) sh tests/run-system.sh

# The suites run twice: as built, then under AddressSanitizer+UBSan.
test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit system
	@$(MAKE) --no-print-directory asan-suites

asan: deps
	@$(MAKE) --no-print-directory asan-suites

asan-suites:
	@echo "== the same suites under AddressSanitizer+UBSan (build-asan/)"
	@$(MAKE) --no-print-directory BUILD=build-asan OPTIMIZATION=-O1 \
		SANFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		all unit system

run: deps
	@$(MAKE) --no-print-directory all
	$(BUILD)/rblcached -f -c conf/rblcache.conf

bench: deps
	@$(MAKE) --no-print-directory all
	@sh bench/run.sh $(BUILD)

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD) build-asan -name '*.d' 2>/dev/null)
