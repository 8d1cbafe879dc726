/*
 * sp_sandbox.c - runs a program under the parts of the sandbox of
 * systemd/sensorpipe.service that a test can build without systemd, so the
 * integration tests prove the daemon tolerates them:
 *
 *   UMask=0027                          umask(027)
 *   LimitCORE=0                         setrlimit(RLIMIT_CORE, 0)
 *   ProtectProc=invisible, ProcSubset=pid
 *                                       a private mount namespace with a
 *                                       new /proc (hidepid=invisible,
 *                                       subset=pid)
 *   User=                               setuid/setgid to SP_SANDBOX_UID,
 *                                       after giving it SP_SANDBOX_DIR
 *   NoNewPrivileges=yes                 PR_SET_NO_NEW_PRIVS
 *   SystemCallFilter=~@privileged @resources
 *                                       a seccomp filter that kills the
 *                                       process on any of those calls (the
 *                                       lists of systemd 252's
 *                                       `systemd-analyze syscall-filter`)
 *
 * Usage: SP_SANDBOX_EXEC=PROGRAM [SP_SANDBOX_UID=N SP_SANDBOX_DIR=DIR]
 *        sp-sandbox ARGV0 ARGS...   (argv is passed to PROGRAM as is, so
 *        the helper can stand in for the daemon's binary).
 * Exits 125 when a step cannot be set up (not root, no mount namespace).
 *
 * Threads: one. Memory: a few stack buffers.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SETUP_FAILED 125

#if defined(__x86_64__)
#define SANDBOX_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SANDBOX_ARCH AUDIT_ARCH_AARCH64
#endif

/* @privileged (with @chown @clock @module @raw-io @reboot @swap) and
 * @resources, as this architecture numbers them. */
static const long denied[] = {
#ifdef SYS__sysctl
    SYS__sysctl,
#endif
#ifdef SYS_acct
    SYS_acct,
#endif
#ifdef SYS_bpf
    SYS_bpf,
#endif
    SYS_capset,
    SYS_chroot,
#ifdef SYS_fanotify_init
    SYS_fanotify_init,
    SYS_fanotify_mark,
#endif
#ifdef SYS_nfsservctl
    SYS_nfsservctl,
#endif
    SYS_open_by_handle_at,
    SYS_pivot_root,
    SYS_quotactl,
#ifdef SYS_quotactl_fd
    SYS_quotactl_fd,
#endif
    SYS_setdomainname,
    SYS_setfsuid,
    SYS_setgroups,
    SYS_sethostname,
    SYS_setresuid,
    SYS_setreuid,
    SYS_setuid,
    SYS_vhangup,
#ifdef SYS_chown
    SYS_chown,
#endif
    SYS_fchown,
    SYS_fchownat,
#ifdef SYS_lchown
    SYS_lchown,
#endif
    SYS_adjtimex,
    SYS_clock_adjtime,
    SYS_clock_settime,
    SYS_settimeofday,
    SYS_delete_module,
    SYS_finit_module,
    SYS_init_module,
#ifdef SYS_ioperm
    SYS_ioperm,
    SYS_iopl,
#endif
    SYS_kexec_load,
#ifdef SYS_kexec_file_load
    SYS_kexec_file_load,
#endif
    SYS_reboot,
    SYS_swapoff,
    SYS_swapon,
    SYS_ioprio_set,
    SYS_mbind,
    SYS_migrate_pages,
    SYS_move_pages,
#ifdef SYS_nice
    SYS_nice,
#endif
    SYS_sched_setaffinity,
    SYS_sched_setattr,
    SYS_sched_setparam,
    SYS_sched_setscheduler,
    SYS_set_mempolicy,
#ifdef SYS_set_mempolicy_home_node
    SYS_set_mempolicy_home_node,
#endif
    SYS_setpriority,
    SYS_setrlimit,
};

#define N_DENIED   (sizeof(denied) / sizeof(denied[0]))
#define FILTER_MAX (4 + 2 * N_DENIED)

static int fail(const char *what)
{
    fprintf(stderr, "sp-sandbox: %s: %s\n", what, strerror(errno));
    return SETUP_FAILED;
}

/* Kills the process on a denied call; every other call is allowed. */
static int install_filter(void)
{
    struct sock_filter f[FILTER_MAX];
    struct sock_fprog prog;
    unsigned short n = 0;

#ifdef SANDBOX_ARCH
    f[n++] = (struct sock_filter) BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                           offsetof(struct seccomp_data, arch));
    f[n++] = (struct sock_filter) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
                                           SANDBOX_ARCH, 1, 0);
    f[n++] = (struct sock_filter) BPF_STMT(BPF_RET | BPF_K,
                                           SECCOMP_RET_KILL_PROCESS);
#endif
    f[n++] = (struct sock_filter) BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                           offsetof(struct seccomp_data, nr));
    for (size_t i = 0; i < N_DENIED; i++) {
        f[n++] = (struct sock_filter) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
                                               (unsigned) denied[i], 0, 1);
        f[n++] = (struct sock_filter) BPF_STMT(BPF_RET | BPF_K,
                                               SECCOMP_RET_KILL_PROCESS);
    }
    f[n++] = (struct sock_filter) BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    prog.len = n;
    prog.filter = f;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return fail("no_new_privs");
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
        return fail("seccomp");
    return 0;
}

/* A private /proc that shows only this user's processes and no system
 * files, as ProtectProc=invisible and ProcSubset=pid do. */
static int private_proc(void)
{
    if (unshare(CLONE_NEWNS) < 0)
        return fail("unshare");
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return fail("mount private");
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "hidepid=invisible,subset=pid") < 0)
        return fail("mount proc");
    return 0;
}

/* Gives dir and its entries to uid, then becomes uid. */
static int become(const char *uid_text, const char *dir)
{
    uid_t uid = (uid_t) strtoul(uid_text, NULL, 10);
    char path[512];
    struct dirent *e;
    DIR *d = opendir(dir);

    if (d == NULL)
        return fail(dir);
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (lchown(path, uid, (gid_t) uid) < 0)
            (void) fprintf(stderr, "sp-sandbox: chown %s: %s\n", path,
                           strerror(errno));
    }
    closedir(d);
    if (setgroups(0, NULL) < 0 || setgid((gid_t) uid) < 0 || setuid(uid) < 0)
        return fail("setuid");
    return 0;
}

int main(int argc, char **argv)
{
    const char *prog = getenv("SP_SANDBOX_EXEC");
    const char *uid = getenv("SP_SANDBOX_UID");
    const char *dir = getenv("SP_SANDBOX_DIR");
    struct rlimit no_core = {0, 0};
    int rc;

    if (prog == NULL || argc < 1) {
        fprintf(stderr, "sp-sandbox: SP_SANDBOX_EXEC is not set\n");
        return SETUP_FAILED;
    }
    umask(027);
    if (setrlimit(RLIMIT_CORE, &no_core) < 0)
        return fail("setrlimit");
    rc = private_proc();
    if (rc == 0 && uid != NULL && dir != NULL)
        rc = become(uid, dir);
    if (rc == 0)
        rc = install_filter();
    if (rc != 0)
        return rc;
    execv(prog, argv);
    return fail(prog);
}
