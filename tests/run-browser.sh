#!/bin/sh
# Runs the node:test browser suites in tests/browser (headless Debian
# chromium via playwright-core) against the binaries in $SNO_BUILD (default
# build/) and the dashboard in web/dist. Prints node's TAP summary and
# "browser: N passed, N failed". Screenshots land in tests/browser/out/.
top=$(cd "$(dirname "$0")/.." && pwd)
b=${SNO_BUILD:-build}
export SNO_RELAY="$top/$b/sno-relay" SNO_AGENT="$top/$b/sno-agent"
cd "$top/tests/browser" || exit 1
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
echo "browser: ${p:-0} passed, $f failed"
[ "$f" -eq 0 ]
