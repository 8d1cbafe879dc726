#!/bin/bash
# bench.sh BUILD_DIR - sensorpipe's benchmarks in one go (`make bench`).
#
# Uses BUILD_DIR/sensorpipe, BUILD_DIR/sensorpipe-load and
# BUILD_DIR/sensorpipe-bench, and a private mosquitto on a free 127.0.0.1
# port (queue limits lifted, as the tests' broker). Five load shapes, each
# run twice under the same load, side by side:
#   S1  flat out: 500,000 messages over 1,000 topics, as fast as they go
#   S2  20,000 msg/s: 200,000 messages over 10,000 topics
#   S3  10,000 msg/s: 200,000 messages over 20,000 topics (about one
#       partial per message)
#   S4  S2 on a store that already holds an hour of rollups for those
#       series (the steady state of a store that has run a while)
#   S4old  S4 with rollups in the layout of files made before schema 8
#       (WITHOUT ROWID)
# First the floor: `sensorpipe-load --subscribe`, a plain non-threaded
# libmosquitto subscriber that only counts (poll + mosquitto_loop_read),
# receives what another sensorpipe-load publishes at QoS 0. Then the daemon
# (JSON {"ts":..,"temp":..,"seq":..}, timestamp_field = ts, fields = temp,
# resolutions 10 s and 1 m, QoS 0, the shipped [pipeline] defaults) under
# the same load, until it has stored every sample. CPU comes from
# /proc/PID/task/*/stat before and after the publisher runs, per thread:
# the loop (the main thread), the workers (sp-worker-N), the writer
# (sp-writer), anything else. Then d: sensorpipe-bench, the pipeline without
# the network, stage by stage; with valgrind, instructions per message.
#
# Prints per scenario the daemon's CPU per message against the floor's, the
# per-thread split, the receive rate against the floor's, peak RSS, loss and
# the receive -> commit p99 (the worst stats interval's, and the median
# interval's) against its target, commit_interval_ms + 50 ms; writes
# RESULTS/summary.md,
# RESULTS/scenarios.csv (one row per scenario), the raw CSVs and, when
# gnuplot is installed, RESULTS/bench.png.
#
# Environment:
#   BENCH_SCALE      size factor for the message counts; 1 (default) is the
#                    full run, a few minutes; 0.002 is the smoke run of the
#                    test suite (1,000 messages a scenario)
#   BENCH_SERIES     topics of the sensorpipe-bench runs (default 100)
#   BENCH_SCENARIOS  the scenarios to run, e.g. "S2" (default "S1 S2 S3 S4
#                    S4old")
#   BENCH_RESULTS    output directory (default test/bench/results)
#   BENCH_DAEMON     the daemon binary (default BUILD_DIR/sensorpipe)
#   BENCH_CALLGRIND  1: count instructions even below scale 0.1; 0: never
#   BENCH_KEEP       1: keep the work directory (logs, databases)
#
# Exit status: 0 when every step ran and the daemon lost nothing, 1 when a
# step failed or a message was lost, 2 for a usage error. Every process
# started here is stopped by its PID on exit.
set -euo pipefail
export LC_ALL=C
. "$(dirname "$0")/lib.sh"

B=${1:-}
if [ -z "$B" ] || [ ! -d "$B" ]; then
    echo "usage: scripts/bench.sh BUILD_DIR" >&2
    exit 2
fi
SCALE=${BENCH_SCALE:-1}
SERIES=${BENCH_SERIES:-100}
RESULTS=${BENCH_RESULTS:-test/bench/results}
DAEMON=${BENCH_DAEMON:-$B/sensorpipe}
LOAD=$B/sensorpipe-load
PIPE=$B/sensorpipe-bench
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
FINEST_S=10
# The daemon's commit_interval_ms: the shipped default, written into its
# configuration so that the latency target below uses the same value.
COMMIT_MS=1000
P99_TARGET_MS=$((COMMIT_MS + 50))
CLK_TCK=$(getconf CLK_TCK)

# ---- sizes ----------------------------------------------------------------
scaled() { # BASE MIN -> max(MIN, BASE * SCALE)
    awk -v b="$1" -v m="$2" -v s="$SCALE" \
        'BEGIN { n = int(b * s); print (n < m ? m : n) }'
}
# Seconds of rollups already in the store for S4 and S4old (an hour at
# full size): the steady state of a store that has run for a while.
HISTORY_S=$(scaled 3600 60)
# NAME MESSAGES TOPICS RATE(0: flat out) CPU_TARGET(ratio to the floor)
# [HISTORY_S LAYOUT(new: schema 8's rowid table; old: WITHOUT ROWID)]
SCENARIOS=(
    "S1 $(scaled 500000 1000) 1000 0 1.15"
    "S2 $(scaled 200000 1000) 10000 20000 1.15"
    "S3 $(scaled 200000 1000) 20000 10000 1.5"
    "S4 $(scaled 200000 1000) 10000 20000 1.15 $HISTORY_S new"
    "S4old $(scaled 200000 1000) 10000 20000 1.15 $HISTORY_S old"
)
ONLY=${BENCH_SCENARIOS:-S1 S2 S3 S4 S4old}
N_PIPE=$(scaled 2000000 10000)  # sensorpipe-bench, SERIES series
N_MANY=$(scaled 500000 10000)   # sensorpipe-bench, many series
S_MANY=$(awk -v n="$N_MANY" 'BEGIN { s = int(n / 5); print (s > 100000 ? 100000 : s) }')

W=""
PIDS=()

say() { printf 'bench: %s\n' "$*" >&2; }
die() {
    say "FAILED: $*"
    exit 1
}

now_ms() {
    local t=${EPOCHREALTIME/./}
    echo $((t / 1000))
}

# PID was waited for: forget it, so its number is never signalled again.
reaped() { # PID
    local i
    for i in "${!PIDS[@]}"; do
        [ "${PIDS[i]}" != "$1" ] || unset 'PIDS[i]'
    done
}

# Sends SIG to our child PID, waits up to 10 s, then SIGKILLs; reaps it.
stop_pid() { # PID [SIG]
    local pid=$1 sig=${2:-TERM} i
    if kill -0 "$pid" 2>/dev/null; then
        kill -"$sig" "$pid" 2>/dev/null || true
        for ((i = 0; i < 200; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
    reaped "$pid"
}

cleanup() {
    local rc=$? i pids=("${PIDS[@]}")
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        stop_pid "${pids[i]}"
    done
    if [ -n "$W" ]; then
        if [ "$rc" -ne 0 ] || [ "${BENCH_KEEP:-0}" = 1 ]; then
            say "work directory kept: $W"
        else
            rm -rf "$W"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs a command in the background and waits for it, so a SIGTERM to this
# script is handled at once (bash defers traps while a foreground command
# runs). Returns the command's status.
run_fg() { # OUT_FILE CMD...
    local out=$1 pid rc=0
    shift
    "$@" >"$out" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait "$pid" || rc=$?
    reaped "$pid"
    return "$rc"
}


wait_for() { # FILE PATTERN TIMEOUT_S [PID that must stay alive]
    local deadline=$(($(now_ms) + $3 * 1000))
    until grep -q -- "$2" "$1" 2>/dev/null; do
        [ "$(now_ms)" -lt "$deadline" ] || return 1
        if [ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null; then
            return 1
        fi
        sleep 0.02
    done
}

# ---- broker ---------------------------------------------------------------
broker_conf() { # PORT
    sp_broker_conf "$W/mosquitto.conf" "$1" "" "$W/mosquitto.log"
}

start_broker() {
    local try i
    for try in 1 2 3 4 5; do
        PORT=$((20000 + RANDOM % 40000))
        sp_port_open "$PORT" && continue
        broker_conf "$PORT"
        "$MOSQUITTO" -c "$W/mosquitto.conf" >"$W/mosquitto.out" 2>&1 &
        BROKER_PID=$!
        PIDS+=("$BROKER_PID")
        for ((i = 0; i < 200; i++)); do
            sp_port_open "$PORT" && return 0
            kill -0 "$BROKER_PID" 2>/dev/null || break
            sleep 0.05
        done
        stop_pid "$BROKER_PID"
    done
    die "cannot start mosquitto (try $try): $(cat "$W/mosquitto.out")"
}

# ---- the floor --------------------------------------------------------------
parse_sub() { # FILE -> "received secs rate cpu_s"
    sed -n 's/^subscribe: received \([0-9]*\) messages in \([0-9.]*\) s (\([0-9]*\) msg\/s).* cpu \([0-9.]*\) s$/\1 \2 \3 \4/p' "$1"
}
parse_pub() { # FILE -> "published secs rate cpu_s"
    sed -n 's/^load: published \([0-9]*\) messages in \([0-9.]*\) s (\([0-9]*\) msg\/s).* cpu \([0-9.]*\) s$/\1 \2 \3 \4/p' "$1"
}

# Publishes N messages over TOPICS topics at RATE (0: flat out), with the
# publish time in each payload. Output in $W/NAME.out.
publish() { # NAME N TOPICS RATE
    local rate_arg=()
    [ "$4" = 0 ] || rate_arg=(-r "$4")
    run_fg "$W/$1.out" "$LOAD" -p "$PORT" -n "$2" -s "$3" "${rate_arg[@]}" \
        --payload-ts --quiet --csv "$RESULTS/$1.csv" ||
        die "publisher $1 failed: $(cat "$W/$1.out")"
}

# Sets F_RX F_RATE F_CPU.
run_floor() { # SC N TOPICS RATE
    local sub rc=0
    "$LOAD" --subscribe -p "$PORT" -n "$2" -d 10 --quiet \
        --csv "$RESULTS/$1_floor_sub.csv" >"$W/$1_floor_sub.out" 2>&1 &
    sub=$!
    PIDS+=("$sub")
    wait_for "$W/$1_floor_sub.out" "subscribe: ready" 10 "$sub" ||
        die "the floor subscriber did not subscribe: $(cat "$W/$1_floor_sub.out")"
    publish "$1_floor_pub" "$2" "$3" "$4"
    wait "$sub" || rc=$?
    reaped "$sub"
    read -r F_RX _ F_RATE F_CPU < <(parse_sub "$W/$1_floor_sub.out") || true
    [ -n "${F_RX:-}" ] || die "no summary from the floor subscriber"
    [ "$rc" -eq 0 ] || say "   the floor subscriber got $F_RX of $2 messages"
}

# ---- the daemon -------------------------------------------------------------
# The shipped [pipeline] defaults: no [pipeline] section at all.
daemon_conf() { # NAME DB
    cat >"$W/$1.conf" <<CONF
[mqtt]
host = 127.0.0.1
port = $PORT
client_id = sp-bench-$1-$$-$STARTS
clean_session = true
[subscription bench]
topic = sensors/#
qos = 0
format = json
timestamp_field = ts
fields = temp
[aggregate]
resolutions = ${FINEST_S}s, 1m
[store]
path = $2
commit_interval_ms = ${COMMIT_MS}ms
[log]
level = notice
stats_interval_s = 1
CONF
}

STARTS=0
start_daemon() { # NAME -> DPID, DB
    STARTS=$((STARTS + 1)) # a client id of its own: the broker log tells
    DB="$W/$1.db"
    daemon_conf "$1" "$DB"
    "$DAEMON" -c "$W/$1.conf" >"$W/$1.log" 2>&1 &
    DPID=$!
    PIDS+=("$DPID")
    # The broker logs "CLIENT QOS TOPIC" once the subscription is in.
    wait_for "$W/mosquitto.log" "sp-bench-$1-$$-$STARTS 0 sensors/#" 20 "$DPID" ||
        die "daemon $1 did not subscribe: $(tail -5 "$W/$1.log")"
}

stored_now() { # DB
    sqlite3 -readonly -cmd ".timeout 2000" "$1" \
        "SELECT coalesce(sum(count), 0) FROM rollups WHERE resolution_s = $FINEST_S" \
        2>/dev/null || echo 0
}

# CPU seconds per thread class of PID: "loop workers writer other".
thread_cpu() { # PID
    local pid=$1 t
    for t in /proc/"$pid"/task/*; do
        echo "${t##*/} $(cat "$t/stat" 2>/dev/null)"
    done | awk -v pid="$pid" -v hz="$CLK_TCK" '
        NF > 2 { tid = $1; line = $0
            comm = line; sub(/^[^(]*\(/, "", comm); sub(/\).*$/, "", comm)
            rest = line; sub(/^.*\) /, "", rest); split(rest, f, " ")
            c = (f[12] + f[13]) / hz
            if (tid == pid) loop += c
            else if (comm ~ /^sp-worker/) wk += c
            else if (comm == "sp-writer") wr += c
            else other += c }
        END { printf "%.2f %.2f %.2f %.2f\n", loop, wk, wr, other }'
}

peak_rss_mib() { # PID
    awk '/^VmHWM:/ { printf "%.1f\n", $2 / 1024 }' "/proc/$1/status"
}

# Waits until TARGET samples are stored, or nothing new for 10 s.
wait_stored() { # DB TARGET
    local last=-1 since s
    since=$(now_ms)
    while :; do
        s=$(stored_now "$1")
        [[ "$s" =~ ^[0-9]+$ ]] || s=0
        [ "$s" -lt "$2" ] || return 0
        if [ "$s" != "$last" ]; then
            last=$s
            since=$(now_ms)
        fi
        [ $(($(now_ms) - since)) -lt 10000 ] || return 1
        kill -0 "$DPID" 2>/dev/null || return 1
        sleep 0.1
    done
}

# SIGTERM and the clean stop; the exit status must be 0.
stop_daemon() { # NAME
    local rc=0
    kill -TERM "$DPID" 2>/dev/null || true
    wait "$DPID" || rc=$?
    reaped "$DPID"
    [ "$rc" -eq 0 ] || die "daemon $1 exited with $rc: $(tail -5 "$W/$1.log")"
    sqlite3 -readonly -header -csv "$DB" \
        "SELECT * FROM ingest_stats ORDER BY ts_ms" >"$RESULTS/$1_ingest_stats.csv"
}

# Steady receive rate from the ingest_stats rows strictly inside the run.
steady_rx_rate() { # DB TOTAL
    sqlite3 -readonly -separator ' ' "$1" \
        "SELECT ts_ms, received FROM ingest_stats ORDER BY ts_ms" |
        awk -v n="$2" '$2 > 0 && $2 < n { if (!a) { a = $1; ra = $2 } b = $1; rb = $2 }
            END { if (b > a) printf "%.0f\n", (rb - ra) * 1000 / (b - a); else print "n/a" }'
}

# Receive -> commit p99 (ms) from ingest_stats, one row per stats
# interval (1 s), each over the samples committed in it (NULL when none
# were): "WORST MEDIAN OVER ROWS", the worst interval's p99, the median
# interval's, and how many of the ROWS intervals with commits were over
# P99_TARGET_MS. The worst interval's p99 bounds the whole run's p99 from
# above (each interval has at most 1 % of its samples above its own p99).
p99_stats() { # DB
    sqlite3 -readonly -separator ' ' "$1" \
        "SELECT commit_p99_ms FROM ingest_stats WHERE commit_p99_ms IS NOT NULL" |
        sort -n | awk -v t="$P99_TARGET_MS" '
            { v[NR] = $1; if ($1 > t) over++ }
            END { if (NR == 0) { print "n/a n/a 0 0"; exit }
                  printf "%.0f %.0f %d %d\n", v[NR], v[int((NR + 1) / 2)], over, NR }'
}

us_per_msg() { # CPU_S N
    awk -v c="$1" -v n="$2" 'BEGIN { printf "%.2f", (n > 0 ? c * 1e6 / n : 0) }'
}

# The rollups table of a schema-8 store made again WITHOUT ROWID, as
# files made before schema 8 have it (the daemon keeps a table with rows
# as it is).
OLD_LAYOUT_SQL="DROP VIEW rollups_v; DROP TABLE rollups;
CREATE TABLE rollups (series_id INTEGER NOT NULL,
 resolution_s INTEGER NOT NULL, bucket_ms INTEGER NOT NULL,
 count INTEGER NOT NULL, sum REAL NOT NULL, min REAL NOT NULL,
 max REAL NOT NULL, last REAL NOT NULL, last_ms INTEGER NOT NULL,
 PRIMARY KEY (series_id, resolution_s, bucket_ms)) WITHOUT ROWID;
CREATE INDEX rollups_age ON rollups (resolution_s, bucket_ms);
CREATE VIEW rollups_v AS SELECT r.bucket_ms / 1000 AS time,
 s.topic AS topic, s.field AS field, s.tags AS tags,
 r.resolution_s AS resolution_s, r.count AS count,
 r.sum / r.count AS mean, r.min AS min, r.max AS max, r.last AS last
 FROM rollups AS r JOIN series AS s ON s.id = r.series_id;"

# A store that has run for HISTORY seconds: the publisher's TOPICS series
# (the ids the daemon will find at start) and a rollup row per series,
# resolution and bucket before now, written in the order a daemon writes
# them (time, then series). The daemon makes the schema first (started
# and stopped), so the file is the daemon's own.
prefill() { # SC TOPICS HISTORY LAYOUT
    local t0
    say "   $1: a store with $3 s of rollups over $2 series ($4 layout)"
    start_daemon "$1"
    stop_daemon "$1"
    t0=$(($(now_ms) / 60000 * 60000))
    sqlite3 "$DB" >"$W/$1_prefill.out" 2>&1 <<SQL || die "prefill $1: $(cat "$W/$1_prefill.out")"
.timeout 5000
$([ "$4" = old ] && echo "$OLD_LAYOUT_SQL")
BEGIN;
WITH RECURSIVE i(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM i WHERE x < $2 - 1)
INSERT INTO series (id, topic, field, tags, created_ms)
 SELECT x + 1, 'sensors/site' || (x % 10) || '/dev' || x, 'temp', NULL,
 $t0 - $3 * 1000 FROM i;
WITH RECURSIVE k(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM k WHERE x < $3 / $FINEST_S),
 r(res, b) AS (SELECT $FINEST_S, $t0 - x * $FINEST_S * 1000 FROM k
  UNION ALL SELECT 60, $t0 - x * 60000 FROM k WHERE x <= $3 / 60)
INSERT INTO rollups SELECT s.id, r.res, r.b, 10, 200.0, 19.0, 21.0, 20.0,
 r.b + r.res * 1000 - 1 FROM r, series AS s ORDER BY r.b, r.res, s.id;
COMMIT;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
}

# Sets D_* for one scenario.
run_daemon() { # SC N TOPICS RATE [HISTORY LAYOUT]
    local a b base=0
    if [ -n "${5:-}" ]; then
        prefill "$1" "$3" "$5" "$6"
        base=$(stored_now "$DB")
        rm -f "$RESULTS/$1_ingest_stats.csv"
    fi
    start_daemon "$1"
    a=$(thread_cpu "$DPID")
    publish "$1_daemon_pub" "$2" "$3" "$4"
    read -r D_PUB _ _ _ < <(parse_pub "$W/$1_daemon_pub.out") || true
    wait_stored "$DB" "$((base + D_PUB))" || say "   not every sample was stored in time"
    b=$(thread_cpu "$DPID")
    D_RSS=$(peak_rss_mib "$DPID")
    stop_daemon "$1"
    read -r D_LOOP D_WORKERS D_WRITER D_OTHER < <(echo "$a $b" | awk \
        '{ printf "%.2f %.2f %.2f %.2f\n", $5 - $1, $6 - $2, $7 - $3, $8 - $4 }')
    D_CPU=$(awk -v a="$D_LOOP" -v b="$D_WORKERS" -v c="$D_WRITER" -v d="$D_OTHER" \
        'BEGIN { printf "%.2f", a + b + c + d }')
    D_STORED=$(($(stored_now "$DB") - base))
    D_RATE=$(steady_rx_rate "$DB" "$D_PUB")
    read -r D_P99 D_P99_MED D_P99_OVER D_P99_ROWS < <(p99_stats "$DB")
}

# One scenario: the floor, then the daemon; appends its CSV row and table
# row.
run_scenario() { # SC N TOPICS RATE TARGET [HISTORY LAYOUT]
    local sc=$1 n=$2 topics=$3 rate=$4 target=$5 history=${6:-} layout=${7:-} f_us d_us ratio rate_ratio lost verdict p99_held shape
    [ "$topics" -le "$n" ] || topics=$n
    say "$sc: $n messages over $topics topics at $([ "$rate" = 0 ] && echo "full speed" || echo "$rate msg/s")"
    run_floor "$sc" "$n" "$topics" "$rate"
    run_daemon "$sc" "$n" "$topics" "$rate" $history $layout
    f_us=$(us_per_msg "$F_CPU" "$F_RX")
    d_us=$(us_per_msg "$D_CPU" "$D_PUB")
    ratio=$(awk -v d="$d_us" -v f="$f_us" 'BEGIN { printf "%.2f", (f > 0 ? d / f : 0) }')
    rate_ratio=$(awk -v d="$D_RATE" -v f="$F_RATE" \
        'BEGIN { if (d !~ /^[0-9]+$/ || f <= 0) print "n/a"; else printf "%.2f", d / f }')
    lost=$((D_PUB - D_STORED))
    verdict=$(awk -v r="$ratio" -v t="$target" 'BEGIN { print (r <= t ? "yes" : "no") }')
    p99_held=$(awk -v p="$D_P99" -v t="$P99_TARGET_MS" \
        'BEGIN { if (p !~ /^[0-9]+$/) print "n/a"; else print (p + 0 <= t ? "yes" : "no") }')
    LOST_TOTAL=$((LOST_TOTAL + lost))
    echo "$sc,$n,$topics,$rate,$F_RX,$F_RATE,$F_CPU,$f_us,$D_PUB,$D_STORED,$lost,$D_RATE,$rate_ratio,$D_CPU,$d_us,$ratio,$target,$(us_per_msg "$D_LOOP" "$D_PUB"),$(us_per_msg "$D_WORKERS" "$D_PUB"),$(us_per_msg "$D_WRITER" "$D_PUB"),$(us_per_msg "$D_OTHER" "$D_PUB"),$D_RSS,$D_P99,$D_P99_MED,$P99_TARGET_MS,$p99_held,$D_P99_OVER,$D_P99_ROWS" \
        >>"$RESULTS/scenarios.csv"
    shape="$n / $topics / $([ "$rate" = 0 ] && echo "max" || echo "$rate/s")"
    [ -z "$history" ] || shape+=", $history s of history ($layout layout)"
    ROWS+="| $sc | $shape | $f_us | $d_us | **$ratio** (≤ $target: $verdict) | $(us_per_msg "$D_LOOP" "$D_PUB") | $(us_per_msg "$D_WORKERS" "$D_PUB") | $(us_per_msg "$D_WRITER" "$D_PUB") | $F_RATE | $D_RATE ($rate_ratio) | $D_RSS | $lost | **$D_P99** / $D_P99_MED (≤ $P99_TARGET_MS: $p99_held; $D_P99_OVER of $D_P99_ROWS over) |"$'\n'
    CHECKS+="$sc: stored $D_STORED of $D_PUB published, lost $lost"$'\n'
    say "   floor $f_us us/msg; daemon $d_us us/msg ($ratio x floor), lost $lost"
    say "   receive -> commit p99: worst interval $D_P99 ms, median $D_P99_MED ms (target <= $P99_TARGET_MS ms: $p99_held; $D_P99_OVER of $D_P99_ROWS intervals over)"
}

run_scenarios() {
    local s
    LOST_TOTAL=0
    ROWS=""
    CHECKS=""
    echo "scenario,messages,topics,rate,floor_received,floor_rate,floor_cpu_s,floor_us_per_msg,published,stored,lost,daemon_rate,rate_ratio,daemon_cpu_s,daemon_us_per_msg,cpu_ratio,cpu_target,loop_us,workers_us,writer_us,other_us,peak_rss_mib,commit_p99_ms,commit_p99_median_ms,commit_p99_target_ms,commit_p99_held,intervals_over_target,intervals" \
        >"$RESULTS/scenarios.csv"
    for s in "${SCENARIOS[@]}"; do
        case " $ONLY " in
        *" ${s%% *} "*) ;;
        *) continue ;;
        esac
        # shellcheck disable=SC2086 # the fields are words
        run_scenario $s
    done
    [ -n "$ROWS" ] || die "no scenario in BENCH_SCENARIOS='$ONLY' (S1, S2, S3, S4, S4old)"
}

# ---- d. the pipeline without the network ----------------------------------
run_pipeline() {
    say "d. sensorpipe-bench: $N_PIPE messages on $SERIES series, $N_MANY on $S_MANY"
    run_fg "$W/pipeline.out" "$PIPE" -n "$N_PIPE" -s "$SERIES" \
        --csv "$RESULTS/pipeline.csv" ||
        die "sensorpipe-bench: $(cat "$W/pipeline.out")"
    run_fg "$W/pipeline_many.out" "$PIPE" -n "$N_MANY" -s "$S_MANY" \
        --csv "$RESULTS/pipeline_many.csv" ||
        die "sensorpipe-bench: $(cat "$W/pipeline_many.out")"
}

callgrind_ir() { # STAGE COUNT
    valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        "$PIPE" --stage "$1" -n "$2" -s "$SERIES" 2>&1 >/dev/null |
        awk '/Collected/ { print $NF }'
}

# Instructions per message: the difference between runs of 2n and n
# messages, less the same difference for making the feed alone.
run_callgrind() {
    local n=20000 st a b fa fb
    CG_ROWS=""
    case "${BENCH_CALLGRIND:-}" in
    0) return 0 ;;
    1) ;;
    *) awk -v s="$SCALE" 'BEGIN { exit !(s >= 0.1) }' || return 0 ;;
    esac
    command -v valgrind >/dev/null || return 0
    say "   callgrind: instructions per message"
    fa=$(callgrind_ir none "$n")
    fb=$(callgrind_ir none $((2 * n)))
    echo "stage,instructions_per_msg" >"$RESULTS/instructions.csv"
    for st in decode series ring pipeline; do
        a=$(callgrind_ir "$st" "$n")
        b=$(callgrind_ir "$st" $((2 * n)))
        if [ -z "$a" ] || [ -z "$b" ]; then
            die "callgrind run of $st failed"
        fi
        v=$(awk -v a="$a" -v b="$b" -v fa="$fa" -v fb="$fb" -v n="$n" \
            'BEGIN { printf "%.0f", ((b - a) - (fb - fa)) / n }')
        echo "$st,$v" >>"$RESULTS/instructions.csv"
        CG_ROWS+="| $st | $v |"$'\n'
    done
}

# ---- report ---------------------------------------------------------------
report() {
    cat <<TABLE
## sensorpipe benchmark

$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end, $(uname -sr), mosquitto $("$MOSQUITTO" -h 2>/dev/null | sed -n 's/^mosquitto version \([^ ]*\).*/\1/p'), scale $SCALE, QoS 0

| scenario | messages / topics / rate | floor µs/msg | daemon µs/msg | CPU ÷ floor | loop µs/msg | workers µs/msg | writer µs/msg | floor msg/s | daemon msg/s (÷ floor) | peak RSS MiB | lost | commit p99 ms: worst / median interval |
|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${ROWS}
$(printf '%s' "$CHECKS")

Method: the floor is \`sensorpipe-load --subscribe\`, a non-threaded
libmosquitto client (poll + mosquitto_loop_read) that only counts; its CPU
is the whole process's (getrusage), its rate runs from its first message to
its last. The daemon (JSON, timestamp_field = ts, fields = temp, resolutions
${FINEST_S} s and 1 m, the shipped [pipeline] defaults, QoS 0) gets the same
publisher; its CPU is the difference of /proc/PID/task/*/stat from before
the publisher starts until every sample is stored (that includes the last
commit interval), split by thread: loop (the main thread), workers, writer
(other threads: $(awk -F, 'NR > 1 { printf "%s%s", (NR > 2 ? ", " : ""), $21 }' "$RESULTS/scenarios.csv") µs/msg).
Its rate is the slope of ingest_stats.received between the rows taken while
messages still arrived (n/a for runs shorter than two stats rows). Peak RSS
is VmHWM. Commit p99 is the receive -> commit p99 of the daemon's own
histogram (exact below 256 ms, within 0.4 % above), one value per stats
interval (1 s) in ingest_stats: the worst interval's, which bounds the
whole run's p99 from above, and the median interval's, against the target
commit_interval_ms ($COMMIT_MS ms) + 50 ms = $P99_TARGET_MS ms, with the
intervals over it. Absolute times move by ±30 % on a shared machine; the
ratios compare runs made minutes apart on the same one.

Pipeline without the network (sensorpipe-bench, $SERIES series):

$(sed -n '/^|/p' "$W/pipeline.out")

$(grep '^bench: pipeline' "$W/pipeline.out" | sed 's/^bench: //')

With $S_MANY series:

$(sed -n '/^|/p' "$W/pipeline_many.out")

$(grep '^bench: pipeline' "$W/pipeline_many.out" | sed 's/^bench: //')
TABLE
    if [ -n "${CG_ROWS:-}" ]; then
        printf '\nInstructions per message (callgrind; 2n - n runs, feed subtracted):\n\n'
        printf '| stage | instructions/msg |\n|---|---:|\n%s' "$CG_ROWS"
    fi
}

# Per-thread CPU per message of each scenario, stacked, next to the floor.
chart() {
    command -v gnuplot >/dev/null || {
        say "gnuplot not installed: no chart (apt-get install gnuplot-nox)"
        return 0
    }
    gnuplot 2>"$W/gnuplot.err" <<PLOT || say "gnuplot failed: $(cat "$W/gnuplot.err")"
set terminal pngcairo size 1000,560 font ",10"
set output "$RESULTS/bench.png"
set datafile separator ","
set title "CPU per message: the floor subscriber and the daemon by thread (scale $SCALE)"
set ylabel "µs of CPU per message"
set style data histograms
set style histogram rowstacked
set style fill solid 0.8 border -1
set boxwidth 0.7
set key outside right top
set grid ytics
plot "$RESULTS/scenarios.csv" skip 1 using 18:xtic(1) title "daemon: loop", \
     "" skip 1 using 19 title "daemon: workers", \
     "" skip 1 using 20 title "daemon: writer", \
     "" skip 1 using 21 title "daemon: other", \
     "" skip 1 using 0:8 with linespoints lw 2 pt 7 title "floor (whole process)"
PLOT
}

main() {
    local f
    for f in "$DAEMON" "$LOAD" "$PIPE"; do
        [ -x "$f" ] || die "missing $f (build it: make VARIANT=... all)"
    done
    command -v sqlite3 >/dev/null || die "sqlite3 is not installed"
    [ -x "$MOSQUITTO" ] || die "mosquitto is not installed"
    mkdir -p "$RESULTS"
    W=$(mktemp -d /tmp/sp-bench.XXXXXX)
    start_broker
    say "broker on 127.0.0.1:$PORT (pid $BROKER_PID); scale $SCALE; results in $RESULTS"
    run_scenarios
    run_pipeline
    run_callgrind
    report >"$RESULTS/summary.md"
    cat "$RESULTS/summary.md"
    chart
    [ "$LOST_TOTAL" -eq 0 ] || die "messages were lost (see the lost column)"
}

main
