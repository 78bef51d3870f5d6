/* vhost-state inject MIGFILE STATE -o OUT [--device ID]: a copy of a QEMU
 * migration file with one back-end's state replaced. */
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
#include "payload.h"
#include "qemu-file.h"
#include "result.h"

struct inject_args {
	const char *mig, *state, *output, *device;
};

enum { OPT_DEVICE = 0x400 };

static const struct argp_option options[] = {
	{ "output", 'o', "OUT", 0, "Write the new migration file to OUT (required; - for stdout)", 0 },
	{ "device", OPT_DEVICE, "ID", 0,
	  "Which back-end: its section name, its device path (0000:00:04.0), or its number in "
	  "`extract --list` (needed when the file holds several)", 0 },
	{ 0 }
};

static void
check_inputs(const void *ctx, const struct argp_state *state)
{
	const struct inject_args *a = ctx;

	if (!a->output)
		vs_usage_error(state, "-o OUT is required");
	if (strcmp(a->mig, "-") == 0 && strcmp(a->state, "-") == 0)
		vs_usage_error(state, "MIGFILE and STATE cannot both be stdin");
}

static const struct argp inject_argp = VS_VERB_ARGP(
	options, "MIGFILE STATE -o OUT",
	"Write a copy of a QEMU migration file in which one vhost-user back-end's state is replaced "
	"by STATE (raw or archive, zstd or not; any size).  STATE is checked whole first and goes "
	"in with its chunking unchanged (a state taken out with `extract` goes back byte for byte).  "
	"The lengths that enclose the state are fixed: the field sizes in the VM description "
	"(for vhost-user-net also the device's virtio field).  OUT appears only complete, after it "
	"was walked again and found to hold STATE.  A fs state is not put into a net device (or the "
	"reverse) unless -f.",
	VS_JSON_CHILD);

static ssize_t
read_state(void *ctx, void *buf, size_t len)
{
	struct vs_state_input *in = ctx;

	return vs_source_read(in->replay, buf, len);
}

/* Walk what was written: the state must be there, whole, and nothing
 * else may have moved. */
static int
check_output(const struct vs_output *out, const struct vs_qemu_file *q, size_t i, const struct vs_state_input *in)
{
	struct vs_qemu_file check;
	int rc = 0;

	if (vs_qemu_file_open_fd(&check, out->fd, out->name, 0) < 0) {
		vs_error_prefix("the new file does not walk");
		return -1;
	}
	if (check.nstates != q->nstates || strcmp(check.states[i].device, q->states[i].device) != 0 ||
	    strcmp(check.states[i].sha256, in->sha256) != 0 || check.states[i].length != in->stream_bytes)
		rc = vs_fail(VS_EXIT_FAIL, 0, "%s: the new file does not hold the state as written", out->name);
	vs_qemu_file_close(&check);
	return rc;
}

/* The result (schema/inject.schema.json): the state put in, the one it
 * replaced. */
static struct json_object *
result(const struct inject_args *a, const struct vs_qemu_file *q, size_t i, const struct vs_state_input *in,
       const char *kind, const struct vs_output *out)
{
	struct json_object *doc = json_object_new_object(), *old = json_object_new_object();
	const struct vs_qemu_state *st = &q->states[i];

	vs_jadd_str(doc, "file", a->mig);
	vs_jadd_str(doc, "state", a->state);
	vs_jadd_u64(doc, "index", i + 1);
	vs_jadd_str(doc, "device", st->device);
	vs_jadd_str(doc, "output", out->path ? out->path : out->name);
	vs_jadd_state(doc, in->payload, in->chunks, kind, in->sha256);
	vs_jadd_u64(doc, "stream_bytes", in->stream_bytes);
	vs_jadd_state(old, st->payload, st->chunks, vs_payload_kind_name(st->kind), st->sha256);
	vs_jadd_u64(old, "stream_bytes", st->length);
	json_object_object_add(doc, "replaced", old);
	json_object_object_add(doc, "stream_bytes_delta",
			       json_object_new_int64((int64_t)in->stream_bytes - (int64_t)st->length));
	return doc;
}

static void
print_text(struct json_object *doc, FILE *f)
{
	char amount[128], old[128];

	fprintf(f, "%s: inject: injected %s into %s, replacing %s: wrote %s (the state %+" PRId64 " bytes)\n",
		program_invocation_short_name,
		vs_state_text(vs_jget_u64(doc, "payload_bytes"), vs_jget_u64(doc, "chunks"), vs_jget_str(doc, "kind"),
			      amount, sizeof amount),
		vs_jget_str(doc, "device"),
		vs_state_text(vs_jget_u64(vs_jget(doc, "replaced"), "payload_bytes"), UINT64_MAX, NULL, old, sizeof old),
		vs_jget_str(doc, "output"), json_object_get_int64(vs_jget(doc, "stream_bytes_delta")));
}

int
vs_cmd_inject(int argc, char **argv)
{
	struct inject_args a = { 0 };
	struct vs_qemu_file q = { .fd = -1 };
	struct vs_state_input in = { 0 };
	struct vs_chunk_limits lim = { 0 };
	struct vs_output out;
	const char *kind;
	struct json_object *doc;
	bool out_open = false, opened = false;
	size_t i;

	struct vs_verb_args va = {
		.pos = { .slot = { &a.mig, &a.state }, .required = 2, .missing = "MIGFILE and STATE are required" },
		.opt = { { 'o', .arg = &a.output }, { OPT_DEVICE, .arg = &a.device } },
		.end = check_inputs,
		.ctx = &a,
	};

	argp_parse(&inject_argp, argc, argv, 0, NULL, &va);
	lim.max_total = vs_opt.max_size;
	if (vs_result_check_stdout(vs_is_stdout(a.output)) < 0)
		goto fail;
	if (vs_qemu_file_open(&q, a.mig, vs_opt.max_size, vs_opt.timeout_ms) < 0)
		goto fail;
	opened = true;
	in.want_digest = true; /* OUT is re-read and must hold exactly this state */
	if (vs_qemu_file_choose(&q, a.device, &i) < 0 || vs_cmd_input_open(&in, a.state, &lim) < 0)
		goto fail;
	kind = in.have_manifest ? in.manifest.kind : vs_payload_kind_name(in.kind);
	if (!vs_opt.force && strcmp(kind, "unknown") != 0 && strcmp(kind, vs_payload_kind_name(q.states[i].kind)) != 0) {
		vs_error_set(VS_EXIT_FAIL, 0,
			     "%s is a %s state but %s holds a %s back-end's state; nothing was written (use -f to inject "
			     "it anyway)",
			     a.state, kind, q.states[i].device, vs_payload_kind_name(q.states[i].kind));
		goto fail;
	}
	if (vs_cmd_output_open(&out, a.output, VS_OUTPUT_BINARY | (vs_opt.force ? VS_OUTPUT_FORCE : 0)) < 0)
		goto fail;
	out_open = true;
	if (vs_source_rewind(in.replay) < 0 ||
	    vs_qemu_file_inject(&q, i, read_state, &in, in.stream_bytes, &out) < 0)
		goto fail;
	/* the disk writes the rest while the check reads it back from the page
	 * cache; the commit's fsync then waits for less */
	vs_output_writeback(&out, UINT64_MAX);
	if (out.tmp_path && check_output(&out, &q, i, &in) < 0)
		goto fail;
	doc = result(&a, &q, i, &in, kind, &out);
	if (vs_output_commit(&out) < 0) {
		json_object_put(doc);
		goto fail;
	}
	out_open = false;
	vs_result_emit(doc, print_text, stderr, false);
	vs_state_input_close(&in);
	vs_qemu_file_close(&q);
	return 0;
fail:
	if (out_open)
		vs_output_abort(&out);
	vs_state_input_close(&in);
	if (opened)
		vs_qemu_file_close(&q);
	return -1;
}
