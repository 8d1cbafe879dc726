#!/bin/sh
# fuzz.sh SECONDS - build every test/fuzz/fuzz_*.c with libFuzzer and run it.
#
# Each harness is built with clang -fsanitize=fuzzer,address,undefined into
# build/fuzz/, linking only the sources it needs (listed below, so a file
# another module is still writing cannot break an unrelated harness). Each
# runs for SECONDS on a temporary copy of test/fuzz/corpus/<name>/ (<name>
# is the part after fuzz_); new inputs it finds are not kept. SECONDS=0 is
# regression mode: every corpus input runs once (-runs=0).
# A crash, leak, sanitizer report or build failure fails that harness; the
# input that failed is saved as build/fuzz/<name>-crash-* (or -leak-*, ...).
# The compiler's and libFuzzer's output goes to build/fuzz/<harness>.log;
# the terminal gets one line per harness (with the runs libFuzzer made),
# the tail of the log of a harness that failed, and one summary line,
# "fuzz: N passed, M failed"; exits 1 on any failure.
set -u

usage() {
    echo "usage: scripts/fuzz.sh SECONDS" >&2
    exit 2
}

[ $# -eq 1 ] || usage
case $1 in
'' | *[!0-9]*) usage ;;
esac
SECS=$1

cd "$(dirname "$0")/.." || exit 2
. scripts/lib.sh
OUT=build/fuzz
mkdir -p "$OUT" || exit 1

CC=${FUZZ_CC:-clang}
CFLAGS="-std=c11 -D_GNU_SOURCE -Iinclude -g -O1 -fno-omit-frame-pointer
-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all"

# Sources and pkg-config packages per harness. A harness not listed here
# links every module but main.c and every package. test/fuzz/decode_check.c
# holds the checks the JSON and line protocol harnesses share (its name
# keeps it out of the fuzz_*.c harness list).
DECODE_SRCS="src/decode.c src/decode_json.c src/decode_lp.c src/scan.c src/tags.c"
sources_for() {
    case $1 in
    json | lp) echo "$DECODE_SRCS test/fuzz/decode_check.c" ;;
    number) echo "$DECODE_SRCS" ;;
    config) echo "src/config.c src/config_keys.c src/config_value.c src/units.c src/log.c src/clock.c" ;;
    *)
        for f in src/*.c; do
            [ "$f" = src/main.c ] || echo "$f"
        done
        ;;
    esac
}
packages_for() {
    case $1 in
    json | lp | number) echo "" ;;
    config) echo "libmosquitto libsystemd" ;;
    *) echo "libuv libmosquitto sqlite3 libsystemd libxxhash" ;;
    esac
}

tmp_root=$(mktemp -d "${TMPDIR:-/tmp}/sp-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$tmp_root"' EXIT INT TERM

run_one() {
    src=$1
    name=$(basename "$src" .c)
    short=${name#fuzz_}
    bin=$OUT/$name
    pkgs=$(packages_for "$short")
    pkg_cflags=""
    pkg_libs=""
    if [ -n "$pkgs" ]; then
        # shellcheck disable=SC2086
        pkg_cflags=$(pkg-config --cflags $pkgs) || return 1
        # shellcheck disable=SC2086
        pkg_libs=$(pkg-config --libs $pkgs) || return 1
    fi
    # shellcheck disable=SC2046,SC2086
    if ! $CC $CFLAGS $pkg_cflags "$src" $(sources_for "$short") \
        -o "$bin" $pkg_libs -lm -pthread; then
        echo "fuzz: $name: build failed"
        return 1
    fi
    corpus=$tmp_root/$short
    mkdir -p "$corpus"
    if [ -d "test/fuzz/corpus/$short" ]; then
        cp -R "test/fuzz/corpus/$short/." "$corpus/"
    fi
    if [ "$SECS" -eq 0 ]; then
        set -- -runs=0
    else
        set -- -max_total_time="$SECS" -max_len=20000 -timeout=10 \
            -rss_limit_mb=2048 -print_final_stats=1
    fi
    "$bin" "$@" -artifact_prefix="$OUT/$short-" "$corpus"
}

# "N runs" from libFuzzer's last "Done N runs" line or its final stats.
runs_in() {
    sed -n -e 's/^Done \([0-9]*\) runs.*/\1 runs/p' \
        -e 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1 runs/p' \
        "$1" | tail -n 1
}

mode="for ${SECS}s"
[ "$SECS" -eq 0 ] && mode="corpus"
for src in test/fuzz/fuzz_*.c; do
    [ -e "$src" ] || continue
    name=$(basename "$src" .c)
    log=$OUT/$name.log
    sp_tally "$name" "$log" run_one "$src"
    if [ "$SECS" -eq 0 ]; then
        what="$(find "test/fuzz/corpus/${name#fuzz_}" -type f 2>/dev/null |
            wc -l) inputs"
    else
        what=$(runs_in "$log")
    fi
    if [ -z "${SP_QUIET:-}" ] || [ "$sp_verdict" != ok ]; then
        printf '  [fuzz %s] %-14s %-6s %s\n' "$mode" "$name" "$sp_verdict" \
            "$what"
    fi
    [ "$sp_verdict" = ok ] || sp_tail "$log"
done

sp_tally_end "fuzz ($mode)"
