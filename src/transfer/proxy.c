/* The relay engine of `vhost-state proxy` (see proxy.h).
 *
 * Everything happens in one poll loop.  Sockets are read and written with
 * MSG_DONTWAIT, so no file status flag is changed on a descriptor a peer
 * gave us (O_NONBLOCK lives in the open file description and would travel
 * back with it).  Messages are read header first, then exactly the
 * payload, so the fds a recvmsg() brings belong to the message being read
 * (senders attach them to its first byte, doc/vhost-user.md §1), and each
 * message is forwarded whole with its fds in one sendmsg. */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <json.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "chunk.h"
#include "error.h"
#include "identity.h"
#include "io.h"
#include "output.h"
#include "proxy.h"
#include "sink.h"
#include "vu-conn.h"
#include "vu-describe.h"
#include "vu-frontend.h"
#include "vu-proto.h"

#define NRINGS 256	  /* ring indexes are 8 bits on the wire */
#define PENDING_MAX 64	  /* QEMU waits for each reply: one or two at most */
#define XFER_MAX 8	  /* concurrent tee copies (QEMU does one at a time) */
#define CTL_MAX 4	  /* concurrent control clients */
/* A side is read only while what waits for the other side is below this:
 * a peer that sends faster than the other reads is held back, not
 * buffered without end. */
#define QUEUE_MAX (256u << 10)
#define PUMP_BUF (64u << 10)

/* --- time --- */

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

/* Log timestamps: UTC wall-clock time with microseconds, so lines can be
 * matched with QEMU's and the back-end's own logs. */
static void
iso_now(char *buf, size_t len, bool compact)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, len, compact ? "%Y%m%dT%H%M%S" : "%Y-%m-%dT%H:%M:%S", &tm);
	if (compact)
		snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
	else
		snprintf(buf + n, len - n, ".%06ldZ", ts.tv_nsec / 1000);
}

/* --- messages and peers --- */

struct msg {
	struct msg *next;
	size_t len, off; /* bytes in data, bytes sent */
	int fds[VS_PROXY_MAX_FDS];
	size_t nfds;
	unsigned char data[]; /* header + payload, as received */
};

static void
msg_free(struct msg *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nfds; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	free(m);
}

static struct vs_vu_header
msg_hdr(const struct msg *m)
{
	struct vs_vu_header h;

	memcpy(&h, m->data, sizeof h);
	return h;
}

static const unsigned char *
msg_payload(const struct msg *m)
{
	return m->data + VS_VU_HDR_SIZE;
}

static bool
msg_u64(const struct msg *m, uint64_t *v)
{
	if (msg_hdr(m).size != 8)
		return false;
	memcpy(v, msg_payload(m), 8);
	return true;
}

static struct msg *
msg_new(uint32_t request, uint32_t flags, const void *payload, uint32_t size)
{
	struct vs_vu_header h = { request, flags, size };
	struct msg *m = calloc(1, sizeof *m + VS_VU_HDR_SIZE + size);

	if (!m) {
		vs_error_set(VS_EXIT_FAIL, ENOMEM, "out of memory");
		return NULL;
	}
	memcpy(m->data, &h, sizeof h);
	if (size)
		memcpy(m->data + VS_VU_HDR_SIZE, payload, size);
	m->len = VS_VU_HDR_SIZE + size;
	return m;
}

/* One side of a relayed socket. */
struct peer {
	int fd;
	const char *name; /* for messages: "the front-end" */
	/* the message being read */
	unsigned char hdr[VS_VU_HDR_SIZE];
	size_t hdr_got;
	struct msg *in;
	int in_fds[VS_PROXY_MAX_FDS];
	size_t in_nfds;
	long in_since; /* last progress on a partial message; -1: none */
	/* messages waiting to be sent, whole */
	struct msg *out_head, *out_tail;
	size_t out_bytes; /* their total size, bounded by QUEUE_MAX */
	long out_since; /* last progress while out_head is set */
};

static void
peer_init(struct peer *p, const char *name)
{
	memset(p, 0, sizeof *p);
	p->fd = -1;
	p->name = name;
	p->in_since = -1;
}

static void
peer_close(struct peer *p)
{
	struct msg *m, *next;

	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	msg_free(p->in);
	p->in = NULL;
	for (size_t i = 0; i < p->in_nfds; i++)
		close(p->in_fds[i]);
	p->in_nfds = 0;
	p->hdr_got = 0;
	p->in_since = -1;
	for (m = p->out_head; m; m = next) {
		next = m->next;
		msg_free(m);
	}
	p->out_head = p->out_tail = NULL;
}

enum recv_result { RECV_AGAIN, RECV_MSG, RECV_EOF, RECV_ERROR };

/* Read what is there of the current message.  RECV_MSG hands a whole
 * message over in *out.  RECV_ERROR: the error is set (a proxy error). */
static enum recv_result
peer_recv(struct peer *p, struct msg **out)
{
	for (;;) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * VS_PROXY_MAX_FDS)];
			struct cmsghdr align;
		} ctl;
		struct iovec iov;
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
				     .msg_controllen = sizeof ctl.buf };
		ssize_t n;

		if (p->hdr_got < VS_VU_HDR_SIZE) {
			iov.iov_base = p->hdr + p->hdr_got;
			iov.iov_len = VS_VU_HDR_SIZE - p->hdr_got;
		} else {
			iov.iov_base = p->in->data + p->in->len;
			iov.iov_len = VS_VU_HDR_SIZE + msg_hdr(p->in).size - p->in->len;
		}
		n = recvmsg(p->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return RECV_AGAIN;
			if (errno == ECONNRESET)
				return RECV_EOF;
			vs_error_set(VS_EXIT_FAIL, errno, "receiving from %s", p->name);
			return RECV_ERROR;
		}
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			int fds[VS_PROXY_MAX_FDS];
			memcpy(fds, CMSG_DATA(cm), k * sizeof(int) < sizeof fds ? k * sizeof(int) : sizeof fds);
			for (size_t i = 0; i < k && i < VS_PROXY_MAX_FDS; i++) {
				if (p->in_nfds < VS_PROXY_MAX_FDS)
					p->in_fds[p->in_nfds++] = fds[i];
				else
					close(fds[i]);
			}
		}
		if (mh.msg_flags & MSG_CTRUNC) {
			vs_error_set(VS_EXIT_PROTOCOL, 0, "%s attached more than %d fds to one message", p->name,
				     VS_PROXY_MAX_FDS);
			return RECV_ERROR;
		}
		if (n == 0)
			return RECV_EOF;
		p->in_since = now_ms();
		if (p->hdr_got < VS_VU_HDR_SIZE) {
			p->hdr_got += n;
			if (p->hdr_got < VS_VU_HDR_SIZE)
				continue;
			struct vs_vu_header h;
			memcpy(&h, p->hdr, sizeof h);
			if (h.size > VS_PROXY_MAX_PAYLOAD) {
				vs_error_set(VS_EXIT_PROTOCOL, 0,
					     "%s sent %s with a %" PRIu32 "-byte payload, more than the %u the proxy relays",
					     p->name, vs_vu_request_name(h.request), h.size, VS_PROXY_MAX_PAYLOAD);
				return RECV_ERROR;
			}
			p->in = calloc(1, sizeof *p->in + VS_VU_HDR_SIZE + h.size);
			if (!p->in) {
				vs_error_set(VS_EXIT_FAIL, ENOMEM, "out of memory");
				return RECV_ERROR;
			}
			memcpy(p->in->data, p->hdr, VS_VU_HDR_SIZE);
			p->in->len = VS_VU_HDR_SIZE;
		} else {
			p->in->len += n;
		}
		if (p->in->len == VS_VU_HDR_SIZE + msg_hdr(p->in).size) {
			struct msg *m = p->in;
			memcpy(m->fds, p->in_fds, p->in_nfds * sizeof(int));
			m->nfds = p->in_nfds;
			p->in_nfds = 0;
			p->in = NULL;
			p->hdr_got = 0;
			p->in_since = -1;
			*out = m;
			return RECV_MSG;
		}
	}
}

/* Send what the socket takes.  Returns -1 when the peer is gone (its
 * queue is then dropped), -2 on an error of ours (set), else 0. */
static int
peer_flush(struct peer *p)
{
	while (p->fd >= 0 && p->out_head) {
		struct msg *m = p->out_head;
		union {
			char buf[CMSG_SPACE(sizeof(int) * VS_PROXY_MAX_FDS)];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { m->data + m->off, m->len - m->off };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;

		/* fds go with the first byte (doc/vhost-user.md §1) */
		if (m->off == 0 && m->nfds) {
			memset(&ctl, 0, sizeof ctl);
			mh.msg_control = ctl.buf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * m->nfds);
			struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int) * m->nfds);
			memcpy(CMSG_DATA(cm), m->fds, sizeof(int) * m->nfds);
		}
		n = sendmsg(p->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			if (errno == EPIPE || errno == ECONNRESET)
				return -1;
			/* ENOBUFS, ETOOMANYREFS...: ours, not the peer leaving */
			vs_error_set(VS_EXIT_FAIL, errno, "sending %s to %s", vs_vu_request_name(msg_hdr(m).request),
				     p->name);
			return -2;
		}
		m->off += n;
		p->out_since = now_ms();
		if (m->off == m->len) {
			p->out_head = m->next;
			if (!p->out_head)
				p->out_tail = NULL;
			p->out_bytes -= m->len;
			/* our copies of the fds: the receiver has its own now */
			msg_free(m);
		}
	}
	return 0;
}

static void
peer_queue(struct peer *p, struct msg *m)
{
	m->next = NULL;
	p->out_bytes += m->len;
	if (!p->out_head)
		p->out_since = now_ms();
	if (p->out_tail)
		p->out_tail->next = m;
	else
		p->out_head = m;
	p->out_tail = m;
}

/* --- state the proxy keeps about the conversation --- */

struct ring {
	bool seen, started, enabled, kick, call;
	uint32_t size, base;
};

/* A device-state transfer of the front-end, teed. */
struct xfer {
	struct xfer *next;
	unsigned seq;
	uint32_t direction;
	bool awaiting_reply; /* 42 sent to the back-end, no reply yet */
	bool pumping, done, cancelled, have_check;
	uint64_t check;
	int fe_fd;  /* the front-end's end, kept until the reply */
	int own_fd; /* our end of the pipe whose other end went to the back-end */
	/* the pump: src -> dst, copying to the tee */
	int src, dst;
	bool dst_own; /* O_NONBLOCK is ours to set on dst */
	unsigned char *buf;
	size_t len, off;
	bool eof;
	long since;
	uint64_t bytes;
	/* the tee copy */
	char *base; /* DIR/<time>-<seq>-<direction> */
	char *path; /* base + ".vhs" */
	struct vs_output out;
	struct vs_sink sink;
	struct vs_chunk_writer w;
	bool tee_open;
	bool copy_pending; /* all bytes in, committed once CHECK_DEVICE_STATE is seen */
};

/* A control-socket client. */
struct ctl {
	int fd;
	char in[256];
	size_t in_len;
	bool got_command, closing;
	bool refused; /* another uid: its command is answered with an error */
	unsigned char *out;
	size_t out_len, out_off, out_cap;
	long since;
};

enum snap_state { SNAP_IDLE, SNAP_WAITING, SNAP_SENT_42, SNAP_PUMP, SNAP_SENT_43 };

struct proxy {
	const struct vs_proxy_opts *o;
	int listen_fd, listen_slot;
	int ctl_fd, ctl_slot;
	struct peer fe, be, chan_fe, chan_be;
	pid_t fe_pid, be_pid;
	bool fe_seen; /* a front-end connected (it may have left) */
	/* what was negotiated, as seen on the wire */
	bool have_features, have_features_acked, have_protocol, have_protocol_acked;
	uint64_t features, features_acked, protocol_offered, protocol_acked;
	uint64_t queue_num, mem_slots;
	bool have_queue_num, have_mem_slots;
	struct ring rings[NRINGS];
	/* replies the front-end is waiting for, in order */
	struct {
		uint32_t code;
		bool certain; /* false: NEED_REPLY without REPLY_ACK negotiated */
	} pending[PENDING_MAX];
	unsigned npending;
	bool fe_transfer; /* the front-end's own 42 ... 43 is under way */
	uint64_t transfers;
	struct xfer *xfers;
	struct xfer *awaiting; /* the tee whose 42 reply is due */
	unsigned xfer_seq;
	unsigned tee_failures;
	struct ctl *ctls[CTL_MAX];
	struct {
		enum snap_state state;
		struct ctl *client; /* NULL once the client left: the rest is discarded */
		int fd;
		long since;
		uint64_t bytes;
		unsigned count;
	} snap;
	uint64_t counts[6];
	bool ending;
	long end_since;
	bool log_failed;
};

enum dir { D_FE_BE, D_BE_FE, D_CHAN_BE_FE, D_CHAN_FE_BE, D_PX_BE, D_BE_PX };
static const char *const dir_names[] = { "fe>be", "be>fe", "be>fe/chan", "fe>be/chan", "px>be", "be>px" };

/* --- the log --- */

static void
log_line(struct proxy *px, const char *line)
{
	if (!px->o->log)
		return;
	if (fputs(line, px->o->log) < 0 || fputc('\n', px->o->log) < 0 || fflush(px->o->log) != 0)
		px->log_failed = true;
}

/* An event of the proxy itself (not a message). */
static void __attribute__((format(printf, 4, 5)))
log_event(struct proxy *px, const char *kind, struct json_object *fields, const char *fmt, ...)
{
	char msg[1024], t[40];
	va_list ap;

	if (!px->o->log) {
		json_object_put(fields);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	iso_now(t, sizeof t, false);
	if (px->o->json) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "time", json_object_new_string(t));
		json_object_object_add(o, "event", json_object_new_string(kind));
		json_object_object_add(o, "message", json_object_new_string(msg));
		if (fields) {
			json_object_object_foreach(fields, key, val)
				json_object_object_add(o, key, json_object_get(val));
		}
		log_line(px, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else {
		char line[1200];
		snprintf(line, sizeof line, "%s -- %s: %s", t, kind, msg);
		log_line(px, line);
	}
	json_object_put(fields);
}

static void
log_msg(struct proxy *px, enum dir d, const struct msg *m)
{
	bool channel = d == D_CHAN_BE_FE || d == D_CHAN_FE_BE;
	struct vs_vu_message vm = { channel ? VS_VU_CHANNEL_BACKEND : VS_VU_CHANNEL_MAIN, msg_hdr(m),
				    msg_payload(m), m->nfds };
	char t[40];

	px->counts[d]++;
	if (!px->o->log)
		return;
	iso_now(t, sizeof t, false);
	if (px->o->json) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "time", json_object_new_string(t));
		json_object_object_add(o, "dir", json_object_new_string(dir_names[d]));
		json_object_object_add(o, "channel", json_object_new_string(channel ? "backend" : "main"));
		vs_vu_describe_json(o, &vm);
		log_line(px, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else {
		char text[2048], line[2200];
		vs_vu_describe_text(text, sizeof text, &vm);
		snprintf(line, sizeof line, "%s %s %s", t, dir_names[d], text);
		log_line(px, line);
	}
}

/* --- bookkeeping of the negotiation and the rings --- */

static bool
reply_ack_on(const struct proxy *px)
{
	return px->protocol_acked & (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK);
}

static struct ring *
ring_at(struct proxy *px, uint64_t index)
{
	if (index >= NRINGS)
		return NULL;
	px->rings[index].seen = true;
	return &px->rings[index];
}

static void
rings_reset(struct proxy *px)
{
	for (unsigned i = 0; i < NRINGS; i++) {
		px->rings[i].started = px->rings[i].enabled = false;
		px->rings[i].kick = px->rings[i].call = false;
	}
}

/* A request of the front-end, before it is forwarded. */
static void
track_request(struct proxy *px, const struct msg *m)
{
	struct vs_vu_header h = msg_hdr(m);
	const struct vs_vu_request_info *info = vs_vu_request_info(h.request);
	const unsigned char *pl = msg_payload(m);
	struct vhost_vring_state s;
	struct ring *r;
	uint64_t v;

	/* The front-end sent something new, so it is not waiting for an ack
	 * that the back-end may never send (NEED_REPLY without REPLY_ACK). */
	while (px->npending && !px->pending[px->npending - 1].certain)
		px->npending--;
	if ((info && info->reply != VS_PL_ACK) || (h.flags & VHOST_USER_NEED_REPLY_MASK)) {
		if (px->npending == PENDING_MAX) {
			memmove(px->pending, px->pending + 1, sizeof px->pending[0] * (PENDING_MAX - 1));
			px->npending--;
		}
		px->pending[px->npending].code = h.request;
		px->pending[px->npending].certain = (info && info->reply != VS_PL_ACK) || reply_ack_on(px);
		px->npending++;
	}

	if (h.size == sizeof s)
		memcpy(&s, pl, sizeof s);
	switch (h.request) {
	case VHOST_USER_SET_FEATURES:
		if (msg_u64(m, &v)) {
			px->features_acked = v;
			px->have_features_acked = true;
			/* without bit 30 the back-end enables every ring at once */
			if (!(v & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)))
				for (unsigned i = 0; i < NRINGS; i++)
					px->rings[i].enabled = true;
		}
		break;
	case VHOST_USER_SET_PROTOCOL_FEATURES:
		if (msg_u64(m, &v)) {
			px->protocol_acked = v;
			px->have_protocol_acked = true;
		}
		break;
	case VHOST_USER_SET_VRING_NUM:
		if (h.size == sizeof s && (r = ring_at(px, s.index)))
			r->size = s.num;
		break;
	case VHOST_USER_SET_VRING_BASE:
		if (h.size == sizeof s && (r = ring_at(px, s.index)))
			r->base = s.num;
		break;
	case VHOST_USER_SET_VRING_ENABLE:
		if (h.size == sizeof s && (r = ring_at(px, s.index)))
			r->enabled = s.num != 0;
		break;
	case VHOST_USER_SET_VRING_KICK:
		/* A ring with a kick fd (or polling) may start at any moment:
		 * count it as started until GET_VRING_BASE stops it. */
		if (msg_u64(m, &v) && (r = ring_at(px, v & VHOST_USER_VRING_IDX_MASK))) {
			r->kick = !(v & VHOST_USER_VRING_NOFD_MASK);
			r->started = true;
		}
		break;
	case VHOST_USER_SET_VRING_CALL:
		if (msg_u64(m, &v) && (r = ring_at(px, v & VHOST_USER_VRING_IDX_MASK)))
			r->call = !(v & VHOST_USER_VRING_NOFD_MASK);
		break;
	case VHOST_USER_VRING_KICK:
		if (h.size == sizeof s && (r = ring_at(px, s.index)))
			r->started = true;
		break;
	case VHOST_USER_RESET_DEVICE:
	case VHOST_USER_RESET_OWNER:
		rings_reset(px);
		break;
	case VHOST_USER_SET_DEVICE_STATE_FD:
		px->fe_transfer = true;
		px->transfers++;
		break;
	}
}

/* A reply of the back-end to the front-end. */
static void
track_reply(struct proxy *px, const struct msg *m)
{
	struct vs_vu_header h = msg_hdr(m);
	struct vhost_vring_state s;
	struct ring *r;
	uint64_t v;

	while (px->npending && px->pending[0].code != h.request && !px->pending[0].certain) {
		memmove(px->pending, px->pending + 1, sizeof px->pending[0] * (px->npending - 1));
		px->npending--;
	}
	if (px->npending && px->pending[0].code == h.request) {
		memmove(px->pending, px->pending + 1, sizeof px->pending[0] * (px->npending - 1));
		px->npending--;
	}

	switch (h.request) {
	case VHOST_USER_GET_FEATURES:
		if (msg_u64(m, &v)) {
			px->features = v;
			px->have_features = true;
		}
		break;
	case VHOST_USER_GET_PROTOCOL_FEATURES:
		if (msg_u64(m, &v)) {
			px->protocol_offered = v;
			px->have_protocol = true;
		}
		break;
	case VHOST_USER_GET_QUEUE_NUM:
		if (msg_u64(m, &v)) {
			px->queue_num = v;
			px->have_queue_num = true;
		}
		break;
	case VHOST_USER_GET_MAX_MEM_SLOTS:
		if (msg_u64(m, &v)) {
			px->mem_slots = v;
			px->have_mem_slots = true;
		}
		break;
	case VHOST_USER_GET_VRING_BASE:
		if (h.size == sizeof s) {
			memcpy(&s, msg_payload(m), sizeof s);
			if ((r = ring_at(px, s.index))) {
				r->started = false;
				r->kick = r->call = false; /* back-ends forget both (doc/vhost-user.md, V7) */
				r->base = s.num;
			}
		}
		break;
	case VHOST_USER_SET_DEVICE_STATE_FD:
		if (!msg_u64(m, &v) || (v & VHOST_USER_DEVICE_STATE_ERROR_MASK))
			px->fe_transfer = false;
		break;
	case VHOST_USER_CHECK_DEVICE_STATE:
		px->fe_transfer = false;
		break;
	}
}

/* Rings that are started, as "0, 1"; "" when the device is stopped. */
static void
started_rings(const struct proxy *px, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < NRINGS; i++)
		if (px->rings[i].started)
			n += snprintf(buf + n, n < len ? len - n : 0, "%s%u", n ? ", " : "", i);
}

/* --- tee copies of the front-end's transfers --- */

static void
xfer_close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Drop the copy.  counts: the copy itself failed (disk full, too large),
 * as opposed to a transfer that the peers cut short. */
static void
xfer_tee_abort(struct proxy *px, struct xfer *x, const char *why, bool counts)
{
	if (!x->tee_open)
		return;
	vs_output_abort(&x->out);
	vs_chunk_writer_free(&x->w);
	x->tee_open = false;
	if (counts)
		px->tee_failures++;
	log_event(px, "tee", NULL, "transfer %u (%s): no copy kept: %s", x->seq, x->direction ? "load" : "save",
		  why);
}

static void
xfer_free(struct xfer *x)
{
	xfer_close_fd(&x->fe_fd);
	xfer_close_fd(&x->own_fd);
	xfer_close_fd(&x->src);
	xfer_close_fd(&x->dst);
	free(x->buf);
	free(x->base);
	free(x->path);
	free(x);
}

static void
xfer_unlink(struct proxy *px, struct xfer *x)
{
	for (struct xfer **pp = &px->xfers; *pp; pp = &(*pp)->next)
		if (*pp == x) {
			*pp = x->next;
			break;
		}
	if (px->awaiting == x)
		px->awaiting = NULL;
	xfer_free(x);
}

static void
xfer_write_check(struct proxy *px, struct xfer *x)
{
	struct json_object *f = json_object_new_object();
	char *path = NULL, text[32];
	struct vs_output out;
	int n;

	json_object_object_add(f, "file", json_object_new_string(x->path));
	json_object_object_add(f, "bytes", json_object_new_int64((int64_t)x->bytes));
	json_object_object_add(f, "check", json_object_new_int64((int64_t)x->check));
	if (asprintf(&path, "%s.check", x->base) < 0) {
		path = NULL;
		vs_error_set(VS_EXIT_FAIL, ENOMEM, "out of memory");
		goto fail;
	}
	n = snprintf(text, sizeof text, "%" PRIu64 "\n", x->check);
	if (vs_output_open(&out, path, VS_OUTPUT_PRIVATE, -1) < 0)
		goto fail;
	if (vs_write_all(out.fd, text, n, path, -1) < 0) {
		vs_output_abort(&out);
		goto fail;
	}
	if (vs_output_commit(&out) < 0)
		goto fail;
	log_event(px, "tee", f, "transfer %u (%s): CHECK_DEVICE_STATE %" PRIu64 ", recorded in %s", x->seq,
		  x->direction ? "load" : "save", x->check, path);
	free(path);
	return;
fail:
	px->tee_failures++;
	log_event(px, "tee", f, "transfer %u: cannot record CHECK_DEVICE_STATE: %s", x->seq, vs_error_get()->msg);
	free(path);
}

static void
xfer_commit_copy(struct proxy *px, struct xfer *x)
{
	struct json_object *f = json_object_new_object();

	x->copy_pending = false;
	if (vs_chunk_writer_end(&x->w) < 0 || vs_output_commit(&x->out) < 0) {
		x->tee_open = false; /* commit aborted it already, or: */
		vs_output_abort(&x->out);
		vs_chunk_writer_free(&x->w);
		px->tee_failures++;
		log_event(px, "tee", f, "transfer %u: cannot write the copy: %s", x->seq, vs_error_get()->msg);
		return;
	}
	vs_chunk_writer_free(&x->w);
	x->tee_open = false;
	json_object_object_add(f, "file", json_object_new_string(x->path));
	json_object_object_add(f, "bytes", json_object_new_int64((int64_t)x->bytes));
	json_object_object_add(f, "direction", json_object_new_string(x->direction ? "load" : "save"));
	log_event(px, "tee", f, "transfer %u (%s): %" PRIu64 " bytes relayed, copy in %s", x->seq,
		  x->direction ? "load" : "save", x->bytes, x->path);
}

/* The pump reached its end (or was cut): give the reader its EOF; the
 * copy is committed when CHECK_DEVICE_STATE is seen. */
static void
xfer_pump_end(struct proxy *px, struct xfer *x, const char *failure)
{
	xfer_close_fd(&x->src);
	xfer_close_fd(&x->dst);
	free(x->buf);
	x->buf = NULL;
	x->pumping = false;
	x->done = true;
	if (failure) {
		xfer_tee_abort(px, x, failure, false);
		log_event(px, "transfer", NULL, "transfer %u (%s) ended early after %" PRIu64 " bytes: %s", x->seq,
			  x->direction ? "load" : "save", x->bytes, failure);
	} else if (x->tee_open) {
		/* The pipe's EOF does not say the state is whole (a back-end
		 * that dies mid-SAVE closes it too): the copy is kept only
		 * once CHECK_DEVICE_STATE went by. */
		x->copy_pending = true;
		if (x->have_check)
			xfer_commit_copy(px, x);
	} else {
		log_event(px, "transfer", NULL, "transfer %u (%s): %" PRIu64 " bytes relayed", x->seq,
			  x->direction ? "load" : "save", x->bytes);
	}
	if (x->have_check || failure)
		x->cancelled = true;
	if (x->have_check && !failure && px->o->tee_dir)
		xfer_write_check(px, x);
	if (x->cancelled)
		xfer_unlink(px, x);
}

static int
set_own_nonblock(int fd)
{
	return vs_set_nonblock(fd, true);
}

/* The front-end's SET_DEVICE_STATE_FD, on its way to the back-end: give
 * the back-end our own pipe instead, so the bytes pass through us. */
static void
tee_start(struct proxy *px, struct msg *m)
{
	struct vs_vu_header h = msg_hdr(m);
	struct vs_vu_transfer_device_state t;
	unsigned active = 0;
	struct xfer *x;
	int p[2];
	char stamp[40];

	if (h.size != sizeof t || m->nfds != 1) {
		log_event(px, "tee", NULL, "SET_DEVICE_STATE_FD with %zu fds and %" PRIu32 " bytes: relayed as is",
			  m->nfds, h.size);
		return;
	}
	memcpy(&t, msg_payload(m), sizeof t);
	if (t.direction > VHOST_USER_TRANSFER_STATE_DIRECTION_LOAD) {
		log_event(px, "tee", NULL, "unknown transfer direction %" PRIu32 ": relayed as is", t.direction);
		return;
	}
	for (x = px->xfers; x; x = x->next)
		active++;
	if (active >= XFER_MAX || px->awaiting) {
		log_event(px, "tee", NULL, "too many transfers at once: this one is relayed without a copy");
		return;
	}
	x = calloc(1, sizeof *x);
	if (!x || pipe2(p, O_CLOEXEC) < 0) {
		vs_error_set(VS_EXIT_FAIL, x ? errno : ENOMEM, "pipe");
		free(x);
		px->tee_failures++;
		log_event(px, "tee", NULL, "cannot interpose a pipe, relayed without a copy: %s", vs_error_get()->msg);
		return;
	}
	x->seq = ++px->xfer_seq;
	x->direction = t.direction;
	x->src = x->dst = -1;
	/* SAVE: the back-end writes p[1], we read p[0]; LOAD: the reverse.
	 * The back-end's end stays blocking (virtiofsd fails on EAGAIN). */
	x->fe_fd = m->fds[0];
	if (t.direction == VHOST_USER_TRANSFER_STATE_DIRECTION_SAVE) {
		m->fds[0] = p[1];
		x->own_fd = p[0];
	} else {
		m->fds[0] = p[0];
		x->own_fd = p[1];
	}
	set_own_nonblock(x->own_fd);
	iso_now(stamp, sizeof stamp, true);
	if (asprintf(&x->base, "%s/%s-%u-%s", px->o->tee_dir, stamp, x->seq, t.direction ? "load" : "save") < 0 ||
	    asprintf(&x->path, "%s.vhs", x->base) < 0) {
		px->tee_failures++;
		log_event(px, "tee", NULL, "out of memory: transfer %u has no copy", x->seq);
	} else if (vs_output_open(&x->out, x->path, VS_OUTPUT_PRIVATE, -1) < 0) {
		px->tee_failures++;
		log_event(px, "tee", NULL, "transfer %u has no copy: %s", x->seq, vs_error_get()->msg);
	} else {
		vs_sink_fd_init(&x->sink, x->out.fd, x->path);
		if (vs_chunk_writer_init(&x->w, &x->sink) < 0) {
			vs_output_abort(&x->out);
			px->tee_failures++;
		} else {
			x->tee_open = true;
		}
	}
	x->awaiting_reply = true;
	x->next = px->xfers;
	px->xfers = x;
	px->awaiting = x;
}

/* The back-end's reply to a teed SET_DEVICE_STATE_FD, on its way to the
 * front-end: start the pump, interposing again if the back-end returned
 * its own fd. */
static void
tee_reply(struct proxy *px, struct msg *m)
{
	struct xfer *x = px->awaiting;
	uint64_t v;
	int q[2];

	px->awaiting = NULL;
	x->awaiting_reply = false;
	if (!msg_u64(m, &v) || (v & VHOST_USER_DEVICE_STATE_ERROR_MASK)) {
		xfer_pump_end(px, x, "the back-end refused the transfer");
		return;
	}
	if (!(v & VHOST_USER_VRING_NOFD_MASK)) {
		if (m->nfds != 1) {
			xfer_pump_end(px, x, "the back-end's reply lacks the fd it announced");
			return;
		}
		if (pipe2(q, O_CLOEXEC) < 0) {
			vs_error_set(VS_EXIT_FAIL, errno, "pipe");
			xfer_pump_end(px, x, "cannot interpose a pipe for the back-end's own fd");
			return;
		}
		/* The back-end's fd is the one to use now; ours and the
		 * front-end's original are dropped, as QEMU does (doc/vhost-user.md §4). */
		xfer_close_fd(&x->own_fd);
		xfer_close_fd(&x->fe_fd);
		if (x->direction == VHOST_USER_TRANSFER_STATE_DIRECTION_SAVE) {
			x->src = m->fds[0];
			x->dst = q[1];
			m->fds[0] = q[0];
		} else {
			x->src = q[0];
			x->dst = m->fds[0];
			m->fds[0] = q[1];
		}
		/* only the end that stays with us may become non-blocking */
		if (x->direction == VHOST_USER_TRANSFER_STATE_DIRECTION_SAVE) {
			set_own_nonblock(x->dst);
			x->dst_own = true;
		} else {
			set_own_nonblock(x->src);
			x->dst_own = false;
		}
	} else if (x->direction == VHOST_USER_TRANSFER_STATE_DIRECTION_SAVE) {
		x->src = x->own_fd;
		x->dst = x->fe_fd;
		x->own_fd = x->fe_fd = -1;
		x->dst_own = false;
	} else {
		x->src = x->fe_fd;
		x->dst = x->own_fd;
		x->own_fd = x->fe_fd = -1;
		x->dst_own = true;
	}
	x->buf = malloc(PUMP_BUF);
	if (!x->buf) {
		vs_error_set(VS_EXIT_FAIL, ENOMEM, "out of memory");
		xfer_pump_end(px, x, "out of memory");
		return;
	}
	x->pumping = true;
	x->since = now_ms();
}

static void
tee_check(struct proxy *px, const struct msg *m)
{
	struct xfer *x, *last = NULL;
	uint64_t v;

	for (x = px->xfers; x; x = x->next)
		if (!x->have_check && !x->awaiting_reply && (!last || x->seq > last->seq))
			last = x;
	if (!last)
		return;
	last->have_check = true;
	last->check = msg_u64(m, &v) ? v : UINT64_MAX;
	if (last->done) {
		if (last->copy_pending)
			xfer_commit_copy(px, last);
		if (px->o->tee_dir)
			xfer_write_check(px, last);
		xfer_unlink(px, last);
	}
}

/* Move bytes when poll said so.  Returns -1 only for a proxy error. */
static int
xfer_pump(struct proxy *px, struct xfer *x, short src_ev, short dst_ev)
{
	if (src_ev && x->off == x->len && !x->eof) {
		ssize_t n = read(x->src, x->buf, PUMP_BUF);
		if (n > 0) {
			x->len = n;
			x->off = 0;
			x->bytes += n;
			x->since = now_ms();
			if (x->tee_open) {
				if (x->bytes > px->o->max_size)
					xfer_tee_abort(px, x, "larger than --max-size", true);
				else if (vs_chunk_writer_write(&x->w, x->buf, n) < 0)
					xfer_tee_abort(px, x, vs_error_get()->msg, true);
			}
		} else if (n == 0) {
			x->eof = true;
			x->since = now_ms();
		} else if (errno != EAGAIN && errno != EINTR) {
			char why[256];
			snprintf(why, sizeof why, "reading the pipe: %s", strerror(errno));
			xfer_pump_end(px, x, why);
			return 0;
		}
	}
	if (dst_ev && x->off < x->len) {
		size_t k = x->len - x->off;
		/* On a peer's blocking end, poll promises room for PIPE_BUF. */
		if (!x->dst_own && k > PIPE_BUF)
			k = PIPE_BUF;
		ssize_t n = write(x->dst, x->buf + x->off, k);
		if (n > 0) {
			x->off += n;
			x->since = now_ms();
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			char why[256];
			/* The reader left: its side reports the failure itself. */
			snprintf(why, sizeof why, "%s closed its end (%s)",
				 x->direction ? "the back-end" : "the front-end", strerror(errno));
			xfer_pump_end(px, x, why);
			return 0;
		}
	}
	if (x->eof && x->off == x->len)
		xfer_pump_end(px, x, NULL);
	return 0;
}

/* --- control clients --- */

static void
ctl_free(struct proxy *px, unsigned i)
{
	struct ctl *c = px->ctls[i];

	if (px->snap.client == c) {
		px->snap.client = NULL;
		/* the back-end's deadline stood still while the client held
		 * the snapshot (snap_client_slow): it starts over, or the
		 * client's slowness would be blamed on the back-end */
		px->snap.since = now_ms();
	}
	close(c->fd);
	free(c->out);
	free(c);
	px->ctls[i] = NULL;
}

static int
ctl_queue(struct ctl *c, const void *data, size_t len)
{
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len + len > c->out_cap) {
		size_t cap = c->out_len + len + 256;
		unsigned char *p = realloc(c->out, cap);
		if (!p)
			return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
		c->out = p;
		c->out_cap = cap;
	}
	if (c->out_off == c->out_len)
		c->since = now_ms();
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
	return 0;
}

static void __attribute__((format(printf, 2, 3)))
ctl_printf(struct ctl *c, const char *fmt, ...)
{
	char line[1200];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof line)
		n = sizeof line - 1;
	ctl_queue(c, line, n);
}

/* Lines on the control socket stay lines: no newline inside a message. */
static void
one_line(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

static void
ctl_error(struct ctl *c, bool framed, int code, const char *msg)
{
	char m[1024];

	snprintf(m, sizeof m, "%s", msg);
	one_line(m);
	if (framed) {
		uint32_t be = htonl(VS_PROXY_CTL_ERROR);
		ctl_queue(c, &be, 4);
	}
	ctl_printf(c, "error %d %s\n", code, m);
	c->closing = true;
}

/* --- the snapshot: our own SAVE between front-end messages --- */

static void
snap_fail(struct proxy *px, int code, const char *msg)
{
	log_event(px, "snapshot", NULL, "failed: %s", msg);
	if (px->snap.client)
		ctl_error(px->snap.client, px->snap.state >= SNAP_PUMP, code, msg);
	if (px->snap.fd >= 0)
		close(px->snap.fd);
	px->snap.fd = -1;
	px->snap.client = NULL;
	px->snap.state = SNAP_IDLE;
}

/* Why a snapshot cannot run now, or NULL. */
static const char *
snap_refusal(struct proxy *px, int *code, char *buf, size_t len)
{
	char rings[256]; /* a long list is cut: the first rings say enough */

	*code = VS_EXIT_FAIL;
	if (px->ending) {
		*code = VS_EXIT_UNAVAILABLE;
		return "the proxy is shutting down";
	}
	if (px->snap.state != SNAP_IDLE)
		return "a snapshot is already running";
	if (!px->have_protocol_acked) {
		*code = VS_EXIT_UNAVAILABLE;
		return "the front-end has not negotiated protocol features yet";
	}
	if (!(px->protocol_acked & (1ull << VHOST_USER_PROTOCOL_F_DEVICE_STATE))) {
		*code = VS_EXIT_UNAVAILABLE;
		snprintf(buf, len, "DEVICE_STATE was not negotiated (protocol features acked: 0x%" PRIx64 ")",
			 px->protocol_acked);
		return buf;
	}
	started_rings(px, rings, sizeof rings);
	if (rings[0]) {
		snprintf(buf, len,
			 "the device is running (ring%s %s started by the front-end): stop the VM first "
			 "(QMP stop), then retry",
			 strchr(rings, ',') ? "s" : "", rings);
		return buf;
	}
	if (px->fe_transfer || px->awaiting)
		return "the front-end is transferring the device state itself right now";
	return NULL;
}

static int
snap_send(struct proxy *px, uint32_t request, const void *payload, uint32_t size, int fd)
{
	struct msg *m = msg_new(request, VHOST_USER_VERSION, payload, size);

	if (!m) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (fd >= 0)
		m->fds[m->nfds++] = fd;
	log_msg(px, D_PX_BE, m);
	peer_queue(&px->be, m);
	px->snap.since = now_ms();
	return 0;
}

/* Nothing of the front-end's is outstanding and its messages are held:
 * send our own SAVE.  Returns -1 for a proxy error. */
static int
snap_begin(struct proxy *px)
{
	struct vs_vu_transfer_device_state t = { VHOST_USER_TRANSFER_STATE_DIRECTION_SAVE,
						 VHOST_USER_TRANSFER_STATE_PHASE_STOPPED };
	char why[600];
	const char *refusal;
	int code, p[2];

	px->snap.state = SNAP_IDLE;
	if (!px->snap.client) {
		log_event(px, "snapshot", NULL, "the client left before the snapshot could start");
		return 0;
	}
	/* what arrived while we waited may have started a ring */
	refusal = snap_refusal(px, &code, why, sizeof why);
	px->snap.state = SNAP_WAITING;
	if (refusal) {
		snap_fail(px, code, refusal);
		return 0;
	}
	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(why, sizeof why, "pipe: %s", strerror(errno));
		snap_fail(px, VS_EXIT_FAIL, why);
		return 0;
	}
	/* p[1] goes to the back-end as it is: blocking */
	set_own_nonblock(p[0]);
	px->snap.fd = p[0];
	px->snap.bytes = 0;
	px->snap.state = SNAP_SENT_42;
	log_event(px, "snapshot", NULL, "saving the back-end's state (front-end messages held)");
	return snap_send(px, VHOST_USER_SET_DEVICE_STATE_FD, &t, sizeof t, p[1]);
}

/* A reply to our own request.  Returns -1 for a proxy error. */
static int
snap_reply(struct proxy *px, struct msg *m)
{
	struct vs_vu_header h = msg_hdr(m);
	uint64_t v;

	log_msg(px, D_BE_PX, m);
	if (!msg_u64(m, &v)) {
		/* the stream is still in step (the reply was read whole):
		 * only the snapshot fails, the VM's session goes on */
		char why[160];
		snprintf(why, sizeof why, "the back-end answered the proxy's %s with %" PRIu32 " bytes, not 8",
			 vs_vu_request_name(h.request), h.size);
		snap_fail(px, VS_EXIT_PROTOCOL, why);
		return 0;
	}
	if (px->snap.state == SNAP_SENT_42) {
		if (v & VHOST_USER_DEVICE_STATE_ERROR_MASK) {
			char why[128];
			snprintf(why, sizeof why, "the back-end refused SET_DEVICE_STATE_FD (reply 0x%" PRIx64 ")", v);
			snap_fail(px, VS_EXIT_FAIL, why);
			return 0;
		}
		if (!(v & VHOST_USER_VRING_NOFD_MASK)) {
			if (m->nfds != 1) {
				char why[128];
				snprintf(why, sizeof why,
					 "the back-end's SET_DEVICE_STATE_FD reply announces an fd but carries %zu", m->nfds);
				snap_fail(px, VS_EXIT_PROTOCOL, why);
				return 0;
			}
			close(px->snap.fd);
			px->snap.fd = m->fds[0];
			m->nfds = 0;
		}
		px->snap.state = SNAP_PUMP;
		px->snap.since = now_ms();
		if (px->snap.client)
			ctl_printf(px->snap.client, "ok\n");
		return 0;
	}
	/* CHECK_DEVICE_STATE */
	struct json_object *f = json_object_new_object();
	json_object_object_add(f, "bytes", json_object_new_int64((int64_t)px->snap.bytes));
	json_object_object_add(f, "check", json_object_new_int64((int64_t)v));
	log_event(px, "snapshot", f, "%" PRIu64 " bytes, CHECK_DEVICE_STATE %" PRIu64 "%s; releasing front-end messages",
		  px->snap.bytes, v, px->snap.client ? "" : " (the client had left)");
	if (px->snap.client) {
		uint32_t zero = 0;
		ctl_queue(px->snap.client, &zero, 4);
		ctl_printf(px->snap.client, "check %" PRIu64 "\n", v);
		px->snap.client->closing = true;
	}
	px->snap.client = NULL;
	px->snap.state = SNAP_IDLE;
	px->snap.count++;
	return 0;
}

/* Pipe -> control client, one frame at a time; with the client gone the
 * rest is read and dropped, so the back-end can finish and CHECK. */
static int
snap_pump(struct proxy *px)
{
	unsigned char buf[4 + VS_PROXY_CTL_CHUNK];
	ssize_t n = read(px->snap.fd, buf + 4, VS_PROXY_CTL_CHUNK);

	if (n < 0) {
		char why[256];
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		snprintf(why, sizeof why, "reading the back-end's pipe: %s", strerror(errno));
		/* CHECK still has to be asked for: the back-end waits for it */
		n = 0;
		if (px->snap.client) {
			ctl_error(px->snap.client, true, VS_EXIT_FAIL, why);
			px->snap.client = NULL;
		}
	}
	px->snap.since = now_ms();
	if (n == 0) {
		close(px->snap.fd);
		px->snap.fd = -1;
		px->snap.state = SNAP_SENT_43;
		return snap_send(px, VHOST_USER_CHECK_DEVICE_STATE, NULL, 0, -1);
	}
	px->snap.bytes += n;
	if (px->snap.client) {
		uint32_t be = htonl((uint32_t)n);
		memcpy(buf, &be, 4);
		return ctl_queue(px->snap.client, buf, 4 + n);
	}
	return 0;
}

/* --- status --- */

static struct json_object *
status_json(struct proxy *px)
{
	struct json_object *doc = json_object_new_object(), *be, *fe = json_object_new_object();
	struct json_object *rings = json_object_new_array(), *snap = json_object_new_object();
	struct json_object *counts = json_object_new_object();
	struct vs_vu vu;
	char why[600];
	const char *refusal;
	int code;

	/* the identity shape of info and manifests, from what went by */
	memset(&vu, 0, sizeof vu);
	vu.conn.fd = -1;
	vu.conn.peer_pid = px->be_pid;
	vu.features = px->features;
	vu.protocol_offered = px->protocol_offered;
	vu.protocol_features = px->protocol_acked;
	vu.queue_num = px->have_queue_num ? px->queue_num : 1;
	vu.max_mem_slots = px->have_mem_slots ? px->mem_slots : 8;
	be = vs_identity_json(&vu, px->o->connect_path, true);
	json_object_object_add(be, "connected", json_object_new_boolean(px->be.fd >= 0));
	json_object_object_add(doc, "backend", be);

	json_object_object_add(fe, "connected", json_object_new_boolean(px->fe.fd >= 0));
	if (px->fe_pid > 0)
		json_object_object_add(fe, "pid", json_object_new_int(px->fe_pid));
	json_object_object_add(fe, "features_acked",
			       px->have_features_acked ? vs_json_feature_mask(px->features_acked, vs_vu_feature_name)
						       : NULL);
	json_object_object_add(fe, "backend_channel", json_object_new_boolean(px->chan_be.fd >= 0));
	json_object_object_add(doc, "frontend", fe);

	for (unsigned i = 0; i < NRINGS; i++) {
		struct ring *r = &px->rings[i];
		struct json_object *o;
		if (!r->seen)
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "index", json_object_new_int(i));
		json_object_object_add(o, "started", json_object_new_boolean(r->started));
		json_object_object_add(o, "enabled", json_object_new_boolean(r->enabled));
		json_object_object_add(o, "size", json_object_new_int64(r->size));
		json_object_object_add(o, "base", json_object_new_int64(r->base));
		json_object_object_add(o, "kick_fd", json_object_new_boolean(r->kick));
		json_object_object_add(o, "call_fd", json_object_new_boolean(r->call));
		json_object_array_add(rings, o);
	}
	json_object_object_add(doc, "rings", rings);
	started_rings(px, why, sizeof why);
	json_object_object_add(doc, "device_stopped", json_object_new_boolean(why[0] == '\0'));
	json_object_object_add(doc, "transfers", json_object_new_int64((int64_t)px->transfers));
	for (unsigned d = 0; d < sizeof dir_names / sizeof *dir_names; d++)
		json_object_object_add(counts, dir_names[d], json_object_new_int64((int64_t)px->counts[d]));
	json_object_object_add(doc, "messages", counts);
	refusal = snap_refusal(px, &code, why, sizeof why);
	json_object_object_add(snap, "possible", json_object_new_boolean(!refusal));
	if (refusal)
		json_object_object_add(snap, "reason", json_object_new_string(refusal));
	json_object_object_add(snap, "taken", json_object_new_int(px->snap.count));
	json_object_object_add(doc, "snapshot", snap);
	return doc;
}

static void
ctl_command(struct proxy *px, struct ctl *c)
{
	char *nl = memchr(c->in, '\n', c->in_len), why[600];
	const char *refusal;
	int code;

	*nl = '\0';
	if (nl > c->in && nl[-1] == '\r')
		nl[-1] = '\0';
	c->got_command = true;
	if (c->refused) {
		/* answered only once its line is read: closing a unix socket
		 * with unread data would reset the connection, not deliver this */
		ctl_error(c, false, VS_EXIT_UNAVAILABLE,
			  "permission denied: the proxy serves only its own uid and root");
		return;
	}
	if (strcmp(c->in, "status") == 0) {
		struct json_object *doc = status_json(px);
		const char *s = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		ctl_queue(c, s, strlen(s));
		ctl_queue(c, "\n", 1);
		json_object_put(doc);
		c->closing = true;
	} else if (strcmp(c->in, "snapshot") == 0) {
		refusal = snap_refusal(px, &code, why, sizeof why);
		if (refusal) {
			log_event(px, "snapshot", NULL, "refused: %s", refusal);
			ctl_error(c, false, code, refusal);
			return;
		}
		px->snap.state = SNAP_WAITING;
		px->snap.client = c;
		px->snap.fd = -1;
		px->snap.since = now_ms();
	} else {
		one_line(c->in);
		snprintf(why, sizeof why, "unknown command '%.64s' (status, snapshot)", c->in);
		ctl_error(c, false, VS_EXIT_USAGE, why);
	}
}

static void
ctl_read(struct proxy *px, unsigned i)
{
	struct ctl *c = px->ctls[i];
	ssize_t n;

	if (c->got_command) {
		/* nothing more is expected: EOF or junk ends the client */
		char junk[64];
		n = recv(c->fd, junk, sizeof junk, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			ctl_free(px, i);
		return;
	}
	n = recv(c->fd, c->in + c->in_len, sizeof c->in - 1 - c->in_len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		ctl_free(px, i);
		return;
	}
	c->in_len += n;
	c->since = now_ms();
	if (memchr(c->in, '\n', c->in_len))
		ctl_command(px, c);
	else if (c->in_len == sizeof c->in - 1)
		ctl_error(c, false, VS_EXIT_USAGE, "command line too long");
}

static void
ctl_write(struct proxy *px, unsigned i)
{
	struct ctl *c = px->ctls[i];

	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			ctl_free(px, i);
			return;
		}
		c->out_off += n;
		c->since = now_ms();
	}
	if (c->closing)
		ctl_free(px, i);
}

static void
unlisten(int *fd, int *slot, const char *path)
{
	if (*fd < 0)
		return;
	close(*fd);
	*fd = -1;
	unlink(path);
	vs_cleanup_unregister(*slot);
	*slot = -1;
}

/* The control socket hands out the guest's device state and can hold the
 * front-end: only the proxy's own uid and root may use it.  The socket is
 * 0600 already (listen_on); the credentials check is what holds if its
 * mode or a parent directory is opened up later. */
static bool
ctl_allowed(struct proxy *px, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof cred;
	uid_t me = geteuid();

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		log_event(px, "control", NULL, "refused a client whose credentials cannot be read: %s", strerror(errno));
		return false;
	}
	if (cred.uid == me || cred.uid == 0)
		return true;
	log_event(px, "control", NULL, "refused a client of uid %u (pid %d): only uid %u and root may use %s",
		  (unsigned)cred.uid, (int)cred.pid, (unsigned)me, px->o->control_path);
	return false;
}

static void
ctl_accept(struct proxy *px)
{
	int fd = accept4(px->ctl_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	unsigned i;

	if (fd < 0) {
		/* out of fds or memory: the pending client would keep the
		 * socket readable and the loop spinning; stop listening */
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
			log_event(px, "control", NULL, "the control socket is closed: %s", strerror(errno));
			unlisten(&px->ctl_fd, &px->ctl_slot, px->o->control_path);
		}
		return;
	}
	for (i = 0; i < CTL_MAX && px->ctls[i]; i++)
		;
	if (i == CTL_MAX) {
		static const char busy[] = "error 1 too many control clients at once\n";
		(void)!send(fd, busy, sizeof busy - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		close(fd);
		return;
	}
	px->ctls[i] = calloc(1, sizeof *px->ctls[i]);
	if (!px->ctls[i]) {
		close(fd);
		return;
	}
	px->ctls[i]->fd = fd;
	px->ctls[i]->since = now_ms();
	px->ctls[i]->refused = !ctl_allowed(px, fd);
}

/* --- sockets --- */

/* What listen_on() would refuse, checked before the back-end is
 * connected (connecting consumes a one-shot back-end): the same exit
 * codes as an output file's (64: there and not replaceable; 1: the
 * directory cannot take it). */
static int
listen_check(const char *opt, const char *path, bool force)
{
	struct sockaddr_un sa;
	struct stat st;
	char *copy, *dir;
	int rc = 0;

	if (strlen(path) >= sizeof sa.sun_path)
		return vs_fail(VS_EXIT_USAGE, 0, "%s %s: socket path is %zu bytes, longer than the %zu a unix socket address holds",
			       opt, path, strlen(path), sizeof sa.sun_path - 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return vs_fail(VS_EXIT_USAGE, 0, "%s %s: exists and is not a socket", opt, path);
		if (!force)
			return vs_fail(VS_EXIT_USAGE, 0, "%s %s: exists (use -f to replace a stale socket)", opt, path);
	}
	copy = strdup(path);
	if (!copy)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	dir = dirname(copy);
	if (stat(dir, &st) < 0)
		rc = vs_fail(VS_EXIT_FAIL, errno, "%s %s: directory %s", opt, path, dir);
	else if (!S_ISDIR(st.st_mode))
		rc = vs_fail(VS_EXIT_FAIL, ENOTDIR, "%s %s: %s", opt, path, dir);
	else if (access(dir, W_OK | X_OK) < 0)
		rc = vs_fail(VS_EXIT_FAIL, errno, "%s %s: directory %s", opt, path, dir);
	free(copy);
	return rc;
}

/* mode: the socket file's permissions, or 0 for the umask's.  connect()
 * needs write permission on the socket file, and the file is created by
 * bind() with the process umask applied: binding under a umask that
 * leaves only the wanted bits means the socket never exists, not even for
 * an instant, with a wider mode (a chmod after bind would leave a window,
 * and fchmod on the socket fd does not reach the file).  The proxy has one
 * thread, so the umask change is seen by no one else. */
static int
listen_on(const char *path, bool force, mode_t mode, int *slot)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t mask = 0;
	int fd, r;

	*slot = -1;
	if (strlen(path) >= sizeof sa.sun_path)
		return vs_fail(VS_EXIT_USAGE, 0, "%s: socket path is %zu bytes, longer than the %zu a unix socket address holds",
			       path, strlen(path), sizeof sa.sun_path - 1);
	strcpy(sa.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return vs_fail(VS_EXIT_USAGE, 0, "%s exists and is not a socket", path);
		if (!force)
			return vs_fail(VS_EXIT_USAGE, 0, "%s exists (use -f to replace a stale socket)", path);
		if (unlink(path) < 0)
			return vs_fail(VS_EXIT_FAIL, errno, "%s", path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return vs_fail(VS_EXIT_FAIL, errno, "socket");
	if (mode)
		mask = umask(~mode & 0777);
	r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
	if (mode)
		umask(mask);
	if (r < 0 || listen(fd, 4) < 0) {
		int e = errno;
		close(fd);
		if (r == 0)
			unlink(path);
		return vs_fail(VS_EXIT_FAIL, e, "cannot listen on %s", path);
	}
	/* a signal must not leave the socket behind */
	*slot = vs_cleanup_register(path);
	return fd;
}

static pid_t
peer_pid_of(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof cred;

	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 ? cred.pid : 0;
}

static int
fe_accept(struct proxy *px)
{
	int fd = accept4(px->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	char name[256];

	if (fd < 0) {
		if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
			return 0;
		return vs_fail(VS_EXIT_FAIL, errno, "accepting the front-end on %s", px->o->listen_path);
	}
	px->fe.fd = fd;
	px->fe_seen = true;
	px->fe_pid = peer_pid_of(fd);
	/* one front-end per proxy, as a back-end serves one */
	unlisten(&px->listen_fd, &px->listen_slot, px->o->listen_path);
	vs_peer_name(px->fe_pid, name, sizeof name);
	log_event(px, "connect", NULL, "front-end connected (pid %d%s%s)", (int)px->fe_pid, name[0] ? ", " : "", name);
	px->fe.out_since = now_ms();
	return 0;
}

/* --- relaying --- */

/* The front-end handed over its back-end channel: give the back-end a
 * socket of ours instead and relay between the two. */
static void
channel_interpose(struct proxy *px, struct msg *m)
{
	int type = 0, sv[2];
	socklen_t len = sizeof type;

	if (m->nfds != 1 || getsockopt(m->fds[0], SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM) {
		log_event(px, "channel", NULL, "SET_BACKEND_REQ_FD without one stream socket: relayed as is, not traced");
		return;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		log_event(px, "channel", NULL, "socketpair: %s: the back-end channel is relayed as is, not traced",
			  strerror(errno));
		return;
	}
	peer_close(&px->chan_fe);
	peer_close(&px->chan_be);
	px->chan_fe.fd = m->fds[0];
	px->chan_be.fd = sv[0];
	m->fds[0] = sv[1];
	log_event(px, "channel", NULL, "back-end channel interposed");
}

static void
end_session(struct proxy *px, const char *why)
{
	if (px->ending)
		return;
	px->ending = true;
	px->end_since = now_ms();
	log_event(px, "disconnect", NULL, "%s; closing the other side", why);
}

/* A whole message from the front-end.  Returns -1 for a proxy error. */
static int
from_fe(struct proxy *px, struct msg *m)
{
	struct vs_vu_header h = msg_hdr(m);

	track_request(px, m);
	if (h.request == VHOST_USER_SET_BACKEND_REQ_FD)
		channel_interpose(px, m);
	else if (h.request == VHOST_USER_SET_DEVICE_STATE_FD && px->o->tee_dir)
		tee_start(px, m);
	log_msg(px, D_FE_BE, m);
	peer_queue(&px->be, m);
	return 0;
}

static int
from_be(struct proxy *px, struct msg *m)
{
	struct vs_vu_header h = msg_hdr(m);
	bool reply = h.flags & VHOST_USER_REPLY_MASK;

	if (reply && ((px->snap.state == SNAP_SENT_42 && h.request == VHOST_USER_SET_DEVICE_STATE_FD) ||
		      (px->snap.state == SNAP_SENT_43 && h.request == VHOST_USER_CHECK_DEVICE_STATE))) {
		int r = snap_reply(px, m);
		msg_free(m);
		return r;
	}
	if (reply) {
		track_reply(px, m);
		if (h.request == VHOST_USER_SET_DEVICE_STATE_FD && px->awaiting)
			tee_reply(px, m);
		else if (h.request == VHOST_USER_CHECK_DEVICE_STATE)
			tee_check(px, m);
	}
	log_msg(px, D_BE_FE, m);
	peer_queue(&px->fe, m);
	return 0;
}

/* Read and relay what one socket has.  Returns -1 for a proxy error. */
static struct peer *
relay_dest(struct proxy *px, struct peer *p)
{
	return p == &px->fe ? &px->be : p == &px->be ? &px->fe : p == &px->chan_fe ? &px->chan_be : &px->chan_fe;
}

static int
relay_in(struct proxy *px, struct peer *p)
{
	for (;;) {
		struct msg *m = NULL;
		int r = 0;

		/* held front-end messages stay in the socket */
		if (p == &px->fe && px->snap.state != SNAP_IDLE)
			return 0;
		/* backpressure: leave the rest in the socket until the other
		 * side has taken what waits for it */
		if (relay_dest(px, p)->out_bytes >= QUEUE_MAX)
			return 0;
		switch (peer_recv(p, &m)) {
		case RECV_AGAIN:
			return 0;
		case RECV_ERROR:
			return -1;
		case RECV_EOF:
			if (p == &px->fe || p == &px->be) {
				end_session(px, p->in || p->hdr_got ? (p == &px->fe ? "the front-end left mid-message"
										      : "the back-end left mid-message")
								    : (p == &px->fe ? "the front-end disconnected"
										      : "the back-end disconnected"));
				peer_close(p);
			} else {
				/* one side of the back-end channel closed: close both */
				log_event(px, "channel", NULL, "%s closed the back-end channel",
					  p == &px->chan_fe ? "the front-end" : "the back-end");
				peer_flush(p == &px->chan_fe ? &px->chan_be : &px->chan_fe);
				peer_close(&px->chan_fe);
				peer_close(&px->chan_be);
			}
			return 0;
		case RECV_MSG:
			break;
		}
		if (p == &px->fe)
			r = from_fe(px, m);
		else if (p == &px->be)
			r = from_be(px, m);
		else {
			log_msg(px, p == &px->chan_be ? D_CHAN_BE_FE : D_CHAN_FE_BE, m);
			peer_queue(p == &px->chan_be ? &px->chan_fe : &px->chan_be, m);
		}
		if (r < 0)
			return -1;
	}
}

/* --- the loop --- */

enum slot_kind { S_LISTEN, S_CTL_LISTEN, S_PEER, S_CTL, S_XFER_SRC, S_XFER_DST, S_SNAP };
struct slot {
	enum slot_kind kind;
	void *ptr;
	unsigned index;
};

#define MAX_SLOTS (2 + 4 + CTL_MAX + 2 * XFER_MAX + 1)

static void
add_slot(struct pollfd *pfd, struct slot *sl, unsigned *n, int fd, short events, enum slot_kind kind, void *ptr,
	 unsigned index)
{
	if (fd < 0 || *n >= MAX_SLOTS)
		return;
	pfd[*n] = (struct pollfd){ .fd = fd, .events = events };
	sl[*n] = (struct slot){ kind, ptr, index };
	(*n)++;
}

/* While a snapshot holds the front-end its messages stay in the socket:
 * a half-received one is not the front-end's delay. */
static bool
held(const struct proxy *px, const struct peer *p)
{
	return p == &px->fe && px->snap.state != SNAP_IDLE;
}

/* The snapshot waits for its client to take the state, not for the
 * back-end: no deadline runs meanwhile. */
static bool
snap_client_slow(const struct proxy *px)
{
	return px->snap.state == SNAP_PUMP && px->snap.client && px->snap.client->out_off < px->snap.client->out_len;
}

/* Poll events for peer p, whose messages go to dest: its input only
 * while dest's queue has room (backpressure), its output when queued. */
static short
want(const struct peer *p, const struct peer *dest)
{
	short ev = p->out_head ? POLLOUT : 0;

	if (dest->out_bytes < QUEUE_MAX)
		ev |= POLLIN;
	/* a hang-up is reported whatever we ask for, and handled in relay_in */
	return ev;
}

/* The nearest deadline, as a poll timeout: -1 when nothing is under way
 * (idle VMs are normal). */
static int
poll_timeout(struct proxy *px, long now)
{
	long first = LONG_MAX;
	struct peer *peers[] = { &px->fe, &px->be, &px->chan_fe, &px->chan_be };

	if (vs_timeout_ms < 0)
		return -1;
#define CONSIDER(t) do { if ((t) < first) first = (t); } while (0)
	for (unsigned i = 0; i < 4; i++) {
		if (peers[i]->fd < 0)
			continue;
		if (peers[i]->in_since >= 0 && !held(px, peers[i]))
			CONSIDER(peers[i]->in_since);
		if (peers[i]->out_head && !px->ending)
			CONSIDER(peers[i]->out_since);
	}
	for (struct xfer *x = px->xfers; x; x = x->next)
		if (x->pumping)
			CONSIDER(x->since);
	if (px->snap.state != SNAP_IDLE && !snap_client_slow(px))
		CONSIDER(px->snap.since);
	for (unsigned i = 0; i < CTL_MAX; i++)
		if (px->ctls[i] && (!px->ctls[i]->got_command || px->ctls[i]->out_off < px->ctls[i]->out_len))
			CONSIDER(px->ctls[i]->since);
	if (px->ending)
		CONSIDER(px->end_since);
#undef CONSIDER
	if (first == LONG_MAX)
		return -1;
	first += vs_timeout_ms;
	return first <= now ? 0 : (int)(first - now > INT_MAX ? INT_MAX : first - now);
}

static bool
expired(long since, long now)
{
	return vs_timeout_ms >= 0 && now - since >= vs_timeout_ms;
}

/* Returns -1 (error set) when something the relay depends on stalled. */
static int
check_deadlines(struct proxy *px, long now)
{
	struct peer *peers[] = { &px->fe, &px->be, &px->chan_fe, &px->chan_be };
	double s = vs_timeout_ms / 1000.0;

	for (unsigned i = 0; i < 4; i++) {
		if (peers[i]->fd < 0)
			continue;
		if (peers[i]->in_since >= 0 && !held(px, peers[i]) && expired(peers[i]->in_since, now))
			return vs_fail(VS_EXIT_TIMEOUT, 0, "timed out after %g s waiting for %s to send the rest of a message",
				       s, peers[i]->name);
		if (peers[i]->out_head && expired(peers[i]->out_since, now)) {
			if (px->ending)
				continue; /* the drain deadline below covers it */
			return vs_fail(VS_EXIT_TIMEOUT, 0, "timed out after %g s waiting for %s to take %s", s,
				       peers[i]->name, vs_vu_request_name(msg_hdr(peers[i]->out_head).request));
		}
	}
	for (struct xfer *x = px->xfers; x; x = x->next)
		if (x->pumping && expired(x->since, now))
			return vs_fail(VS_EXIT_TIMEOUT, 0,
				       "timed out after %g s: the %s transfer (%" PRIu64 " bytes so far) stopped moving", s,
				       x->direction ? "load" : "save", x->bytes);
	if (px->snap.state == SNAP_WAITING && expired(px->snap.since, now)) {
		snap_fail(px, VS_EXIT_TIMEOUT, "timed out waiting for the front-end's request to be answered");
	} else if (px->snap.state != SNAP_IDLE && px->snap.state != SNAP_WAITING && expired(px->snap.since, now)) {
		if (!snap_client_slow(px))
			return vs_fail(VS_EXIT_TIMEOUT, 0, "timed out after %g s waiting for the back-end during a snapshot (%s)",
				       s, px->snap.state == SNAP_PUMP ? "state data" : "a reply");
	}
	for (unsigned i = 0; i < CTL_MAX; i++) {
		struct ctl *c = px->ctls[i];
		if (c && (!c->got_command || c->out_off < c->out_len) && expired(c->since, now))
			ctl_free(px, i); /* a stuck control client never stalls the VM */
	}
	return 0;
}

static void
cleanup(struct proxy *px)
{
	struct xfer *x, *next;

	unlisten(&px->listen_fd, &px->listen_slot, px->o->listen_path);
	unlisten(&px->ctl_fd, &px->ctl_slot, px->o->control_path);
	peer_close(&px->fe);
	peer_close(&px->be);
	peer_close(&px->chan_fe);
	peer_close(&px->chan_be);
	for (x = px->xfers; x; x = next) {
		next = x->next;
		if (x->tee_open)
			xfer_tee_abort(px, x,
				       x->copy_pending ? "the session ended before CHECK_DEVICE_STATE said the state was whole"
						       : "the session ended before the transfer did",
				       false);
		xfer_free(x);
	}
	px->xfers = NULL;
	if (px->snap.state != SNAP_IDLE)
		snap_fail(px, VS_EXIT_UNAVAILABLE, "the session ended during the snapshot");
	for (unsigned i = 0; i < CTL_MAX; i++)
		if (px->ctls[i]) {
			/* best effort: the final words of a refused or cut client */
			ctl_write(px, i);
			if (px->ctls[i])
				ctl_free(px, i);
		}
}

/* Tee copies hold guest state.  Their directory must be ours (or root's)
 * and writable by no one else, so no other user can plant a name in it
 * or take a copy away; the copies themselves are 0600 and never replace
 * what is at their name (VS_OUTPUT_PRIVATE). */
static int
tee_dir_check(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) < 0)
		return vs_fail(VS_EXIT_USAGE, errno, "--tee %s", dir);
	if (!S_ISDIR(st.st_mode))
		return vs_fail(VS_EXIT_USAGE, 0, "--tee %s: not a directory", dir);
	if (st.st_uid != geteuid() && st.st_uid != 0)
		return vs_fail(VS_EXIT_USAGE, 0, "--tee %s: owned by uid %u, not by this user (uid %u) or root", dir,
			       (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return vs_fail(VS_EXIT_USAGE, 0, "--tee %s: writable by %s (mode %04o); the copies hold guest state", dir,
			       st.st_mode & S_IWOTH ? "others" : "its group", (unsigned)(st.st_mode & 07777));
	return 0;
}

int
vs_proxy_check(const struct vs_proxy_opts *o)
{
	/* everything that can be refused is, before the back-end is
	 * connected: connecting consumes a one-shot back-end */
	if (o->tee_dir) {
		struct stat st;
		if (stat(o->tee_dir, &st) < 0)
			return vs_fail(VS_EXIT_FAIL, errno, "--tee %s", o->tee_dir);
		if (!S_ISDIR(st.st_mode))
			return vs_fail(VS_EXIT_USAGE, 0, "--tee %s: exists and is not a directory", o->tee_dir);
		if (access(o->tee_dir, W_OK | X_OK) < 0)
			return vs_fail(VS_EXIT_FAIL, errno, "--tee %s", o->tee_dir);
		if (tee_dir_check(o->tee_dir) < 0)
			return -1;
	}
	if (listen_check("--listen", o->listen_path, o->force) < 0 ||
	    (o->control_path && listen_check("--control", o->control_path, o->force) < 0))
		return -1;
	return 0;
}

int
vs_proxy_run(const struct vs_proxy_opts *o)
{
	struct proxy px;
	struct vs_vu_conn conn;
	char name[256];
	int rc = 0;

	memset(&px, 0, sizeof px);
	px.o = o;
	px.listen_fd = px.ctl_fd = px.listen_slot = px.ctl_slot = px.snap.fd = -1;
	peer_init(&px.fe, "the front-end");
	peer_init(&px.be, "the back-end");
	peer_init(&px.chan_fe, "the front-end (back-end channel)");
	peer_init(&px.chan_be, "the back-end (back-end channel)");

	if (vs_proxy_check(o) < 0)
		return -1;
	/* the back-end first: without one, QEMU never sees a socket */
	if (vs_conn_connect(&conn, o->connect_path, vs_timeout_ms) < 0)
		return -1;
	px.be.fd = conn.fd;
	px.be_pid = conn.peer_pid;
	px.listen_fd = listen_on(o->listen_path, o->force, 0, &px.listen_slot);
	if (px.listen_fd < 0)
		goto fail;
	if (o->control_path) {
		px.ctl_fd = listen_on(o->control_path, o->force, 0600, &px.ctl_slot);
		if (px.ctl_fd < 0)
			goto fail;
	}
	vs_peer_name(px.be_pid, name, sizeof name);
	log_event(&px, "start", NULL, "back-end %s connected (pid %d%s%s); listening on %s%s%s", o->connect_path,
		  (int)px.be_pid, name[0] ? ", " : "", name, o->listen_path, o->control_path ? ", control on " : "",
		  o->control_path ? o->control_path : "");

	for (;;) {
		struct pollfd pfd[MAX_SLOTS];
		struct slot sl[MAX_SLOTS];
		unsigned n = 0;
		long now;
		int r;

		/* keep sending what is queued before deciding anything */
		if ((r = peer_flush(&px.fe)) == -2)
			goto fail;
		if (r < 0) {
			end_session(&px, "the front-end disconnected");
			peer_close(&px.fe);
		}
		if ((r = peer_flush(&px.be)) == -2)
			goto fail;
		if (r < 0) {
			end_session(&px, "the back-end disconnected");
			peer_close(&px.be);
		}
		if ((r = peer_flush(&px.chan_fe)) == -2 || (r == 0 && (r = peer_flush(&px.chan_be)) == -2))
			goto fail;
		if (r < 0) {
			log_event(&px, "channel", NULL, "the back-end channel broke");
			peer_close(&px.chan_fe);
			peer_close(&px.chan_be);
		}
		if (px.ending && !px.fe.out_head && !px.be.out_head)
			break;
		if (px.snap.state == SNAP_WAITING && px.npending == 0 && !px.awaiting && snap_begin(&px) < 0)
			goto fail;

		if (!px.ending) {
			add_slot(pfd, sl, &n, px.listen_fd, POLLIN, S_LISTEN, NULL, 0);
			add_slot(pfd, sl, &n, px.ctl_fd, POLLIN, S_CTL_LISTEN, NULL, 0);
			/* held: the front-end is left out of the poll set
			 * entirely, so even its hang-up waits */
			if (px.snap.state == SNAP_IDLE)
				add_slot(pfd, sl, &n, px.fe.fd, want(&px.fe, &px.be), S_PEER, &px.fe, 0);
			else if (px.fe.out_head)
				add_slot(pfd, sl, &n, px.fe.fd, POLLOUT, S_PEER, &px.fe, 0);
			add_slot(pfd, sl, &n, px.be.fd, want(&px.be, &px.fe), S_PEER, &px.be, 0);
			add_slot(pfd, sl, &n, px.chan_fe.fd, want(&px.chan_fe, &px.chan_be), S_PEER, &px.chan_fe, 0);
			add_slot(pfd, sl, &n, px.chan_be.fd, want(&px.chan_be, &px.chan_fe), S_PEER, &px.chan_be, 0);
			for (struct xfer *x = px.xfers; x; x = x->next) {
				if (!x->pumping)
					continue;
				if (x->off == x->len && !x->eof)
					add_slot(pfd, sl, &n, x->src, POLLIN, S_XFER_SRC, x, 0);
				if (x->off < x->len)
					add_slot(pfd, sl, &n, x->dst, POLLOUT, S_XFER_DST, x, 0);
			}
			if (px.snap.state == SNAP_PUMP &&
			    (!px.snap.client || px.snap.client->out_off == px.snap.client->out_len))
				add_slot(pfd, sl, &n, px.snap.fd, POLLIN, S_SNAP, NULL, 0);
		} else {
			/* draining: only what is queued for the side still there */
			if (px.fe.out_head)
				add_slot(pfd, sl, &n, px.fe.fd, POLLOUT, S_PEER, &px.fe, 0);
			if (px.be.out_head)
				add_slot(pfd, sl, &n, px.be.fd, POLLOUT, S_PEER, &px.be, 0);
		}
		for (unsigned i = 0; i < CTL_MAX; i++)
			if (px.ctls[i])
				add_slot(pfd, sl, &n, px.ctls[i]->fd,
					 POLLIN | (px.ctls[i]->out_off < px.ctls[i]->out_len ? POLLOUT : 0), S_CTL, NULL, i);

		now = now_ms();
		do
			r = poll(pfd, n, poll_timeout(&px, now));
		while (r < 0 && errno == EINTR);
		if (r < 0) {
			vs_error_set(VS_EXIT_FAIL, errno, "poll");
			goto fail;
		}
		now = now_ms();
		if (px.ending && expired(px.end_since, now)) {
			log_event(&px, "disconnect", NULL, "gave up delivering the last messages after %g s",
				  vs_timeout_ms / 1000.0);
			break;
		}
		if (check_deadlines(&px, now) < 0)
			goto fail;

		for (unsigned i = 0; i < n; i++) {
			short ev = pfd[i].revents;
			if (!ev)
				continue;
			switch (sl[i].kind) {
			case S_LISTEN:
				if (px.listen_fd >= 0 && px.fe.fd < 0 && fe_accept(&px) < 0)
					goto fail;
				break;
			case S_CTL_LISTEN:
				ctl_accept(&px);
				break;
			case S_PEER: {
				struct peer *p = sl[i].ptr;
				if (p->fd < 0 || p->fd != pfd[i].fd)
					break; /* closed by an earlier slot */
				if ((ev & POLLOUT) && (r = peer_flush(p)) == -2)
					goto fail;
				if ((ev & POLLOUT) && r < 0) {
					if (p == &px.fe || p == &px.be) {
						end_session(&px, p == &px.fe ? "the front-end disconnected"
									     : "the back-end disconnected");
					}
					peer_close(p);
					break;
				}
				if ((ev & (POLLIN | POLLHUP | POLLERR)) && !px.ending && relay_in(&px, p) < 0)
					goto fail;
				break;
			}
			case S_CTL:
				if (!px.ctls[sl[i].index] || px.ctls[sl[i].index]->fd != pfd[i].fd)
					break;
				if (ev & POLLOUT)
					ctl_write(&px, sl[i].index);
				if (px.ctls[sl[i].index] && (ev & (POLLIN | POLLHUP | POLLERR)))
					ctl_read(&px, sl[i].index);
				break;
			case S_XFER_SRC:
			case S_XFER_DST: {
				struct xfer *x;
				/* the transfer may be gone already */
				for (x = px.xfers; x && x != sl[i].ptr; x = x->next)
					;
				if (x && x->pumping && xfer_pump(&px, x, sl[i].kind == S_XFER_SRC ? ev : 0,
								 sl[i].kind == S_XFER_DST ? ev : 0) < 0)
					goto fail;
				break;
			}
			case S_SNAP:
				if (px.snap.state == SNAP_PUMP && px.snap.fd == pfd[i].fd && snap_pump(&px) < 0)
					goto fail;
				break;
			}
		}
		/* a finished tee may leave room for writes right away */
		for (unsigned i = 0; i < CTL_MAX; i++)
			if (px.ctls[i] && px.ctls[i]->out_off < px.ctls[i]->out_len)
				ctl_write(&px, i);
	}
	cleanup(&px);
	if (px.tee_failures) {
		vs_error_set(VS_EXIT_FAIL, 0, "%u tee cop%s could not be written (see the log)", px.tee_failures,
			     px.tee_failures == 1 ? "y" : "ies");
		rc = -1;
	}
	if (px.log_failed && rc == 0) {
		vs_error_set(VS_EXIT_FAIL, 0, "the log could not be written completely");
		rc = -1;
	}
	return rc;
fail:
	{
		/* keep the error: cleanup logs and may set others */
		struct vs_error e = *vs_error_get();
		log_event(&px, "error", NULL, "%s; closing both sides", e.msg);
		cleanup(&px);
		vs_error_set(e.exit_code, 0, "%s", e.msg);
	}
	return -1;
}

/* --- the client of the control socket --- */

int
vs_proxy_ctl_connect(const char *path, const char *command)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char line[64];
	int fd, n;

	if (strlen(path) >= sizeof sa.sun_path)
		return vs_fail(VS_EXIT_USAGE, 0, "%s: socket path is %zu bytes, longer than the %zu a unix socket address holds",
			       path, strlen(path), sizeof sa.sun_path - 1);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return vs_fail(VS_EXIT_FAIL, errno, "socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = errno;
		if (e == EAGAIN) {
			close(fd);
			return vs_fail(VS_EXIT_TIMEOUT, 0, "%s: the proxy accepts no more control connections", path);
		}
		close(fd);
		if (e == ENOENT || e == ECONNREFUSED)
			return vs_fail(VS_EXIT_UNAVAILABLE, 0, "cannot connect to %s: %s (is the proxy running with --control?)",
				       path, strerror(e));
		return vs_fail(VS_EXIT_UNAVAILABLE, e, "cannot connect to %s", path);
	}
	n = snprintf(line, sizeof line, "%s\n", command);
	if (vs_write_all(fd, line, n, path, vs_timeout_ms) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}
