/*
 * alloc_guard.c - --wrap targets for malloc/calloc/realloc/free.
 *
 * Threads: any; the counters are relaxed atomics (only totals matter).
 * Memory: none of its own.
 */
#include "alloc_guard.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "thread.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);

static _Atomic bool armed;
static _Atomic bool daemon_only;
static _Atomic uint64_t count;
static _Atomic int64_t fail_after = -1;

void alloc_guard_arm(void)
{
    atomic_store(&count, 0);
    atomic_store(&daemon_only, false);
    atomic_store(&armed, true);
}

void alloc_guard_arm_daemon(void)
{
    atomic_store(&count, 0);
    atomic_store(&daemon_only, true);
    atomic_store(&armed, true);
}

uint64_t alloc_guard_disarm(void)
{
    atomic_store(&armed, false);
    return atomic_load(&count);
}

uint64_t alloc_guard_count(void)
{
    return atomic_load(&count);
}

void alloc_guard_fail_after(int64_t n)
{
    atomic_store(&fail_after, n > 0 ? n : -1);
}

/* Counts the call; returns false when an injected failure is due. */
static bool note_call(void)
{
    int64_t left;

    if (atomic_load_explicit(&armed, memory_order_relaxed) &&
        (!atomic_load_explicit(&daemon_only, memory_order_relaxed) ||
         thread_role() != THREAD_ANY))
        atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
    left = atomic_load_explicit(&fail_after, memory_order_relaxed);
    if (left < 0)
        return true;
    if (left == 0)
        return false;
    atomic_fetch_sub_explicit(&fail_after, 1, memory_order_relaxed);
    return true;
}

void *__wrap_malloc(size_t n)
{
    return note_call() ? __real_malloc(n) : NULL;
}

void *__wrap_calloc(size_t n, size_t m)
{
    return note_call() ? __real_calloc(n, m) : NULL;
}

void *__wrap_realloc(void *p, size_t n)
{
    return note_call() ? __real_realloc(p, n) : NULL;
}

void __wrap_free(void *p)
{
    __real_free(p);
}
