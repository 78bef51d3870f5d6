/* vhost-state inspect FILE [--json]: what a state file holds, offline. */
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
#include "qemu-file.h"

struct inspect_args {
	const char *file;
};

static const struct argp inspect_argp = VS_VERB_ARGP(
	NULL, "FILE",
	"Describe a state file without any back-end: its format, chunk table (offsets with -v), "
	"manifest, digest check, and hints decoded from the payload (virtiofsd: version, inodes, "
	"handles and the paths they name; passt: magic and version).  Hints are vhost-state's own "
	"reading of a back-end's private format, not authoritative.  Malformed input exits 65 with "
	"the offset.",
	VS_JSON_CHILD);

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

/* --- QEMU migration files (qemu-file.h): which devices carry back-end
 * state, where, and how big; -v lists every section. */
static int
inspect_migration(const char *path)
{
	struct vs_qemu_file q;
	struct json_object *doc;
	size_t devices = 0;

	if (vs_qemu_file_open(&q, path, vs_opt.max_size, vs_opt.timeout_ms) < 0)
		return -1;
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

/* ---- a state file: the result (schema/inspect.schema.json) ---- */

static struct json_object *
chunk_list_json(const struct chunk_list *l)
{
	struct json_object *list = json_object_new_array_ext((int)l->n);

	for (size_t i = 0; i < l->n; i++) {
		struct json_object *c = json_object_new_object();
		vs_jadd_u64(c, "offset", l->off[i]);
		vs_jadd_u64(c, "length", l->len[i]);
		json_object_array_add(list, c);
	}
	return list;
}

static void
print_decoded(struct json_object *dec, FILE *f)
{
	struct json_object *list;
	const char *format = vs_jget_str(dec, "format");

	if (!dec) {
		fprintf(f, "decoded:     nothing (unknown payload)\n");
		return;
	}
	if (vs_jget(dec, "error")) {
		fprintf(f, "decoded:     not decodable as %s state: %s\n", format, vs_jget_str(dec, "error"));
		return;
	}
	if (strcmp(format, "virtiofsd") == 0) {
		size_t ni = vs_jlen(vs_jget(dec, "inodes")),
		       nh = vs_jlen(vs_jget(dec, "handles"));
		fprintf(f,
			"decoded:     virtiofsd state V%" PRIu64 ": %zu inode%s, %zu handle%s, next inode %" PRIu64
			", next handle %" PRIu64 "\n",
			vs_jget_u64(dec, "version"), ni, ni == 1 ? "" : "s", nh, nh == 1 ? "" : "s",
			vs_jget_u64(dec, "next_inode"), vs_jget_u64(dec, "next_handle"));
		list = vs_jget(dec, "inodes");
		for (size_t i = 0; i < vs_jlen(list); i++) {
			struct json_object *ino = json_object_array_get_idx(list, i);
			fprintf(f, "  inode %" PRIu64 ": ", vs_jget_u64(ino, "id"));
			vs_print_item(f, "inode", ino); /* as diff shows it */
			fputc('\n', f);
		}
		list = vs_jget(dec, "handles");
		for (size_t i = 0; i < vs_jlen(list); i++) {
			struct json_object *h = json_object_array_get_idx(list, i);
			fprintf(f, "  handle %" PRIu64 ": inode %" PRIu64 ", open flags 0%o\n", vs_jget_u64(h, "id"),
				vs_jget_u64(h, "inode"), (unsigned)json_object_get_int(vs_jget(h, "flags")));
		}
		list = vs_jget(dec, "mounts");
		for (size_t i = 0; i < vs_jlen(list); i++) {
			struct json_object *m = json_object_array_get_idx(list, i);
			fprintf(f, "  mount %" PRIu64 ": %s\n", vs_jget_u64(m, "id"), vs_jget_str(m, "path"));
		}
	} else if (strcmp(format, "passt") == 0) {
		struct json_object *ad = vs_jget(dec, "addresses");
		fprintf(f, "decoded:     passt migration data, version %" PRIu64 " (compatible with %" PRIu64 ")",
			vs_jget_u64(dec, "version"), vs_jget_u64(dec, "compat_version"));
		if (vs_jget(dec, "flows"))
			fprintf(f, ", %" PRIu64 " TCP flow%s", vs_jget_u64(dec, "flow_count"),
				vs_jget_u64(dec, "flow_count") == 1 ? "" : "s");
		fprintf(f, "\n  guest addresses: %s, %s, %s; MAC %s\n", vs_jget_str(ad, "addr4"),
			vs_jget_str(ad, "addr6"), vs_jget_str(ad, "addr6_ll"), vs_jget_str(ad, "mac"));
		list = vs_jget(dec, "flows");
		for (size_t i = 0; i < vs_jlen(list); i++) {
			struct json_object *fl = json_object_array_get_idx(list, i);
			fprintf(f, "  flow %" PRIu64 ": ", vs_jget_u64(fl, "id"));
			vs_print_item(f, "flow", fl);
			fputc('\n', f);
		}
	}
}

static void
print_text(struct json_object *doc, FILE *f)
{
	struct json_object *m = vs_jget(doc, "manifest"), *list = vs_jget(doc, "chunk_list");
	char size[64], stream[64];

	fprintf(f, "file:        %s\n", vs_jget_str(doc, "file"));
	fprintf(f, "format:      %s\n", vs_jget_str(doc, "format"));
	if (m) {
		struct json_object *be = vs_jget(m, "backend");
		fprintf(f, "manifest:    %s %s, written by %s at %s\n", vs_jget_str(m, "format"), vs_jget_str(m, "version"),
			vs_jget_str(m, "tool"), vs_jget_str(m, "created"));
		if (be) {
			fprintf(f, "back-end:   ");
			if (*vs_jget_str(vs_jget(be, "peer"), "name"))
				fprintf(f, " %s", vs_jget_str(vs_jget(be, "peer"), "name"));
			if (*vs_jget_str(be, "socket"))
				fprintf(f, " at %s", vs_jget_str(be, "socket"));
			if (*vs_jget_str(vs_jget(be, "features"), "hex"))
				fprintf(f, ", features %s", vs_jget_str(vs_jget(be, "features"), "hex"));
			if (*vs_jget_str(be, "source"))
				fprintf(f, " %s %s", vs_jget_str(be, "source"), vs_jget_str(be, "device"));
			fprintf(f, "\n");
		} else {
			fprintf(f, "back-end:    unknown (not taken from a back-end)\n");
		}
	}
	fprintf(f, "chunks:      %" PRIu64 " (smallest %" PRIu64 ", largest %" PRIu64 "), payload %s, stream %s\n",
		vs_jget_u64(doc, "chunks"), vs_jget_u64(doc, "chunk_min"), vs_jget_u64(doc, "chunk_max"),
		vs_size_text(vs_jget_u64(doc, "payload_bytes"), size, sizeof size),
		vs_size_text(vs_jget_u64(doc, "stream_bytes"), stream, sizeof stream));
	for (size_t i = 0; i < vs_jlen(list); i++) {
		struct json_object *c = json_object_array_get_idx(list, i);
		fprintf(f, "  chunk at offset %" PRIu64 ": %" PRIu64 " bytes%s\n", vs_jget_u64(c, "offset"),
			vs_jget_u64(c, "length"), vs_jget_u64(c, "length") ? "" : " (terminator)");
	}
	fprintf(f, "sha256:      %s%s\n", vs_jget_str(doc, "sha256"),
		vs_jget_bool(doc, "digest_checked") ? " (matches the manifest)" : "");
	fprintf(f, "kind:        %s (sniffed from the payload)\n", vs_jget_str(doc, "kind"));
	if (vs_jget_bool(doc, "too_large_to_decode"))
		fprintf(f, "decoded:     nothing (payload larger than %u MiB)\n", VS_DECODE_MAX >> 20);
	else
		print_decoded(vs_jget(doc, "decoded"), f);
}

int
vs_cmd_inspect(int argc, char **argv)
{
	struct inspect_args a = { 0 };
	struct vs_verb_args va = { .pos = { .slot = { &a.file }, .required = 1, .missing = "FILE is required (- for stdin)" } };
	struct vs_state_input in = { 0 };
	struct chunk_list chunks = { 0 };
	struct vs_chunk_limits lim = { 0 };
	struct json_object *doc;
	unsigned char *payload = NULL;
	size_t plen = 0;
	enum vs_input_load loaded;

	argp_parse(&inspect_argp, argc, argv, 0, NULL, &va);
	if (vs_result_check_stdout(false) < 0)
		return -1;
	if (vs_qemu_file_sniff(a.file))
		return inspect_migration(a.file);
	lim.max_total = vs_opt.max_size;
	in.want_digest = true;
	if (vs_opt.verbose) {
		in.on_chunk = on_chunk;
		in.on_chunk_ctx = &chunks;
	}
	if (vs_cmd_input_open(&in, a.file, &lim) < 0)
		goto fail;
	loaded = vs_state_input_load(&in, VS_DECODE_MAX, &payload, &plen);
	if (loaded == VS_INPUT_LOAD_ERROR)
		goto fail;

	doc = json_object_new_object();
	vs_jadd_str(doc, "file", a.file);
	vs_jadd_str(doc, "format", vs_input_format_name(in.format));
	/* as stored, not re-rendered */
	json_object_object_add(doc, "manifest", in.have_manifest ? json_object_get(in.manifest.doc) : NULL);
	vs_jadd_state(doc, in.payload, in.chunks, vs_payload_kind_name(in.kind), in.sha256);
	vs_jadd_bool(doc, "digest_checked", in.have_manifest);
	vs_jadd_u64(doc, "stream_bytes", in.stream_bytes);
	vs_jadd_u64(doc, "chunk_min", in.min_chunk);
	vs_jadd_u64(doc, "chunk_max", in.max_chunk);
	if (vs_opt.verbose && !chunks.oom)
		json_object_object_add(doc, "chunk_list", chunk_list_json(&chunks));
	vs_jadd_bool(doc, "too_large_to_decode", loaded == VS_INPUT_TOO_LARGE);
	json_object_object_add(doc, "decoded", loaded == VS_INPUT_TOO_LARGE ? NULL : vs_decode_json(in.kind, payload, plen));
	vs_result_emit(doc, print_text, stdout, true);
	free(payload);
	free(chunks.off);
	free(chunks.len);
	vs_state_input_close(&in);
	return 0;
fail:
	free(payload);
	free(chunks.off);
	free(chunks.len);
	vs_state_input_close(&in);
	return -1;
}
