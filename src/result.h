/* One result model for every verb: the verb builds its result once as a
 * json-c object; with --json that object is the output (one pretty JSON
 * document on stdout), otherwise a text renderer reads the same object.
 * The shapes are in schema/VERB.schema.json (doc/json.md). */
#ifndef VS_RESULT_H
#define VS_RESULT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <json.h>

/* Typed members: integers stay integers (uint64 above INT64_MAX too). */
void vs_jadd_u64(struct json_object *o, const char *key, uint64_t v);
void vs_jadd_str(struct json_object *o, const char *key, const char *s); /* NULL: null */
void vs_jadd_bool(struct json_object *o, const char *key, bool v);
/* The state's summary, the same keys in every verb: payload_bytes,
 * chunks, kind, and sha256 when it was computed (non-empty). */
void vs_jadd_state(struct json_object *o, uint64_t payload_bytes, uint64_t chunks, const char *kind,
		   const char *sha256);

/* Readers for the text renderers; a missing key reads as 0 / "" / false. */
uint64_t vs_jget_u64(struct json_object *o, const char *key);
const char *vs_jget_str(struct json_object *o, const char *key);
bool vs_jget_bool(struct json_object *o, const char *key);
struct json_object *vs_jget(struct json_object *o, const char *key);
/* An array's length; 0 for anything else (NULL included). */
size_t vs_jlen(struct json_object *list);

/* "1.5 MiB": one decimal, powers of 1024; below 1 KiB "N bytes". */
const char *vs_human_size(uint64_t bytes, char *buf, size_t len);
/* "4096 bytes (4.0 KiB)": the exact count, then the human one. */
const char *vs_size_text(uint64_t bytes, char *buf, size_t len);
/* "1348577 bytes of [KIND ]state (1.3 MiB, 2 chunks)"; chunks
 * UINT64_MAX: not said; kind may be NULL. */
const char *vs_state_text(uint64_t bytes, uint64_t chunks, const char *kind, char *buf, size_t len);
/* "1 chunk", "2 chunks" */
const char *vs_count_text(uint64_t n, const char *one, const char *many, char *buf, size_t len);

/* Print doc as the --json document (pretty, '/' unescaped; one line when
 * vs_json_lines: the proxy, whose log on stdout is JSON lines). */
extern bool vs_json_lines;
void vs_json_print(struct json_object *doc);
/* The result: JSON with --json, else text(doc, f) on f unless -q (or
 * always, when always_text: a listing is the result itself).  Takes
 * doc over. */
void vs_result_emit(struct json_object *doc, void (*text)(struct json_object *doc, FILE *f), FILE *f,
		    bool always_text);

/* Refuse (VS_EXIT_USAGE, message set) what would mix the state on
 * stdout with JSON or machine progress lines.  state_to_stdout: this
 * run writes the state itself to stdout. */
int vs_result_check_stdout(bool state_to_stdout);
/* path is stdout for an output: NULL or "-". */
bool vs_is_stdout(const char *path);

/* virtiofsd / passt decoded views and their differences, rendered. */
/* One item of a decoded view ("inode", "handle", "mount", "flow", or a
 * scalar) on one line's worth of text; NULL: "(absent)". */
void vs_print_item(FILE *f, const char *what, struct json_object *v);
void vs_print_differences(FILE *f, struct json_object *list, const char *indent);

#endif
