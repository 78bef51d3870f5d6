#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "container.h"
#include "payload.h"
#include "error.h"
#include "source.h"
#include "writer.h"

int
vs_state_writer_open(struct vs_state_writer *w, int out_fd, const char *name, bool archive, int zstd_level,
		     int workers)
{
	struct vs_sink *next;

	memset(w, 0, sizeof *w);
	w->spool_fd = -1;
	w->archive = archive;
	w->zstd_level = zstd_level;
	vs_sink_fd_init(&w->fd_sink, out_fd, name);
	next = &w->fd_sink;
	if (archive) {
		w->spool_fd = vs_spool_create("archive");
		if (w->spool_fd < 0)
			return -1;
		vs_sink_fd_init(&w->spool_sink, w->spool_fd, "spool file");
		next = &w->spool_sink;
	}
	w->raw = next;
	if (zstd_level != VS_ZSTD_OFF) {
		if (vs_sink_zstd_init(&w->zstd, next, zstd_level, workers) < 0) {
			vs_state_writer_close(w);
			return -1;
		}
		w->zstd_on = true;
		w->raw = &w->zstd.base;
	}
	if (archive) {
		vs_sink_count_init(&w->raw_count, w->raw);
		w->raw = &w->raw_count.base;
	}
	return 0;
}

struct vs_sink *
vs_state_writer_raw(struct vs_state_writer *w)
{
	return w->raw;
}

/* Part of the container around the state: a frame of its own when
 * compressing. */
static int
write_framed(struct vs_state_writer *w, const void *buf, size_t len)
{
	struct iovec iov = { (void *)buf, len };
	struct vs_sink_zstd z;
	int r;

	if (w->zstd_level == VS_ZSTD_OFF)
		return vs_sink_writev(&w->fd_sink, &iov, 1);
	if (vs_sink_zstd_init(&z, &w->fd_sink, w->zstd_level, 0) < 0)
		return -1;
	r = vs_sink_writev(&z.base, &iov, 1) < 0 || vs_sink_finish(&z.base) < 0 ? -1 : 0;
	vs_sink_zstd_free(&z);
	return r;
}

int
vs_state_writer_finish(struct vs_state_writer *w, const struct vs_manifest *m)
{
	unsigned char *head = NULL, *tail = NULL;
	size_t head_len, tail_len;
	struct stat st;
	int r = -1;

	if (!w->archive)
		return 0;
	/* the raw stream's writer has finished it (and its zstd frame) */
	if (fstat(w->spool_fd, &st) < 0)
		return vs_fail(VS_EXIT_FAIL, errno, "spool file");
	/* uncompressed, the tar header's size is the spool's */
	if (!w->zstd_on && (uint64_t)st.st_size != w->raw_count.bytes)
		return vs_fail(VS_EXIT_FAIL, EIO, "spool file: %jd bytes, expected %" PRIu64, (intmax_t)st.st_size,
			       w->raw_count.bytes);
	if (vs_container_head(m, w->raw_count.bytes, &head, &head_len) < 0)
		return -1;
	tail_len = vs_container_tail_size(w->raw_count.bytes);
	tail = calloc(1, tail_len);
	if (!tail) {
		vs_error_set(VS_EXIT_FAIL, ENOMEM, "out of memory");
		goto out;
	}
	if (write_framed(w, head, head_len) < 0 || vs_sink_copy_file(&w->fd_sink, w->spool_fd, st.st_size) < 0 ||
	    write_framed(w, tail, tail_len) < 0)
		goto out;
	r = 0;
out:
	free(head);
	free(tail);
	return r;
}

void
vs_state_writer_close(struct vs_state_writer *w)
{
	if (w->zstd_on)
		vs_sink_zstd_free(&w->zstd);
	w->zstd_on = false;
	if (w->spool_fd >= 0)
		close(w->spool_fd);
	w->spool_fd = -1;
}

int
vs_capture_init(struct vs_capture *c, struct vs_sink *raw, bool digest)
{
	memset(c, 0, sizeof *c);
	c->digest = digest;
	if (digest)
		vs_hasher_init(&c->hash);
	return vs_chunk_writer_init(&c->w, raw);
}

int
vs_capture_consume(void *capture, const void *buf, size_t len)
{
	struct vs_capture *c = capture;

	if (c->digest)
		vs_hasher_update(&c->hash, buf, len);
	if (c->sniffed < sizeof c->sniff) {
		size_t k = len < sizeof c->sniff - c->sniffed ? len : sizeof c->sniff - c->sniffed;
		memcpy(c->sniff + c->sniffed, buf, k);
		c->sniffed += k;
	}
	return vs_chunk_writer_write(&c->w, buf, len);
}

void
vs_capture_manifest(struct vs_capture *c, struct vs_manifest *m, struct json_object *backend)
{
	unsigned char digest[SHA256_DIGEST_SIZE];

	snprintf(m->tool, sizeof m->tool, "%s %s", PACKAGE_NAME, PACKAGE_VERSION);
	m->backend = backend;
	m->payload_size = c->w.payload;
	m->chunks = c->w.chunks;
	snprintf(m->kind, sizeof m->kind, "%s",
		 vs_payload_kind_name(vs_payload_sniff(c->sniff, c->sniffed, c->w.payload)));
	if (!c->digest)
		return;
	vs_hasher_digest(&c->hash, digest);
	c->digest = false;
	vs_hex(m->sha256, digest, sizeof digest);
}

void
vs_capture_free(struct vs_capture *c)
{
	if (c->digest)
		vs_hasher_free(&c->hash);
	c->digest = false;
	vs_chunk_writer_free(&c->w);
}
