/*
 * malloc_count.c - an LD_PRELOAD shim that counts heap allocations per
 * daemon thread, libraries included (test builds only).
 *
 * --wrap (alloc_guard.c) sees only our own objects; this shim sees every
 * malloc/calloc/realloc in the process, also those inside libmosquitto,
 * libuv and SQLite, and files them by the calling thread's name: the main
 * thread (the loop), "sp-worker-N", "sp-writer", anything else. At exit it
 * writes "loop W worker X writer Y other Z" to $MALLOC_COUNT_FILE.
 *
 * Threads: any; counters are relaxed atomics. Memory: none of its own.
 * Not for sanitizer builds (their runtimes own malloc).
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t m);
void *__libc_realloc(void *p, size_t n);
void *malloc(size_t n);
void *calloc(size_t n, size_t m);
void *realloc(void *p, size_t n);

enum { OTHER, LOOP, WORKER, WRITER, KINDS };

static _Atomic uint64_t counts[KINDS];
static _Thread_local int kind = -1;

/* The thread's kind, from its name; cached once the daemon named it. */
static int thread_kind(void)
{
    char name[17] = {0};
    int k = OTHER;

    if (kind >= 0)
        return kind;
    if (prctl(PR_GET_NAME, name) == 0) {
        if (strncmp(name, "sp-worker-", 10) == 0)
            k = WORKER;
        else if (strcmp(name, "sp-writer") == 0)
            k = WRITER;
        else if (gettid() == getpid())
            k = LOOP;
    }
    if (k != OTHER)
        kind = k;
    return k;
}

static void count(void)
{
    atomic_fetch_add_explicit(&counts[thread_kind()], 1, memory_order_relaxed);
}

void *malloc(size_t n)
{
    count();
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
    count();
    return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
    count();
    return __libc_realloc(p, n);
}

__attribute__((destructor)) static void dump(void)
{
    const char *path = getenv("MALLOC_COUNT_FILE");
    FILE *f;

    if (path == NULL || (f = fopen(path, "w")) == NULL)
        return;
    fprintf(f, "loop %llu worker %llu writer %llu other %llu\n",
            (unsigned long long) counts[LOOP],
            (unsigned long long) counts[WORKER],
            (unsigned long long) counts[WRITER],
            (unsigned long long) counts[OTHER]);
    fclose(f);
}
