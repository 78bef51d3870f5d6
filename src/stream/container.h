/* The .vhsnap container: a pax tar (optionally zstd as a whole) holding
 * manifest.json then state.vhs, the raw stream unchanged.  The reader
 * also takes a zstd-compressed raw stream (libarchive's raw format).
 * See doc/formats.md §2-3. */
#ifndef VS_CONTAINER_H
#define VS_CONTAINER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <zstd.h>

#include "manifest.h"
#include "sink.h"
#include "source.h"

#define VS_CONTAINER_MANIFEST "manifest.json"
#define VS_CONTAINER_STATE "state.vhs"

#define VS_CONTAINER_BLOCK 512 /* tar's */

/* The largest zstd window a reader accepts (2^n bytes): what our writer
 * makes at level 22, and the zstd CLI's own limit.  A frame asking for
 * more is refused before its window is allocated. */
#define VS_ZSTD_WINDOW_LOG_MAX 27

/* Whether p (n bytes) opens with a zstd frame or a skippable frame
 * (which pzstd writes first). */
bool vs_is_zstd(const unsigned char *p, size_t n);

/* The container is head, the raw stream (raw_size bytes), then
 * vs_container_tail_size(raw_size) zero bytes.  The head (manifest
 * member, state member header) is malloc'd into *head. */
int vs_container_head(const struct vs_manifest *m, uint64_t raw_size, unsigned char **head, size_t *len);
size_t vs_container_tail_size(uint64_t raw_size);

#define VS_CONTAINER_TAIL 4096

struct vs_container_reader {
	struct archive *ar;
	struct vs_source *base;
	bool is_tar;	 /* else a compressed raw stream */
	bool compressed; /* a zstd layer was found */
	bool have_manifest;
	struct vs_manifest manifest;
	uint64_t state_size; /* the state.vhs member's size (tar only) */
	/* the zstd layer, decoded here; libarchive reads zbuf */
	ZSTD_DCtx *zd;
	bool zd_lent;	      /* zd is the caller's (vs_container_open_with) */
	ZSTD_inBuffer zin;    /* the base source's bytes not yet decoded */
	unsigned char *zbuf;
	bool in_frame;	      /* the last call left a frame unfinished */
	bool out_full;	      /* ... or filled zbuf: more may be buffered */
	/* what libarchive was handed, for the check of the bytes after the
	 * tar's end (vs_container_finish): the latest buffer, the last
	 * bytes of those before it (libarchive holds fewer than 512 of them
	 * unread, a header's worth), and the count */
	const unsigned char *last;
	size_t last_len;
	unsigned char tail[VS_CONTAINER_TAIL]; /* a ring: tail_len bytes ending at tail_end */
	size_t tail_len, tail_end;
	uint64_t handed;
};

/* Open base as zstd and/or tar; for a tar, read and check the manifest
 * and stop at the state member.  Errors: VS_EXIT_DATAERR. */
int vs_container_open(struct vs_container_reader *r, struct vs_source *base);
/* The same, decoding a zstd layer with dctx, which stays the caller's:
 * one decoder for many containers keeps its window buffers between them
 * (the fuzzer opens millions). */
int vs_container_open_with(struct vs_container_reader *r, struct vs_source *base, ZSTD_DCtx *dctx);
/* vs_source_read_fn over the state bytes (ctx = the reader). */
ssize_t vs_container_read(struct vs_source *s, void *buf, size_t len);
/* After the state: nothing else may follow (after a tar's end, only
 * zero padding). */
int vs_container_finish(struct vs_container_reader *r);
void vs_container_close(struct vs_container_reader *r);

#endif
