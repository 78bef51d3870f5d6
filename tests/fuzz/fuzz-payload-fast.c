/* Fast libFuzzer target: the payload decoders on memory, as inspect and
 * diff use them: vs_payload_sniff, virtiofsd's state (vs_vfs_decode and
 * the path of every inode) and passt's header.  What the virtiofsd
 * decoder accepts must hold together: every count matches its array.
 * (fuzz-decode covers the JSON views built on these.) */
#include <config.h>

#include <stdbool.h>
#include <string.h>

#include "error.h"
#include "fuzz-common.h"
#include "payload.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vs_vfs_state st;
	struct vs_passt_header h;
	char err[256], where[512];
	enum vs_payload_kind k;
	uint64_t budget = 1u << 24;

	k = vs_payload_sniff(data, size, size);
	vs_fuzz_fail_if(vs_payload_kind_parse(vs_payload_kind_name(k)) != k, "a kind's name does not parse back");
	memset(&st, 0, sizeof st);
	err[0] = '\0';
	/* 0: decoded exactly, 1: a consistent prefix, -1: not this format */
	if (vs_vfs_decode(data, size, &st, err, sizeof err) >= 0) {
		vs_fuzz_fail_if((st.ninodes && !st.inodes) || (st.nhandles && !st.handles) ||
					(st.nmounts && !st.mounts),
				"a count without its array");
		/* every parent step adds a byte to the path, so a walk takes
		 * at most as many steps as the buffer has bytes, loop or not */
		for (size_t i = 0; i < st.ninodes; i++) {
			uint64_t left = budget;
			vs_vfs_inode_path(&st, &st.inodes[i], where, sizeof where, &budget);
			vs_fuzz_fail_if(left - budget > sizeof where, "a path walk took more steps than it has bytes");
		}
	} else {
		vs_fuzz_fail_if(err[0] == '\0', "the virtiofsd decoder failed without saying why");
	}
	vs_vfs_state_free(&st);
	if (vs_passt_header(data, size, &h))
		vs_fuzz_fail_if(size < 16, "a passt header accepted from fewer than 16 bytes");
	return 0;
}
