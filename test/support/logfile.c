/*
 * logfile.c - counting lines of test log files.
 *
 * Threads: any. Memory: a line buffer on the stack.
 */
#include "logfile.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int logfile_count(const char *path, const char *needle)
{
    char line[4096]; /* longer than any log line (LOG_LINE_MAX + prefix) */
    int n = 0;
    FILE *f = fopen(path, "r");

    if (f == NULL)
        return -errno;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strstr(line, needle) != NULL)
            n++;
    fclose(f);
    return n;
}
