/* Fast libFuzzer target: the decoded views of a payload (decode.c over
 * payload.c), as inspect shows them: vs_decode_json as virtiofsd's and
 * as passt's state.  Every view names its format; a view of an unknown
 * kind does not exist.  The tree is not rendered here: that is json-c's
 * work on what the view built (two fifths of a view's instructions under
 * callgrind); fuzz-decode renders every view it makes, and adds the
 * comparisons diff and verify make. */
#include <config.h>

#include <json.h>

#include "decode.h"
#include "fuzz-common.h"

static void
view(enum vs_payload_kind kind, const uint8_t *data, size_t size)
{
	struct json_object *v = vs_decode_json(kind, data, size), *fmt;

	vs_fuzz_fail_if(!v, "a view for a known kind");
	vs_fuzz_fail_if(!json_object_object_get_ex(v, "format", &fmt), "the view names its format");
	json_object_put(v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	view(VS_KIND_FS, data, size);
	view(VS_KIND_NET, data, size);
	vs_fuzz_fail_if(vs_decode_json(VS_KIND_UNKNOWN, data, size) != NULL, "no view for an unknown kind");
	return 0;
}
