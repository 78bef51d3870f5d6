/* vhost-state info SOCKET [--json]: what the back-end offers. */
#include <config.h>

#include <inttypes.h>
#include <json.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "device-state.h"
#include "error.h"
#include "identity.h"
#include "output.h"
#include "vu-frontend.h"

struct info_args {
	const char *socket;
};

static error_t
parse(int key, char *arg, struct argp_state *state)
{
	struct info_args *a = state->input;

	switch (key) {
	case ARGP_KEY_ARG:
		if (a->socket)
			vs_usage_error(state, "too many arguments: '%s'", arg);
		a->socket = arg;
		break;
	case ARGP_KEY_END:
		if (!a->socket)
			vs_usage_error(state, "SOCKET is required");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp_child children[] = { VS_JSON_CHILD, VS_COMMON_CHILD, { 0 } };
static const struct argp info_argp = {
	NULL, parse, "SOCKET",
	"Connect to a vhost-user back-end, negotiate as QEMU does, and show its virtio and "
	"protocol features, queue count, memory slots and whether it can move its state "
	"(DEVICE_STATE)." VS_DIRECT_MODE_NOTE,
	children, NULL, NULL
};

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

int
vs_cmd_info(int argc, char **argv)
{
	struct info_args a = { 0 };
	struct vs_vu vu;
	char cmdline[2048];

	argp_parse(&info_argp, argc, argv, 0, NULL, &a);
	if (vs_check_stdout() < 0 || vs_vu_open(&vu, a.socket) < 0)
		return vs_report_error("info");
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
