#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunk.h"
#include "device-state.h"
#include "error.h"
#include "io.h"

bool
vs_supports_device_state(const struct vs_vu *vu)
{
	return vs_vu_has_protocol_feature(vu, VHOST_USER_PROTOCOL_F_DEVICE_STATE);
}

/* Wait for the transfer pipe, watching the socket too so a back-end that
 * dies mid-transfer is reported as such, not as a timeout. */
static int
wait_pipe(struct vs_vu *vu, int fd, short events, const char *dir, uint64_t done)
{
	struct pollfd p[2] = { { .fd = fd, .events = events }, { .fd = vu->conn.fd, .events = POLLRDHUP } };
	int r;

	do
		r = poll(p, 2, vu->conn.timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return vs_fail(VS_EXIT_FAIL, errno, "poll");
	if (r == 0)
		return vs_fail(VS_EXIT_TIMEOUT, 0,
			       "timed out after %g s waiting for the back-end to %s state data (%s transfer of "
			       "SET_DEVICE_STATE_FD, %" PRIu64 " bytes so far)",
			       vu->conn.timeout_ms / 1000.0, events == POLLIN ? "send" : "take", dir, done);
	if (!p[0].revents && p[1].revents) {
		vs_error_set(VS_EXIT_UNAVAILABLE, 0,
			     "the back-end closed the connection during the %s transfer (after %" PRIu64 " bytes)",
			     dir, done);
		vs_vu_mark_broken(vu);
		return -1;
	}
	return 0;
}

static int
open_channel(struct vs_vu *vu, uint32_t direction, int *our_end)
{
	int p[2], theirs, reply_fd, r;
	bool save = direction == VHOST_USER_TRANSFER_STATE_DIRECTION_SAVE;

	/* Refuse before creating anything: request 42 must never reach a
	 * back-end that did not negotiate DEVICE_STATE. */
	if (!vs_supports_device_state(vu))
		return vs_fail(VS_EXIT_UNAVAILABLE, 0,
			       "the back-end does not support DEVICE_STATE (protocol feature bit 19%s); "
			       "SET_DEVICE_STATE_FD not sent",
			       vs_vu_has_feature(vu, VHOST_USER_F_PROTOCOL_FEATURES) ? " not offered"
										 : ", no protocol features at all");
	if (pipe2(p, O_CLOEXEC) < 0)
		return vs_fail(VS_EXIT_FAIL, errno, "pipe");
	fcntl(p[0], F_SETPIPE_SZ, VS_CHUNK_SIZE); /* best effort: fewer wakeups */
	*our_end = save ? p[0] : p[1];
	theirs = save ? p[1] : p[0];

	/* The end we hand over stays blocking: O_NONBLOCK lives in the open
	 * file description, and virtiofsd treats EAGAIN as fatal. */
	r = vs_vu_set_device_state_fd(vu, direction, VHOST_USER_TRANSFER_STATE_PHASE_STOPPED, theirs, &reply_fd);
	/* Sent or not, our copy goes: the reader sees EOF only when every
	 * copy of the write end is closed. */
	close(theirs);
	if (r < 0) {
		close(*our_end);
		return -1;
	}
	if (reply_fd >= 0) {
		close(*our_end);
		*our_end = reply_fd;
	}
	if (vs_set_nonblock(*our_end, true) < 0) {
		close(*our_end);
		return -1;
	}
	return 0;
}

/* " (EINVAL if it is an errno value)" for what could be one: passt
 * returns errno values from CHECK; virtiofsd returns 1 for any failure,
 * which is not annotated. */
static const char *
errno_hint(uint64_t v, char *buf, size_t len)
{
	const char *name = v > 1 && v < 4096 ? strerrorname_np((int)v) : NULL;

	if (!name)
		return "";
	snprintf(buf, len, " (%s, if it is an errno value: %s)", name, strerror((int)v));
	return buf;
}

static int
check(struct vs_vu *vu, const char *dir, uint64_t *value)
{
	if (vs_vu_check_device_state(vu, value) < 0) {
		vs_error_prefix("after the %s transfer", dir);
		return -1;
	}
	return 0;
}

/* Received bytes: to the consumer, or into the chunk writer. */
struct save_target {
	vs_consume_fn consume;
	void *opaque;
	struct vs_chunk_writer *w;
	void (*progress)(uint64_t payload);
};

static int
save_deliver(struct save_target *t, const void *buf, size_t len)
{
	if (t->consume)
		return t->consume(t->opaque, buf, len);
	if (vs_chunk_writer_write(t->w, buf, len) < 0)
		return -1;
	if (t->progress)
		t->progress(t->w->payload);
	return 0;
}

static int
over_limit(uint64_t total, uint64_t max_size)
{
	if (total <= max_size)
		return 0;
	/* 65 as for a file over the limit: the same condition gets the same
	 * status in every verb */
	return vs_fail_hint(VS_EXIT_DATAERR, VS_HINT_MAX_SIZE, "the back-end's state exceeds the limit of %" PRIu64 " bytes",
			    max_size);
}

/* One read from the back-end's pipe into buf (room for len); delivered
 * in whole VS_CHUNK_SIZE pieces through *fill.  0: more to come, 1: EOF,
 * -1: error. */
static int
save_read(struct vs_vu *vu, int fd, unsigned char *buf, size_t *fill, uint64_t max_size, struct save_target *t,
	  uint64_t *total)
{
	ssize_t n = read(fd, buf + *fill, VS_CHUNK_SIZE - *fill);

	if (n > 0) {
		*total += n;
		*fill += n;
		if (over_limit(*total, max_size) < 0)
			return -1;
		if (*fill == VS_CHUNK_SIZE) {
			if (save_deliver(t, buf, *fill) < 0)
				return -1;
			*fill = 0;
		}
		return 0;
	}
	if (n == 0)
		return 1;
	if (errno == EINTR)
		return 0;
	if (errno != EAGAIN)
		return vs_fail(VS_EXIT_FAIL, errno, "reading the SAVE transfer");
	return wait_pipe(vu, fd, POLLIN, "SAVE", *total);
}

/* A staging pipe that holds a whole chunk, or -1: no splice. */
static int
staging_pipe(int st[2])
{
	if (pipe2(st, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	if (fcntl(st[1], F_SETPIPE_SZ, VS_CHUNK_SIZE) < (int)VS_CHUNK_SIZE) {
		close(st[0]);
		close(st[1]);
		return -1;
	}
	return 0;
}

/* The chunk being gathered in the staging pipe, when the pipe cannot take
 * the rest of it (the back-end wrote in pieces smaller than a page, each
 * holding a pipe slot): its bytes into buf, to finish the chunk by read. */
static int
staging_drain(int st, unsigned char *buf, size_t fill)
{
	for (size_t got = 0; got < fill;) {
		ssize_t n = read(st, buf + got, fill - got);
		if (n <= 0 && !(n < 0 && errno == EINTR))
			return vs_fail(VS_EXIT_FAIL, n < 0 ? errno : EIO, "staging pipe");
		got += n > 0 ? n : 0;
	}
	return 0;
}

/* SAVE into a chunk writer without copying through us: splice the
 * back-end's pipe into a staging pipe until it holds a whole chunk (or
 * the state ends), then the writer writes the length and splices the
 * chunk on.  Full 1 MiB chunks as with read, so the bytes are the same.
 * A chunk that does not fit the staging pipe is finished by read.
 * 0 at EOF, -1 on error; *buf is allocated when read takes over. */
static int
save_spliced(struct vs_vu *vu, int fd, const int st[2], uint64_t max_size, struct save_target *t,
	     unsigned char **buf, uint64_t *total)
{
	size_t fill = 0; /* bytes of the chunk in the staging pipe */
	size_t rfill = 0; /* bytes of a chunk being finished by read */
	bool by_read = false; /* the kernel refused to splice this fd */
	bool wait_first = false; /* the back-end's pipe ran dry: poll, then splice */
	bool polled = false; /* poll said it has bytes since the last splice */

	for (;;) {
		if (rfill || by_read) {
			int r = save_read(vu, fd, *buf, &rfill, max_size, t, total);
			if (r < 0)
				return -1;
			if (r == 1)
				return rfill ? save_deliver(t, *buf, rfill) : 0;
			continue;
		}
		if (wait_first) {
			if (wait_pipe(vu, fd, POLLIN, "SAVE", *total) < 0)
				return -1;
			wait_first = false;
			polled = true;
		}
		size_t want = VS_CHUNK_SIZE - fill;
		ssize_t n = splice(fd, NULL, st[1], NULL, want, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			*total += n;
			fill += n;
			polled = false;
			if (over_limit(*total, max_size) < 0)
				return -1;
			if (fill == VS_CHUNK_SIZE) {
				if (vs_chunk_writer_splice(t->w, st[0], fill) < 0)
					return -1;
				fill = 0;
				if (t->progress)
					t->progress(t->w->payload);
			}
			/* less than asked: the pipe is empty now, so the next
			 * splice would only say EAGAIN */
			wait_first = (size_t)n < want;
			continue;
		}
		if (n == 0) {
			if (fill && vs_chunk_writer_splice(t->w, st[0], fill) < 0)
				return -1;
			if (fill && t->progress)
				t->progress(t->w->payload);
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno == EINVAL && *total == 0) {
			if (!(*buf = malloc(VS_CHUNK_SIZE)))
				return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
			by_read = true;
			continue;
		}
		if (errno != EAGAIN)
			return vs_fail(VS_EXIT_FAIL, errno, "reading the SAVE transfer");
		int avail = 0;
		if (polled && fill > 0 && ioctl(fd, FIONREAD, &avail) == 0 && avail > 0) {
			/* bytes waiting, yet none moved: the staging pipe has
			 * no slot left for them */
			if (!*buf && !(*buf = malloc(VS_CHUNK_SIZE)))
				return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
			if (staging_drain(st[0], *buf, fill) < 0)
				return -1;
			rfill = fill;
			fill = 0;
			polled = false;
			continue;
		}
		wait_first = true;
	}
}

static int
save(struct vs_vu *vu, uint64_t max_size, struct save_target *t, uint64_t *bytes)
{
	unsigned char *buf = NULL;
	size_t fill = 0;
	uint64_t total = 0, result;
	char hint[128];
	int fd, st[2] = { -1, -1 }, r = 0;
	struct stat sb;

	*bytes = 0;
	if (open_channel(vu, VHOST_USER_TRANSFER_STATE_DIRECTION_SAVE, &fd) < 0)
		return -1;
	/* splice needs a pipe at one end: the staging pipe is one; a
	 * back-end's own fd may be a socket, which splices too */
	if (t->w && fstat(fd, &sb) == 0 && (S_ISFIFO(sb.st_mode) || S_ISSOCK(sb.st_mode)) && staging_pipe(st) == 0) {
		r = save_spliced(vu, fd, st, max_size, t, &buf, &total);
		close(st[0]);
		close(st[1]);
		if (r < 0)
			goto fail;
	} else {
		buf = malloc(VS_CHUNK_SIZE);
		if (!buf) {
			vs_error_set(VS_EXIT_FAIL, ENOMEM, "out of memory");
			goto fail;
		}
		while ((r = save_read(vu, fd, buf, &fill, max_size, t, &total)) == 0)
			;
		if (r < 0 || (fill && save_deliver(t, buf, fill) < 0))
			goto fail;
	}
	close(fd);
	free(buf);
	*bytes = total;
	/* Only after EOF: virtiofsd's CHECK handler joins its writer thread. */
	if (check(vu, "SAVE", &result) < 0)
		return -1;
	if (result != 0)
		return vs_fail(VS_EXIT_FAIL, 0,
			       "CHECK_DEVICE_STATE returned %" PRIu64
			       "%s after SAVE: the back-end failed to produce its state (its own log says why)",
			       result, errno_hint(result, hint, sizeof hint));
	return 0;
fail:
	close(fd);
	free(buf);
	return -1;
}

int
vs_save_backend_state(struct vs_vu *vu, uint64_t max_size, vs_consume_fn consume, void *opaque,
		      uint64_t *bytes)
{
	struct save_target t = { .consume = consume, .opaque = opaque };

	return save(vu, max_size, &t, bytes);
}

int
vs_save_backend_state_chunks(struct vs_vu *vu, uint64_t max_size, struct vs_chunk_writer *w,
			     void (*progress)(uint64_t payload), uint64_t *bytes)
{
	struct save_target t = { .w = w, .progress = progress };

	return save(vu, max_size, &t, bytes);
}

/* How a piece of the LOAD transfer went. */
enum load_result {
	LOAD_ERROR = -1,   /* the error is set */
	LOAD_DONE = 0,	   /* everything went into the pipe */
	LOAD_CLOSED_EARLY, /* the back-end closed its end: CHECK will tell why */
	LOAD_NO_SPLICE,	   /* the kernel will not splice this file; nothing moved */
};

/* Write all of buf to the LOAD pipe: LOAD_DONE, LOAD_CLOSED_EARLY or
 * LOAD_ERROR. */
static enum load_result
load_write(struct vs_vu *vu, int fd, const unsigned char *buf, size_t len, uint64_t *total)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = write(fd, buf + off, len - off);
		if (n > 0) {
			off += n;
			*total += n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EPIPE)
			return LOAD_CLOSED_EARLY;
		if (n < 0 && errno == EAGAIN) {
			if (wait_pipe(vu, fd, POLLOUT, "LOAD", *total) < 0)
				return LOAD_ERROR;
			continue;
		}
		vs_error_set(VS_EXIT_FAIL, n < 0 ? errno : EIO, "writing the LOAD transfer");
		return LOAD_ERROR;
	}
	return LOAD_DONE;
}

/* The payload of a plain file straight into the LOAD pipe with splice:
 * the page cache's pages go to the back-end, we copy nothing.
 * LOAD_NO_SPLICE leaves the reader where vs_chunk_read can take over. */
static enum load_result
load_splice(struct vs_vu *vu, int fd, struct vs_chunk_reader *r, void (*progress)(uint64_t), uint64_t *total)
{
	for (;;) {
		uint64_t at;
		ssize_t left = vs_chunk_span(r, &at), n;
		loff_t off = at;

		if (left <= 0)
			return left == 0 ? LOAD_DONE : LOAD_ERROR;
		n = splice(r->src->fd, &off, fd, NULL, left, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			vs_chunk_spanned(r, n);
			*total += n;
			if (progress)
				progress(r->payload);
			continue;
		}
		if (n == 0) {
			vs_error_set(VS_EXIT_FAIL, 0,
				     "%s: the file ends at offset %" PRIu64 ", inside a chunk: it changed while it was sent",
				     r->src->name, at);
			return LOAD_ERROR;
		}
		if (errno == EINTR)
			continue;
		if (errno == EPIPE)
			return LOAD_CLOSED_EARLY;
		if (errno == EAGAIN) {
			if (wait_pipe(vu, fd, POLLOUT, "LOAD", *total) < 0)
				return LOAD_ERROR;
			continue;
		}
		if (errno == EINVAL && *total == 0) {
			/* Nothing moved: vs_chunk_read takes over where the
			 * reader stands (past the length just checked). */
			if (lseek(r->src->fd, r->offset, SEEK_SET) < 0) {
				vs_error_set(VS_EXIT_FAIL, errno, "%s: seek", r->src->name);
				return LOAD_ERROR;
			}
			return LOAD_NO_SPLICE;
		}
		vs_error_set(VS_EXIT_FAIL, errno, "writing the LOAD transfer");
		return LOAD_ERROR;
	}
}

/* The payload by read and write, from produce or the chunk reader r. */
static enum load_result
load_copy(struct vs_vu *vu, int fd, vs_produce_fn produce, void *opaque, struct vs_chunk_reader *r,
	  void (*progress)(uint64_t), uint64_t *total)
{
	unsigned char *buf = malloc(VS_CHUNK_SIZE);
	enum load_result rc = LOAD_DONE;

	if (!buf) {
		vs_error_set(VS_EXIT_FAIL, ENOMEM, "out of memory");
		return LOAD_ERROR;
	}
	for (;;) {
		ssize_t len = r ? vs_chunk_read(r, buf, VS_CHUNK_SIZE) : produce(opaque, buf, VS_CHUNK_SIZE);
		if (len <= 0) {
			rc = len == 0 ? LOAD_DONE : LOAD_ERROR;
			break;
		}
		rc = load_write(vu, fd, buf, len, total);
		if (rc != LOAD_DONE)
			break;
		if (r && progress)
			progress(r->payload);
	}
	free(buf);
	return rc;
}

/* From produce, or from the chunk reader r (spliced when it can be). */
static int
load(struct vs_vu *vu, vs_produce_fn produce, void *opaque, struct vs_chunk_reader *r,
     void (*progress)(uint64_t), uint64_t *bytes)
{
	uint64_t total = 0, result;
	char hint[128];
	enum load_result rc = LOAD_NO_SPLICE;
	struct stat st;
	int fd;

	*bytes = 0;
	if (open_channel(vu, VHOST_USER_TRANSFER_STATE_DIRECTION_LOAD, &fd) < 0)
		return -1;
	/* splice needs a pipe at one end: a back-end may hand us a socket */
	if (r && vs_chunk_reader_can_span(r) && fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode))
		rc = load_splice(vu, fd, r, progress, &total);
	if (rc == LOAD_NO_SPLICE)
		rc = load_copy(vu, fd, produce, opaque, r, progress, &total);
	if (rc == LOAD_ERROR)
		goto fail;
	/* EOF for the back-end's reader: only then may CHECK be sent. */
	close(fd);
	*bytes = total;
	if (check(vu, "LOAD", &result) < 0)
		return -1;
	if (rc == LOAD_CLOSED_EARLY)
		return vs_fail(VS_EXIT_FAIL, 0,
			       "the back-end stopped reading the state after %" PRIu64
			       " bytes; CHECK_DEVICE_STATE returned %" PRIu64 "%s",
			       total, result, errno_hint(result, hint, sizeof hint));
	if (result != 0)
		return vs_fail(VS_EXIT_FAIL, 0,
			       "CHECK_DEVICE_STATE returned %" PRIu64
			       "%s after LOAD: the back-end did not accept the state (its own log says why)",
			       result, errno_hint(result, hint, sizeof hint));
	return 0;
fail:
	/* The protocol has no abort, and closing the pipe now would look like
	 * a complete (short) state: hang up first so the back-end sees the
	 * transfer fail instead. */
	vs_vu_mark_broken(vu);
	vs_conn_close(&vu->conn);
	close(fd);
	return -1;
}

int
vs_load_backend_state(struct vs_vu *vu, vs_produce_fn produce, void *opaque, uint64_t *bytes)
{
	return load(vu, produce, opaque, NULL, NULL, bytes);
}

int
vs_load_backend_state_chunks(struct vs_vu *vu, struct vs_chunk_reader *r, void (*progress)(uint64_t payload),
			     uint64_t *bytes)
{
	return load(vu, NULL, NULL, r, progress, bytes);
}
