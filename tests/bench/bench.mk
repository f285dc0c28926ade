# Fan-out benchmark of issue 5 (docs/benchmarks.md): sno-relay beside nchan
# and the bare floor server. The Makefile includes this fragment; it uses
# B (build directory) and WARN from there.
#   make bench        every case (about 8 minutes)
#   make bench-quick  smaller cases, under 2 minutes

B ?= build
WARN ?= -std=c11 -Wall -Wextra -Wshadow -Wformat=2 -Werror
BENCH_CFLAGS := $(WARN) -O2 -g -D_DEFAULT_SOURCE -D_GNU_SOURCE -Icommon \
	-Itests/bench $(shell pkg-config --cflags libsodium libssl libcrypto 2>/dev/null)
BENCH_LIBS := $(shell pkg-config --libs libsodium libcrypto 2>/dev/null)
# loadgen --tls: wss and https clients with OpenSSL.
LOADGEN_LIBS := $(shell pkg-config --libs libssl 2>/dev/null || echo -lssl) \
	$(BENCH_LIBS)

$(B)/bench/loadgen: tests/bench/loadgen.c tests/bench/lg_turns.c \
		tests/bench/loadgen.h common/sign.c common/sign.h
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(BENCH_CFLAGS) -o $@ tests/bench/loadgen.c \
		tests/bench/lg_turns.c common/sign.c $(LOADGEN_LIBS)

$(B)/bench/floor: tests/bench/floor.c
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(BENCH_CFLAGS) -o $@ $< $(BENCH_LIBS)

.PHONY: bench bench-quick bench-tools
bench-tools: $(B)/sno-relay $(B)/bench/loadgen $(B)/bench/floor

bench: bench-tools
	@B=$(B) sh tests/bench/run.sh full

bench-quick: bench-tools
	@B=$(B) sh tests/bench/run.sh quick

# make soak: 19,000 connections, 1,000 publishes/s for SOAK_SECONDS (600);
# RSS and open files each minute, loss and latency at the end.
.PHONY: soak
soak: $(B)/sno-relay $(B)/bench/loadgen
	@B=$(B) sh tests/bench/soak.sh
