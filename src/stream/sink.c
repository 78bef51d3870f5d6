#include <config.h>

#include <errno.h>
#include <poll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "error.h"
#include "sink.h"

static int
fd_writev(struct vs_sink *s, const struct iovec *iov_in, int iovcnt)
{
	struct iovec iov[8];
	int i = 0;

	if (iovcnt > 8)
		return vs_fail(VS_EXIT_FAIL, EINVAL, "%s: too many buffers", s->name);
	for (int k = 0; k < iovcnt; k++)
		iov[k] = iov_in[k];
	while (i < iovcnt) {
		ssize_t n = writev(s->fd, iov + i, iovcnt - i);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				/* A non-blocking stdout we inherited: the consumer
				 * sets the pace, so wait without a deadline. */
				struct pollfd p = { .fd = s->fd, .events = POLLOUT };
				poll(&p, 1, -1);
				continue;
			}
			return vs_fail(VS_EXIT_FAIL, errno, "%s: write", s->name);
		}
		while (i < iovcnt && (size_t)n >= iov[i].iov_len)
			n -= iov[i++].iov_len;
		if (i < iovcnt) {
			iov[i].iov_base = (char *)iov[i].iov_base + n;
			iov[i].iov_len -= n;
		}
	}
	return 0;
}

static const struct vs_sink_ops fd_ops = { .writev = fd_writev };

void
vs_sink_fd_init(struct vs_sink *s, int fd, const char *name)
{
	s->ops = &fd_ops;
	s->fd = fd;
	s->name = name;
}
