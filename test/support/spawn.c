/*
 * spawn.c - daemon processes for integration tests (see spawn.h).
 *
 * Threads: the test's main thread only. Memory: test code, allocates freely.
 */
#include "spawn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "broker.h"
#include "files.h"
#include "logfile.h"
#include "wait.h"

extern char **environ;

const char *spawn_binary(void)
{
    const char *b = getenv("SP_DAEMON");

    return b && *b ? b : "build/debug/sensorpipe";
}

int spawn_init(struct spawn *s)
{
    struct sockaddr_un sa;

    memset(s, 0, sizeof(*s));
    s->pid = -1;
    snprintf(s->dir, sizeof(s->dir), "/tmp/sp-test-XXXXXX");
    if (mkdtemp(s->dir) == NULL)
        return -errno;
    snprintf(s->conf_path, sizeof(s->conf_path), "%s/sp.conf", s->dir);
    snprintf(s->db_path, sizeof(s->db_path), "%s/sp.db", s->dir);
    snprintf(s->log_path, sizeof(s->log_path), "%s/sp.log", s->dir);
    snprintf(s->notify_path, sizeof(s->notify_path), "%s/notify", s->dir);
    s->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s->notify_fd < 0)
        return -errno;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(s->notify_path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    memcpy(sa.sun_path, s->notify_path, strlen(s->notify_path) + 1);
    if (bind(s->notify_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
        return -errno;
    return 0;
}

static void child(struct spawn *s, const char *const *env)
{
    char notify[256];
    int fd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);

    if (fd >= 0) {
        dup2(fd, 2);
        dup2(fd, 1);
    }
    snprintf(notify, sizeof(notify), "NOTIFY_SOCKET=%s", s->notify_path);
    putenv(notify);
    unsetenv("JOURNAL_STREAM");
    for (size_t i = 0; env && env[i]; i++)
        putenv((char *) (uintptr_t) env[i]);
    execl(spawn_binary(), "sensorpipe", "-c", s->conf_path, (char *) NULL);
    fprintf(stderr, "spawn: exec %s: %s\n", spawn_binary(), strerror(errno));
    _exit(127);
}

int spawn_start(struct spawn *s, const char *conf_text, const char *const *env)
{
    int rc = files_write(s->conf_path, conf_text, 0644);

    if (rc < 0)
        return rc;
    s->pid = fork();
    if (s->pid < 0)
        return -errno;
    if (s->pid == 0)
        child(s, env);
    return 0;
}

/* Reads every pending datagram into notes. */
static void drain_notes(struct spawn *s)
{
    char buf[4096];
    ssize_t n;

    while ((n = recv(s->notify_fd, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
        size_t len = (size_t) n;
        if (s->notes_len + len + 2 >= sizeof(s->notes))
            s->notes_len = 0; /* keep the newest; tests wait for new ones */
        memcpy(s->notes + s->notes_len, buf, len);
        s->notes_len += len;
        s->notes[s->notes_len++] = '\n';
        s->notes[s->notes_len] = '\0';
    }
}

int spawn_wait_notify(struct spawn *s, const char *needle, int timeout_ms)
{
    int64_t deadline = (int64_t) wait_now_ms() + timeout_ms;

    for (;;) {
        struct pollfd p = {.fd = s->notify_fd, .events = POLLIN};
        int64_t left;
        drain_notes(s);
        if (s->notes_len && strstr(s->notes, needle))
            return 0;
        left = deadline - (int64_t) wait_now_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        (void) poll(&p, 1, (int) (left > 100 ? 100 : left));
    }
}

void spawn_clear_notes(struct spawn *s)
{
    drain_notes(s);
    s->notes_len = 0;
    s->notes[0] = '\0';
}

static int decode_status(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return 128 + WTERMSIG(st);
}

int spawn_wait_exit(struct spawn *s, int timeout_ms)
{
    int64_t deadline = (int64_t) wait_now_ms() + timeout_ms;
    int st;

    if (s->pid <= 0)
        return -ECHILD;
    for (;;) {
        pid_t r;
        /* A daemon whose notify datagrams nobody reads blocks in
         * sd_notify() once the socket's queue is full (10 by default,
         * net.unix.max_dgram_qlen), and then cannot stop. */
        drain_notes(s);
        r = waitpid(s->pid, &st, WNOHANG);
        if (r == s->pid) {
            s->pid = -1;
            return decode_status(st);
        }
        /* The notify socket queues only net.unix.max_dgram_qlen (10)
         * datagrams and sd_notify() blocks on a full one: keep reading,
         * or the daemon's loop hangs in a WATCHDOG=1 and never stops. */
        drain_notes(s);
        if ((int64_t) wait_now_ms() >= deadline) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &st, 0);
            s->pid = -1;
            return -ETIMEDOUT;
        }
        usleep(2000);
    }
}

int spawn_stop(struct spawn *s, int sig, int timeout_ms)
{
    if (s->pid <= 0)
        return -ECHILD;
    kill(s->pid, sig);
    return spawn_wait_exit(s, timeout_ms);
}

static char *read_log(const struct spawn *s)
{
    FILE *f = fopen(s->log_path, "r");
    char *buf;
    long n;

    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = calloc(1, (size_t) n + 1);
    if (buf && fread(buf, 1, (size_t) n, f) != (size_t) n)
        buf[0] = '\0';
    fclose(f);
    return buf;
}

bool spawn_log_contains(const struct spawn *s, const char *needle)
{
    char *log = read_log(s);
    bool found = log && strstr(log, needle);

    free(log);
    return found;
}

int spawn_log_count(const struct spawn *s, const char *needle)
{
    int n = logfile_count(s->log_path, needle);

    return n < 0 ? 0 : n; /* no log yet: nothing said yet */
}

/* The first line of a small file, without its newline; "?" when unreadable. */
static void read_line(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");

    snprintf(buf, len, "?");
    if (f == NULL)
        return;
    if (fgets(buf, (int) len, f) != NULL)
        buf[strcspn(buf, "\n")] = '\0';
    fclose(f);
}

/* One line per thread of a running daemon: name, state, wait channel. A
 * stall then shows where each thread waits. */
static void dump_threads(pid_t pid)
{
    char path[320];
    char name[64];
    char wchan[64];
    DIR *dir;
    struct dirent *de;

    snprintf(path, sizeof(path), "/proc/%d/task", (int) pid);
    dir = opendir(path);
    if (dir == NULL)
        return;
    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/%d/task/%s/comm", (int) pid,
                 de->d_name);
        read_line(path, name, sizeof(name));
        snprintf(path, sizeof(path), "/proc/%d/task/%s/wchan", (int) pid,
                 de->d_name);
        read_line(path, wchan, sizeof(wchan));
        fprintf(stderr, "thread %s %s: waits in %s\n", de->d_name, name, wchan);
    }
    closedir(dir);
}

void spawn_dump_log(const struct spawn *s)
{
    char *log = read_log(s);

    fprintf(stderr, "---- daemon log %s ----\n%s---- end ----\n", s->log_path,
            log ? log : "(none)\n");
    free(log);
    if (s->pid > 0)
        dump_threads(s->pid);
}

void spawn_cleanup(struct spawn *s)
{
    char cmd[256];

    if (s->pid > 0)
        (void) spawn_stop(s, SIGKILL, 5000);
    if (s->notify_fd > 0)
        close(s->notify_fd);
    s->notify_fd = -1;
    if (s->dir[0] && !getenv("SP_KEEP_TMP")) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "spawn: could not remove %s\n", s->dir);
    }
}

int spawn_suite_init(struct spawn *s, struct broker *b)
{
    int rc = b != NULL ? broker_start(b, NULL) : 0;

    return rc < 0 ? rc : spawn_init(s);
}

void spawn_suite_fini(struct spawn *s, struct broker *b)
{
    if (s->pid > 0)
        spawn_dump_log(s);
    spawn_cleanup(s);
    if (b != NULL)
        (void) broker_stop(b);
}

/* The first column of sql's first row; text, when not NULL, bound to ?1. */
static int64_t query(const char *db_path, const char *sql, const char *text,
                     double *dv)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = INT64_MIN;

    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        goto out;
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "db: %s: %s\n", sql, sqlite3_errmsg(db));
        goto out;
    }
    if (text != NULL)
        sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW &&
        sqlite3_column_type(st, 0) != SQLITE_NULL) {
        v = sqlite3_column_int64(st, 0);
        if (dv)
            *dv = sqlite3_column_double(st, 0);
    }
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

int64_t db_int(const char *db_path, const char *sql)
{
    return query(db_path, sql, NULL, NULL);
}

double db_double(const char *db_path, const char *sql)
{
    double v = -1e300;

    (void) query(db_path, sql, NULL, &v);
    return v;
}

int spawn_wait_log(const struct spawn *s, const char *needle, int count,
                   int timeout_ms)
{
    int64_t deadline = (int64_t) wait_now_ms() + timeout_ms;

    while (spawn_log_count(s, needle) < count) {
        if ((int64_t) wait_now_ms() >= deadline)
            return -ETIMEDOUT;
        usleep(5000);
    }
    return 0;
}

int spawn_start_ready(struct spawn *s, const char *conf_text,
                      const char *const *env, int timeout_ms)
{
    int rc;

    spawn_clear_notes(s);
    rc = spawn_start(s, conf_text, env);
    if (rc == 0)
        rc = spawn_wait_notify(s, "READY=1", timeout_ms);
    if (rc == 0)
        rc = spawn_wait_notify(s, "subscribed", timeout_ms);
    return rc;
}

int64_t spawn_stored(const struct spawn *s, int res_s)
{
    char sql[128];

    snprintf(sql, sizeof(sql),
             "SELECT coalesce(sum(count), 0) FROM rollups WHERE "
             "resolution_s = %d",
             res_s);
    int64_t n = db_int(s->db_path, sql);
    return n < 0 ? 0 : n;
}

int spawn_await_stored(struct spawn *s, int res_s, int64_t want, int timeout_ms)
{
    int64_t deadline = (int64_t) wait_now_ms() + timeout_ms;

    while (spawn_stored(s, res_s) < want) {
        if ((int64_t) wait_now_ms() >= deadline)
            return -ETIMEDOUT;
        drain_notes(s); /* see spawn_wait_exit() */
        usleep(10000);
    }
    return 0;
}

int64_t spawn_stored_on(const struct spawn *s, const char *topic, int res_s)
{
    char sql[192];

    snprintf(sql, sizeof(sql),
             "SELECT coalesce(sum(r.count), 0) FROM rollups r JOIN series s "
             "ON s.id = r.series_id WHERE s.topic = ?1 AND "
             "r.resolution_s = %d",
             res_s);
    int64_t n = query(s->db_path, sql, topic, NULL);
    return n < 0 ? 0 : n;
}

int spawn_await_stored_on(struct spawn *s, const char *topic, int res_s,
                          int64_t want, int timeout_ms)
{
    int64_t deadline = (int64_t) wait_now_ms() + timeout_ms;

    while (spawn_stored_on(s, topic, res_s) < want) {
        if ((int64_t) wait_now_ms() >= deadline)
            return -ETIMEDOUT;
        drain_notes(s); /* see spawn_wait_exit() */
        usleep(10000);
    }
    return 0;
}

long spawn_status_kib(const struct spawn *s, const char *field)
{
    char path[64];
    char line[256];
    size_t n = strlen(field);
    long kib = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int) s->pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            kib = strtol(line + n + 1, NULL, 10);
    fclose(f);
    return kib;
}

int64_t spawn_stat(const struct spawn *s, const char *name)
{
    char sql[160];

    snprintf(sql, sizeof(sql),
             "SELECT %s FROM ingest_stats ORDER BY ts_ms DESC LIMIT 1", name);
    return db_int(s->db_path, sql);
}

const char *spawn_sanitizer(void)
{
    static char buf[1 << 16];
    const char *found = NULL;
    FILE *f = fopen(spawn_binary(), "rb");
    size_t n;

    if (f == NULL)
        return NULL;
    while (found == NULL && (n = fread(buf, 1, sizeof(buf), f)) > 0) {
        if (memmem(buf, n, "__asan_init", 11) != NULL)
            found = "ASan";
        else if (memmem(buf, n, "__tsan_init", 11) != NULL)
            found = "TSan";
        if (n == sizeof(buf))
            fseek(f, -16, SEEK_CUR); /* a name across the boundary */
    }
    fclose(f);
    return found;
}
