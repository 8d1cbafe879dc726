/*
 * test_subrec.c - the record of the broker's subscriptions: what SUBACKs,
 * UNSUBACKs and a new session do to the set, and how the newest set
 * reaches the store through the ring.
 *
 * Threads: each test runs in its own process with its own temporary
 * directory; the test plays both the loop and the writer (THREAD_ANY).
 * Memory: plain test allocations.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "config.h"
#include "store.h"
#include "subrec.h"
#include "tmpdir.h"

static char g_dir[64];
static struct config g_cfg;
static struct store g_st;
static struct subrec g_rec;

static void setup(void)
{
    cr_assert_eq(tmpdir_make(g_dir, sizeof(g_dir), "sp-subrec"), 0);
    config_defaults(&g_cfg);
    (void) snprintf(g_cfg.store.path, sizeof(g_cfg.store.path), "%s/s.db",
                    g_dir);
    cr_assert_eq(store_open(&g_st, &g_cfg), 0);
    cr_assert_eq(subrec_init(&g_rec, "client-1"), 0);
}

static void teardown(void)
{
    subrec_fini(&g_rec);
    store_close(&g_st);
    (void) tmpdir_remove(g_dir);
}

TestSuite(subrec, .init = setup, .fini = teardown);

static int64_t rows(const char *where)
{
    char sql[256];
    sqlite3_stmt *s = NULL;
    int64_t v = -1;

    (void) snprintf(sql, sizeof(sql),
                    "SELECT count(*) FROM subscriptions WHERE %s", where);
    cr_assert_eq(sqlite3_prepare_v2(g_st.db, sql, -1, &s, NULL), SQLITE_OK);
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

static void acked(int mid, const char *filter, const char *name, int qos)
{
    subrec_subscribing(&g_rec, mid, filter, name, qos);
    subrec_suback(&g_rec, mid, qos);
}

static void publish_and_store(void)
{
    cr_assert_eq(subrec_publish(&g_rec), 0);
    cr_assert_eq(subrec_store(&g_rec, &g_st), 0);
}

Test(subrec, subacks_are_recorded_refusals_are_not)
{
    cr_assert_not(subrec_is_known(&g_rec), "a new store has no record");
    subrec_session(&g_rec, false);
    acked(1, "a/#", "a", 1);
    subrec_subscribing(&g_rec, 2, "b/#", "b", 2);
    subrec_suback(&g_rec, 2, 0x87); /* not authorised */
    subrec_subscribing(&g_rec, 3, "c/#", "c", 2);
    subrec_suback(&g_rec, 3, 1);  /* granted lower */
    subrec_suback(&g_rec, 99, 0); /* an unknown mid changes nothing */
    cr_assert_eq(subrec_count(&g_rec), 2);
    publish_and_store();
    cr_assert_eq(rows("client_id = 'client-1'"), 2);
    cr_assert_eq(rows("filter = 'c/#' AND qos = 1 AND name = 'c'"), 1);
    cr_assert_eq(rows("filter = 'b/#'"), 0);
}

Test(subrec, unsuback_forgets_only_its_filter)
{
    subrec_session(&g_rec, false);
    acked(1, "a/#", "a", 1);
    acked(2, "b/#", "b", 1);
    subrec_unsubscribing(&g_rec, 3, "b/#");
    cr_assert_eq(subrec_count(&g_rec), 2, "not gone before the UNSUBACK");
    subrec_unsuback(&g_rec, 3);
    publish_and_store();
    cr_assert_eq(rows("1"), 1);
    cr_assert_eq(rows("filter = 'a/#'"), 1);
}

Test(subrec, a_new_session_empties_the_set_a_resumed_one_keeps_it)
{
    subrec_session(&g_rec, false);
    acked(1, "a/#", "a", 1);
    subrec_session(&g_rec, true);
    cr_assert_eq(subrec_count(&g_rec), 1);
    subrec_session(&g_rec, false);
    cr_assert_eq(subrec_count(&g_rec), 0);
    cr_assert(subrec_is_dirty(&g_rec));
}

Test(subrec, the_record_survives_a_restart_per_client_id)
{
    struct subrec other;

    subrec_session(&g_rec, false);
    acked(1, "a/#", "a", 1);
    acked(2, "$share/g/b/#", "b", 0);
    publish_and_store();

    cr_assert_eq(subrec_init(&other, "client-1"), 0);
    cr_assert_eq(subrec_load(&other, &g_st), 0);
    cr_assert(subrec_is_known(&other));
    cr_assert_eq(subrec_count(&other), 2);
    cr_assert_str_eq(subrec_entry(&other, 0)->filter, "$share/g/b/#");
    cr_assert_eq(subrec_entry(&other, 0)->qos, 0);
    subrec_fini(&other);

    cr_assert_eq(subrec_init(&other, "client-2"), 0);
    cr_assert_eq(subrec_load(&other, &g_st), 0);
    cr_assert_not(subrec_is_known(&other), "another client id's session");
    subrec_fini(&other);
}

/* The writer stalls: records pile up, then the ring is full; the set stays
 * dirty, and the newest set is what reaches the store. */
Test(subrec, a_full_ring_keeps_the_newest_set_for_later)
{
    char filter[32];
    int rc = 0;
    int i;

    subrec_session(&g_rec, false);
    for (i = 1; i <= 64 && rc == 0; i++) {
        (void) snprintf(filter, sizeof(filter), "t/%d", i);
        acked(i, filter, "t", 1);
        rc = subrec_publish(&g_rec);
    }
    cr_assert_eq(rc, -ENOSPC, "the ring never filled");
    cr_assert(subrec_is_dirty(&g_rec));
    cr_assert_eq(subrec_store(&g_rec, &g_st), 0);
    publish_and_store();
    cr_assert_eq(rows("1"), i - 1);
    cr_assert_eq(rows("1"), subrec_count(&g_rec));
}
