/* Decoded views of a payload as JSON (inspect's "decoded"), and the
 * differences between two of them (diff, verify): one reading of each
 * back-end's format, so the three verbs cannot disagree.  Shapes:
 * schema/decoded.schema.json. */
#ifndef VS_DECODE_H
#define VS_DECODE_H

#include <stddef.h>

#include <json.h>

#include "payload.h"

/* {"format": "virtiofsd"|"passt", ...}, or {"format": ..., "error": "..."}
 * when the bytes do not decode; NULL for a kind that has no decoder. */
struct json_object *vs_decode_json(enum vs_payload_kind kind, const unsigned char *p, size_t len);

/* The differences from view a to view b (both from vs_decode_json, same
 * format, no "error"), as an array of {"what", ["id",] "a", "b"}:
 * scalars by name (nested ones dotted: "addresses.addr4"), list items
 * (inodes, handles, mounts, flows) by id, absent as null. */
struct json_object *vs_decode_differences(struct json_object *a, struct json_object *b);

/* Both views decodable and of the same format. */
int vs_decode_comparable(struct json_object *a, struct json_object *b);

/* A payload kept in memory as it arrives (verify: what the back-end
 * gives back), its first `max` bytes; total counts all of them. */
struct vs_decode_keep {
	unsigned char *buf;
	size_t len, cap, max;
	uint64_t total;
};
int vs_decode_keep_add(struct vs_decode_keep *k, const void *data, size_t len);
/* Whole: nothing was left out. */
#define vs_decode_keep_whole(k) ((k)->len == (k)->total)
void vs_decode_keep_free(struct vs_decode_keep *k);

/* Both payloads decoded and compared: the differences, or NULL when the
 * kinds differ or either does not decode. */
struct json_object *vs_decode_diff(enum vs_payload_kind ka, const unsigned char *pa, size_t la,
				   enum vs_payload_kind kb, const unsigned char *pb, size_t lb);

#endif
