# rblcache -- plain GNU make; `make help` lists the targets.

CC      ?= cc
OPTIMIZATION ?= -O2
CFLAGS  ?= $(OPTIMIZATION) -g
WARN    := -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE
DEPS_CFLAGS := $(shell pkg-config --cflags libunbound libconfuse hiredis libsystemd libmicrohttpd 2>/dev/null)
# libev is linked statically: its shared library also exports a libevent
# emulation (event_add, event_set, ...) that would interpose on the real
# libevent calls inside libunbound and corrupt its event base.  From the
# archive, with --exclude-libs, none of its names are exported, so
# libunbound binds to the real libevent.
LIBS    := $(shell pkg-config --libs libconfuse libunbound hiredis libsystemd libmicrohttpd 2>/dev/null) -Wl,-Bstatic -lev -Wl,-Bdynamic -Wl,--exclude-libs,libev.a -lm -lpthread
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

.PHONY: all deps test unit system asan asan-suites run bench fuzz clean help install uninstall
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
	@echo "make install    install the binaries, man pages, unit, README and (only"
	@echo "                where absent) the example config; PREFIX=/usr/local,"
	@echo "                SYSCONFDIR=/etc, SYSTEMDDIR=/etc/systemd/system, DESTDIR"
	@echo "make uninstall  remove what make install put there, except the config"

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
# libFuzzer (part of make test); `make fuzz` runs libFuzzer (clang), with
# tests/fuzz/NAME.dict as its dictionary where there is one.  UBSan
# findings abort, as in make asan, so libFuzzer records them.  4096
# bytes: a whole config fits (the other harnesses' inputs are smaller).
$(BUILD)/fuzz/replay_%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(BUILD)/obj/tests/fuzz/replay.o $(DAEMON_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(QUIET_LD)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

FUZZ_TIME ?= 60
fuzz: deps
	@mkdir -p build-fuzz
	@for h in $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%); do \
		clang -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
			-fno-sanitize-recover=all \
			-Icommon -Idaemon tests/fuzz/fuzz_$$h.c $(DAEMON_SRC) $(COMMON_SRC) \
			-o build-fuzz/fuzz_$$h $(LIBS) || exit 1; \
		mkdir -p build-fuzz/corpus_$$h; \
		dict=; [ -f tests/fuzz/$$h.dict ] && dict=-dict=tests/fuzz/$$h.dict; \
		build-fuzz/fuzz_$$h -max_total_time=$(FUZZ_TIME) -max_len=4096 $$dict \
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

# `make install` installs what is built, never builds more than the two
# binaries.  The example config (and its lists) are installed only where
# absent: an admin's config is never overwritten, nor removed by uninstall.
# The unit is installed with its paths pointed at PREFIX and SYSCONFDIR.
PREFIX     ?= /usr/local
SYSCONFDIR ?= /etc
SYSTEMDDIR ?= /etc/systemd/system
SBINDIR    := $(PREFIX)/sbin
MANDIR     := $(PREFIX)/share/man
DOCDIR     := $(PREFIX)/share/doc/rblcache
CONFDIR    := $(SYSCONFDIR)/rblcache
CONF_FILES := rblcache.conf block.list allow.list
MAN5       := rblcache.conf.5
MAN8       := rblcached.8 rblctl.8
# group given read access to the installed config (the service's user)
CONFGROUP  ?= rblcache

install: $(BUILD)/rblcached $(BUILD)/rblctl
	install -D -m 0755 $(BUILD)/rblcached "$(DESTDIR)$(SBINDIR)/rblcached"
	install -D -m 0755 $(BUILD)/rblctl "$(DESTDIR)$(SBINDIR)/rblctl"
	@for m in $(MAN5); do \
		echo "install -D -m 0644 doc/$$m $(DESTDIR)$(MANDIR)/man5/$$m"; \
		install -D -m 0644 doc/$$m "$(DESTDIR)$(MANDIR)/man5/$$m" || exit 1; done
	@for m in $(MAN8); do \
		echo "install -D -m 0644 doc/$$m $(DESTDIR)$(MANDIR)/man8/$$m"; \
		install -D -m 0644 doc/$$m "$(DESTDIR)$(MANDIR)/man8/$$m" || exit 1; done
	install -D -m 0644 README.md "$(DESTDIR)$(DOCDIR)/README.md"
	install -d -m 0755 "$(DESTDIR)$(SYSTEMDDIR)"
	sed -e 's|/usr/local/|$(PREFIX)/|g' -e 's|/etc/rblcache/|$(CONFDIR)/|g' \
		conf/rblcached.service > "$(DESTDIR)$(SYSTEMDDIR)/rblcached.service"
	chmod 0644 "$(DESTDIR)$(SYSTEMDDIR)/rblcached.service"
	@for f in $(CONF_FILES); do \
		t="$(DESTDIR)$(CONFDIR)/$$f"; \
		if [ -e "$$t" ] || [ -L "$$t" ]; then \
			echo "keeping $$t (exists)"; \
		else \
			echo "install -D -m 0640 conf/$$f $$t"; \
			install -D -m 0640 conf/$$f "$$t" || exit 1; \
			if [ "$$(id -u)" = 0 ] && getent group $(CONFGROUP) >/dev/null 2>&1; then \
				chgrp $(CONFGROUP) "$$t" || exit 1; \
			else \
				echo "note: $$t is 0640: give the service's group read access (chgrp $(CONFGROUP))"; \
			fi; \
		fi; \
	done

uninstall:
	rm -f "$(DESTDIR)$(SBINDIR)/rblcached" "$(DESTDIR)$(SBINDIR)/rblctl"
	rm -f $(MAN5:%="$(DESTDIR)$(MANDIR)/man5/%") $(MAN8:%="$(DESTDIR)$(MANDIR)/man8/%")
	rm -f "$(DESTDIR)$(SYSTEMDDIR)/rblcached.service"
	rm -f "$(DESTDIR)$(DOCDIR)/README.md"
	rmdir "$(DESTDIR)$(DOCDIR)" 2>/dev/null || true
	@echo "kept the configuration in $(DESTDIR)$(CONFDIR) (remove it by hand)"

-include $(shell find $(BUILD) build-asan -name '*.d' 2>/dev/null)
