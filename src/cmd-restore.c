/* vhost-state restore SOCKET [-i FILE]: load a state into the back-end. */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "device-state.h"
#include "error.h"
#include "input.h"
#include "vu-frontend.h"

struct restore_args {
	const char *socket;
	const char *input;
};

static const struct argp_option options[] = {
	{ "input", 'i', "FILE", 0, "Read the stream from FILE (default, or -: stdin)", 0 },
	{ 0 }
};

static error_t
parse(int key, char *arg, struct argp_state *state)
{
	struct restore_args *a = state->input;

	switch (key) {
	case 'i': a->input = arg; break;
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
static const struct argp restore_argp = {
	options, parse, "SOCKET",
	"Load a state stream into a vhost-user back-end (SET_DEVICE_STATE_FD, LOAD) and confirm it "
	"with CHECK_DEVICE_STATE.  The whole input is checked first; a malformed stream is refused "
	"before the back-end is contacted." VS_DIRECT_MODE_NOTE,
	children, NULL, NULL
};

static ssize_t
produce(void *r, void *buf, size_t len)
{
	return vs_chunk_read(r, buf, len);
}

int
vs_cmd_restore(int argc, char **argv)
{
	struct restore_args a = { 0 };
	struct vs_chunk_limits lim = { .max_total = 0 };
	struct vs_state_input in;
	struct vs_chunk_reader r;
	struct vs_vu vu;
	uint64_t bytes;

	argp_parse(&restore_argp, argc, argv, 0, NULL, &a);
	lim.max_total = vs_opt.max_size;
	if ((!a.input || strcmp(a.input, "-") == 0) && isatty(STDIN_FILENO) && !vs_opt.force) {
		vs_error_set(VS_EXIT_USAGE, 0, "refusing to read binary state from a terminal (use -i FILE or a pipe)");
		return vs_report_error("restore");
	}
	if (vs_state_input_open(&in, a.input, &lim) < 0)
		return vs_report_error("restore");
	if (vs_vu_open(&vu, a.socket) < 0) {
		vs_state_input_close(&in);
		return vs_report_error("restore");
	}
	if (vs_state_input_rewind(&in, &r) < 0 || vs_load_backend_state(&vu, produce, &r, &bytes) < 0) {
		vs_vu_close(&vu);
		vs_state_input_close(&in);
		return vs_report_error("restore");
	}
	vs_vu_close(&vu);
	vs_state_input_close(&in);
	if (!vs_opt.quiet)
		fprintf(stderr, "%s: restored %" PRIu64 " bytes of state into %s (CHECK_DEVICE_STATE returned 0)\n",
			program_invocation_short_name, bytes, a.socket);
	return 0;
}
