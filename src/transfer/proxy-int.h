/* The insides of the proxy, shared by its files (not an interface of the
 * library; proxy.h is): the relayed messages, the peers, what the proxy
 * keeps about the conversation, and the functions each file lends the
 * others.
 *   proxy.c        the listening sockets, relaying, the poll loop and
 *                  vs_proxy_run();
 *   proxy-peer.c   messages in and out of a relayed socket, with their fds;
 *   proxy-log.c    the message log, as text or JSON lines;
 *   proxy-track.c  the negotiation and the rings, as seen on the wire;
 *   proxy-tee.c    copies of the front-end's device-state transfers;
 *   proxy-ctl.c    the control protocol: the server, the snapshot it
 *                  takes, and the client `vhost-state snapshot` uses. */
#ifndef VS_PROXY_INT_H
#define VS_PROXY_INT_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "proxy.h"
#include "vu-proto.h"

struct json_object;

#define NRINGS 256	  /* ring indexes are 8 bits on the wire */
#define PENDING_MAX 64	  /* QEMU waits for each reply: one or two at most */
#define XFER_MAX 8	  /* concurrent tee copies (QEMU does one at a time) */
#define CTL_MAX 4	  /* control clients served at a time */
/* and as many again held until their line is read, to be told 'too many' */
#define CTL_SLOTS (2 * CTL_MAX)
/* Bytes a control client may send beyond its line before it is cut off
 * (with a reset); none of ours sends any. */
#define CTL_DROP_MAX (1u << 20)
/* A side is read only while what waits for the other side is below this:
 * a peer that sends faster than the other reads is held back, not
 * buffered without end. */
#define QUEUE_MAX (256u << 10)

/* --- messages and peers (proxy-peer.c) --- */

struct msg {
	struct msg *next;
	size_t len, off; /* bytes in data, bytes sent */
	int fds[VS_PROXY_MAX_FDS];
	size_t nfds;
	unsigned char data[]; /* header + payload, as received */
};

static inline struct vs_vu_header
msg_hdr(const struct msg *m)
{
	struct vs_vu_header h;

	memcpy(&h, m->data, sizeof h);
	return h;
}

static inline const unsigned char *
msg_payload(const struct msg *m)
{
	return m->data + VS_VU_HDR_SIZE;
}

static inline bool
msg_u64(const struct msg *m, uint64_t *v)
{
	if (msg_hdr(m).size != 8)
		return false;
	memcpy(v, msg_payload(m), 8);
	return true;
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

enum recv_result { RECV_AGAIN, RECV_MSG, RECV_EOF, RECV_ERROR };

/* Monotonic milliseconds, the clock of every deadline. */
long vs_px_now_ms(void);
void vs_px_msg_free(struct msg *m);
/* NULL (error set) without memory. */
struct msg *vs_px_msg_new(uint32_t request, uint32_t flags, const void *payload, uint32_t size);
void vs_px_peer_init(struct peer *p, const char *name);
void vs_px_peer_close(struct peer *p);
/* Read what is there of the current message.  RECV_MSG hands a whole
 * message over in *out.  RECV_ERROR: the error is set (a proxy error). */
enum recv_result vs_px_peer_recv(struct peer *p, struct msg **out);
/* Send what the socket takes.  Returns -1 when the peer is gone (its
 * queue is then dropped), -2 on an error of ours (set), else 0. */
int vs_px_peer_flush(struct peer *p);
void vs_px_peer_queue(struct peer *p, struct msg *m);

/* --- state the proxy keeps about the conversation --- */

struct ring {
	bool seen, started, enabled, kick, call;
	uint32_t size, base;
	/* a copy of the front-end's kick fd, -1 when none, to kick the ring
	 * again once its enable is acked (proxy-track.c; doc/vhost-user.md,
	 * R10) */
	int kick_fd;
	bool rekick;
};

/* A device-state transfer of the front-end, teed (proxy-tee.c). */
struct xfer;

/* A control-socket client. */
struct ctl {
	int fd;
	char in[256];
	size_t in_len;
	bool got_command, closing;
	bool refused; /* another uid: its command is answered with an error */
	bool turned_away; /* over CTL_MAX: answered 'too many' the same way */
	/* after the last answer: our side shut, its bytes read and dropped
	 * until its EOF, so that the close never resets the connection */
	bool draining;
	bool eof; /* it shut its side while its answer was still queued */
	size_t dropped; /* bytes it sent beyond its line, at most CTL_DROP_MAX */
	unsigned char *out;
	size_t out_len, out_off, out_cap;
	long since;
};

enum snap_state { SNAP_IDLE, SNAP_WAITING, SNAP_SENT_42, SNAP_PUMP, SNAP_SENT_43 };

/* Who sent a message to whom, as the log names it (vs_px_dir_names). */
enum dir { D_FE_BE, D_BE_FE, D_CHAN_BE_FE, D_CHAN_FE_BE, D_PX_BE, D_BE_PX, D_COUNT };

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
	struct ctl *ctls[CTL_SLOTS];
	struct {
		enum snap_state state;
		struct ctl *client; /* NULL once the client left: the rest is discarded */
		int fd;
		long since;
		uint64_t bytes;
		unsigned count;
	} snap;
	uint64_t counts[D_COUNT];
	bool ending;
	long end_since;
	bool log_failed;
};

/* --- the loop's poll set (proxy.c) --- */

enum slot_kind { S_LISTEN, S_CTL_LISTEN, S_PEER, S_CTL, S_XFER_SRC, S_XFER_DST, S_SNAP };
struct slot {
	enum slot_kind kind;
	void *ptr;
	unsigned index;
};

#define MAX_SLOTS (2 + 4 + CTL_SLOTS + 2 * XFER_MAX + 1)

struct pollset {
	struct pollfd pfd[MAX_SLOTS];
	struct slot sl[MAX_SLOTS];
	unsigned n;
};

/* Add fd (nothing for fd < 0) to what the next poll waits for. */
void vs_px_poll_add(struct pollset *ps, int fd, short events, enum slot_kind kind, void *ptr, unsigned index);
/* A deadline that started at since has passed (-t of the options). */
bool vs_px_expired(const struct proxy *px, long since, long now);
/* Close a listening socket and remove its path. */
void vs_px_unlisten(int *fd, int *slot, const char *path);

/* --- the log (proxy-log.c) --- */

extern const char *const vs_px_dir_names[D_COUNT];
/* UTC wall-clock time, with microseconds (compact: milliseconds, no
 * separators, for file names). */
void vs_px_iso_now(char *buf, size_t len, bool compact);
/* An event of the proxy itself (not a message); fields (taken, may be
 * NULL) are added to its JSON line. */
void vs_px_log_event(struct proxy *px, const char *kind, struct json_object *fields, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void vs_px_log_msg(struct proxy *px, enum dir d, const struct msg *m);

/* --- the negotiation and the rings (proxy-track.c) --- */

/* Before the first message: no ring holds a kick fd yet. */
void vs_px_rings_init(struct proxy *px);
/* At the end: closes the kick fds the rings kept. */
void vs_px_rings_close(struct proxy *px);
/* A request of the front-end, before it is forwarded. */
void vs_px_track_request(struct proxy *px, const struct msg *m);
/* A reply of the back-end to the front-end. */
void vs_px_track_reply(struct proxy *px, const struct msg *m);
/* Rings that are started, as "0, 1"; "" when the device is stopped. */
void vs_px_started_rings(const struct proxy *px, char *buf, size_t len);

/* --- tee copies (proxy-tee.c) --- */

/* The front-end's SET_DEVICE_STATE_FD, on its way to the back-end. */
void vs_px_tee_start(struct proxy *px, struct msg *m);
/* The back-end's reply to it (px->awaiting is set), on its way back. */
void vs_px_tee_reply(struct proxy *px, struct msg *m);
/* The back-end's reply to the front-end's CHECK_DEVICE_STATE. */
void vs_px_tee_check(struct proxy *px, const struct msg *m);
/* The transfers' pipes, for the loop: their slots, the oldest progress
 * of a running one (LONG_MAX: none), its deadline (-1, error set, when
 * one stalled), poll's events for ptr (-1: a proxy error), and the end
 * of the session (copies not yet whole are dropped). */
void vs_px_tee_poll(struct proxy *px, struct pollset *ps);
long vs_px_tee_since(const struct proxy *px);
int vs_px_tee_deadline(struct proxy *px, long now);
int vs_px_tee_event(struct proxy *px, void *ptr, short src_ev, short dst_ev);
void vs_px_tee_end(struct proxy *px);

/* --- the control socket and snapshots (proxy-ctl.c) --- */

void vs_px_ctl_accept(struct proxy *px);
bool vs_px_ctl_room(const struct proxy *px);
/* poll's events for control client i, whose fd is fd */
void vs_px_ctl_event(struct proxy *px, unsigned i, int fd, short ev);
/* send what waits for the control clients */
void vs_px_ctl_flush(struct proxy *px);
/* The snapshot and the control clients, for the loop, as for tee above;
 * vs_px_ctl_deadline() drops a stuck client and fails a snapshot whose
 * front-end request stays unanswered, and returns -1 (error set) only
 * for a back-end stalled during a snapshot. */
void vs_px_ctl_poll(struct proxy *px, struct pollset *ps);
long vs_px_ctl_since(const struct proxy *px);
int vs_px_ctl_deadline(struct proxy *px, long now);
void vs_px_ctl_end(struct proxy *px);
/* Nothing of the front-end's is outstanding and its messages are held:
 * send our own SAVE.  Returns -1 for a proxy error. */
int vs_px_snap_begin(struct proxy *px);
/* A reply of the back-end to the snapshot's request (the message is the
 * caller's).  Returns -1 for a proxy error. */
int vs_px_snap_reply(struct proxy *px, struct msg *m);
/* The snapshot's pipe is readable.  Returns -1 for a proxy error. */
int vs_px_snap_event(struct proxy *px, int fd);

#endif
