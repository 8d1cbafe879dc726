/*
 * files.c - see files.h.
 */
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int files_write(const char *path, const char *text, mode_t mode)
{
    size_t len = strlen(text);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    int rc = 0;

    if (fd < 0)
        return -errno;
    if (write(fd, text, len) != (ssize_t) len)
        rc = errno ? -errno : -EIO;
    else if (fchmod(fd, mode) != 0)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    return rc;
}

int files_run(const char *cmd, char *out, size_t len)
{
    char full[PATH_MAX + 256];
    FILE *f;
    size_t n;
    int st;

    if ((size_t) snprintf(full, sizeof(full), "%s 2>&1", cmd) >= sizeof(full))
        return -ENAMETOOLONG;
    f = popen(full, "r");
    if (f == NULL)
        return errno ? -errno : -ENOMEM;
    n = fread(out, 1, len - 1, f);
    out[n] = '\0';
    st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
