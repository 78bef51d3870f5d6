/* libFuzzer target: the payload decoders behind inspect, diff and verify
 * (decode.c over payload.c: virtiofsd's PassthroughFs, passt's migration
 * data).  Each input is a payload; it is decoded as both kinds, and the
 * views must hold what their users rely on:
 *   - a view always renders as JSON, and names its format;
 *   - a decodable view compared with itself has no differences;
 *   - the first half of the input against the whole compares without
 *     crashing, and only when both sides decode. */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "fuzz-common.h"

static void
check_kind(enum vs_payload_kind kind, const uint8_t *data, size_t size)
{
	struct json_object *v = vs_decode_json(kind, data, size), *same, *half;
	struct json_object *fmt;

	vs_fuzz_fail_if(!v, "a view for a known kind");
	vs_fuzz_fail_if(!json_object_object_get_ex(v, "format", &fmt), "the view names its format");
	vs_fuzz_fail_if(!json_object_to_json_string_ext(v, JSON_C_TO_STRING_NOSLASHESCAPE), "the view renders");
	if (vs_decode_comparable(v, v)) {
		same = vs_decode_differences(v, v);
		vs_fuzz_fail_if(json_object_array_length(same) != 0, "a view differs from itself");
		json_object_put(same);
	}
	half = vs_decode_diff(kind, data, size / 2, kind, data, size);
	if (half)
		vs_fuzz_fail_if(!json_object_is_type(half, json_type_array), "differences are a list");
	json_object_put(half);
	json_object_put(v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_kind(VS_KIND_FS, data, size);
	check_kind(VS_KIND_NET, data, size);
	vs_fuzz_fail_if(vs_decode_json(VS_KIND_UNKNOWN, data, size) != NULL, "no view for an unknown kind");
	return 0;
}
