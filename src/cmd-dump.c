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

static error_t
parse(int key, char *arg, struct argp_state *state)
{
	struct dump_args *a = state->input;
	const struct vs_positional pos = { .slot = { &a->socket }, .required = 1,
					   .missing = "SOCKET is required" };

	switch (key) {
	case 'o': a->output = arg; break;
	default:
		return vs_parse_positional(&pos, key, arg, state);
	}
	return 0;
}

static const struct argp_child children[] = { VS_FORMAT_CHILD, VS_JSON_CHILD, VS_COMMON_CHILD, { 0 } };
static const struct argp dump_argp = {
	options, parse, "SOCKET",
	"Save a vhost-user back-end's internal state (SET_DEVICE_STATE_FD, SAVE).  Raw format: "
	"QEMU's stream, be32 length + bytes per chunk, ended by a zero length, written only after "
	"CHECK_DEVICE_STATE returned 0.  Archive format: a tar with manifest.json (identity, sizes, "
	"SHA-256) and that stream.  A FILE appears only complete."
	VS_DIRECT_MODE_NOTE,
	children, NULL, NULL
};

/* The result (schema/dump.schema.json); text: one line on stderr. */
static struct json_object *
result(const char *socket, const struct vs_output *out, const struct vs_manifest *m)
{
	struct json_object *doc = json_object_new_object();

	vs_jadd_str(doc, "socket", socket);
	vs_jadd_str(doc, "output", out->path ? out->path : out->name);
	vs_jadd_str(doc, "format", vs_fmt.archive == 1 ? "archive" : "raw");
	vs_jadd_bool(doc, "zstd", vs_fmt.zstd_level != VS_ZSTD_OFF);
	vs_jadd_state(doc, m->payload_size, m->chunks, m->kind, m->sha256);
	json_object_object_add(doc, "backend", json_object_get(m->backend));
	return doc;
}

static void
print_text(struct json_object *doc, FILE *f)
{
	char amount[128];

	fprintf(f, "%s: dump: dumped %s from %s to %s%s\n", program_invocation_short_name,
		vs_state_text(vs_jget_u64(doc, "payload_bytes"), vs_jget_u64(doc, "chunks"), NULL, amount, sizeof amount),
		vs_jget_str(doc, "socket"), vs_jget_str(doc, "output"),
		strcmp(vs_jget_str(doc, "format"), "archive") == 0 ? " (archive)" : "");
}

static int
consume(void *c, const void *buf, size_t len)
{
	if (vs_capture_consume(c, buf, len) < 0)
		return -1;
	vs_progress_update(((struct vs_capture *)c)->w.payload);
	return 0;
}

int
vs_cmd_dump(int argc, char **argv)
{
	struct dump_args a = { 0 };
	struct vs_output out;
	struct vs_state_writer sw;
	struct vs_capture *d = NULL;
	struct vs_manifest m = { 0 };
	struct vs_vu vu;
	uint64_t bytes;
	struct json_object *doc;
	bool connected = false, writer = false;

	argp_parse(&dump_argp, argc, argv, 0, NULL, &a);
	vs_format_from_name(a.output);
	vs_setup_progress();
	/* Everything that can be refused is refused before the connection
	 * consumes the back-end. */
	if (vs_result_check_stdout(vs_is_stdout(a.output)) < 0 || vs_manifest_now(&m.created) < 0 ||
	    vs_output_open(&out, a.output, VS_OUTPUT_BINARY | (vs_opt.force ? VS_OUTPUT_FORCE : 0)) < 0)
		return -1;
	d = calloc(1, sizeof *d);
	if (!d) {
		vs_error_set(VS_EXIT_FAIL, ENOMEM, "out of memory");
		goto fail;
	}
	if (vs_state_writer_open(&sw, out.fd, out.name, vs_fmt.archive == 1, vs_fmt.zstd_level, vs_fmt.threads) < 0)
		goto fail;
	writer = true;
	/* only the manifest and the JSON result need the digest */
	if (vs_capture_init(d, vs_state_writer_raw(&sw), vs_fmt.archive == 1 || vs_opt.json) < 0 || vs_vu_open(&vu, a.socket) < 0)
		goto fail;
	connected = true;
	vs_progress_start("dump", 0);
	/* The raw stream as it is, without a result that shows its digest
	 * and kind, needs neither: it moves without a copy through us where
	 * the output allows. */
	if ((vs_fmt.archive == 1 || vs_opt.json ? vs_save_backend_state(&vu, vs_opt.max_size, consume, d, &bytes)
				 : vs_save_backend_state_chunks(&vu, vs_opt.max_size, &d->w, vs_progress_update, &bytes)) < 0)
		goto fail;
	vs_progress_end();
	if (vs_chunk_writer_end(&d->w) < 0)
		goto fail;
	vs_capture_manifest(d, &m, vs_identity_json(&vu, a.socket, false));
	if (vs_fmt.archive == 1 && vs_state_writer_finish(&sw, &m) < 0)
		goto fail;
	doc = result(a.socket, &out, &m);
	if (vs_output_commit(&out) < 0) {
		json_object_put(doc);
		goto fail;
	}
	vs_result_emit(doc, print_text, stderr, false);
	vs_vu_close(&vu);
	vs_capture_free(d);
	vs_state_writer_close(&sw);
	vs_manifest_free(&m);
	free(d);
	return 0;
fail:
	vs_progress_end();
	vs_output_abort(&out);
	if (d)
		vs_capture_free(d);
	free(d);
	if (writer)
		vs_state_writer_close(&sw);
	vs_manifest_free(&m);
	if (connected)
		vs_vu_close(&vu);
	return -1;
}
