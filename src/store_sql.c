/*
 * store_sql.c - SQLite result codes as -errno, and the one-shot statements
 * the store and its schema run at start-up.
 *
 * Every SQLite failure of the store goes through store_sql_fail(), the one
 * place that maps it to -errno and logs it (SQLITE_BUSY and SQLITE_FULL
 * are not logged: the writer retries them and reports them itself,
 * rate-limited; nor is a refused record, which it drops and reports, nor
 * a series already there, which it maps to the stored id).
 *
 * Threads: whichever thread owns the connection. Memory: none of its own;
 * store_sql_query_int() prepares a statement per call (start-up only).
 */
#include "store_sql.h"

#include <errno.h>
#include <stddef.h>

#include "compiler.h"
#include "log.h"

/* SQLite codes that do not mean -EIO; extended codes are matched first. */
static const struct {
    int rc;
    int err;
} store_errs[] = {
    {SQLITE_CONSTRAINT_PRIMARYKEY, -EEXIST},
    {SQLITE_CONSTRAINT_UNIQUE, -EEXIST},
    {SQLITE_CONSTRAINT, -EINVAL}, /* NOT NULL, CHECK, a trigger's RAISE */
    {SQLITE_MISMATCH, -EINVAL},
    {SQLITE_TOOBIG, -E2BIG},
    {SQLITE_IOERR_NOMEM, -ENOMEM},
    {SQLITE_BUSY, -EBUSY},
    {SQLITE_LOCKED, -EBUSY},
    {SQLITE_FULL, -ENOSPC},
    {SQLITE_READONLY, -EROFS},
    {SQLITE_NOMEM, -ENOMEM},
    {SQLITE_PERM, -EACCES},
    {SQLITE_AUTH, -EACCES},
    {SQLITE_CANTOPEN, -EACCES},
};

int store_sql_errno(sqlite3 *db, int rc)
{
    int sys = db != NULL ? sqlite3_system_errno(db) : 0;
    size_t i;

    /* An open or I/O failure says more through the OS error behind it. */
    if ((rc & 0xff) == SQLITE_CANTOPEN || (rc & 0xff) == SQLITE_IOERR) {
        if (sys == ENOENT || sys == EACCES || sys == ENOSPC || sys == EROFS)
            return -sys;
    }
    for (i = 0; i < SP_ARRAY_SIZE(store_errs); i++) {
        if (store_errs[i].rc == rc)
            return store_errs[i].err;
    }
    for (i = 0; i < SP_ARRAY_SIZE(store_errs); i++) {
        if (store_errs[i].rc == (rc & 0xff))
            return store_errs[i].err;
    }
    return -EIO;
}

/* Maps rc to -errno and logs it (except BUSY and FULL, which the writer
 * retries and reports itself, rate-limited, and a refused record, which it
 * drops and reports the same way); what names the operation. */
int store_sql_fail(sqlite3 *db, int rc, const char *what)
{
    int err = store_sql_errno(db, rc);

    if (err != -EBUSY && err != -ENOSPC && err != -EEXIST &&
        !store_refused(err))
        log_err("store: %s failed: %s", what,
                db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    return err;
}

/* Runs SQL without results (pragmas, schema) at start-up. */
int store_sql_exec(sqlite3 *db, const char *sql, const char *what)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? 0 : store_sql_fail(db, rc, what);
}

/* Reads one integer result of sql (a pragma or a count). */
int store_sql_query_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
    int err = 0;

    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(stmt, 0);
    else
        err = store_sql_fail(db, rc, sql);
    sqlite3_finalize(stmt);
    return err;
}

int store_sql_step(sqlite3 *db, sqlite3_stmt *stmt, const char *what)
{
    int rc = sqlite3_step(stmt);
    int err = 0;

    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        err = store_sql_fail(db, rc, what);
    sqlite3_reset(stmt);
    return err;
}

int store_sql_bind_fail(sqlite3 *db, sqlite3_stmt *stmt, const char *what)
{
    int err = store_sql_fail(db, sqlite3_extended_errcode(db), what);

    sqlite3_clear_bindings(stmt);
    return err;
}
