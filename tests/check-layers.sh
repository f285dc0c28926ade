#!/bin/sh
# The relay's layering (docs/architecture.md "Layers"): only the
# libwebsockets glue, relay/lws_*.c and relay/lws_*.h, may include
# libwebsockets.h. The state and protocol modules below it record closes,
# writes and wakes (conn.h: relay.pending; http.h: struct http_glue) for the
# glue to drain, so they compile, link and unit-test without lws. Exits 1,
# naming the file and line, when a file below the glue includes it or
# lws_glue.h. tests/run-unit.sh counts it as one test.
cd "$(dirname "$0")/.." || exit 2
pass=0 fail=0
for f in relay/*.c relay/*.h; do
	case ${f#relay/} in lws_*) continue ;; esac
	hits=$(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](libwebsockets|lws_glue)\.h[>"]' "$f")
	if [ -n "$hits" ]; then
		printf '%s\n' "$hits" | sed "s|^|$f:|; s|\$|  (only relay/lws_* may include it)|"
		fail=$((fail + 1))
	else
		pass=$((pass + 1))
	fi
done
# The glue must be where this script looks, or the rule checks nothing.
if grep -q '#include <libwebsockets.h>' relay/lws_glue.h 2>/dev/null; then
	pass=$((pass + 1))
else
	echo "relay/lws_glue.h does not include libwebsockets.h: where is the glue?"
	fail=$((fail + 1))
fi
[ "$fail" -eq 0 ] && echo "layers: $pass files checked, only relay/lws_* include libwebsockets.h"
[ "$fail" -eq 0 ]
