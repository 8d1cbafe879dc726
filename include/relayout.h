/*
 * relayout.h - `sensorpipe rebuild-rollups DB`: copies the rollups of a
 * store made before schema 8 (WITHOUT ROWID, clustered by series, so every
 * commit rewrites a page or two per active series once the file holds
 * history) into the current layout (rows in arrival order, the primary key
 * an index), in place and in one transaction. The daemon never does this
 * by itself: on a large file it takes minutes.
 *
 * Threads: the caller's. Memory: SQLite's heap only.
 */
#ifndef SP_RELAYOUT_H
#define SP_RELAYOUT_H

#include <stdio.h>

/*
 * Rebuilds the rollups of the store at path (migrating its schema first,
 * as the daemon would). Messages ("sensorpipe rebuild-rollups: ...") go to
 * err, a summary line to info.
 * Returns: 0 (DAEMON_EXIT_OK), also when the layout is already the
 *   current one; 2 (DAEMON_EXIT_CONFIG) when path is not an existing
 *   sensorpipe store this binary reads; 1 (DAEMON_EXIT_RUNTIME) when
 *   SQLite fails or another program (a running daemon) holds the file's
 *   write lock. The file is unchanged unless 0.
 * Thread: any, one at a time per process.
 */
int relayout_run(const char *path, FILE *err, FILE *info);

#endif
