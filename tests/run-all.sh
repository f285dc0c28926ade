#!/bin/sh
# Runs every test against build directory $1 and ends with one line:
# "N passed, N failed".
b=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
ulog=$(mktemp) ilog=$(mktemp) blog=$(mktemp)
sh tests/run-unit.sh "$b"/tests/test_* | tee "$ulog"
SNO_BUILD="$b" sh tests/run-integration.sh | tee "$ilog"
SNO_BUILD="$b" sh tests/run-browser.sh | tee "$blog"
count() {
	n=$(sed -n "s/^$1: \([0-9]*\) passed, \([0-9]*\) failed/\\$2/p" "$3")
	echo "${n:-0}"
}
p=$(( $(count unit 1 "$ulog") + $(count integration 1 "$ilog") +
    $(count browser 1 "$blog") ))
f=$(( $(count unit 2 "$ulog") + $(count integration 2 "$ilog") +
    $(count browser 2 "$blog") ))
for l in "$ulog" "$ilog" "$blog"; do
	grep -q ' passed, ' "$l" || f=$((f + 1)) # a runner that never finished
done
rm -f "$ulog" "$ilog" "$blog"
echo "$p passed, $f failed"
[ "$f" -eq 0 ]
