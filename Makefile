# sno: make builds build/sno-relay and build/sno-agent; see README.md.
# One build directory per flavour: build/ (release), build-asan/ (ASan+UBSan).

CC ?= cc
PKGS := libwebsockets libcjson libsodium inih libcurl libssl libcrypto \
	hiredis libsystemd
FLAVOUR ?= release
ifeq ($(FLAVOUR),asan)
B := build-asan
OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=all
LDOPT := -fsanitize=address,undefined
else
B := build
OPT := -O2 -g -fstack-protector-strong -D_FORTIFY_SOURCE=2
LDOPT := -Wl,-z,relro,-z,now
endif

WARN := -std=c11 -Wall -Wextra -Wshadow -Wformat=2 -Werror \
	-Wstrict-prototypes -Wmissing-prototypes -Wmissing-declarations \
	-Wpointer-arith -Wcast-qual -Wwrite-strings -Wvla -Wundef
CFLAGS := $(WARN) $(OPT) -D_DEFAULT_SOURCE -D_GNU_SOURCE -Icommon \
	$(shell pkg-config --cflags $(PKGS) 2>/dev/null) -MMD -MP
LDLIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lev -lm -lpthread
# The agent links only what it uses: libcurl (OpenSSL flavour), cJSON,
# libsodium, inih; no libwebsockets.
AGENT_LIBS := $(shell pkg-config --libs libcurl libcjson libsodium inih \
	2>/dev/null) -lm
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
CFLAGS += -DSNO_VERSION=\"$(VERSION)\"

COMMON_SRC := $(wildcard common/*.c)
RELAY_SRC := $(wildcard relay/*.c)
AGENT_SRC := $(wildcard agent/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(B)/%.o)
RELAY_OBJ := $(RELAY_SRC:%.c=$(B)/%.o)
AGENT_OBJ := $(AGENT_SRC:%.c=$(B)/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

BINS := $(B)/sno-relay $(if $(AGENT_SRC),$(B)/sno-agent)
WEB := $(if $(wildcard web/package.json),web/dist/index.html)

.PHONY: all web deps test unit integration asan asan-test run run-cluster clean \
	check style install node-deps deb
# Plain `make` builds the C (daemons and unit tests) and never touches npm;
# `make web` bundles the dashboard, and run, test and integration call it.
all: $(BINS) $(UNIT_BIN)
web: $(WEB)

# The dashboard: npm packages from the lock file, bundled by esbuild.
web/dist/index.html: web/package-lock.json web/build.mjs $(shell find web/src -type f 2>/dev/null)
	cd web && npm ci --no-audit --no-fund --loglevel=error && node build.mjs

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) -c -o $@ $<

$(B)/sno-relay: $(RELAY_OBJ) $(COMMON_OBJ)
	@echo "  LD      $@"
	@$(CC) $(LDOPT) -o $@ $^ $(LDLIBS)

$(B)/sno-agent: $(AGENT_OBJ) $(COMMON_OBJ)
	@echo "  LD      $@"
	@$(CC) $(LDOPT) -Wl,--as-needed -o $@ $^ $(AGENT_LIBS)

# A unit test links its module's objects (never main.o): test_relay_* the
# relay's below the glue (no relay/lws_*.o, and no libwebsockets: the
# layers of docs/architecture.md), test_agent_* the agent's, anything else
# common/ alone.
unit_objs = $(COMMON_OBJ) $(if $(findstring test_relay_,$(1)),$(filter-out \
	%/main.o $(B)/relay/lws_%.o,$(RELAY_OBJ))) $(if $(findstring \
	test_agent_,$(1)),$(filter-out %/main.o,$(AGENT_OBJ)))
# libev only for the Redis link's loop adapter (cluster_conn.c), which the
# tests link but never start.
UNIT_LIBS := $(shell pkg-config --libs $(filter-out libwebsockets,$(PKGS)) \
	2>/dev/null) -lev -lm -lpthread -lcmocka
.SECONDEXPANSION:
$(B)/tests/%: $(B)/tests/unit/%.o $$(call unit_objs,$$*)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(LDOPT) -o $@ $^ $(UNIT_LIBS)

deps:
	@sh packaging/install-deps.sh

node-deps: tests/integration/node_modules/.package-lock.json
tests/integration/node_modules/.package-lock.json: tests/integration/package-lock.json
	cd tests/integration && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(B)/tests/unit/test_relay_%.o: CFLAGS += -Irelay
$(B)/tests/unit/test_agent_%.o: CFLAGS += -Iagent

# One test: make unit T=test_agent_parsers, make integration
# T=relay_presence.test.js (T may name several, space-separated).
unit: $(UNIT_BIN)
	@sh tests/run-unit.sh $(if $(T),$(addprefix $(B)/tests/,$(T)),$(UNIT_BIN))

integration: $(BINS) $(WEB) node-deps
	@SNO_BUILD=$(B) sh tests/run-integration.sh $(T)

# The one command that runs every test; it ends with "N passed, N failed".
test: deps
	@$(MAKE) --no-print-directory all web node-deps
	@sh tests/run-all.sh $(B)

asan:
	@$(MAKE) --no-print-directory FLAVOUR=asan all

asan-test: deps
	@$(MAKE) --no-print-directory FLAVOUR=asan all web node-deps
	@sh tests/run-all.sh build-asan

run: deps
	@$(MAKE) --no-print-directory all web
	@sh packaging/run-demo.sh $(B)

# `make run` as two relay nodes sharing a redis-server (issue 12).
run-cluster: deps
	@$(MAKE) --no-print-directory all web
	@sh packaging/run-cluster.sh $(B)

# The developer's gate before a commit: the C builds warning-free, the unit
# tests pass, and the C files changed since $(CHECK_BASE) (every C file when
# that ref is absent, as on a clean clone) keep the house style.
CHECK_BASE ?= origin/main
check: all
	@sh tests/run-unit.sh $(UNIT_BIN)
	@sh tests/style.sh $(CHECK_BASE)

# The style is KNF (docs/style.md), kept by review: clang-format 14 cannot
# write KNF's tab-aligned comments and packed format arguments, so there is
# no .clang-format. tests/style.sh checks what a machine can: tabs, columns,
# trailing blanks, comment style. `make style` checks every C file.
style:
	@sh tests/style.sh

# Debian packages in build/deb/ (packaging/make-deb.sh; debian/ is
# packaging/debian): sno-relay_VERSION_ARCH.deb, sno-agent_VERSION_ARCH.deb.
deb:
	@sh packaging/install-deps.sh deb
	@$(MAKE) --no-print-directory $(WEB)
	@sh packaging/make-deb.sh

PREFIX ?= /usr/local
install: all
	install -D -m 0755 $(B)/sno-relay $(DESTDIR)$(PREFIX)/bin/sno-relay
	$(if $(AGENT_SRC),install -D -m 0755 $(B)/sno-agent \
		$(DESTDIR)$(PREFIX)/bin/sno-agent)

clean:
	rm -rf build build-asan build-fuzz

# Development targets (benchmarks, fuzzing); optional, so that the source
# tree packaging/make-deb.sh stages for dpkg-buildpackage builds without them.
-include tests/bench/bench.mk
-include tests/bench/agent.mk
-include tests/bench/fleet.mk
-include tests/fuzz/fuzz.mk

-include $(shell find $(B) -name '*.d' 2>/dev/null)
.SECONDARY:
