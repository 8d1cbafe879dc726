#!/bin/sh
# test-all.sh - `make test`: every pass, one page of output.
#
# Steps, in order: install what is missing, lint, the debug suite, the
# release daemon and its systemd unit, the fuzz corpus and a short fuzz run,
# the ASan/UBSan suite, the TSan pass, the aarch64 pass under qemu-user.
# Every tool's output goes to a log under $SP_LOGS (default build/logs);
# the terminal gets one line per step and per suite (a pass of test
# programs), each failing program with the tail of its log, and a closing
# summary. SP_QUIET= make test also lists every test program.
# Stops at the first failing step, as make would. MAKE names the make to
# run (the Makefile passes its own). FUZZ_SMOKE_SECONDS: the short fuzz run.
set -u
cd "$(dirname "$0")/.." || exit 2
. scripts/lib.sh
MAKE=${MAKE:-make}
SP_LOGS=${SP_LOGS:-build/logs}
# The passes print one closing line each (and every failure in full);
# SP_QUIET= make test prints a line per test program as well.
SP_QUIET=${SP_QUIET-1}
export SP_LOGS SP_QUIET
rm -rf "$SP_LOGS"
mkdir -p "$SP_LOGS"
start=$(date +%s)
steps=0

finish() {
    echo "make test: $1 after $(($(date +%s) - start)) s; logs in $SP_LOGS/"
    exit "$2"
}

# step NAME LOG CMD...: a build or check whose output only the log keeps.
step() {
    name=$1
    log=$SP_LOGS/$2.log
    shift 2
    t0=$(date +%s)
    if sp_logged "$log" "$@"; then
        printf '  %-31s ok %14ss\n' "$name" "$(($(date +%s) - t0))"
        steps=$((steps + 1))
        return 0
    fi
    printf '  %-31s FAILED\n' "$name"
    sp_tail "$log"
    finish "FAILED in step '$name'" 1
}

# pass NAME CMD...: a step that prints its own lines (one per program).
pass() {
    name=$1
    shift
    if "$@"; then
        steps=$((steps + 1))
        return 0
    fi
    finish "FAILED in step '$name'" 1
}

m() {
    $MAKE --no-print-directory "$@"
}

echo "make test: logs in $SP_LOGS/"
step "deps" deps scripts/deps.sh
step "lint" lint m lint
step "build debug" build-debug m VARIANT=debug units integ stress
pass "debug suite" scripts/run-tests.sh build/debug debug
step "build release" build-release m VARIANT=release build/release/sensorpipe
step "systemd unit" verify-unit scripts/verify-unit.sh "$PWD/build/release/sensorpipe"
step "debian package" deb scripts/test-deb.sh
step "grafana dashboard" grafana python3 test/grafana/test_dashboard.py "$PWD/build/release/sensorpipe"
pass "fuzz corpus" scripts/fuzz.sh 0
pass "fuzz run" scripts/fuzz.sh "${FUZZ_SMOKE_SECONDS:-5}"
step "build asan" build-asan m VARIANT=asan units integ stress
pass "asan suite" scripts/run-tests.sh build/asan asan
step "build tsan" build-tsan m VARIANT=tsan build/tsan/sensorpipe stress
pass "tsan suite" scripts/run-tests.sh build/tsan tsan
step "build aarch64" build-aarch64 m cross-build-tests ARCH=aarch64
pass "aarch64 suite" scripts/cross-tests.sh aarch64 build/aarch64
finish "every step passed" 0
