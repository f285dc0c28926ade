#!/bin/sh
# Runs every test against build directory $1 and ends with one line:
# "N passed, N failed".
b=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
ulog=$(mktemp) ilog=$(mktemp)
sh tests/run-unit.sh "$b"/tests/test_* | tee "$ulog"
SNO_BUILD="$b" sh tests/run-integration.sh | tee "$ilog"
count() {
	n=$(sed -n "s/^$1: \([0-9]*\) passed, \([0-9]*\) failed/\\$2/p" "$3")
	echo "${n:-0}"
}
p=$(( $(count unit 1 "$ulog") + $(count integration 1 "$ilog") ))
f=$(( $(count unit 2 "$ulog") + $(count integration 2 "$ilog") ))
[ -s "$ulog" ] && [ -s "$ilog" ] || f=$((f + 1))
rm -f "$ulog" "$ilog"
echo "$p passed, $f failed"
[ "$f" -eq 0 ]
