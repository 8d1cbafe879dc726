#!/bin/sh
# bench-merge.sh BIN [ROWS] - times `sensorpipe merge` of two stores of ROWS
# rollup rows each (default 1,000,000: 10,000 series x 100 buckets), half of
# their buckets overlapping (so half the rows merge into existing ones).
# The stores are made by the daemon itself (schema) and filled with SQL.
# Prints rows and seconds.
set -eu
BIN=$1
ROWS=${2:-1000000}
SERIES=10000
BUCKETS=$((ROWS / SERIES))
. "$(dirname "$0")/lib.sh"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
port=$(sp_free_port) # nobody listens: the daemon only creates its store

for n in a b; do
    cat >"$dir/$n.conf" <<EOT
[mqtt]
host = 127.0.0.1
port = $port
[subscription s]
topic = s/#
[pipeline]
workers = 1
ring_bytes = 1MiB
max_series = 100
[store]
path = $dir/$n.db
EOT
    "$BIN" -c "$dir/$n.conf" 2>"$dir/$n.log" &
    pid=$!
    sp_wait_log "$dir/$n.log" 'memory:' 10 ||
        echo "bench-merge: the daemon did not log its memory plan in 10 s" >&2
    kill -TERM $pid
    wait $pid
    # b's buckets start half-way through a's.
    off=0
    [ $n = b ] && off=$((BUCKETS / 2))
    sqlite3 "$dir/$n.db" <<EOT
PRAGMA journal_mode = WAL;
BEGIN;
WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < $SERIES)
INSERT INTO series (id, topic, field, tags, created_ms)
  SELECT i, 'site/' || (i % 50) || '/dev' || i, 'temp', NULL, 1000 FROM k;
WITH RECURSIVE b(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM b WHERE j < $BUCKETS - 1)
INSERT INTO rollups SELECT s.id, 10, ((b.j + $off) * 10000), 3, 60.75, 19.5,
  21.25, 20.0, (b.j + $off) * 10000 + 9000 FROM series s, b;
COMMIT;
EOT
done
[ -n "${KEEP:-}" ] && cp "$dir"/a.db "$dir"/b.db "$KEEP"/
t0=$(date +%s.%N)
"$BIN" merge "$dir/out.db" "$dir/a.db" "$dir/b.db"
t1=$(date +%s.%N)
rows=$(sqlite3 "$dir/out.db" "SELECT count(*) FROM rollups")
echo "bench-merge: 2 x $ROWS rollup rows read, $rows written: $(echo "$t1 - $t0" | bc) s"
