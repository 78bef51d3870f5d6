/* manifest.json: what a .vhsnap container says about its state. */
#ifndef VS_MANIFEST_H
#define VS_MANIFEST_H

#include <json.h>
#include <stdint.h>

#define VS_MANIFEST_FORMAT "vhost-state-snapshot"
#define VS_MANIFEST_MAJOR 1
#define VS_MANIFEST_MINOR 0
/* 9999-12-31T23:59:59Z: the latest time a manifest can write */
#define VS_MANIFEST_TIME_MAX 253402300799LL
/* A manifest larger than this is not one of ours. */
#define VS_MANIFEST_MAX (1u << 20)

struct vs_manifest {
	int major, minor;
	char tool[64];		  /* "vhost-state 0.1.0" */
	int64_t created;	  /* seconds since the epoch */
	struct json_object *backend; /* identity as the dump saw it; NULL if unknown */
	char kind[16];		  /* payload kind: "fs", "net", "unknown" */
	uint64_t payload_size;
	uint64_t chunks;
	char sha256[65];	  /* hex digest of the de-chunked payload */
	struct json_object *doc;  /* parsed: the whole document as stored */
};

/* The creation time to record: SOURCE_DATE_EPOCH when set (reproducible
 * archives), else now. */
int vs_manifest_now(int64_t *out);
/* A new JSON document (caller puts it). */
struct json_object *vs_manifest_to_json(const struct vs_manifest *m);
/* Parse and check; errors are VS_EXIT_DATAERR naming `name`. */
int vs_manifest_parse(struct vs_manifest *m, const char *text, size_t len, const char *name);
void vs_manifest_free(struct vs_manifest *m);

#endif
