/*
 * aligned.h - zeroed arrays of structs that ask for more than malloc's
 * alignment (cache-line aligned workers and egress rings), allocated at
 * start, before the message path runs.
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

#endif
