/* Building the library's JSON views (inspect, preflight, the manifest). */
#ifndef VS_JSON_H
#define VS_JSON_H

#include <json.h>

/* json_object_object_add copies the key it is given: one allocation per
 * field, as many as the values themselves in a decoded state's inode
 * list.  A literal outlives every object, so json-c is told to keep the
 * pointer (JSON_C_OBJECT_KEY_IS_CONSTANT, json-c >= 0.13).  Only for
 * keys that are string literals.  An existing key's value is replaced,
 * as with json_object_object_add. */
static inline int
vs_json_set(struct json_object *o, const char *literal_key, struct json_object *v)
{
	return json_object_object_add_ex(o, literal_key, v, JSON_C_OBJECT_KEY_IS_CONSTANT);
}

#endif
