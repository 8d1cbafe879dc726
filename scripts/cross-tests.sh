#!/bin/sh
# cross-tests.sh ARCH BUILD_DIR - the emulated pass: BUILD_DIR's
# cross-built unit tests and ring stress program under qemu-user, then the
# native ingest suite (build/debug) against BUILD_DIR's daemon under
# qemu-user, with a native broker. Like run-tests.sh: each program's output
# in $SP_LOGS/ARCH/NAME.log, one line per program, the tail of a failing
# log, one closing line; exits non-zero when any program fails.
#
# qemu-user on x86-64 runs the ARM code with the host's stronger (TSO)
# memory order: this pass proves the aarch64 build, its atomics as
# compiled and its system calls; reorderings that only weakly ordered ARM
# cores make need ARM hardware to show.
set -u
ARCH=$1
B=$2
. "$(dirname "$0")/lib.sh"
ABS_B=$(cd "$B" && pwd)
LOGS=${SP_LOGS:-build/logs}/$ARCH
mkdir -p "$LOGS"

run() {
    sp_run_test "$ARCH" "$LOGS" "$@"
}

# Criterion re-executes each test binary: qemu_exec.so sends those
# executions back to qemu (no binfmt_misc needed).
export SP_QEMU="qemu-$ARCH"
# /proc shows an emulated program the host's system call numbers.
case $(uname -m) in
x86_64) export SP_HOST_FUTEX_NR=202 ;;
esac
QRUN="$ABS_B/qemu-run -E LD_PRELOAD=$ABS_B/qemu_exec.so"

# One test measures reconnect back-off gaps to a few milliseconds from the
# loop's side; under qemu each code path is translated on its first run,
# which delays the first observation by tens of milliseconds and fails it
# now and then. It runs natively in the debug and ASan passes.
SKIP_mqtt='--filter=!(mqtt/unreachable_broker_backs_off)'

for t in "$B"/test/unit/test_*; do
    [ -x "$t" ] || continue
    skip=""
    [ "$(basename "$t")" = test_mqtt ] && skip=$SKIP_mqtt
    # shellcheck disable=SC2086
    run "$(basename "$t")" $QRUN "$t" --jobs=2 --short-filename $skip
done
for t in "$B"/test/stress/stress_*; do
    [ -x "$t" ] || continue
    # shellcheck disable=SC2086
    run "$(basename "$t")" $QRUN "$t"
done
export SP_DAEMON="$ABS_B/sensorpipe-qemu"
export SP_TOOLS="$PWD/build/debug"
run test_ingest build/debug/test/integration/test_ingest --jobs=2 \
    --short-filename

sp_tally_end "$ARCH" "; logs in $LOGS/"
