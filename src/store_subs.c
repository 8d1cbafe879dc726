/*
 * store_subs.c - the store's record of the subscriptions the broker's
 * persistent session holds, per client id (table `subscriptions`, schema
 * version 4; subrec.h says how the daemon keeps it).
 *
 * Threads: store_subs_load() at start-up; store_subs_clear() and
 * store_subs_add() on the writer, inside its transactions (statements
 * prepared by store_open()); store_subs_peek() on any thread, with a
 * read-only connection of its own (--check-config, also while a daemon
 * runs). Memory: SQLite's.
 */
#include "store_subs.h"

#include <errno.h>
#include <unistd.h>

#include "log.h"
#include "store_sql.h"
#include "thread.h"

#define STORE_SUBS_SELECT                                                      \
    "SELECT filter, name, qos, acked_ms FROM subscriptions"                    \
    " WHERE client_id = ?1 ORDER BY filter"

/* Calls fn per row of client_id on db. Returns: 0, fn's value, or an
 * SQLite result code (positive) for the caller to translate. */
static int subs_query(sqlite3 *db, const char *client_id, store_subs_fn fn,
                      void *ctx)
{
    struct store_subs_row row;
    sqlite3_stmt *stmt = NULL;
    int rc;
    int ret = 0;

    rc = sqlite3_prepare_v2(db, STORE_SUBS_SELECT, -1, &stmt, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 1, client_id, -1, SQLITE_STATIC);
    while (rc == SQLITE_OK && ret == 0 &&
           (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        row.filter = (const char *) sqlite3_column_text(stmt, 0);
        row.name = (const char *) sqlite3_column_text(stmt, 1);
        row.qos = sqlite3_column_int(stmt, 2);
        row.acked_ms = sqlite3_column_int64(stmt, 3);
        if (row.filter != NULL && row.name != NULL)
            ret = fn(ctx, &row);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(stmt);
    if (ret != 0)
        return ret;
    return rc == SQLITE_DONE || rc == SQLITE_OK ? 0 : rc;
}

int store_subs_load(struct store *st, const char *client_id, store_subs_fn fn,
                    void *ctx)
{
    int rc = subs_query(st->db, client_id, fn, ctx);

    return rc > 0 ? store_sql_fail(st->db, rc, "load subscriptions") : rc;
}

int store_subs_peek(const char *path, const char *client_id, store_subs_fn fn,
                    void *ctx)
{
    sqlite3 *db = NULL;
    int64_t has_table = 0;
    sqlite3_stmt *stmt = NULL;
    int rc;

    if (access(path, F_OK) < 0)
        return -errno;
    rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db,
                                "SELECT count(*) FROM sqlite_master WHERE"
                                " type = 'table' AND name = 'subscriptions'",
                                -1, &stmt, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        has_table = sqlite3_column_int64(stmt, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(stmt);
    if (rc == SQLITE_OK && has_table == 0)
        rc = -ENOMSG;
    else if (rc == SQLITE_OK)
        rc = subs_query(db, client_id, fn, ctx);
    if (rc > 0)
        rc = store_sql_errno(db, rc);
    sqlite3_close(db);
    return rc;
}

int store_subs_clear(struct store *st, const char *client_id)
{
    sqlite3_stmt *s = st->st_subs_clear;

    ASSERT_THREAD(THREAD_WRITER);
    if (sqlite3_bind_text(s, 1, client_id, -1, SQLITE_STATIC) != SQLITE_OK)
        return store_sql_bind_fail(st->db, s, "clear subscriptions");
    return store_sql_step(st->db, s, "clear subscriptions");
}

int store_subs_add(struct store *st, const char *client_id,
                   const struct store_subs_row *row)
{
    sqlite3_stmt *s = st->st_subs_add;
    int err;

    ASSERT_THREAD(THREAD_WRITER);
    if (sqlite3_bind_text(s, 1, client_id, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(s, 2, row->filter, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(s, 3, row->name, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int(s, 4, row->qos) != SQLITE_OK ||
        sqlite3_bind_int64(s, 5, row->acked_ms) != SQLITE_OK)
        return store_sql_bind_fail(st->db, s, "record subscription");
    err = store_sql_step(st->db, s, "record subscription");
    sqlite3_clear_bindings(s);
    return err;
}
