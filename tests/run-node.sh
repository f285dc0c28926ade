#!/bin/sh
# Runs the node:test suites of one folder (tests/integration or tests/browser)
# against the binaries in $SNO_BUILD (default build/), installing its npm
# packages from the lock file when they are missing or stale. Prints node's
# TAP summary and "LABEL: N passed, N failed".
#   sh tests/run-node.sh LABEL DIR
label=$1
top=$(cd "$(dirname "$0")/.." && pwd)
b=${SNO_BUILD:-build}
export SNO_RELAY="$top/$b/sno-relay" SNO_AGENT="$top/$b/sno-agent"
cd "$top/$2" || exit 1
if [ ! -f node_modules/.package-lock.json ] ||
    [ package-lock.json -nt node_modules/.package-lock.json ]; then
	npm ci --no-audit --no-fund --loglevel=error || exit 1
fi
log=$(mktemp)
node --test --test-reporter=tap --test-concurrency=1 >"$log" 2>&1
rc=$?
grep -E '^not ok|^# (tests|pass|fail|cancelled|skipped|duration_ms)|^# \\# ' "$log"
if [ "$rc" -ne 0 ]; then
	echo "--- failures (full log: $log) ---"
	grep -B2 -A30 '^not ok\|^    not ok' "$log" | head -200
fi
p=$(sed -n 's/^# pass \([0-9]*\)/\1/p' "$log")
f=$(sed -n 's/^# fail \([0-9]*\)/\1/p' "$log")
c=$(sed -n 's/^# cancelled \([0-9]*\)/\1/p' "$log")
f=$((${f:-0} + ${c:-0}))
[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
echo "$label: ${p:-0} passed, $f failed"
[ "$f" -eq 0 ]
