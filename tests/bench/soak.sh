#!/bin/sh
# make soak (issue 9): one relay, SOAK_CONNS websocket subscribers spread over
# SOAK_CHANNELS channels, SOAK_RATE signed publishes a second for
# SOAK_SECONDS, relay pinned to CPU 0 and the generator to CPU 1. Every
# SOAK_EVERY seconds it prints the relay's RSS, PSS and open files; at the end
# the generator's count of deliveries lost, duplicated and reordered and the
# publish-to-delivery latency, and whether RSS and open files stayed within
# 5 % of the first reading. A benchmark: it prints figures, it asserts none.
# Every process it starts is stopped by its PID on exit.
set -u
B=${B:-build}
LG=$B/bench/loadgen
RELAY=$B/sno-relay
SECS=${SOAK_SECONDS:-600}
CONNS=${SOAK_CONNS:-19000}
RATE=${SOAK_RATE:-1000}
CHANS=${SOAK_CHANNELS:-1000}
EVERY=${SOAK_EVERY:-60}
SIZE=${SOAK_SIZE:-100}
T=$(mktemp -d /tmp/sno-soak.XXXXXX)
PORT=$((12000 + $$ % 16000))
PIDS=""

cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	sleep 0.3
	for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
	[ "${KEEP:-0}" = 1 ] && echo "soak: kept $T" || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -x "$LG" ] && [ -x "$RELAY" ] ||
	{ echo "soak: build $LG and $RELAY first (make soak)" >&2; exit 1; }
while [ -n "$(ss -Htan "( sport = :$PORT )" 2>/dev/null)" ]; do
	PORT=$((PORT + 1))
done
cat >"$T/relay.ini" <<CONF
[relay]
listen = 127.0.0.1:$PORT
activity_timeout = 120
log_level = warn
[app soak]
id = 1
key = soak-key
secret = soak-secret
CONF
taskset -c 0 "$RELAY" -c "$T/relay.ini" 2>>"$T/relay.log" &
rpid=$!
PIDS="$rpid"
i=0
until ss -Hltn "sport = :$PORT" 2>/dev/null | grep -q LISTEN; do
	i=$((i + 1))
	[ $i -lt 200 ] || { echo "soak: relay did not listen" >&2; cat "$T/relay.log" >&2; exit 1; }
	sleep 0.05
done

kb() { awk -v k="$2:" '$1 == k {print $2}' "$1" 2>/dev/null; }
reading() {
	rss=$(kb "/proc/$rpid/status" VmRSS)
	pss=$(kb "/proc/$rpid/smaps_rollup" Pss)
	fds=$(ls "/proc/$rpid/fd" 2>/dev/null | wc -l)
	echo "${1}s rss_kb=${rss:-0} pss_kb=${pss:-0} open_files=$fds"
}

echo "soak: $CONNS subscribers on $CHANS channels, $RATE publishes/s of $SIZE B, ${SECS}s, relay pid $rpid"
taskset -c 1 "$LG" --mode pusher --port "$PORT" --subs "$CONNS" \
    --channels "$CHANS" --rate "$RATE" --size "$SIZE" --publishers 8 \
    --duration "$SECS" --drain 10 --connect-timeout 120 \
    --app-id 1 --key soak-key --secret soak-secret --channel soak \
    --server-pids "$rpid" >"$T/loadgen.out" 2>"$T/loadgen.err" &
lpid=$!
PIDS="$PIDS $lpid"

# Readings start once every subscriber is connected (the relay's open files
# reach the connection count), so the first is the baseline, not the ramp.
i=0
while kill -0 "$lpid" 2>/dev/null && [ "$(ls /proc/$rpid/fd 2>/dev/null | wc -l)" -lt "$CONNS" ] && [ $i -lt 1200 ]; do
	sleep 0.1
	i=$((i + 1))
done
t0=$(date +%s)
: >"$T/readings"
while kill -0 "$lpid" 2>/dev/null; do
	reading $(( $(date +%s) - t0 )) | tee -a "$T/readings"
	j=0
	while [ $j -lt "$EVERY" ] && kill -0 "$lpid" 2>/dev/null; do
		sleep 1
		j=$((j + 1))
	done
done
wait "$lpid"
res=$(grep '^result' "$T/loadgen.out")
[ -n "$res" ] || { echo "soak: the generator gave no result" >&2; cat "$T/loadgen.err" >&2; exit 1; }
field() { echo "$res" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2}'; }
# The last reading is taken while the generator drains; flatness is judged on
# the readings with every subscriber still connected.
awk '{ split($2, a, "="); split($4, b, "=");
	if (NR == 1) { r0 = a[2]; f0 = b[2] }
	if (a[2] > rmax) rmax = a[2]; if (rmin == "" || a[2] < rmin) rmin = a[2]
	if (b[2] > fmax) fmax = b[2]; if (fmin == "" || b[2] < fmin) fmin = b[2] }
     END { printf "soak: rss %d..%d kB (%+.1f %% of the first), open files %d..%d (%+.1f %%)\n",
	rmin, rmax, r0 ? 100 * (rmax - r0) / r0 : 0, fmin, fmax, f0 ? 100 * (fmax - f0) / f0 : 0
	printf "soak: flat within 5 %%: %s\n", (r0 && (rmax - rmin) <= 0.05 * r0 && (fmax - fmin) <= 0.05 * f0) ? "yes" : "NO" }' "$T/readings"
echo "soak: subscribed=$(field subscribed) published=$(field published) pub_ok=$(field pub_ok) pub_err=$(field pub_err) delivered=$(field received) expected=$(field expected)"
echo "soak: lost=$(field lost) duplicated=$(field dups) reordered=$(field reordered) closed=$(field closed)"
echo "soak: latency p50=$(field p50_us) us p99=$(field p99_us) us max=$(field max_us) us; publish answer p99=$(field pub_p99_us) us"
echo "soak: relay CPU $(field srv_us_per_deliv) us per delivery"
sort "$T/loadgen.err" | uniq -c | head -5
