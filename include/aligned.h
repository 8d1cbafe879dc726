/*
 * aligned.h - memory allocated at start, before the message path runs:
 * zeroed arrays of structs that ask for more than malloc's alignment
 * (cache-line aligned workers and egress rings), and zero pages that
 * become resident only when first written (the series registry and the
 * id map, so resident memory follows the series actually seen and never
 * exceeds the plan).
 */
#ifndef SP_ALIGNED_H
#define SP_ALIGNED_H

#include <stddef.h>

/*
 * n zeroed elements of size bytes each, aligned to align (a power of two
 * that divides size, as sizeof and _Alignof of one struct give). Free with
 * free(). Returns: the array, or NULL when n is 0, n * size overflows, or
 * memory is short.
 * Thread: any.
 */
void *aligned_array_alloc(size_t n, size_t size, size_t align);

/*
 * bytes of zeroed memory, page aligned, reserved now and made resident a
 * page at a time as it is first written (an anonymous private mapping):
 * the address space is fixed at start, the resident part grows with use
 * up to bytes and never past it. Under AddressSanitizer it is an ordinary
 * zeroed heap block instead, so out-of-bounds accesses stay detected.
 * Free with lazy_zero_free() and the same bytes. Returns: the block, or
 * NULL when bytes is 0 or memory is short.
 * Thread: any.
 */
void *lazy_zero_alloc(size_t bytes);
void lazy_zero_free(void *p, size_t bytes);

#endif
