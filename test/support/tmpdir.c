/*
 * tmpdir.c - private temporary directories for tests (see tmpdir.h).
 *
 * Threads: any; tmpdir_remove() one call at a time (nftw()).
 * Memory: none.
 */
#include "tmpdir.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#define TMPDIR_FDS 16 /* nftw() descriptors: directories open at once */

int tmpdir_make(char *dir, size_t len, const char *prefix)
{
    int n = snprintf(dir, len, "/tmp/%s-XXXXXX", prefix);

    if (n < 0 || (size_t) n >= len)
        return -ENAMETOOLONG;
    return mkdtemp(dir) != NULL ? 0 : -errno;
}

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove(path) == 0 ? 0 : -1;
}

int tmpdir_remove(const char *dir)
{
    if (nftw(dir, remove_entry, TMPDIR_FDS, FTW_DEPTH | FTW_PHYS) != 0)
        return -errno;
    return 0;
}
