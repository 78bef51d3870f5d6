/* vhost-state extract MIGFILE [-o FILE] [--device ID] [--list]: take a
 * vhost-user back-end's state out of a QEMU migration file, byte for byte
 * as QEMU wrote it. */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "error.h"
#include "manifest.h"
#include "output.h"
#include "payload.h"
#include "qemu-file.h"
#include "result.h"
#include "writer.h"

struct extract_args {
	const char *mig, *output, *device;
	bool list;
};

enum { OPT_DEVICE = 0x400, OPT_LIST };

static const struct argp_option options[] = {
	{ "output", 'o', "FILE", 0, "Write the state to FILE (default, or -: stdout)", 0 },
	{ "device", OPT_DEVICE, "ID", 0,
	  "Which back-end: its section name (0000:00:04.0/vhost-user-fs), its device path "
	  "(0000:00:04.0), or its number in --list (needed when the file holds several)", 0 },
	{ "list", OPT_LIST, NULL, 0, "List the back-end states in the file; extract nothing", 0 },
	{ 0 }
};

static void
list_alone(const void *ctx, const struct argp_state *state)
{
	const struct extract_args *a = ctx;

	if (a->list && (a->output || a->device))
		vs_usage_error(state, "--list extracts nothing: it takes neither -o nor --device");
}

static const struct argp extract_argp = VS_VERB_ARGP(
	options, "MIGFILE\n--list MIGFILE",
	"Take a vhost-user back-end's state out of a QEMU migration file (what `migrate` writes to "
	"file:, exec: or fd:; not the mapped-ram layout).  The file is walked by its structure and "
	"checked against its VM description; the states of vhost-user-fs (subsection "
	"vhost-user-fs-backend) and vhost-user-net (subsection virtio-net-device/backend, inside "
	"the virtio field) are found.  The output is QEMU's chunk list byte for byte (raw), or an "
	"archive holding it; `restore` loads it into a back-end, `inject` puts a state back into a "
	"migration file.  No back-end is contacted.  Malformed files exit 65 with the offset.",
	VS_FORMAT_CHILD, VS_JSON_CHILD);

/* --list --json: {"file", "states": [...]} (schema/extract.schema.json) */
static void
print_list(const struct vs_qemu_file *q)
{
	if (vs_opt.json) {
		struct json_object *all = vs_qemu_file_json(q), *doc = json_object_new_object();
		vs_jadd_str(doc, "file", q->name);
		json_object_object_add(doc, "states", json_object_get(vs_jget(all, "states")));
		vs_json_print(doc);
		json_object_put(doc);
		json_object_put(all);
		return;
	}
	for (size_t i = 0; i < q->nstates; i++) {
		const struct vs_qemu_state *st = &q->states[i];
		printf("%zu  %s  %s  %" PRIu64 " bytes in %" PRIu64 " chunk%s  at offset %" PRIu64 "  sha256 %s\n",
		       i + 1, st->device, vs_payload_kind_name(st->kind), st->payload, st->chunks,
		       st->chunks == 1 ? "" : "s", st->offset, st->sha256);
	}
	if (q->nstates == 0 && !vs_opt.quiet)
		fprintf(stderr, "%s: extract: %s holds no vhost-user back-end state\n", program_invocation_short_name,
			q->name);
}

/* The archive's manifest: where the state came from instead of a peer. */
static void
fill_manifest(struct vs_manifest *m, const struct vs_qemu_file *q, const struct vs_qemu_state *st)
{
	struct json_object *b = json_object_new_object();

	json_object_object_add(b, "source", json_object_new_string("qemu-migration-file"));
	json_object_object_add(b, "file", json_object_new_string(q->name));
	json_object_object_add(b, "device", json_object_new_string(st->device));
	json_object_object_add(b, "instance_id", json_object_new_int64(st->instance_id));
	if (q->machine[0])
		json_object_object_add(b, "machine", json_object_new_string(q->machine));
	m->backend = b;
	snprintf(m->kind, sizeof m->kind, "%s", vs_payload_kind_name(st->kind));
	m->payload_size = st->payload;
	m->chunks = st->chunks;
	memcpy(m->sha256, st->sha256, sizeof m->sha256);
}

/* The result of an extraction (schema/extract.schema.json). */
static struct json_object *
result(const struct vs_qemu_file *q, const struct vs_qemu_state *st, size_t i, const struct vs_output *out)
{
	struct json_object *doc = json_object_new_object();

	vs_jadd_str(doc, "file", q->name);
	vs_jadd_u64(doc, "index", i + 1);
	vs_jadd_str(doc, "device", st->device);
	vs_jadd_u64(doc, "instance_id", st->instance_id);
	vs_jadd_str(doc, "output", out->path ? out->path : out->name);
	vs_jadd_str(doc, "format", vs_fmt.archive == 1 ? "archive" : "raw");
	vs_jadd_bool(doc, "zstd", vs_fmt.zstd_level != VS_ZSTD_OFF);
	vs_jadd_state(doc, st->payload, st->chunks, vs_payload_kind_name(st->kind), st->sha256);
	vs_jadd_u64(doc, "stream_bytes", st->length);
	return doc;
}

static void
print_text(struct json_object *doc, FILE *f)
{
	char amount[128];

	fprintf(f, "%s: extract: extracted the %s state of %s: %s (%s%s)\n", program_invocation_short_name,
		vs_jget_str(doc, "kind"), vs_jget_str(doc, "device"),
		vs_state_text(vs_jget_u64(doc, "payload_bytes"), vs_jget_u64(doc, "chunks"), NULL, amount, sizeof amount),
		vs_jget_str(doc, "format"), vs_jget_bool(doc, "zstd") ? "+zstd" : "");
}

int
vs_cmd_extract(int argc, char **argv)
{
	struct extract_args a = { 0 };
	struct vs_qemu_file q = { .fd = -1 };
	struct vs_save s = { 0 };
	bool opened = false;
	size_t i;

	struct vs_verb_args va = {
		.pos = { .slot = { &a.mig }, .required = 1, .missing = "MIGFILE is required (- for stdin)" },
		.opt = { { 'o', .arg = &a.output }, { OPT_DEVICE, .arg = &a.device }, { OPT_LIST, .flag = &a.list } },
		.end = list_alone,
		.ctx = &a,
	};

	argp_parse(&extract_argp, argc, argv, 0, NULL, &va);
	vs_format_from_name(a.output);
	if (vs_result_check_stdout(!a.list && vs_is_stdout(a.output)) < 0 || vs_qemu_file_open(&q, a.mig, vs_opt.max_size, vs_opt.timeout_ms) < 0)
		goto fail;
	opened = true;
	if (a.list) {
		print_list(&q);
		vs_qemu_file_close(&q);
		return 0;
	}
	if (vs_qemu_file_choose(&q, a.device, &i) < 0 || vs_save_open(&s, a.output, &vs_fmt, VS_SAVE_RAW) < 0 ||
	    vs_qemu_file_copy_state(&q, i, vs_state_writer_raw(&s.w)) < 0)
		goto fail;
	fill_manifest(&s.m, &q, &q.states[i]);
	if (vs_save_finish(&s, NULL) < 0 || vs_save_emit(&s, result(&q, &q.states[i], i, &s.out), print_text) < 0)
		goto fail;
	vs_save_close(&s);
	vs_qemu_file_close(&q);
	return 0;
fail:
	vs_save_close(&s);
	if (opened)
		vs_qemu_file_close(&q);
	return -1;
}
