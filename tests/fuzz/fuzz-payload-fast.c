/* Fast libFuzzer target: the payload decoders on memory, as inspect and
 * diff use them: vs_payload_sniff, virtiofsd's state (vs_vfs_decode and
 * the path of every inode) and passt's header.  What the virtiofsd
 * decoder accepts must hold together: every count matches its array, and
 * every inode's path is the one a walk up its parents, one by one, gives
 * (the library resolves them all at once, index_paths in payload.c).
 * (fuzz-decode covers the JSON views built on these.) */
#include <config.h>

#include <stdbool.h>
#include <string.h>

#include "error.h"
#include "fuzz-common.h"
#include "payload.h"

/* The path the slow way: parent by parent (the library's choice of a
 * parent among inodes that share an id), right to left in buf, until a
 * Root or Full path inode; a loop ends when buf is full. */
static bool
walk(const struct vs_vfs_state *st, const struct vs_vfs_inode *ino, char *buf, size_t len)
{
	size_t at = len - 1, n;

	buf[at] = '\0';
	if (ino->location == VS_LOC_ROOT) {
		strcpy(buf, ".");
		return true;
	}
	for (;;) {
		if ((ino->location != VS_LOC_PATH && ino->location != VS_LOC_FULL_PATH) || !ino->name)
			return false;
		n = strlen(ino->name);
		if ((ino->location == VS_LOC_PATH && n == 0) || n + (at < len - 1) > at)
			return false;
		if (at < len - 1)
			buf[--at] = '/';
		at -= n;
		memcpy(buf + at, ino->name, n);
		if (ino->location == VS_LOC_FULL_PATH)
			break;
		if (st->parent_at[ino - st->inodes] == VS_VFS_NO_INODE)
			return false;
		ino = &st->inodes[st->parent_at[ino - st->inodes]];
		if (ino->location == VS_LOC_ROOT)
			break;
	}
	memmove(buf, buf + at, len - at);
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vs_vfs_state st;
	struct vs_passt_header h;
	char err[256], where[512], slow[sizeof where];
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
		/* a path costs the budget its bytes and its NUL, and a failure
		 * nothing (unless it is the budget running out) */
		for (size_t i = 0; i < st.ninodes && st.parent_at; i++) {
			uint64_t left = budget;
			bool got = vs_vfs_inode_path(&st, &st.inodes[i], where, sizeof where, &budget);
			vs_fuzz_fail_if(got ? left - budget != strlen(where) + 1 : left != budget && budget != 0,
					"a path cost the budget other than its length");
			vs_fuzz_fail_if(got != walk(&st, &st.inodes[i], slow, sizeof slow) || (got && strcmp(where, slow) != 0),
					"an inode's path is not the one its parents give");
		}
	} else {
		vs_fuzz_fail_if(err[0] == '\0', "the virtiofsd decoder failed without saying why");
	}
	vs_vfs_state_free(&st);
	if (vs_passt_header(data, size, &h))
		vs_fuzz_fail_if(size < 16, "a passt header accepted from fewer than 16 bytes");
	return 0;
}
