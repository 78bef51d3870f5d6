/* vhost-state restore SOCKET [-i FILE]: load a state into the back-end. */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "device-state.h"
#include "error.h"
#include "identity.h"
#include "output.h"
#include "progress.h"
#include "peer-owner.h"
#include "result.h"
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

static const struct argp restore_argp = VS_VERB_ARGP(
	options, "SOCKET",
	"Load a state into a vhost-user back-end (SET_DEVICE_STATE_FD, LOAD) and confirm it "
	"with CHECK_DEVICE_STATE.  The input may be a raw stream, a .vhsnap archive, or either "
	"compressed with zstd.  All of it is checked first (framing, digest): a malformed state "
	"is refused before the back-end is contacted.  A fs state is not loaded into a net "
	"back-end or the reverse, unless -f." VS_DIRECT_MODE_NOTE,
	VS_JSON_CHILD);

/* The result (schema/restore.schema.json); text: one line on stderr. */
static struct json_object *
result(const char *socket, const char *input, const struct vs_state_input *in, struct json_object *backend)
{
	struct json_object *doc = json_object_new_object();

	vs_jadd_str(doc, "socket", socket);
	vs_jadd_str(doc, "input", vs_is_stdout(input) ? "-" : input);
	vs_jadd_str(doc, "format", vs_input_format_name(in->format));
	vs_jadd_state(doc, in->payload, in->chunks,
		      in->have_manifest ? in->manifest.kind : vs_payload_kind_name(in->kind), in->sha256);
	json_object_object_add(doc, "backend", backend);
	vs_jadd_u64(doc, "check", 0); /* CHECK_DEVICE_STATE's result: only 0 gets here */
	return doc;
}

int
vs_cmd_restore(int argc, char **argv)
{
	struct restore_args a = { 0 };
	struct vs_verb_args va = { .pos = { .slot = { &a.socket }, .required = 1, .missing = "SOCKET is required" },
				 .opt = { { 'i', .arg = &a.input } } };
	struct vs_chunk_limits lim = { .max_total = 0 };
	struct vs_state_input in = { 0 };
	struct vs_chunk_reader r;
	struct vs_vu vu;
	struct vs_peer_owner owner;
	bool known;
	struct json_object *backend;
	uint64_t bytes;

	argp_parse(&restore_argp, argc, argv, 0, NULL, &va);
	lim.max_total = vs_opt.max_size;
	in.want_digest = vs_opt.json; /* the result reports it */
	if (vs_result_check_stdout(false) < 0)
		return -1;
	if ((!a.input || strcmp(a.input, "-") == 0) && isatty(STDIN_FILENO) && !vs_opt.force) {
		vs_error_set(VS_EXIT_USAGE, 0, "refusing to read binary state from a terminal (use -i FILE or a pipe)");
		return -1;
	}
	if (vs_cmd_input_open(&in, a.input, &lim) < 0)
		return -1;
	/* the owner is looked up first: a refusal then costs nothing */
	known = vs_peer_owner_find(a.socket, &owner) == 2;
	if (known && vs_check_kind(&owner, &in, a.socket, false) < 0) {
		vs_state_input_close(&in);
		return -1;
	}
	if (vs_cmd_vu_open(&vu, a.socket) < 0) {
		vs_state_input_close(&in);
		return -1;
	}
	vs_setup_progress();
	vs_progress_start("restore", in.payload);
	if (!known)
		vs_peer_describe(vu.conn.peer_pid, &owner);
	if ((!known && vu.conn.peer_pid > 0 && vs_check_kind(&owner, &in, a.socket, true) < 0) ||
	    vs_state_input_rewind(&in, &r) < 0 ||
	    vs_load_backend_state_chunks(&vu, &r, vs_progress_update, &bytes) < 0) {
		vs_progress_end();
		vs_vu_close(&vu);
		vs_state_input_close(&in);
		return -1;
	}
	vs_progress_end();
	backend = vs_identity_json(&vu, a.socket, false);
	vs_vu_close(&vu);
	vs_result_emit(result(a.socket, a.input, &in, backend), vs_print_moved, stderr, false);
	vs_state_input_close(&in);
	return 0;
}
