#!/bin/sh
# Install every Debian package that building, testing and running sno need.
# Idempotent: does nothing (and needs no root) when all are present; otherwise
# runs `apt-get update` once and installs the missing ones non-interactively.
set -eu

# libclang-rt-dev: libFuzzer and the sanitizer runtimes for make fuzz (clang
# only recommends it, and we install without recommends).
PKGS="build-essential pkg-config make gcc clang libclang-rt-dev
libwebsockets-dev libcjson-dev libsodium-dev libinih-dev libssl-dev
libcurl4-openssl-dev libhiredis-dev libcmocka-dev libev-dev
libsystemd-dev python3
redis-server openssl curl procps chromium"
# Node.js may come from another source (nodesource bundles npm); only ask
# Debian for it when the commands are missing.
# `install-deps.sh deb` adds what `make deb` needs.
[ "${1:-}" = deb ] && PKGS="$PKGS debhelper dpkg-dev fakeroot lintian man-db systemd"
command -v node >/dev/null 2>&1 || PKGS="$PKGS nodejs"
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/tmp/sno-install-deps.log 2>&1 ||
	{ tail -20 /tmp/sno-install-deps.log; exit 1; }
