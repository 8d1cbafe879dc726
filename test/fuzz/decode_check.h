/*
 * decode_check.h - invariants every decoder harness checks (fuzz support).
 *
 * The JSON and line protocol harnesses feed decode_payload() the same way
 * and hold its result to the same bounds; what differs per format is how a
 * sample is named and tagged, which each harness checks itself through the
 * callback of decode_check_run(). A broken invariant aborts.
 *
 * Threads: one (libFuzzer's). Memory: decode_check_run() mallocs one
 * payload copy per input and frees it before returning.
 */
#ifndef SP_DECODE_CHECK_H
#define SP_DECODE_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decode.h"

/*
 * Returns: true when [p, p + n) lies within [base, base + size).
 * Thread: any.
 */
bool decode_check_inside(const char *p, size_t n, const char *base,
                         size_t size);

/*
 * Aborts unless st is a known verdict with a name, out stays within its
 * bounds, DECODE_EMPTY comes only for an empty payload of len bytes, and
 * DECODE_OK carries at least one sample.
 * Returns: true when st is DECODE_OK (the caller checks the samples next).
 * Thread: the harness's.
 */
bool decode_check_verdict(const struct decode_out *out, size_t len,
                          enum decode_status st);

/*
 * Copies data (size bytes) into a malloc'd NUL-terminated buffer of its
 * exact size, as the ring hands a payload over, decodes it with sub into
 * out and calls check(buf, size, verdict) before freeing the copy.
 * Returns: nothing (an input that cannot be copied is skipped).
 * Thread: the harness's.
 */
void decode_check_run(const struct config_sub *sub, const uint8_t *data,
                      size_t size, struct decode_out *out,
                      void (*check)(const char *buf, size_t len,
                                    enum decode_status st));

#endif
