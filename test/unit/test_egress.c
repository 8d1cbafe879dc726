/*
 * test_egress.c - the worker -> writer ring's wake-ups on their own: this
 * process plays both sides.
 */
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

#include "egress.h"

static struct egress eg;
static struct event writer_ev;

static void open_egress(void)
{
    memset(&eg, 0, sizeof(eg));
    event_init(&writer_ev);
    cr_assert_eq(egress_init(&eg, 1u << 20, &writer_ev), 0);
}

static void commit_one(void)
{
    uint64_t *p = egress_reserve(&eg, sizeof(*p), 0);

    cr_assert_not_null(p);
    *p = 42;
    egress_commit(&eg);
}

Test(egress, a_sleeping_writer_is_woken_once_per_batch_not_per_record)
{
    uint32_t seq;

    open_egress();
    seq = event_prepare(&writer_ev); /* the writer sleeps */
    commit_one();
    commit_one();
    commit_one();
    cr_expect_eq(atomic_load(&writer_ev.seq), seq, "no wake per record");
    cr_expect(!ring_is_empty(&eg.ring), "the records are published");
    egress_signal(&eg);
    cr_expect_neq(atomic_load(&writer_ev.seq), seq, "one wake for the batch");
    seq = atomic_load(&writer_ev.seq);
    egress_signal(&eg);
    cr_expect_eq(atomic_load(&writer_ev.seq), seq, "nothing new: no wake");
    event_cancel(&writer_ev);
    egress_fini(&eg);
}

Test(egress, finishing_wakes_the_writer)
{
    uint32_t seq;

    open_egress();
    seq = event_prepare(&writer_ev);
    commit_one();
    egress_finish(&eg);
    cr_expect_neq(atomic_load(&writer_ev.seq), seq);
    cr_expect(egress_is_done(&eg));
    event_cancel(&writer_ev);
    egress_fini(&eg);
}
