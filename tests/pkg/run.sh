#!/bin/bash
# The Debian packages in a fresh Debian 12 root (issue 10). Run inside that
# root as root, in three steps (.ci/run does it; no systemd runs there):
#
#   run.sh install DEBDIR  dpkg -i both packages, apt-get install -f; checks
#                          users, files, modes, --check-config of the shipped
#                          configs; sets up a user and this host on a free
#                          port; starts each daemon by hand as its user.
#                          Prints "PORT USER PASSWORD HOST" on its last line.
#   (then tests/pkg/watch.js, from a root with Node and the test packages,
#    logs in on that port, subscribes and waits for a sample)
#   run.sh finish RC       RC is watch.js's exit status; stops the daemons
#                          by PID, dpkg --remove, dpkg --purge, checks that
#                          only what Debian policy keeps is left. Prints
#                          "pkg: N passed, N failed".
#
# bash for /dev/tcp (the root has no HTTP client); every wait is bounded.
set -u
state=/root/pkg-state
mkdir -p "$state"
touch "$state/passed" "$state/failed"

ok() { echo "ok - $*"; echo "$*" >>"$state/passed"; }
fail() { echo "not ok - $*"; echo "$*" >>"$state/failed"; }
check() { # check WHAT CMD...: passes when CMD exits 0
	local what=$1
	shift
	if "$@" >"$state/out" 2>&1; then ok "$what"; else fail "$what"; sed 's/^/    /' "$state/out" | head -20; fi
}
summary() {
	echo "pkg: $(wc -l <"$state/passed") passed, $(wc -l <"$state/failed") failed"
	[ ! -s "$state/failed" ]
}

# Every file of the root but the kernel's, the package caches and logs,
# with /usr/ folded onto / (Debian 12 is merged-/usr: dpkg knows /lib/x,
# find sees /usr/lib/x).
files() {
	find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run \
	    -o -path /tmp -o -path /root -o -path /var/cache/apt \
	    -o -path /var/lib/apt/lists -o -path /var/log \) -prune -o \
	    \( -type f -o -type l \) -print | sed 's#^/usr/#/#' | sort -u
}

gone() { ! kill -0 "$1" 2>/dev/null; }

# started NAME PATTERN: waits up to 30 s for PATTERN in NAME's log, and
# gives up as soon as the process is gone.
started() {
	local pid n=150
	pid=$(cat "$state/$1.pid")
	while [ "$n" -gt 0 ]; do
		grep -q "$2" "$state/$1.log" && return 0
		gone "$pid" && { tail -5 "$state/$1.log"; return 1; }
		sleep 0.2
		n=$((n - 1))
	done
	return 1
}

mode() { stat -c '%a %U:%G' "$1"; }
is() { [ "$1" = "$2" ] || { echo "got '$1', want '$2'"; return 1; }; }

# wait_for SECONDS CMD...: polls CMD every 0.2 s.
wait_for() {
	local n=$(($1 * 5))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
		n=$((n - 1))
	done
	return 1
}

# http_get PORT PATH: prints the status line and the body.
http_get() {
	exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
	printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$2" >&3
	timeout 10 cat <&3
	exec 3<&-
}

serves_dashboard() {
	http_get "$1" / >"$state/index" || return 1
	grep -q '^HTTP/1.1 200' "$state/index" &&
	    grep -qF "$(head -c 60 /usr/share/sno/web/index.html)" "$state/index"
}

# A port nobody listens on, below the kernel's ephemeral range (a port
# there can be taken by any outgoing connection on this shared machine).
free_port() {
	local p lo
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range
	[ "$lo" -gt 12000 ] || lo=32768
	for _ in $(seq 50); do
		p=$((10000 + RANDOM % (lo - 10000)))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
	done
	return 1
}

user_ok() { # user_ok NAME: a system user with its own group, no shell, no home
	local e
	e=$(getent passwd "$1") || { echo "no user $1"; return 1; }
	IFS=: read -r _ _ uid gid _ home shell <<<"$e"
	[ "$uid" -lt 1000 ] || { echo "uid $uid is not a system uid"; return 1; }
	is "$(getent group "$gid" | cut -d: -f1)" "$1" || return 1
	is "$home" /nonexistent || return 1
	is "$shell" /usr/sbin/nologin
}

runs_as() { # runs_as PID USER
	local uid
	uid=$(awk '/^Uid:/ { print $2 }' "/proc/$1/status") || return 1
	is "$uid" "$(id -u "$2")"
}

step_install() {
	local debs=$1 port hash key
	files >"$state/before"
	dpkg-query -W -f='${Package}\n' | sort >"$state/packages-before"

	# dpkg -i stops at the missing libraries; apt-get install -f fetches them.
	dpkg -i "$debs"/sno-relay_*.deb "$debs"/sno-agent_*.deb >"$state/dpkg-i.log" 2>&1
	check "apt-get install -f brings the dependencies" \
	    apt-get install -f -y -qq --no-install-recommends
	for p in sno-relay sno-agent; do
		check "$p is installed" is "$(dpkg-query -W -f='${Status}' $p)" "install ok installed"
	done
	dpkg-query -W -f='${Package}\n' | sort | comm -13 "$state/packages-before" - \
	    >"$state/packages-added"
	check "only runtime libraries came in (no compiler, no Node, no -dev)" \
	    sh -c "! grep -E '^(gcc|cpp|clang|nodejs|npm|make|libc6-dev)|-dev\$' $state/packages-added"

	check "user sno-relay" user_ok sno-relay
	check "user sno-agent" user_ok sno-agent
	check "/usr/bin/sno-relay 0755 root" is "$(mode /usr/bin/sno-relay)" "755 root:root"
	check "/usr/bin/sno-agent 0755 root" is "$(mode /usr/bin/sno-agent)" "755 root:root"
	check "dashboard in /usr/share/sno/web" test -s /usr/share/sno/web/index.html
	for f in /lib/systemd/system/sno-relay.service /lib/systemd/system/sno-agent.service \
	    /usr/share/man/man8/sno-relay.8.gz /usr/share/man/man8/sno-agent.8.gz \
	    /usr/share/man/man5/sno.conf.5.gz; do
		check "$f" test -s "$f"
	done
	check "relay.conf 0640 root:sno-relay" is "$(mode /etc/sno/relay.conf)" "640 root:sno-relay"
	check "agent.conf 0640 root:sno-agent" is "$(mode /etc/sno/agent.conf)" "640 root:sno-agent"
	check "agent.key 0640 root:sno-agent" is "$(mode /etc/sno/agent.key)" "640 root:sno-agent"
	check "agent.key holds 64 hex digits" grep -qxE '[0-9a-f]{64}' /etc/sno/agent.key
	check "relay.conf is a conffile" grep -qx /etc/sno/relay.conf /var/lib/dpkg/info/sno-relay.conffiles
	check "agent.conf is a conffile" grep -qx /etc/sno/agent.conf /var/lib/dpkg/info/sno-agent.conffiles
	check "other users cannot read relay.conf" sh -c '! setpriv --reuid=nobody --regid=nogroup --clear-groups cat /etc/sno/relay.conf'
	check "shipped relay.conf passes --check-config as sno-relay" \
	    setpriv --reuid=sno-relay --regid=sno-relay --init-groups \
	    /usr/bin/sno-relay --check-config -c /etc/sno/relay.conf
	check "shipped agent.conf passes --check-config as sno-agent" \
	    setpriv --reuid=sno-agent --regid=sno-agent --init-groups \
	    /usr/bin/sno-agent --check-config -c /etc/sno/agent.conf

	# What an administrator does: a user, this host with the agent's key,
	# a free port (this root shares the machine's network).
	hash=$(echo pkg-test-pw | /usr/bin/sno-relay hash-password)
	key=$(cat /etc/sno/agent.key)
	cat >>/etc/sno/relay.conf <<CONF

[account pkg]
title = Package test

[user pkg]
account = pkg
password_hash = $hash

[host localhost]
account = pkg
key = $key
CONF
	check "edited relay.conf passes --check-config" \
	    /usr/bin/sno-relay --check-config -c /etc/sno/relay.conf

	# By hand, as systemd would: the daemon's own user, no new privileges.
	# Another port when this one was taken between the probe and the bind.
	for _ in 1 2 3 4 5; do
		port=$(free_port) || break
		sed -i "s/^listen = .*/listen = 127.0.0.1:$port/" /etc/sno/relay.conf
		setpriv --reuid=sno-relay --regid=sno-relay --init-groups --no-new-privs \
		    /usr/bin/sno-relay -c /etc/sno/relay.conf </dev/null >/dev/null \
		    2>"$state/relay.log" &
		echo $! >"$state/relay.pid"
		started relay "relay ready" >/dev/null && break
		grep -q "cannot listen" "$state/relay.log" || break
	done
	check "the relay starts as sno-relay" started relay "relay ready"
	sed -i "s#^relay_url = .*#relay_url = http://127.0.0.1:$port#" /etc/sno/agent.conf
	check "the relay runs as sno-relay" runs_as "$(cat "$state/relay.pid")" sno-relay
	check "the relay serves the dashboard from /usr/share/sno/web" serves_dashboard "$port"
	setpriv --reuid=sno-agent --regid=sno-agent --init-groups --no-new-privs \
	    /usr/bin/sno-agent -c /etc/sno/agent.conf </dev/null >/dev/null \
	    2>"$state/agent.log" &
	echo $! >"$state/agent.pid"
	check "the agent starts as sno-agent" started agent "agent ready"
	check "the agent runs as sno-agent" runs_as "$(cat "$state/agent.pid")" sno-agent
	echo "$port pkg pkg-test-pw localhost"
}


step_finish() {
	local watch_rc=$1 pid p leftover
	check "a sample from the agent reached a dashboard subscriber (watch.js)" is "$watch_rc" 0
	check "the relay started a session for localhost" grep -q "session start host=localhost" "$state/relay.log"
	for p in agent relay; do
		pid=$(cat "$state/$p.pid")
		kill -TERM "$pid" 2>/dev/null
		check "sno-$p stops on SIGTERM" wait_for 30 gone "$pid"
		kill -KILL "$pid" 2>/dev/null
	done
	if [ -s "$state/failed" ]; then
		echo "--- relay log ---"; tail -20 "$state/relay.log"
		echo "--- agent log ---"; tail -20 "$state/agent.log"
	fi

	check "dpkg --remove" dpkg --remove sno-relay sno-agent
	for p in sno-relay sno-agent; do
		check "$p keeps only its conffiles" is "$(dpkg-query -W -f='${Status}' $p)" "deinstall ok config-files"
	done
	check "binaries and units are gone" sh -c '! ls /usr/bin/sno-relay /usr/bin/sno-agent /lib/systemd/system/sno-*.service /usr/share/sno 2>/dev/null'
	check "conffiles stay after --remove" test -f /etc/sno/relay.conf -a -f /etc/sno/agent.conf
	check "dpkg --purge" dpkg --purge sno-relay sno-agent
	check "dpkg forgets both packages" sh -c '! dpkg-query -W sno-relay sno-agent 2>/dev/null | grep -q .'
	check "/etc/sno is gone" test ! -e /etc/sno
	check "the system users stay (Debian keeps them)" sh -c 'getent passwd sno-relay && getent passwd sno-agent'

	# Whatever is new since before the install must belong to a package that
	# is still installed (the libraries apt-get brought) or be bookkeeping.
	files | comm -13 "$state/before" - >"$state/new"
	dpkg-query -W -f='${Package}\n' | xargs dpkg -L 2>/dev/null |
	    sed 's#^/usr/#/#' | sort -u >"$state/owned"
	leftover=$(comm -23 "$state/new" "$state/owned" | grep -vE \
	    '^/var/lib/dpkg/|^/var/lib/apt/extended_states$|^/etc/(passwd|group|shadow|gshadow|subuid|subgid)-?$|^/etc/ld\.so\.cache$|^/var/cache/(debconf|ldconfig)/|^/etc/ssl/certs/|^/etc/alternatives/|^/var/lib/ucf/|^/var/lib/systemd/deb-systemd-helper-' )
	check "purge leaves nothing behind${leftover:+: $leftover}" test -z "$leftover"
	summary
}

case ${1:-} in
install) step_install "$2" ;;
finish) step_finish "$2" ;;
*) echo "usage: run.sh install DEBDIR | finish WATCH_RC" >&2; exit 2 ;;
esac
