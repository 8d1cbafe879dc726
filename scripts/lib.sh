# lib.sh - helpers the scripts share; source it (POSIX sh, bash too).
#
#   sp_broker_conf FILE PORT [PERSIST_DIR [LOG_FILE]]
#       writes a private mosquitto configuration: a listener on
#       127.0.0.1:PORT, anonymous clients, and the queue and in-flight
#       limits lifted. With overflow = pause the daemon's backlog waits in
#       the broker, and Mosquitto's default of 1000 queued messages per
#       client would drop the rest. PERSIST_DIR (empty: none) turns
#       persistence on there; LOG_FILE (empty: no log) keeps the broker's
#       log, subscriptions included.
#   sp_free_port       prints a free TCP port on 127.0.0.1
#   sp_port_open PORT  true when something accepts on 127.0.0.1:PORT
#   sp_wait_port PORT  waits up to 5 s for sp_port_open PORT
#   sp_wait_log FILE PATTERN SECONDS
#                      waits up to SECONDS for a line matching PATTERN (grep)
#                      in FILE (a daemon's log); false when none came
#   sp_logged LOG CMD...  runs CMD with its output in LOG; its exit status
#   sp_tail LOG        prints the last lines of a failed step's LOG
#
# Counted steps (run-tests.sh, cross-tests.sh, fuzz.sh):
#   sp_tally NAME LOG CMD...
#       runs CMD as sp_logged does and counts it in sp_pass, sp_fail and
#       sp_failed (the failed NAMEs); sp_verdict is ok or FAILED; returns 0
#   sp_run_test TAG LOG_DIR NAME CMD...
#       sp_tally with LOG_DIR/NAME.log, then one line: [TAG] NAME, the
#       verdict, the tests Criterion counted and the seconds it took; the
#       tail of the log when it failed. With SP_QUIET set (make test) only
#       a failure prints; the tests still count in sp_tests.
#   sp_tally_end LABEL [TEXT]
#       one closing line, "LABEL: N passed, M failed (NAMES), T tests,
#       S s TEXT"; true when none failed

sp_broker_conf() {
    {
        echo "listener $2 127.0.0.1"
        echo "allow_anonymous true"
        echo "max_queued_messages 0"
        echo "max_queued_bytes 0"
        echo "max_inflight_messages 0"
        echo "max_inflight_bytes 0"
        if [ -n "${3:-}" ]; then
            echo "persistence true"
            echo "persistence_location $3/"
        else
            echo "persistence false"
        fi
        if [ -n "${4:-}" ]; then
            echo "log_dest file $4"
            for t in error warning notice information subscribe; do
                echo "log_type $t"
            done
        else
            echo "log_dest none"
        fi
        # mosquitto refuses to run as root without this line.
        [ "$(id -u)" -ne 0 ] || echo "user root"
    } >"$1"
}

sp_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

sp_port_open() {
    python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),0.2)' \
        "$1" 2>/dev/null
}

sp_wait_port() {
    _sp_i=0
    while [ "$_sp_i" -lt 100 ]; do
        sp_port_open "$1" && return 0
        sleep 0.05
        _sp_i=$((_sp_i + 1))
    done
    return 1
}

sp_wait_log() {
    _sp_i=0
    while [ "$_sp_i" -lt $(($3 * 10)) ]; do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
        _sp_i=$((_sp_i + 1))
    done
    return 1
}

sp_logged() {
    _sp_log=$1
    shift
    mkdir -p "$(dirname "$_sp_log")"
    "$@" >"$_sp_log" 2>&1
}

SP_TAIL_LINES=${SP_TAIL_LINES:-40}
sp_tail() {
    echo "---- last $SP_TAIL_LINES lines of $1 ----"
    tail -n "$SP_TAIL_LINES" "$1"
    echo "----"
}

sp_pass=0
sp_fail=0
sp_failed=""
sp_verdict=""
sp_tests=0
sp_start=$(date +%s)

sp_tally() {
    _sp_name=$1
    _sp_tlog=$2
    shift 2
    if sp_logged "$_sp_tlog" "$@"; then
        sp_pass=$((sp_pass + 1))
        sp_verdict=ok
    else
        sp_fail=$((sp_fail + 1))
        sp_failed="$sp_failed $_sp_name"
        sp_verdict=FAILED
    fi
}

# "N tests" from Criterion's closing line, when the log has one.
_sp_tests_in() {
    sed -n 's/.*Synthesis: Tested: \([0-9]*\) .*/\1 tests/p' "$1" | tail -n 1
}

# Adds the tests of a Criterion log to sp_tests.
_sp_count_tests() {
    _sp_n=$(_sp_tests_in "$1")
    sp_tests=$((sp_tests + ${_sp_n%% *}))
}

sp_run_test() {
    _sp_tag=$1
    _sp_rlog=$2/$3.log
    _sp_rname=$3
    shift 3
    _sp_t0=$(date +%s)
    sp_tally "$_sp_rname" "$_sp_rlog" "$@"
    [ -z "$(_sp_tests_in "$_sp_rlog")" ] || _sp_count_tests "$_sp_rlog"
    if [ -z "${SP_QUIET:-}" ] || [ "$sp_verdict" != ok ]; then
        printf '  [%s] %-22s %-6s %9s %4ss\n' "$_sp_tag" "$_sp_rname" \
            "$sp_verdict" "$(_sp_tests_in "$_sp_rlog")" \
            "$(($(date +%s) - _sp_t0))"
    fi
    [ "$sp_verdict" = ok ] || sp_tail "$_sp_rlog"
}

sp_tally_end() {
    _sp_more=""
    [ "$sp_tests" -eq 0 ] || _sp_more=", $sp_tests tests"
    echo "$1: $sp_pass passed, $sp_fail failed${sp_failed:+ (}${sp_failed# }${sp_failed:+)}$_sp_more, $(($(date +%s) - sp_start)) s${2:-}"
    [ "$sp_fail" -eq 0 ]
}
