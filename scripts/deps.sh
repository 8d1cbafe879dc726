#!/bin/sh
# deps.sh - install the Debian packages sensorpipe needs, and nothing when
# they are all there. Runs apt-get through sudo when not root.
set -eu

PKGS="build-essential pkg-config clang mosquitto mosquitto-clients
libmosquitto-dev libuv1-dev libsqlite3-dev sqlite3 libcriterion-dev
libsystemd-dev libxxhash-dev systemd openssl clang-format clang-tidy
cppcheck groff-base mandoc valgrind libclang-rt-14-dev
debhelper lintian python3"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
        grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
