#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "error.h"
#include "result.h"

void
vs_jadd_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, v > INT64_MAX ? json_object_new_uint64(v) : json_object_new_int64((int64_t)v));
}

void
vs_jadd_str(struct json_object *o, const char *key, const char *s)
{
	json_object_object_add(o, key, s ? json_object_new_string(s) : NULL);
}

void
vs_jadd_bool(struct json_object *o, const char *key, bool v)
{
	json_object_object_add(o, key, json_object_new_boolean(v));
}

void
vs_jadd_state(struct json_object *o, uint64_t payload_bytes, uint64_t chunks, const char *kind, const char *sha256)
{
	vs_jadd_u64(o, "payload_bytes", payload_bytes);
	vs_jadd_u64(o, "chunks", chunks);
	vs_jadd_str(o, "kind", kind);
	if (sha256 && sha256[0])
		vs_jadd_str(o, "sha256", sha256);
}

struct json_object *
vs_jget(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

uint64_t
vs_jget_u64(struct json_object *o, const char *key)
{
	return json_object_get_uint64(vs_jget(o, key));
}

const char *
vs_jget_str(struct json_object *o, const char *key)
{
	struct json_object *v = vs_jget(o, key);

	return v && !json_object_is_type(v, json_type_null) ? json_object_get_string(v) : "";
}

size_t
vs_jlen(struct json_object *list)
{
	return json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;
}

bool
vs_jget_bool(struct json_object *o, const char *key)
{
	return json_object_get_boolean(vs_jget(o, key));
}

const char *
vs_human_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)bytes;
	int u = -1;

	if (bytes < 1024) {
		snprintf(buf, len, "%" PRIu64 " byte%s", bytes, bytes == 1 ? "" : "s");
		return buf;
	}
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

const char *
vs_size_text(uint64_t bytes, char *buf, size_t len)
{
	char h[32];

	if (bytes < 1024)
		return vs_human_size(bytes, buf, len);
	snprintf(buf, len, "%" PRIu64 " bytes (%s)", bytes, vs_human_size(bytes, h, sizeof h));
	return buf;
}

const char *
vs_state_text(uint64_t bytes, uint64_t chunks, const char *kind, char *buf, size_t len)
{
	char h[32] = "", c[40] = "";

	if (bytes >= 1024)
		vs_human_size(bytes, h, sizeof h);
	if (chunks != UINT64_MAX)
		vs_count_text(chunks, "chunk", "chunks", c, sizeof c);
	snprintf(buf, len, "%" PRIu64 " bytes of %s%sstate%s%s%s%s%s", bytes, kind ? kind : "", kind ? " " : "",
		 *h || *c ? " (" : "", h, *h && *c ? ", " : "", c, *h || *c ? ")" : "");
	return buf;
}

const char *
vs_count_text(uint64_t n, const char *one, const char *many, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRIu64 " %s", n, n == 1 ? one : many);
	return buf;
}

bool vs_json_lines;

void
vs_json_print(struct json_object *doc)
{
	puts(json_object_to_json_string_ext(doc, (vs_json_lines ? JSON_C_TO_STRING_PLAIN : JSON_C_TO_STRING_PRETTY) |
							 JSON_C_TO_STRING_NOSLASHESCAPE));
}

void
vs_result_emit(struct json_object *doc, void (*text)(struct json_object *doc, FILE *f), FILE *f, bool always_text)
{
	if (vs_opt.json)
		vs_json_print(doc);
	else if (text && (always_text || !vs_opt.quiet))
		text(doc, f);
	json_object_put(doc);
}

bool
vs_is_stdout(const char *path)
{
	return !path || strcmp(path, "-") == 0;
}

int
vs_result_check_stdout(bool state_to_stdout)
{
	if (state_to_stdout && vs_opt.json) {
		/* the caller's stdout was for the state: no error document
		 * there either, only the message on stderr */
		vs_opt.json = false;
		return vs_fail(VS_EXIT_USAGE, 0,
			       "--json prints its result on stdout, where the state goes: write the state to a file "
			       "(-o FILE)");
	}
	if (vs_opt.progress_fd == 1 && (state_to_stdout || vs_opt.json))
		return vs_fail(VS_EXIT_USAGE, 0, "--progress=1 would write progress lines into %s on stdout",
			       state_to_stdout ? "the state" : "the JSON result");
	return 0;
}

/* ---- differences (decode.h), as text ---- */

void
vs_print_item(FILE *f, const char *what, struct json_object *v)
{
	if (!v) {
		fputs("(absent)", f);
		return;
	}
	if (strcmp(what, "inode") == 0) {
		const char *status = vs_jget_str(v, "status");
		if (strcmp(status, "root") == 0)
			fputs("/ (root)", f);
		else if (strcmp(status, "invalid") == 0)
			fputs("(invalid)", f);
		else if (strcmp(status, "file-handle") == 0)
			fputs("(file handle)", f);
		else if (*vs_jget_str(v, "path"))
			fputs(vs_jget_str(v, "path"), f);
		else
			fprintf(f, "#%" PRIu64 "/%s", vs_jget_u64(v, "parent"), vs_jget_str(v, "name"));
		fprintf(f, " (refcount %" PRIu64 ")", vs_jget_u64(v, "refcount"));
	} else if (strcmp(what, "handle") == 0) {
		fprintf(f, "inode %" PRIu64 ", flags 0%o", vs_jget_u64(v, "inode"),
			(unsigned)json_object_get_int(vs_jget(v, "flags")));
	} else if (strcmp(what, "mount") == 0) {
		fputs(vs_jget_str(v, "path"), f);
	} else if (strcmp(what, "flow") == 0) {
		struct json_object *sides = vs_jget(v, "sides"), *q = vs_jget(v, "queues"), *seq = vs_jget(v, "sequence");
		for (size_t i = 0; i < vs_jlen(sides); i++) {
			struct json_object *s = json_object_array_get_idx(sides, i);
			const char *addr = vs_jget_str(s, "endpoint_address");
			bool v6 = strchr(addr, ':') != NULL;
			fprintf(f, "%s%s %s%s%s:%" PRIu64, i ? " <-> " : "", vs_jget_str(s, "pif"), v6 ? "[" : "", addr,
				v6 ? "]" : "", vs_jget_u64(s, "endpoint_port"));
		}
		fprintf(f, ", seq to tap %" PRIu64 ", from tap %" PRIu64 ", queues %" PRIu64 "+%" PRIu64 " bytes%s",
			vs_jget_u64(seq, "to_tap"), vs_jget_u64(seq, "from_tap"), vs_jget_u64(q, "send"),
			vs_jget_u64(q, "receive"), vs_jget_bool(v, "skipped") ? " (skipped by the source)" : "");
	} else if (json_object_is_type(v, json_type_null)) {
		fputs("null", f);
	} else {
		fputs(json_object_get_string(v), f);
	}
}

void
vs_print_differences(FILE *f, struct json_object *list, const char *indent)
{
	for (size_t i = 0; i < vs_jlen(list); i++) {
		struct json_object *d = json_object_array_get_idx(list, i), *id = vs_jget(d, "id");
		const char *what = vs_jget_str(d, "what");
		fprintf(f, "%s%s", indent, what);
		if (id)
			fprintf(f, " %s", json_object_get_string(id));
		fputs(": ", f);
		vs_print_item(f, what, vs_jget(d, "a"));
		fputs(" -> ", f);
		vs_print_item(f, what, vs_jget(d, "b"));
		fputc('\n', f);
	}
}
