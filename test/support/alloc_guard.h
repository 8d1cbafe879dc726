/*
 * alloc_guard.h - counts allocations our own objects make (test builds only).
 *
 * Test binaries link with -Wl,--wrap=malloc,calloc,realloc,free, so every
 * call from our objects (src, test code) goes through here (calls inside libuv,
 * libmosquitto or SQLite's shared libraries do not: doc/ARCHITECTURE.md,
 * "Test tools"). A test arms
 * the guard once start-up is over and asserts the count stays zero.
 */
#ifndef SP_ALLOC_GUARD_H
#define SP_ALLOC_GUARD_H

#include <stdint.h>

/* Thread: any. Starts counting (from zero). */
void alloc_guard_arm(void);
/* Thread: any. Starts counting (from zero) only calls made by threads that
 * set a role (thread.h): the daemon's loop, workers and writer. */
void alloc_guard_arm_daemon(void);
/* Thread: any. Stops counting; returns how many calls were made while armed. */
uint64_t alloc_guard_disarm(void);
/* Thread: any. Calls made while armed so far. */
uint64_t alloc_guard_count(void);
/* Thread: any. Lets n more allocations succeed, then makes every later one
 * return NULL (error-path tests); n <= 0 turns failures off. */
void alloc_guard_fail_after(int64_t n);

#endif
