#include <config.h>

#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>

#include "device-state.h"
#include "identity.h"

/* Read /proc/PID/cmdline: NUL-separated arguments; returns the length. */
static size_t
read_cmdline(pid_t pid, char *buf, size_t len)
{
	char path[64];
	FILE *f;
	size_t n;

	if (pid <= 0 || len == 0)
		return 0;
	snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	return n;
}

void
vs_peer_cmdline(pid_t pid, char *buf, size_t len)
{
	size_t n = read_cmdline(pid, buf, len);

	if (len)
		buf[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	while (n > 0 && buf[n - 1] == ' ')
		buf[--n] = '\0';
}

void
vs_peer_name(pid_t pid, char *buf, size_t len)
{
	char args[4096];
	size_t n = read_cmdline(pid, args, sizeof args);
	const char *prog = args, *end = args + n;

	buf[0] = '\0';
	if (n == 0)
		return;
	/* ld.so [options] PROGRAM ...: skip the loader and its options */
	if (strncmp(basename((char *)prog), "ld-", 3) == 0 && strstr(prog, ".so")) {
		prog += strlen(prog) + 1;
		while (prog < end && strncmp(prog, "--", 2) == 0) {
			bool takes_value = strcmp(prog, "--library-path") == 0 || strcmp(prog, "--preload") == 0 ||
					   strcmp(prog, "--argv0") == 0 || strcmp(prog, "--audit") == 0;
			prog += strlen(prog) + 1;
			if (takes_value && prog < end)
				prog += strlen(prog) + 1;
		}
		if (prog >= end)
			return;
	}
	snprintf(buf, len, "%s", strrchr(prog, '/') ? strrchr(prog, '/') + 1 : prog);
}

const char *
vs_backend_kind(const char *peer_name)
{
	if (strstr(peer_name, "virtiofsd"))
		return "fs";
	if (strstr(peer_name, "passt") || strstr(peer_name, "pasta"))
		return "net";
	if (strstr(peer_name, "qemu-storage-daemon"))
		return "blk";
	return NULL;
}

struct json_object *
vs_json_feature_names(uint64_t mask, const char *(*name)(unsigned))
{
	struct json_object *names = json_object_new_array();

	for (unsigned bit = 0; bit < 64; bit++) {
		char unknown[16];
		if (!(mask & (1ull << bit)))
			continue;
		snprintf(unknown, sizeof unknown, "bit%u", bit);
		json_object_array_add(names, json_object_new_string(name(bit) ? name(bit) : unknown));
	}
	return names;
}

struct json_object *
vs_json_feature_mask(uint64_t mask, const char *(*name)(unsigned))
{
	struct json_object *o = json_object_new_object();
	char hex[24];

	snprintf(hex, sizeof hex, "0x%" PRIx64, mask);
	json_object_object_add(o, "hex", json_object_new_string(hex));
	json_object_object_add(o, "names", vs_json_feature_names(mask, name));
	return o;
}

struct json_object *
vs_identity_json(const struct vs_vu *vu, const char *socket, bool with_pid)
{
	struct json_object *doc = json_object_new_object(), *proto = json_object_new_object();
	bool has_pf = vs_vu_has_feature(vu, VHOST_USER_F_PROTOCOL_FEATURES);
	char cmdline[2048], name[256];

	json_object_object_add(doc, "socket", json_object_new_string(socket));
	if (vu->conn.peer_pid > 0) {
		struct json_object *peer = json_object_new_object();
		vs_peer_name(vu->conn.peer_pid, name, sizeof name);
		vs_peer_cmdline(vu->conn.peer_pid, cmdline, sizeof cmdline);
		if (with_pid)
			json_object_object_add(peer, "pid", json_object_new_int(vu->conn.peer_pid));
		json_object_object_add(peer, "name", json_object_new_string(name));
		json_object_object_add(peer, "cmdline", json_object_new_string(cmdline));
		json_object_object_add(doc, "peer", peer);
	}
	json_object_object_add(doc, "features", vs_json_feature_mask(vu->features, vs_vu_feature_name));
	json_object_object_add(proto, "offered",
			       has_pf ? vs_json_feature_mask(vu->protocol_offered, vs_vu_protocol_feature_name) : NULL);
	json_object_object_add(proto, "acked",
			       has_pf ? vs_json_feature_mask(vu->protocol_features, vs_vu_protocol_feature_name) : NULL);
	json_object_object_add(doc, "protocol_features", proto);
	json_object_object_add(doc, "queues", json_object_new_int64((int64_t)vu->queue_num));
	json_object_object_add(doc, "memory_slots", json_object_new_int64((int64_t)vu->max_mem_slots));
	json_object_object_add(doc, "device_state", json_object_new_boolean(vs_supports_device_state(vu)));
	return doc;
}
