/* vhost-state verify SOCKET FILE: load FILE, dump again on the same
 * connection, and compare the payloads (framing ignored). */
#include <config.h>

#include <inttypes.h>
#include <json.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "device-state.h"
#include "error.h"
#include "output.h"
#include "peer-owner.h"
#include "input.h"
#include "vu-frontend.h"

struct verify_args {
	const char *socket;
	const char *file;
};

static error_t
parse(int key, char *arg, struct argp_state *state)
{
	struct verify_args *a = state->input;

	switch (key) {
	case ARGP_KEY_ARG:
		if (!a->socket)
			a->socket = arg;
		else if (!a->file)
			a->file = arg;
		else
			vs_usage_error(state, "too many arguments: '%s'", arg);
		break;
	case ARGP_KEY_END:
		if (!a->file)
			vs_usage_error(state, "SOCKET and FILE are required");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp_child children[] = { VS_JSON_CHILD, VS_COMMON_CHILD, { 0 } };
static const struct argp verify_argp = {
	NULL, parse, "SOCKET FILE",
	"Pre-flight check of a snapshot: load FILE into the back-end, save the state again on the "
	"same connection, and compare the two payloads.  Exit 0: the back-end holds exactly FILE's "
	"state; 2: it kept a different one (for example a state that loads but loses inodes)."
	VS_DIRECT_MODE_NOTE,
	children, NULL, NULL
};

static int
consume(void *c, const void *data, size_t len)
{
	if (vs_payload_compare_consume(c, data, len) < 0)
		return -1;
	vs_progress_update(((struct vs_payload_compare *)c)->offset);
	return 0;
}

int
vs_cmd_verify(int argc, char **argv)
{
	struct verify_args a = { 0 };
	struct vs_chunk_limits lim = { 0 };
	struct vs_state_input in = { 0 };
	struct vs_chunk_reader r;
	struct vs_payload_compare *cmp = NULL;
	struct vs_vu vu;
	struct vs_peer_owner owner;
	bool known;
	uint64_t loaded, saved;
	int rc;

	argp_parse(&verify_argp, argc, argv, 0, NULL, &a);
	lim.max_total = vs_opt.max_size;
	if (vs_state_input_open(&in, a.file, &lim) < 0)
		return vs_report_error("verify");
	/* as restore: a kind mismatch is refused before connecting */
	known = vs_peer_owner_find(a.socket, &owner) == 2;
	if ((known && vs_check_kind(&owner, &in, a.socket, false) < 0) || vs_vu_open(&vu, a.socket) < 0) {
		vs_state_input_close(&in);
		return vs_report_error("verify");
	}
	if (!known)
		vs_peer_describe(vu.conn.peer_pid, &owner);
	if (!known && vu.conn.peer_pid > 0 && vs_check_kind(&owner, &in, a.socket, true) < 0) {
		vs_vu_close(&vu);
		vs_state_input_close(&in);
		return vs_report_error("verify");
	}
	cmp = calloc(1, sizeof *cmp);
	if (!cmp) {
		vs_error_set(VS_EXIT_FAIL, ENOMEM, "out of memory");
		goto fail;
	}
	vs_setup_progress();
	vs_progress_start("verify", in.payload);
	if (vs_state_input_rewind(&in, &r) < 0 || vs_load_backend_state_chunks(&vu, &r, NULL, &loaded) < 0) {
		vs_error_prefix("loading %s", a.file);
		goto fail;
	}
	vs_payload_compare_init(cmp, &r);
	if (vs_state_input_rewind(&in, &r) < 0 ||
	    vs_save_backend_state(&vu, vs_opt.max_size, consume, cmp, &saved) < 0) {
		vs_error_prefix("saving the state back");
		goto fail;
	}
	vs_payload_compare_end(cmp, saved, in.payload);
	vs_progress_end();
	vs_vu_close(&vu);
	vs_state_input_close(&in);
	if (vs_opt.json) {
		struct json_object *doc = json_object_new_object();
		bool same = cmp->first_diff == UINT64_MAX;
		json_object_object_add(doc, "socket", json_object_new_string(a.socket));
		json_object_object_add(doc, "file", json_object_new_string(a.file));
		json_object_object_add(doc, "same", json_object_new_boolean(same));
		json_object_object_add(doc, "file_payload_bytes", json_object_new_int64((int64_t)in.payload));
		json_object_object_add(doc, "backend_payload_bytes", json_object_new_int64((int64_t)saved));
		json_object_object_add(doc, "first_difference",
				       same ? NULL : json_object_new_int64((int64_t)cmp->first_diff));
		puts(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY));
		json_object_put(doc);
	}
	if (cmp->first_diff == UINT64_MAX) {
		rc = 0;
		if (!vs_opt.quiet)
			fprintf(stderr, "%s: verify: verified: %s holds the %" PRIu64 "-byte state of %s\n",
				program_invocation_short_name, a.socket, saved, a.file);
	} else {
		rc = VS_EXIT_DIFFERENT;
		if (!vs_opt.quiet)
			fprintf(stderr,
				"%s: verify: %s holds a different state than %s: the payloads differ at offset %"
				PRIu64 " (file %" PRIu64 " bytes, back-end %" PRIu64 " bytes)\n",
				program_invocation_short_name, a.socket, a.file, cmp->first_diff, in.payload, saved);
	}
	free(cmp);
	return rc;
fail:
	vs_progress_end();
	free(cmp);
	vs_vu_close(&vu);
	vs_state_input_close(&in);
	return vs_report_error("verify");
}
