/*
 * test_event.c - unit tests for event.c.
 *
 * Times are measured on the monotonic clock. Tests that expect a wake-up
 * wait with a long timeout (10 s) and assert they returned well before it
 * (under 5 s), so a lost wake-up fails the test instead of passing slowly.
 * A test that must reach the futex first checks /proc/self/task/TID/syscall
 * to see the sleeper blocked in futex(2) before it signals.
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "clock.h"
#include "event.h"

#define LONG_TIMEOUT_MS 10000u
#define WOKEN_WITHIN_MS 5000u

static uint64_t since_ms(uint64_t t0_ns)
{
    return (clock_mono_ns() - t0_ns) / 1000000u;
}

/* Under qemu-user, /proc shows the host's system call numbers: the cross
 * test run names the host's futex(2) number in SP_HOST_FUTEX_NR. */
static long host_futex_nr(void)
{
    const char *nr = getenv("SP_HOST_FUTEX_NR");

    return nr != NULL ? strtol(nr, NULL, 10) : SYS_futex;
}

/* True once thread tid is blocked in futex(2); false after 5 s. */
static bool await_blocked_in_futex(pid_t tid)
{
    char path[64];
    uint64_t t0 = clock_mono_ns();
    long futex_nr = host_futex_nr();

    snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int) tid);
    while (since_ms(t0) < 5000) {
        FILE *f = fopen(path, "r");
        long nr = -1;

        if (f == NULL)
            return false;
        if (fscanf(f, "%ld", &nr) != 1)
            nr = -1;
        fclose(f);
        if (nr == futex_nr)
            return true;
        sched_yield();
    }
    return false;
}

/* Owner: one test; the sleeper thread writes the results, then exits. */
struct sleeper {
    struct event *ev;
    uint32_t timeout_ms;
    _Atomic pid_t tid;       /* set before the sleeper prepares */
    _Atomic bool prepared;   /* set after event_prepare() */
    uint64_t slept_ms;       /* read after join */
    uint32_t seq_at_prepare; /* read after join */
};

static void *sleeper_main(void *arg)
{
    struct sleeper *s = arg;
    uint64_t t0;

    atomic_store(&s->tid, gettid());
    s->seq_at_prepare = event_prepare(s->ev);
    atomic_store(&s->prepared, true);
    t0 = clock_mono_ns();
    event_wait(s->ev, s->seq_at_prepare, s->timeout_ms);
    s->slept_ms = since_ms(t0);
    event_cancel(s->ev);
    return NULL;
}

Test(event, signal_without_waiter_changes_nothing, .timeout = 10)
{
    struct event ev;
    uint32_t seq;
    uint64_t t0;

    event_init(&ev);
    for (int i = 0; i < 3; i++)
        event_signal(&ev);
    cr_assert_eq(atomic_load(&ev.seq), 0, "no sleeper, so no bump");
    cr_assert_eq(atomic_load(&ev.waiters), 0);

    /* The earlier signals must not cut a later wait short. */
    seq = event_prepare(&ev);
    t0 = clock_mono_ns();
    event_wait(&ev, seq, 50);
    cr_assert_geq(since_ms(t0), 50, "wait returned early after %llu ms",
                  (unsigned long long) since_ms(t0));
    event_cancel(&ev);
}

Test(event, signal_between_prepare_and_wait_returns_at_once, .timeout = 20)
{
    struct event ev;
    uint32_t seq;
    uint64_t t0;

    event_init(&ev);
    seq = event_prepare(&ev);
    cr_assert_eq(atomic_load(&ev.waiters), 1);
    event_signal(&ev);
    cr_assert_neq(atomic_load(&ev.seq), seq, "a sleeper was announced");
    t0 = clock_mono_ns();
    event_wait(&ev, seq, LONG_TIMEOUT_MS);
    cr_assert_lt(since_ms(t0), WOKEN_WITHIN_MS);
    event_cancel(&ev);
    cr_assert_eq(atomic_load(&ev.waiters), 0);
}

Test(event, blocked_waiter_is_woken_by_signal, .timeout = 20)
{
    struct event ev;
    struct sleeper s = {.ev = &ev, .timeout_ms = LONG_TIMEOUT_MS};
    pthread_t t;

    event_init(&ev);
    cr_assert_eq(pthread_create(&t, NULL, sleeper_main, &s), 0);
    while (!atomic_load(&s.prepared))
        sched_yield();
    cr_assert(await_blocked_in_futex(atomic_load(&s.tid)),
              "the sleeper never blocked in futex(2)");
    event_signal(&ev);
    cr_assert_eq(pthread_join(t, NULL), 0);
    cr_assert_lt(s.slept_ms, WOKEN_WITHIN_MS, "slept %llu ms",
                 (unsigned long long) s.slept_ms);
    cr_assert_neq(atomic_load(&ev.seq), s.seq_at_prepare);
    cr_assert_eq(atomic_load(&ev.waiters), 0);
}

Test(event, timed_wait_without_signal_returns_after_timeout, .timeout = 10)
{
    struct event ev;
    struct sleeper s = {.ev = &ev, .timeout_ms = 50};
    pthread_t t;

    event_init(&ev);
    cr_assert_eq(pthread_create(&t, NULL, sleeper_main, &s), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
    cr_assert_geq(s.slept_ms, 50, "slept only %llu ms",
                  (unsigned long long) s.slept_ms);
    cr_assert_lt(s.slept_ms, WOKEN_WITHIN_MS);
}

static void on_sigusr1(int signo)
{
    (void) signo;
}

Test(event, interrupted_wait_still_lasts_its_timeout, .timeout = 10)
{
    struct event ev;
    struct sleeper s = {.ev = &ev, .timeout_ms = 300};
    struct sigaction sa = {.sa_handler = on_sigusr1};
    pthread_t t;

    /* No SA_RESTART: futex(2) returns EINTR to the sleeper. */
    cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
    event_init(&ev);
    cr_assert_eq(pthread_create(&t, NULL, sleeper_main, &s), 0);
    while (!atomic_load(&s.prepared))
        sched_yield();
    cr_assert(await_blocked_in_futex(atomic_load(&s.tid)));
    cr_assert_eq(pthread_kill(t, SIGUSR1), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
    cr_assert_geq(s.slept_ms, 300, "an interrupted wait ended after %llu ms",
                  (unsigned long long) s.slept_ms);
    cr_assert_eq(atomic_load(&ev.seq), s.seq_at_prepare);
}

Test(event, zero_timeout_returns_at_once, .timeout = 10)
{
    struct event ev;
    uint32_t seq;
    uint64_t t0;

    event_init(&ev);
    seq = event_prepare(&ev);
    t0 = clock_mono_ns();
    event_wait(&ev, seq, 0);
    /* Far below any timeout, yet loose enough for a loaded machine. */
    cr_assert_lt(since_ms(t0), 1000);
    event_cancel(&ev);
}

Test(event, cancel_stops_later_signals_from_bumping)
{
    struct event ev;

    event_init(&ev);
    (void) event_prepare(&ev);
    event_cancel(&ev);
    cr_assert_eq(atomic_load(&ev.waiters), 0);
    event_signal(&ev);
    cr_assert_eq(atomic_load(&ev.seq), 0);
}

/* Owner: the ping-pong test; both threads touch ball and the events. */
struct court {
    _Atomic uint64_t ball; /* odd: the partner's turn; even: main's turn */
    struct event to_partner;
    struct event to_main;
    uint64_t rounds;
    _Atomic uint64_t slowest_ms; /* longest single wait, either side */
};

/* Sleeps on ev until *v == want, the way ring users do. */
static void await_value(struct court *c, struct event *ev, uint64_t want)
{
    while (atomic_load_explicit(&c->ball, memory_order_acquire) != want) {
        uint32_t seq = event_prepare(ev);
        uint64_t t0 = clock_mono_ns();

        if (atomic_load_explicit(&c->ball, memory_order_acquire) != want)
            event_wait(ev, seq, LONG_TIMEOUT_MS);
        event_cancel(ev);
        uint64_t ms = since_ms(t0);
        uint64_t old = atomic_load(&c->slowest_ms);
        while (ms > old &&
               !atomic_compare_exchange_weak(&c->slowest_ms, &old, ms))
            ;
    }
}

static void *partner_main(void *arg)
{
    struct court *c = arg;

    for (uint64_t i = 0; i < c->rounds; i++) {
        await_value(c, &c->to_partner, 2 * i + 1);
        atomic_store_explicit(&c->ball, 2 * i + 2, memory_order_release);
        event_signal(&c->to_main);
    }
    return NULL;
}

Test(event, ping_pong_loses_no_wakeup, .timeout = 60)
{
    static struct court c;
    pthread_t t;
    uint64_t t0;

    atomic_init(&c.ball, 0);
    atomic_init(&c.slowest_ms, 0);
    event_init(&c.to_partner);
    event_init(&c.to_main);
    c.rounds = 20000;
    t0 = clock_mono_ns();
    cr_assert_eq(pthread_create(&t, NULL, partner_main, &c), 0);
    for (uint64_t i = 0; i < c.rounds; i++) {
        atomic_store_explicit(&c.ball, 2 * i + 1, memory_order_release);
        event_signal(&c.to_partner);
        await_value(&c, &c.to_main, 2 * i + 2);
    }
    cr_assert_eq(pthread_join(t, NULL), 0);
    cr_assert_lt(atomic_load(&c.slowest_ms), WOKEN_WITHIN_MS,
                 "a wait took %llu ms: a wake-up was lost",
                 (unsigned long long) atomic_load(&c.slowest_ms));
    cr_assert_eq(atomic_load(&c.ball), 2 * c.rounds);
    cr_assert_eq(atomic_load(&c.to_main.waiters), 0);
    cr_assert_eq(atomic_load(&c.to_partner.waiters), 0);
    cr_log_info("%llu rounds in %llu ms", (unsigned long long) c.rounds,
                (unsigned long long) since_ms(t0));
}
