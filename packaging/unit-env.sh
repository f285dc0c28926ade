#!/bin/sh
# unit-env.sh UNIT: the environment a systemd unit gives its service, as
# the K=V assignments of its Environment= lines, one a line, in order (a
# later one wins, as in systemd). make run and make bench-agent start the
# agent with it, so that both see the agent as the package runs it. Handles
# what the sno units use: unquoted or "double-quoted" assignments without
# spaces, quotes, glob characters, % specifiers, $ or \ escapes inside;
# anything else (and EnvironmentFile=) is refused with an error, never
# passed on half-read. Prints nothing for a unit without Environment=.
set -eu
unit=${1:?usage: unit-env.sh UNIT}
[ -r "$unit" ] || { echo "unit-env.sh: cannot read $unit" >&2; exit 1; }
awk -v unit="$unit" '
function fail(why) {
	printf "unit-env.sh: %s:%d: %s\n", unit, NR, why > "/dev/stderr"
	bad = 1
	exit 1
}
/^[ \t]*EnvironmentFile=/ { fail("EnvironmentFile= is not supported") }
/^[ \t]*Environment=/ {
	s = $0
	sub(/^[ \t]*Environment=/, "", s)
	n = split(s, w, /[ \t]+/)
	for (i = 1; i <= n; i++) {
		if (w[i] == "")
			continue
		if (w[i] ~ /^".*"$/)
			w[i] = substr(w[i], 2, length(w[i]) - 2)
		if (w[i] !~ /^[A-Za-z_][A-Za-z0-9_]*=[^"%\\$ *?[]*$/)
			fail("cannot read assignment " w[i])
		print w[i]
	}
}
END { exit bad }' "$unit"
