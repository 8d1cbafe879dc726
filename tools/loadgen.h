/*
 * loadgen.h - the synthetic readings sensorpipe-load and sensorpipe-bench
 * send: the same payloads, byte for byte, so the pipeline benchmark and
 * the end-to-end benchmark measure the same messages.
 */
#ifndef SP_LOADGEN_H
#define SP_LOADGEN_H

#include <stdint.h>

#include "config.h"

/* The longest payload loadgen_payload() writes, with its NUL. */
#define LOADGEN_PAYLOAD_MAX 128

/* Thread: any. Appends v in decimal; returns the end. */
char *loadgen_put_u64(char *p, uint64_t v);

/* Thread: any. Appends s without its NUL; returns the end. */
char *loadgen_put_str(char *p, const char *s);

/*
 * Writes message k of series i in format f at p and returns the end (no
 * NUL): json {"ts":MS,"temp":V,"seq":K} (without "ts" when ts_ns is 0),
 * number V, influx "m,dev=I temp=V,seq=Ki[ NS]". V runs over tenths from
 * 0.0 to 99.9. Thread: any.
 */
char *loadgen_payload(enum config_format f, uint64_t k, unsigned i,
                      uint64_t ts_ns, char *p);

/*
 * A whole decimal number in [lo, hi]. Returns: 0, or -EINVAL (not a number,
 * negative, out of range). Thread: any.
 */
int loadgen_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);

/* "json", "number" or "influx". Returns: 0 or -EINVAL. Thread: any. */
int loadgen_parse_format(const char *s, enum config_format *f);

#endif
