#!/bin/sh
# `make run-cluster`: the demo of `make run` (the same .demo/ configuration
# and login) as a cluster (issue 12, docs/scaleout.md): a redis-server on a
# free 127.0.0.1 port with no persistence, two relay nodes on two ports
# sharing it, and the local agent, whose relay_url lists both nodes. Prints
# both dashboard URLs and the login; Ctrl-C stops everything.
set -eu
b=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${SNO_DEMO_DIR:-$top/.demo}
port=${SNO_PORT:-6001}
port2=${SNO_PORT2:-$((port + 1))}
relay="$top/$b/sno-relay"
agent="$top/$b/sno-agent"
host=$(hostname | tr -c 'A-Za-z0-9._\n-' '-')

if ! command -v redis-server >/dev/null 2>&1; then
	echo "sno: redis-server not found (Debian package redis-server;" \
	    "make deps installs it)"
	exit 1
fi
. "$top/packaging/demo-conf.sh"

xpid="" apid="" pa="" pb=""
# Any of them may be gone already; nothing here may fail.
stop() {
	trap - INT TERM EXIT
	for p in $apid $pa $pb $xpid; do kill "$p" 2>/dev/null || :; done
	wait 2>/dev/null || :
	echo "sno: stopped"
}
[ -t 0 ] && set -m
trap 'stop; exit 0' INT TERM HUP
trap stop EXIT

# The PID of the redis-server answering on port $1, or nothing.
redis_pid() {
	redis-cli -p "$1" info server 2>/dev/null | tr -d '\r' | \
	    sed -n 's/^process_id://p'
}

# Redis on the first free port from 16379: a port in use makes
# redis-server exit at once, and the next is tried. Only our own
# redis-server counts (another may answer on that port).
rport=16379
while :; do
	redis-server --port "$rport" --bind 127.0.0.1 --save '' \
	    --appendonly no >"$dir/redis.log" 2>&1 &
	xpid=$!
	i=0
	while [ $i -lt 50 ] && kill -0 "$xpid" 2>/dev/null && \
	    [ "$(redis_pid "$rport")" != "$xpid" ]; do
		i=$((i + 1))
		sleep 0.1
	done
	if [ "$(redis_pid "$rport")" = "$xpid" ]; then
		break
	fi
	kill "$xpid" 2>/dev/null || :
	rport=$((rport + 1))
	if [ $rport -gt 16479 ]; then
		echo "sno: redis-server did not start; see $dir/redis.log:"
		tail -5 "$dir/redis.log"
		exit 1
	fi
done

# Node n's configuration: the demo's, on its own port, with the Redis keys.
for n in a b; do
	p=$port
	[ $n = b ] && p=$port2
	sed -e "s/127\.0\.0\.1:$port\>/127.0.0.1:$p/g" \
	    -e "s/localhost:$port\>/localhost:$p/g" \
	    -e "/^\[relay\]\$/a redis = redis://127.0.0.1:$rport/0\\
redis_prefix = sno-demo\\
node_id = relay-$n" "$dir/relay.conf" >"$dir/cluster-$n.conf"
	chmod 600 "$dir/cluster-$n.conf"
done
sed -e "s|^relay_url = .*|relay_url = http://127.0.0.1:$port, http://127.0.0.1:$port2|" \
    "$dir/agent.conf" >"$dir/cluster-agent.conf"

# Starts node $1 with its log truncated; its PID in $started.
start_node() {
	: >"$dir/relay-$1.log"
	"$relay" -c "$dir/cluster-$1.conf" 2>>"$dir/relay-$1.log" &
	started=$!
	i=0
	until grep -q "relay ready" "$dir/relay-$1.log" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 50 ] || ! kill -0 "$started" 2>/dev/null; then
			echo "sno: relay $1 did not start; see" \
			    "$dir/relay-$1.log:"
			tail -5 "$dir/relay-$1.log"
			exit 1
		fi
		sleep 0.1
	done
}
start_node a
pa=$started
start_node b
pb=$started
"$agent" -c "$dir/cluster-agent.conf" 2>>"$dir/agent.log" &
apid=$!

cat <<MSG

  sno is running as a cluster: two relays sharing one Redis.

  Dashboard:  http://127.0.0.1:$port/   (node relay-a)
              http://127.0.0.1:$port2/   (node relay-b)
  Login:      user demo, password demo (a login is valid on both nodes)
  Host:       $host (this machine, sampled by a local sno-agent)
  Redis:      127.0.0.1:$rport, no persistence

  Logs:       $dir/relay-a.log, $dir/relay-b.log, $dir/agent.log
  Ctrl-C stops the relays, the agent and Redis.

MSG
wait "$pa"
