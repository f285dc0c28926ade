#!/bin/sh
# Runs libFuzzer targets one after the other (the machine is shared), each
# for FUZZ_SECONDS, and prints one line per target: executions, executions
# per second, new corpus size and the result. New inputs go to
# $FB/corpus/TARGET (the committed seeds in tests/fuzz/corpus/TARGET are
# only read); a crashing input is kept in $FB/crashes/. Exit status 1 when
# any target failed.
#   FB=build-fuzz FUZZ_SECONDS=20 sh tests/fuzz/run.sh proc_cpu sample
set -u

FB=${FB:-build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-60}
here=$(dirname "$0")
failed=0
total=0

mkdir -p "$FB/crashes" "$FB/logs"
printf '%-12s %12s %10s %8s  %s\n' target execs execs/s corpus result
for t in "$@"; do
	bin="$FB/fuzz_$t"
	seeds="$here/corpus/$t"
	work="$FB/corpus/$t"
	log="$FB/logs/$t.log"
	mkdir -p "$work"
	dict=""
	[ -f "$here/dict/$t.dict" ] && dict="-dict=$here/dict/$t.dict"
	# -timeout: no input may take a second; -rss_limit_mb: nor 1 GB.
	# shellcheck disable=SC2086
	"$bin" -max_total_time="$SECONDS_EACH" -timeout=5 -rss_limit_mb=1024 \
		-max_len=65536 -print_final_stats=1 $dict \
		-artifact_prefix="$FB/crashes/$t-" "$work" "$seeds" \
		>"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	units=$(find "$work" -type f | wc -l)
	if [ "$rc" -eq 0 ]; then
		result=ok
	else
		result="FAILED (exit $rc, log $log)"
		failed=$((failed + 1))
	fi
	printf '%-12s %12s %10s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" \
		"$units" "$result"
	if [ "$rc" -ne 0 ]; then
		grep -E 'ERROR|SUMMARY|property failed|#[0-9]+ 0x' "$log" |
			head -20 | sed 's/^/    /'
		find "$FB/crashes" -name "$t-*" | sed 's/^/    input: /'
	fi
	total=$((total + 1))
done
echo "fuzz: $total targets, $failed failed, ${SECONDS_EACH} s each"
[ "$failed" -eq 0 ]
