/*
 * check.h - `sensorpipe --check-config`, and the memory-limit check the
 * daemon repeats at start.
 */
#ifndef SP_CHECK_H
#define SP_CHECK_H

#include <stdio.h>

#include "pipeline.h"

/*
 * Loads and validates path, prints the effective settings (secrets
 * masked), the memory plan and its warnings to out.
 * Returns: 0, or -EINVAL when the file is not valid (its error is on
 * stderr). Thread: main.
 */
int check_config(const char *path, FILE *out);

/*
 * Passes a warning to warn(ctx, line) when the plan's bound exceeds the
 * memory limit: the service cgroup's under systemd, else (unit_fallback)
 * the shipped unit's MemoryMax=. Thread: any.
 */
void check_memory_limit(const struct pipeline_plan *p, int unit_fallback,
                        void (*warn)(void *, const char *), void *ctx);

#endif
