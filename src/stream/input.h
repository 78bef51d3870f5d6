/* A raw state stream checked end to end before anything is sent to a
 * back-end (the protocol has no abort), then replayed.  Non-seekable
 * input (stdin, pipes) is spooled to an unlinked temp file on disk as it
 * is checked, so memory stays flat whatever the size. */
#ifndef VS_INPUT_H
#define VS_INPUT_H

#include <stdint.h>

#include "chunk.h"
#include "source.h"

struct vs_state_input {
	struct vs_source src;
	struct vs_chunk_limits lim;
	uint64_t payload;      /* de-chunked size */
	uint64_t chunks;
	uint64_t stream_bytes; /* framed size, terminator included */
};

int vs_state_input_open(struct vs_state_input *in, const char *path, const struct vs_chunk_limits *lim);
/* Start a reader over the payload from the beginning. */
int vs_state_input_rewind(struct vs_state_input *in, struct vs_chunk_reader *r);
void vs_state_input_close(struct vs_state_input *in);

#endif
