/* QEMU's back-end state encoding: repeated be32 length + bytes, ended by
 * a zero length (doc/formats.md §1). */
#ifndef VS_CHUNK_H
#define VS_CHUNK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "sink.h"
#include "source.h"

/* Our writer's chunk size: full chunks, only the last one short, so the
 * same state always gives the same bytes whatever the pipe timing. */
#define VS_CHUNK_SIZE (1u << 20)
/* Readers refuse larger chunks unless told otherwise. */
#define VS_CHUNK_MAX_DEFAULT (64u << 20)

struct vs_chunk_writer {
	struct vs_sink *sink;
	unsigned char *buf;
	size_t fill;
	uint64_t payload; /* payload bytes accepted */
	uint64_t chunks;  /* non-terminating chunks written */
};

int vs_chunk_writer_init(struct vs_chunk_writer *w, struct vs_sink *sink);
int vs_chunk_writer_write(struct vs_chunk_writer *w, const void *data, size_t len);
/* A whole chunk of len payload bytes (len <= VS_CHUNK_SIZE) waiting in
 * the pipe pipe_fd: write its length, then move it on with splice where
 * the sink is a plain fd (vs_sink_is_fd), through the writer's buffer
 * otherwise.  Only between chunks: nothing may be buffered (fill 0). */
int vs_chunk_writer_splice(struct vs_chunk_writer *w, int pipe_fd, size_t len);
/* Write the last short chunk and the terminator. */
int vs_chunk_writer_end(struct vs_chunk_writer *w);
void vs_chunk_writer_free(struct vs_chunk_writer *w);

struct vs_chunk_limits {
	uint64_t max_chunk; /* largest single chunk */
	uint64_t max_total; /* largest payload */
};

struct vs_chunk_reader {
	struct vs_source *src;
	struct vs_chunk_limits lim;
	uint64_t offset;  /* stream bytes consumed */
	uint64_t left;	  /* payload left in the current chunk */
	uint64_t payload; /* payload bytes returned */
	uint64_t chunks;  /* non-terminating chunks seen */
	uint32_t min_chunk, max_chunk;
	bool ended;	  /* terminator consumed */
	bool direct;	  /* used through vs_chunk_skip: the file read by pread */
	/* set after init if wanted: told of every chunk (the stream offset of
	 * its length field, and the length) */
	void (*on_chunk)(void *ctx, uint64_t offset, uint32_t len);
	void *on_chunk_ctx;
};

void vs_chunk_reader_init(struct vs_chunk_reader *r, struct vs_source *src,
			  const struct vs_chunk_limits *lim);
/* Payload bytes, crossing chunk boundaries; 0 once the terminator is
 * read; -1 with the error set (VS_EXIT_DATAERR names the offset). */
ssize_t vs_chunk_read(struct vs_chunk_reader *r, void *buf, size_t len);
/* The payload without copying it through us (splice(2)), for a reader
 * over a plain file that starts at the file's beginning and has read
 * nothing yet (vs_chunk_reader_can_span).  vs_chunk_span checks the next
 * chunk length when the current chunk is used up, like vs_chunk_read,
 * and gives the file offset of the payload bytes that follow and how
 * many the chunk still holds (0 once the terminator is read, -1 with the
 * error set); vs_chunk_spanned(n) records that the caller moved n of
 * them.  A reader is used this way or with vs_chunk_read, not both. */
bool vs_chunk_reader_can_span(const struct vs_chunk_reader *r);
ssize_t vs_chunk_span(struct vs_chunk_reader *r, uint64_t *offset);
void vs_chunk_spanned(struct vs_chunk_reader *r, size_t n);
/* The framing of such a file checked without reading its payload: each
 * chunk's length read and checked, its payload skipped against the
 * file's size (a chunk that reaches past it is the truncation error
 * vs_chunk_read gives).  Returns the chunk's payload length with its file
 * offset in *offset, 0 at the terminator, -1 with the error set.
 * vs_chunk_reader_expect_eof then looks past the terminator by pread. */
ssize_t vs_chunk_skip(struct vs_chunk_reader *r, uint64_t size, uint64_t *offset);
/* Like vs_chunk_read, but fills buf unless the payload ends first. */
ssize_t vs_chunk_read_full(struct vs_chunk_reader *r, void *buf, size_t len);
/* After the terminator: the input must end (no trailing bytes). */
int vs_chunk_reader_expect_eof(struct vs_chunk_reader *r);

/* Payload arriving piece by piece (a vs_consume_fn), compared with a
 * reader's payload.  first_diff stays UINT64_MAX while they agree. */
struct vs_payload_compare {
	struct vs_chunk_reader *reader;
	uint64_t offset;     /* payload bytes compared */
	uint64_t first_diff; /* UINT64_MAX while equal */
	unsigned char buf[64 * 1024];
};

void vs_payload_compare_init(struct vs_payload_compare *c, struct vs_chunk_reader *r);
int vs_payload_compare_consume(void *c, const void *data, size_t len);
/* After the last piece: total arrived bytes, the reader's payload size;
 * returns the first differing offset or UINT64_MAX. */
uint64_t vs_payload_compare_end(struct vs_payload_compare *c, uint64_t arrived, uint64_t expected);

#endif
