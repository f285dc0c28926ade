#!/bin/sh
# Fan-out benchmark of issue 5: sno-relay beside nchan (Debian nginx module)
# and the bare floor server, every case on a fresh server pinned to CPU 0
# with the generator on CPU 1. Prints one table (docs/benchmarks.md explains
# the columns). Every process started here is stopped by its PID on exit.
#
# usage: tests/bench/run.sh [full|quick]   (env: B=build dir, SERVERS="sno nchan floor",
#        CASES="a10k a19k b b-tls c c-tls d e f s19k s10k", KEEP=1 keeps the
#        temp dir)
# A case NAME-tls is case NAME over wss/https (sno and nchan; the floor has no
# TLS), with a self-signed P-256 certificate for 127.0.0.1 made here.
set -u

MODE=${1:-full}
B=${B:-build}
LG=$B/bench/loadgen
FLOOR=$B/bench/floor
RELAY=$B/sno-relay
SERVERS=${SERVERS:-"sno nchan floor"}
T=$(mktemp -d /tmp/sno-bench.XXXXXX)
RES=$T/results
SPIDS=""
ALLPIDS=""
# Below the ephemeral range (32768-60999), so no client socket holds it.
PORT=$((12000 + $$ % 16000))
PUBS=${PUBS:-8}	# keep-alive publisher connections (case f: 8)
NCHAN_SO=""

cleanup() {
	for p in $ALLPIDS; do
		kill "$p" 2>/dev/null
	done
	sleep 0.3
	for p in $ALLPIDS; do
		kill -9 "$p" 2>/dev/null
	done
	[ "${KEEP:-0}" = 1 ] && echo "bench: kept $T" || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$MODE" = quick ]; then
	CASES=${CASES:-"a5k b b-tls c d e f"}
	DUR=3
else
	CASES=${CASES:-"a10k a19k b b-tls c c-tls d e f s19k s10k"}
	DUR=15
fi

# nchan: Debian packages (packaging/bench-deps.txt); installed only when
# missing, and only as root.
find_nchan() {
	for f in /usr/share/nginx/modules/ngx_nchan_module.so \
	    /usr/lib/nginx/modules/ngx_nchan_module.so; do
		[ -f "$f" ] && NCHAN_SO=$f && return 0
	done
	return 1
}
if echo "$SERVERS" | grep -q nchan && ! { command -v nginx >/dev/null && find_nchan; }; then
	if [ "$(id -u)" -eq 0 ]; then
		echo "bench: installing nginx-light libnginx-mod-nchan" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		    --no-install-recommends nginx-light libnginx-mod-nchan \
		    >"$T/apt.log" 2>&1 || tail -5 "$T/apt.log" >&2
	fi
	command -v nginx >/dev/null && find_nchan ||
		{ echo "bench: nchan unavailable, skipped" >&2;
		  SERVERS=$(echo "$SERVERS" | sed 's/nchan//'); }
fi

wait_port() {
	i=0
	while [ $i -lt 100 ]; do
		ss -Hltn "sport = :$1" 2>/dev/null | grep -q LISTEN && return 0
		sleep 0.05
		i=$((i + 1))
	done
	echo "bench: nothing listens on port $1" >&2
	return 1
}

# Moves PORT to one that no socket in any state uses.
pick_port() {
	while [ -n "$(ss -Htan "( sport = :$PORT )" 2>/dev/null)" ]; do
		PORT=$((PORT + 1))
	done
}

# Case NAME-tls: the server listens with TLS on PORT (sno: plain listen on
# another free port, since the relay always has one).
TLS=0
make_cert() {
	[ -f "$T/cert.pem" ] && return 0
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	    -nodes -days 2 -subj /CN=127.0.0.1 \
	    -addext subjectAltName=IP:127.0.0.1 \
	    -keyout "$T/key.pem" -out "$T/cert.pem" >"$T/openssl.log" 2>&1 ||
	    { echo "bench: openssl req failed" >&2; cat "$T/openssl.log" >&2;
	      return 1; }
}

start_sno() {
	if [ "$TLS" = 1 ]; then
		p2=$((PORT + 1))
		while [ -n "$(ss -Htan "( sport = :$p2 )" 2>/dev/null)" ]; do
			p2=$((p2 + 1))
		done
		listen="listen = 127.0.0.1:$p2
tls_listen = 127.0.0.1:$PORT
tls_cert = $T/cert.pem
tls_key = $T/key.pem"
	else
		listen="listen = 127.0.0.1:$PORT"
	fi
	cat >"$T/relay.ini" <<EOF
[relay]
$listen
max_message_bytes = 1048576
send_queue_bytes = 1048576
activity_timeout = 120
log_level = warn
[app bench]
id = 1
key = bench-key
secret = bench-secret
EOF
	taskset -c 0 "$RELAY" -c "$T/relay.ini" 2>>"$T/relay.log" &
	SPIDS=$!
	ALLPIDS="$ALLPIDS $!"
}

start_floor() {
	taskset -c 0 "$FLOOR" "$PORT" 2>>"$T/floor.log" &
	SPIDS=$!
	ALLPIDS="$ALLPIDS $!"
}

start_nchan() {
	mkdir -p "$T/ngx"
	ssl=""
	sslconf=""
	if [ "$TLS" = 1 ]; then
		ssl=" ssl"
		sslconf="ssl_certificate $T/cert.pem; ssl_certificate_key $T/key.pem;"
	fi
	cat >"$T/nginx.conf" <<EOF
load_module $NCHAN_SO;
daemon off;
worker_processes 1;
worker_cpu_affinity 01;
worker_rlimit_nofile 20000;
pid $T/nginx.pid;
error_log $T/nginx-error.log warn;
events { worker_connections 20000; multi_accept on; }
http {
	access_log off;
	client_body_temp_path $T/ngx/body;
	proxy_temp_path $T/ngx/proxy;
	fastcgi_temp_path $T/ngx/fcgi;
	uwsgi_temp_path $T/ngx/uwsgi;
	scgi_temp_path $T/ngx/scgi;
	client_max_body_size 2m;
	client_body_buffer_size 256k;
	keepalive_requests 1000000;
	server {
		listen 127.0.0.1:$PORT$ssl backlog=4096;
		$sslconf
		location ~ ^/sub/(\w+)$ {
			nchan_subscriber websocket;
			nchan_channel_id \$1;
			nchan_subscriber_first_message newest;
		}
		location ~ ^/pub/(\w+)$ {
			nchan_publisher;
			nchan_channel_id \$1;
			nchan_message_buffer_length 16;
			nchan_message_timeout 60s;
		}
	}
}
EOF
	taskset -c 0 nginx -c "$T/nginx.conf" -p "$T/ngx" 2>>"$T/nginx.log" &
	master=$!
	ALLPIDS="$ALLPIDS $master"
	wait_port "$PORT" || return 1
	workers=$(cat "/proc/$master/task/$master/children" 2>/dev/null)
	SPIDS="$master $workers"
	ALLPIDS="$ALLPIDS $workers"
}

stop_server() {
	for p in $SPIDS; do
		kill "$p" 2>/dev/null
	done
	for p in $SPIDS; do
		i=0
		while kill -0 "$p" 2>/dev/null && [ $i -lt 40 ]; do
			sleep 0.05
			i=$((i + 1))
		done
		kill -9 "$p" 2>/dev/null
	done
	SPIDS=""
	PORT=$((PORT + 1))
}

# case NAME -> loadgen arguments (subscribers, rate, size, duration)
case_args() {
	case ${1%-tls} in
	a5k) echo "--subs 5000 --rate 0 --duration 2" ;;
	a10k) echo "--subs 10000 --rate 0 --duration 4" ;;
	a19k) echo "--subs 19000 --rate 0 --duration 4" ;;
	b) echo "--subs 1000 --rate 100 --size 100 --duration $DUR --publishers $PUBS" ;;
	c) echo "--subs $([ "$MODE" = quick ] && echo 5000 || echo 10000)" \
	    "--rate 10 --size 100 --duration $DUR --publishers $PUBS" ;;
	d) echo "--subs 100 --rate 10 --size 65536 --duration $DUR" ;;
	e) echo "--subs 1000 --rate 200 --size 100 --duration $DUR --publishers $PUBS" ;;
	f) echo "--subs 10 --rate 1000 --size 100 --duration $DUR --publishers 8" ;;
	# issue 15: one channel at the edge of what a process holds, publishes
	# unpipelined (one in flight per publisher connection)
	s19k) echo "--subs 19000 --rate 4 --size 100 --duration $DUR --publishers $PUBS" ;;
	s10k) echo "--subs 10000 --rate 10 --size 100 --duration $DUR --publishers $PUBS" ;;
	esac
}

# Counts the server's write-type syscalls during a short case (e) run:
# deliveries per write call. strace slows the server, so this is its own run.
count_writes() {
	srv=$1
	args=$2
	wpid=$(echo "$SPIDS" | awk '{print $NF}')
	strace -c -f -e trace=write,writev,sendto,sendmsg -p "$wpid" \
	    -o "$T/strace.$srv" 2>/dev/null &
	st=$!
	ALLPIDS="$ALLPIDS $st"
	sleep 0.5
	out=$(taskset -c 1 timeout 60 "$LG" --mode "$lgmode" --port "$PORT" \
	    $args --duration 4 --channel e2 2>>"$T/loadgen.log" | grep '^result')
	kill -INT "$st" 2>/dev/null
	wait "$st" 2>/dev/null
	calls=$(awk '$NF ~ /^(write|writev|sendto|sendmsg)$/ {s += $4} END {print s + 0}' \
	    "$T/strace.$srv")
	recv=$(echo "$out" | tr ' ' '\n' | awk -F= '$1 == "received" {print $2}')
	echo "$srv e writes=$calls received=${recv:-0}" >>"$T/writes"
}

run_case() {
	srv=$1
	cs=$2
	case $srv in
	sno) lgmode=pusher ;;
	*) lgmode=nchan ;;
	esac
	TLS=0
	tlsarg=""
	case $cs in
	*-tls)
		[ "$srv" = floor ] && { echo "$srv $cs skipped" >>"$RES"; return 0; }
		make_cert || return 1
		TLS=1
		tlsarg="--tls-ca $T/cert.pem"
		;;
	esac
	pick_port
	"start_$srv" || return 1
	wait_port "$PORT" || { stop_server; return 1; }
	pids=$(echo $SPIDS | tr ' ' ',')
	args=$(case_args "$cs")
	echo "bench: $srv case $cs: $args" >&2
	out=$(taskset -c 1 timeout 150 "$LG" --mode "$lgmode" --port "$PORT" \
	    --server-pids "$pids" $args $tlsarg --channel "c$(echo "$cs" | tr -d -)" \
	    2>>"$T/loadgen.log" |
	    grep '^result')
	[ -n "$out" ] || out="result failed=1"
	echo "$srv $cs $out" >>"$RES"
	if [ "$cs" = e ] && [ "$MODE" = full ] && command -v strace >/dev/null; then
		count_writes "$srv" "$args"
	fi
	stop_server
}

[ -x "$LG" ] && [ -x "$FLOOR" ] && [ -x "$RELAY" ] ||
	{ echo "bench: build $LG $FLOOR $RELAY first (make bench)" >&2; exit 1; }
: >"$RES"
: >"$T/writes"
for cs in $CASES; do
	for srv in $SERVERS; do
		run_case "$srv" "$cs"
	done
done

echo
echo "sno fan-out benchmark ($MODE), $(nproc) CPUs: $(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2}'), $(uname -r)"
echo "server on CPU 0, generator on CPU 1; CPU = utime+stime of the server's processes over the publish window"
awk -f "$(dirname "$0")/table.awk" "$T/writes" "$RES"
[ -s "$T/loadgen.log" ] && { echo; echo "loadgen messages:"; sort "$T/loadgen.log" | uniq -c | head -20; }
exit 0
