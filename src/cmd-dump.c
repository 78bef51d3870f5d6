/* vhost-state dump SOCKET [-o FILE]: save the back-end's state. */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunk.h"
#include "cmd.h"
#include "device-state.h"
#include "error.h"
#include "identity.h"
#include "output.h"
#include "progress.h"
#include "result.h"
#include "vu-frontend.h"
#include "writer.h"

struct dump_args {
	const char *socket;
	const char *output;
};

static const struct argp_option options[] = {
	{ "output", 'o', "FILE", 0, "Write the state to FILE (default, or -: stdout)", 0 },
	{ 0 }
};

static const struct argp dump_argp = VS_VERB_ARGP(
	options, "SOCKET",
	"Save a vhost-user back-end's internal state (SET_DEVICE_STATE_FD, SAVE).  Raw format: "
	"QEMU's stream, be32 length + bytes per chunk, ended by a zero length, written only after "
	"CHECK_DEVICE_STATE returned 0.  Archive format: a tar with manifest.json (identity, sizes, "
	"SHA-256) and that stream.  A FILE appears only complete."
	VS_DIRECT_MODE_NOTE,
	VS_FORMAT_CHILD, VS_JSON_CHILD);

int
vs_cmd_dump(int argc, char **argv)
{
	struct dump_args a = { 0 };
	struct vs_verb_args va = { .pos = { .slot = { &a.socket }, .required = 1, .missing = "SOCKET is required" },
				 .opt = { { 'o', .arg = &a.output } } };
	struct vs_save s = { 0 };
	struct vs_vu vu;
	uint64_t bytes;
	bool connected = false;
	/* only the manifest and the JSON result need the digest */
	bool digest;

	argp_parse(&dump_argp, argc, argv, 0, NULL, &va);
	vs_format_from_name(a.output);
	vs_setup_progress();
	digest = vs_fmt.archive == 1 || vs_opt.json;
	/* Everything that can be refused is refused before the connection
	 * consumes the back-end. */
	if (vs_result_check_stdout(vs_is_stdout(a.output)) < 0 ||
	    vs_save_open(&s, a.output, &vs_fmt, digest ? VS_SAVE_DIGEST : VS_SAVE_FRAMED) < 0 ||
	    vs_cmd_vu_open(&vu, a.socket) < 0)
		goto fail;
	connected = true;
	vs_progress_start("dump", 0);
	/* The raw stream as it is, without a result that shows its digest
	 * and kind, needs neither: it moves without a copy through us where
	 * the output allows. */
	if ((digest ? vs_save_backend_state(&vu, vs_opt.max_size, vs_save_consume, &s, &bytes)
		    : vs_save_backend_state_chunks(&vu, vs_opt.max_size, &s.cap->w, vs_progress_update, &bytes)) < 0)
		goto fail;
	vs_progress_end();
	if (vs_save_finish(&s, vs_identity_json(&vu, a.socket, false)) < 0 ||
	    vs_save_emit(&s, vs_save_result(&s, "socket", a.socket), vs_print_moved) < 0)
		goto fail;
	vs_vu_close(&vu);
	vs_save_close(&s);
	return 0;
fail:
	vs_progress_end();
	vs_save_close(&s);
	if (connected)
		vs_vu_close(&vu);
	return -1;
}
