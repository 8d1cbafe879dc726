/*
 * daemon.h - the daemon's life: load the settings, open the store, start
 * the threads, run the loop until a stop signal, drain and close.
 */
#ifndef SP_DAEMON_H
#define SP_DAEMON_H

#include <stdio.h>

#include "config.h"

/* Exit statuses (README "Operate it"; doc/ARCHITECTURE.md "Life cycle"). */
enum daemon_exit {
    DAEMON_EXIT_OK = 0,      /* clean stop */
    DAEMON_EXIT_RUNTIME = 1, /* a runtime failure: systemd restarts */
    DAEMON_EXIT_CONFIG = 2,  /* usage or configuration error: no restart */
};

/*
 * Runs the daemon with the settings in path until SIGTERM or SIGINT.
 * Returns: an enum daemon_exit value for main().
 * Thread: the main thread, which becomes the loop thread.
 */
int daemon_run(const char *path);

#endif
