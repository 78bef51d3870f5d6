#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "input.h"

int
vs_state_input_open(struct vs_state_input *in, const char *path, const struct vs_chunk_limits *lim)
{
	struct vs_chunk_reader r;
	unsigned char *scratch = NULL;
	ssize_t n;
	int spool = -1;

	memset(in, 0, sizeof *in);
	in->lim = *lim;
	if (vs_source_open(&in->src, path) < 0)
		return -1;
	if (!in->src.seekable) {
		spool = vs_spool_create("input");
		if (spool < 0)
			goto fail;
		in->src.tee_fd = spool;
	}
	scratch = malloc(VS_CHUNK_SIZE);
	if (!scratch) {
		vs_error_set(VS_EXIT_FAIL, ENOMEM, "out of memory");
		goto fail;
	}
	vs_chunk_reader_init(&r, &in->src, &in->lim);
	while ((n = vs_chunk_read(&r, scratch, VS_CHUNK_SIZE)) > 0)
		;
	if (n < 0 || vs_chunk_reader_expect_eof(&r) < 0)
		goto fail;
	free(scratch);
	scratch = NULL;
	in->payload = r.payload;
	in->chunks = r.chunks;
	in->stream_bytes = r.offset;

	if (spool >= 0) {
		/* Replay from the spool from now on. */
		if (in->src.owned)
			close(in->src.fd);
		in->src.fd = spool;
		in->src.owned = true;
		in->src.seekable = true;
		in->src.tee_fd = -1;
		if (fstat(spool, &in->src.st) < 0) {
			vs_error_set(VS_EXIT_FAIL, errno, "spool file");
			vs_source_close(&in->src);
			return -1;
		}
	}
	return 0;
fail:
	free(scratch);
	if (spool >= 0)
		close(spool);
	in->src.tee_fd = -1;
	vs_source_close(&in->src);
	return -1;
}

int
vs_state_input_rewind(struct vs_state_input *in, struct vs_chunk_reader *r)
{
	if (vs_source_rewind(&in->src) < 0)
		return -1;
	vs_chunk_reader_init(r, &in->src, &in->lim);
	return 0;
}

void
vs_state_input_close(struct vs_state_input *in)
{
	vs_source_close(&in->src);
}
