#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "manifest.h"
#include "vs-json.h"

int
vs_manifest_now(int64_t *out)
{
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	char *end;

	if (sde && *sde) {
		errno = 0;
		long long v = strtoll(sde, &end, 10);
		/* the manifest's YYYY-MM-DD holds years up to 9999 */
		if (errno || *end || v < 0 || v > VS_MANIFEST_TIME_MAX)
			return vs_fail(VS_EXIT_USAGE, 0,
				       "SOURCE_DATE_EPOCH must be a count of seconds from 0 to %lld: '%s'",
				       (long long)VS_MANIFEST_TIME_MAX, sde);
		*out = v;
		return 0;
	}
	*out = time(NULL);
	return 0;
}

struct json_object *
vs_manifest_to_json(const struct vs_manifest *m)
{
	struct json_object *doc = json_object_new_object(), *payload = json_object_new_object();
	char version[16], created[32];
	time_t t = m->created;
	struct tm tm;

	snprintf(version, sizeof version, "%d.%d", VS_MANIFEST_MAJOR, VS_MANIFEST_MINOR);
	/* out of range only if set by hand: write the epoch, never crash */
	if (t < 0 || t > VS_MANIFEST_TIME_MAX || !gmtime_r(&t, &tm)) {
		t = 0;
		gmtime_r(&t, &tm);
	}
	strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
	vs_json_set(doc, "format", json_object_new_string(VS_MANIFEST_FORMAT));
	vs_json_set(doc, "version", json_object_new_string(version));
	vs_json_set(doc, "tool", json_object_new_string(m->tool));
	vs_json_set(doc, "created", json_object_new_string(created));
	vs_json_set(doc, "backend", m->backend ? json_object_get(m->backend) : NULL);
	vs_json_set(payload, "kind", json_object_new_string(m->kind));
	vs_json_set(payload, "size", json_object_new_int64((int64_t)m->payload_size));
	vs_json_set(payload, "chunks", json_object_new_int64((int64_t)m->chunks));
	vs_json_set(payload, "sha256", json_object_new_string(m->sha256));
	vs_json_set(doc, "payload", payload);
	return doc;
}

static const char *
get_string(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int
get_u64(struct json_object *o, const char *key, uint64_t *out)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return -1;
	int64_t i = json_object_get_int64(v);
	if (i < 0)
		return -1;
	*out = (uint64_t)i;
	return 0;
}

int
vs_manifest_parse(struct vs_manifest *m, const char *text, size_t len, const char *name)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *doc, *payload, *backend;
	const char *s;
	struct tm tm;

	memset(m, 0, sizeof *m);
	if (!tok)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	doc = json_tokener_parse_ex(tok, text, (int)len);
	if (!doc || json_tokener_get_error(tok) != json_tokener_success || tok->char_offset != (int)len) {
		json_tokener_free(tok);
		json_object_put(doc);
		return vs_fail(VS_EXIT_DATAERR, 0, "%s: manifest.json is not one JSON document", name);
	}
	json_tokener_free(tok);
#define BAD(...) do { vs_error_set(VS_EXIT_DATAERR, 0, __VA_ARGS__); goto fail; } while (0)
	if (!json_object_is_type(doc, json_type_object))
		BAD("%s: manifest.json is not a JSON object", name);
	s = get_string(doc, "format");
	if (!s || strcmp(s, VS_MANIFEST_FORMAT) != 0)
		BAD("%s: manifest.json: format is '%s', expected '%s'", name, s ? s : "(missing)", VS_MANIFEST_FORMAT);
	s = get_string(doc, "version");
	if (!s || sscanf(s, "%d.%d", &m->major, &m->minor) != 2)
		BAD("%s: manifest.json: version is '%s', expected MAJOR.MINOR", name, s ? s : "(missing)");
	if (m->major != VS_MANIFEST_MAJOR)
		BAD("%s: snapshot format version %s is not supported (this tool reads %d.x)", name, s,
		    VS_MANIFEST_MAJOR);
	s = get_string(doc, "tool");
	snprintf(m->tool, sizeof m->tool, "%s", s ? s : "");
	s = get_string(doc, "created");
	memset(&tm, 0, sizeof tm);
	if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm))
		BAD("%s: manifest.json: created is '%s', expected YYYY-MM-DDTHH:MM:SSZ", name, s ? s : "(missing)");
	m->created = timegm(&tm);
	/* what the writer can write back: 1970 to 9999 */
	if (m->created < 0 || m->created > VS_MANIFEST_TIME_MAX)
		BAD("%s: manifest.json: created '%s' is before 1970 or after 9999", name, s);
	if (json_object_object_get_ex(doc, "backend", &backend) && json_object_is_type(backend, json_type_object))
		m->backend = json_object_get(backend);
	if (!json_object_object_get_ex(doc, "payload", &payload) || !json_object_is_type(payload, json_type_object))
		BAD("%s: manifest.json has no payload object", name);
	s = get_string(payload, "kind");
	snprintf(m->kind, sizeof m->kind, "%s", s ? s : "unknown");
	if (get_u64(payload, "size", &m->payload_size) < 0 || get_u64(payload, "chunks", &m->chunks) < 0)
		BAD("%s: manifest.json: payload size and chunks must be non-negative integers", name);
	s = get_string(payload, "sha256");
	if (!s || strlen(s) != 64 || strspn(s, "0123456789abcdef") != 64)
		BAD("%s: manifest.json: payload sha256 must be 64 lower-case hex digits", name);
	memcpy(m->sha256, s, 65);
#undef BAD
	m->doc = doc;
	return 0;
fail:
	json_object_put(doc);
	vs_manifest_free(m);
	return -1;
}

void
vs_manifest_free(struct vs_manifest *m)
{
	json_object_put(m->backend);
	m->backend = NULL;
	json_object_put(m->doc);
	m->doc = NULL;
}
