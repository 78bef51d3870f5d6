/* Tee copies of the front-end's device-state transfers (proxy-int.h).
 * The front-end's SET_DEVICE_STATE_FD reaches the back-end with a pipe
 * of ours instead of its own fd; the proxy pumps the bytes between the
 * two, unchanged, and writes a copy in QEMU's raw stream into the tee
 * directory, kept only once CHECK_DEVICE_STATE went by.
 *
 * A copy appears whole or not at all: it is written through the atomic
 * output of src/common/output.c. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunk.h"
#include "error.h"
#include "io.h"
#include "output.h"
#include "proxy-int.h"
#include "sink.h"
#include "vu-proto.h"

#define PUMP_BUF (64u << 10)

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
	vs_px_log_event(px, "tee", NULL, "transfer %u (%s): no copy kept: %s", x->seq, x->direction ? "load" : "save",
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
	vs_px_log_event(px, "tee", f, "transfer %u (%s): CHECK_DEVICE_STATE %" PRIu64 ", recorded in %s", x->seq,
		  x->direction ? "load" : "save", x->check, path);
	free(path);
	return;
fail:
	px->tee_failures++;
	vs_px_log_event(px, "tee", f, "transfer %u: cannot record CHECK_DEVICE_STATE: %s", x->seq, vs_error_get()->msg);
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
		vs_px_log_event(px, "tee", f, "transfer %u: cannot write the copy: %s", x->seq, vs_error_get()->msg);
		return;
	}
	vs_chunk_writer_free(&x->w);
	x->tee_open = false;
	json_object_object_add(f, "file", json_object_new_string(x->path));
	json_object_object_add(f, "bytes", json_object_new_int64((int64_t)x->bytes));
	json_object_object_add(f, "direction", json_object_new_string(x->direction ? "load" : "save"));
	vs_px_log_event(px, "tee", f, "transfer %u (%s): %" PRIu64 " bytes relayed, copy in %s", x->seq,
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
		vs_px_log_event(px, "transfer", NULL, "transfer %u (%s) ended early after %" PRIu64 " bytes: %s", x->seq,
			  x->direction ? "load" : "save", x->bytes, failure);
	} else if (x->tee_open) {
		/* The pipe's EOF does not say the state is whole (a back-end
		 * that dies mid-SAVE closes it too): the copy is kept only
		 * once CHECK_DEVICE_STATE went by. */
		x->copy_pending = true;
		if (x->have_check)
			xfer_commit_copy(px, x);
	} else {
		vs_px_log_event(px, "transfer", NULL, "transfer %u (%s): %" PRIu64 " bytes relayed", x->seq,
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
void
vs_px_tee_start(struct proxy *px, struct msg *m)
{
	struct vs_vu_header h = msg_hdr(m);
	struct vs_vu_transfer_device_state t;
	unsigned active = 0;
	struct xfer *x;
	int p[2];
	char stamp[40];

	if (h.size != sizeof t || m->nfds != 1) {
		vs_px_log_event(px, "tee", NULL, "SET_DEVICE_STATE_FD with %zu fds and %" PRIu32 " bytes: relayed as is",
			  m->nfds, h.size);
		return;
	}
	memcpy(&t, msg_payload(m), sizeof t);
	if (t.direction > VHOST_USER_TRANSFER_STATE_DIRECTION_LOAD) {
		vs_px_log_event(px, "tee", NULL, "unknown transfer direction %" PRIu32 ": relayed as is", t.direction);
		return;
	}
	for (x = px->xfers; x; x = x->next)
		active++;
	if (active >= XFER_MAX || px->awaiting) {
		vs_px_log_event(px, "tee", NULL, "too many transfers at once: this one is relayed without a copy");
		return;
	}
	x = calloc(1, sizeof *x);
	if (!x || pipe2(p, O_CLOEXEC) < 0) {
		vs_error_set(VS_EXIT_FAIL, x ? errno : ENOMEM, "pipe");
		free(x);
		px->tee_failures++;
		vs_px_log_event(px, "tee", NULL, "cannot interpose a pipe, relayed without a copy: %s", vs_error_get()->msg);
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
	vs_px_iso_now(stamp, sizeof stamp, true);
	if (asprintf(&x->base, "%s/%s-%u-%s", px->o->tee_dir, stamp, x->seq, t.direction ? "load" : "save") < 0 ||
	    asprintf(&x->path, "%s.vhs", x->base) < 0) {
		px->tee_failures++;
		vs_px_log_event(px, "tee", NULL, "out of memory: transfer %u has no copy", x->seq);
	} else if (vs_output_open(&x->out, x->path, VS_OUTPUT_PRIVATE, -1) < 0) {
		px->tee_failures++;
		vs_px_log_event(px, "tee", NULL, "transfer %u has no copy: %s", x->seq, vs_error_get()->msg);
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
void
vs_px_tee_reply(struct proxy *px, struct msg *m)
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
	x->since = vs_px_now_ms();
}

void
vs_px_tee_check(struct proxy *px, const struct msg *m)
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
			x->since = vs_px_now_ms();
			if (x->tee_open) {
				if (x->bytes > px->o->max_size) {
					char why[80];
					snprintf(why, sizeof why, "larger than the limit of %" PRIu64 " bytes",
						 px->o->max_size);
					xfer_tee_abort(px, x, why, true);
				} else if (vs_chunk_writer_write(&x->w, x->buf, n) < 0)
					xfer_tee_abort(px, x, vs_error_get()->msg, true);
			}
		} else if (n == 0) {
			x->eof = true;
			x->since = vs_px_now_ms();
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
			x->since = vs_px_now_ms();
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

/* --- for the loop --- */

void
vs_px_tee_poll(struct proxy *px, struct pollset *ps)
{
	for (struct xfer *x = px->xfers; x; x = x->next) {
		if (!x->pumping)
			continue;
		if (x->off == x->len && !x->eof)
			vs_px_poll_add(ps, x->src, POLLIN, S_XFER_SRC, x, 0);
		if (x->off < x->len)
			vs_px_poll_add(ps, x->dst, POLLOUT, S_XFER_DST, x, 0);
	}
}

long
vs_px_tee_since(const struct proxy *px)
{
	long first = LONG_MAX;

	for (struct xfer *x = px->xfers; x; x = x->next)
		if (x->pumping && x->since < first)
			first = x->since;
	return first;
}

int
vs_px_tee_deadline(struct proxy *px, long now)
{
	for (struct xfer *x = px->xfers; x; x = x->next)
		if (x->pumping && vs_px_expired(px, x->since, now))
			return vs_fail(VS_EXIT_TIMEOUT, 0,
				       "timed out after %g s: the %s transfer (%" PRIu64 " bytes so far) stopped moving",
				       px->o->timeout_ms / 1000.0, x->direction ? "load" : "save", x->bytes);
	return 0;
}

int
vs_px_tee_event(struct proxy *px, void *ptr, short src_ev, short dst_ev)
{
	struct xfer *x;

	/* the transfer may be gone already */
	for (x = px->xfers; x && x != ptr; x = x->next)
		;
	if (x && x->pumping)
		return xfer_pump(px, x, src_ev, dst_ev);
	return 0;
}

void
vs_px_tee_end(struct proxy *px)
{
	struct xfer *x, *next;

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
}

/* Tee copies hold guest state.  Their directory must be ours (or root's)
 * and writable by no one else, so no other user can plant a name in it
 * or take a copy away; the copies themselves are 0600 and never replace
 * what is at their name (VS_OUTPUT_PRIVATE). */
int
vs_proxy_check_tee(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) < 0)
		return vs_fail(VS_EXIT_FAIL, errno, "%s", dir);
	if (!S_ISDIR(st.st_mode))
		return vs_fail(VS_EXIT_USAGE, 0, "%s: exists and is not a directory", dir);
	if (access(dir, W_OK | X_OK) < 0)
		return vs_fail(VS_EXIT_FAIL, errno, "%s", dir);
	if (st.st_uid != geteuid() && st.st_uid != 0)
		return vs_fail(VS_EXIT_USAGE, 0, "%s: owned by uid %u, not by this user (uid %u) or root", dir,
			       (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return vs_fail(VS_EXIT_USAGE, 0, "%s: writable by %s (mode %04o); the copies hold guest state", dir,
			       st.st_mode & S_IWOTH ? "others" : "its group", (unsigned)(st.st_mode & 07777));
	return 0;
}
