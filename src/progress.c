#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "progress.h"

static struct {
	bool human;
	int machine_fd;
	bool active;
	const char *op;
	uint64_t total, bytes;
	struct timespec start, last;
} progress = { .machine_fd = -1 };

int
vs_progress_fd(void)
{
	return progress.machine_fd;
}

static long
ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000L + (now.tv_nsec - t->tv_nsec) / 1000000;
}

void
vs_progress_config(bool human, int machine_fd)
{
	progress.human = human;
	progress.machine_fd = machine_fd;
}

static void
progress_print(bool final)
{
	long ms = ms_since(&progress.start);
	double mib = progress.bytes / 1048576.0, rate = ms > 0 ? mib * 1000.0 / ms : 0;

	if (progress.machine_fd >= 0)
		dprintf(progress.machine_fd, "progress %s bytes=%" PRIu64 " total=%" PRIu64 " elapsed_ms=%ld%s\n",
			progress.op, progress.bytes, progress.total, ms, final ? " done" : "");
	if (progress.human) {
		if (progress.total)
			fprintf(stderr, "\r%s: %.1f of %.1f MiB (%.0f%%), %.1f MiB/s", progress.op, mib,
				progress.total / 1048576.0, 100.0 * progress.bytes / progress.total, rate);
		else
			fprintf(stderr, "\r%s: %.1f MiB, %.1f MiB/s", progress.op, mib, rate);
		fputs(final ? "\n" : "", stderr);
	}
}

void
vs_progress_start(const char *op, uint64_t total)
{
	if (!progress.human && progress.machine_fd < 0)
		return;
	progress.active = true;
	progress.op = op;
	progress.total = total;
	progress.bytes = 0;
	clock_gettime(CLOCK_MONOTONIC, &progress.start);
	progress.last = progress.start;
}

void
vs_progress_update(uint64_t bytes)
{
	if (!progress.active)
		return;
	progress.bytes = bytes;
	/* a few updates a second are plenty */
	if (ms_since(&progress.last) < 200)
		return;
	clock_gettime(CLOCK_MONOTONIC, &progress.last);
	progress_print(false);
}

void
vs_progress_end(void)
{
	if (!progress.active)
		return;
	progress_print(true);
	progress.active = false;
}
