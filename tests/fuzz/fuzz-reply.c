/* libFuzzer target: the front-end's reply handling.  The real library
 * (vs_vu_open_fd, vs_save_backend_state, vs_load_backend_state) talks
 * over a socketpair to a fake back-end thread that answers with the fuzz
 * bytes.  Input:
 *
 *   byte 0 (plan)  bits 0-1  operations: save; load; load then save (as
 *                            verify does); save then save
 *                  bit 2     --max-size of 4 bytes instead of 1 MiB
 *                  bit 3     the load's producer fails after its first piece
 *                  bit 4     the back-end closes the transfer fd it is
 *                            given at once, without using it
 *                  bit 5     stall: the back-end keeps the transfer fd
 *                            unused and hangs up after answering
 *                            SET_DEVICE_STATE_FD; a load offers 4 MiB, more
 *                            than a pipe holds, so the front-end waits on
 *                            the pipe and must notice the hang-up there
 *                  bit 6     loads read a raw stream file through a chunk
 *                            reader (vs_load_backend_state_chunks: splice
 *                            into a pipe, read + write into a socket)
 *   then one segment per request the front-end sends, in order:
 *     ctl          bits 0-2  fd to attach to the segment's first byte: 0
 *                            none, 1 pipe read end (STATE in it, no
 *                            writer), 2 pipe write end, 3 socket (peer
 *                            closed), 4 memfd, 5 /dev/null, 6-7 none
 *                  bits 3-6  copies of it minus one (over 8 overflows the
 *                            front-end's control buffer)
 *                  bit 7     canned: the reply virtiofsd would give, and no
 *                            len or bytes follow
 *     len, bytes   (not canned) what to write, verbatim
 *
 * The back-end answers in lock-step: it reads a request, acts on its fd
 * (a SAVE pipe gets STATE written into it), then writes the segment.  As
 * soon as it owes the front-end a reply it has not written in full, it
 * hangs up (shutdown(SHUT_WR)): the front-end sees EOF at once instead of
 * waiting out a deadline, and each input runs the same way every time.
 * It keeps reading requests until the front-end closes, so the front-end
 * can never block on a full socket. */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chunk.h"
#include "device-state.h"
#include "error.h"
#include "fuzz-common.h"
#include "vu-frontend.h"

#define PLAN_OPS 0x03u
#define PLAN_SMALL_MAX 0x04u
#define PLAN_PRODUCE_FAILS 0x08u
#define PLAN_CLOSE_XFER 0x10u
#define PLAN_STALL 0x20u
#define PLAN_LOAD_CHUNKS 0x40u
#define STALL_LOAD_SIZE (4u << 20)

#define CTL_FD_KIND 0x07u
#define CTL_FD_COPIES(c) ((((c) >> 3) & 0x0fu) + 1)
#define CTL_CANNED 0x80u

enum { FD_NONE, FD_PIPE_READ, FD_PIPE_WRITE, FD_SOCKET, FD_MEMFD, FD_DEVNULL };

/* The idle virtiofsd payload, as the back-end's state. */
static const unsigned char STATE[] = { 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };

#define REPLY_SIZE (VS_VU_HDR_SIZE + 8u)
#define MAX_HELD 16

struct backend {
	int fd;			/* our end, blocking */
	const uint8_t *seg;	/* segments not used yet */
	size_t left;
	uint8_t plan;
	uint64_t owed, sent;	/* reply bytes the front-end waits for, written */
	bool hung_up, dead;	/* shutdown(SHUT_WR) done; a write failed */
	bool owner_set;
	int xfer;		/* the LOAD transfer fd, kept until CHECK */
	int held[MAX_HELD];	/* read ends behind pipe write ends we sent */
	int nheld;
};

static void
die(const char *what)
{
	fprintf(stderr, "fuzz-reply: %s (errno %d: %s)\n", what, errno, strerror(errno));
	abort();
}

/* Read exactly len bytes; fds that come along go to fds[].  Returns false
 * at EOF or on error: the front-end is gone. */
static bool
recv_exact(int fd, void *buf, size_t len, int *fds, size_t *nfds)
{
	char *p = buf;

	while (len > 0) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * VS_VU_MAX_FDS)];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { p, len };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
				      .msg_controllen = sizeof ctl.buf };
		ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
			size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			int *in = (int *)CMSG_DATA(cm);
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			for (size_t i = 0; i < k; i++) {
				if (*nfds == 2 * VS_VU_MAX_FDS)
					die("the front-end sent more fds than any request carries");
				fds[(*nfds)++] = in[i];
			}
		}
		/* The front-end never attaches more than one fd. */
		if (msg.msg_flags & MSG_CTRUNC)
			die("the front-end sent more fds than any request carries");
		p += n;
		len -= n;
	}
	return true;
}

/* The fd a segment asks for; any helper end we keep is in b->held. */
static int
make_fd(struct backend *b, unsigned kind)
{
	int p[2], fd = -1;

	switch (kind) {
	case FD_PIPE_READ:
		if (pipe2(p, O_CLOEXEC) < 0)
			die("pipe");
		if (write(p[1], STATE, sizeof STATE) != sizeof STATE)
			die("pipe write");
		close(p[1]);
		fd = p[0];
		break;
	case FD_PIPE_WRITE:
		/* The read end stays open, so writes of STATE's size succeed. */
		if (pipe2(p, O_CLOEXEC) < 0)
			die("pipe");
		if (b->nheld < MAX_HELD)
			b->held[b->nheld++] = p[0];
		else
			close(p[0]);
		fd = p[1];
		break;
	case FD_SOCKET:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) < 0)
			die("socketpair");
		close(p[1]);
		fd = p[0];
		break;
	case FD_MEMFD:
		fd = memfd_create("fuzz-reply", MFD_CLOEXEC);
		break;
	case FD_DEVNULL:
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		break;
	}
	if (kind >= FD_PIPE_READ && kind <= FD_DEVNULL && fd < 0)
		die("creating an fd to attach");
	return fd;
}

static void
send_bytes(struct backend *b, const void *buf, size_t len, unsigned kind, unsigned copies)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 16)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { (void *)buf, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	int fd = len ? make_fd(b, kind) : -1; /* fds need a byte to ride on */

	if (fd >= 0) {
		struct cmsghdr *cm;
		int fds[16];

		for (unsigned i = 0; i < copies; i++)
			fds[i] = fd;
		memset(&ctl, 0, sizeof ctl);
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * copies);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * copies);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * copies);
	}
	while (len > 0 && !b->dead) {
		ssize_t n = sendmsg(b->fd, &msg, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			b->dead = true; /* the front-end hung up */
			break;
		}
		b->sent += n;
		len -= n;
		iov.iov_base = (char *)iov.iov_base + n;
		iov.iov_len -= n;
		msg.msg_control = NULL;
		msg.msg_controllen = 0;
	}
	if (fd >= 0)
		close(fd);
}

/* What virtiofsd 1.13 answers. */
static uint64_t
canned_value(uint32_t code)
{
	switch (code) {
	case VHOST_USER_GET_FEATURES:
		return 0x174000000ull;
	case VHOST_USER_GET_PROTOCOL_FEATURES:
		return 0x8a42bull;
	case VHOST_USER_GET_QUEUE_NUM:
		return 2;
	case VHOST_USER_GET_MAX_MEM_SLOTS:
		return 509;
	case VHOST_USER_SET_DEVICE_STATE_FD:
		return VHOST_USER_VRING_NOFD_MASK;
	default:
		return 0; /* acks, CHECK_DEVICE_STATE */
	}
}

/* Write this request's segment, if any is left. */
static void
answer(struct backend *b, const struct vs_vu_header *req, bool wants_reply)
{
	unsigned char buf[256];
	size_t len = 0;
	uint8_t ctl;

	if (b->left == 0)
		return;
	ctl = *b->seg++;
	b->left--;
	if (ctl & CTL_CANNED) {
		if (wants_reply) {
			struct vs_vu_header h = { .request = req->request,
						  .flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK,
						  .size = 8 };
			uint64_t v = canned_value(req->request);
			memcpy(buf, &h, VS_VU_HDR_SIZE);
			memcpy(buf + VS_VU_HDR_SIZE, &v, 8);
			len = REPLY_SIZE;
		}
	} else if (b->left > 0) {
		len = *b->seg++;
		b->left--;
		if (len > b->left)
			len = b->left;
		memcpy(buf, b->seg, len);
		b->seg += len;
		b->left -= len;
	}
	send_bytes(b, buf, len, ctl & CTL_FD_KIND, CTL_FD_COPIES(ctl));
}

/* The rules every request of ours follows, whatever the replies were. */
static void
check_request(struct backend *b, const struct vs_vu_header *req, size_t nfds)
{
	const struct vs_vu_request_info *info = vs_vu_request_info(req->request);
	uint32_t want_size = info && info->payload == VS_PL_NONE ? 0 : 8;

	if (!info)
		die("the front-end sent an unknown request");
	if ((req->flags & ~VHOST_USER_NEED_REPLY_MASK) != VHOST_USER_VERSION)
		die("the front-end sent bad header flags");
	if (req->size != want_size)
		die("the front-end sent a payload of the wrong size");
	if (nfds != (req->request == VHOST_USER_SET_DEVICE_STATE_FD ? 1u : 0u))
		die("the front-end sent the wrong number of fds");
	if (req->request == VHOST_USER_SET_OWNER) {
		if (b->owner_set)
			die("the front-end sent SET_OWNER twice");
		b->owner_set = true;
	}
	if (info->reply == VS_PL_ACK && (req->flags & VHOST_USER_NEED_REPLY_MASK) &&
	    req->request == VHOST_USER_SET_PROTOCOL_FEATURES)
		die("NEED_REPLY on SET_PROTOCOL_FEATURES, before REPLY_ACK was acked");
}

static void
close_xfer(struct backend *b)
{
	if (b->xfer >= 0)
		close(b->xfer);
	b->xfer = -1;
}

/* SET_DEVICE_STATE_FD: a SAVE pipe gets STATE and closes (EOF for the
 * front-end); a LOAD pipe is kept open until CHECK, unread: STATE is
 * small enough to sit in the pipe. */
static void
take_transfer_fd(struct backend *b, const unsigned char *payload, int fd)
{
	struct vs_vu_transfer_device_state t;

	memcpy(&t, payload, sizeof t);
	close_xfer(b);
	if (b->plan & PLAN_CLOSE_XFER) {
		close(fd);
		return;
	}
	if (b->plan & PLAN_STALL) {
		b->xfer = fd;
		return;
	}
	if (t.direction == VHOST_USER_TRANSFER_STATE_DIRECTION_SAVE) {
		/* Blocking on our side, as designed.  EPIPE: the front-end took
		 * an early reply for the whole answer and gave up already. */
		if (write(fd, STATE, sizeof STATE) != sizeof STATE && errno != EPIPE)
			die("writing the SAVE pipe");
		close(fd);
		return;
	}
	b->xfer = fd;
}

static void *
backend_main(void *opaque)
{
	struct backend *b = opaque;

	for (;;) {
		struct vs_vu_header req;
		unsigned char payload[8];
		int fds[2 * VS_VU_MAX_FDS];
		size_t nfds = 0;
		const struct vs_vu_request_info *info;
		bool wants_reply;

		if (!recv_exact(b->fd, &req, sizeof req, fds, &nfds))
			break;
		if (req.size > sizeof payload)
			die("the front-end sent an oversized payload");
		if (!recv_exact(b->fd, payload, req.size, fds, &nfds))
			break;
		check_request(b, &req, nfds);
		info = vs_vu_request_info(req.request);
		if (req.request == VHOST_USER_SET_DEVICE_STATE_FD)
			take_transfer_fd(b, payload, fds[0]);
		if (req.request == VHOST_USER_CHECK_DEVICE_STATE)
			close_xfer(b);
		/* The front-end reads a reply exactly when vu_request does. */
		wants_reply = info->reply != VS_PL_ACK || (req.flags & VHOST_USER_NEED_REPLY_MASK);
		if (wants_reply)
			b->owed += REPLY_SIZE;
		if (!b->hung_up)
			answer(b, &req, wants_reply);
		if (!b->hung_up && (b->sent < b->owed || ((b->plan & PLAN_STALL) &&
							    req.request == VHOST_USER_SET_DEVICE_STATE_FD))) {
			shutdown(b->fd, SHUT_WR);
			b->hung_up = true;
		}
	}
	close_xfer(b);
	for (int i = 0; i < b->nheld; i++)
		close(b->held[i]);
	close(b->fd);
	return NULL;
}

struct producer {
	bool fails, stall;
	unsigned calls;
	uint64_t left; /* stall: bytes still to offer */
};

/* Raw streams of STATE and of STALL_LOAD_SIZE bytes, for loads through a
 * chunk reader: memfds made once, opened afresh by path for each load. */
static int stream_fd = -1, stall_stream_fd = -1;

static int
make_stream(size_t payload, const void *fill)
{
	int fd = memfd_create("fuzz-reply-stream", MFD_CLOEXEC);
	unsigned char *buf = malloc(VS_CHUNK_SIZE);
	uint32_t be;

	if (fd < 0 || !buf)
		die("creating a state stream");
	memset(buf, 0x5a, VS_CHUNK_SIZE);
	if (fill)
		memcpy(buf, fill, payload);
	while (payload > 0) {
		uint32_t n = payload < VS_CHUNK_SIZE ? payload : VS_CHUNK_SIZE;
		be = htonl(n);
		if (write(fd, &be, 4) != 4 || write(fd, buf, n) != n)
			die("writing a state stream");
		payload -= n;
	}
	be = 0;
	if (write(fd, &be, 4) != 4)
		die("writing a state stream");
	free(buf);
	return fd;
}

static int
load_chunks(struct vs_vu *vu, bool stall, uint64_t *bytes)
{
	struct vs_source src;
	struct vs_chunk_reader r;
	struct vs_chunk_limits lim = { 0 };
	char path[64];
	int rc;

	snprintf(path, sizeof path, "/proc/self/fd/%d", stall ? stall_stream_fd : stream_fd);
	if (vs_source_open(&src, path, VS_FUZZ_TIMEOUT_MS) < 0)
		die("opening a state stream");
	vs_chunk_reader_init(&r, &src, &lim);
	rc = vs_load_backend_state_chunks(vu, &r, NULL, bytes);
	vs_source_close(&src);
	return rc;
}

static ssize_t
produce(void *opaque, void *buf, size_t len)
{
	struct producer *p = opaque;

	if (p->stall && p->left) {
		if (len > p->left)
			len = p->left;
		memset(buf, 0x5a, len);
		p->left -= len;
		return len;
	}
	if (p->calls++ == 0) {
		memcpy(buf, STATE, sizeof STATE);
		return sizeof STATE;
	}
	if (p->fails)
		return vs_fail(VS_EXIT_FAIL, EIO, "fuzz: the producer fails");
	return 0;
}

static int
consume(void *opaque, const void *buf, size_t len)
{
	uint64_t *total = opaque;

	if (len == 0 || len > VS_CHUNK_SIZE)
		die("consume was given a piece of a bad size");
	*total += len;
	return 0;
}

/* A failure must be reported, and be one of the classes a back-end can
 * cause.  Never a timeout: this back-end always answers or hangs up. */
static void
check_failure(const char *op)
{
	const struct vs_error *e = vs_error_get();

	/* 65: a state over the size limit, the class every verb gives it */
	if (e->exit_code == VS_EXIT_FAIL || e->exit_code == VS_EXIT_UNAVAILABLE ||
	    e->exit_code == VS_EXIT_PROTOCOL || e->exit_code == VS_EXIT_DATAERR)
		if (e->msg[0])
			return;
	fprintf(stderr, "fuzz-reply: %s failed with exit class %d: \"%s\"\n", op, e->exit_code, e->msg);
	abort();
}

static void
run_op(struct vs_vu *vu, bool load, uint8_t plan)
{
	uint64_t bytes = 0, consumed = 0;
	int rc;

	vs_error_clear();
	if (load) {
		struct producer p = { .fails = plan & PLAN_PRODUCE_FAILS, .stall = plan & PLAN_STALL,
				      .left = plan & PLAN_STALL ? STALL_LOAD_SIZE : 0 };
		if (plan & PLAN_LOAD_CHUNKS)
			rc = load_chunks(vu, p.stall, &bytes);
		else
			rc = vs_load_backend_state(vu, produce, &p, &bytes);
		if (rc == 0 && (bytes != sizeof STATE || p.stall || (p.fails && !(plan & PLAN_LOAD_CHUNKS))))
			die("a load succeeded without the whole state");
	} else {
		uint64_t max = plan & PLAN_SMALL_MAX ? 4 : 1u << 20;
		rc = vs_save_backend_state(vu, max, consume, &consumed, &bytes);
		if (rc == 0 && (bytes != consumed || (bytes != 0 && bytes != sizeof STATE) || bytes > max))
			die("a save succeeded with a wrong byte count");
	}
	if (rc < 0)
		check_failure(load ? "load" : "save");
	if (vs_fuzz_vu_opts.verbose)
		fprintf(stderr, "fuzz-reply: %s: %s\n", load ? "load" : "save",
			rc < 0 ? vs_error_get()->msg : "ok");
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	vs_fuzz_setup();
	stream_fd = make_stream(sizeof STATE, STATE);
	stall_stream_fd = make_stream(STALL_LOAD_SIZE, NULL);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const bool loads[4][2] = { { false, false }, { true, false }, { true, false }, { false, false } };
	static const int nops[4] = { 1, 1, 2, 2 };
	int fds = vs_fuzz_count_fds();
	struct backend b = { .xfer = -1 };
	struct vs_vu vu;
	pthread_t t;
	int sv[2];
	uint8_t plan = size ? data[0] : 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		die("socketpair");
	b.fd = sv[1];
	b.plan = plan;
	b.seg = size ? data + 1 : data;
	b.left = size ? size - 1 : 0;
	if (pthread_create(&t, NULL, backend_main, &b) != 0)
		die("pthread_create");

	vs_error_clear();
	if (vs_vu_open_fd_with(&vu, sv[0], "fuzz", &vs_fuzz_vu_opts) == 0) {
		for (int i = 0; i < nops[plan & PLAN_OPS]; i++)
			run_op(&vu, loads[plan & PLAN_OPS][i], plan);
		vs_vu_close(&vu);
	} else {
		check_failure("the handshake");
		if (vs_fuzz_vu_opts.verbose)
			fprintf(stderr, "fuzz-reply: %s\n", vs_error_get()->msg);
	}
	/* Our end is closed: the back-end reads EOF and ends. */
	pthread_join(t, NULL);
	vs_fuzz_check_fds(fds, "after the input");
	return 0;
}
