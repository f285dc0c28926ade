#!/bin/sh
# Runs the node:test suites of one folder (tests/integration or tests/browser)
# against the binaries in $SNO_BUILD (default build/), installing its npm
# packages from the lock file when they are missing or stale. Prints node's
# TAP summary and "LABEL: N passed, N failed".
#   sh tests/run-node.sh LABEL DIR [FILE...]   (FILEs: only those)
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
# One file at a time, each in its own `node --test`: the suites share the
# machine's ports and cores, and Debian 12's Node 18 has no
# --test-concurrency. The per-file TAP summaries are added up below.
rc=0
dir=$2
shift 2
[ $# -gt 0 ] || set -- *.test.js *.test.mjs *.test.cjs
for t in "$@"; do
	case $t in *\**) [ -f "$t" ] || continue ;; esac # a glob that matched none
	if [ ! -f "$t" ]; then
		echo "no test file $dir/$t"
		rc=1
		continue
	fi
	node --test --test-reporter=tap "$t" >>"$log" 2>&1 || rc=1
done
grep -E '^not ok' "$log"
if [ "$rc" -ne 0 ]; then
	echo "--- failures (full log: $log) ---"
	grep -B2 -A30 '^not ok\|^    not ok' "$log" | head -200
fi
sum() { sed -n "s/^# $1 \([0-9]*\)\$/\1/p" "$log" | awk '{ n += $1 } END { print n + 0 }'; }
p=$(sum pass)
f=$(($(sum fail) + $(sum cancelled)))
[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
echo "$label: $p passed, $f failed"
[ "$f" -eq 0 ]
