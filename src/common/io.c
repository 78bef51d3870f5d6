#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "error.h"
#include "io.h"

int
vs_wait(int fd, short events, int timeout_ms, const char *what)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r;

	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return vs_fail(VS_EXIT_FAIL, errno, "poll");
	if (r == 0)
		return vs_fail(VS_EXIT_TIMEOUT, 0, "timed out after %g s waiting for %s",
			       timeout_ms / 1000.0, what);
	return p.revents;
}

ssize_t
vs_read_wait(int fd, void *buf, size_t len, int timeout_ms, const char *name, const char *what)
{
	/* Poll first: a blocking pipe would otherwise wait forever. */
	for (;;) {
		ssize_t n;
		if (vs_wait(fd, POLLIN, timeout_ms, what) < 0)
			return -1;
		n = read(fd, buf, len);
		if (n >= 0)
			return n;
		if (errno != EINTR && errno != EAGAIN)
			return vs_fail(VS_EXIT_FAIL, errno, "%s: read", name);
	}
}

int
vs_write_all(int fd, const void *buf, size_t len, const char *name, int timeout_ms)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n > 0) {
			p += n;
			len -= n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			if (timeout_ms >= 0) {
				if (vs_wait(fd, POLLOUT, timeout_ms, name) < 0)
					return -1;
			} else if (poll(&pfd, 1, -1) < 0 && errno != EINTR) {
				return vs_fail(VS_EXIT_FAIL, errno, "poll");
			}
			continue;
		}
		return vs_fail(VS_EXIT_FAIL, n < 0 ? errno : EIO, "%s: write", name);
	}
	return 0;
}

int
vs_set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK) < 0)
		return vs_fail(VS_EXIT_FAIL, errno, "fcntl");
	return 0;
}

int
vs_pread_all(int fd, void *buf, size_t len, uint64_t off, const char *name)
{
	while (len > 0) {
		ssize_t k = pread(fd, buf, len, (off_t)off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return vs_fail(VS_EXIT_FAIL, errno, "%s: read", name);
		if (k == 0)
			return vs_fail(VS_EXIT_FAIL, 0, "%s: the file shrank while it was read", name);
		buf = (char *)buf + k;
		len -= (size_t)k;
		off += (uint64_t)k;
	}
	return 0;
}
