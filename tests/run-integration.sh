#!/bin/sh
# The integration suites (real relay and agent, pusher-js, the pusher SDK):
# "integration: N passed, N failed".
# Files named as arguments run alone (make integration T=FILE).
exec sh "$(dirname "$0")/run-node.sh" integration tests/integration "$@"
