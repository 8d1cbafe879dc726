/*
 * store_schema.h - the store's schema and its migrations (store_schema.c).
 * store_open() calls these in order on a fresh connection.
 */
#ifndef SP_STORE_SCHEMA_H
#define SP_STORE_SCHEMA_H

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "compiler.h"

/* The version this binary writes (PRAGMA user_version): one step per
 * version in store_schema.c. */
#define STORE_SCHEMA_VERSION 8

/*
 * Refuses a file this binary does not understand before changing anything:
 * a user_version above STORE_SCHEMA_VERSION, or tables without a version.
 * *is_new is set for an empty, version-0 file.
 * Returns: 0; -EPROTO (logged, naming path); -errno.
 */
SP_MUST_CHECK int store_schema_check_version(sqlite3 *db, const char *path,
                                             bool *is_new);

/* Runs every step from the file's version up to STORE_SCHEMA_VERSION, each
 * in its own transaction. Returns: 0 or -errno (logged). */
SP_MUST_CHECK int store_schema_migrate(sqlite3 *db);

/* A current file must hold every table and view of the contract.
 * Returns: 0; -EPROTO (logged, naming the missing object); -errno. */
SP_MUST_CHECK int store_schema_check_objects(sqlite3 *db, const char *path);

/* Logs a notice when rollups still has the layout of files made before
 * version 8 (WITHOUT ROWID). Thread: start-up. */
void store_schema_note_layout(sqlite3 *db, const char *path);

/*
 * Copies a rollups kept WITHOUT ROWID (a file made before version 8) into
 * the current layout, in one transaction; *rows gets the rows copied.
 * Returns: 0; -EALREADY when rollups already has the current layout;
 * -EBUSY (another connection writes), -ENOSPC, -EIO.
 * Thread: start-up (nothing else uses db).
 */
SP_MUST_CHECK int store_schema_relayout_rollups(sqlite3 *db, int64_t *rows);

#endif
