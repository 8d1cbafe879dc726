/*
 * bench_decode.c - ns per decode_payload() call for typical small payloads.
 *
 * Build: gcc -O2 -Iinclude test/bench/bench_decode.c src/decode*.c
 *        src/clock.c -lm
 * Each case runs ROUNDS rounds of 50 ms after a warm-up, on one thread,
 * and prints its best round as "bench_decode: NAME: X ns/op".
 *
 * Threads: one. Memory: static struct decode_out, as a worker holds one.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "decode.h"

#define WARMUP_OPS 100000
#define ROUNDS     9
#define ROUND_NS   50000000ULL

/* One benchmark case. Owner: the static table below. */
struct bench_case {
    const char *name;
    enum config_format format;
    const char *ts_field;
    const char *payload;
};

static const struct bench_case cases[] = {
    {"json_flat_2", FORMAT_JSON, "", "{\"temp\":21.5,\"hum\":40}"},
    {"json_nested_ts", FORMAT_JSON, "ts",
     "{\"ts\":1700000000123,\"env\":{\"temp\":21.5,\"hum\":40},\"ok\":true}"},
    {"number", FORMAT_NUMBER, "", "21.5"},
    {"influx_3_fields", FORMAT_INFLUX, "",
     "weather,site=north temp=21.5,hum=40i,ok=t 1700000000000000000"},
};

static struct decode_out out;
static volatile double sink;

/* ns per call over one round of at least ROUND_NS. */
static double round_ns(const struct config_sub *sub, const char *payload,
                       size_t len)
{
    uint64_t ops = 0;
    uint64_t t0 = clock_mono_ns();
    uint64_t dt;

    do {
        for (int i = 0; i < 10000; i++) {
            (void) decode_payload(sub, payload, len, &out);
            sink = out.samples[0].value;
        }
        ops += 10000;
        dt = clock_mono_ns() - t0;
    } while (dt < ROUND_NS);
    return (double) dt / (double) ops;
}

static void run_case(const struct bench_case *bc)
{
    struct config_sub sub;
    size_t len = strlen(bc->payload);
    double best = INFINITY;

    memset(&sub, 0, sizeof sub);
    sub.format = bc->format;
    snprintf(sub.timestamp_field, sizeof sub.timestamp_field, "%s",
             bc->ts_field);
    if (decode_payload(&sub, bc->payload, len, &out) != DECODE_OK) {
        fprintf(stderr, "bench_decode: %s: does not decode\n", bc->name);
        exit(1);
    }
    for (int i = 0; i < WARMUP_OPS; i++)
        sink = (double) decode_payload(&sub, bc->payload, len, &out);
    /* The best round: other processes only ever add time. */
    for (int r = 0; r < ROUNDS; r++) {
        double ns = round_ns(&sub, bc->payload, len);

        if (ns < best)
            best = ns;
    }
    printf("bench_decode: %s: %.1f ns/op\n", bc->name, best);
}

int main(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i]);
    return 0;
}
