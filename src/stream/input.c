#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "error.h"
#include "hasher.h"
#include "input.h"
#include "io.h"

struct compressor {
	const char *name, *tool; /* the data, the program that undoes it */
	unsigned char magic[6];
	size_t len;
};
static const struct compressor other_compressors[] = {
	{ "gzip", "gzip", { 0x1f, 0x8b }, 2 },
	{ "xz", "xz", { 0xfd, '7', 'z', 'X', 'Z', 0x00 }, 6 },
	{ "bzip2", "bzip2", { 'B', 'Z', 'h' }, 3 },
	{ "lz4", "lz4", { 0x04, 0x22, 0x4d, 0x18 }, 4 },
};

const char *
vs_input_format_name(enum vs_input_format f)
{
	switch (f) {
	case VS_FORMAT_RAW: return "raw";
	case VS_FORMAT_RAW_ZSTD: return "raw+zstd";
	case VS_FORMAT_ARCHIVE: return "archive";
	case VS_FORMAT_ARCHIVE_ZSTD: return "archive+zstd";
	}
	return "?";
}

/* Which reader the first bytes call for. */
static int
detect(struct vs_state_input *in, bool *via_archive)
{
	const unsigned char *p;
	ssize_t n = vs_source_peek(&in->base, 512, &p);

	if (n < 0)
		return -1;
	if (n == 0)
		return vs_fail(VS_EXIT_DATAERR, 0,
			       "%s is empty (a state stream holds at least its 4-byte terminator: expected a raw "
			       "stream, a .vhsnap archive, or either compressed with zstd)",
			       in->base.name);
	/* Other compressors' magic numbers: each reads as a chunk length
	 * beyond any limit, which would say nothing useful. */
	for (size_t i = 0; i < sizeof other_compressors / sizeof *other_compressors; i++) {
		const struct compressor *c = &other_compressors[i];
		if ((size_t)n >= c->len && memcmp(p, c->magic, c->len) == 0)
			return vs_fail(VS_EXIT_DATAERR, 0,
				       "%s: %s data: only zstd is read (decompress it with %s -d first)", in->base.name,
				       c->name, c->tool);
	}
	/* A migration file holds states but is not one: `extract` takes
	 * one out, `inspect` describes it (see qemu-file.h). */
	if (n >= 4 && memcmp(p, "QEVM", 4) == 0)
		return vs_fail_hint(VS_EXIT_DATAERR, VS_HINT_MIGRATION_STREAM,
				    "%s: this is a QEMU migration stream, not a state stream", in->base.name);
	if (n >= 16 && (memcmp(p, "LibvirtQemudSave", 16) == 0 || memcmp(p, "LibvirtQemudPart", 16) == 0))
		return vs_fail_hint(VS_EXIT_DATAERR, VS_HINT_LIBVIRT_IMAGE,
				    "%s: this is a libvirt save image, not a state stream", in->base.name);
	*via_archive = vs_is_zstd(p, (size_t)n) ||
		       (n >= 262 && memcmp(p + 257, "ustar", 5) == 0);
	return 0;
}

int
vs_state_input_open(struct vs_state_input *in, const char *path, const struct vs_chunk_limits *lim)
{
	struct vs_source *stream;
	struct vs_chunk_reader r;
	struct vs_hasher sha;
	unsigned char *scratch = NULL, *sniff = NULL, md[SHA256_DIGEST_SIZE];
	size_t sniffed = 0;
	bool via_archive = false, digest = false;
	ssize_t n;
	int spool = -1;

	in->lim = *lim;
	in->spool.fd = -1;
	if (vs_source_open(&in->base, path, in->timeout_ms) < 0)
		return -1;
	if (detect(in, &via_archive) < 0)
		goto fail;
	stream = &in->base;
	if (via_archive) {
		if (vs_container_open(&in->cr, &in->base) < 0 ||
		    vs_source_init_decoder(&in->decoded, in->base.name, vs_container_read, &in->cr) < 0)
			goto fail;
		in->format = in->cr.is_tar ? (in->cr.compressed ? VS_FORMAT_ARCHIVE_ZSTD : VS_FORMAT_ARCHIVE)
					   : VS_FORMAT_RAW_ZSTD;
		in->have_manifest = in->cr.have_manifest;
		stream = &in->decoded;
	}
	if (via_archive || !in->base.seekable) {
		spool = vs_spool_create("input");
		/* the spool holds the stream, lengths included: bounded like
		 * the payload, so a small compressed input cannot fill TMPDIR */
		if (spool < 0 || vs_source_set_tee(stream, spool, in->lim.max_total == UINT64_MAX ? 0 : in->lim.max_total) < 0)
			goto fail;
	}

	scratch = malloc(VS_CHUNK_SIZE);
	sniff = malloc(VS_SNIFF_BYTES);
	if (!scratch || !sniff) {
		vs_error_set(VS_EXIT_FAIL, ENOMEM, "out of memory");
		goto fail;
	}
	vs_chunk_reader_init(&r, stream, &in->lim);
	r.on_chunk = in->on_chunk;
	r.on_chunk_ctx = in->on_chunk_ctx;
	digest = in->want_digest || in->have_manifest;
	if (digest)
		vs_hasher_init(&sha);
	if (!digest && spool < 0 && vs_source_rewind(&in->base) == 0 && vs_chunk_reader_can_span(&r)) {
		/* a plain file and no digest asked: the framing is checked
		 * without reading the payload, which the transfer then
		 * splices; only the first bytes are read, for the sniff */
		uint64_t at;
		while ((n = vs_chunk_skip(&r, (uint64_t)in->base.st.st_size, &at)) > 0 && sniffed < VS_SNIFF_BYTES) {
			size_t k = (size_t)n < VS_SNIFF_BYTES - sniffed ? (size_t)n : VS_SNIFF_BYTES - sniffed;
			if (vs_pread_all(in->base.fd, sniff + sniffed, k, at, in->base.name) < 0)
				goto fail;
			sniffed += k;
		}
		while (n > 0)
			n = vs_chunk_skip(&r, (uint64_t)in->base.st.st_size, &at);
	} else {
		while ((n = vs_chunk_read(&r, scratch, VS_CHUNK_SIZE)) > 0) {
			if (digest)
				vs_hasher_update(&sha, scratch, n);
			if (sniffed < VS_SNIFF_BYTES) {
				size_t k = (size_t)n < VS_SNIFF_BYTES - sniffed ? (size_t)n : VS_SNIFF_BYTES - sniffed;
				memcpy(sniff + sniffed, scratch, k);
				sniffed += k;
			}
		}
	}
	if (n < 0 || vs_chunk_reader_expect_eof(&r) < 0 || (via_archive && vs_container_finish(&in->cr) < 0))
		goto fail;
	if (digest) {
		vs_hasher_digest(&sha, md);
		digest = false;
		vs_hex(in->sha256, md, sizeof md);
	}
	in->payload = r.payload;
	in->chunks = r.chunks;
	in->min_chunk = r.min_chunk;
	in->max_chunk = r.max_chunk;
	in->stream_bytes = r.offset;
	in->kind = vs_payload_sniff(sniff, sniffed, in->payload);

	/* The manifest must describe exactly what was read, before any of
	 * it may go to a back-end. */
	if (in->have_manifest) {
		const struct vs_manifest *m = &in->cr.manifest;
		if (strcmp(m->sha256, in->sha256) != 0) {
			vs_error_set(VS_EXIT_DATAERR, 0,
				     "%s: digest mismatch: the manifest says sha256 %s, the payload is %s", in->base.name,
				     m->sha256, in->sha256);
			goto fail;
		}
		if (m->payload_size != in->payload || m->chunks != in->chunks) {
			vs_error_set(VS_EXIT_DATAERR, 0,
				     "%s: the manifest says %" PRIu64 " bytes in %" PRIu64 " chunks, the stream has %" PRIu64
				     " in %" PRIu64,
				     in->base.name, m->payload_size, m->chunks, in->payload, in->chunks);
			goto fail;
		}
		in->manifest = in->cr.manifest; /* moved: the reader no longer owns it */
		in->cr.have_manifest = false;
	}
	free(scratch);
	free(sniff);
	scratch = sniff = NULL;

	if (spool >= 0) {
		stream->tee_fd = -1;
		n = vs_source_from_fd(&in->spool, spool, in->base.name);
		spool = -1; /* the spool source owns it, even on failure */
		if (n < 0)
			goto fail;
		in->replay = &in->spool;
	} else {
		in->replay = &in->base;
	}
	return 0;
fail:
	if (digest)
		vs_hasher_free(&sha);
	free(scratch);
	free(sniff);
	if (spool >= 0)
		close(spool);
	vs_state_input_close(in);
	return -1;
}

int
vs_state_input_rewind(struct vs_state_input *in, struct vs_chunk_reader *r)
{
	if (vs_source_rewind(in->replay) < 0)
		return -1;
	vs_chunk_reader_init(r, in->replay, &in->lim);
	return 0;
}

enum vs_input_load
vs_state_input_load(struct vs_state_input *in, size_t max, unsigned char **buf, size_t *len)
{
	struct vs_chunk_reader r;
	ssize_t got;

	*buf = NULL;
	*len = 0;
	if (in->payload > max)
		return VS_INPUT_TOO_LARGE;
	if (vs_state_input_rewind(in, &r) < 0)
		return VS_INPUT_LOAD_ERROR;
	*buf = malloc(in->payload ? in->payload : 1);
	if (!*buf) {
		vs_error_set(VS_EXIT_FAIL, ENOMEM, "out of memory");
		return VS_INPUT_LOAD_ERROR;
	}
	got = vs_chunk_read_full(&r, *buf, in->payload);
	if (got < 0 || (uint64_t)got != in->payload) {
		free(*buf);
		*buf = NULL;
		if (got >= 0)
			vs_error_set(VS_EXIT_FAIL, 0, "%s: the state changed while it was read", in->base.name);
		return VS_INPUT_LOAD_ERROR;
	}
	*len = got;
	return VS_INPUT_LOADED;
}

int
vs_state_input_copy_raw(struct vs_state_input *in, struct vs_sink *sink, void (*progress)(uint64_t))
{
	unsigned char *buf;
	uint64_t done = 0;
	ssize_t n;

	if (vs_source_rewind(in->replay) < 0)
		return -1;
	buf = malloc(VS_CHUNK_SIZE);
	if (!buf)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	while ((n = vs_source_read(in->replay, buf, VS_CHUNK_SIZE)) > 0) {
		struct iovec iov = { buf, n };
		if (vs_sink_writev(sink, &iov, 1) < 0) {
			free(buf);
			return -1;
		}
		done += n;
		if (progress)
			progress(done);
	}
	free(buf);
	return n < 0 ? -1 : vs_sink_finish(sink);
}

void
vs_state_input_close(struct vs_state_input *in)
{
	vs_container_close(&in->cr);
	if (in->decoded.buf)
		vs_source_close(&in->decoded);
	vs_source_close(&in->spool);
	vs_source_close(&in->base);
	if (in->have_manifest)
		vs_manifest_free(&in->manifest);
	in->have_manifest = false;
	in->replay = NULL;
}
