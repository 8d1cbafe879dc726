#!/bin/sh
# run-tests.sh MODE - run one pass of the suite.
#   debug, asan: unit + stress + integration from build/MODE against
#                build/MODE/sensorpipe
#   tsan:        stress programs from build/tsan, then the Criterion
#                integration suite from build/debug against build/tsan/sensorpipe
# Exits non-zero when any program fails; prints one summary line.
set -u
B=$1
MODE=$2
pass=0
fail=0
failed=""

run() {
    name=$1
    shift
    echo "== [$MODE] $name"
    if "$@"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        failed="$failed $name"
    fi
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

[ -n "$failed" ] && echo "[$MODE] failed programs:$failed"
# One closing line: test programs (each a Criterion suite or a stress
# program) that passed and failed in this pass.
echo "$MODE: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
