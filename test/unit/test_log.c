/*
 * test_log.c - unit tests for log.c.
 *
 * Each test sends the log to a pipe with log_set_fd() and reads back what
 * was written. The journal mode is driven the way systemd drives it: the
 * test sets JOURNAL_STREAM to the dev:ino of the pipe's write end, which
 * log_init() compares with fstat() of the output fd. Criterion runs every
 * test in its own process, so setenv() and the log's globals do not leak
 * between tests.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "clock.h"
#include "log.h"

/* Owner: the running test. The pipe the log writes into. */
static int pipe_rd = -1;
static int pipe_wr = -1;

static void open_pipe(void)
{
    int fds[2];

    cr_assert_eq(pipe(fds), 0);
    pipe_rd = fds[0];
    pipe_wr = fds[1];
    cr_assert_eq(fcntl(pipe_rd, F_SETFL, O_NONBLOCK), 0);
    log_set_fd(pipe_wr);
}

/* Sets JOURNAL_STREAM to the pipe's dev:ino, or to something else. */
static void set_journal_stream(bool match)
{
    struct stat st;
    char val[64];

    cr_assert_eq(fstat(pipe_wr, &st), 0);
    snprintf(val, sizeof(val), "%llu:%llu", (unsigned long long) st.st_dev,
             (unsigned long long) st.st_ino + (match ? 0 : 1));
    cr_assert_eq(setenv("JOURNAL_STREAM", val, 1), 0);
}

/* Everything written so far (NUL-terminated); "" when nothing was. */
static size_t drain(char *buf, size_t len)
{
    size_t n = 0;

    for (;;) {
        ssize_t r = read(pipe_rd, buf + n, len - 1 - n);

        if (r <= 0)
            break;
        n += (size_t) r;
    }
    buf[n] = '\0';
    return n;
}

static void setup_journal(void)
{
    open_pipe();
    set_journal_stream(true);
    log_init(LOG_DEBUG);
}

static void setup_text(void)
{
    open_pipe();
    cr_assert_eq(unsetenv("JOURNAL_STREAM"), 0);
    log_init(LOG_DEBUG);
}

Test(log, journal_lines_start_with_the_priority, .init = setup_journal)
{
    static const struct {
        int prio;
        const char *prefix;
    } cases[] = {
        {LOG_CRIT, "<2>"},   {LOG_ERR, "<3>"},  {LOG_WARNING, "<4>"},
        {LOG_NOTICE, "<5>"}, {LOG_INFO, "<6>"}, {LOG_DEBUG, "<7>"},
    };
    char buf[256];
    char want[256];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        log_msg(cases[i].prio, "mod: event %d: detail", (int) i);
        drain(buf, sizeof(buf));
        snprintf(want, sizeof(want), "%smod: event %d: detail\n",
                 cases[i].prefix, (int) i);
        cr_expect_str_eq(buf, want);
    }
}

Test(log, macros_pick_their_priority, .init = setup_journal)
{
    char buf[512];

    log_crit("a");
    log_err("b");
    log_warn("c");
    log_notice("d");
    log_info("e");
    log_debug("f");
    drain(buf, sizeof(buf));
    cr_expect_str_eq(buf, "<2>a\n<3>b\n<4>c\n<5>d\n<6>e\n<7>f\n");
}

/* Checks "YYYY-MM-DDTHH:MM:SS.mmmZ level: " and returns its time (ms). */
static int64_t parse_text_prefix(const char *line, const char *level,
                                 const char **rest)
{
    struct tm tm;
    unsigned ms;
    int used = 0;
    char lvl[16];

    memset(&tm, 0, sizeof(tm));
    cr_assert_eq(sscanf(line, "%4d-%2d-%2dT%2d:%2d:%2d.%3uZ %15[a-z]: %n",
                        &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                        &tm.tm_min, &tm.tm_sec, &ms, lvl, &used),
                 8, "bad prefix: '%s'", line);
    cr_assert_eq(line[4], '-');
    cr_assert_eq(line[10], 'T');
    cr_assert_eq(line[19], '.');
    cr_assert_eq(line[23], 'Z', "milliseconds take 3 digits: '%s'", line);
    cr_expect_str_eq(lvl, level);
    *rest = line + used;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t) timegm(&tm) * 1000 + ms;
}

Test(log, text_lines_carry_utc_time_and_level, .init = setup_text)
{
    struct timespec t0;
    struct timespec t1;
    const char *rest;
    int64_t t;
    char buf[256];

    clock_gettime(CLOCK_REALTIME, &t0);
    log_warn("decode: syntax error on %s (%d bytes)", "sensors/x", 17);
    clock_gettime(CLOCK_REALTIME, &t1);
    drain(buf, sizeof(buf));
    t = parse_text_prefix(buf, "warning", &rest);
    cr_expect_str_eq(rest, "decode: syntax error on sensors/x (17 bytes)\n");
    /* Truncated to the millisecond, so within [t0, t1] at that precision. */
    cr_expect_geq(t, (int64_t) t0.tv_sec * 1000 + t0.tv_nsec / 1000000);
    cr_expect_leq(t, (int64_t) t1.tv_sec * 1000 + t1.tv_nsec / 1000000);

    log_err("store: x");
    drain(buf, sizeof(buf));
    parse_text_prefix(buf, "err", &rest);
    cr_expect_str_eq(rest, "store: x\n");
}

Test(log, stream_of_another_file_means_text, .init = open_pipe)
{
    char buf[256];

    set_journal_stream(false);
    log_init(LOG_INFO);
    log_notice("mqtt: connected");
    drain(buf, sizeof(buf));
    cr_expect_neq(buf[0], '<', "got '%s'", buf);
    cr_expect(strstr(buf, "Z notice: mqtt: connected\n") != NULL, "got '%s'",
              buf);
}

Test(log, malformed_journal_stream_means_text, .init = open_pipe)
{
    static const char *const bad[] = {
        "", ":", "1", "1:", ":1", "x:1", "1:2:3", "-1:5"};
    char buf[256];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(setenv("JOURNAL_STREAM", bad[i], 1), 0);
        log_init(LOG_INFO);
        log_info("m");
        drain(buf, sizeof(buf));
        cr_expect(strstr(buf, "Z info: m\n") != NULL, "'%s' -> '%s'", bad[i],
                  buf);
    }
}

Test(log, level_filters_lower_priorities, .init = setup_journal)
{
    char buf[256];

    log_set_level(LOG_NOTICE);
    cr_expect_eq(log_get_level(), LOG_NOTICE);
    cr_expect(log_enabled(LOG_ERR));
    cr_expect(log_enabled(LOG_NOTICE));
    cr_expect_not(log_enabled(LOG_INFO));
    cr_expect_not(log_enabled(LOG_DEBUG));
    log_info("hidden");
    log_debug("hidden");
    log_msg_errno(LOG_INFO, -EIO, "hidden");
    log_notice("shown");
    log_warn("shown too");
    drain(buf, sizeof(buf));
    cr_expect_str_eq(buf, "<5>shown\n<4>shown too\n");

    log_set_level(LOG_DEBUG);
    log_debug("now shown");
    drain(buf, sizeof(buf));
    cr_expect_str_eq(buf, "<7>now shown\n");
}

Test(log, level_names_parse_in_any_case)
{
    static const struct {
        const char *name;
        int level;
    } good[] = {
        {"err", LOG_ERR},         {"error", LOG_ERR},    {"ERROR", LOG_ERR},
        {"warning", LOG_WARNING}, {"warn", LOG_WARNING}, {"Warn", LOG_WARNING},
        {"notice", LOG_NOTICE},   {"info", LOG_INFO},    {"INFO", LOG_INFO},
        {"debug", LOG_DEBUG},
    };
    static const char *const bad[] = {"",     "inform", "debug ",
                                      "crit", "7",      "errors"};
    int level;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        level = -1;
        cr_expect_eq(log_level_parse(good[i].name, &level), 0, "%s",
                     good[i].name);
        cr_expect_eq(level, good[i].level, "%s", good[i].name);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(log_level_parse(bad[i], &level), -EINVAL, "'%s'", bad[i]);
    /* Each level's name parses back to it. */
    for (int l = LOG_ERR; l <= LOG_DEBUG; l++) {
        cr_expect_eq(log_level_parse(log_level_str(l), &level), 0);
        cr_expect_eq(level, l);
    }
}

Test(log, errno_variant_appends_strerror, .init = setup_journal)
{
    char buf[256];
    char want[256];

    errno = EAGAIN;
    log_err_errno(-EACCES, "store: cannot open %s", "/x.db");
    cr_expect_eq(errno, EAGAIN, "logging keeps errno");
    drain(buf, sizeof(buf));
    snprintf(want, sizeof(want), "<3>store: cannot open /x.db: %s\n",
             strerror(EACCES));
    cr_expect_str_eq(buf, want);
}

Test(log, long_lines_are_cut_with_an_ellipsis, .init = setup_journal)
{
    static char msg[LOG_LINE_MAX * 3];
    static char buf[LOG_LINE_MAX * 4];
    size_t n;

    memset(msg, 'x', sizeof(msg) - 1);
    log_info("%s", msg);
    n = drain(buf, sizeof(buf));
    cr_expect_eq(n, LOG_LINE_MAX, "the whole line, newline included");
    cr_expect_eq(strncmp(buf, "<6>xxx", 6), 0);
    cr_expect_eq(strcmp(buf + n - 4, "...\n"), 0, "ends '%s'", buf + n - 8);
    cr_expect_eq(strspn(buf + 3, "x"), n - 3 - 4);

    /* A line of exactly LOG_LINE_MAX bytes is not cut. */
    msg[LOG_LINE_MAX - 1 - 3] = '\0';
    log_info("%s", msg);
    n = drain(buf, sizeof(buf));
    cr_expect_eq(n, LOG_LINE_MAX);
    cr_expect_eq(strspn(buf + 3, "x"), n - 3 - 1, "no ellipsis");
}

Test(log, cut_keeps_the_errno_suffix, .init = setup_journal)
{
    static char msg[LOG_LINE_MAX * 2];
    static char buf[LOG_LINE_MAX * 4];
    char want[128];
    size_t n;

    memset(msg, 'y', sizeof(msg) - 1);
    log_err_errno(-ENOENT, "%s", msg);
    n = drain(buf, sizeof(buf));
    snprintf(want, sizeof(want), "...: %s\n", strerror(ENOENT));
    cr_expect_eq(n, LOG_LINE_MAX);
    cr_expect_eq(strcmp(buf + n - strlen(want), want), 0, "ends '%s'",
                 buf + n - strlen(want));
}

Test(log, cut_never_splits_a_utf8_character, .init = setup_journal)
{
    static char msg[LOG_LINE_MAX * 2 + 1];
    static char buf[LOG_LINE_MAX * 4];
    size_t n;
    size_t body;

    /* "é" is two bytes; a cut in the middle would leave a lone 0xC3. */
    for (size_t i = 0; i + 1 < sizeof(msg) - 1; i += 2)
        memcpy(msg + i, "\xC3\xA9", 2);
    for (int shift = 0; shift < 2; shift++) {
        log_info("%.*s%s", shift, "a", msg);
        n = drain(buf, sizeof(buf));
        cr_assert_geq(n, 8);
        cr_expect_eq(strcmp(buf + n - 4, "...\n"), 0);
        body = n - 4 - 3 - (size_t) shift; /* minus "...\n", "<6>", "a" */
        cr_expect_eq(body % 2, 0, "shift %d: cut inside a character", shift);
        cr_expect_eq((unsigned char) buf[n - 5], 0xA9, "shift %d", shift);
    }
}

Test(log, control_characters_cannot_forge_lines, .init = setup_journal)
{
    char buf[256];

    log_warn("decode: bad topic %s", "a\n<0>forged\r\tx");
    drain(buf, sizeof(buf));
    cr_expect_str_eq(buf, "<4>decode: bad topic a <0>forged  x\n");
}

Test(log, ratelimit_counts_and_reports_suppressed, .init = setup_journal)
{
    struct ratelimit rl;
    char buf[1024];
    const unsigned burst = 3;
    const unsigned extra = 5;

    ratelimit_init(&rl, 60000, burst);
    for (unsigned i = 0; i < burst; i++)
        cr_expect(log_ratelimited(&rl, LOG_WARNING, "w %u", i));
    for (unsigned i = 0; i < extra; i++)
        cr_expect_not(log_ratelimited(&rl, LOG_WARNING, "hidden %u", i));
    drain(buf, sizeof(buf));
    cr_expect_str_eq(buf, "<4>w 0\n<4>w 1\n<4>w 2\n");

    /* One interval later exactly one more token is there. */
    rl.last_ms -= rl.interval_ms;
    cr_expect(log_ratelimited(&rl, LOG_WARNING, "back"));
    cr_expect_not(log_ratelimited(&rl, LOG_WARNING, "hidden"));
    drain(buf, sizeof(buf));
    cr_expect_str_eq(buf, "<4>back, 5 suppressed\n");

    /* The count restarts after it was reported. */
    rl.last_ms -= rl.interval_ms;
    cr_expect(log_ratelimited(&rl, LOG_WARNING, "again"));
    drain(buf, sizeof(buf));
    cr_expect_str_eq(buf, "<4>again, 1 suppressed\n");
    rl.last_ms -= rl.interval_ms;
    cr_expect(log_ratelimited(&rl, LOG_WARNING, "quiet"));
    drain(buf, sizeof(buf));
    cr_expect_str_eq(buf, "<4>quiet\n");
}

Test(log, ratelimit_refills_no_more_than_burst, .init = setup_journal)
{
    struct ratelimit rl;
    unsigned passed = 0;

    ratelimit_init(&rl, 1000, 2);
    /* Ten idle intervals still give only `burst` tokens. */
    rl.last_ms -= 10 * rl.interval_ms;
    for (int i = 0; i < 10; i++)
        passed += log_ratelimited(&rl, LOG_WARNING, "m") ? 1 : 0;
    cr_expect_eq(passed, 2);
}

Test(log, ratelimited_message_below_level_is_not_counted, .init = setup_journal)
{
    struct ratelimit rl;
    char buf[256];

    ratelimit_init(&rl, 60000, 1);
    log_set_level(LOG_WARNING);
    cr_expect_not(log_ratelimited(&rl, LOG_INFO, "filtered"));
    cr_expect_eq(rl.suppressed, 0);
    cr_expect_eq(rl.tokens, 1, "a filtered message takes no token");
    cr_expect(log_ratelimited(&rl, LOG_WARNING, "shown"));
    drain(buf, sizeof(buf));
    cr_expect_str_eq(buf, "<4>shown\n");
}

/* ---- threads ------------------------------------------------------------- */

#define N_THREADS        4
#define LINES_PER_THREAD 2000
#define PAD_LEN          300

/* Owner: the reader thread until it is joined. */
struct reader {
    int fd;
    char *buf;
    size_t cap;
    size_t len;
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;

    for (;;) {
        ssize_t n = read(r->fd, r->buf + r->len, r->cap - 1 - r->len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        r->len += (size_t) n;
    }
    r->buf[r->len] = '\0';
    return NULL;
}

static void *writer_main(void *arg)
{
    int id = (int) (intptr_t) arg;
    char pad[PAD_LEN + 1];

    memset(pad, 'a' + id, PAD_LEN);
    pad[PAD_LEN] = '\0';
    for (int i = 0; i < LINES_PER_THREAD; i++)
        log_info("t%d n%d %s", id, i, pad);
    return NULL;
}

/* Checks one line: "... info: tID nSEQ pad", in order per thread. */
static void check_line(const char *line, size_t len, int *next_seq)
{
    const char *rest = strstr(line, "Z info: t");
    int id;
    int seq;
    int used = 0;

    cr_assert_not_null(rest, "line without prefix: '%.60s'", line);
    cr_assert_eq(sscanf(rest, "Z info: t%d n%d %n", &id, &seq, &used), 2);
    cr_assert(id >= 0 && id < N_THREADS);
    cr_assert_eq(seq, next_seq[id], "thread %d: order or loss", id);
    next_seq[id]++;
    cr_assert_eq((size_t) (rest + used - line) + PAD_LEN, len,
                 "line of wrong length: '%.80s'", line);
    for (size_t i = 0; i < PAD_LEN; i++)
        cr_assert_eq(rest[(size_t) used + i], 'a' + id, "mixed line");
}

Test(log, concurrent_threads_write_whole_lines, .init = open_pipe)
{
    struct reader r = {.fd = pipe_rd, .cap = 8u << 20};
    pthread_t rd;
    pthread_t wr[N_THREADS];
    int next_seq[N_THREADS] = {0};
    size_t lines = 0;

    cr_assert_eq(unsetenv("JOURNAL_STREAM"), 0);
    log_init(LOG_INFO);
    r.buf = malloc(r.cap);
    cr_assert_not_null(r.buf);
    cr_assert_eq(fcntl(pipe_rd, F_SETFL, 0), 0, "the reader blocks");
    cr_assert_eq(pthread_create(&rd, NULL, reader_main, &r), 0);
    for (intptr_t i = 0; i < N_THREADS; i++)
        cr_assert_eq(pthread_create(&wr[i], NULL, writer_main, (void *) i), 0);
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(wr[i], NULL);
    close(pipe_wr); /* EOF for the reader */
    pthread_join(rd, NULL);

    for (char *s = r.buf; *s != '\0'; lines++) {
        char *nl = strchr(s, '\n');

        cr_assert_not_null(nl, "last line has no newline");
        check_line(s, (size_t) (nl - s), next_seq);
        s = nl + 1;
    }
    cr_expect_eq(lines, N_THREADS * LINES_PER_THREAD);
    for (int i = 0; i < N_THREADS; i++)
        cr_expect_eq(next_seq[i], LINES_PER_THREAD);
    free(r.buf);
}
