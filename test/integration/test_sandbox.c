/*
 * test_sandbox.c - the daemon under the unit's sandbox, as far as a test
 * can build it without systemd (test/sandbox/sp_sandbox.c): the system call
 * filter (~@privileged @resources, killing on a denied call), UMask=0027,
 * LimitCORE=0, ProtectProc=invisible, ProcSubset=pid, NoNewPrivileges and
 * an unprivileged user. The daemon starts, stores, reloads and stops
 * cleanly inside it; the store it creates is readable (read-only, as a
 * dashboard opens it) by a member of its group and by no one else; and
 * the helper really denies what it claims to (nice(1), which calls
 * setpriority, dies, /proc/meminfo is gone), so a pass means something.
 *
 * Skips when not root (the helper needs a mount namespace and setuid) and
 * for sanitizer builds (their runtimes call setrlimit at start, which the
 * unit would refuse too: they are never run under it).
 *
 * Threads: each test runs in its own process (Criterion); one thread.
 * Memory: test code; allocates freely.
 */
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "broker.h"
#include "pub.h"
#include "spawn.h"
#include "wait.h"

#define WAIT_MS       20000
#define SANDBOX_UID   "65534"
#define SANDBOX_GID   65534u /* the helper sets gid = uid */
#define SANDBOX_SETUP 125

static struct broker broker;
static struct spawn sp;
static char helper[512];

static void need_sandbox(void)
{
    const char *tools = getenv("SP_TOOLS");

    if (geteuid() != 0)
        cr_skip_test("not root: the sandbox helper needs a mount namespace");
    snprintf(helper, sizeof(helper), "%s/test/sandbox/sp-sandbox",
             tools && *tools ? tools : "build/debug");
    cr_assert_eq(access(helper, X_OK), 0, "%s not built", helper);
}

static void setup(void)
{
    cr_assert_eq(spawn_suite_init(&sp, &broker), 0, "broker or spawn start");
}

static void teardown(void)
{
    spawn_suite_fini(&sp, &broker);
}

TestSuite(sandbox, .init = setup, .fini = teardown, .timeout = 60);

/* Runs `sh -c script` inside the helper; returns its status as spawn.c
 * decodes one (128 + signal when killed). */
static int sandboxed_shell(const char *script)
{
    char cmd[1024];
    int st;

    snprintf(cmd, sizeof(cmd),
             "SP_SANDBOX_EXEC=/bin/sh '%s' -c '%s' 2>/dev/null", helper,
             script);
    st = system(cmd);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    /* system() runs /bin/sh, which reports a killed child as 128 + sig. */
    return WEXITSTATUS(st);
}

Test(sandbox, helper_denies_what_the_unit_denies)
{
    need_sandbox();
    cr_assert_eq(sandboxed_shell("exit 0"), 0, "the helper cannot set up");
    /* nice(1) calls setpriority (@resources): killed with SIGSYS. */
    cr_expect_eq(sandboxed_shell("exec nice -n 1 true"), 128 + SIGSYS);
    /* ProcSubset=pid: no system files under /proc. */
    cr_expect_neq(sandboxed_shell("test -r /proc/meminfo"), 0);
    cr_expect_eq(sandboxed_shell("test -r /proc/self/status"), 0);
    cr_expect_eq(sandboxed_shell("test \"$(umask)\" = 0027"), 0);
}

/* The unit sets what the helper emulates: if one goes, this fails. */
Test(sandbox_unit, unit_sets_what_the_helper_emulates)
{
    static const char *const lines[] = {
        "\nSystemCallFilter=@system-service\n",
        "\nSystemCallFilter=~@privileged @resources\n",
        "\nUMask=0027\n",
        "\nLimitCORE=0\n",
        "\nProtectProc=invisible\n",
        "\nProcSubset=pid\n",
        "\nNoNewPrivileges=yes\n",
        "\nUser=sensorpipe\n",
    };
    char unit[8192];
    FILE *f = fopen("systemd/sensorpipe.service", "r");
    size_t n;

    cr_assert(f != NULL, "run from the source tree");
    n = fread(unit, 1, sizeof(unit) - 1, f);
    fclose(f);
    unit[n] = '\0';
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        cr_expect(strstr(unit, lines[i]) != NULL, "unit lacks %s", lines[i]);
}

/*
 * In a child with uid 4321 and group gid: opens the store read-only, as a
 * dashboard does, and counts its rollups. Returns the count, or -1 when the
 * store cannot be read.
 */
static int count_as_reader(const char *db_path, gid_t gid)
{
    pid_t pid = fork();
    int st;

    if (pid == 0) {
        sqlite3 *db = NULL;
        sqlite3_stmt *q = NULL;
        int n = -1;

        if (setgroups(0, NULL) == 0 && setgid(gid) == 0 && setuid(4321) == 0 &&
            sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) ==
                SQLITE_OK &&
            sqlite3_prepare_v2(db, "SELECT count(*) FROM rollups", -1, &q,
                               NULL) == SQLITE_OK &&
            sqlite3_step(q) == SQLITE_ROW)
            n = sqlite3_column_int(q, 0) > 0 ? 1 : 0;
        _exit(n < 0 ? 2 : n);
    }
    cr_assert_gt(pid, 0);
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st));
    return WEXITSTATUS(st) == 2 ? -1 : WEXITSTATUS(st);
}

static void make_conf(char *buf, size_t len)
{
    int n = snprintf(buf, len,
                     "[mqtt]\nhost = 127.0.0.1\nport = %d\n"
                     "client_id = sp-sandbox-%d\n"
                     "[subscription s]\ntopic = s/#\nqos = 1\n"
                     "format = json\n"
                     "[pipeline]\nworkers = 2\nring_bytes = 1MiB\n"
                     "max_series = 1000\n"
                     "[store]\npath = %s\ncommit_interval_ms = 100ms\n"
                     "[log]\nstats_interval_s = 1s\n",
                     broker.port, (int) getpid(), sp.db_path);

    cr_assert(n > 0 && (size_t) n < len);
}

static mode_t mode_of(const char *path)
{
    struct stat st;

    cr_assert_eq(stat(path, &st), 0, "%s is missing", path);
    return st.st_mode & 07777;
}

Test(sandbox, daemon_runs_stores_reloads_and_stops_inside_the_unit_sandbox)
{
    const char *real = spawn_binary();
    const char *san = spawn_sanitizer();
    char conf[2048];
    char env_exec[600];
    char env_dir[200];
    char wal[256];
    const char *env[] = {env_exec, "SP_SANDBOX_UID=" SANDBOX_UID, env_dir,
                         NULL};
    struct pub *pub = NULL;

    need_sandbox();
    if (san != NULL)
        cr_skip_test("%s runtime calls setrlimit: not run under the unit", san);
    snprintf(env_exec, sizeof(env_exec), "SP_SANDBOX_EXEC=%s", real);
    snprintf(env_dir, sizeof(env_dir), "SP_SANDBOX_DIR=%s", sp.dir);
    make_conf(conf, sizeof(conf));
    /* StateDirectoryMode=0750: the group may enter. */
    cr_assert_eq(chmod(sp.dir, 0750), 0);
    cr_assert_eq(setenv("SP_DAEMON", helper, 1), 0);
    cr_assert_eq(spawn_start_ready(&sp, conf, env, WAIT_MS), 0,
                 "daemon did not become ready inside the sandbox");
    cr_assert_eq(spawn_wait_notify(&sp, "subscribed", WAIT_MS), 0);
    cr_assert_eq(pub_open(&pub, broker.port, "sandbox-pub", 1), 0);
    for (int i = 0; i < 50; i++)
        cr_assert_eq(pub_sendf(pub, "s/dev1", "{\"t\":%d}", i), 0);
    cr_assert_eq(pub_wait_acked(pub, WAIT_MS), 0);
    pub_close(pub);
    cr_assert_eq(spawn_await_stored(&sp, 10, 50, WAIT_MS), 0,
                 "samples not stored inside the sandbox");
    /* UMask=0027: the store and its WAL are not readable by others. */
    snprintf(wal, sizeof(wal), "%s-wal", sp.db_path);
    cr_expect_eq(mode_of(sp.db_path), 0640, "store mode %o",
                 (unsigned) mode_of(sp.db_path));
    cr_expect_eq(mode_of(wal), 0640, "WAL mode %o", (unsigned) mode_of(wal));
    /* A dashboard in the daemon's group reads it read-only (its -shm is
     * read-only to it too); anyone else cannot. */
    cr_expect_eq(count_as_reader(sp.db_path, SANDBOX_GID), 1,
                 "a reader in the daemon's group cannot read the store");
    cr_expect_eq(count_as_reader(sp.db_path, SANDBOX_GID + 1), -1,
                 "a reader outside the daemon's group reads the store");
    cr_assert_eq(kill(sp.pid, SIGHUP), 0);
    cr_assert_eq(spawn_wait_log(&sp, "config: reloaded", 1, WAIT_MS), 0,
                 "no reload inside the sandbox");
    cr_expect_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0,
                 "daemon did not stop cleanly (128 + 31 = SIGSYS: a denied "
                 "system call; 125: the helper could not set up)");
}
