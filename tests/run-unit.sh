#!/bin/sh
# Runs each cmocka unit-test binary given and sums their results, plus
# tests/check-layers.sh (only the lws glue includes libwebsockets.h).
# Prints "unit: N passed, N failed" and exits 1 if any test failed.
pass=0 fail=0
for t in "$@"; do
	[ -x "$t" ] || continue
	out=$("$t" 2>&1)
	rc=$?
	printf '%s\n' "$out" | grep -E '^\[  (FAILED|ERROR)' | sed "s|^|$(basename "$t"): |"
	p=$(printf '%s\n' "$out" | sed -n 's/.*\[  PASSED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
	f=$(printf '%s\n' "$out" | sed -n 's/.*\[  FAILED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		printf '%s\n' "$out" | tail -20
		f=1 # crashed before cmocka could count
	fi
	pass=$((pass + p)) fail=$((fail + f))
done
# Not a cmocka binary, but a unit-level rule: the relay's layering.
if sh "$(dirname "$0")/check-layers.sh"; then
	pass=$((pass + 1))
else
	fail=$((fail + 1))
fi
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
