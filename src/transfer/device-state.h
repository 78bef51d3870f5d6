/* Moving a back-end's state through SET_DEVICE_STATE_FD and
 * CHECK_DEVICE_STATE: QEMU's vhost_save_backend_state and
 * vhost_load_backend_state without the framing, which the caller's
 * consume/produce callbacks own. */
#ifndef VS_DEVICE_STATE_H
#define VS_DEVICE_STATE_H

#include <stdint.h>
#include <sys/types.h>

#include "chunk.h"
#include "vu-frontend.h"

/* Receives the payload in pieces of VS_CHUNK_SIZE (the last one shorter). */
typedef int (*vs_consume_fn)(void *opaque, const void *buf, size_t len);
/* Fills buf with up to len payload bytes; 0 at the end, -1 on error. */
typedef ssize_t (*vs_produce_fn)(void *opaque, void *buf, size_t len);

bool vs_supports_device_state(const struct vs_vu *vu);

/* SAVE: read the pipe to EOF (at most max_size bytes), then CHECK.
 * Returns 0 only when CHECK returned 0; *bytes counts the payload. */
int vs_save_backend_state(struct vs_vu *vu, uint64_t max_size, vs_consume_fn consume, void *opaque,
			  uint64_t *bytes);
/* SAVE straight into a chunk writer (its buffer empty).  Where the
 * writer's sink is a plain fd, the state moves with splice(2) from the
 * back-end's pipe through a staging pipe to the output, never copied
 * through us; the chunks are the same full VS_CHUNK_SIZE ones either
 * way.  progress, if set, is told the payload written so far.  The
 * caller ends the writer (vs_chunk_writer_end) once this returned 0. */
int vs_save_backend_state_chunks(struct vs_vu *vu, uint64_t max_size, struct vs_chunk_writer *w,
				 void (*progress)(uint64_t payload), uint64_t *bytes);
/* LOAD: write everything produce gives, close, then CHECK. */
int vs_load_backend_state(struct vs_vu *vu, vs_produce_fn produce, void *opaque, uint64_t *bytes);
/* LOAD the payload of a chunk reader (after vs_state_input_rewind).  From
 * a plain file (vs_chunk_reader_can_span: a raw file, or the spool of
 * any other input) it moves with splice(2) from the page cache to the
 * pipe without a copy through us, which makes restore as fast as the
 * back-end can read; otherwise it is read and written as above.
 * progress, if set, is told the payload bytes sent so far. */
int vs_load_backend_state_chunks(struct vs_vu *vu, struct vs_chunk_reader *r, void (*progress)(uint64_t payload),
				 uint64_t *bytes);

#endif
