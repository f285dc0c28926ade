#!/bin/sh
# `make deb`: sno-relay_VERSION_ARCH.deb and sno-agent_VERSION_ARCH.deb in
# build/deb/, built by dpkg-buildpackage (debhelper) in a staging copy of the
# tree with packaging/debian as debian/, then checked: lintian (no errors,
# no warnings), systemd-analyze verify on both units, man pages without
# groff warnings. web/dist must be built already (the Makefile does it).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
version=$(cat VERSION)
out=build/deb
stage=$out/src/sno-$version

cv=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)
if [ "$cv" != "$version" ]; then
	echo "make deb: packaging/debian/changelog is at $cv, VERSION says $version;" \
	    "add a changelog entry (dch -v $version)" >&2
	exit 1
fi
[ -f web/dist/index.html ] || { echo "make deb: web/dist is not built" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$stage/web"
cp -R Makefile VERSION README.md common relay agent packaging "$stage/"
cp -R web/dist "$stage/web/dist"
cp -R packaging/debian "$stage/debian"

echo "  DEB     $out/"
# Two packages: no -dbgsym ones.
( cd "$stage" && DEB_BUILD_OPTIONS="noautodbgsym ${DEB_BUILD_OPTIONS:-}" \
    dpkg-buildpackage -b -us -uc >../build.log 2>&1 ) ||
	{ tail -30 "$out/src/build.log"; exit 1; }
mv "$out"/src/*.deb "$out"/src/*.changes "$out"/src/*.buildinfo "$out/"
rm -f "$out"/src/*.ddeb

arch=$(dpkg --print-architecture)
status=0
for p in sno-relay sno-agent; do
	[ -f "$out/${p}_${version}_$arch.deb" ] || { echo "make deb: no $p package" >&2; status=1; }
done

# lintian: nothing at all is acceptable (errors, warnings; info is shown).
echo "  LINTIAN $out/sno_${version}_$arch.changes"
lintian --fail-on error,warning --info "$out/sno_${version}_$arch.changes" \
    >"$out/lintian.log" 2>&1 || status=1
grep -v '^running with root privileges' "$out/lintian.log" || :

# The units as systemd would load them, against the installed tree plus
# this system's units and /bin/kill (ExecReload); Documentation= must name
# the packages' own man pages.
root=$(mktemp -d)
for p in sno-relay sno-agent; do
	dpkg-deb -x "$out/${p}_${version}_$arch.deb" "$root"
done
cp -Rn /lib/systemd/system/. "$root/lib/systemd/system/"
mkdir -p "$root/bin"
cp -L /bin/kill "$root/bin/kill"
for u in sno-relay sno-agent; do
	echo "  VERIFY  $u.service"
	if ! MANPATH="$root/usr/share/man" systemd-analyze verify --root="$root" \
	    "$root/lib/systemd/system/$u.service" >"$root/verify.log" 2>&1 ||
	    [ -s "$root/verify.log" ]; then
		cat "$root/verify.log"
		status=1
	fi
done
for m in "$root"/usr/share/man/man[0-9]/*; do
	echo "  MAN     ${m#"$root"}"
	w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$m" 2>&1 >/dev/null) || status=1
	[ -z "$w" ] || { echo "$w"; status=1; }
done
rm -rf "$root"
[ "$status" -eq 0 ] && ls -1 "$out"/*.deb
exit "$status"
