#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container.h"
#include "payload.h"
#include "error.h"
#include "source.h"
#include "writer.h"

int
vs_state_writer_open(struct vs_state_writer *w, int out_fd, const char *name, bool archive, int zstd_level,
		     int workers)
{
	memset(w, 0, sizeof *w);
	w->spool_fd = -1;
	w->archive = archive;
	vs_sink_fd_init(&w->fd_sink, out_fd, name);
	w->out = &w->fd_sink;
	if (zstd_level >= 0) {
		if (vs_sink_zstd_init(&w->zstd, &w->fd_sink, zstd_level, workers) < 0)
			return -1;
		w->zstd_on = true;
		w->out = &w->zstd.base;
	}
	if (archive) {
		w->spool_fd = vs_spool_create("archive");
		if (w->spool_fd < 0) {
			vs_state_writer_close(w);
			return -1;
		}
		vs_sink_fd_init(&w->spool_sink, w->spool_fd, "spool file");
	}
	return 0;
}

struct vs_sink *
vs_state_writer_raw(struct vs_state_writer *w)
{
	return w->archive ? &w->spool_sink : w->out;
}

int
vs_state_writer_finish(struct vs_state_writer *w, const struct vs_manifest *m)
{
	struct stat st;

	if (!w->archive)
		return 0;
	if (fstat(w->spool_fd, &st) < 0 || lseek(w->spool_fd, 0, SEEK_SET) < 0)
		return vs_fail(VS_EXIT_FAIL, errno, "spool file");
	if (vs_container_write(w->out, m, w->spool_fd, (uint64_t)st.st_size) < 0)
		return -1;
	return vs_sink_finish(w->out);
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
	for (size_t i = 0; i < sizeof digest; i++)
		sprintf(m->sha256 + 2 * i, "%02x", digest[i]);
}

void
vs_capture_free(struct vs_capture *c)
{
	if (c->digest)
		vs_hasher_free(&c->hash);
	c->digest = false;
	vs_chunk_writer_free(&c->w);
}
