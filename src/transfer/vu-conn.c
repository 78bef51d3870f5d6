#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "io.h"
#include "vu-conn.h"

/* How long a missing or refusing socket is retried: long enough for a
 * back-end that is just starting, short enough to fail fast otherwise. */
#define VS_CONNECT_RETRY_MS 1000
#define VS_CONNECT_STEP_MS 50

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

int
vs_conn_connect(struct vs_vu_conn *c, const char *path, int timeout_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	long start = now_ms();
	int tmo = vs_timeout_effective(timeout_ms);
	long retry_ms = tmo >= 0 && tmo < VS_CONNECT_RETRY_MS ? tmo : VS_CONNECT_RETRY_MS;
	struct stat st;
	int fd, e;

	c->fd = -1;
	c->path = path;
	c->peer_pid = 0;
	c->timeout_ms = tmo;
	if (strlen(path) >= sizeof sa.sun_path)
		return vs_fail(VS_EXIT_USAGE, 0,
			       "%s: socket path is %zu bytes, longer than the %zu a unix socket address holds",
			       path, strlen(path), sizeof sa.sun_path - 1);
	strcpy(sa.sun_path, path);

	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return vs_fail(VS_EXIT_FAIL, errno, "socket");
		if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
			break;
		e = errno;
		if (e == EINPROGRESS) {
			socklen_t len = sizeof e;
			if (vs_wait(fd, POLLOUT, tmo, "the connection to the back-end") < 0) {
				close(fd);
				return -1;
			}
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
				e = errno;
			if (e == 0)
				break;
		}
		close(fd);
		/* no use retrying a path that is there but is no socket */
		if (e == ECONNREFUSED && stat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
			return vs_fail(VS_EXIT_UNAVAILABLE, 0,
				       "cannot connect to %s: it is not a unix socket (expected the back-end's "
				       "vhost-user socket)",
				       path);
		if ((e == ECONNREFUSED || e == ENOENT || e == EAGAIN) &&
		    now_ms() - start < (e == EAGAIN ? tmo : retry_ms)) {
			struct timespec step = { 0, VS_CONNECT_STEP_MS * 1000000L };
			nanosleep(&step, NULL);
			continue;
		}
		if (e == EAGAIN)
			return vs_fail(VS_EXIT_TIMEOUT, 0,
				       "timed out after %g s waiting for %s to accept the connection",
				       tmo / 1000.0, path);
		if (e == ENOENT)
			return vs_fail(VS_EXIT_UNAVAILABLE, 0,
				       "cannot connect to %s: no such socket (is the back-end running?)", path);
		return vs_fail(VS_EXIT_UNAVAILABLE, e, "cannot connect to %s", path);
	}

	struct ucred cred;
	socklen_t len = sizeof cred;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
		c->peer_pid = cred.pid;
	c->fd = fd;
	return 0;
}

void
vs_conn_close(struct vs_vu_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

int
vs_conn_send(struct vs_vu_conn *c, const struct iovec *iov_in, int iovcnt, const int *fds,
	     size_t nfds, const char *what)
{
	struct iovec iov[4];
	union {
		char buf[CMSG_SPACE(sizeof(int) * VS_VU_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = iovcnt };
	size_t left = 0;

	if (iovcnt > 4 || nfds > VS_VU_MAX_FDS)
		return vs_fail(VS_EXIT_FAIL, EINVAL, "%s: message too complex", what);
	memcpy(iov, iov_in, sizeof *iov * iovcnt);
	for (int i = 0; i < iovcnt; i++)
		left += iov[i].iov_len;

	if (nfds) {
		struct cmsghdr *cm;
		memset(&ctl, 0, sizeof ctl);
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}

	while (left > 0) {
		ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				if (vs_wait(c->fd, POLLOUT, c->timeout_ms, "the back-end to accept the request") < 0) {
					vs_error_prefix("%s", what);
					return -1;
				}
				continue;
			}
			if (errno == EPIPE || errno == ECONNRESET)
				return vs_fail(VS_EXIT_UNAVAILABLE, 0,
					       "the back-end closed the connection; %s was not delivered", what);
			return vs_fail(VS_EXIT_FAIL, errno, "%s: send", what);
		}
		left -= n;
		/* fds go with the first byte only; drop them after that */
		msg.msg_control = NULL;
		msg.msg_controllen = 0;
		while (n > 0 && msg.msg_iovlen > 0) {
			if ((size_t)n >= msg.msg_iov->iov_len) {
				n -= msg.msg_iov->iov_len;
				msg.msg_iov++;
				msg.msg_iovlen--;
			} else {
				msg.msg_iov->iov_base = (char *)msg.msg_iov->iov_base + n;
				msg.msg_iov->iov_len -= n;
				n = 0;
			}
		}
	}
	return 0;
}

static void
close_fds(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
}

int
vs_conn_recv(struct vs_vu_conn *c, void *buf, size_t len, int *fds, size_t *nfds, const char *what)
{
	char *p = buf;
	char wait_what[128];

	snprintf(wait_what, sizeof wait_what, "the reply to %s", what);
	*nfds = 0;
	while (len > 0) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * VS_VU_MAX_FDS)];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { p, len };
		struct msghdr msg = {
			.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf
		};
		ssize_t n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				if (vs_wait(c->fd, POLLIN, c->timeout_ms, wait_what) < 0)
					goto fail;
				continue;
			}
			/* A failed recvmsg leaves the control buffer untouched:
			 * never look at it. */
			if (errno == ECONNRESET)
				goto closed;
			vs_error_set(VS_EXIT_FAIL, errno, "%s: receive", what);
			goto fail;
		}
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			int *in = (int *)CMSG_DATA(cm);
			for (size_t i = 0; i < k; i++) {
				if (*nfds < VS_VU_MAX_FDS)
					fds[(*nfds)++] = in[i];
				else
					close(in[i]);
			}
		}
		if (msg.msg_flags & MSG_CTRUNC) {
			vs_error_set(VS_EXIT_PROTOCOL, 0,
				     "the back-end attached more than %d fds to the reply to %s", VS_VU_MAX_FDS,
				     what);
			goto fail;
		}
		if (n == 0)
			goto closed;
		p += n;
		len -= n;
	}
	return 0;
closed:
	vs_error_set(VS_EXIT_UNAVAILABLE, 0,
		     "the back-end closed the connection while we waited for the reply to %s", what);
fail:
	close_fds(fds, *nfds);
	*nfds = 0;
	return -1;
}
