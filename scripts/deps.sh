#!/bin/sh
# deps.sh [ARCH] - install the Debian packages sensorpipe needs, and nothing
# when they are all there. Runs apt-get through sudo when not root.
# With ARCH (aarch64), installs what a cross build for it needs instead:
# the foreign dpkg architecture, Debian's cross toolchain, qemu-user and the
# foreign -dev packages of the libraries.
set -eu

PKGS="build-essential pkg-config clang mosquitto mosquitto-clients
libmosquitto-dev libuv1-dev libsqlite3-dev sqlite3 libcriterion-dev
libsystemd-dev libxxhash-dev systemd openssl clang-format clang-tidy
cppcheck groff-base mandoc valgrind libclang-rt-14-dev
debhelper lintian python3 gnuplot-nox"

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive

if [ $# -gt 0 ]; then
    case $1 in
    aarch64) DARCH=arm64 ;;
    *)
        echo "deps: no cross build for '$1' (known: aarch64)" >&2
        exit 2
        ;;
    esac
    # Criterion's packages are not Multi-Arch: the foreign one would
    # replace the native one, so the cross tests take its library from
    # a private copy (scripts/cross.sh), never from an installed package.
    PKGS="crossbuild-essential-$DARCH qemu-user libmosquitto-dev:$DARCH
libuv1-dev:$DARCH libsqlite3-dev:$DARCH libsystemd-dev:$DARCH
libxxhash-dev:$DARCH libgit2-1.5:$DARCH libffi8:$DARCH"
    if ! dpkg --print-foreign-architectures | grep -qx "$DARCH"; then
        echo "deps: adding dpkg architecture $DARCH"
        $SUDO dpkg --add-architecture "$DARCH"
        NEED_UPDATE=1
    fi
fi

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
        grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && [ -z "${NEED_UPDATE:-}" ] && exit 0
[ -z "$missing" ] && exec $SUDO apt-get update -qq

echo "deps: installing:$missing"
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
