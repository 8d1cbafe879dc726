#!/bin/bash
# bench.sh BUILD_DIR - sensorpipe's benchmarks in one go (`make bench`).
#
# Uses BUILD_DIR/sensorpipe, BUILD_DIR/sensorpipe-load and
# BUILD_DIR/sensorpipe-bench, and a private mosquitto on a free 127.0.0.1
# port (queue limits lifted, as the tests' broker). In order:
#   a. null subscriber: sensorpipe-load --subscribe counts what arrives
#      while another sensorpipe-load publishes N messages at QoS 0 as fast
#      as it can: the broker's ceiling on this machine.
#   b. the daemon (workers 2, overflow pause, commit_interval 1 s) under the
#      same load, until it has stored every sample: receive and store
#      rates, loss, CPU, peak RSS and its growth.
#   c. a latency run at half the null subscriber's rate with the publish
#      time in each payload: receive -> commit percentiles from the
#      daemon's own ingest_stats, and publish -> visible percentiles read off
#      the stored curve.
#   d. sensorpipe-bench: the pipeline without the network, stage by stage;
#      with valgrind, instructions per message from callgrind.
# Prints one markdown table (also RESULTS/summary.md), writes raw CSVs to
# RESULTS and, when gnuplot is installed, RESULTS/bench.png.
#
# Environment:
#   BENCH_SCALE      size factor; 1 (default) is the full run, a couple of
#                    minutes; 0.002 is the smoke run of the test suite
#   BENCH_SERIES     distinct topics (default 100)
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
CLK_TCK=$(getconf CLK_TCK)

# ---- sizes ----------------------------------------------------------------
scaled() { # BASE MIN -> max(MIN, BASE * SCALE)
    awk -v b="$1" -v m="$2" -v s="$SCALE" \
        'BEGIN { n = int(b * s); print (n < m ? m : n) }'
}
N=$(scaled 2000000 1000)        # messages in runs a and b
N_LAT=$(scaled 1000000 500)     # messages in run c
N_PIPE=$(scaled 2000000 10000)  # sensorpipe-bench, SERIES series
N_MANY=$(scaled 500000 10000)   # sensorpipe-bench, many series
S_MANY=$(awk -v n="$N_MANY" 'BEGIN { s = int(n / 5); print (s > 100000 ? 100000 : s) }')
STORE_TIMEOUT_S=$(awk -v n="$N" 'BEGIN { print 30 + int(n / 10000) }')

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

# ---- a. null subscriber ---------------------------------------------------
parse_sub() { # FILE -> "received secs rate cpu_s"
    sed -n 's/^subscribe: received \([0-9]*\) messages in \([0-9.]*\) s (\([0-9]*\) msg\/s).* cpu \([0-9.]*\) s$/\1 \2 \3 \4/p' "$1"
}
parse_pub() { # FILE -> "published secs rate cpu_s"
    sed -n 's/^load: published \([0-9]*\) messages in \([0-9.]*\) s (\([0-9]*\) msg\/s).* cpu \([0-9.]*\) s$/\1 \2 \3 \4/p' "$1"
}

per_million() { # CPU_S COUNT -> CPU seconds per million messages
    awk -v c="$1" -v n="$2" 'BEGIN { printf "%.2f\n", (n > 0 ? c * 1e6 / n : 0) }'
}

run_null() {
    local sub rc=0
    say "a. null subscriber: $N messages, QoS 0, $SERIES series"
    "$LOAD" --subscribe -p "$PORT" -n "$N" -d 10 --quiet \
        --csv "$RESULTS/null_sub.csv" >"$W/null_sub.out" 2>&1 &
    sub=$!
    PIDS+=("$sub")
    wait_for "$W/null_sub.out" "subscribe: ready" 10 "$sub" ||
        die "the null subscriber did not subscribe: $(cat "$W/null_sub.out")"
    run_fg "$W/null_pub.out" "$LOAD" -p "$PORT" -n "$N" -s "$SERIES" \
        --quiet --csv "$RESULTS/null_pub.csv" ||
        die "publisher failed: $(cat "$W/null_pub.out")"
    wait "$sub" || rc=$?
    reaped "$sub"
    read -r NULL_RX NULL_SECS NULL_RATE NULL_CPU < <(parse_sub "$W/null_sub.out") || true
    read -r _ _ NULL_PUB_RATE NULL_PUB_CPU < <(parse_pub "$W/null_pub.out") || true
    [ -n "${NULL_RX:-}" ] || die "no summary from the null subscriber"
    [ "$rc" -eq 0 ] || say "null subscriber got $NULL_RX of $N messages"
    say "   broker ceiling: $NULL_RATE msg/s received ($NULL_RX in $NULL_SECS s)"
}

# ---- the daemon -----------------------------------------------------------
daemon_conf() { # NAME DB
    cat >"$W/$1.conf" <<CONF
[mqtt]
host = 127.0.0.1
port = $PORT
client_id = sp-bench-$1-$$
clean_session = true
[subscription bench]
topic = sensors/#
qos = 1
format = json
timestamp_field = ts
fields = temp
topic_tags = sensors/{site}/{device}
[pipeline]
workers = 2
overflow = pause
max_series = $((SERIES * 2 > 1000 ? SERIES * 2 : 1000))
[aggregate]
resolutions = ${FINEST_S}s, 1m, 1h
[store]
path = $2
commit_interval_ms = 1000
[log]
level = notice
stats_interval_s = 1
CONF
}

start_daemon() { # NAME -> DPID, DB
    DB="$W/$1.db"
    daemon_conf "$1" "$DB"
    "$DAEMON" -c "$W/$1.conf" >"$W/$1.log" 2>&1 &
    DPID=$!
    PIDS+=("$DPID")
    # The broker logs "CLIENT QOS TOPIC" once the subscription is in.
    wait_for "$W/mosquitto.log" "sp-bench-$1-$$ 1 sensors/#" 20 "$DPID" ||
        die "daemon $1 did not subscribe: $(tail -5 "$W/$1.log")"
}

stored_now() { # DB
    sqlite3 -readonly -cmd ".timeout 2000" "$1" \
        "SELECT coalesce(sum(count), 0) FROM rollups WHERE resolution_s = $FINEST_S" \
        2>/dev/null || echo 0
}

# RSS (kB) and CPU seconds (utime + stime) of PID, as "rss,cpu".
proc_usage() { # PID
    awk -v hz="$CLK_TCK" '/^VmRSS:/ { rss = $2 }
        FILENAME ~ /stat$/ { cpu = ($14 + $15) / hz }
        END { if (rss == "") exit 1; printf "%d,%.2f\n", rss, cpu }' \
        "/proc/$1/status" "/proc/$1/stat" 2>/dev/null
}

# Every 100 ms: t_ms (since T0), RSS, CPU seconds, stored samples.
sampler() { # PID DB CSV T0
    local pid=$1 db=$2 csv=$3 t0=$4 usage
    echo "t_ms,rss_kb,cpu_s,stored" >"$csv"
    while usage=$(proc_usage "$pid"); do
        echo "$(($(now_ms) - t0)),$usage,$(stored_now "$db")" >>"$csv"
        sleep 0.1
    done
}

last_stored() { # CSV -> "t_ms stored" of the last sample
    tail -n 1 "$1" | awk -F, '{ print $1, $4 }'
}

# Waits until TARGET samples are stored, or nothing new for 10 s after
# the publisher ended. Sets T_DONE (ms since T0, -1 when never).
wait_stored() { # CSV TARGET
    local deadline=$(($(now_ms) + STORE_TIMEOUT_S * 1000))
    local last=-1 since t s
    since=$(now_ms)
    T_DONE=-1
    while [ "$(now_ms)" -lt "$deadline" ]; do
        read -r t s < <(last_stored "$1") || true
        if [[ "$s" =~ ^[0-9]+$ ]]; then
            if [ "$s" -ge "$2" ]; then
                T_DONE=$t
                return 0
            fi
            if [ "$s" != "$last" ]; then
                last=$s
                since=$(now_ms)
            fi
        fi
        [ $(($(now_ms) - since)) -lt 10000 ] || return 1
        kill -0 "$DPID" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

cpu_seconds() { # PID
    proc_usage "$1" | cut -d, -f2
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

final_stats() { # DB -> "received samples dropped"
    sqlite3 -readonly -separator ' ' "$1" \
        "SELECT received, samples, dropped_overflow + dropped_oversize +
                dropped_invalid + dropped_series_limit
         FROM ingest_stats ORDER BY ts_ms DESC LIMIT 1"
}

# Steady receive rate from the ingest_stats rows strictly inside the run.
steady_rx_rate() { # DB TOTAL
    sqlite3 -readonly -separator ' ' "$1" \
        "SELECT ts_ms, received FROM ingest_stats ORDER BY ts_ms" |
        awk -v n="$2" '$2 > 0 && $2 < n { if (!a) { a = $1; ra = $2 } b = $1; rb = $2 }
            END { if (b > a) printf "%.0f\n", (rb - ra) * 1000 / (b - a); else print "n/a" }'
}

# Peak RSS (MiB) and the peak of the second half minus that of the first.
rss_peaks() { # SAMPLES_CSV T_END_MS
    awk -F, -v e="$2" 'NR > 1 && $1 >= 0 && $1 <= e {
            if ($2 > p) p = $2
            if ($1 < e / 2) { if ($2 > h1) h1 = $2 } else if ($2 > h2) h2 = $2 }
        END { printf "%.1f %+.1f", p / 1024, (h2 - h1) / 1024 }' "$1"
}

run_daemon() {
    local t0 cpu rx samples dropped
    say "b. the daemon under the same load: $N messages"
    start_daemon load
    t0=$(now_ms)
    D_T0=$t0
    sampler "$DPID" "$DB" "$RESULTS/daemon_samples.csv" "$t0" &
    SAMPLER_PID=$!
    PIDS+=("$SAMPLER_PID")
    run_fg "$W/daemon_pub.out" "$LOAD" -p "$PORT" -n "$N" -s "$SERIES" \
        --quiet --csv "$RESULTS/daemon_pub.csv" ||
        die "publisher failed: $(cat "$W/daemon_pub.out")"
    read -r D_PUB _ D_PUB_RATE _ < <(parse_pub "$W/daemon_pub.out") || true
    wait_stored "$RESULTS/daemon_samples.csv" "$D_PUB" ||
        say "   not every sample was stored within the timeout"
    cpu=$(cpu_seconds "$DPID")
    stop_pid "$SAMPLER_PID"
    stop_daemon load
    read -r rx samples dropped < <(final_stats "$DB") || true
    D_STORED=$(stored_now "$DB")
    D_RX=$rx
    D_SAMPLES=$samples
    D_DROPPED=$dropped
    D_CPU=$cpu
    D_RX_RATE=$(steady_rx_rate "$DB" "$rx")
    if [ "$T_DONE" -le 0 ]; then
        T_DONE=$(tail -n 1 "$RESULTS/daemon_samples.csv" | cut -d, -f1)
        [[ "$T_DONE" =~ ^[0-9]+$ ]] || T_DONE=0
    fi
    D_T_DONE=$T_DONE
    read -r D_RSS D_RSS_GROWTH < <(rss_peaks "$RESULTS/daemon_samples.csv" "$T_DONE") || true
    say "   received $rx, stored $D_STORED of $D_PUB in $T_DONE ms, CPU $cpu s"
}

# ---- c. latency -----------------------------------------------------------
# p50: median of the per-interval p50s; p99: the worst interval's p99.
latency_from_stats() { # DB -> "p50 p99"
    sqlite3 -readonly -separator ' ' "$1" \
        "SELECT commit_p50_ms, commit_p99_ms FROM ingest_stats
         WHERE commit_p50_ms IS NOT NULL AND commit_p50_ms > 0 ORDER BY ts_ms" |
        sort -n -k1,1 | awk '{ p50[NR] = $1; if ($2 > m) m = $2 }
            END { if (NR) printf "%.0f %.0f", p50[int((NR + 1) / 2)], m; else print "n/a n/a" }'
}

# Publish -> visible latency from the stored curve. The publisher sends
# message k at T0 + k / RATE; a poll at t that sees the stored count go from
# s0 to s1 makes messages s0+1..s1 visible by t. Returns "p50 p99 max" (ms).
latency_from_curve() { # SAMPLES_CSV RATE TOTAL
    awk -F, -v r="$2" -v n="$3" 'NR > 1 && $4 ~ /^[0-9]+$/ {
            s = $4 > n ? n : $4
            for (k = ps + 1; k <= s; k++) {
                lat = int($1 - k * 1000 / r); if (lat < 0) lat = 0
                h[lat]++; if (lat > m) m = lat; c++
            }
            if (s > ps) ps = s }
        END { if (!c) { print "n/a n/a n/a"; exit }
            for (l = 0; l <= m; l++) { a += h[l]
                if (!p50 && a >= c * 0.50) p50 = l + 1
                if (!p99 && a >= c * 0.99) p99 = l + 1 }
            printf "%d %d %d\n", p50, p99, m }' "$1"
}

run_latency() {
    local t0
    LAT_RATE=$(awk -v r="${NULL_RATE:-0}" 'BEGIN { r = int(r / 2); print (r < 1000 ? 1000 : r) }')
    say "c. latency: $N_LAT messages at $LAT_RATE msg/s with the publish time"
    start_daemon latency
    t0=$(now_ms)
    L_T0=$t0
    sampler "$DPID" "$DB" "$RESULTS/latency_samples.csv" "$t0" &
    SAMPLER_PID=$!
    PIDS+=("$SAMPLER_PID")
    run_fg "$W/latency_pub.out" "$LOAD" -p "$PORT" -n "$N_LAT" -s "$SERIES" \
        -r "$LAT_RATE" --payload-ts --quiet --csv "$RESULTS/latency_pub.csv" ||
        die "publisher failed: $(cat "$W/latency_pub.out")"
    read -r L_PUB _ L_PUB_RATE _ < <(parse_pub "$W/latency_pub.out") || true
    wait_stored "$RESULTS/latency_samples.csv" "$L_PUB" ||
        say "   not every sample was stored within the timeout"
    stop_pid "$SAMPLER_PID"
    stop_daemon latency
    L_STORED=$(stored_now "$DB")
    read -r L_P50 L_P99 < <(latency_from_stats "$DB") || true
    read -r L_VIS_P50 L_VIS_P99 L_VIS_MAX < <(latency_from_curve \
        "$RESULTS/latency_samples.csv" "$LAT_RATE" "$L_PUB") || true
    say "   receive -> commit p50 $L_P50 ms, p99 $L_P99 ms (daemon);" \
        "publish -> visible p50 $L_VIS_P50 ms, p99 $L_VIS_P99 ms"
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
pct_loss() { # PUBLISHED STORED
    awk -v p="$1" -v s="$2" 'BEGIN { printf "%.2f\n", (p > 0 ? (p - s) * 100 / p : 100) }'
}

report() {
    local loss ratio stored_rate cpu_m rx_cell="$D_RX_RATE msg/s"
    [ "$D_RX_RATE" != "n/a" ] || rx_cell="n/a (shorter than two stats rows)"
    loss=$(pct_loss "$D_PUB" "$D_STORED")
    ratio=$(awk -v d="$D_RX_RATE" -v n="$NULL_RATE" \
        'BEGIN { if (d !~ /^[0-9]+$/ || n <= 0) print "n/a"; else printf "%.2f\n", d / n }')
    stored_rate=$(awk -v n="$D_STORED" -v t="$D_T_DONE" 'BEGIN { printf "%.0f\n", (t > 0 ? n * 1000 / t : 0) }')
    cpu_m=$(per_million "$D_CPU" "$D_PUB")
    cat <<TABLE
## sensorpipe benchmark

$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -sr), mosquitto $("$MOSQUITTO" -h 2>/dev/null | sed -n 's/^mosquitto version \([^ ]*\).*/\1/p'), scale $SCALE, $SERIES series, JSON payloads, QoS 0

| measure | value |
|---|---:|
| a. broker ceiling: null subscriber received | $NULL_RATE msg/s |
| a. publisher rate in that run | $NULL_PUB_RATE msg/s |
| a. null subscriber got | $NULL_RX of $N |
| a. CPU per million messages: null subscriber / publisher | $(per_million "$NULL_CPU" "$NULL_RX") / $(per_million "$NULL_PUB_CPU" "$N") s |
| b. messages published | $D_PUB (at $D_PUB_RATE msg/s) |
| b. daemon received, steady | $rx_cell |
| b. daemon stored, end to end | $stored_rate msg/s |
| b. daemon counters at stop (ingest_stats) | received $D_RX, samples $D_SAMPLES, dropped $D_DROPPED |
| b. loss (published - stored) / published | $loss % |
| b. daemon / null subscriber | $ratio |
| b. daemon CPU | $D_CPU s |
| b. daemon CPU per million messages | $cpu_m s |
| b. daemon peak RSS | $D_RSS MiB |
| b. peak RSS growth, 2nd half vs 1st half | $D_RSS_GROWTH MiB |
| c. latency run | $L_PUB messages at $L_PUB_RATE msg/s, $(pct_loss "$L_PUB" "$L_STORED") % loss |
| c. receive -> commit p50 / p99 (daemon histogram) | $L_P50 / $L_P99 ms |
| c. publish -> visible p50 / p99 / max (stored curve) | $L_VIS_P50 / $L_VIS_P99 / $L_VIS_MAX ms |

Method: rates count messages (one sample each: fields = temp). Run b's
"received" is the slope of ingest_stats\$received between the rows taken
while messages still arrived; "stored" divides the samples by the time from
the first publish until sum(count) of the ${FINEST_S} s rollups reached them
(polled every 100 ms; it includes the last commit interval). Run c's
percentiles are the daemon's receive -> commit histogram (per stats
interval; the median of the p50s, the worst p99), which times every sample
of a partial from the partial's first receive, so it sits near the commit
interval. The publish -> visible figures come from the data instead: the
publisher is paced, so message k left at T0 + k / rate, and the 100 ms poll
of sum(count) shows when it became visible (late by at most one poll);
publish -> receive on loopback adds well under a millisecond.

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

# Per-second series for the chart, in seconds since each run's first
# publish (ingest_stats times are wall clock, as T0).
chart_data() {
    awk -F, -v t0="$D_T0" 'NR > 1 { if (pt) { dt = $1 - pt
            if (dt > 0) printf "%.1f,%.0f\n", ($1 - t0) / 1000, ($2 - pr) * 1000 / dt }
            pt = $1; pr = $2 }' "$RESULTS/load_ingest_stats.csv" >"$W/rx_rate.csv"
    awk -F, -v t0="$L_T0" 'NR > 1 && $13 != "" && $13 > 0 {
            printf "%.1f,%s,%s\n", ($1 - t0) / 1000, $13, $14 }' \
        "$RESULTS/latency_ingest_stats.csv" >"$W/latency.csv"
}

chart() {
    command -v gnuplot >/dev/null || {
        say "gnuplot not installed: no chart (apt-get install gnuplot-nox)"
        return 0
    }
    chart_data
    gnuplot 2>"$W/gnuplot.err" <<PLOT || say "gnuplot failed: $(cat "$W/gnuplot.err")"
set terminal pngcairo size 1000,1000 font ",10"
set output "$RESULTS/bench.png"
set datafile separator ","
set multiplot layout 3,1 title "sensorpipe benchmark (scale $SCALE, $SERIES series)"
set grid
set xlabel "time (s)"
set ylabel "msg/s"
set title "rate: null subscriber (a) and daemon receive (b)"
plot "$RESULTS/null_sub.csv" skip 1 using 1:3 with linespoints title "a. null subscriber received", \
     "$RESULTS/daemon_pub.csv" skip 1 using 1:3 with linespoints title "b. published", \
     "$W/rx_rate.csv" using 1:2 with linespoints title "b. daemon received"
set ylabel "ms"
set title "latency run (c) at $LAT_RATE msg/s: receive -> commit per stats interval, and stored lag"
plot "$W/latency.csv" using 1:2 with linespoints title "p50", \
     "$W/latency.csv" using 1:3 with linespoints title "p99", \
     "$RESULTS/latency_samples.csv" skip 1 using (\$1/1000):(\$4 > 0 && \$4 < $L_PUB ? \$1 - \$4*1000/$LAT_RATE : 1/0) with lines title "publish -> visible lag"
set ylabel "MiB"
set title "daemon resident memory (b, then c)"
plot "$RESULTS/daemon_samples.csv" skip 1 using (\$1/1000):(\$2/1024) with lines title "RSS, run b", \
     "$RESULTS/latency_samples.csv" skip 1 using (\$1/1000):(\$2/1024) with lines title "RSS, run c"
unset multiplot
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
    run_null
    run_daemon
    run_latency
    run_pipeline
    run_callgrind
    report >"$RESULTS/summary.md"
    cat "$RESULTS/summary.md"
    chart
    [ "$(pct_loss "$D_PUB" "$D_STORED")" = "0.00" ] ||
        die "messages were lost (see the loss line)"
}

main
