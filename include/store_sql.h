/*
 * store_sql.h - SQLite result codes as -errno (logged once, here), and
 * one-shot statements for start-up.
 */
#ifndef SP_STORE_SQL_H
#define SP_STORE_SQL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "compiler.h"

/* DBL_MAX as SQL text: SQLite reads it back as exactly DBL_MAX (a unit
 * test checks), so clamping with it keeps every merge finite. */
#define STORE_DBL_MAX "1.7976931348623157e308"

/*
 * -errno for an SQLite result code: -EEXIST (a unique or primary key),
 * -EINVAL (another constraint, a type mismatch), -E2BIG, -EBUSY (busy or
 * locked), -ENOSPC, -EROFS, -EACCES, -ENOMEM; for an open or I/O failure
 * the OS error behind it when it says more (-ENOENT, ...); else -EIO.
 * db may be NULL. Thread: the connection's.
 */
int store_sql_errno(sqlite3 *db, int rc);

/* store_sql_errno(), logged at err with what and SQLite's message unless
 * busy, full, a refused record (store_refused()) or -EEXIST. */
int store_sql_fail(sqlite3 *db, int rc, const char *what);

/* Runs sql (no results; several statements allowed). Returns: 0 or
 * -errno (logged). */
SP_MUST_CHECK int store_sql_exec(sqlite3 *db, const char *sql,
                                 const char *what);

/* Reads the one integer sql returns (a pragma, a count). Returns: 0 or
 * -errno (logged). */
SP_MUST_CHECK int store_sql_query_int(sqlite3 *db, const char *sql,
                                      int64_t *out);

/* Steps a statement that returns no rows, then resets it. Returns: 0 or
 * -errno (logged as store_sql_fail() does). */
int store_sql_step(sqlite3 *db, sqlite3_stmt *stmt, const char *what);

/* A bind that failed (binding a number to a valid index cannot; text may
 * be too big): -errno (logged), bindings cleared. */
int store_sql_bind_fail(sqlite3 *db, sqlite3_stmt *stmt, const char *what);

/*
 * True for the errors that refuse one record and leave the transaction
 * usable (a constraint or a trigger's RAISE: -EINVAL; text too big:
 * -E2BIG): the writer drops that record alone. Thread: any.
 */
static inline bool store_refused(int err)
{
    return err == -EINVAL || err == -E2BIG;
}

#endif
