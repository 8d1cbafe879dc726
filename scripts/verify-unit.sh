#!/bin/sh
# verify-unit.sh [BIN] - systemd-analyze verify on systemd/sensorpipe.service
# and the merge service and timer, with the binary path pointed at a built
# daemon (the units name the installed path). Skips, saying so, where systemd-analyze is absent.
set -eu
BIN=${1:-$PWD/build/release/sensorpipe}
if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "verify-unit: systemd-analyze not found: skipped"
    exit 0
fi
[ -x "$BIN" ] || { echo "verify-unit: $BIN not built" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for u in sensorpipe.service sensorpipe-merge.service sensorpipe-merge.timer; do
    sed "s|/usr/bin/sensorpipe|$BIN|g" "systemd/$u" >"$tmp/$u"
done
out=$(cd "$tmp" && systemd-analyze verify --man=no sensorpipe.service \
    sensorpipe-merge.service sensorpipe-merge.timer 2>&1) || {
    echo "$out" >&2
    exit 1
}
# verify exits 0 on some warnings: treat any output as a failure.
if [ -n "$out" ]; then
    echo "$out" >&2
    exit 1
fi
echo "verify-unit: systemd/sensorpipe.service, sensorpipe-merge.service and .timer: ok"
