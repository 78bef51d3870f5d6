/* vhost-state snapshot CTRL.sock [-o FILE]: ask a running proxy for the
 * state of its back-end (the device must be stopped); --status: what the
 * proxy knows.  The control protocol itself is the library's
 * (transfer/proxy-ctl.c). */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chunk.h"
#include "cmd.h"
#include "error.h"
#include "manifest.h"
#include "output.h"
#include "progress.h"
#include "payload.h"
#include "proxy.h"
#include "result.h"
#include "writer.h"

struct snapshot_args {
	const char *socket;
	const char *output;
	bool status;
};

enum { OPT_STATUS = 0x400 };

static const struct argp_option options[] = {
	{ "output", 'o', "FILE", 0, "Write the state to FILE (default, or -: stdout)", 0 },
	{ "status", OPT_STATUS, NULL, 0,
	  "Show what the proxy knows instead: negotiated features, rings, whether a snapshot is "
	  "possible now", 0 },
	{ 0 }
};

static void
status_alone(const void *ctx, const struct argp_state *state)
{
	const struct snapshot_args *a = ctx;

	if (a->status && a->output)
		vs_usage_error(state, "--status prints the status; it writes no state (-o)");
}

static const struct argp snapshot_argp = VS_VERB_ARGP(
	options, "CONTROL-SOCKET\n--status CONTROL-SOCKET",
	"Save the state of the back-end behind a running `vhost-state proxy` (its --control "
	"socket) while the VM is paused: the proxy holds the front-end's messages, sends its own "
	"SET_DEVICE_STATE_FD(SAVE) and CHECK_DEVICE_STATE, then lets them through.  The device "
	"must be stopped: every ring the front-end started must have been stopped again "
	"(GET_VRING_BASE), as after QMP `stop`; otherwise the proxy refuses.  The output is "
	"written as by dump (raw stream or archive, zstd or not) and appears only complete, "
	"after CHECK_DEVICE_STATE returned 0."
	"\vWith --status, print what the proxy knows: the back-end's identity and negotiated "
	"features, the rings, whether a snapshot is possible now (--json: the document).",
	VS_FORMAT_CHILD, VS_JSON_CHILD);

/* No proxy there: say where the socket comes from. */
static void
hint_control(void)
{
	struct vs_error e = *vs_error_get();

	if (e.exit_code == VS_EXIT_UNAVAILABLE && (e.errnum == ENOENT || e.errnum == ECONNREFUSED))
		vs_error_set(VS_EXIT_UNAVAILABLE, 0, "%s (is the proxy running with --control?)", e.msg);
}

static struct json_object *
get_status(const char *path)
{
	struct json_object *doc = vs_proxy_status(path, vs_opt.timeout_ms);

	if (!doc)
		hint_control();
	return doc;
}

static const char *
jstr(struct json_object *o, const char *k1, const char *k2)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k1, &v))
		return NULL;
	if (k2 && !json_object_object_get_ex(v, k2, &v))
		return NULL;
	return v && json_object_get_type(v) != json_type_null ? json_object_get_string(v) : NULL;
}

static void
print_mask(const char *label, struct json_object *mask)
{
	struct json_object *hex, *names;

	if (!mask || !json_object_object_get_ex(mask, "hex", &hex) || !json_object_object_get_ex(mask, "names", &names))
		return;
	printf("%-20s%s", label, json_object_get_string(hex));
	for (size_t i = 0; i < json_object_array_length(names); i++)
		printf(" %s", json_object_get_string(json_object_array_get_idx(names, i)));
	printf("\n");
}

static void
print_status(struct json_object *doc)
{
	struct json_object *be = NULL, *fe = NULL, *rings = NULL, *v;
	const char *s;

	json_object_object_get_ex(doc, "backend", &be);
	json_object_object_get_ex(doc, "frontend", &fe);
	printf("%-20s%s%s\n", "back-end:", jstr(be, "socket", NULL) ? jstr(be, "socket", NULL) : "?",
	       json_object_object_get_ex(be, "connected", &v) && json_object_get_boolean(v) ? "" : " (disconnected)");
	if ((s = jstr(be, "peer", "cmdline")))
		printf("%-20s%s\n", "back-end process:", s);
	printf("%-20s%s", "front-end:",
	       json_object_object_get_ex(fe, "connected", &v) && json_object_get_boolean(v) ? "connected" : "not connected");
	if ((s = jstr(fe, "pid", NULL)))
		printf(" (pid %s)", s);
	printf("\n");
	if (json_object_object_get_ex(be, "features", &v))
		print_mask("features offered:", v);
	if (json_object_object_get_ex(fe, "features_acked", &v))
		print_mask("features acked:", v);
	if (json_object_object_get_ex(be, "protocol_features", &v)) {
		struct json_object *m;
		if (json_object_object_get_ex(v, "offered", &m))
			print_mask("protocol offered:", m);
		if (json_object_object_get_ex(v, "acked", &m))
			print_mask("protocol acked:", m);
	}
	if (json_object_object_get_ex(doc, "rings", &rings))
		for (size_t i = 0; i < json_object_array_length(rings); i++) {
			struct json_object *r = json_object_array_get_idx(rings, i);
			printf("ring %-15s%s, %s, size %s, base %s\n", jstr(r, "index", NULL),
			       strcmp(jstr(r, "started", NULL), "true") == 0 ? "started" : "stopped",
			       strcmp(jstr(r, "enabled", NULL), "true") == 0 ? "enabled" : "disabled",
			       jstr(r, "size", NULL), jstr(r, "base", NULL));
		}
	printf("%-20s%s\n", "device:",
	       json_object_object_get_ex(doc, "device_stopped", &v) && json_object_get_boolean(v) ? "stopped" : "running");
	printf("%-20s%s\n", "transfers:", jstr(doc, "transfers", NULL) ? jstr(doc, "transfers", NULL) : "0");
	if ((s = jstr(doc, "snapshot", "reason")))
		printf("%-20sno: %s\n", "snapshot possible:", s);
	else
		printf("%-20syes\n", "snapshot possible:");
}

/* The back-end's identity for a manifest, as the proxy saw it: no pid
 * and no connection state, so the same state gives the same bytes. */
static struct json_object *
manifest_backend(const char *path)
{
	struct json_object *doc = get_status(path), *be = NULL, *peer;

	if (!doc)
		return NULL;
	if (json_object_object_get_ex(doc, "backend", &be)) {
		json_object_get(be);
		json_object_object_del(be, "connected");
		if (json_object_object_get_ex(be, "peer", &peer))
			json_object_object_del(peer, "pid");
	}
	json_object_put(doc);
	return be;
}

/* A frame of the state from the proxy, into the chunk writer. */
static int
take_state(void *arg, const void *data, size_t len)
{
	struct vs_save *s = arg;

	if (s->cap->w.payload + len > vs_opt.max_size)
		return vs_fail(VS_EXIT_DATAERR, 0, "the state is larger than --max-size (%" PRIu64 " bytes)", vs_opt.max_size);
	return vs_save_consume(s, data, len);
}

static int
do_status(const char *path)
{
	struct json_object *doc = get_status(path);

	if (!doc)
		return -1;
	if (vs_opt.json)
		vs_json_print(doc); /* schema/snapshot-status.schema.json */
	else
		print_status(doc);
	json_object_put(doc);
	return 0;
}

int
vs_cmd_snapshot(int argc, char **argv)
{
	struct snapshot_args a = { 0 };
	struct vs_save s = { 0 };
	struct json_object *backend = NULL, *doc;
	bool digest;
	uint64_t check = 0;
	int fd = -1;

	struct vs_verb_args va = {
		.pos = { .slot = { &a.socket }, .required = 1,
			 .missing = "CONTROL-SOCKET is required (the proxy's --control)" },
		.opt = { { 'o', .arg = &a.output }, { OPT_STATUS, .flag = &a.status } },
		.end = status_alone,
		.ctx = &a,
	};

	argp_parse(&snapshot_argp, argc, argv, 0, NULL, &va);
	if (a.status)
		return do_status(a.socket);
	vs_format_from_name(a.output);
	vs_setup_progress();
	digest = vs_fmt.archive == 1 || vs_opt.json;
	if (vs_result_check_stdout(vs_is_stdout(a.output)) < 0 ||
	    vs_save_open(&s, a.output, &vs_fmt, digest ? VS_SAVE_DIGEST : VS_SAVE_FRAMED) < 0)
		goto fail;
	if (digest && !(backend = manifest_backend(a.socket)))
		goto fail;
	fd = vs_proxy_snapshot_start(a.socket, vs_opt.timeout_ms);
	if (fd < 0) {
		hint_control();
		goto fail;
	}
	vs_progress_start("snapshot", 0);
	if (vs_proxy_snapshot_receive(fd, a.socket, vs_opt.timeout_ms, take_state, &s, &check) < 0)
		goto fail;
	vs_progress_end();
	close(fd);
	fd = -1;
	if (check != 0) {
		vs_error_set(VS_EXIT_FAIL, 0, "CHECK_DEVICE_STATE returned %" PRIu64 ": the back-end failed to save its state",
			     check);
		goto fail;
	}
	if (vs_save_finish(&s, backend) < 0) {
		backend = NULL;
		goto fail;
	}
	backend = NULL; /* the manifest owns it */
	doc = vs_save_result(&s, "control", a.socket);
	vs_jadd_u64(doc, "check", 0); /* CHECK_DEVICE_STATE's result: only 0 gets here */
	if (vs_save_emit(&s, doc, vs_print_moved) < 0)
		goto fail;
	vs_save_close(&s);
	return 0;
fail:
	vs_progress_end();
	if (fd >= 0)
		close(fd);
	vs_save_close(&s);
	json_object_put(backend);
	return -1;
}
