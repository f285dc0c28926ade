# Fleet benchmark of issue 13, acceptance 3 (docs/benchmarks.md, "Fleet
# view"): 200 simulated hosts posting real-size signed samples at 1 Hz into
# one sno-relay, one fleet page in headless Chromium; prints the relay's CPU,
# the summary event's size and the page's longest task. About 90 s. The
# Makefile includes this fragment; it uses B (build directory) from there.
#   make bench-fleet
#   HOSTS=50 DUR=10 B=build node tests/bench/fleet.js   (a short dry run)
#   TRACE=1 make bench-fleet   (what each long task spent its time on)

B ?= build

.PHONY: bench-fleet
bench-fleet: $(B)/sno-relay $(B)/sno-agent $(WEB) node-deps
	@cd tests/browser && { [ -f node_modules/.package-lock.json ] || \
		npm ci --no-audit --no-fund --loglevel=error; }
	@B=$(B) node tests/bench/fleet.js
