#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <poll.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <stdlib.h>
#include <unistd.h>

#include "error.h"
#include "sink.h"

/* After a failed write to fd: whether to try again.  A non-blocking
 * stdout we inherited is waited for without a deadline: the consumer
 * sets the pace. */
static bool
write_again(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	if (errno == EINTR)
		return true;
	if (errno != EAGAIN)
		return false;
	poll(&p, 1, -1);
	return true;
}

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
			if (write_again(s->fd))
				continue;
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

bool
vs_sink_is_fd(const struct vs_sink *s)
{
	return s->ops == &fd_ops;
}

/* The rest of a splice refused by the output: through buf. */
static int
pipe_copy(struct vs_sink *out, int pipe_fd, size_t len, void *buf)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(pipe_fd, (char *)buf + got, len - got);
		if (n > 0) {
			got += n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		/* the bytes were counted into the pipe: they must be there */
		return vs_fail(VS_EXIT_FAIL, n < 0 ? errno : EIO, "%s: staging pipe", out->name);
	}
	struct iovec iov = { buf, len };
	return fd_writev(out, &iov, 1);
}

int
vs_sink_splice_from_pipe(struct vs_sink *out, int pipe_fd, size_t len, void *buf)
{
	if (out->ops != &fd_ops)
		return vs_fail(VS_EXIT_FAIL, EINVAL, "%s: not a plain file descriptor", out->name);
	while (len > 0) {
		ssize_t n = splice(pipe_fd, NULL, out->fd, NULL, len, SPLICE_F_MOVE);
		if (n > 0) {
			len -= n;
			continue;
		}
		if (n < 0 && errno == EINVAL)
			return pipe_copy(out, pipe_fd, len, buf);
		if (n < 0 && write_again(out->fd))
			continue;
		return vs_fail(VS_EXIT_FAIL, n < 0 ? errno : EIO, "%s: write", out->name);
	}
	return 0;
}

void
vs_sink_fd_init(struct vs_sink *s, int fd, const char *name)
{
	s->ops = &fd_ops;
	s->fd = fd;
	s->name = name;
}

/* zstd: compress what arrives, hand full output buffers on. */
static int
zstd_pump(struct vs_sink_zstd *z, ZSTD_inBuffer *in, ZSTD_EndDirective mode)
{
	for (;;) {
		ZSTD_outBuffer out = { z->out, z->out_cap, 0 };
		size_t left = ZSTD_compressStream2(z->cctx, &out, in, mode);
		if (ZSTD_isError(left))
			return vs_fail(VS_EXIT_FAIL, 0, "zstd: %s", ZSTD_getErrorName(left));
		if (out.pos) {
			struct iovec iov = { z->out, out.pos };
			if (vs_sink_writev(z->next, &iov, 1) < 0)
				return -1;
		}
		/* continue: until the input is taken; end: until flushed */
		if (mode == ZSTD_e_continue ? in->pos == in->size : left == 0)
			return 0;
	}
}

static int
zstd_writev(struct vs_sink *s, const struct iovec *iov, int iovcnt)
{
	struct vs_sink_zstd *z = (struct vs_sink_zstd *)s;

	for (int i = 0; i < iovcnt; i++) {
		ZSTD_inBuffer in = { iov[i].iov_base, iov[i].iov_len, 0 };
		if (in.size && zstd_pump(z, &in, ZSTD_e_continue) < 0)
			return -1;
	}
	return 0;
}

static int
zstd_finish(struct vs_sink *s)
{
	struct vs_sink_zstd *z = (struct vs_sink_zstd *)s;
	ZSTD_inBuffer in = { NULL, 0, 0 };

	if (zstd_pump(z, &in, ZSTD_e_end) < 0)
		return -1;
	return vs_sink_finish(z->next);
}

static const struct vs_sink_ops zstd_ops = { .writev = zstd_writev, .finish = zstd_finish };

int
vs_sink_zstd_init(struct vs_sink_zstd *z, struct vs_sink *next, int level, int workers)
{
	memset(z, 0, sizeof *z);
	z->base.ops = &zstd_ops;
	z->base.name = next->name;
	z->base.fd = -1;
	z->next = next;
	z->cctx = ZSTD_createCCtx();
	z->out_cap = ZSTD_CStreamOutSize();
	z->out = malloc(z->out_cap);
	if (!z->cctx || !z->out) {
		vs_sink_zstd_free(z);
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	}
	if (ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, level)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_checksumFlag, 1))) {
		vs_sink_zstd_free(z);
		return vs_fail(VS_EXIT_USAGE, 0, "zstd: level %d is not supported", level);
	}
	/* A libzstd built without threads refuses workers: stay single. */
	if (workers > 0)
		ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_nbWorkers, workers);
	return 0;
}

void
vs_sink_zstd_free(struct vs_sink_zstd *z)
{
	ZSTD_freeCCtx(z->cctx);
	free(z->out);
	z->cctx = NULL;
	z->out = NULL;
}

int
vs_zstd_min_level(void)
{
	return ZSTD_minCLevel();
}

int
vs_zstd_max_level(void)
{
	return ZSTD_maxCLevel();
}

static int
count_writev(struct vs_sink *s, const struct iovec *iov, int iovcnt)
{
	struct vs_sink_count *c = (struct vs_sink_count *)s;

	for (int i = 0; i < iovcnt; i++)
		c->bytes += iov[i].iov_len;
	return vs_sink_writev(c->next, iov, iovcnt);
}

static int
count_finish(struct vs_sink *s)
{
	return vs_sink_finish(((struct vs_sink_count *)s)->next);
}

static const struct vs_sink_ops count_ops = { .writev = count_writev, .finish = count_finish };

void
vs_sink_count_init(struct vs_sink_count *c, struct vs_sink *next)
{
	c->base.ops = &count_ops;
	c->base.name = next->name;
	c->base.fd = -1;
	c->next = next;
	c->bytes = 0;
}

/* The read/write way, for outputs sendfile refuses. */
static int
copy_by_hand(struct vs_sink *out, int fd, off_t off, uint64_t len)
{
	size_t cap = 256 * 1024;
	unsigned char *buf = malloc(cap);
	int r = -1;

	if (!buf)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	while (len > 0) {
		ssize_t n = pread(fd, buf, len < cap ? len : cap, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			vs_error_set(VS_EXIT_FAIL, n < 0 ? errno : EIO, "reading the spool file (in TMPDIR)");
			goto out;
		}
		struct iovec iov = { buf, (size_t)n };
		if (vs_sink_writev(out, &iov, 1) < 0)
			goto out;
		off += n;
		len -= n;
	}
	r = 0;
out:
	free(buf);
	return r;
}

int
vs_sink_copy_file(struct vs_sink *out, int fd, uint64_t len)
{
	off_t off = 0;

	if (out->ops != &fd_ops)
		return copy_by_hand(out, fd, 0, len);
	while (len > 0) {
		ssize_t n = sendfile(out->fd, fd, &off, len < (1 << 30) ? len : (1 << 30));
		if (n < 0) {
			if (write_again(out->fd))
				continue;
			/* e.g. an O_APPEND output */
			if (errno == EINVAL || errno == ENOSYS)
				return copy_by_hand(out, fd, off, len);
			/* sendfile does not say which side failed */
			return vs_fail(VS_EXIT_FAIL, errno, "%s: copying the spooled state (in TMPDIR) into it", out->name);
		}
		if (n == 0)
			return vs_fail(VS_EXIT_FAIL, EIO, "reading the spool file (in TMPDIR): it ended early");
		len -= n;
	}
	return 0;
}
