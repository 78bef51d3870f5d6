/* Waiting with a deadline.  Every wait on a socket or pipe goes through
 * vs_wait(), so a silent peer always ends in a timeout that names what
 * we were waiting for. */
#ifndef VS_IO_H
#define VS_IO_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

/* A deadline is an inactivity limit for one wait, in milliseconds, that
 * the caller passes in (the CLI's -t); < 0 waits forever.  In an options
 * struct, 0 stands for this default. */
#define VS_TIMEOUT_DEFAULT_MS 30000
static inline int
vs_timeout_effective(int timeout_ms)
{
	return timeout_ms ? timeout_ms : VS_TIMEOUT_DEFAULT_MS;
}

/* Wait until fd has one of events, at most timeout_ms.  what names the
 * awaited thing for the timeout message ("the reply to
 * CHECK_DEVICE_STATE").  Returns the revents, or -1 with the error set
 * (VS_EXIT_TIMEOUT on timeout). */
int vs_wait(int fd, short events, int timeout_ms, const char *what);

/* read() after waiting (with the deadline) for fd to be readable, so
 * even a blocking pipe cannot stall us.  Returns bytes read, 0 at EOF,
 * -1 with the error set. */
ssize_t vs_read_wait(int fd, void *buf, size_t len, int timeout_ms, const char *name, const char *what);
/* Write all of buf, waiting for space at most timeout_ms each time (< 0:
 * as long as it takes); EPIPE is returned as errno with the error set.
 * Returns 0 or -1. */
int vs_write_all(int fd, const void *buf, size_t len, const char *name, int timeout_ms);

/* All len bytes at offset off of a regular file; a short file ("shrank
 * while it was read") is an error.  Returns 0 or -1, the error set. */
int vs_pread_all(int fd, void *buf, size_t len, uint64_t off, const char *name);

/* fcntl helpers */
int vs_set_nonblock(int fd, bool on);

#endif
