# Agent cost benchmark of issue 3, acceptance 4 (docs/benchmarks.md, "Agent
# cost"): sno-agent streaming at 1 Hz over TLS for 60 s with 1,000 extra
# processes, beside top -b -d 1. The Makefile includes this fragment; it
# uses B (build directory) from there. About 75 s.
#   make bench-agent
#   DUR=10 NPROCS=100 sh tests/bench/agent.sh   (a short dry run)

B ?= build

.PHONY: bench-agent
bench-agent: $(B)/sno-relay $(B)/sno-agent
	@B=$(B) sh tests/bench/agent.sh
