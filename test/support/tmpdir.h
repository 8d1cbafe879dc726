/*
 * tmpdir.h - private temporary directories for tests (test support).
 *
 * tmpdir_make() creates a fresh directory under /tmp named after the test;
 * tmpdir_remove() deletes it with everything below it, following no
 * symbolic link.
 *
 * Threads: any (nftw() is not reentrant across threads: one remove at a
 * time). Memory: none; the caller owns the name buffer.
 */
#ifndef SP_TMPDIR_H
#define SP_TMPDIR_H

#include <stddef.h>

#include "compiler.h"

/*
 * Makes the directory "/tmp/<prefix>-XXXXXX" (mkdtemp) and writes its name
 * into dir (len bytes).
 * Returns: 0; -ENAMETOOLONG when the name does not fit; -errno.
 * Thread: any.
 */
SP_MUST_CHECK int tmpdir_make(char *dir, size_t len, const char *prefix);

/*
 * Removes dir and everything below it (depth first, links not followed).
 * Returns: 0; -errno of the first entry that could not be removed.
 * Thread: any, one call at a time.
 */
int tmpdir_remove(const char *dir);

#endif
