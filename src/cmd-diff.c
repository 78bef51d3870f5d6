/* vhost-state diff A B [--json]: do two states hold the same payload?
 * Chunking and container are ignored; virtiofsd states are compared
 * field by field. */
#include <config.h>

#include <inttypes.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "error.h"
#include "input.h"
#include "decode.h"
#include "payload.h"
#include "result.h"

struct diff_args {
	const char *a, *b;
};

/* stdin is read once */
static void
not_both_stdin(const void *ctx, const struct argp_state *state)
{
	const struct diff_args *a = ctx;

	if (strcmp(a->a, "-") == 0 && strcmp(a->b, "-") == 0)
		vs_usage_error(state, "A and B cannot both be - (stdin is read once)");
}

static const struct argp diff_argp = VS_VERB_ARGP(
	NULL, "A B",
	"Compare two states offline, payload against payload (framing, compression and container "
	"do not matter).  Exit 0: the same; 2: different.  virtiofsd and passt states are "
	"compared field by field (virtiofsd: inodes, handles, mounts, counters; passt: addresses, "
	"TCP flows); other kinds report the first differing offset.",
	VS_JSON_CHILD);

/* First differing payload offset, streaming; UINT64_MAX if equal. */
static int
first_difference(struct vs_state_input *a, struct vs_state_input *b, uint64_t *at)
{
	struct vs_chunk_reader ra, rb;
	unsigned char *ba = malloc(65536), *bb = malloc(65536);
	uint64_t off = 0;
	int rc = -1;

	*at = UINT64_MAX;
	if (!ba || !bb) {
		vs_error_set(VS_EXIT_FAIL, ENOMEM, "out of memory");
		goto out;
	}
	if (vs_state_input_rewind(a, &ra) < 0 || vs_state_input_rewind(b, &rb) < 0)
		goto out;
	for (;;) {
		/* full buffers on both sides, so the comparison lines up
		 * whatever the chunking */
		ssize_t na = vs_chunk_read_full(&ra, ba, 65536), nb = vs_chunk_read_full(&rb, bb, 65536);
		if (na < 0 || nb < 0)
			goto out;
		ssize_t k = na < nb ? na : nb;
		for (ssize_t i = 0; i < k; i++)
			if (ba[i] != bb[i]) {
				*at = off + i;
				rc = 0;
				goto out;
			}
		if (na != nb) {
			*at = off + k;
			break;
		}
		if (na == 0)
			break;
		off += na;
	}
	rc = 0;
out:
	free(ba);
	free(bb);
	return rc;
}

static struct json_object *
side_json(const char *file, const struct vs_state_input *in)
{
	struct json_object *o = json_object_new_object();

	vs_jadd_str(o, "file", file);
	vs_jadd_str(o, "format", vs_input_format_name(in->format));
	vs_jadd_state(o, in->payload, in->chunks, vs_payload_kind_name(in->kind), in->sha256);
	return o;
}

/* The decoded differences of two payloads of one kind, or NULL when
 * either does not decode (or is too large to). */
static struct json_object *
diff_decoded(struct vs_state_input *a, struct vs_state_input *b)
{
	unsigned char *pa = NULL, *pb = NULL;
	size_t la, lb;
	struct json_object *list = NULL;

	if (a->kind != b->kind || a->kind == VS_KIND_UNKNOWN)
		return NULL;
	if (vs_state_input_load(a, VS_DECODE_MAX, &pa, &la) == VS_INPUT_LOADED &&
	    vs_state_input_load(b, VS_DECODE_MAX, &pb, &lb) == VS_INPUT_LOADED)
		list = vs_decode_diff(a->kind, pa, la, b->kind, pb, lb);
	free(pa);
	free(pb);
	vs_error_clear(); /* too large or unreadable: no field-level view */
	return list;
}

static void
print_text(struct json_object *doc, FILE *f)
{
	struct json_object *a = vs_jget(doc, "a"), *b = vs_jget(doc, "b"), *list = vs_jget(doc, "differences");
	char sa[64], sb[64];

	if (vs_jget_bool(doc, "same")) {
		uint64_t n = vs_jget_u64(a, "payload_bytes");
		fprintf(f, "same: %s and %s hold the same %" PRIu64 "-byte payload%s%s%s\n", vs_jget_str(a, "file"),
			vs_jget_str(b, "file"), n, n >= 1024 ? " (" : "", n >= 1024 ? vs_human_size(n, sa, sizeof sa) : "",
			n >= 1024 ? ")" : "");
		return;
	}
	fprintf(f, "different: the payloads differ at offset %" PRIu64 " (%s: %s, %s: %s)\n",
		vs_jget_u64(doc, "first_difference"), vs_jget_str(a, "file"),
		vs_size_text(vs_jget_u64(a, "payload_bytes"), sa, sizeof sa), vs_jget_str(b, "file"),
		vs_size_text(vs_jget_u64(b, "payload_bytes"), sb, sizeof sb));
	if (vs_jget_bool(doc, "decoded")) {
		fprintf(f, "%s state differences (A -> B):\n", vs_jget_str(doc, "kind"));
		vs_print_differences(f, list, "  ");
	}
}

int
vs_cmd_diff(int argc, char **argv)
{
	struct diff_args args = { 0 };
	struct vs_state_input a = { 0 }, b = { 0 };
	struct vs_chunk_limits lim = { 0 };
	struct json_object *doc, *list = NULL;
	uint64_t at;
	bool same;

	struct vs_verb_args va = { .pos = { .slot = { &args.a, &args.b }, .required = 2, .missing = "two files are required" },
				   .end = not_both_stdin, .ctx = &args };

	argp_parse(&diff_argp, argc, argv, 0, NULL, &va);
	lim.max_total = vs_opt.max_size;
	if (vs_result_check_stdout(false) < 0 || vs_cmd_input_open(&a, args.a, &lim) < 0 ||
	    vs_cmd_input_open(&b, args.b, &lim) < 0 || first_difference(&a, &b, &at) < 0)
		goto fail;
	same = at == UINT64_MAX;
	if (!same)
		list = diff_decoded(&a, &b);
	doc = json_object_new_object();
	json_object_object_add(doc, "a", side_json(args.a, &a));
	json_object_object_add(doc, "b", side_json(args.b, &b));
	vs_jadd_bool(doc, "same", same);
	vs_jadd_str(doc, "status", same ? "same" : "different");
	json_object_object_add(doc, "first_difference", same ? NULL : json_object_new_int64((int64_t)at));
	vs_jadd_str(doc, "kind", a.kind == b.kind ? vs_payload_kind_name(a.kind) : "mixed");
	/* field by field: false when the same, of unknown or mixed kinds,
	 * or not decodable */
	vs_jadd_bool(doc, "decoded", list != NULL);
	json_object_object_add(doc, "differences", list ? list : json_object_new_array());
	vs_result_emit(doc, print_text, stdout, true);
	vs_state_input_close(&a);
	vs_state_input_close(&b);
	return same ? 0 : VS_EXIT_DIFFERENT;
fail:
	vs_state_input_close(&a);
	vs_state_input_close(&b);
	return -1;
}
