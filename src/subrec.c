/*
 * subrec.c - the record of the broker's subscriptions for this client id:
 * kept by the loop thread, written to the store by the writer thread.
 *
 * Threads: every function runs on the loop thread except subrec_init(),
 * subrec_load() and subrec_fini() (start-up and shut-down) and
 * subrec_store() (writer). The loop hands the set over as a whole: one
 * ring record per change holds every entry, and the writer keeps only the
 * newest it finds, so records are never merged and a record that does not
 * fit now is simply sent later (the set stays dirty).
 *
 * Invariants:
 *   - set[0..n) holds distinct filters; sent[0..n_sent) distinct mids.
 *   - A set entry's mid is 0 or the id of an UNSUBSCRIBE of its filter sent
 *     on the current connection.
 *   - Only the loop pushes to ring; only the writer reads and releases it.
 *
 * Memory: subrec_init() allocates the ring (128 KiB: four whole sets);
 * nothing afterwards.
 */
#include "subrec.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "thread.h"

#define SUBREC_RING_BYTES ((size_t) 128 * 1024)

/* A ring record: the whole set. */
struct subrec_snap {
    uint32_t n;
    uint32_t reserved;
    struct subrec_entry e[];
};

_Static_assert(sizeof(struct subrec_snap) +
                       (size_t) SUBREC_MAX * sizeof(struct subrec_entry) <=
                   SUBREC_RING_BYTES / 4,
               "a whole set fits one ring record");

int subrec_init(struct subrec *r, const char *client_id)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->client_id, sizeof(r->client_id), "%s", client_id);
    return ring_init(&r->ring, SUBREC_RING_BYTES);
}

void subrec_fini(struct subrec *r)
{
    ring_fini(&r->ring);
}

static void entry_set(struct subrec_entry *e, const char *filter,
                      const char *name, int qos)
{
    memset(e, 0, sizeof(*e));
    snprintf(e->filter, sizeof(e->filter), "%s", filter);
    snprintf(e->name, sizeof(e->name), "%s", name);
    e->qos = qos;
}

static int find(const struct subrec_entry *v, unsigned n, const char *filter)
{
    for (unsigned i = 0; i < n; i++)
        if (strcmp(v[i].filter, filter) == 0)
            return (int) i;
    return -1;
}

static void drop(struct subrec_entry *v, unsigned *n, unsigned i)
{
    assert(i < *n);
    v[i] = v[--*n];
}

static int load_row(void *ctx, const struct store_subs_row *row)
{
    struct subrec *r = ctx;

    r->known = true;
    if (r->n == SUBREC_MAX) {
        log_warn("mqtt: the store records more than %u subscriptions for "
                 "client id %s: %s and later ones are not checked",
                 SUBREC_MAX, r->client_id, row->filter);
        return 1;
    }
    entry_set(&r->set[r->n], row->filter, row->name, row->qos);
    r->set[r->n++].acked_ms = row->acked_ms;
    return 0;
}

int subrec_load(struct subrec *r, struct store *st)
{
    int rc = store_subs_load(st, r->client_id, load_row, r);

    return rc > 0 ? 0 : rc;
}

void subrec_session(struct subrec *r, bool present)
{
    ASSERT_THREAD(THREAD_LOOP);
    r->n_sent = 0;
    for (unsigned i = 0; i < r->n; i++)
        r->set[i].mid = 0;
    /* From here on every SUBACK and UNSUBACK of the session is seen. */
    r->known = true;
    if (present)
        return;
    /* A new session: whatever was recorded is gone from the broker. */
    if (r->n > 0)
        r->dirty = true;
    r->n = 0;
}

void subrec_subscribing(struct subrec *r, int mid, const char *filter,
                        const char *name, int qos)
{
    int i = find(r->sent, r->n_sent, filter);

    ASSERT_THREAD(THREAD_LOOP);
    if (i < 0 && r->n_sent == SUBREC_MAX)
        drop(r->sent, &r->n_sent, 0); /* the oldest; its SUBACK is lost */
    if (i < 0)
        i = (int) r->n_sent++;
    entry_set(&r->sent[i], filter, name, qos);
    r->sent[i].mid = mid;
}

void subrec_suback(struct subrec *r, int mid, int granted)
{
    struct subrec_entry *e;
    unsigned i;
    int j;

    ASSERT_THREAD(THREAD_LOOP);
    for (i = 0; i < r->n_sent && r->sent[i].mid != mid; i++)
        ;
    if (i == r->n_sent)
        return;
    if (granted < 0x80) {
        j = find(r->set, r->n, r->sent[i].filter);
        if (j < 0 && r->n < SUBREC_MAX)
            j = (int) r->n++;
        if (j >= 0) {
            e = &r->set[j];
            *e = r->sent[i];
            e->qos = granted;
            e->mid = 0;
            e->acked_ms = clock_now_ms();
            r->dirty = true;
        }
    }
    drop(r->sent, &r->n_sent, i);
}

void subrec_unsubscribing(struct subrec *r, int mid, const char *filter)
{
    int i = find(r->set, r->n, filter);

    ASSERT_THREAD(THREAD_LOOP);
    if (i >= 0)
        r->set[i].mid = mid;
}

void subrec_unsuback(struct subrec *r, int mid)
{
    ASSERT_THREAD(THREAD_LOOP);
    for (unsigned i = 0; i < r->n; i++) {
        if (r->set[i].mid == mid) {
            drop(r->set, &r->n, i);
            r->dirty = true;
            return;
        }
    }
}

int subrec_publish(struct subrec *r)
{
    size_t len = sizeof(struct subrec_snap) + r->n * sizeof(r->set[0]);
    struct subrec_snap *s;

    ASSERT_THREAD(THREAD_LOOP);
    if (!r->dirty)
        return 0;
    s = ring_reserve(&r->ring, len);
    if (s == NULL)
        return -ENOSPC;
    s->n = r->n;
    s->reserved = 0;
    memcpy(s->e, r->set, r->n * sizeof(r->set[0]));
    ring_commit(&r->ring);
    r->dirty = false;
    return 0;
}

bool subrec_is_known(const struct subrec *r)
{
    return r->known;
}

bool subrec_is_dirty(const struct subrec *r)
{
    return r->dirty;
}

unsigned subrec_count(const struct subrec *r)
{
    return r->n;
}

const struct subrec_entry *subrec_entry(const struct subrec *r, unsigned i)
{
    assert(i < r->n);
    return &r->set[i];
}

/* The rows of one record, replacing the client id's. */
static int write_snap(const struct subrec *r, struct store *st,
                      const struct subrec_snap *s)
{
    struct store_subs_row row;
    int err = store_subs_clear(st, r->client_id);

    for (uint32_t i = 0; i < s->n && err == 0; i++) {
        row.filter = s->e[i].filter;
        row.name = s->e[i].name;
        row.qos = s->e[i].qos;
        row.acked_ms = s->e[i].acked_ms;
        err = store_subs_add(st, r->client_id, &row);
    }
    return err;
}

int subrec_store(struct subrec *r, struct store *st)
{
    const struct subrec_snap *newest = NULL;
    const void *rec;
    size_t cur = ring_cursor(&r->ring);
    size_t end = cur;
    size_t len;
    int err;

    ASSERT_THREAD(THREAD_WRITER);
    while ((rec = ring_next(&r->ring, &cur, &len)) != NULL) {
        newest = rec;
        end = cur;
    }
    if (newest == NULL)
        return 0;
    err = store_begin(st);
    if (err == 0)
        err = write_snap(r, st, newest);
    if (err == 0)
        err = store_commit(st);
    if (err < 0) {
        store_rollback(st);
        return err;
    }
    ring_release(&r->ring, end);
    return 0;
}
