#!/bin/sh
# run-tests.sh BUILD_DIR MODE - run one pass of the suite.
#   debug, asan: unit + stress + integration from BUILD_DIR against
#                BUILD_DIR/sensorpipe
#   tsan:        stress programs from build/tsan, then the Criterion
#                integration suite from build/debug against build/tsan/sensorpipe
# Each program's output goes to $SP_LOGS/MODE/NAME.log (SP_LOGS defaults to
# build/logs); the terminal gets one line per program, the tail of the log
# of each one that failed, and one closing line. Exits non-zero when any
# program fails.
set -u
B=$1
MODE=$2
. "$(dirname "$0")/lib.sh"
LOGS=${SP_LOGS:-build/logs}/$MODE
mkdir -p "$LOGS"

run() {
    sp_run_test "$MODE" "$LOGS" "$@"
}

JOBS="--jobs=2"
if [ "$MODE" = tsan ]; then
    export TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1"
    export SP_DAEMON="$PWD/build/tsan/sensorpipe"
    TESTS_DIR=build/debug
else
    export SP_DAEMON="$PWD/$B/sensorpipe"
    TESTS_DIR=$B
    if [ "$MODE" = asan ]; then
        export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=67"
        export LSAN_OPTIONS="suppressions=$PWD/test/support/lsan.supp:print_suppressions=0"
        export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
    fi
    for t in "$B"/test/unit/test_*; do
        [ -x "$t" ] || continue
        run "$(basename "$t")" "$t" $JOBS --short-filename
    done
fi
export SP_TOOLS="$PWD/$TESTS_DIR"
for t in "$B"/test/stress/stress_*; do
    [ -x "$t" ] || continue
    run "$(basename "$t")" "$t"
done
for t in "$TESTS_DIR"/test/integration/test_*; do
    [ -x "$t" ] || continue
    run "$(basename "$t")" "$t" $JOBS --short-filename
done

# One closing line: test programs (each a Criterion suite or a stress
# program) that passed and failed in this pass.
sp_tally_end "$MODE" "; logs in $LOGS/"
