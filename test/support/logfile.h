/*
 * logfile.h - reading the log files tests produce (the daemon's, the
 * broker's, a client's): one way to count what they say.
 */
#ifndef SP_LOGFILE_H
#define SP_LOGFILE_H

/*
 * Lines of the file at path that contain needle.
 * Returns: the count, or -errno when the file cannot be read.
 * Thread: any. Allocates nothing.
 */
int logfile_count(const char *path, const char *needle);

#endif
