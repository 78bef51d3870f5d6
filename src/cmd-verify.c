/* vhost-state verify SOCKET FILE [--save OUT]: load FILE, save again on
 * the same connection, and compare the payloads (framing ignored); the
 * differences decoded as diff decodes them; --save keeps what the
 * back-end gave back. */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "decode.h"
#include "device-state.h"
#include "error.h"
#include "identity.h"
#include "peer-owner.h"
#include "input.h"
#include "output.h"
#include "progress.h"
#include "result.h"
#include "vu-frontend.h"
#include "writer.h"

struct verify_args {
	const char *socket;
	const char *file;
	const char *save;
};

enum { OPT_SAVE = 0x400 };

static const struct argp_option options[] = {
	{ "save", OPT_SAVE, "OUT", 0,
	  "Keep the state the back-end gave back in OUT (as dump writes it: raw or archive, zstd or not; "
	  "- for stdout), whether or not it is the same", 0 },
	{ 0 }
};

static const struct argp verify_argp = VS_VERB_ARGP(
	options, "SOCKET FILE",
	"Pre-flight check of a snapshot: load FILE into the back-end, save the state again on the "
	"same connection, and compare the two payloads.  Exit 0: the back-end holds exactly FILE's "
	"state; 2: it kept a different one (for example a state that loads but loses inodes).  The "
	"differences of virtiofsd and passt states are decoded field by field, as by diff (A is "
	"FILE, B the back-end's)." VS_DIRECT_MODE_NOTE,
	VS_FORMAT_CHILD, VS_JSON_CHILD);

/* What arrives from the back-end: compared, kept in memory for decoding
 * (the first VS_DECODE_MAX bytes), and with --save written as dump
 * writes. */
struct arrival {
	struct vs_payload_compare cmp;
	struct vs_capture *cap; /* --save: the vs_save's */
	struct vs_decode_keep keep;
};

static int
consume(void *c, const void *data, size_t len)
{
	struct arrival *a = c;

	if (vs_payload_compare_consume(&a->cmp, data, len) < 0 || (a->cap && vs_capture_consume(a->cap, data, len) < 0) ||
	    vs_decode_keep_add(&a->keep, data, len) < 0)
		return -1;
	vs_progress_update(a->cmp.offset);
	return 0;
}

/* The result (schema/verify.schema.json). */
static struct json_object *
result(const struct verify_args *args, struct vs_state_input *in, struct arrival *ar, const struct vs_manifest *m,
       struct json_object *backend)
{
	struct json_object *doc = json_object_new_object(), *exp = json_object_new_object(),
			   *act = json_object_new_object(), *list = NULL;
	bool same = ar->cmp.first_diff == UINT64_MAX, whole = vs_decode_keep_whole(&ar->keep);
	enum vs_payload_kind kind = vs_payload_sniff(ar->keep.buf, ar->keep.len, ar->keep.total);
	unsigned char *fp = NULL;
	size_t flen;

	vs_jadd_str(doc, "socket", args->socket);
	vs_jadd_str(doc, "file", args->file);
	vs_jadd_bool(doc, "same", same);
	vs_jadd_str(doc, "status", same ? "same" : "different");
	json_object_object_add(doc, "first_difference", same ? NULL : json_object_new_int64((int64_t)ar->cmp.first_diff));
	vs_jadd_state(exp, in->payload, in->chunks, vs_payload_kind_name(in->kind), in->sha256);
	json_object_object_add(doc, "expected", exp);
	vs_jadd_u64(act, "payload_bytes", ar->keep.total);
	if (m)
		vs_jadd_u64(act, "chunks", m->chunks);
	vs_jadd_str(act, "kind", vs_payload_kind_name(kind));
	if (m && m->sha256[0])
		vs_jadd_str(act, "sha256", m->sha256);
	json_object_object_add(doc, "actual", act);
	vs_jadd_str(doc, "kind", in->kind == kind ? vs_payload_kind_name(kind) : "mixed");
	if (!same && whole && vs_state_input_load(in, VS_DECODE_MAX, &fp, &flen) == VS_INPUT_LOADED)
		list = vs_decode_diff(in->kind, fp, flen, kind, ar->keep.buf, ar->keep.len);
	free(fp);
	vs_error_clear();
	vs_jadd_bool(doc, "decoded", list != NULL);
	json_object_object_add(doc, "differences", list ? list : json_object_new_array());
	vs_jadd_str(doc, "saved", args->save ? (vs_is_stdout(args->save) ? "-" : args->save) : NULL);
	json_object_object_add(doc, "backend", backend);
	return doc;
}

static void
print_text(struct json_object *doc, FILE *f)
{
	struct json_object *exp = vs_jget(doc, "expected"), *act = vs_jget(doc, "actual");
	char se[64], sa[64];

	if (vs_jget_bool(doc, "same")) {
		uint64_t n = vs_jget_u64(act, "payload_bytes");
		fprintf(f, "%s: verify: verified: %s holds the %" PRIu64 "-byte state%s%s%s of %s\n", program_invocation_short_name,
			vs_jget_str(doc, "socket"), n, n >= 1024 ? " (" : "", n >= 1024 ? vs_human_size(n, sa, sizeof sa) : "",
			n >= 1024 ? ")" : "", vs_jget_str(doc, "file"));
	} else {
		fprintf(f,
			"%s: verify: %s holds a different state than %s: the payloads differ at offset %" PRIu64
			" (file %s, back-end %s)\n",
			program_invocation_short_name, vs_jget_str(doc, "socket"), vs_jget_str(doc, "file"),
			vs_jget_u64(doc, "first_difference"), vs_size_text(vs_jget_u64(exp, "payload_bytes"), se, sizeof se),
			vs_size_text(vs_jget_u64(act, "payload_bytes"), sa, sizeof sa));
		if (vs_jget_bool(doc, "decoded")) {
			fprintf(f, "%s state differences (file -> back-end):\n", vs_jget_str(doc, "kind"));
			vs_print_differences(f, vs_jget(doc, "differences"), "  ");
		}
	}
	if (*vs_jget_str(doc, "saved"))
		fprintf(f, "%s: verify: the back-end's state is saved in %s\n", program_invocation_short_name,
			vs_jget_str(doc, "saved"));
}

int
vs_cmd_verify(int argc, char **argv)
{
	struct verify_args a = { 0 };
	struct vs_verb_args va = {
		.pos = { .slot = { &a.socket, &a.file }, .required = 2, .missing = "SOCKET and FILE are required" },
		.opt = { { OPT_SAVE, .arg = &a.save } },
	};
	struct vs_chunk_limits lim = { 0 };
	struct vs_state_input in = { 0 };
	struct vs_chunk_reader r;
	struct arrival *ar = NULL;
	struct vs_save s = { 0 };
	struct vs_vu vu;
	struct vs_peer_owner owner;
	bool known;
	struct json_object *backend = NULL, *doc;
	bool connected = false;
	uint64_t loaded, saved;
	int rc;

	argp_parse(&verify_argp, argc, argv, 0, NULL, &va);
	vs_format_from_name(a.save);
	lim.max_total = vs_opt.max_size;
	in.want_digest = vs_opt.json;
	/* everything that can be refused is, before the back-end is used */
	if (vs_result_check_stdout(a.save && vs_is_stdout(a.save)) < 0 || vs_cmd_input_open(&in, a.file, &lim) < 0)
		goto fail;
	/* as restore: a kind mismatch is refused before connecting */
	known = vs_peer_owner_find(a.socket, &owner) == 2;
	if (known && vs_check_kind(&owner, &in, a.socket, false) < 0)
		goto fail;
	ar = calloc(1, sizeof *ar);
	if (!ar) {
		vs_error_set(VS_EXIT_FAIL, ENOMEM, "out of memory");
		goto fail;
	}
	ar->keep.max = VS_DECODE_MAX;
	if (a.save) {
		if (vs_save_open(&s, a.save, &vs_fmt, vs_fmt.archive == 1 || vs_opt.json ? VS_SAVE_DIGEST : VS_SAVE_FRAMED) < 0)
			goto fail;
		ar->cap = s.cap;
	}
	if (vs_cmd_vu_open(&vu, a.socket) < 0)
		goto fail;
	connected = true;
	if (!known)
		vs_peer_describe(vu.conn.peer_pid, &owner);
	if (!known && vu.conn.peer_pid > 0 && vs_check_kind(&owner, &in, a.socket, true) < 0)
		goto fail;
	vs_setup_progress();
	vs_progress_start("verify", in.payload);
	if (vs_state_input_rewind(&in, &r) < 0 || vs_load_backend_state_chunks(&vu, &r, NULL, &loaded) < 0) {
		vs_error_prefix("loading %s", a.file);
		goto fail;
	}
	vs_payload_compare_init(&ar->cmp, &r);
	if (vs_state_input_rewind(&in, &r) < 0 || vs_save_backend_state(&vu, vs_opt.max_size, consume, ar, &saved) < 0) {
		vs_error_prefix("saving the state back");
		goto fail;
	}
	vs_payload_compare_end(&ar->cmp, saved, in.payload);
	vs_progress_end();
	backend = vs_identity_json(&vu, a.socket, false);
	vs_vu_close(&vu);
	connected = false;
	if (ar->cap && (vs_save_finish(&s, json_object_get(backend)) < 0 || vs_save_commit(&s) < 0))
		goto fail;
	rc = ar->cmp.first_diff == UINT64_MAX ? 0 : VS_EXIT_DIFFERENT;
	doc = result(&a, &in, ar, ar->cap ? &s.m : NULL, backend);
	backend = NULL;
	vs_result_emit(doc, print_text, stderr, false);
	goto out;
fail:
	vs_progress_end();
	rc = -1;
out:
	json_object_put(backend);
	if (connected)
		vs_vu_close(&vu);
	vs_save_close(&s);
	if (ar)
		vs_decode_keep_free(&ar->keep);
	free(ar);
	vs_state_input_close(&in);
	return rc;
}
