# sensorpipe - one Makefile; every variant builds into build/<variant>/.
#
#   make            release build of the daemon and its tools
#   make run        deps + build + run with config/sensorpipe.conf
#   make test       deps + lint + plain suite + fuzz + ASan/UBSan + TSan,
#                   quietly (logs under build/logs/)
#   make asan|tsan  one sanitizer pass
#   make fuzz       time-boxed libFuzzer runs of every decoder
#   make bench      benchmarks (not part of `make test`)
#   make lint       format-check + clang-tidy + cppcheck
#   make deb        Debian package sensorpipe_VERSION_ARCH.deb
#   make cross      ARCH=aarch64: daemon and tools into build/aarch64/
#   make cross-test ARCH=aarch64: its unit, stress and ingest tests (qemu-user)

VARIANT ?= release
WERROR  ?= 1
CC      ?= cc
B       := build/$(VARIANT)

PKG_CONFIG ?= pkg-config
PKGS      := libuv libmosquitto sqlite3 libsystemd libxxhash

# pkg-config runs when a recipe first needs its answer (after `make deps`
# installed the packages), once per make; a missing package stops the build
# with pkg-config's own message instead of compiling without its flags.
pkgconf = $(if $(shell $(PKG_CONFIG) --exists $(2) 2>/dev/null && echo y),$(shell \
	$(PKG_CONFIG) $(1) $(2)),$(error pkg-config $(1) $(2) failed: $(shell \
	$(PKG_CONFIG) --print-errors --exists $(2) 2>&1 | head -n 3); run `make deps`))
PKG_CFLAGS = $(eval PKG_CFLAGS := $(call pkgconf,--cflags,$(PKGS)))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $(call pkgconf,--libs,$(PKGS)))$(PKG_LIBS)
CRIT_LIBS  = $(eval CRIT_LIBS := $(call pkgconf,--libs,criterion))$(CRIT_LIBS)

WARN := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2 -Wvla -Wcast-qual -Wpointer-arith \
	-Wundef -Wimplicit-fallthrough -Wconversion
ifeq ($(WERROR),1)
WARN += -Werror
endif

VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
BASE_CFLAGS = -std=c11 -D_GNU_SOURCE -DSP_VERSION='"$(VERSION)"' -Iinclude \
	$(WARN) -g -pthread -MMD -MP $(PKG_CFLAGS)
# Only test objects see the test helpers' headers.
TEST_CFLAGS = -Itest/support
BASE_LDFLAGS = -pthread
# --check-config compares the memory plan with the unit's MemoryMax=.
UNIT_MEMORY_MAX := $(shell sed -n 's/^MemoryMax=//p' systemd/sensorpipe.service)
BASE_CFLAGS += -DSP_UNIT_MEMORY_MAX='"$(UNIT_MEMORY_MAX)"'

ifeq ($(VARIANT),release)
VCFLAGS  := -O2 -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
VLDFLAGS := -pie -Wl,-z,relro,-z,now
else ifeq ($(VARIANT),debug)
VCFLAGS  := -O1 -fno-omit-frame-pointer
else ifeq ($(VARIANT),asan)
CC       := clang
VCFLAGS  := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=all
VLDFLAGS := -fsanitize=address,undefined
else ifeq ($(VARIANT),tsan)
CC       := clang
VCFLAGS  := -O1 -fno-omit-frame-pointer -fsanitize=thread
VLDFLAGS := -fsanitize=thread
else
$(error unknown VARIANT=$(VARIANT))
endif

CFLAGS_ALL  = $(BASE_CFLAGS) $(VCFLAGS) $(CFLAGS)
LDFLAGS_ALL = $(BASE_LDFLAGS) $(VLDFLAGS) $(LDFLAGS)

SRCS      := $(wildcard src/*.c)
LIB_OBJS  := $(patsubst src/%.c,$(B)/src/%.o,$(filter-out src/main.c,$(SRCS)))
SUP_SRCS  := $(wildcard test/support/*.c)
SUP_OBJS  := $(patsubst %.c,$(B)/%.o,$(SUP_SRCS))
UNIT      := $(patsubst test/unit/%.c,$(B)/test/unit/%,$(wildcard test/unit/test_*.c))
INTEG     := $(patsubst test/integration/%.c,$(B)/test/integration/%,$(wildcard test/integration/test_*.c))
STRESS    := $(patsubst test/stress/%.c,$(B)/test/stress/%,$(wildcard test/stress/stress_*.c))
TOOLS     := $(patsubst tools/%.c,$(B)/%,$(wildcard tools/sensorpipe-*.c))

# Test binaries see the allocation guard through --wrap (see alloc_guard.c).
WRAP := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free

.PHONY: all deps run test test-plain asan tsan fuzz bench lint format \
	format-check verify-unit clean units integ stress tools install demo \
	deb cross cross-build-tests cross-test
.DEFAULT_GOAL := all
# Keep the objects of test and tool binaries (they are chained targets).
.SECONDARY:

all: $(B)/sensorpipe tools

tools: $(TOOLS)

deps:
	@scripts/deps.sh

$(B)/src/%.o: src/%.c
	@mkdir -p $(@D)
	@echo "  CC $<"
	@$(CC) $(CFLAGS_ALL) -c $< -o $@

$(B)/test/%.o: test/%.c
	@mkdir -p $(@D)
	@echo "  CC $<"
	@$(CC) $(CFLAGS_ALL) $(TEST_CFLAGS) -c $< -o $@

$(B)/tools/%.o: tools/%.c
	@mkdir -p $(@D)
	@echo "  CC $<"
	@$(CC) $(CFLAGS_ALL) -c $< -o $@

$(B)/libsp.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(B)/sensorpipe: $(B)/src/main.o $(B)/libsp.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) -lm

$(B)/sensorpipe-%: $(B)/tools/sensorpipe-%.o $(B)/tools/loadgen.o $(B)/libsp.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) -lm

$(B)/test/unit/%: $(B)/test/unit/%.o $(SUP_OBJS) $(B)/libsp.a
	$(CC) $(LDFLAGS_ALL) $(WRAP) -o $@ $^ $(PKG_LIBS) $(CRIT_LIBS) -lm

$(B)/test/integration/%: $(B)/test/integration/%.o $(SUP_OBJS) $(B)/libsp.a
	$(CC) $(LDFLAGS_ALL) $(WRAP) -o $@ $^ $(PKG_LIBS) $(CRIT_LIBS) -lm

$(B)/test/stress/%: $(B)/test/stress/%.o $(B)/libsp.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) -lm

# Sends a foreign test binary's execve() back to qemu-user (cross tests).
$(B)/qemu_exec.so: test/cross/qemu_exec.c
	@echo "  CC $<"
	@$(CC) -std=c11 -D_GNU_SOURCE -O1 -g -fPIC -shared $(WARN) -o $@ $< -ldl

# The allocation-counting LD_PRELOAD shim (test/shim), for plain builds.
$(B)/test/shim/malloc_count.so: test/shim/malloc_count.c
	@mkdir -p $(@D)
	@echo "  CC $<"
	@$(CC) -std=c11 -D_GNU_SOURCE -O1 -g -fPIC -shared $(WARN) -o $@ $<

# Runs a program under the parts of the unit's sandbox a test can build.
$(B)/test/sandbox/sp-sandbox: test/sandbox/sp_sandbox.c
	@mkdir -p $(@D)
	@echo "  CC $<"
	@$(CC) -std=c11 -D_GNU_SOURCE -O1 -g $(WARN) -o $@ $<

units: $(UNIT)
integ: $(INTEG) $(B)/sensorpipe $(TOOLS) $(B)/test/shim/malloc_count.so \
	$(B)/test/sandbox/sp-sandbox
stress: $(STRESS)

# One variant's suite: unit tests, stress programs, then integration tests
# against this variant's daemon. SP_DAEMON tells the tests which binary to run.
test-plain: units integ stress
	@scripts/run-tests.sh $(B) $(VARIANT)

# `make test` runs every pass (scripts/test-all.sh): one line per step and
# per test program; every tool's output is in a log under build/logs/.
FUZZ_SMOKE_SECONDS ?= 5
test:
	@MAKE="$(MAKE)" FUZZ_SMOKE_SECONDS=$(FUZZ_SMOKE_SECONDS) scripts/test-all.sh

asan: deps
	$(MAKE) VARIANT=asan test-plain

# Criterion aborts under TSan (Snaipe/Criterion#274), so the TSan pass runs the
# plain-C stress programs built with TSan, and the Criterion integration suite,
# built plainly, against a daemon built with TSan.
tsan: deps
	$(MAKE) VARIANT=tsan build/tsan/sensorpipe stress
	$(MAKE) VARIANT=debug integ
	@scripts/run-tests.sh build/tsan tsan

# Cross builds with Debian's cross toolchain and the foreign -dev packages
# (scripts/deps.sh ARCH installs them): release flags, build/$(ARCH)/.
# cross-test runs that build's unit tests and ring stress program under
# qemu-user, then the native ingest suite against the emulated daemon.
ARCH    ?= aarch64
XTRIPLE  = $(ARCH)-linux-gnu
XB       = build/$(ARCH)
XSYS     = $(CURDIR)/$(XB)/sysroot/usr/lib/$(XTRIPLE)
XMAKE    = $(MAKE) VARIANT=release B=$(XB) CC=$(XTRIPLE)-gcc \
	PKG_CONFIG='env PKG_CONFIG_LIBDIR=/usr/lib/$(XTRIPLE)/pkgconfig:/usr/share/pkgconfig pkg-config' \
	CRIT_LIBS='$(XSYS)/libcriterion.so.3 -Wl,-rpath-link,$(XSYS)'

cross:
	@scripts/deps.sh $(ARCH)
	@scripts/cross.sh $(ARCH) $(XB)
	$(XMAKE) all

cross-build-tests: cross
	@scripts/cross.sh $(ARCH) $(XB) tests
	$(XMAKE) units stress $(XB)/qemu_exec.so
	$(MAKE) VARIANT=debug build/debug/test/integration/test_ingest

cross-test: cross-build-tests
	@scripts/cross-tests.sh $(ARCH) $(XB)

run: deps
	$(MAKE) VARIANT=release build/release/sensorpipe
	@scripts/run.sh build/release/sensorpipe config/sensorpipe.conf

bench: deps
	$(MAKE) VARIANT=release all
	@scripts/bench.sh build/release

# A private broker, the daemon and a gentle simulated fleet for a minute.
demo: deps
	$(MAKE) VARIANT=release all
	@scripts/demo.sh build/release

FUZZ_SECONDS ?= 30
fuzz: deps
	@scripts/fuzz.sh $(FUZZ_SECONDS)

format:
	clang-format -i src/*.c include/*.h test/*/*.c test/*/*.h tools/*.c tools/*.h

format-check:
	clang-format --dry-run --Werror src/*.c include/*.h test/*/*.c test/*/*.h \
		tools/*.c tools/*.h

lint: format-check
	clang-tidy --quiet src/*.c -- -std=c11 -D_GNU_SOURCE -DSP_VERSION='""' \
		-Iinclude $(PKG_CFLAGS)
	cppcheck --quiet --enable=warning,performance,portability \
		--error-exitcode=1 --inline-suppr -Iinclude src
	@for f in src/*.c; do \
		gcc -std=c11 -D_GNU_SOURCE -DSP_VERSION='""' -Iinclude -fanalyzer \
			-Werror -c $$f -o /dev/null || exit 1; \
	done; echo "lint: gcc -fanalyzer clean"

verify-unit:
	@scripts/verify-unit.sh

# Installs the release build. PREFIX and DESTDIR as usual; the units (the
# daemon's, and the merge service and timer, which nothing enables) go to
# the systemd system unit directory, the example configuration to
# /etc/sensorpipe (never over an existing one).
PREFIX  ?= /usr
SYSCONF ?= /etc
UNITDIR ?= /lib/systemd/system
install: all
	install -D -m 0755 $(B)/sensorpipe $(DESTDIR)$(PREFIX)/bin/sensorpipe
	install -D -m 0755 $(B)/sensorpipe-load $(DESTDIR)$(PREFIX)/bin/sensorpipe-load
	for u in sensorpipe.service sensorpipe-merge.service sensorpipe-merge.timer; do \
		sed 's|/usr/bin/sensorpipe|$(PREFIX)/bin/sensorpipe|g' systemd/$$u >$(B)/$$u && \
		install -D -m 0644 $(B)/$$u $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	install -D -m 0644 systemd/sensorpipe.sysusers $(DESTDIR)$(PREFIX)/lib/sysusers.d/sensorpipe.conf
	install -D -m 0644 man/sensorpipe.8 $(DESTDIR)$(PREFIX)/share/man/man8/sensorpipe.8
	install -D -m 0644 man/sensorpipe.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/sensorpipe.conf.5
	install -D -m 0644 man/sensorpipe-load.1 $(DESTDIR)$(PREFIX)/share/man/man1/sensorpipe-load.1
	install -D -m 0644 -t $(DESTDIR)$(PREFIX)/share/sensorpipe/grafana \
		config/grafana/sensorpipe.json config/grafana/sensorpipe-datasource.yaml \
		config/grafana/sensorpipe-dashboards.yaml
	sed 's|^path = ./var/sensorpipe.db|path = /var/lib/sensorpipe/sensorpipe.db|' \
		config/sensorpipe.conf >$(B)/sensorpipe.conf
	test -e $(DESTDIR)$(SYSCONF)/sensorpipe/sensorpipe.conf || \
		install -D -m 0644 $(B)/sensorpipe.conf $(DESTDIR)$(SYSCONF)/sensorpipe/sensorpipe.conf

# A Debian package (debian/, dpkg-buildpackage, debhelper), built in a copy
# of the tree under build/deb; sensorpipe_VERSION_ARCH.deb lands here.
deb: deps
	@scripts/build-deb.sh

clean:
	rm -rf build sensorpipe_*.deb

-include $(shell find build -name '*.d' -type f 2>/dev/null)
