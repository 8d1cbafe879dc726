/*
 * broker.c - a private mosquitto on a free 127.0.0.1 port (test support).
 *
 * Threads: the test's thread only.
 * Invariants: pid is a child this file spawned and has not reaped yet, or
 *             0; nothing else is ever signalled.
 * Memory: none kept. Children are started with fork() and execv(): the
 * system <spawn.h> is shadowed by test/support/spawn.h on the include path.
 */
#include "broker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "logfile.h"
#include "tmpdir.h"
#include "wait.h"

#define MOSQUITTO      "/usr/sbin/mosquitto"
#define MOSQUITTO_PASS "mosquitto_passwd"
#define START_TRIES    5
#define READY_MS       10000
#define STOP_MS        5000
#define STEP_MS        10

static void loopback(struct sockaddr_in *sa, int port)
{
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t) port);
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

int broker_free_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int port = -EIO;

    if (fd < 0)
        return -errno;
    loopback(&sa, 0);
    if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
        getsockname(fd, (struct sockaddr *) &sa, &len) < 0)
        port = -errno;
    else
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

bool broker_port_accepts(int port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok;

    if (fd < 0)
        return false;
    loopback(&sa, port);
    ok = connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

static int write_conf(const struct broker *b, const char *extra)
{
    FILE *f = fopen(b->conf, "w");

    if (f == NULL)
        return -errno;
    fprintf(f,
            "listener %d 127.0.0.1\n"
            "allow_anonymous true\n"
            "max_queued_messages 0\n"
            "max_inflight_messages 0\n"
            "max_queued_bytes 0\n"
            "max_inflight_bytes 0\n"
            "persistence true\n"
            "persistence_location %s/\n"
            "log_dest file %s\n",
            b->port, b->dir, b->log);
    /* mosquitto 2.0 started as root switches to user "mosquitto", which
     * cannot write this directory; `user root` keeps it as it is. */
    if (geteuid() == 0)
        fprintf(f, "user root\n");
    if (extra != NULL)
        fprintf(f, "%s\n", extra);
    return fclose(f) == 0 ? 0 : -errno;
}

/*
 * Runs argv[0] with stdin on /dev/null and stdout (and stderr, when
 * both) appended to out; every other descriptor closed; SIGTERM when the
 * test process dies. In the child only async-signal-safe calls run.
 */
static int run_child(char *const argv[], const char *out, bool both, pid_t *pid)
{
    pid_t parent = getpid();
    pid_t p = fork();
    int fd;

    if (p < 0)
        return -errno;
    if (p == 0) {
        /* A test process that dies without its teardown takes the broker
         * with it. */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
            _exit(126);
        fd = open("/dev/null", O_RDONLY);
        if (fd >= 0 && fd != 0)
            dup2(fd, 0);
        fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            if (both)
                dup2(fd, 2);
        }
        close_range(3, ~0u, 0);
        execvp(argv[0], argv);
        _exit(127);
    }
    *pid = p;
    return 0;
}

static int spawn(struct broker *b)
{
    char *argv[] = {MOSQUITTO, "-c", b->conf, NULL};
    int rc = run_child(argv, b->out, true, &b->pid);

    if (rc < 0)
        b->pid = 0;
    return rc;
}

static bool out_says(const struct broker *b, const char *needle)
{
    char buf[4096];
    size_t n;
    FILE *f = fopen(b->out, "r");

    if (f == NULL)
        return false;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strstr(buf, needle) != NULL;
}

/* Waits until the port accepts or the child exits. */
static int wait_ready(struct broker *b)
{
    uint64_t deadline = wait_now_ms() + READY_MS;
    int status;

    while (wait_now_ms() < deadline) {
        if (waitpid(b->pid, &status, WNOHANG) == b->pid) {
            b->pid = 0;
            return out_says(b, "Address already in use") ? -EADDRINUSE : -EIO;
        }
        if (broker_port_accepts(b->port))
            return 0;
        wait_nap_ms(STEP_MS);
    }
    (void) broker_kill(b);
    return -ETIMEDOUT;
}

int broker_start(struct broker *b, const char *extra_conf)
{
    int rc = -EADDRINUSE;

    memset(b, 0, sizeof(*b));
    rc = tmpdir_make(b->dir, sizeof(b->dir), "sp-broker");
    if (rc < 0)
        return rc;
    rc = -EADDRINUSE;
    snprintf(b->conf, sizeof(b->conf), "%s/mosquitto.conf", b->dir);
    snprintf(b->log, sizeof(b->log), "%s/mosquitto.log", b->dir);
    snprintf(b->out, sizeof(b->out), "%s/stdout.log", b->dir);
    for (int i = 0; i < START_TRIES && rc == -EADDRINUSE; i++) {
        b->port = broker_free_port();
        if (b->port < 0)
            return b->port;
        rc = write_conf(b, extra_conf);
        if (rc == 0)
            rc = spawn(b);
        if (rc == 0)
            rc = wait_ready(b);
    }
    return rc;
}

static int reap(struct broker *b, int sig, int timeout_ms)
{
    uint64_t deadline = wait_now_ms() + (uint64_t) timeout_ms;
    int status;

    if (kill(b->pid, sig) < 0 && errno != ESRCH)
        return -errno;
    while (waitpid(b->pid, &status, WNOHANG) != b->pid) {
        if (wait_now_ms() >= deadline)
            return -ETIMEDOUT;
        wait_nap_ms(STEP_MS / 2);
    }
    b->pid = 0;
    return 0;
}

int broker_halt(struct broker *b)
{
    int rc;

    if (b->pid <= 0)
        return 0;
    rc = reap(b, SIGTERM, STOP_MS);
    if (rc == -ETIMEDOUT)
        rc = broker_kill(b);
    return rc;
}

int broker_kill(struct broker *b)
{
    if (b->pid <= 0)
        return 0;
    return reap(b, SIGKILL, STOP_MS);
}

int broker_restart(struct broker *b)
{
    int rc = broker_halt(b);

    if (rc == 0)
        rc = spawn(b);
    if (rc == 0)
        rc = wait_ready(b);
    return rc;
}

int broker_stop(struct broker *b)
{
    int rc = broker_halt(b);

    if (b->dir[0] != '\0') {
        int rm = tmpdir_remove(b->dir);

        if (rm < 0 && rc == 0)
            rc = rm;
    }
    b->dir[0] = '\0';
    return rc;
}

int broker_log_count(const struct broker *b, const char *needle)
{
    return logfile_count(b->log, needle);
}

int broker_passwd(const char *file, const char *user, const char *password,
                  int create)
{
    char f[BROKER_PATH_MAX];
    char u[128];
    char p[128];
    char *argv[] = {MOSQUITTO_PASS, "-b", "-c", f, u, p, NULL};
    char *argv_add[] = {MOSQUITTO_PASS, "-b", f, u, p, NULL};
    pid_t pid = 0;
    int status;
    int rc;

    snprintf(f, sizeof(f), "%s", file);
    snprintf(u, sizeof(u), "%s", user);
    snprintf(p, sizeof(p), "%s", password);
    rc = run_child(create ? argv : argv_add, "/dev/null", false, &pid);
    if (rc < 0)
        return rc;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
        return -EIO;
    return 0;
}
