#!/bin/bash
# run.sh BIN CONF - run the daemon in the foreground with CONF. When no
# broker answers on the configured address (and it is a loopback one), start
# a private mosquitto there for the run and stop it afterwards.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
BIN=$1
CONF=$2
mkdir -p var

settings=$("$BIN" --check-config -c "$CONF") || exit 2
host=$(printf '%s\n' "$settings" | awk -F' = ' '/^host = /{print $2; exit}')
port=$(printf '%s\n' "$settings" | awk -F' = ' '/^port = /{print $2; exit}')
host=${host:-127.0.0.1}
port=${port:-1883}

broker_pid=""
cleanup() {
    if [ -n "$broker_pid" ]; then
        kill "$broker_pid" 2>/dev/null || true
        wait "$broker_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT

if ! (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
    case "$host" in
    127.* | localhost | ::1) ;;
    *)
        echo "run: no broker answers on $host:$port" >&2
        exit 1
        ;;
    esac
    # Persistent, so a restart of the daemon loses nothing queued.
    mkdir -p var/mosquitto
    sp_broker_conf var/mosquitto.conf "$port" "$PWD/var/mosquitto" \
        "$PWD/var/mosquitto.log"
    mosquitto -c var/mosquitto.conf &
    broker_pid=$!
    sp_wait_port "$port" || true
    echo "run: started a private mosquitto on 127.0.0.1:$port (pid $broker_pid)"
fi

echo "run: publish a reading with:"
echo "  mosquitto_pub -h $host -p $port -t sensors/lab/dev1 -m '{\"temp\":21.5,\"hum\":40}'"
echo "run: and read it back with:"
echo "  sqlite3 var/sensorpipe.db 'SELECT * FROM rollups_v'"
"$BIN" -c "$CONF" &
daemon_pid=$!
trap 'kill -TERM $daemon_pid 2>/dev/null || true' INT TERM
rc=0
wait "$daemon_pid" || rc=$?
# A signal interrupts the first wait: wait again for the clean stop.
if kill -0 "$daemon_pid" 2>/dev/null; then
    wait "$daemon_pid" || rc=$?
fi
exit "$rc"
