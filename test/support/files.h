/*
 * files.h - small files tests write (configurations, password files) and
 * shell commands they run (test support).
 */
#ifndef SP_FILES_H
#define SP_FILES_H

#include <stddef.h>
#include <sys/types.h>

#include "compiler.h"

/*
 * Writes text to path (created or truncated) and gives it mode, also when
 * it existed with another.
 * Returns: 0; -errno of the first step that failed.
 * Thread: any.
 */
SP_MUST_CHECK int files_write(const char *path, const char *text, mode_t mode);

/*
 * Runs cmd through /bin/sh with stderr joined to stdout; out gets the
 * first len - 1 bytes of that, NUL-terminated.
 * Returns: cmd's exit status; -1 when it did not exit normally; -errno
 *   when it could not be started.
 * Thread: any.
 */
int files_run(const char *cmd, char *out, size_t len);

#endif
