/* vhost-state inspect FILE [--json]: what a state file holds, offline. */
#include <config.h>

#include <inttypes.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "error.h"
#include "input.h"
#include "payload.h"
#include "qemu-file.h"

struct inspect_args {
	const char *file;
};

static error_t
parse(int key, char *arg, struct argp_state *state)
{
	struct inspect_args *a = state->input;

	switch (key) {
	case ARGP_KEY_ARG:
		if (a->file)
			vs_usage_error(state, "too many arguments: '%s'", arg);
		a->file = arg;
		break;
	case ARGP_KEY_END:
		if (!a->file)
			vs_usage_error(state, "FILE is required (- for stdin)");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp_child children[] = { VS_JSON_CHILD, VS_COMMON_CHILD, { 0 } };
static const struct argp inspect_argp = {
	NULL, parse, "FILE",
	"Describe a state file without any back-end: its format, chunk table (offsets with -v), "
	"manifest, digest check, and hints decoded from the payload (virtiofsd: version, inodes, "
	"handles and the paths they name; passt: magic and version).  Hints are vhost-state's own "
	"reading of a back-end's private format, not authoritative.  Malformed input exits 65 with "
	"the offset.",
	children, NULL, NULL
};

/* Chunk offsets, collected with -v. */
struct chunk_list {
	uint64_t *off;
	uint32_t *len;
	size_t n, cap;
	bool oom;
};

static void
on_chunk(void *ctx, uint64_t offset, uint32_t len)
{
	struct chunk_list *l = ctx;

	if (l->oom)
		return;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		uint64_t *o = realloc(l->off, cap * sizeof *o);
		uint32_t *n = o ? realloc(l->len, cap * sizeof *n) : NULL;
		if (o)
			l->off = o;
		if (!o || !n) {
			l->oom = true;
			return;
		}
		l->len = n;
		l->cap = cap;
	}
	l->off[l->n] = offset;
	l->len[l->n++] = len;
}

static const char *
location_name(enum vs_vfs_location l)
{
	static const char *const names[] = { "root", "path", "invalid", "full-path", "file-handle" };
	return names[l];
}

/* Hints for a fs payload: a JSON object, also printed unless json. */
static struct json_object *
fs_hints(const unsigned char *p, size_t len, bool print)
{
	struct json_object *h = json_object_new_object(), *inodes = json_object_new_array(),
			   *handles = json_object_new_array();
	struct vs_vfs_state st;
	char err[128], where[4200];

	if (vs_vfs_decode(p, len, &st, err, sizeof err) != 0) {
		json_object_object_add(h, "error", json_object_new_string(err[0] ? err : "the payload ends early"));
		if (print)
			printf("hints:       not decodable as virtiofsd state: %s\n", err[0] ? err : "it ends early");
		return h;
	}
	json_object_object_add(h, "backend", json_object_new_string("virtiofsd"));
	json_object_object_add(h, "version", json_object_new_string(st.variant ? "V2" : "V1"));
	json_object_object_add(h, "next_inode", json_object_new_int64((int64_t)st.next_inode));
	json_object_object_add(h, "next_handle", json_object_new_int64((int64_t)st.next_handle));
	if (print)
		printf("hints:       virtiofsd state %s: %zu inode%s, %zu handle%s, next inode %" PRIu64
		       ", next handle %" PRIu64 "\n",
		       st.variant ? "V2" : "V1", st.ninodes, st.ninodes == 1 ? "" : "s", st.nhandles,
		       st.nhandles == 1 ? "" : "s", st.next_inode, st.next_handle);
	for (size_t i = 0; i < st.ninodes; i++) {
		struct json_object *o = json_object_new_object();
		vs_vfs_describe_inode(&st, &st.inodes[i], where, sizeof where);
		json_object_object_add(o, "id", json_object_new_int64((int64_t)st.inodes[i].id));
		json_object_object_add(o, "refcount", json_object_new_int64((int64_t)st.inodes[i].refcount));
		json_object_object_add(o, "location", json_object_new_string(location_name(st.inodes[i].location)));
		json_object_object_add(o, "path", json_object_new_string(where));
		json_object_array_add(inodes, o);
		if (print)
			printf("  inode %" PRIu64 ": %s (refcount %" PRIu64 ")\n", st.inodes[i].id, where,
			       st.inodes[i].refcount);
	}
	for (size_t i = 0; i < st.nhandles; i++) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "id", json_object_new_int64((int64_t)st.handles[i].id));
		json_object_object_add(o, "inode", json_object_new_int64((int64_t)st.handles[i].inode));
		json_object_object_add(o, "flags", json_object_new_int(st.handles[i].flags));
		json_object_array_add(handles, o);
		if (print)
			printf("  handle %" PRIu64 ": inode %" PRIu64 ", open flags 0%o\n", st.handles[i].id,
			       st.handles[i].inode, (unsigned)st.handles[i].flags);
	}
	json_object_object_add(h, "inodes", inodes);
	json_object_object_add(h, "handles", handles);
	vs_vfs_state_free(&st);
	return h;
}

/* --- QEMU migration files (qemu-file.h): which devices carry back-end
 * state, where, and how big; -v lists every section. */
static int
inspect_migration(const char *path)
{
	struct vs_qemu_file q;
	struct json_object *doc;
	size_t devices = 0;

	if (vs_qemu_file_open(&q, path, vs_opt.max_size) < 0)
		return vs_report_error("inspect");
	doc = vs_qemu_file_json(&q);
	if (vs_opt.json) {
		puts(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(doc);
		vs_qemu_file_close(&q);
		return 0;
	}
	for (size_t i = 0; i < q.nsections; i++)
		devices += strcmp(q.sections[i].name, "ram") != 0;
	printf("file:        %s\n", path);
	if (q.libvirt) {
		printf("container:   libvirt save image, version %" PRIu32 ": QEMU stream at offset %" PRIu64 ", %s (format %" PRIu32
		       ")\n",
		       q.image.version, q.image.stream_offset, vs_libvirt_format_name(q.image.format), q.image.format);
		printf("domain:      %s (uuid %s), was running: %s\n", q.image.name[0] ? q.image.name : "(no name)",
		       q.image.uuid[0] ? q.image.uuid : "none", q.image.was_running ? "yes" : "no");
	}
	printf("format:      QEMU migration stream, version %u%s (machine %s, page size %" PRIu64 ")\n",
	       VS_QEMU_FILE_VERSION, q.mapped_ram ? ", mapped-ram layout" : "",
	       q.machine[0] ? q.machine : "not recorded", q.page_size);
	if (q.mapped_ram)
		printf("ram:         %" PRIu32 " blocks, %" PRIu64 " bytes, pages at fixed offsets (not read)\n",
		       q.ram_blocks, q.ram_bytes);
	else
		printf("ram:         %" PRIu32 " blocks, %" PRIu64 " bytes: %" PRIu64 " pages sent, %" PRIu64
		       " zero pages, %" PRIu64 " xbzrle pages\n",
		       q.ram_blocks, q.ram_bytes, q.ram_pages, q.ram_zero_pages, q.ram_xbzrle_pages);
	printf("devices:     %zu device sections, %zu with vhost-user back-end state\n", devices, q.nstates);
	if (q.described)
		printf("description: %" PRIu32 " bytes of JSON at offset %" PRIu64 "\n", q.desc_len, q.desc_offset);
	else
		printf("description: none (device sections walked between their footers)\n");
	for (size_t i = 0; i < q.nstates; i++) {
		const struct vs_qemu_state *st = &q.states[i];
		printf("state %zu:     %s (%s): %" PRIu64 " bytes in %" PRIu64 " chunk%s; stream %" PRIu64
		       " bytes at offset %" PRIu64 "; sha256 %s\n",
		       i + 1, st->device, vs_payload_kind_name(st->kind), st->payload, st->chunks,
		       st->chunks == 1 ? "" : "s", st->length, st->offset, st->sha256);
	}
	if (vs_opt.verbose)
		for (size_t i = 0; i < q.nsections; i++) {
			const struct vs_qemu_section *s = &q.sections[i];
			printf("  section %" PRIu32 " at offset %" PRIu64 ": %s (instance %" PRIu32 ", version %" PRIu32 ")",
			       s->section_id, s->offset, s->name, s->instance_id, s->version);
			if (strcmp(s->name, "ram") != 0)
				printf(", %" PRIu64 " bytes", s->length);
			printf("%s\n", s->state >= 0 ? ", back-end state" : "");
		}
	json_object_put(doc);
	vs_qemu_file_close(&q);
	return 0;
}

int
vs_cmd_inspect(int argc, char **argv)
{
	struct inspect_args a = { 0 };
	struct vs_state_input in = { 0 };
	struct chunk_list chunks = { 0 };
	struct vs_chunk_limits lim = { 0 };
	struct json_object *doc = json_object_new_object(), *jc, *hints = NULL;
	unsigned char *payload = NULL;
	size_t plen = 0;
	struct vs_passt_header ph;
	int loaded;
	bool print;

	argp_parse(&inspect_argp, argc, argv, 0, NULL, &a);
	if (vs_qemu_file_sniff(a.file)) {
		json_object_put(doc);
		return inspect_migration(a.file);
	}
	print = !vs_opt.json;
	lim.max_total = vs_opt.max_size;
	in.want_digest = true;
	if (vs_opt.verbose) {
		in.on_chunk = on_chunk;
		in.on_chunk_ctx = &chunks;
	}
	if (vs_state_input_open(&in, a.file, &lim) < 0)
		goto fail;

	json_object_object_add(doc, "file", json_object_new_string(a.file));
	json_object_object_add(doc, "format", json_object_new_string(vs_input_format_name(in.format)));
	if (print) {
		printf("file:        %s\n", a.file);
		printf("format:      %s\n", vs_input_format_name(in.format));
	}
	if (in.have_manifest) {
		struct json_object *m = json_object_new_object();
		char when[32], version[16];
		time_t t = in.manifest.created;
		struct tm tm;
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
		snprintf(version, sizeof version, "%d.%d", in.manifest.major, in.manifest.minor);
		json_object_object_add(m, "version", json_object_new_string(version));
		json_object_object_add(m, "tool", json_object_new_string(in.manifest.tool));
		json_object_object_add(m, "created", json_object_new_string(when));
		json_object_object_add(m, "kind", json_object_new_string(in.manifest.kind));
		json_object_object_add(m, "backend", json_object_get(in.manifest.backend));
		json_object_object_add(doc, "manifest", m);
		if (print) {
			struct json_object *peer, *name, *sock, *feat, *hex;
			printf("manifest:    %s %s, written by %s at %s\n", VS_MANIFEST_FORMAT, version, in.manifest.tool,
			       when);
			if (in.manifest.backend) {
				printf("back-end:   ");
				if (json_object_object_get_ex(in.manifest.backend, "peer", &peer) &&
				    json_object_object_get_ex(peer, "name", &name))
					printf(" %s", json_object_get_string(name));
				if (json_object_object_get_ex(in.manifest.backend, "socket", &sock))
					printf(" at %s", json_object_get_string(sock));
				if (json_object_object_get_ex(in.manifest.backend, "features", &feat) &&
				    json_object_object_get_ex(feat, "hex", &hex))
					printf(", features %s", json_object_get_string(hex));
				printf("\n");
			} else {
				printf("back-end:    unknown (not taken from a back-end)\n");
			}
		}
	}
	jc = json_object_new_object();
	json_object_object_add(doc, "chunks", jc);
	json_object_object_add(jc, "count", json_object_new_int64((int64_t)in.chunks));
	json_object_object_add(jc, "min", json_object_new_int64(in.min_chunk));
	json_object_object_add(jc, "max", json_object_new_int64(in.max_chunk));
	json_object_object_add(jc, "payload_bytes", json_object_new_int64((int64_t)in.payload));
	json_object_object_add(jc, "stream_bytes", json_object_new_int64((int64_t)in.stream_bytes));
	if (print)
		printf("chunks:      %" PRIu64 " (smallest %" PRIu32 ", largest %" PRIu32 "), payload %" PRIu64
		       " bytes, stream %" PRIu64 " bytes\n",
		       in.chunks, in.min_chunk, in.max_chunk, in.payload, in.stream_bytes);
	if (vs_opt.verbose && !chunks.oom) {
		struct json_object *list = json_object_new_array();
		for (size_t i = 0; i < chunks.n; i++) {
			struct json_object *c = json_object_new_object();
			json_object_object_add(c, "offset", json_object_new_int64((int64_t)chunks.off[i]));
			json_object_object_add(c, "length", json_object_new_int64(chunks.len[i]));
			json_object_array_add(list, c);
			if (print)
				printf("  chunk at offset %" PRIu64 ": %" PRIu32 " bytes%s\n", chunks.off[i], chunks.len[i],
				       chunks.len[i] ? "" : " (terminator)");
		}
		json_object_object_add(jc, "list", list);
	}
	json_object_object_add(doc, "sha256", json_object_new_string(in.sha256));
	json_object_object_add(doc, "digest_checked", json_object_new_boolean(in.have_manifest));
	json_object_object_add(doc, "kind", json_object_new_string(vs_payload_kind_name(in.kind)));
	if (print) {
		printf("sha256:      %s%s\n", in.sha256, in.have_manifest ? " (matches the manifest)" : "");
		printf("kind:        %s (sniffed from the payload)\n", vs_payload_kind_name(in.kind));
	}

	loaded = vs_state_input_load(&in, VS_DECODE_MAX, &payload, &plen);
	if (loaded < 0)
		goto fail;
	if (loaded == 1) {
		hints = json_object_new_object();
		json_object_object_add(hints, "error", json_object_new_string("payload too large to decode"));
		if (print)
			printf("hints:       none (payload larger than %u MiB)\n", VS_DECODE_MAX >> 20);
	} else if (in.kind == VS_KIND_FS) {
		hints = fs_hints(payload, plen, print);
	} else if (in.kind == VS_KIND_NET && vs_passt_header(payload, plen, &ph)) {
		hints = json_object_new_object();
		json_object_object_add(hints, "backend", json_object_new_string("passt"));
		json_object_object_add(hints, "magic", json_object_new_string("0xb1bb1d1b0bb1d1b0"));
		json_object_object_add(hints, "version", json_object_new_int64(ph.version));
		json_object_object_add(hints, "compat_version", json_object_new_int64(ph.compat_version));
		if (print)
			printf("hints:       passt migration data, magic 0xb1bb1d1b0bb1d1b0, version %" PRIu32
			       " (compatible with %" PRIu32 ")\n",
			       ph.version, ph.compat_version);
	} else if (print) {
		printf("hints:       none (unknown payload)\n");
	}
	json_object_object_add(doc, "hints", hints);
	if (vs_opt.json)
		puts(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	free(payload);
	free(chunks.off);
	free(chunks.len);
	json_object_put(doc);
	vs_state_input_close(&in);
	return 0;
fail:
	free(payload);
	free(chunks.off);
	free(chunks.len);
	json_object_put(doc);
	vs_state_input_close(&in);
	return vs_report_error("inspect");
}
