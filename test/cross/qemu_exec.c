/*
 * qemu_exec.c - LD_PRELOAD shim for foreign test binaries run under
 * qemu-user where binfmt_misc does not hand foreign ELF files to qemu:
 * an execve() of an aarch64 program goes to qemu again instead of failing
 * with ENOEXEC. Criterion (BoxFort) re-executes its own binary for every
 * test, so the cross-built unit tests need this.
 *
 * SP_QEMU names the emulator (qemu-aarch64). At load the shim takes the
 * guest's LD_PRELOAD and LD_LIBRARY_PATH out of the environment (they name
 * aarch64 libraries, which native programs such as the broker, openssl or
 * a shell cannot load) and hands them to each new guest with -E.
 * Test support only; never linked into sensorpipe.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ARGS 256
#define VAR_MAX  4096

typedef int execve_fn(const char *, char *const[], char *const[]);

static char preload[VAR_MAX];
static char libpath[VAR_MAX];

static void keep(const char *name, char *buf)
{
    const char *v = getenv(name);

    if (v != NULL) {
        snprintf(buf, VAR_MAX, "%s=%s", name, v);
        unsetenv(name);
    }
}

__attribute__((constructor)) static void take_guest_vars(void)
{
    keep("LD_PRELOAD", preload);
    keep("LD_LIBRARY_PATH", libpath);
}

static int foreign_elf(const char *path)
{
    unsigned char h[20];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return 0;
    n = read(fd, h, sizeof(h));
    close(fd);
    return n == (ssize_t) sizeof(h) && memcmp(h, "\177ELF", 4) == 0 &&
           h[18] == 0xb7 && h[19] == 0; /* EM_AARCH64 */
}

int execve(const char *path, char *const argv[], char *const envp[])
{
    const char *qemu = getenv("SP_QEMU");
    execve_fn *real;
    char *args[MAX_ARGS];
    size_t n = 0;

    *(void **) &real = dlsym(RTLD_NEXT, "execve");
    if (qemu == NULL || !foreign_elf(path))
        return real(path, argv, envp);
    args[n++] = (char *) (uintptr_t) qemu;
    args[n++] = (char *) "-L";
    args[n++] = (char *) "/";
    if (argv[0] != NULL) {
        args[n++] = (char *) "-0";
        args[n++] = argv[0];
    }
    if (preload[0]) {
        args[n++] = (char *) "-E";
        args[n++] = preload;
    }
    if (libpath[0]) {
        args[n++] = (char *) "-E";
        args[n++] = libpath;
    }
    args[n++] = (char *) (uintptr_t) path;
    for (size_t i = 1; argv[0] != NULL && argv[i] != NULL && n < MAX_ARGS - 1;
         i++)
        args[n++] = argv[i];
    args[n] = NULL;
    return execvpe(qemu, args, envp);
}
