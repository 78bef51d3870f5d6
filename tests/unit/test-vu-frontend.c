/* Unit tests of src/transfer/vu-frontend.c in isolation, TAP output.  The
 * test plays the back-end on the other end of a socketpair: the replies
 * it scripts are queued before the front-end's call (the front-end reads
 * only after it sent), and what the front-end sent is read back and
 * checked afterwards.  Every case also checks that no fd leaked. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "error.h"
#include "io.h"
#include "vu-frontend.h"
#include "tap.h"

#define BIT(n) (1ull << (n))
#define F_PROTOCOL BIT(VHOST_USER_F_PROTOCOL_FEATURES)
#define P_ACKED                                                                                  \
	(BIT(VHOST_USER_PROTOCOL_F_MQ) | BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK) |                  \
	 BIT(VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS) | BIT(VHOST_USER_PROTOCOL_F_DEVICE_STATE))
#define REPLY (VHOST_USER_VERSION | VHOST_USER_REPLY_MASK)

static int
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the directory's own fd */
}

static bool
fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* ---- the back-end's side ---- */

static void
peer_send(int fd, uint32_t code, uint32_t flags, const void *pl, uint32_t size, const int *fds, size_t nfds)
{
	struct vs_vu_header h = { code, flags, size };
	struct iovec iov[2] = { { &h, sizeof h }, { (void *)pl, size } };
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} ctl;
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = size ? 2 : 1 };

	if (nfds) {
		memset(&ctl, 0, sizeof ctl);
		m.msg_control = ctl.buf;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	if (sendmsg(fd, &m, MSG_NOSIGNAL) != (ssize_t)(sizeof h + size))
		ok(0, "the test's back-end could not queue a reply");
}

static void
peer_u64(int fd, uint32_t code, uint64_t v)
{
	peer_send(fd, code, REPLY, &v, sizeof v, NULL, 0);
}

/* One message the front-end sent: its header, payload and fd count (the
 * fds are closed).  False when nothing (whole) is there. */
struct sent {
	struct vs_vu_header h;
	unsigned char pl[512];
	size_t nfds;
};

static bool
peer_recv(int fd, struct sent *s)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VS_VU_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { &s->h, sizeof s->h };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf };

	memset(s, 0, sizeof *s);
	if (recvmsg(fd, &m, MSG_DONTWAIT) != sizeof s->h)
		return false;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm)) {
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++)
			close(((int *)CMSG_DATA(cm))[i]);
		s->nfds += k;
	}
	if (s->h.size > sizeof s->pl)
		return false;
	return s->h.size == 0 || recv(fd, s->pl, s->h.size, MSG_DONTWAIT) == (ssize_t)s->h.size;
}

/* The next message is code with these flags; returns its u64 payload (or 0). */
static bool
expect(int fd, uint32_t code, uint32_t flags, uint64_t *u64)
{
	struct sent s;

	if (!peer_recv(fd, &s) || s.h.request != code || s.h.flags != flags)
		return false;
	if (u64 && s.h.size == 8)
		memcpy(u64, s.pl, 8);
	return true;
}

static bool
nothing_sent(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };

	return poll(&p, 1, 0) == 0;
}

/* Queue the handshake's replies for an offer, open acking what we
 * implement, and consume what the handshake sent.  Returns the back-end's
 * end, -1 if the open failed. */
static int
open_acking(struct vs_vu *vu, uint64_t features, uint64_t protocol, uint64_t implemented)
{
	struct vs_vu_open_opts opts = { .timeout_ms = 5000, .protocol_features = implemented, .backend_req_fd = -1 };
	int sv[2];
	uint64_t acked = protocol & implemented;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	peer_u64(sv[1], VHOST_USER_GET_FEATURES, features);
	if (features & F_PROTOCOL) {
		peer_u64(sv[1], VHOST_USER_GET_PROTOCOL_FEATURES, protocol);
		if (acked & BIT(VHOST_USER_PROTOCOL_F_MQ))
			peer_u64(sv[1], VHOST_USER_GET_QUEUE_NUM, 2);
		if (acked & BIT(VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS))
			peer_u64(sv[1], VHOST_USER_GET_MAX_MEM_SLOTS, 32);
		if (acked & BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK))
			peer_u64(sv[1], VHOST_USER_SET_OWNER, 0);
	}
	if (vs_vu_open_fd_with(vu, sv[0], "test", &opts) < 0) {
		close(sv[1]);
		return -1;
	}
	while (!nothing_sent(sv[1])) {
		struct sent s;
		if (!peer_recv(sv[1], &s))
			break;
	}
	return sv[1];
}

static int
open_with(struct vs_vu *vu, uint64_t features, uint64_t protocol)
{
	return open_acking(vu, features, protocol, VS_VU_PROTOCOL_FEATURES_IMPLEMENTED);
}

static int
open_default(struct vs_vu *vu)
{
	return open_with(vu, F_PROTOCOL | BIT(VIRTIO_F_VERSION_1), P_ACKED | BIT(VHOST_USER_PROTOCOL_F_RARP));
}

static bool
failed_with(int rc, int exit_code, const char *text)
{
	return rc < 0 && vs_error_get()->exit_code == exit_code && strstr(vs_error_get()->msg, text);
}

/* ---- the cases ---- */

static void
test_handshake_order(void)
{
	struct vs_vu vu;
	int sv[2];
	uint64_t v = 0;
	const uint64_t offered = P_ACKED | BIT(VHOST_USER_PROTOCOL_F_RARP) | BIT(VHOST_USER_PROTOCOL_F_LOG_SHMFD);

	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	peer_u64(sv[1], VHOST_USER_GET_FEATURES, F_PROTOCOL);
	peer_u64(sv[1], VHOST_USER_GET_PROTOCOL_FEATURES, offered);
	peer_u64(sv[1], VHOST_USER_GET_QUEUE_NUM, 3);
	peer_u64(sv[1], VHOST_USER_GET_MAX_MEM_SLOTS, 509);
	peer_u64(sv[1], VHOST_USER_SET_OWNER, 0);
	ok(vs_vu_open_fd(&vu, sv[0], "test") == 0, "handshake: open succeeds");
	ok(expect(sv[1], VHOST_USER_GET_FEATURES, 0x1, NULL), "handshake: 1. GET_FEATURES, flags 0x1");
	ok(expect(sv[1], VHOST_USER_GET_PROTOCOL_FEATURES, 0x1, NULL), "handshake: 2. GET_PROTOCOL_FEATURES");
	ok(expect(sv[1], VHOST_USER_SET_PROTOCOL_FEATURES, 0x1, &v) && v == P_ACKED,
	   "handshake: 3. SET_PROTOCOL_FEATURES acks offered ∩ implemented, without NEED_REPLY");
	ok(expect(sv[1], VHOST_USER_GET_QUEUE_NUM, 0x1, NULL), "handshake: 4. GET_QUEUE_NUM (MQ)");
	ok(expect(sv[1], VHOST_USER_GET_MAX_MEM_SLOTS, 0x1, NULL), "handshake: 5. GET_MAX_MEM_SLOTS");
	ok(expect(sv[1], VHOST_USER_SET_OWNER, 0x9, NULL), "handshake: 6. SET_OWNER with NEED_REPLY (REPLY_ACK acked)");
	ok(nothing_sent(sv[1]), "handshake: nothing more");
	ok(vu.queue_num == 3 && vu.max_mem_slots == 509 && vu.protocol_features == P_ACKED,
	   "handshake: queues, slots and acked features kept");
	ok(vs_vu_set_owner(&vu) == 0 && nothing_sent(sv[1]), "SET_OWNER goes out once per connection");
	vs_vu_close(&vu);
	close(sv[1]);
}

static void
test_handshake_without_bit30(void)
{
	struct vs_vu vu;
	int sv[2];

	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	peer_u64(sv[1], VHOST_USER_GET_FEATURES, BIT(VIRTIO_F_VERSION_1));
	ok(vs_vu_open_fd(&vu, sv[0], "test") == 0, "no bit 30: open succeeds");
	ok(expect(sv[1], VHOST_USER_GET_FEATURES, 0x1, NULL) && expect(sv[1], VHOST_USER_SET_OWNER, 0x1, NULL) &&
		   nothing_sent(sv[1]),
	   "no bit 30: GET_FEATURES then SET_OWNER without NEED_REPLY, nothing else");
	ok(failed_with(vs_vu_set_vring_enable(&vu, 0, true), VS_EXIT_UNAVAILABLE, "SET_VRING_ENABLE not sent") &&
		   nothing_sent(sv[1]),
	   "no bit 30: a BIT30-gated request is refused locally (69)");
	vs_vu_close(&vu);
	close(sv[1]);
}

/* One malformed reply to GET_QUEUE_NUM: a protocol error (76) that
 * breaks the connection. */
static void
bad_reply(const char *name, uint32_t code, uint32_t flags, uint32_t size, int nfds, const char *text)
{
	struct vs_vu vu;
	int be = open_default(&vu), pass[2] = { -1, -1 };
	unsigned char pl[16] = { 0 };
	uint64_t v;
	char what[160];
	int before;

	if (nfds)
		pipe2(pass, O_CLOEXEC);
	peer_send(be, code, flags, pl, size, pass, nfds);
	if (nfds) {
		close(pass[0]);
		close(pass[1]);
	}
	before = open_fds();
	snprintf(what, sizeof what, "reply validation: %s is a protocol error (76)", name);
	ok(failed_with(vs_vu_get_queue_num(&vu, &v), VS_EXIT_PROTOCOL, text), what);
	snprintf(what, sizeof what, "reply validation: %s leaves no received fd open", name);
	ok(open_fds() == before, what);
	snprintf(what, sizeof what, "reply validation: after %s the connection stays broken (76), nothing sent", name);
	expect(be, VHOST_USER_GET_QUEUE_NUM, 0x1, NULL);
	ok(failed_with(vs_vu_get_features(&vu, &v), VS_EXIT_PROTOCOL, "unusable after an earlier error") &&
		   nothing_sent(be),
	   what);
	vs_vu_close(&vu);
	close(be);
}

static void
test_reply_validation(void)
{
	bad_reply("a wrong request code", VHOST_USER_GET_FEATURES, REPLY, 8, 0, "carries request code 1");
	bad_reply("flags without REPLY", VHOST_USER_GET_QUEUE_NUM, 0x1, 8, 0, "has flags 0x1");
	bad_reply("flags with NEED_REPLY", VHOST_USER_GET_QUEUE_NUM, REPLY | VHOST_USER_NEED_REPLY_MASK, 8, 0,
		  "has flags 0xd");
	bad_reply("a short payload", VHOST_USER_GET_QUEUE_NUM, REPLY, 4, 0, "4-byte payload, expected 8");
	bad_reply("a long payload", VHOST_USER_GET_QUEUE_NUM, REPLY, 16, 0, "16-byte payload, expected 8");
	bad_reply("a stray fd", VHOST_USER_GET_QUEUE_NUM, REPLY, 8, 1, "1 unexpected fd attached");
	bad_reply("two stray fds", VHOST_USER_GET_QUEUE_NUM, REPLY, 8, 2, "2 unexpected fds attached");
}

static void
test_transport_errors(void)
{
	struct vs_vu vu;
	uint64_t v;
	int be = open_default(&vu);

	vu.conn.timeout_ms = 200;
	ok(failed_with(vs_vu_get_queue_num(&vu, &v), VS_EXIT_TIMEOUT, "GET_QUEUE_NUM"),
	   "a silent back-end is a timeout (75) naming the request");
	ok(failed_with(vs_vu_get_features(&vu, &v), VS_EXIT_TIMEOUT, "unusable"),
	   "after a timeout the connection stays broken, with the timeout's exit class");
	vs_vu_close(&vu);
	close(be);

	be = open_default(&vu);
	close(be);
	ok(failed_with(vs_vu_get_queue_num(&vu, &v), VS_EXIT_UNAVAILABLE, "closed the connection"),
	   "a hang-up is 69");
	vs_vu_close(&vu);

	be = open_default(&vu);
	peer_u64(be, VHOST_USER_GET_QUEUE_NUM, 1);
	shutdown(be, SHUT_WR);
	ok(vs_vu_get_queue_num(&vu, &v) == 0 && v == 1, "a reply before a hang-up is still read");
	ok(failed_with(vs_vu_get_features(&vu, &v), VS_EXIT_UNAVAILABLE, "GET_FEATURES"),
	   "the next request meets the hang-up (69)");
	vs_vu_close(&vu);
	close(be);
}

static void
test_reply_ack(void)
{
	struct vs_vu vu;
	uint64_t v;
	int be;

	/* REPLY_ACK offered and acked: acks are asked for and checked */
	be = open_default(&vu);
	peer_u64(be, VHOST_USER_SET_VRING_NUM, 0);
	ok(vs_vu_set_vring_num(&vu, 0, 256) == 0 && expect(be, VHOST_USER_SET_VRING_NUM, 0x9, NULL),
	   "REPLY_ACK: an ACK request carries NEED_REPLY and waits for the ack");
	peer_u64(be, VHOST_USER_SET_VRING_NUM, 1);
	ok(failed_with(vs_vu_set_vring_num(&vu, 0, 256), VS_EXIT_FAIL, "rejected SET_VRING_NUM (ack value 1)"),
	   "REPLY_ACK: a non-zero ack fails the request (1)");
	expect(be, VHOST_USER_SET_VRING_NUM, 0x9, NULL);
	peer_u64(be, VHOST_USER_GET_FEATURES, 7);
	ok(vs_vu_get_features(&vu, &v) == 0 && v == 7, "REPLY_ACK: a refusal does not break the connection");
	expect(be, VHOST_USER_GET_FEATURES, 0x1, NULL);
	ok(vs_vu_barrier(&vu) == 0 && nothing_sent(be), "REPLY_ACK: a barrier is free (the acks were waited for)");
	peer_send(be, VHOST_USER_SET_VRING_NUM, REPLY, "\0\0\0\0", 4, NULL, 0);
	ok(failed_with(vs_vu_set_vring_num(&vu, 0, 256), VS_EXIT_PROTOCOL, "4-byte payload, expected 8"),
	   "REPLY_ACK: an ack of 4 bytes is a protocol error");
	vs_vu_close(&vu);
	close(be);

	/* REPLY_ACK not offered: no NEED_REPLY, nothing read, barriers are GET_FEATURES */
	be = open_with(&vu, F_PROTOCOL, BIT(VHOST_USER_PROTOCOL_F_DEVICE_STATE));
	ok(vs_vu_set_vring_num(&vu, 0, 256) == 0 && expect(be, VHOST_USER_SET_VRING_NUM, 0x1, NULL),
	   "no REPLY_ACK: no NEED_REPLY, no reply read");
	peer_u64(be, VHOST_USER_GET_FEATURES, F_PROTOCOL);
	ok(vs_vu_barrier(&vu) == 0 && expect(be, VHOST_USER_GET_FEATURES, 0x1, NULL),
	   "no REPLY_ACK: a barrier is a GET_FEATURES round trip");
	vs_vu_close(&vu);
	close(be);

	/* REPLY_ACK acked but a GET skipped: rust-vmm < 0.14 would never answer */
	{
		int sv[2];
		socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
		memset(&vu, 0, sizeof vu);
		vu.conn.fd = sv[0];
		vu.conn.path = "test";
		vu.conn.timeout_ms = 5000;
		vs_set_nonblock(sv[0], true); /* as vs_vu_open_fd does: every wait has a deadline */
		vu.features = F_PROTOCOL;
		vu.protocol_offered = BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK);
		ok(vs_vu_set_protocol_features(&vu, BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK)) == 0 &&
			   vs_vu_set_vring_num(&vu, 0, 8) == 0 &&
			   expect(sv[1], VHOST_USER_SET_PROTOCOL_FEATURES, 0x1, NULL) &&
			   expect(sv[1], VHOST_USER_SET_VRING_NUM, 0x1, NULL),
		   "REPLY_ACK acked before both GETs were sent: no NEED_REPLY yet");
		vs_vu_close(&vu);
		close(sv[1]);
	}
}

static void
test_gates(void)
{
	struct vs_vu vu;
	int be = open_with(&vu, F_PROTOCOL, P_ACKED | BIT(VHOST_USER_PROTOCOL_F_LOG_SHMFD)), fd = eventfd(0, EFD_CLOEXEC);

	ok(failed_with(vs_vu_reset_device(&vu), VS_EXIT_UNAVAILABLE, "RESET_DEVICE not sent") && nothing_sent(be),
	   "gate: RESET_DEVICE not negotiated is refused locally (69), nothing sent");
	ok(failed_with(vs_vu_set_log_base(&vu, 4096, 0, fd), VS_EXIT_UNAVAILABLE,
		       "LOG_SHMFD (protocol feature bit 1) as negotiated; SET_LOG_BASE not sent") &&
		   nothing_sent(be) && fd_open(fd),
	   "gate: LOG_SHMFD offered but not acked is refused before sending; the lent fd stays the caller's");
	peer_u64(be, VHOST_USER_GET_QUEUE_NUM, 1);
	ok(vs_vu_get_queue_num(&vu, &(uint64_t){ 0 }) == 0 && expect(be, VHOST_USER_GET_QUEUE_NUM, 0x1, NULL),
	   "gate: a refusal does not break the connection");
	ok(failed_with(vs_vu_set_features(&vu, BIT(VHOST_F_LOG_ALL)), VS_EXIT_FAIL, "did not offer") &&
		   nothing_sent(be),
	   "SET_FEATURES with a bit not offered is refused locally");
	close(fd);
	vs_vu_close(&vu);
	close(be);
}


/* SET_DEVICE_STATE_FD (SAVE) against one scripted reply: the lent write
 * end stays the caller's on every path, and a received fd is either
 * handed over or closed. */
static void
device_state(const char *name, uint64_t reply, int pass, int exit_code, const char *text, bool want_fd)
{
	struct vs_vu vu;
	int be = open_default(&vu), p[2], rfd = -2, before, rc;
	char what[200];

	pipe2(p, O_CLOEXEC);
	peer_send(be, VHOST_USER_SET_DEVICE_STATE_FD, REPLY, &reply, sizeof reply, &pass, pass >= 0);
	if (pass >= 0)
		close(pass);
	before = open_fds();
	rc = vs_vu_set_device_state_fd(&vu, VHOST_USER_TRANSFER_STATE_DIRECTION_SAVE,
				       VHOST_USER_TRANSFER_STATE_PHASE_STOPPED, p[1], &rfd);
	snprintf(what, sizeof what, "SET_DEVICE_STATE_FD, %s: %s", name, exit_code ? "fails" : "succeeds");
	ok(exit_code ? failed_with(rc, exit_code, text) : rc == 0, what);
	snprintf(what, sizeof what, "SET_DEVICE_STATE_FD, %s: %s, the lent fd is still the caller's", name,
		 want_fd ? "the back-end's fd is handed over" : "no fd left open");
	ok(fd_open(p[1]) && (want_fd ? rfd >= 0 && open_fds() == before + 1 : rfd == -1 && open_fds() == before),
	   what);
	if (rfd >= 0)
		close(rfd);
	ok(expect(be, VHOST_USER_SET_DEVICE_STATE_FD, 0x1, NULL), "SET_DEVICE_STATE_FD goes out with flags 0x1");
	close(p[0]);
	close(p[1]);
	vs_vu_close(&vu);
	close(be);
}

static void
test_device_state_fds(void)
{
	struct vs_vu vu;
	int p[2], mine[2], rfd, be, memfd;

	pipe2(mine, O_CLOEXEC);
	memfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	device_state("0x100 (use ours)", 0x100, -1, 0, NULL, false);
	pipe2(p, O_CLOEXEC);
	close(p[1]);
	device_state("0 with its own read end", 0, p[0], 0, NULL, true);
	pipe2(p, O_CLOEXEC);
	close(p[0]);
	device_state("0 with an end we cannot read", 0, p[1], VS_EXIT_PROTOCOL, "is not a pipe or socket we can read",
		     false);
	device_state("0 with a file that is no pipe", 0, dup(memfd), VS_EXIT_PROTOCOL, "is not a pipe or socket",
		     false);
	device_state("0x100 with an fd", 0x100, dup(mine[0]), VS_EXIT_PROTOCOL, "says no fd but one is attached",
		     false);
	device_state("0 without an fd", 0, -1, VS_EXIT_PROTOCOL, "announces an fd but none is attached", false);
	device_state("an error with an fd", 0x101, dup(mine[0]), VS_EXIT_PROTOCOL, "together with an fd", false);
	device_state("an error", 0x101, -1, VS_EXIT_FAIL, "refused SET_DEVICE_STATE_FD (SAVE, STOPPED): reply 0x101",
		     false);
	close(memfd);

	/* not sent at all: the fd stays the caller's too */
	be = open_with(&vu, F_PROTOCOL, BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK));
	ok(failed_with(vs_vu_set_device_state_fd(&vu, 0, 0, mine[1], &rfd), VS_EXIT_UNAVAILABLE,
		       "DEVICE_STATE") && rfd == -1 && fd_open(mine[1]) && nothing_sent(be),
	   "SET_DEVICE_STATE_FD without DEVICE_STATE: refused locally (69), fd still the caller's");
	vs_vu_close(&vu);
	close(be);
	be = open_default(&vu);
	close(be);
	ok(failed_with(vs_vu_set_device_state_fd(&vu, 0, 0, mine[1], &rfd), VS_EXIT_UNAVAILABLE,
		       "not delivered") && fd_open(mine[1]),
	   "SET_DEVICE_STATE_FD to a closed peer: 69, fd still the caller's");
	ok(failed_with(vs_vu_set_device_state_fd(&vu, 0, 0, mine[1], &rfd), VS_EXIT_UNAVAILABLE, "unusable") &&
		   fd_open(mine[1]),
	   "SET_DEVICE_STATE_FD on a broken connection: not sent, fd still the caller's");
	vs_vu_close(&vu);
	close(mine[0]);
	close(mine[1]);
}

static void
inflight(const char *name, uint64_t mmap_size, bool pass, int exit_code, const char *text)
{
	const uint64_t with = VS_VU_PROTOCOL_FEATURES_IMPLEMENTED | BIT(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD);
	struct vhost_user_inflight in = { .mmap_size = mmap_size, .num_queues = 1, .queue_size = 128 }, out;
	struct vs_vu vu;
	int be = open_acking(&vu, F_PROTOCOL, with, with), area = -1, fd = -2, before, rc;
	char what[200];

	if (pass)
		area = eventfd(0, EFD_CLOEXEC);
	peer_send(be, VHOST_USER_GET_INFLIGHT_FD, REPLY, &in, sizeof in, &area, pass);
	if (pass)
		close(area);
	before = open_fds();
	rc = vs_vu_get_inflight_fd(&vu, 1, 128, &out, &fd);
	snprintf(what, sizeof what, "GET_INFLIGHT_FD, %s: %s; %s", name, exit_code ? "fails" : "succeeds",
		 exit_code ? "no fd left open" : "the area's fd is the caller's");
	ok((exit_code ? failed_with(rc, exit_code, text) && fd == -1 && open_fds() == before
		      : rc == 0 && fd >= 0 && open_fds() == before + 1),
	   what);
	if (fd >= 0)
		close(fd);
	vs_vu_close(&vu);
	close(be);
}

static void
test_inflight_fds(void)
{
	inflight("an area with its fd", 4096, true, 0, NULL);
	inflight("mmap_size 0 with an fd", 0, true, VS_EXIT_PROTOCOL, "mmap_size 0 and an fd");
	inflight("an area without an fd", 4096, false, VS_EXIT_PROTOCOL, "mmap_size 4096 and no fd");
}

static void
test_backend_req_fd(void)
{
	const uint64_t with = VS_VU_PROTOCOL_FEATURES_IMPLEMENTED | BIT(VHOST_USER_PROTOCOL_F_BACKEND_REQ);
	struct vs_vu vu;
	struct vs_vu_open_opts opts = { .timeout_ms = 5000, .protocol_features = with };
	int sv[2], ch[2];
	struct sent s;

	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ch);
	opts.backend_req_fd = ch[1];
	peer_u64(sv[1], VHOST_USER_GET_FEATURES, F_PROTOCOL);
	peer_u64(sv[1], VHOST_USER_GET_PROTOCOL_FEATURES, BIT(VHOST_USER_PROTOCOL_F_BACKEND_REQ) |
							   BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK));
	peer_u64(sv[1], VHOST_USER_SET_BACKEND_REQ_FD, 0);
	peer_u64(sv[1], VHOST_USER_SET_OWNER, 0);
	ok(vs_vu_open_fd_with(&vu, sv[0], "test", &opts) == 0 && fd_open(ch[1]),
	   "SET_BACKEND_REQ_FD: the lent channel end is still the caller's after the handshake");
	peer_recv(sv[1], &s);
	peer_recv(sv[1], &s);
	peer_recv(sv[1], &s);
	ok(peer_recv(sv[1], &s) && s.h.request == VHOST_USER_SET_BACKEND_REQ_FD && s.h.flags == 0x9 && s.nfds == 1 &&
		   expect(sv[1], VHOST_USER_SET_OWNER, 0x9, NULL),
	   "SET_BACKEND_REQ_FD goes out with its fd before SET_OWNER");
	vs_vu_close(&vu);
	close(sv[1]);

	/* the handshake fails: the lent end is still the caller's */
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	peer_u64(sv[1], VHOST_USER_GET_FEATURES, F_PROTOCOL);
	peer_u64(sv[1], VHOST_USER_GET_PROTOCOL_FEATURES, BIT(VHOST_USER_PROTOCOL_F_BACKEND_REQ) |
							   BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK));
	peer_u64(sv[1], VHOST_USER_SET_BACKEND_REQ_FD, 1);
	ok(failed_with(vs_vu_open_fd_with(&vu, sv[0], "test", &opts), VS_EXIT_FAIL, "rejected SET_BACKEND_REQ_FD") &&
		   fd_open(ch[1]) && !fd_open(sv[0]),
	   "a failed handshake closes the connection's socket, not the lent channel end");
	close(sv[1]);
	close(ch[0]);
	close(ch[1]);
}

static void
test_log_base(void)
{
	const uint64_t with = VS_VU_PROTOCOL_FEATURES_IMPLEMENTED | BIT(VHOST_USER_PROTOCOL_F_LOG_SHMFD);
	struct vs_vu vu;
	unsigned char reply[24] = { 0 };
	int be = open_acking(&vu, F_PROTOCOL, with, with), fd = eventfd(0, EFD_CLOEXEC);

	peer_send(be, VHOST_USER_SET_LOG_BASE, REPLY, reply, 8, NULL, 0);
	ok(vs_vu_set_log_base(&vu, 4096, 0, fd) == 0 && expect(be, VHOST_USER_SET_LOG_BASE, 0x1, NULL),
	   "SET_LOG_BASE: always answered, without NEED_REPLY; a u64 reply (libvhost-user) is taken");
	peer_send(be, VHOST_USER_SET_LOG_BASE, REPLY, reply, 16, NULL, 0);
	ok(vs_vu_set_log_base(&vu, 4096, 0, fd) == 0 && expect(be, VHOST_USER_SET_LOG_BASE, 0x1, NULL),
	   "SET_LOG_BASE: the 16-byte echo (rust-vmm) is taken");
	peer_send(be, VHOST_USER_SET_LOG_BASE, REPLY, reply, 24, NULL, 0);
	ok(failed_with(vs_vu_set_log_base(&vu, 4096, 0, fd), VS_EXIT_PROTOCOL, "expected at most 16") && fd_open(fd),
	   "SET_LOG_BASE: a longer reply is a protocol error; the lent fd stays the caller's");
	close(fd);
	vs_vu_close(&vu);
	close(be);
}

int
main(void)
{
	int start;

	start = open_fds();
	test_handshake_order();
	test_handshake_without_bit30();
	test_reply_validation();
	test_transport_errors();
	test_reply_ack();
	test_gates();
	test_device_state_fds();
	test_inflight_fds();
	test_backend_req_fd();
	test_log_base();
	ok(open_fds() == start, "no fd leaked by any case");
	printf("1..%d\n", count);
	return failures ? 1 : 0;
}
