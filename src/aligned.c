/*
 * aligned.c - zeroed arrays of over-aligned structs, and lazily resident
 * zero pages (see aligned.h).
 *
 * Threads: any; no state. Memory: the caller's blocks only.
 */
#include "aligned.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__SANITIZE_ADDRESS__)
#define LAZY_ON_HEAP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LAZY_ON_HEAP 1
#endif
#endif

void *aligned_array_alloc(size_t n, size_t size, size_t align)
{
    /* size is a multiple of align, so bytes is too, as aligned_alloc()
     * wants. */
    size_t bytes = n * size;
    void *p;

    if (n == 0 || bytes / n != size)
        return NULL;
    p = aligned_alloc(align, bytes);
    if (p != NULL)
        memset(p, 0, bytes);
    return p;
}

#ifdef LAZY_ON_HEAP
void *lazy_zero_alloc(size_t bytes)
{
    /* 64: the strictest alignment a registry struct asks for. */
    size_t rounded = (bytes + 63) & ~(size_t) 63;
    void *p;

    if (bytes == 0 || rounded < bytes)
        return NULL;
    p = aligned_alloc(64, rounded);
    if (p != NULL)
        memset(p, 0, rounded);
    return p;
}

void lazy_zero_free(void *p, size_t bytes)
{
    (void) bytes;
    free(p);
}
#else
void *lazy_zero_alloc(size_t bytes)
{
    void *p;

    if (bytes == 0)
        return NULL;
    p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
             -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void lazy_zero_free(void *p, size_t bytes)
{
    if (p != NULL)
        (void) munmap(p, bytes);
}
#endif
