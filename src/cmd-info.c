/* vhost-state info SOCKET [--json]: what the back-end offers. */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <json.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd.h"
#include "device-state.h"
#include "error.h"
#include "identity.h"
#include "output.h"
#include "peer-owner.h"
#include "vu-frontend.h"

struct info_args {
	const char *socket;
	bool no_connect;
};

enum { OPT_NO_CONNECT = 0x400 };
static const struct argp_option options[] = {
	{ "no-connect", OPT_NO_CONNECT, NULL, 0,
	  "Do not connect: show who listens on SOCKET (pid, program, command line, the back-end kind it "
	  "implies), leaving a one-shot back-end untouched", 0 },
	{ 0 }
};

static const struct argp info_argp = VS_VERB_ARGP(
	options, "SOCKET\n--no-connect SOCKET",
	"Connect to a vhost-user back-end, negotiate as QEMU does, and show its virtio and "
	"protocol features, queue count, memory slots and whether it can move its state "
	"(DEVICE_STATE)." VS_DIRECT_MODE_NOTE,
	VS_JSON_CHILD);

static void
print_text(const struct vs_vu *vu, const char *socket, const char *cmdline)
{
	printf("socket:             %s\n", socket);
	if (vu->conn.peer_pid > 0)
		printf("peer:               pid %d: %s\n", (int)vu->conn.peer_pid, cmdline);
	printf("features:           0x%016" PRIx64 " ", vu->features);
	vs_print_feature_names(vu->features, vs_vu_feature_name);
	if (vs_vu_has_feature(vu, VHOST_USER_F_PROTOCOL_FEATURES)) {
		printf("\nprotocol offered:   0x%016" PRIx64 " ", vu->protocol_offered);
		vs_print_feature_names(vu->protocol_offered, vs_vu_protocol_feature_name);
		printf("\nprotocol acked:     0x%016" PRIx64 " ", vu->protocol_features);
		vs_print_feature_names(vu->protocol_features, vs_vu_protocol_feature_name);
	} else {
		printf("\nprotocol features:  none (PROTOCOL_FEATURES not offered)");
	}
	printf("\nqueues:             %" PRIu64 "%s\n", vu->queue_num,
	       vs_vu_has_protocol_feature(vu, VHOST_USER_PROTOCOL_F_MQ) ? "" : " (no MQ)");
	printf("memory slots:       %" PRIu64 "%s\n", vu->max_mem_slots,
	       vs_vu_has_protocol_feature(vu, VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS)
		       ? ""
		       : " (no CONFIGURE_MEM_SLOTS: one SET_MEM_TABLE)");
	printf("device state:       %s\n",
	       vs_supports_device_state(vu) ? "supported (DEVICE_STATE negotiated)"
					    : "not supported (no DEVICE_STATE): dump and restore are impossible");
}

/* --no-connect: what /proc tells about the listener */
static int
info_no_connect(const char *socket)
{
	struct vs_peer_owner o;
	struct stat st;
	int found;

	if (stat(socket, &st) < 0)
		return vs_fail(errno == ENOENT ? VS_EXIT_UNAVAILABLE : VS_EXIT_FAIL, errno, "%s", socket);
	if (!S_ISSOCK(st.st_mode))
		return vs_fail(VS_EXIT_UNAVAILABLE, 0, "%s: not a unix socket (expected the back-end's socket)", socket);
	found = vs_peer_owner_find(socket, &o);
	if (found < 0)
		return -1;
	if (found == 0)
		return vs_fail(VS_EXIT_UNAVAILABLE, 0,
			       "%s: no listener found: /proc/net/unix lists none here (a stale socket file, or a "
			       "back-end in another network namespace)",
			       socket);
	if (vs_opt.json) {
		struct json_object *doc = json_object_new_object(), *owner = NULL;
		json_object_object_add(doc, "socket", json_object_new_string(socket));
		json_object_object_add(doc, "listening", json_object_new_boolean(true));
		if (found == 2) {
			owner = json_object_new_object();
			json_object_object_add(owner, "pid", json_object_new_int(o.pid));
			json_object_object_add(owner, "name", json_object_new_string(o.name));
			json_object_object_add(owner, "exe", json_object_new_string(o.exe));
			json_object_object_add(owner, "cmdline", json_object_new_string(o.cmdline));
		}
		json_object_object_add(doc, "owner", owner);
		json_object_object_add(doc, "kind", o.kind ? json_object_new_string(o.kind) : NULL);
		puts(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(doc);
		return 0;
	}
	printf("socket:             %s\n", socket);
	printf("listening:          yes (not connected: the back-end is untouched)\n");
	if (found == 1) {
		printf("owner:              not visible (another user's process)\n");
		return 0;
	}
	printf("owner:              pid %d: %s\n", (int)o.pid, o.cmdline);
	printf("program:            %s (%s)\n", o.name, o.exe[0] ? o.exe : "exe unreadable");
	printf("kind:               %s\n", o.kind ? o.kind : "unknown (not virtiofsd, passt or qemu-storage-daemon)");
	return 0;
}

int
vs_cmd_info(int argc, char **argv)
{
	struct info_args a = { 0 };
	struct vs_verb_args va = { .pos = { .slot = { &a.socket }, .required = 1, .missing = "SOCKET is required" },
				 .opt = { { OPT_NO_CONNECT, .flag = &a.no_connect } } };
	struct vs_vu vu;
	char cmdline[2048];

	argp_parse(&info_argp, argc, argv, 0, NULL, &va);
	if (a.no_connect) {
		if (vs_check_stdout() < 0 || info_no_connect(a.socket) < 0)
			return -1;
		return 0;
	}
	if (vs_check_stdout() < 0 || vs_cmd_vu_open(&vu, a.socket) < 0)
		return -1;
	if (vs_opt.json) {
		struct json_object *doc = vs_identity_json(&vu, a.socket, true);
		puts(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(doc);
	} else {
		vs_peer_cmdline(vu.conn.peer_pid, cmdline, sizeof cmdline);
		print_text(&vu, a.socket, cmdline);
	}
	vs_vu_close(&vu);
	return 0;
}
