/*
 * aligned.c - zeroed arrays of over-aligned structs.
 *
 * Threads: any; no state. Memory: the caller's array only, freed with
 * free().
 */
#include "aligned.h"

#include <stdlib.h>
#include <string.h>

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
