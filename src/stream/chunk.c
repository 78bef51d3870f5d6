#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bytes.h"
#include "chunk.h"
#include "error.h"

static int
emit(struct vs_chunk_writer *w, const void *data, uint32_t len)
{
	uint32_t be = htonl(len);
	struct iovec iov[2] = { { &be, 4 }, { (void *)data, len } };

	if (vs_sink_writev(w->sink, iov, len ? 2 : 1) < 0)
		return -1;
	if (len)
		w->chunks++;
	return 0;
}

int
vs_chunk_writer_init(struct vs_chunk_writer *w, struct vs_sink *sink)
{
	memset(w, 0, sizeof *w);
	w->sink = sink;
	w->buf = malloc(VS_CHUNK_SIZE);
	if (!w->buf)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	return 0;
}

int
vs_chunk_writer_write(struct vs_chunk_writer *w, const void *data, size_t len)
{
	const unsigned char *p = data;

	w->payload += len;
	while (len > 0) {
		/* Whole chunks straight from the caller's buffer: no copy. */
		if (w->fill == 0 && len >= VS_CHUNK_SIZE) {
			if (emit(w, p, VS_CHUNK_SIZE) < 0)
				return -1;
			p += VS_CHUNK_SIZE;
			len -= VS_CHUNK_SIZE;
			continue;
		}
		size_t n = VS_CHUNK_SIZE - w->fill;
		if (n > len)
			n = len;
		memcpy(w->buf + w->fill, p, n);
		w->fill += n;
		p += n;
		len -= n;
		if (w->fill == VS_CHUNK_SIZE) {
			if (emit(w, w->buf, VS_CHUNK_SIZE) < 0)
				return -1;
			w->fill = 0;
		}
	}
	return 0;
}

int
vs_chunk_writer_splice(struct vs_chunk_writer *w, int pipe_fd, size_t len)
{
	uint32_t be = htonl((uint32_t)len);
	struct iovec iov = { &be, 4 };

	if (w->fill || len == 0 || len > VS_CHUNK_SIZE)
		return vs_fail(VS_EXIT_SOFTWARE, EINVAL, "chunk writer: splice of %zu bytes with %zu buffered", len,
			       w->fill);
	if (!vs_sink_is_fd(w->sink)) {
		/* a zstd or counting sink wants the bytes themselves */
		for (size_t got = 0; got < len;) {
			ssize_t n = read(pipe_fd, w->buf + got, len - got);
			if (n <= 0 && !(n < 0 && errno == EINTR))
				return vs_fail(VS_EXIT_FAIL, n < 0 ? errno : EIO, "staging pipe");
			got += n > 0 ? n : 0;
		}
		w->payload += len;
		return emit(w, w->buf, len);
	}
	if (vs_sink_writev(w->sink, &iov, 1) < 0 || vs_sink_splice_from_pipe(w->sink, pipe_fd, len, w->buf) < 0)
		return -1;
	w->payload += len;
	w->chunks++;
	return 0;
}

int
vs_chunk_writer_end(struct vs_chunk_writer *w)
{
	if (w->fill && emit(w, w->buf, w->fill) < 0)
		return -1;
	w->fill = 0;
	if (emit(w, NULL, 0) < 0)
		return -1;
	return vs_sink_finish(w->sink);
}

void
vs_chunk_writer_free(struct vs_chunk_writer *w)
{
	free(w->buf);
	w->buf = NULL;
}

void
vs_chunk_reader_init(struct vs_chunk_reader *r, struct vs_source *src, const struct vs_chunk_limits *lim)
{
	memset(r, 0, sizeof *r);
	r->src = src;
	r->lim = *lim;
	if (!r->lim.max_chunk)
		r->lim.max_chunk = VS_CHUNK_MAX_DEFAULT;
	if (!r->lim.max_total)
		r->lim.max_total = UINT64_MAX;
}

/* Read exactly len bytes unless the input ends; returns bytes read. */
static ssize_t
read_upto(struct vs_chunk_reader *r, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = vs_source_read(r->src, (char *)buf + got, len - got);
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += n;
	}
	return got;
}

/* The same from the file at the stream offset, past the source's buffer
 * (for vs_chunk_span, which leaves the source untouched). */
static ssize_t
pread_upto(struct vs_chunk_reader *r, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(r->src->fd, (char *)buf + got, len - got, r->offset + got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return vs_fail(VS_EXIT_FAIL, errno, "%s: read", r->src->name);
		if (n == 0)
			break;
		got += n;
	}
	return got;
}

static int
next_header(struct vs_chunk_reader *r, bool direct)
{
	unsigned char b[4];
	ssize_t n = direct ? pread_upto(r, b, 4) : read_upto(r, b, 4);
	uint32_t len;

	if (n < 0)
		return -1;
	if (n == 0)
		return vs_fail(VS_EXIT_DATAERR, 0,
			       "%s: malformed state stream: it ends at offset %" PRIu64
			       " without the terminating zero-length chunk",
			       r->src->name, r->offset);
	if (n < 4)
		return vs_fail(VS_EXIT_DATAERR, 0,
			       "%s: malformed state stream: it ends at offset %" PRIu64
			       " inside a chunk length (expected 4 bytes, got %zd)",
			       r->src->name, r->offset, n);
	len = vs_get_be32(b);
	if (len > r->lim.max_chunk)
		return vs_fail(VS_EXIT_DATAERR, 0,
			       "%s: malformed state stream: the chunk at offset %" PRIu64 " declares %" PRIu32
			       " bytes, more than the %" PRIu64 "-byte chunk limit%s",
			       r->src->name, r->offset, len, r->lim.max_chunk,
			       r->offset == 0 ? " (is it a state file? expected a raw stream, a .vhsnap archive, "
						"or either compressed with zstd)"
					      : "");
	if (len > r->lim.max_total - r->payload)
		return vs_fail_hint(VS_EXIT_DATAERR, VS_HINT_MAX_SIZE,
				    "%s: the chunk at offset %" PRIu64 " brings the state to %" PRIu64
				    " bytes: it exceeds the limit of %" PRIu64 " bytes",
				    r->src->name, r->offset, r->payload + len, r->lim.max_total);
	if (r->on_chunk)
		r->on_chunk(r->on_chunk_ctx, r->offset, len);
	r->offset += 4;
	if (len == 0) {
		r->ended = true;
		return 0;
	}
	if (r->chunks == 0 || len < r->min_chunk)
		r->min_chunk = len;
	if (len > r->max_chunk)
		r->max_chunk = len;
	r->chunks++;
	r->left = len;
	return 0;
}

/* The stream ends at r->offset, missing bytes of the current chunk. */
static int
cut_inside(struct vs_chunk_reader *r, uint64_t missing)
{
	return vs_fail(VS_EXIT_DATAERR, 0,
		       "%s: malformed state stream: it ends at offset %" PRIu64 " inside a chunk (expected %" PRIu64
		       " more bytes)",
		       r->src->name, r->offset, missing);
}

ssize_t
vs_chunk_read(struct vs_chunk_reader *r, void *buf, size_t len)
{
	ssize_t n;

	if (r->ended || len == 0)
		return 0;
	while (r->left == 0) {
		if (next_header(r, false) < 0)
			return -1;
		if (r->ended)
			return 0;
	}
	if (len > r->left)
		len = r->left;
	n = read_upto(r, buf, len);
	if (n < 0)
		return -1;
	r->offset += n;
	if ((size_t)n < len)
		return cut_inside(r, r->left - n);
	r->left -= n;
	r->payload += n;
	return n;
}

bool
vs_chunk_reader_can_span(const struct vs_chunk_reader *r)
{
	const struct vs_source *s = r->src;

	/* Stream offsets are file offsets only from the file's start, with
	 * nothing read through the source yet. */
	return !s->read_fn && s->seekable && s->tee_fd < 0 && s->pos == s->len && r->offset == 0 && !r->ended &&
	       lseek(s->fd, 0, SEEK_CUR) == 0;
}

ssize_t
vs_chunk_span(struct vs_chunk_reader *r, uint64_t *offset)
{
	while (!r->ended && r->left == 0)
		if (next_header(r, true) < 0)
			return -1;
	if (r->ended)
		return 0;
	*offset = r->offset;
	return r->left;
}

void
vs_chunk_spanned(struct vs_chunk_reader *r, size_t n)
{
	r->offset += n;
	r->left -= n;
	r->payload += n;
}

ssize_t
vs_chunk_skip(struct vs_chunk_reader *r, uint64_t size, uint64_t *offset)
{
	ssize_t n;

	r->direct = true;
	n = vs_chunk_span(r, offset);
	if (n <= 0)
		return n;
	if (*offset > size || (uint64_t)n > size - *offset) {
		uint64_t have = *offset < size ? size - *offset : 0;
		vs_chunk_spanned(r, have);
		return cut_inside(r, (uint64_t)n - have);
	}
	vs_chunk_spanned(r, (size_t)n);
	return n;
}

ssize_t
vs_chunk_read_full(struct vs_chunk_reader *r, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = vs_chunk_read(r, (char *)buf + got, len - got);
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += n;
	}
	return got;
}

int
vs_chunk_reader_expect_eof(struct vs_chunk_reader *r)
{
	unsigned char b;
	ssize_t n = r->direct ? pread_upto(r, &b, 1) : read_upto(r, &b, 1);

	if (n < 0)
		return -1;
	if (n > 0)
		return vs_fail(VS_EXIT_DATAERR, 0,
			       "%s: malformed state stream: trailing data at offset %" PRIu64
			       " after the terminating zero-length chunk",
			       r->src->name, r->offset);
	return 0;
}

void
vs_payload_compare_init(struct vs_payload_compare *c, struct vs_chunk_reader *r)
{
	c->reader = r;
	c->offset = 0;
	c->first_diff = UINT64_MAX;
}

int
vs_payload_compare_consume(void *opaque, const void *data, size_t len)
{
	struct vs_payload_compare *c = opaque;
	const unsigned char *p = data;

	while (len > 0 && c->first_diff == UINT64_MAX) {
		ssize_t n = vs_chunk_read(c->reader, c->buf, len < sizeof c->buf ? len : sizeof c->buf);
		if (n < 0)
			return -1;
		if (n == 0) { /* the reader's payload ends first */
			c->first_diff = c->offset;
			break;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (c->buf[i] != p[i]) {
				c->first_diff = c->offset + i;
				break;
			}
		}
		c->offset += n;
		p += n;
		len -= n;
	}
	return 0;
}

uint64_t
vs_payload_compare_end(struct vs_payload_compare *c, uint64_t arrived, uint64_t expected)
{
	/* what arrived was a prefix of the reader's: it ends early */
	if (c->first_diff == UINT64_MAX && arrived < expected)
		c->first_diff = arrived;
	return c->first_diff;
}
