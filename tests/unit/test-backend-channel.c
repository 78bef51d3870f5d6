/* Unit tests of the back-end channel (SET_BACKEND_REQ_FD) served by
 * src/transfer/vhost-dev.c, TAP output.  The test plays the back-end on
 * the other end of a socketpair. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "io.h"
#include "vhost-dev.h"
#include "tap.h"

/* Send a back-end request, with an optional fd. */
static int
send_req(int fd, uint32_t request, uint32_t flags, const void *payload, uint32_t size, int pass_fd)
{
	struct vs_vu_header h = { request, flags, size };
	struct iovec iov[2] = { { &h, sizeof h }, { (void *)payload, size } };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = size ? 2 : 1 };

	if (pass_fd >= 0) {
		memset(&ctl, 0, sizeof ctl);
		m.msg_control = ctl.buf;
		m.msg_controllen = sizeof ctl.buf;
		struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
	}
	return sendmsg(fd, &m, MSG_NOSIGNAL) == (ssize_t)(sizeof h + size) ? 0 : -1;
}

/* Read one reply within 5 s: returns the u64, or -1. */
static int64_t
read_reply(int fd, uint32_t request)
{
	struct {
		struct vs_vu_header h;
		uint64_t v;
	} __attribute__((packed)) r;
	struct pollfd p = { fd, POLLIN, 0 };
	size_t got = 0;

	while (got < sizeof r) {
		if (poll(&p, 1, 5000) != 1)
			return -1;
		ssize_t n = read(fd, (char *)&r + got, sizeof r - got);
		if (n <= 0)
			return -1;
		got += n;
	}
	if (r.h.request != request || r.h.flags != 0x5 || r.h.size != 8)
		return -1;
	return r.v;
}

static int notified;

static void
notifier(void *opaque)
{
	__atomic_fetch_add((int *)opaque, 1, __ATOMIC_RELAXED);
}

/* The back-end of the "no blocking" test: it asks on the channel, and
 * only once answered does it answer the front-end's main request. */
struct backend {
	int channel, main_sock;
	int64_t reply;
};

static void *
backend_thread(void *arg)
{
	struct backend *b = arg;
	char byte = 1;

	send_req(b->channel, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG, 0x9, NULL, 0, -1);
	b->reply = read_reply(b->channel, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG);
	if (write(b->main_sock, &byte, 1) != 1)
		b->reply = -2;
	return NULL;
}

int
main(void)
{
	struct vs_vhost_backend_channel ch = { .fd = -1, .stop_fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER };
	unsigned char area[24] = { 0 };
	int sv[2], mainsv[2], pfd[2];
	char c;

	ch.timeout_ms = 5000;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, mainsv) < 0)
		return 99;
	ch.config_notifier = notifier;
	ch.opaque = &notified;
	ok(vs_vhost_backend_channel_start(&ch, sv[0], true) == 0, "the channel starts");

	ok(send_req(sv[1], VHOST_USER_BACKEND_CONFIG_CHANGE_MSG, 0x9, NULL, 0, -1) == 0 &&
		   read_reply(sv[1], VHOST_USER_BACKEND_CONFIG_CHANGE_MSG) == 0,
	   "CONFIG_CHANGE_MSG with NEED_REPLY: answered 0");
	ok(__atomic_load_n(&notified, __ATOMIC_RELAXED) == 1, "the config notifier ran");

	ok(send_req(sv[1], VHOST_USER_BACKEND_VRING_HOST_NOTIFIER_MSG, 0x9, area, sizeof area, -1) == 0 &&
		   read_reply(sv[1], VHOST_USER_BACKEND_VRING_HOST_NOTIFIER_MSG) == 1,
	   "a request for a feature we did not ack fails (1), the channel stays");
	ok(send_req(sv[1], 99, 0x9, NULL, 0, -1) == 0 && read_reply(sv[1], 99) == 1, "an unknown request fails (1)");

	/* no NEED_REPLY: no reply; the next reply belongs to the next request */
	ok(send_req(sv[1], VHOST_USER_BACKEND_CONFIG_CHANGE_MSG, 0x1, NULL, 0, -1) == 0 &&
		   send_req(sv[1], VHOST_USER_BACKEND_IOTLB_MSG, 0x9, area, sizeof area, -1) == 0 &&
		   read_reply(sv[1], VHOST_USER_BACKEND_IOTLB_MSG) == 1,
	   "without NEED_REPLY nothing is answered");

	/* an fd we did not ask for (no BACKEND_SEND_FD) is closed */
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return 99;
	ok(send_req(sv[1], VHOST_USER_BACKEND_VRING_HOST_NOTIFIER_MSG, 0x9, area, sizeof area, pfd[1]) == 0 &&
		   read_reply(sv[1], VHOST_USER_BACKEND_VRING_HOST_NOTIFIER_MSG) == 1,
	   "a request with an fd is answered");
	close(pfd[1]);
	struct pollfd pp = { pfd[0], POLLIN, 0 };
	ok(poll(&pp, 1, 5000) == 1 && read(pfd[0], &c, 1) == 0, "and the fd it carried is closed");
	close(pfd[0]);

	/* the main exchange waits while the back-end waits on the channel */
	struct backend b = { sv[1], mainsv[1], -1 };
	pthread_t t;
	pthread_create(&t, NULL, backend_thread, &b);
	int main_wait = vs_wait(mainsv[0], POLLIN, 5000, "the main reply");
	pthread_join(t, NULL);
	ok(main_wait > 0 && b.reply == 0,
	   "the back-end got its channel reply while the front-end waited on the main socket");
	ok(__atomic_load_n(&ch.served, __ATOMIC_RELAXED) == 7 && __atomic_load_n(&notified, __ATOMIC_RELAXED) == 3,
	   "seven requests served, three config changes");

	/* a malformed header (version 2) ends the channel: EOF for the back-end */
	ok(send_req(sv[1], VHOST_USER_BACKEND_CONFIG_CHANGE_MSG, 0x2, NULL, 0, -1) == 0, "a malformed request");
	pp.fd = sv[1];
	ok(poll(&pp, 1, 5000) == 1 && read(sv[1], &c, 1) == 0, "the channel is shut down");
	ok(__atomic_load_n(&ch.closed, __ATOMIC_ACQUIRE), "and marked closed");

	vs_vhost_backend_channel_stop(&ch);
	ok(ch.fd == -1 && !ch.running, "stop joins the thread and closes our end");
	vs_vhost_backend_channel_stop(&ch);
	ok(1, "stop twice is harmless");
	close(sv[1]);
	close(mainsv[0]);
	close(mainsv[1]);

	/* stopping a live thread: idle, then inside a half-sent message,
	 * where it waits on the socket and not on its stop eventfd */
	for (int partial = 0; partial < 2; partial++) {
		struct vs_vhost_backend_channel live = { .fd = -1, .stop_fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER,
							 .timeout_ms = 3000 };
		struct timespec t0, t1;
		int lsv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, lsv) < 0 ||
		    vs_vhost_backend_channel_start(&live, lsv[0], true) < 0)
			return 99;
		if (partial && write(lsv[1], "\x02\x00\x00\x00\x09", 5) != 5)
			return 99;
		usleep(100 * 1000); /* let the thread take what was sent */
		clock_gettime(CLOCK_MONOTONIC, &t0);
		vs_vhost_backend_channel_stop(&live);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		ok(!live.running && live.fd == -1 && ms < 1000,
		   partial ? "stopping a thread inside a half-sent message takes under a second"
			   : "stopping an idle thread takes under a second");
		close(lsv[1]);
	}
	printf("1..%d\n", count);
	return failures ? 1 : 0;
}
