#!/bin/sh
# `make run`: writes a demo configuration (once, into .demo/), starts a relay
# and a local agent on 127.0.0.1, prints the dashboard URL and the demo
# login, and stops both on Ctrl-C. Demo credentials: user demo, password demo.
set -eu
b=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${SNO_DEMO_DIR:-$top/.demo}
port=${SNO_PORT:-6001}
relay="$top/$b/sno-relay"
agent="$top/$b/sno-agent"
host=$(hostname | tr -c 'A-Za-z0-9._\n-' '-')

. "$top/packaging/demo-conf.sh"

rpid="" apid=""
# Either daemon may be gone already (Ctrl-C reaches the whole process
# group, and the agent exits when its relay does): nothing here may fail.
stop() {
	trap - INT TERM EXIT
	if [ -n "$apid" ]; then kill "$apid" 2>/dev/null || :; fi
	if [ -n "$rpid" ]; then kill "$rpid" 2>/dev/null || :; fi
	wait 2>/dev/null || :
	echo "sno: stopped"
}
# Ctrl-C is how a demo ends: stop both daemons and leave make content.
# On a terminal, job control gives this script the terminal in a process
# group of its own (the daemons get theirs), so Ctrl-C reaches only this
# script, never make (which would end "Interrupt" with status 130) nor the
# daemons behind stop()'s back; the shell hands the terminal back on exit.
[ -t 0 ] && set -m
trap 'stop; exit 0' INT TERM HUP
trap stop EXIT

"$relay" -c "$dir/relay.conf" 2>>"$dir/relay.log" &
rpid=$!
i=0
until grep -q "relay ready" "$dir/relay.log" 2>/dev/null && \
    [ "$(grep -c 'relay ready' "$dir/relay.log")" -gt "$(cat "$dir/ready.count" 2>/dev/null || echo 0)" ]; do
	i=$((i + 1))
	if [ $i -gt 50 ] || ! kill -0 "$rpid" 2>/dev/null; then
		echo "sno: the relay did not start; see $dir/relay.log:"
		tail -5 "$dir/relay.log"
		exit 1
	fi
	sleep 0.1
done
grep -c 'relay ready' "$dir/relay.log" > "$dir/ready.count"
# The agent runs with the environment the package's unit gives it.
unit_env=$(sh "$top/packaging/unit-env.sh" "$top/packaging/debian/sno-agent.service")
# shellcheck disable=SC2086
env $unit_env "$agent" -c "$dir/agent.conf" 2>>"$dir/agent.log" &
apid=$!

cat <<MSG

  sno is running.

  Dashboard:  http://127.0.0.1:$port/
  Login:      user demo, password demo
  Host:       $host (this machine, sampled by a local sno-agent)

  Logs:       $dir/relay.log, $dir/agent.log
  Ctrl-C stops the relay and the agent.

MSG
wait "$rpid"
