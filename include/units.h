/*
 * units.h - durations and sizes as text: parsing and printing (units.c).
 */
#ifndef SP_UNITS_H
#define SP_UNITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler.h"

#define UNITS_MS_S 1000ull
#define UNITS_MS_M (60 * UNITS_MS_S)
#define UNITS_MS_H (60 * UNITS_MS_M)
#define UNITS_MS_D (24 * UNITS_MS_H)
#define UNITS_MS_W (7 * UNITS_MS_D)
#define UNITS_MS_Y (365 * UNITS_MS_D)
#define UNITS_KIB  1024ull
#define UNITS_MIB  (1024 * UNITS_KIB)
#define UNITS_GIB  (1024 * UNITS_MIB)

enum units_kind {
    UNITS_DURATION, /* ms, s, m, h, d, w, y; values in milliseconds */
    UNITS_SIZE,     /* B, KiB/K, MiB/M, GiB/G, KB, MB, GB; values in bytes */
};

/*
 * Digits, optionally a fraction, then a unit of kind k, or no unit: then
 * the number is in units of bare (a multiplier of the result's unit).
 * Returns: 0 with *out set; -EINVAL when the text is not such a value, is
 * not a whole number of the result's unit, or does not fit in 64 bits.
 * Thread: any.
 */
SP_MUST_CHECK int units_parse(const char *s, enum units_kind k, uint64_t bare,
                              uint64_t *out);

/* "90s", "1m", "250ms", "7d", "2y" (365 d), or a bare number of seconds ->
 * milliseconds. Returns: 0 or -EINVAL (also on overflow). Thread: any. */
SP_MUST_CHECK int units_parse_duration_ms(const char *s, uint64_t *out_ms);

/* "512", "64KiB", "8MiB", "1GiB" (also KB/MB/GB as powers of 1000, and
 * K/M/G as powers of 1024) -> bytes. Returns: 0 or -EINVAL. Thread: any. */
SP_MUST_CHECK int units_parse_size(const char *s, uint64_t *out_bytes);

/* Writes v with the largest unit of kind k that divides it exactly ("0"
 * for 0) into buf (len bytes, always terminated). Thread: any. */
void units_format(uint64_t v, enum units_kind k, char *buf, size_t len);
void units_format_duration(uint64_t ms, char *buf, size_t len);
void units_format_size(uint64_t bytes, char *buf, size_t len);

#endif
