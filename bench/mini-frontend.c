/* The smallest vhost-user front-end that dumps a back-end's state, for
 * `make bench` to set vhost-state's start-to-exit time beside: connect,
 * SET_DEVICE_STATE_FD (SAVE, STOPPED) with a pipe's write end, the pipe
 * read to EOF and copied to stdout unframed, CHECK_DEVICE_STATE.  No
 * handshake (virtiofsd 1.13 accepts SET_DEVICE_STATE_FD without one,
 * though the spec wants DEVICE_STATE negotiated first), no deadlines, no
 * validation beyond what keeps it from lying, no library.
 *
 *   mini-frontend SOCKET >OUT
 *
 * Exit status: 0 when CHECK_DEVICE_STATE returned 0, else 1. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

struct msg {
	uint32_t request, flags, size;
	uint64_t u64;
} __attribute__((packed));

static void
fail(const char *what)
{
	fprintf(stderr, "mini-frontend: %s: %s\n", what, errno ? strerror(errno) : "unexpected reply");
	exit(1);
}

static void
send_msg(int s, uint32_t request, const void *payload, uint32_t size, int fd)
{
	struct msg m = { request, 1, size, 0 };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { &m, 12 + size };
	struct msghdr h = { .msg_iov = &iov, .msg_iovlen = 1 };

	memcpy(&m.u64, payload, size);
	if (fd >= 0) {
		struct cmsghdr *cm;
		memset(&ctl, 0, sizeof ctl);
		h.msg_control = ctl.buf;
		h.msg_controllen = sizeof ctl.buf;
		cm = CMSG_FIRSTHDR(&h);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof fd);
	}
	if (sendmsg(s, &h, MSG_NOSIGNAL) != (ssize_t)(12 + size))
		fail("sendmsg");
}

/* A u64 reply to request; *fd gets an attached fd (or -1). */
static uint64_t
recv_u64(int s, uint32_t request, int *fd)
{
	struct msg m;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { &m, sizeof m };
	struct msghdr h = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			    .msg_controllen = sizeof ctl.buf };
	struct cmsghdr *cm;

	errno = 0;
	if (recvmsg(s, &h, MSG_WAITALL | MSG_CMSG_CLOEXEC) != (ssize_t)sizeof m || m.request != request ||
	    m.size != 8)
		fail("recvmsg");
	if (fd)
		*fd = -1;
	cm = CMSG_FIRSTHDR(&h);
	if (cm && cm->cmsg_type == SCM_RIGHTS) {
		if (!fd)
			fail("unexpected fd");
		memcpy(fd, CMSG_DATA(cm), sizeof *fd);
	}
	return m.u64;
}

int
main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static char buf[1 << 20];
	uint32_t state[2] = { 0, 0 }; /* SAVE, STOPPED */
	uint64_t v;
	int s, p[2], fd;
	ssize_t n;

	if (argc != 2 || strlen(argv[1]) >= sizeof sa.sun_path) {
		fprintf(stderr, "usage: mini-frontend SOCKET\n");
		return 2;
	}
	strcpy(sa.sun_path, argv[1]);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof sa) < 0)
		fail(argv[1]);
	if (pipe2(p, O_CLOEXEC) < 0)
		fail("pipe");
	send_msg(s, 42, state, sizeof state, p[1]); /* SET_DEVICE_STATE_FD */
	close(p[1]);
	v = recv_u64(s, 42, &fd);
	if (v & 0xff)
		fail("SET_DEVICE_STATE_FD refused");
	if (fd >= 0) {
		close(p[0]);
		p[0] = fd;
	}
	while ((n = read(p[0], buf, sizeof buf)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail("read");
		for (ssize_t off = 0, w; off < n; off += w)
			if ((w = write(STDOUT_FILENO, buf + off, n - off)) <= 0)
				fail("write");
	}
	close(p[0]);
	send_msg(s, 43, NULL, 0, -1); /* CHECK_DEVICE_STATE */
	v = recv_u64(s, 43, NULL);
	if (v != 0) {
		fprintf(stderr, "mini-frontend: CHECK_DEVICE_STATE returned %llu\n", (unsigned long long)v);
		return 1;
	}
	return 0;
}
