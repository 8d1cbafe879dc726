/*
 * log.c - one-line messages on stderr, for journald or for a terminal.
 *
 * Each call formats its whole line into a stack buffer of LOG_LINE_MAX bytes
 * (prefix, message, suffix, newline) and hands it to write(2) once. A line
 * shorter than PIPE_BUF is written atomically to a pipe (the journal's
 * stream is a socket, which keeps one write together as well), so lines from
 * different threads never interleave.
 *
 * Threads: log_msg(), log_msg_errno() and the level functions run on any
 * thread. log_init() and log_set_fd() run at start-up, before other threads
 * log. A struct ratelimit belongs to the one thread that logs through it.
 *
 * Invariants:
 *   - A written line is at most LOG_LINE_MAX bytes, newline included, and
 *     holds no control character but that final newline: the message part
 *     has them replaced by spaces, so a topic holding "\n<0>" cannot forge
 *     a second journal entry.
 *   - A cut message ends in "..." placed on a UTF-8 character boundary; the
 *     suffix (": strerror", ", N suppressed") is kept whole after it.
 *   - The level, the output fd and the journal flag are relaxed atomics:
 *     each is a single word read on its own, so no ordering is needed.
 *
 * Memory: none. The wall-clock timestamp is computed with integer
 * arithmetic rather than gmtime_r(), whose first call may load time zone
 * data.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "clock.h"

#define LOG_SUFFIX_MAX 128 /* ": strerror(...)" or ", N suppressed" */

static _Atomic int log_level = LOG_INFO;
static _Atomic int log_fd = 2;
static _Atomic bool log_journal;

/* Indexed by syslog priority: the sd-daemon(3) prefix and the level name. */
static const char *const prio_prefix[] = {
    SD_EMERG,   SD_ALERT,  SD_CRIT, SD_ERR,
    SD_WARNING, SD_NOTICE, SD_INFO, SD_DEBUG,
};
static const char *const prio_name[] = {
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
};

/* Accepted by log_level_parse(); the first name of a level is canonical.
 * Owner: this static table (read-only). */
static const struct {
    const char *name;
    int level;
} level_names[] = {
    {"err", LOG_ERR},      {"error", LOG_ERR},     {"warning", LOG_WARNING},
    {"warn", LOG_WARNING}, {"notice", LOG_NOTICE}, {"info", LOG_INFO},
    {"debug", LOG_DEBUG},
};

/* A line being built. Owner: the calling thread's stack. */
struct line {
    char buf[LOG_LINE_MAX];
    size_t len;       /* bytes used, never more than LOG_LINE_MAX - 1 */
    size_t msg_start; /* where the message begins, after the prefix */
};

static int clamp_prio(int prio)
{
    if (prio < LOG_EMERG)
        return LOG_EMERG;
    if (prio > LOG_DEBUG)
        return LOG_DEBUG;
    return prio;
}

/*
 * Compares JOURNAL_STREAM ("DEV:INO", as systemd sets it) with the output
 * fd; systemd documents exactly this check in systemd.exec(5).
 */
static bool fd_is_journal(int fd)
{
    const char *env = getenv("JOURNAL_STREAM"); /* start-up only */
    unsigned long long dev;
    unsigned long long ino;
    char *end;
    struct stat st;

    if (env == NULL || *env < '0' || *env > '9')
        return false;
    errno = 0;
    dev = strtoull(env, &end, 10);
    if (errno != 0 || *end != ':' || end[1] < '0' || end[1] > '9')
        return false;
    ino = strtoull(end + 1, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    if (fstat(fd, &st) < 0)
        return false;
    return (unsigned long long) st.st_dev == dev &&
           (unsigned long long) st.st_ino == ino;
}

static void detect_journal(void)
{
    int fd = atomic_load_explicit(&log_fd, memory_order_relaxed);

    atomic_store_explicit(&log_journal, fd_is_journal(fd),
                          memory_order_relaxed);
}

/* The journal check looks at the current output fd: stderr unless
 * log_set_fd() chose another, which is how tests drive both modes. */
void log_init(int level)
{
    log_set_level(level);
    detect_journal();
}

void log_set_fd(int fd)
{
    atomic_store_explicit(&log_fd, fd, memory_order_relaxed);
    detect_journal();
}

void log_set_level(int level)
{
    atomic_store_explicit(&log_level, clamp_prio(level), memory_order_relaxed);
}

int log_get_level(void)
{
    return atomic_load_explicit(&log_level, memory_order_relaxed);
}

bool log_enabled(int prio)
{
    return prio <= atomic_load_explicit(&log_level, memory_order_relaxed);
}

int log_level_parse(const char *s, int *level)
{
    for (size_t i = 0; i < SP_ARRAY_SIZE(level_names); i++) {
        if (strcasecmp(s, level_names[i].name) == 0) {
            *level = level_names[i].level;
            return 0;
        }
    }
    return -EINVAL;
}

const char *log_level_str(int level)
{
    if (level < LOG_EMERG || level > LOG_DEBUG)
        return "unknown";
    return prio_name[level];
}

/* Days since 1970-01-01 to a civil date (H. Hinnant's days_from_civil
 * inverse), valid for every date a clock can give. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era;
    unsigned doe;
    unsigned yoe;
    unsigned doy;
    unsigned mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned) (z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t) yoe + era * 400 + (*m <= 2);
}

/* "2026-11-27T08:30:00.123Z warning: " into l. */
static void put_timestamp(struct line *l, int prio)
{
    struct timespec ts;
    int64_t sec;
    int64_t days;
    int64_t y;
    unsigned mo;
    unsigned d;
    int n;

    clock_gettime(CLOCK_REALTIME, &ts);
    sec = (int64_t) ts.tv_sec;
    days = (sec >= 0 ? sec : sec - 86399) / 86400;
    sec -= days * 86400;
    civil_from_days(days, &y, &mo, &d);
    n = snprintf(l->buf, sizeof(l->buf),
                 "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ %s: ", (long long) y,
                 mo, d, (unsigned) (sec / 3600), (unsigned) (sec / 60 % 60),
                 (unsigned) (sec % 60), (unsigned) (ts.tv_nsec / 1000000),
                 prio_name[prio]);
    l->len = n > 0 ? (size_t) n : 0;
}

static void put_prefix(struct line *l, int prio)
{
    if (atomic_load_explicit(&log_journal, memory_order_relaxed)) {
        l->len = strlen(prio_prefix[prio]);
        memcpy(l->buf, prio_prefix[prio], l->len);
    } else {
        put_timestamp(l, prio);
    }
    l->msg_start = l->len;
}

/* Replaces the tail with "...", backing up to a UTF-8 character start. */
static void mark_cut(struct line *l)
{
    size_t p = l->len >= l->msg_start + 3 ? l->len - 3 : l->msg_start;

    while (p > l->msg_start && ((unsigned char) l->buf[p] & 0xC0) == 0x80)
        p--;
    memcpy(l->buf + p, "...", 3);
    l->len = p + 3;
}

/* Appends up to limit bytes of content in total (limit < LOG_LINE_MAX). */
SP_PRINTF(3, 0)
static void line_vappend(struct line *l, size_t limit, const char *fmt,
                         va_list ap)
{
    size_t room = limit > l->len ? limit - l->len : 0;
    int n;

    /* room + 1 <= LOG_LINE_MAX - len: vsnprintf's NUL always fits. */
    n = vsnprintf(l->buf + l->len, room + 1, fmt, ap);
    if (n < 0)
        return;
    if ((size_t) n <= room) {
        l->len += (size_t) n;
        return;
    }
    l->len = limit;
    mark_cut(l);
}

static void line_append_str(struct line *l, const char *s)
{
    size_t n = strlen(s);
    size_t room = LOG_LINE_MAX - 1 - l->len;

    if (n > room)
        n = room;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* nowhere left to report it */
        buf += n;
        len -= (size_t) n;
    }
}

static void line_emit(struct line *l)
{
    for (size_t i = l->msg_start; i < l->len; i++) {
        unsigned char c = (unsigned char) l->buf[i];

        if (c < 0x20 || c == 0x7f)
            l->buf[i] = ' ';
    }
    l->buf[l->len] = '\n';
    write_all(atomic_load_explicit(&log_fd, memory_order_relaxed), l->buf,
              l->len + 1);
}

/* Formats prefix + message + suffix and writes it; keeps errno. */
SP_PRINTF(3, 0)
static void log_vline(int prio, const char *suffix, const char *fmt, va_list ap)
{
    struct line l;
    int saved = errno;

    prio = clamp_prio(prio);
    put_prefix(&l, prio);
    line_vappend(&l, LOG_LINE_MAX - 1 - strlen(suffix), fmt, ap);
    line_append_str(&l, suffix);
    line_emit(&l);
    errno = saved;
}

void log_msg(int prio, const char *fmt, ...)
{
    va_list ap;

    if (!log_enabled(prio))
        return;
    va_start(ap, fmt);
    log_vline(prio, "", fmt, ap);
    va_end(ap);
}

void log_msg_errno(int prio, int err, const char *fmt, ...)
{
    char suffix[LOG_SUFFIX_MAX];
    char msg[LOG_SUFFIX_MAX - 2];
    va_list ap;

    if (!log_enabled(prio))
        return;
    /* GNU strerror_r: returns msg or a static string, never allocates. */
    snprintf(suffix, sizeof(suffix), ": %s",
             strerror_r(err < 0 ? -err : err, msg, sizeof(msg)));
    va_start(ap, fmt);
    log_vline(prio, suffix, fmt, ap);
    va_end(ap);
}

void ratelimit_init(struct ratelimit *rl, uint64_t interval_ms, unsigned burst)
{
    rl->interval_ms = interval_ms;
    rl->burst = burst > 0 ? burst : 1;
    rl->tokens = rl->burst;
    rl->last_ms = clock_mono_ms();
    rl->suppressed = 0;
}

/* Refills one token per whole interval since last_ms; takes one if any. */
static bool ratelimit_take(struct ratelimit *rl)
{
    uint64_t now = clock_mono_ms();
    uint64_t n;

    if (rl->interval_ms == 0)
        return true;
    n = now > rl->last_ms ? (now - rl->last_ms) / rl->interval_ms : 0;
    if (n >= rl->burst - rl->tokens) {
        /* Full: time spent full earns nothing, so restart the clock. */
        rl->last_ms = now;
        rl->tokens = rl->burst;
    } else if (n > 0) {
        rl->tokens += (unsigned) n;
        rl->last_ms += n * rl->interval_ms;
    }
    if (rl->tokens == 0)
        return false;
    rl->tokens--;
    return true;
}

bool log_ratelimited(struct ratelimit *rl, int prio, const char *fmt, ...)
{
    char suffix[LOG_SUFFIX_MAX] = "";
    va_list ap;

    if (!log_enabled(prio))
        return false;
    if (!ratelimit_take(rl)) {
        rl->suppressed++;
        return false;
    }
    if (rl->suppressed > 0)
        snprintf(suffix, sizeof(suffix), ", %llu suppressed",
                 (unsigned long long) rl->suppressed);
    rl->suppressed = 0;
    va_start(ap, fmt);
    log_vline(prio, suffix, fmt, ap);
    va_end(ap);
    return true;
}
