/*
 * test_thread.c - thread roles and names.
 */
#include <assert.h>
#include <pthread.h>
#include <string.h>

#include <criterion/criterion.h>

#include "thread.h"

static enum thread_role seen;
static char name[16];

static void *body(void *arg)
{
    (void) arg;
    thread_set_role(THREAD_WORKER, "sp-worker-long-name");
    seen = thread_role();
    pthread_getname_np(pthread_self(), name, sizeof(name));
    return NULL;
}

Test(thread, roles_are_per_thread_and_names_are_cut_to_fit)
{
    pthread_t t;

    cr_expect_eq(thread_role(), THREAD_ANY);
    cr_assert_eq(thread_start(&t, body, NULL), 0);
    pthread_join(t, NULL);
    cr_expect_eq(seen, THREAD_WORKER);
    cr_expect_str_eq(name, "sp-worker-long-");
    cr_expect_eq(thread_role(), THREAD_ANY, "the caller's role is untouched");
}
