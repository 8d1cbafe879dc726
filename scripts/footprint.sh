#!/bin/sh
# footprint.sh BIN [RUNNER] - the numbers of README "Small devices" for one
# build: BIN's stripped size, and its resident memory (VmRSS) once idle,
# started with config/sensorpipe.conf and with config/edge.conf against a
# private broker. RUNNER runs a foreign binary (build/aarch64/qemu-run);
# the RSS is then qemu's, translator included.
set -eu
BIN=$1
RUNNER=${2:-}
. "$(dirname "$0")/lib.sh"
dir=$(mktemp -d)
bpid=""
cleanup() {
    [ -n "$bpid" ] && kill "$bpid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT

case $(file -b "$BIN") in
*aarch64*) STRIP=aarch64-linux-gnu-strip ;;
*) STRIP=strip ;;
esac
$STRIP -o "$dir/stripped" "$BIN"
echo "footprint: $BIN stripped: $(stat -c %s "$dir/stripped") bytes"

port=$(sp_free_port)
sp_broker_conf "$dir/broker.conf" "$port"
mosquitto -c "$dir/broker.conf" >/dev/null 2>&1 &
bpid=$!
sp_wait_port "$port"

for conf in config/sensorpipe.conf config/edge.conf; do
    sed -e "s|^port = .*|port = $port|" \
        -e "s|^path = .*|path = $dir/idle.db|" "$conf" >"$dir/c.conf"
    rm -f "$dir"/idle.db*
    $RUNNER "$BIN" -c "$dir/c.conf" 2>"$dir/log" &
    pid=$!
    sp_wait_log "$dir/log" 'subscribed' 30 ||
        echo "footprint: $conf: the daemon did not subscribe in 30 s" >&2
    sleep 5 # idle: the first commits and stats are done
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
    kill -TERM "$pid"
    wait "$pid" || true
    echo "footprint: $conf idle VmRSS: $rss KiB"
done
