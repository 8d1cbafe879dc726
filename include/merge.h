/*
 * merge.h - `sensorpipe merge OUT IN...`: combines the stores of several
 * instances (a shared subscription split the traffic between them) into
 * one file for dashboards.
 *
 * Series are matched by (topic, field); a series whose tags differ between
 * inputs keeps the tags of the input where it was created first, as one
 * daemon keeps the tags of a series' first sample. Rollups merge exactly
 * as the daemon's upsert does (count and sum add, min and max hold, last
 * follows last_ms; a tie goes to the later input). Raw samples are copied.
 * ingest_stats rows stay per source instance, in a `source` column (the
 * input's absolute path, or the source an already merged input names);
 * their columns are matched by name, so inputs of older schema versions
 * merge too. OUT also gets a merge_sources table.
 *
 * Each input is read in one read transaction (a consistent snapshot, also
 * while its daemon writes: WAL). OUT is built in a temporary file next to
 * it, switched to the rollback journal (a reader needs no -wal or -shm
 * file), synced and renamed over OUT: readers see the old or the new file.
 * The same inputs give the same OUT (series ids in input order).
 *
 * Threads: the caller's. Memory: SQLite's heap only.
 */
#ifndef SP_MERGE_H
#define SP_MERGE_H

#include <stddef.h>
#include <stdio.h>

/*
 * Merges n_in stores into out. Messages (one line each, "sensorpipe
 * merge: ...") go to err, a summary line to info (may be NULL).
 * Returns: 0 (DAEMON_EXIT_OK); 2 (DAEMON_EXIT_CONFIG) for a usage error or
 *   an input that is missing, not a sensorpipe store or of a newer schema,
 *   or an OUT that exists and is not a merged store; 1 (DAEMON_EXIT_RUNTIME)
 *   when SQLite or the file system fails. OUT is unchanged unless 0.
 * Thread: any, one merge at a time per process (it configures SQLite).
 */
int merge_run(const char *out, const char *const *in, size_t n_in, FILE *err,
              FILE *info);

#endif
