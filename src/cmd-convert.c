/* vhost-state convert IN OUT: between raw, archive and their zstd forms,
 * losslessly (the archive holds the raw stream unchanged). */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "error.h"
#include "input.h"
#include "output.h"
#include "progress.h"
#include "result.h"
#include "writer.h"

struct convert_args {
	const char *in, *out;
};

static const struct argp convert_argp = VS_VERB_ARGP(
	NULL, "IN OUT",
	"Convert a state between the raw stream and the .vhsnap archive, each optionally "
	"zstd-compressed.  IN is detected; OUT's format comes from --format/--zstd or its name "
	"(*.vhsnap: archive, *.zst: zstd).  Lossless: the archive stores the raw stream byte for "
	"byte, so raw -> archive -> raw gives back the same file, and an archive's manifest "
	"(back-end identity, creation time) is kept.",
	VS_FORMAT_CHILD, VS_JSON_CHILD);

/* Everything the manifest needs that the input can tell. */
static void
manifest_for(struct vs_manifest *m, const struct vs_state_input *in)
{
	if (in->have_manifest) {
		/* keep identity and creation time; the payload fields were
		 * checked against the data */
		m->created = in->manifest.created;
		m->backend = json_object_get(in->manifest.backend);
		snprintf(m->kind, sizeof m->kind, "%s", in->manifest.kind);
		snprintf(m->tool, sizeof m->tool, "%s", in->manifest.tool);
	} else {
		snprintf(m->kind, sizeof m->kind, "%s", vs_payload_kind_name(in->kind));
	}
	m->payload_size = in->payload;
	m->chunks = in->chunks;
	memcpy(m->sha256, in->sha256, sizeof m->sha256);
}

/* The result (schema/convert.schema.json); text: one line on stderr. */
static struct json_object *
result(const struct convert_args *a, const struct vs_output *out, const struct vs_state_input *in)
{
	struct json_object *doc = json_object_new_object();

	vs_jadd_str(doc, "input", a->in);
	vs_jadd_str(doc, "input_format", vs_input_format_name(in->format));
	vs_jadd_str(doc, "output", out->path ? out->path : out->name);
	vs_jadd_str(doc, "format", vs_fmt.archive == 1 ? "archive" : "raw");
	vs_jadd_bool(doc, "zstd", vs_fmt.zstd_level != VS_ZSTD_OFF);
	vs_jadd_state(doc, in->payload, in->chunks,
		      in->have_manifest ? in->manifest.kind : vs_payload_kind_name(in->kind), in->sha256);
	vs_jadd_u64(doc, "stream_bytes", in->stream_bytes);
	return doc;
}

static void
print_text(struct json_object *doc, FILE *f)
{
	char amount[128];

	fprintf(f, "%s: convert: converted %s (%s, %s) to %s (%s%s)\n", program_invocation_short_name, vs_jget_str(doc, "input"),
		vs_jget_str(doc, "input_format"),
		vs_state_text(vs_jget_u64(doc, "payload_bytes"), vs_jget_u64(doc, "chunks"), NULL, amount, sizeof amount),
		vs_jget_str(doc, "output"), vs_jget_str(doc, "format"), vs_jget_bool(doc, "zstd") ? "+zstd" : "");
}

int
vs_cmd_convert(int argc, char **argv)
{
	struct convert_args a = { 0 };
	struct vs_verb_args va = {
		.pos = { .slot = { &a.in, &a.out }, .required = 2, .missing = "IN and OUT are required (- for stdin/stdout)" },
	};
	struct vs_state_input in = { 0 };
	struct vs_chunk_limits lim = { 0 };
	struct vs_save s = { 0 };

	argp_parse(&convert_argp, argc, argv, 0, NULL, &va);
	vs_format_from_name(a.out);
	vs_setup_progress();
	lim.max_total = vs_opt.max_size;
	in.want_digest = vs_fmt.archive == 1 || vs_opt.json; /* the new manifest records it */
	if (vs_result_check_stdout(vs_is_stdout(a.out)) < 0 || vs_cmd_input_open(&in, a.in, &lim) < 0 ||
	    vs_save_open(&s, a.out, &vs_fmt, VS_SAVE_RAW) < 0)
		goto fail;
	vs_progress_start("convert", in.stream_bytes);
	if (vs_state_input_copy_raw(&in, vs_state_writer_raw(&s.w), vs_progress_update) < 0)
		goto fail;
	vs_progress_end();
	manifest_for(&s.m, &in);
	if (vs_save_finish(&s, NULL) < 0 || vs_save_emit(&s, result(&a, &s.out, &in), print_text) < 0)
		goto fail;
	vs_save_close(&s);
	vs_state_input_close(&in);
	return 0;
fail:
	vs_progress_end();
	vs_save_close(&s);
	vs_state_input_close(&in);
	return -1;
}
