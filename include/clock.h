/*
 * clock.h - the two clocks the daemon reads.
 *
 * clock_now_ms() is wall time (Unix ms): sample times, bucket starts,
 * created_ms. clock_mono_ms() never jumps: timeouts, rates, rate limits.
 * Tests may shift wall time with clock_set_offset_ms() (retention, skew).
 */
#ifndef SP_CLOCK_H
#define SP_CLOCK_H

#include <stdint.h>

/* Thread: any. Unix time in milliseconds, plus the test offset. */
int64_t clock_now_ms(void);

/* Thread: any. CLOCK_MONOTONIC in milliseconds. */
uint64_t clock_mono_ms(void);

/* Thread: any. CLOCK_MONOTONIC in nanoseconds. */
uint64_t clock_mono_ns(void);

/*
 * Thread: start-up. Shifts clock_now_ms() by offset_ms; the daemon reads
 * SENSORPIPE_CLOCK_OFFSET_MS from the environment for tests.
 */
void clock_set_offset_ms(int64_t offset_ms);

#endif
