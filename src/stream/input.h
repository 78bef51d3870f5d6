/* A state checked end to end before anything is sent to a back-end (the
 * protocol has no abort), then replayed as a raw stream.  Formats are
 * detected: raw, zstd-compressed raw, and the .vhsnap container (tar,
 * optionally zstd).  Anything that is not a seekable raw file is spooled,
 * as the raw stream, to an unlinked temp file on disk while it is
 * checked, so memory stays flat whatever the size. */
#ifndef VS_INPUT_H
#define VS_INPUT_H

#include <stdbool.h>
#include <stdint.h>

#include "chunk.h"
#include "container.h"
#include "manifest.h"
#include "payload.h"
#include "sink.h"
#include "source.h"

enum vs_input_format { VS_FORMAT_RAW, VS_FORMAT_RAW_ZSTD, VS_FORMAT_ARCHIVE, VS_FORMAT_ARCHIVE_ZSTD };

struct vs_state_input {
	struct vs_source base;		/* the file or stdin */
	struct vs_source decoded;	/* the raw stream out of a container */
	struct vs_container_reader cr;
	struct vs_source spool;		/* the raw stream, when spooled */
	struct vs_source *replay;	/* base or spool */
	struct vs_chunk_limits lim;
	enum vs_input_format format;
	bool have_manifest;
	struct vs_manifest manifest;	/* valid when have_manifest */
	uint64_t payload;		/* de-chunked size */
	uint64_t chunks;
	uint32_t min_chunk, max_chunk;
	uint64_t stream_bytes;		/* raw stream size, terminator included */
	char sha256[65];		/* of the payload, hex; "" if not computed */
	enum vs_payload_kind kind;	/* sniffed from the payload */
	/* set before open: compute the payload's SHA-256 even for a raw
	 * stream (an archive's is always checked).  It costs more than the
	 * transfer itself, so only those who show or record it ask. */
	bool want_digest;
	/* set before open: the deadline of each wait for input on a pipe
	 * or stdin (0: the default of io.h) */
	int timeout_ms;
	/* optional: told of every chunk while checking (inspect -v) */
	void (*on_chunk)(void *ctx, uint64_t offset, uint32_t len);
	void *on_chunk_ctx;
};

const char *vs_input_format_name(enum vs_input_format f);

/* in: zeroed by the caller, or with on_chunk set. */
int vs_state_input_open(struct vs_state_input *in, const char *path, const struct vs_chunk_limits *lim);
/* Start a reader over the payload from the beginning. */
int vs_state_input_rewind(struct vs_state_input *in, struct vs_chunk_reader *r);
/* Payloads up to this size are decoded for hints (inspect, diff). */
#define VS_DECODE_MAX (64u << 20)
/* The whole payload in memory (caller frees *buf), unless it is larger
 * than max (nothing loaded). */
enum vs_input_load {
	VS_INPUT_LOAD_ERROR = -1,
	VS_INPUT_LOADED = 0,
	VS_INPUT_TOO_LARGE = 1,
};
enum vs_input_load vs_state_input_load(struct vs_state_input *in, size_t max, unsigned char **buf, size_t *len);
/* Copy the raw stream (framing as stored) into sink and finish it;
 * progress (may be NULL) is told the bytes copied so far. */
int vs_state_input_copy_raw(struct vs_state_input *in, struct vs_sink *sink, void (*progress)(uint64_t));
void vs_state_input_close(struct vs_state_input *in);

#endif
