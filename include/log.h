/*
 * log.h - one-line log messages on stderr for people and for journald.
 *
 * When stderr is the journal (JOURNAL_STREAM names stderr's dev:ino) each
 * line starts with "<N>" (the syslog priority, as sd-daemon(3) describes);
 * otherwise it starts with an ISO 8601 UTC timestamp and the level name.
 * Each line is formatted into a stack buffer and written with one write(2),
 * so lines from different threads never interleave. Lines longer than
 * LOG_LINE_MAX are cut and end in "...".
 *
 * Messages read "module: what happened: detail", no trailing period.
 */
#ifndef SP_LOG_H
#define SP_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <syslog.h> /* LOG_ERR ... LOG_DEBUG */

#include "compiler.h"

#define LOG_LINE_MAX 1024

/*
 * Reads JOURNAL_STREAM and sets the level. Call once before any thread starts.
 * Thread: loop (start-up).
 */
void log_init(int level);

/* Thread: any. Level changes apply to the next message (relaxed atomic). */
void log_set_level(int level);
int log_get_level(void);
bool log_enabled(int prio);

/* Thread: any. Parses "err", "warning", "notice", "info", "debug" (and
 * "error", "warn"). Returns: 0 or -EINVAL. */
SP_MUST_CHECK int log_level_parse(const char *s, int *level);
const char *log_level_str(int level);

/* Thread: any. */
void log_msg(int prio, const char *fmt, ...) SP_PRINTF(2, 3);
/* Appends ": strerror(-err)". Thread: any. */
void log_msg_errno(int prio, int err, const char *fmt, ...) SP_PRINTF(3, 4);

#define log_crit(...)   log_msg(LOG_CRIT, __VA_ARGS__)
#define log_err(...)    log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)   log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)   log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                         \
    do {                                                                       \
        if (log_enabled(LOG_DEBUG))                                            \
            log_msg(LOG_DEBUG, __VA_ARGS__);                                   \
    } while (0)
#define log_err_errno(err, ...) log_msg_errno(LOG_ERR, err, __VA_ARGS__)

/*
 * A token bucket for repeated warnings: at most `burst` messages, refilled
 * at one per interval_ms. Messages over the limit are counted; the next one
 * that passes ends in ", N suppressed" (N similar messages were not shown).
 *
 * Owner: one thread (the one that logs through it); no lock.
 */
struct ratelimit {
    uint64_t interval_ms; /* one token per interval */
    unsigned burst;       /* bucket size */
    unsigned tokens;
    uint64_t last_ms;    /* monotonic time of the last refill */
    uint64_t suppressed; /* since the last message shown */
};

/* Thread: the owner's. */
void ratelimit_init(struct ratelimit *rl, uint64_t interval_ms, unsigned burst);

/*
 * Logs through rl when a token is left, else counts the message as
 * suppressed. Returns true when the message was written.
 * Thread: the owner of rl.
 */
bool log_ratelimited(struct ratelimit *rl, int prio, const char *fmt, ...)
    SP_PRINTF(3, 4);

/*
 * Test hook: redirects output to fd (default 2). Thread: start-up only.
 */
void log_set_fd(int fd);

#endif
