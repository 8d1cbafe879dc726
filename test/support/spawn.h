/*
 * spawn.h - runs the daemon binary for integration tests.
 *
 * Each spawn has its own temporary directory holding the configuration,
 * the database, the daemon's log and a datagram socket that plays systemd's
 * NOTIFY_SOCKET, so a test waits for READY=1 instead of sleeping. The
 * binary is $SP_DAEMON (set by the Makefile's test runner), else
 * build/debug/sensorpipe.
 */
#ifndef SP_SPAWN_H
#define SP_SPAWN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Owner: the test. */
struct spawn {
    pid_t pid;
    char dir[128];
    char conf_path[192];
    char db_path[192];
    char log_path[192];
    char notify_path[192];
    int notify_fd;
    char notes[8192]; /* every notify datagram so far, '\n'-joined */
    size_t notes_len;
};

/* Makes the temp directory and the notify socket. Returns 0 or -errno. */
int spawn_init(struct spawn *s);

/* Writes conf_text as the configuration and starts the daemon with it.
 * env is NULL or a NULL-terminated list of "NAME=value" to add. */
int spawn_start(struct spawn *s, const char *conf_text, const char *const *env);

/* Waits until a notify datagram containing needle arrived (READY=1,
 * STOPPING=1, WATCHDOG=1...). Returns 0, or -ETIMEDOUT. */
int spawn_wait_notify(struct spawn *s, const char *needle, int timeout_ms);

/* Forgets the datagrams seen so far (to wait for a new one). */
void spawn_clear_notes(struct spawn *s);

/* Sends sig and waits for the exit. Returns the exit status (0..255),
 * 128+signal if killed, or -ETIMEDOUT (then SIGKILLs it). */
int spawn_stop(struct spawn *s, int sig, int timeout_ms);

/* Waits for the exit without signalling. Same returns as spawn_stop(). */
int spawn_wait_exit(struct spawn *s, int timeout_ms);

/* True when the daemon's log contains needle. */
bool spawn_log_contains(const struct spawn *s, const char *needle);

/* Waits until the log contains needle at least count times.
 * Returns 0 or -ETIMEDOUT. */
int spawn_wait_log(const struct spawn *s, const char *needle, int count,
                   int timeout_ms);

/* Counts the lines of the log that contain needle. */
int spawn_log_count(const struct spawn *s, const char *needle);

/* Prints the daemon's log to stderr (for failing tests). */
void spawn_dump_log(const struct spawn *s);

/* spawn_start(), then waits for READY=1 and for the STATUS saying every
 * subscription is acknowledged (messages published earlier would not reach
 * the daemon). Returns 0, or -ETIMEDOUT / -errno. */
int spawn_start_ready(struct spawn *s, const char *conf_text,
                      const char *const *env, int timeout_ms);

/* Sum of count over the rollups at resolution res_s (0 when none). */
int64_t spawn_stored(const struct spawn *s, int res_s);

/* Waits until spawn_stored(s, res_s) >= want. Returns 0 or -ETIMEDOUT. */
int spawn_await_stored(struct spawn *s, int res_s, int64_t want,
                       int timeout_ms);

/* Samples stored for one exact topic (any text: it is bound, not quoted)
 * at resolution res_s; 0 when none. */
int64_t spawn_stored_on(const struct spawn *s, const char *topic, int res_s);

/* Waits until spawn_stored_on(s, topic, res_s) >= want, reading the notify
 * socket meanwhile. Returns 0 or -ETIMEDOUT. */
int spawn_await_stored_on(struct spawn *s, const char *topic, int res_s,
                          int64_t want, int timeout_ms);

/* A field of the running daemon's /proc/PID/status in KiB ("VmRSS",
 * "VmHWM"); -1 when it cannot be read. */
long spawn_status_kib(const struct spawn *s, const char *field);

/* The column `name` of the newest ingest_stats row, INT64_MIN if none. */
int64_t spawn_stat(const struct spawn *s, const char *name);

/* Removes the directory (after a stop). */
void spawn_cleanup(struct spawn *s);

struct broker;

/*
 * A suite's .init: broker_start(b, NULL) when b is not NULL, then
 * spawn_init(s). Returns 0, or the -errno of the first that failed.
 */
int spawn_suite_init(struct spawn *s, struct broker *b);

/*
 * A suite's .fini: prints the daemon's log when it still runs (the test
 * ended before stopping it), spawn_cleanup(s), then broker_stop(b) when b
 * is not NULL.
 */
void spawn_suite_fini(struct spawn *s, struct broker *b);

/* "ASan" or "TSan" when the daemon binary under test was built with that
 * sanitizer (its memory figures then measure the sanitizer), else NULL. */
const char *spawn_sanitizer(void);

/* The daemon binary the tests run. */
const char *spawn_binary(void);

/* Runs sql on the database (its own connection) and returns the first
 * column of the first row as an integer (or as a double rounded down),
 * or INT64_MIN on error or no row. */
int64_t db_int(const char *db_path, const char *sql);
double db_double(const char *db_path, const char *sql);

#endif
