#!/bin/sh
# The browser suites (headless Debian chromium via playwright-core, real
# relay and agent, web/dist); screenshots land in tests/browser/out/.
# "browser: N passed, N failed".
exec sh "$(dirname "$0")/run-node.sh" browser tests/browser
