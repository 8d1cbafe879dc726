#!/bin/bash
# demo.sh BUILD_DIR - a private broker, the daemon and a gentle simulated
# fleet (20 devices, 50 readings/s in all, for 60 s), writing var/demo.db.
# Everything it starts is stopped by PID at the end (or on Ctrl-C).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
B=$1
mkdir -p var
port=$(sp_free_port)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

sp_broker_conf var/demo-mosquitto.conf "$port"
mosquitto -c var/demo-mosquitto.conf &
pids+=($!)

cat >var/demo.conf <<CONF
[mqtt]
port = $port
client_id = sensorpipe-demo
[subscription fleet]
topic = sensors/#
format = json
fields = temp
timestamp_field = ts
topic_tags = sensors/{site}/{device}
[store]
path = ./var/demo.db
[log]
stats_interval_s = 10s
CONF
sp_wait_port "$port" || true
"$B/sensorpipe" -c var/demo.conf &
pids+=($!)
sleep 1
echo "demo: broker on 127.0.0.1:$port; 20 devices publishing for 60 s"
echo "demo: watch it with:"
echo "  sqlite3 -header var/demo.db \"SELECT time, topic, tags, count, round(mean,2) AS mean FROM rollups_v WHERE resolution_s = 10 ORDER BY time DESC LIMIT 20\""
"$B/sensorpipe-load" -p "$port" -s 20 -r 50 -d 60 -q 1 -f json --payload-ts
sleep 2
sqlite3 -header var/demo.db \
    "SELECT resolution_s, count(*) AS rows, sum(count) AS samples FROM rollups GROUP BY resolution_s"
