#!/bin/sh
# build-deb.sh - `make deb`: the Debian package from this tree with
# Debian's tooling (debian/, dpkg-buildpackage -us -uc -b, debhelper).
#
# dpkg-buildpackage writes its results next to the source directory, so
# the build runs in a copy of the tree under build/deb (what a clean clone
# holds, without build/ and .git): nothing is written outside the tree.
# The package is copied to the top directory, for
# `sudo apt install ./sensorpipe_VERSION_ARCH.deb`.
set -eu
ver=$(cat VERSION)
chver=$(dpkg-parsechangelog -S Version)
if [ "$ver" != "$chver" ]; then
    echo "deb: VERSION says $ver, debian/changelog $chver: add a changelog entry" >&2
    exit 1
fi
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
out=build/deb
src=$out/sensorpipe-$ver
deb=sensorpipe_${ver}_${arch}.deb
rm -rf "$out"
mkdir -p "$src"
tar --exclude=./build --exclude=./.git --exclude=./var \
    --exclude='./sensorpipe_*.deb' -cf - . | tar -C "$src" -xf -
echo "deb: dpkg-buildpackage -us -uc -b in $src (log: $out/build.log)"
if ! (cd "$src" && dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1; then
    tail -n 40 "$out/build.log" >&2
    echo "deb: build failed: $out/build.log" >&2
    exit 1
fi
cp "$out/$deb" .
echo "deb: $deb"
