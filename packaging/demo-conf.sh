# Sourced by run-demo.sh (make run) and run-cluster.sh (make run-cluster):
# writes the demo configuration into $dir once (again when $port changed):
# relay.conf, agent.conf, the host's key. Needs top, dir, port, relay and
# host set. Demo credentials: user demo, password demo.
mkdir -p "$dir"
chmod 700 "$dir"
if [ ! -f "$dir/relay.conf" ] || [ "$(cat "$dir/port" 2>/dev/null)" != "$port" ]; then
	hash=$(echo demo | "$relay" hash-password)
	secret=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
	"$relay" new-host "$host" --account demo > "$dir/host.section"
	sed -n 's/^key = //p' "$dir/host.section" > "$dir/agent.key"
	chmod 600 "$dir/agent.key"
	cat > "$dir/relay.conf" <<CONF
; sno demo configuration, written by make run. Delete .demo/ to start over.
[relay]
listen = 127.0.0.1:$port
; public_url: unset, so logins are accepted from http://127.0.0.1:$port
; and http://localhost:$port only (README: Relay configuration).
; metrics_token: unset, so /metrics answers loopback peers only.
web_root = $top/web/dist
host_app = sno
session_grace_s = 30

[app sno]
id = sno
key = sno-demo-key
secret = $secret

[account demo]
title = Demo account

[user demo]
account = demo
password_hash = $hash

$(cat "$dir/host.section")
CONF
	cat > "$dir/agent.conf" <<CONF
[agent]
relay_url = http://127.0.0.1:$port
host_id = $host
key_file = $dir/agent.key
interval_ms = 1000
top_processes = 30
CONF
	echo "$port" > "$dir/port"
fi
