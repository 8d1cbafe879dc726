/*
 * test_idmap.c - the writer's id map: get, put, replace, delete with
 * backward shift, the capacity bound, and no allocation after init.
 */
#include <errno.h>

#include <criterion/criterion.h>

#include "alloc_guard.h"
#include "idmap.h"

Test(idmap, unmapped_ids_map_to_themselves)
{
    struct idmap m;

    cr_assert_eq(idmap_init(&m, 8), 0);
    cr_expect_eq(idmap_get(&m, 5), 5);
    cr_assert_eq(idmap_put(&m, 5, 2), 0);
    cr_expect_eq(idmap_get(&m, 5), 2);
    cr_expect_eq(idmap_get(&m, 6), 6);
    cr_assert_eq(idmap_put(&m, 5, 3), 0);
    cr_expect_eq(idmap_get(&m, 5), 3, "replaced");
    cr_expect_eq(m.n, 1);
    idmap_del(&m, 5);
    cr_expect_eq(idmap_get(&m, 5), 5);
    idmap_del(&m, 5); /* twice: a no-op */
    cr_expect_eq(m.n, 0);
    idmap_fini(&m);
}

/* Many keys in and out: every remaining key stays findable (the runs the
 * deletions shift back), the bound holds, nothing is allocated. */
Test(idmap, deletes_keep_every_other_key_findable)
{
    struct idmap m;

    cr_assert_eq(idmap_init(&m, 1000), 0);
    alloc_guard_arm();
    for (int round = 0; round < 20; round++) {
        for (int64_t k = 1; k <= 1000; k++)
            cr_assert_eq(idmap_put(&m, k + round * 1000, -k), 0);
        cr_assert_eq(idmap_put(&m, 999999, 1), -ENOSPC, "full");
        for (int64_t k = 1; k <= 1000; k += 2)
            idmap_del(&m, k + round * 1000);
        for (int64_t k = 1; k <= 1000; k++)
            cr_assert_eq(idmap_get(&m, k + round * 1000),
                         k % 2 ? k + round * 1000 : -k);
        for (int64_t k = 2; k <= 1000; k += 2)
            idmap_del(&m, k + round * 1000);
        cr_assert_eq(m.n, 0);
    }
    cr_expect_eq(alloc_guard_disarm(), 0);
    idmap_fini(&m);
}
