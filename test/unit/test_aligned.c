/*
 * test_aligned.c - zeroed arrays of over-aligned structs, lazy zero blocks.
 */
#include <stdint.h>
#include <stdlib.h>

#include <criterion/criterion.h>

#include "aligned.h"

/* A struct that asks for a cache line, as struct worker does. */
struct wide {
    _Alignas(64) unsigned char b[80];
};

Test(aligned, arrays_are_aligned_and_zeroed_whatever_their_length)
{
    for (size_t n = 1; n <= 16; n++) {
        struct wide *a =
            aligned_array_alloc(n, sizeof(struct wide), _Alignof(struct wide));

        cr_assert_not_null(a);
        cr_expect_eq((uintptr_t) a % _Alignof(struct wide), 0, "%zu at %p", n,
                     (void *) a);
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < sizeof(a[i].b); j++)
                cr_expect_eq(a[i].b[j], 0, "[%zu].b[%zu]", i, j);
        free(a);
    }
}

Test(aligned, no_elements_or_an_overflowing_size_is_refused)
{
    cr_expect_null(aligned_array_alloc(0, 64, 64));
    cr_expect_null(aligned_array_alloc(SIZE_MAX / 64 + 1, 128, 64));
    cr_expect_null(aligned_array_alloc(2, SIZE_MAX / 2 + 1, 64));
}

/* Lazily resident blocks: zeroed, aligned for a cache-line struct,
 * writable end to end, and a zero size is refused. */
Test(aligned, lazy_blocks_are_zeroed_aligned_and_writable)
{
    size_t sizes[] = {1, 63, 4096, 3 * 4096 + 5, 1 << 20};

    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        unsigned char *p = lazy_zero_alloc(sizes[k]);

        cr_assert_not_null(p, "%zu bytes", sizes[k]);
        cr_expect_eq((uintptr_t) p % 64, 0, "%zu bytes at %p", sizes[k],
                     (void *) p);
        for (size_t i = 0; i < sizes[k]; i += 97)
            cr_expect_eq(p[i], 0, "%zu bytes: [%zu]", sizes[k], i);
        cr_expect_eq(p[sizes[k] - 1], 0);
        p[0] = 1;
        p[sizes[k] - 1] = 2;
        cr_expect_eq(p[sizes[k] - 1], 2);
        cr_expect_eq(p[0], sizes[k] == 1 ? 2 : 1);
        lazy_zero_free(p, sizes[k]);
    }
    cr_expect_null(lazy_zero_alloc(0));
    lazy_zero_free(NULL, 0);
}
