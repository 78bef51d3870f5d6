/* Writing a state in the format asked for: the raw stream, or the
 * container; either optionally zstd-compressed.  The raw stream goes to
 * vs_state_writer_raw().  For a container it is spooled to disk, since
 * the manifest (first member) carries its size and digest; compressed
 * as it arrives, so the spool is small and no second pass compresses.
 * The output is then zstd(head) + the spooled frame + zstd(tail):
 * frames in a row decode as one stream. */
#ifndef VS_WRITER_H
#define VS_WRITER_H

#include <stdbool.h>

#include "chunk.h"
#include "hasher.h"
#include "manifest.h"
#include "sink.h"

struct vs_state_writer {
	struct vs_sink fd_sink; /* the output */
	struct vs_sink_zstd zstd; /* into fd_sink, or (archive) the spool */
	bool zstd_on;
	int zstd_level;
	struct vs_sink *raw; /* where the raw stream goes */
	bool archive;
	int spool_fd;
	struct vs_sink spool_sink;
	struct vs_sink_count raw_count; /* archive: the raw stream's size */
};

/* zstd_level VS_ZSTD_OFF: no compression.  workers: zstd threads (0:
 * compress in the calling thread). */
int vs_state_writer_open(struct vs_state_writer *w, int out_fd, const char *name, bool archive, int zstd_level,
			 int workers);
/* Where the raw stream goes.  Whoever writes it calls vs_sink_finish on
 * it once the terminator is written. */
struct vs_sink *vs_state_writer_raw(struct vs_state_writer *w);
/* Archive: write the container with m (its payload fields filled in). */
int vs_state_writer_finish(struct vs_state_writer *w, const struct vs_manifest *m);
void vs_state_writer_close(struct vs_state_writer *w);

/* A state arriving from a back-end: framed by a chunk writer, with what
 * its manifest will need on the way (the SHA-256 only when asked: even
 * on its own thread it costs more than the transfer; the first bytes,
 * to tell the kind). */
struct vs_capture {
	struct vs_chunk_writer w;
	bool digest;
	struct vs_hasher hash;
	unsigned char sniff[4096];
	size_t sniffed;
};

int vs_capture_init(struct vs_capture *c, struct vs_sink *raw, bool digest);
/* A vs_consume_fn: the next piece of payload. */
int vs_capture_consume(void *capture, const void *buf, size_t len);
/* The manifest's payload fields and tool; backend is taken over. */
void vs_capture_manifest(struct vs_capture *c, struct vs_manifest *m, struct json_object *backend);
void vs_capture_free(struct vs_capture *c);

#endif
