/* vhost-state dump SOCKET [-o FILE]: save the back-end's state. */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>

#include "chunk.h"
#include "cmd.h"
#include "device-state.h"
#include "error.h"
#include "output.h"
#include "vu-frontend.h"

struct dump_args {
	const char *socket;
	const char *output;
};

static const struct argp_option options[] = {
	{ "output", 'o', "FILE", 0, "Write the stream to FILE (default, or -: stdout)", 0 },
	{ 0 }
};

static error_t
parse(int key, char *arg, struct argp_state *state)
{
	struct dump_args *a = state->input;

	switch (key) {
	case 'o': a->output = arg; break;
	case ARGP_KEY_ARG:
		if (a->socket)
			argp_error(state, "too many arguments: '%s'", arg);
		a->socket = arg;
		break;
	case ARGP_KEY_END:
		if (!a->socket)
			argp_error(state, "SOCKET is required");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp_child children[] = { VS_COMMON_CHILD, { 0 } };
static const struct argp dump_argp = {
	options, parse, "SOCKET",
	"Save a vhost-user back-end's internal state (SET_DEVICE_STATE_FD, SAVE) as QEMU's raw "
	"stream: be32 length + bytes per chunk, ended by a zero length.  The terminator is written "
	"only after CHECK_DEVICE_STATE returned 0, and a FILE appears only complete."
	VS_DIRECT_MODE_NOTE,
	children, NULL, NULL
};

static int
consume(void *w, const void *buf, size_t len)
{
	return vs_chunk_writer_write(w, buf, len);
}

int
vs_cmd_dump(int argc, char **argv)
{
	struct dump_args a = { 0 };
	struct vs_output out;
	struct vs_sink sink;
	struct vs_chunk_writer w = { 0 };
	struct vs_vu vu;
	uint64_t bytes;
	bool connected = false;

	argp_parse(&dump_argp, argc, argv, 0, NULL, &a);
	/* Refuse a bad output before the connection consumes the back-end. */
	if (vs_output_open(&out, a.output, VS_OUTPUT_BINARY | (vs_opt.force ? VS_OUTPUT_FORCE : 0)) < 0)
		return vs_report_error("dump");
	vs_sink_fd_init(&sink, out.fd, out.name);
	if (vs_chunk_writer_init(&w, &sink) < 0 || vs_vu_open(&vu, a.socket) < 0)
		goto fail;
	connected = true;
	if (vs_save_backend_state(&vu, vs_opt.max_size, consume, &w, &bytes) < 0 ||
	    vs_chunk_writer_end(&w) < 0 || vs_output_commit(&out) < 0)
		goto fail;
	vs_vu_close(&vu);
	vs_chunk_writer_free(&w);
	if (!vs_opt.quiet)
		fprintf(stderr, "%s: dumped %" PRIu64 " bytes of state (%" PRIu64 " chunk%s) from %s to %s\n",
			program_invocation_short_name, bytes, w.chunks, w.chunks == 1 ? "" : "s", a.socket,
			out.name);
	return 0;
fail:
	vs_output_abort(&out);
	vs_chunk_writer_free(&w);
	if (connected)
		vs_vu_close(&vu);
	return vs_report_error("dump");
}
