/* What several verbs share beyond option parsing: writing a state to the
 * output the user chose, and the one-line summary of a state moved. */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "error.h"
#include "output.h"
#include "progress.h"
#include "result.h"

int
vs_save_open(struct vs_save *s, const char *path, const struct vs_format_opts *fmt, enum vs_save_capture capture)
{
	s->fmt = fmt;
	snprintf(s->m.tool, sizeof s->m.tool, "%s %s", PACKAGE_NAME, PACKAGE_VERSION);
	if (vs_manifest_now(&s->m.created) < 0 ||
	    vs_cmd_output_open(&s->out, path, VS_OUTPUT_BINARY | (vs_opt.force ? VS_OUTPUT_FORCE : 0)) < 0)
		return -1;
	s->out_open = true;
	if (vs_state_writer_open(&s->w, s->out.fd, s->out.name, fmt->archive == 1, fmt->zstd_level, fmt->threads) < 0)
		return -1;
	s->writer = true;
	if (capture == VS_SAVE_RAW)
		return 0;
	s->cap = calloc(1, sizeof *s->cap);
	if (!s->cap)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	if (vs_capture_init(s->cap, vs_state_writer_raw(&s->w), capture == VS_SAVE_DIGEST) < 0) {
		free(s->cap);
		s->cap = NULL;
		return -1;
	}
	return 0;
}

int
vs_save_consume(void *save, const void *buf, size_t len)
{
	struct vs_save *s = save;

	if (vs_capture_consume(s->cap, buf, len) < 0)
		return -1;
	vs_progress_update(s->cap->w.payload);
	return 0;
}

int
vs_save_finish(struct vs_save *s, struct json_object *backend)
{
	if (s->cap) {
		if (vs_chunk_writer_end(&s->cap->w) < 0) {
			json_object_put(backend);
			return -1;
		}
		vs_capture_manifest(s->cap, &s->m, backend);
	} else {
		json_object_put(backend);
	}
	return s->fmt->archive == 1 ? vs_state_writer_finish(&s->w, &s->m) : 0;
}

int
vs_save_commit(struct vs_save *s)
{
	if (vs_output_commit(&s->out) < 0)
		return -1;
	s->out_open = false;
	return 0;
}

int
vs_save_emit(struct vs_save *s, struct json_object *doc, void (*text)(struct json_object *doc, FILE *f))
{
	if (vs_save_commit(s) < 0) {
		json_object_put(doc);
		return -1;
	}
	vs_result_emit(doc, text, stderr, false);
	return 0;
}

void
vs_save_close(struct vs_save *s)
{
	if (s->out_open)
		vs_output_abort(&s->out);
	s->out_open = false;
	if (s->cap) {
		vs_capture_free(s->cap);
		free(s->cap);
		s->cap = NULL;
	}
	if (s->writer)
		vs_state_writer_close(&s->w);
	s->writer = false;
	vs_manifest_free(&s->m);
}

struct json_object *
vs_save_result(const struct vs_save *s, const char *key, const char *from)
{
	struct json_object *doc = json_object_new_object();
	const struct vs_manifest *m = &s->m;

	vs_jadd_str(doc, key, from);
	vs_jadd_str(doc, "output", s->out.path ? s->out.path : s->out.name);
	vs_jadd_str(doc, "format", s->fmt->archive == 1 ? "archive" : "raw");
	vs_jadd_bool(doc, "zstd", s->fmt->zstd_level != VS_ZSTD_OFF);
	vs_jadd_state(doc, m->payload_size, m->chunks, m->kind, m->sha256);
	json_object_object_add(doc, "backend", json_object_get(m->backend));
	return doc;
}

/* The verb's words around the state: "dumped STATE from SOCKET to OUT". */
static const struct {
	const char *verb, *did, *where_key, *where_word, *tail;
} moved_words[] = {
	{ "dump", "dumped ", "socket", "from", "" },
	{ "snapshot", "", "control", "via", "" },
	{ "restore", "restored ", "socket", "into", " (CHECK_DEVICE_STATE returned 0)" },
};

void
vs_print_moved(struct json_object *doc, FILE *f)
{
	char amount[128];
	size_t i = 0;
	const char *out = vs_jget_str(doc, "output");

	while (i + 1 < sizeof moved_words / sizeof *moved_words && strcmp(moved_words[i].verb, vs_verb) != 0)
		i++;
	fprintf(f, "%s: %s: %s%s %s %s%s%s%s%s\n", vs_program, vs_verb, moved_words[i].did,
		vs_state_text(vs_jget_u64(doc, "payload_bytes"), vs_jget_u64(doc, "chunks"), NULL, amount, sizeof amount),
		moved_words[i].where_word, vs_jget_str(doc, moved_words[i].where_key), *out ? " to " : "", out,
		*out && strcmp(vs_jget_str(doc, "format"), "archive") == 0 ? " (archive)" : "", moved_words[i].tail);
}
