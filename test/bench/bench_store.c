/*
 * bench_store.c - cost of the writer's hot statement: merging partials into
 * rollups at every resolution, in transactions of batch_rows partials.
 *
 * Usage: bench_store [DIR] [PARTIALS] [SERIES]
 *   DIR ("" or absent: a new directory under /tmp, removed at the end), and
 *   PARTIALS to 100000, spread over SERIES (default 1000) series whose
 *   10 s buckets advance as a live feed's would. Prints ns per partial
 *   (three upserts each), partials/s and rollup rows/s, first on an empty
 *   file, then again on the same file (the merge path: every row exists).
 *
 * Threads: one (start-up code, then the writer's calls).
 * Memory: the store's only; SQLite allocates within its own limits.
 */
#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bucket.h"
#include "clock.h"
#include "config.h"
#include "store.h"

#define T0_MS 1700000000000LL

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void) sb;
    (void) flag;
    (void) ftw;
    return remove(path);
}

static unsigned long arg_ulong(int argc, char **argv, int i, unsigned long dflt)
{
    char *end = NULL;
    unsigned long v;

    if (argc <= i)
        return dflt;
    errno = 0;
    v = strtoul(argv[i], &end, 10);
    if (errno != 0 || end == argv[i] || *end != '\0' || v == 0) {
        fprintf(stderr, "bench_store: bad number '%s'\n", argv[i]);
        exit(2);
    }
    return v;
}

/* One pass: n partials, a transaction every batch; returns ns or -errno. */
static int64_t run_pass(struct store *st, unsigned long n, unsigned long series,
                        unsigned batch)
{
    struct bucket_acc acc;
    uint64_t t0 = clock_mono_ns();
    unsigned long i;
    int err = 0;

    for (i = 0; i < n && err == 0; i++) {
        int64_t id = (int64_t) (i % series);
        int64_t bucket_ms = T0_MS + (int64_t) (i / series) * 10000;
        if (i % batch == 0)
            err = store_begin(st);
        bucket_acc_reset(&acc);
        bucket_acc_add(&acc, bucket_ms + 1234, (double) i);
        bucket_acc_add(&acc, bucket_ms + 5678, (double) i / 2);
        if (err == 0)
            err = store_merge_partial(st, id, bucket_ms, &acc);
        if (err == 0 && (i + 1 == n || (i + 1) % batch == 0))
            err = store_commit(st);
    }
    if (err < 0) {
        fprintf(stderr, "bench_store: %s\n", strerror(-err));
        return err;
    }
    return (int64_t) (clock_mono_ns() - t0);
}

static void report(const char *what, int64_t ns, unsigned long n, unsigned res)
{
    double s = (double) ns / 1e9;

    printf("%-28s %8.0f ns/partial  %10.0f partials/s  %10.0f rows/s\n", what,
           (double) ns / (double) n, (double) n / s, (double) n * res / s);
}

int main(int argc, char **argv)
{
    char dir[256] = "/tmp/sp-bench-store-XXXXXX";
    unsigned long n = arg_ulong(argc, argv, 2, 100000);
    unsigned long series = arg_ulong(argc, argv, 3, 1000);
    bool own_dir = argc <= 1 || argv[1][0] == '\0';
    struct config cfg;
    struct store st;
    int64_t ns;
    int err;

    if (!own_dir)
        (void) snprintf(dir, sizeof(dir), "%s", argv[1]);
    else if (mkdtemp(dir) == NULL) {
        perror("bench_store: mkdtemp");
        return 1;
    }
    config_defaults(&cfg);
    (void) snprintf(cfg.store.path, sizeof(cfg.store.path), "%s/bench.db", dir);
    err = store_open(&st, &cfg);
    if (err < 0) {
        fprintf(stderr, "bench_store: open: %s\n", strerror(-err));
        return 1;
    }
    printf("bench_store: %lu partials, %lu series, %u resolutions, "
           "batch %u, sqlite %s\n",
           n, series, st.n_res, cfg.store.batch_rows, sqlite3_libversion());
    ns = run_pass(&st, n, series, cfg.store.batch_rows);
    if (ns > 0)
        report("insert (new rows)", ns, n, st.n_res);
    if (ns > 0)
        ns = run_pass(&st, n, series, cfg.store.batch_rows);
    if (ns > 0)
        report("merge (existing rows)", ns, n, st.n_res);
    store_close(&st);
    if (own_dir)
        (void) nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return ns > 0 ? 0 : 1;
}
