#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "bytes.h"
#include "payload.h"

const char *
vs_payload_kind_name(enum vs_payload_kind k)
{
	return k == VS_KIND_FS ? "fs" : k == VS_KIND_NET ? "net" : "unknown";
}

enum vs_payload_kind
vs_payload_kind_parse(const char *name)
{
	return !strcmp(name, "fs") ? VS_KIND_FS : !strcmp(name, "net") ? VS_KIND_NET : VS_KIND_UNKNOWN;
}

bool
vs_passt_header(const unsigned char *p, size_t len, struct vs_passt_header *h)
{
	if (len < 16 || vs_get_be64(p) != VS_PASST_MAGIC)
		return false;
	h->version = vs_get_be32(p + 8);
	h->compat_version = vs_get_be32(p + 12);
	return true;
}

/* postcard: LEB128 varints, zigzag for signed, length-prefixed strings. */
struct cursor {
	const unsigned char *p;
	size_t len, off;
	bool short_input; /* ran out of bytes (a prefix), not malformed */
	bool utf8;	  /* strings must be UTF-8, as Rust's String */
	char *arena;	  /* every string, NUL-terminated (st->strings) */
	struct vs_vfs_state *st;
	size_t arena_off;
	char *err;
	size_t errlen;
};

static bool
fail(struct cursor *c, const char *what)
{
	if (!c->short_input && c->err && !c->err[0])
		snprintf(c->err, c->errlen, "%s at payload offset %zu", what, c->off);
	return false;
}

static bool
varint(struct cursor *c, uint64_t *out, unsigned max_bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < max_bytes; i++) {
		if (c->off >= c->len) {
			c->short_input = true;
			return false;
		}
		unsigned char b = c->p[c->off++];
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*out = v;
			return true;
		}
	}
	return fail(c, "varint too long");
}

static bool
u64(struct cursor *c, uint64_t *out)
{
	return varint(c, out, 10);
}

static bool
boolean(struct cursor *c, bool *out)
{
	uint64_t v;

	if (!varint(c, &v, 1))
		return false;
	if (v > 1)
		return fail(c, "boolean other than 0/1");
	*out = v;
	return true;
}

/* A count of items that each take at least one byte cannot exceed what
 * is left; more means the bytes end early.  This bounds every allocation
 * by the input size. */
static bool
count(struct cursor *c, size_t *out)
{
	uint64_t n;

	if (!u64(c, &n))
		return false;
	if (n > c->len - c->off) {
		c->short_input = true;
		return false;
	}
	*out = n;
	return true;
}

/* Well-formed UTF-8 (no overlongs, surrogates or code points past
 * U+10FFFF), as Rust's str::from_utf8 accepts. */
static bool
utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char b = s[i];
		size_t k;
		uint32_t cp;

		if (b < 0x80) {
			i++;
			continue;
		}
		if (b >= 0xc2 && b <= 0xdf)
			k = 1, cp = b & 0x1f;
		else if (b >= 0xe0 && b <= 0xef)
			k = 2, cp = b & 0x0f;
		else if (b >= 0xf0 && b <= 0xf4)
			k = 3, cp = b & 0x07;
		else
			return false;
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if ((k == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		i += k + 1;
	}
	return true;
}

static bool
string(struct cursor *c, char **out)
{
	uint64_t n;

	if (!u64(c, &n))
		return false;
	if (n > 4096)
		return fail(c, "string longer than 4096 bytes");
	if (c->len - c->off < n) {
		c->short_input = true;
		return false;
	}
	if (memchr(c->p + c->off, 0, n))
		return fail(c, "NUL inside a string");
	if (c->utf8 && !utf8_valid(c->p + c->off, n))
		return fail(c, "string not valid UTF-8");
	/* each string's length prefix takes at least the byte its NUL
	 * takes in the arena, so len + 1 bytes hold them all */
	*out = c->arena + c->arena_off;
	memcpy(*out, c->p + c->off, n);
	(*out)[n] = '\0';
	c->arena_off += n + 1;
	c->off += n;
	return true;
}

/* mnt_id: u64, handle_type: i32 (zigzag), handle: Vec<u8> */
static bool
file_handle(struct cursor *c, struct vs_vfs_file_handle **out)
{
	uint64_t mnt, type, n;

	if (!u64(c, &mnt) || !varint(c, &type, 5) || !u64(c, &n))
		return false;
	if (n > VS_VFS_HANDLE_MAX)
		return fail(c, "file handle longer than 128 bytes");
	if (c->len - c->off < n) {
		c->short_input = true;
		return false;
	}
	if (!(*out = malloc(sizeof **out)))
		return fail(c, "out of memory");
	c->st->file_handles++;
	(*out)->mount_id = mnt;
	(*out)->type = (int32_t)((type >> 1) ^ -(type & 1));
	(*out)->len = n;
	memcpy((*out)->bytes, c->p + c->off, n);
	c->off += n;
	return true;
}

static bool
inode(struct cursor *c, struct vs_vfs_inode *ino)
{
	uint64_t loc, opt;

	if (!u64(c, &ino->id) || !u64(c, &ino->refcount) || !varint(c, &loc, 1))
		return false;
	switch (loc) {
	case 0: ino->location = VS_LOC_ROOT; break;
	case 1:
		ino->location = VS_LOC_PATH;
		if (!u64(c, &ino->parent) || !string(c, &ino->name))
			return false;
		break;
	case 2: ino->location = VS_LOC_INVALID; break;
	case 3:
		ino->location = VS_LOC_FULL_PATH;
		if (!string(c, &ino->name))
			return false;
		break;
	case 4:
		ino->location = VS_LOC_FILE_HANDLE;
		if (!file_handle(c, &ino->handle))
			return false;
		break;
	default:
		return fail(c, "unknown inode location");
	}
	if (!varint(c, &opt, 1))
		return false;
	if (opt > 1)
		return fail(c, "bad Option tag");
	ino->file_handle = opt;
	return !opt || file_handle(c, &ino->recorded);
}

static int
decode(const unsigned char *p, size_t len, struct vs_vfs_state *st, size_t *trailing, char *err, size_t errlen)
{
	struct cursor c = { .p = p, .len = len, .utf8 = trailing != NULL, .st = st, .err = err, .errlen = errlen };
	uint64_t variant, src, zz;
	bool ok = false;

	memset(st, 0, sizeof *st);
	if (err && errlen)
		err[0] = '\0';
	if (!(c.arena = st->strings = malloc(len + 1)))
		goto out;
	if (!varint(&c, &variant, 1))
		goto out;
	if (variant > 1) {
		fail(&c, "unknown PassthroughFs version");
		goto out;
	}
	st->variant = variant;
	if (!count(&c, &st->ninodes))
		goto out;
	st->inodes = vs_calloc_large(st->ninodes, sizeof *st->inodes);
	if (!st->inodes)
		goto out;
	for (size_t i = 0; i < st->ninodes; i++)
		if (!inode(&c, &st->inodes[i]))
			goto out;
	if (!u64(&c, &st->next_inode) || !count(&c, &st->nhandles))
		goto out;
	st->handles = calloc(st->nhandles ? st->nhandles : 1, sizeof *st->handles);
	if (!st->handles)
		goto out;
	for (size_t i = 0; i < st->nhandles; i++) {
		struct vs_vfs_handle *h = &st->handles[i];
		if (!u64(&c, &h->id) || !u64(&c, &h->inode) || !varint(&c, &src, 1))
			goto out;
		if (src != 0) {
			fail(&c, "unknown handle source");
			goto out;
		}
		if (!varint(&c, &zz, 5))
			goto out;
		h->flags = (int32_t)((zz >> 1) ^ -(zz & 1));
	}
	if (!u64(&c, &st->next_handle) || !boolean(&c, &st->writeback) ||
	    !boolean(&c, &st->announce_submounts) || !boolean(&c, &st->posix_acl) ||
	    !boolean(&c, &st->sup_group_extension))
		goto out;
	if (variant == 1) {
		if (!count(&c, &st->nmounts))
			goto out;
		st->mounts = calloc(st->nmounts ? st->nmounts : 1, sizeof *st->mounts);
		if (!st->mounts)
			goto out;
		for (size_t i = 0; i < st->nmounts; i++)
			if (!u64(&c, &st->mounts[i].id) || !string(&c, &st->mounts[i].path))
				goto out;
	}
	/* virtiofsd itself ignores trailing bytes; for a sniff they mean
	 * "not exactly this". */
	if (trailing)
		*trailing = len - c.off;
	else if (c.off != len) {
		fail(&c, "trailing bytes after the state");
		goto out;
	}
	ok = true;
out:
	if (ok)
		return 0;
	if (c.short_input && !(err && err[0]))
		return 1;
	vs_vfs_state_free(st);
	return -1;
}

int
vs_vfs_decode(const unsigned char *p, size_t len, struct vs_vfs_state *st, char *err, size_t errlen)
{
	return decode(p, len, st, NULL, err, errlen);
}

int
vs_vfs_load(const unsigned char *p, size_t len, struct vs_vfs_state *st, size_t *trailing, char *err, size_t errlen)
{
	size_t t = 0;

	return decode(p, len, st, trailing ? trailing : &t, err, errlen);
}

void
vs_vfs_state_free(struct vs_vfs_state *st)
{
	for (size_t i = 0; st->inodes && st->file_handles && i < st->ninodes; i++) {
		free(st->inodes[i].recorded);
		free(st->inodes[i].handle);
	}
	free(st->strings);
	free(st->inodes);
	free(st->handles);
	free(st->mounts);
	memset(st, 0, sizeof *st);
}

void
vs_vfs_describe_inode(const struct vs_vfs_state *st, const struct vs_vfs_inode *ino, char *buf, size_t len)
{
	switch (ino->location) {
	case VS_LOC_ROOT: snprintf(buf, len, "/ (root)"); return;
	case VS_LOC_INVALID: snprintf(buf, len, "(invalid)"); return;
	case VS_LOC_FILE_HANDLE: snprintf(buf, len, "(file handle)"); return;
	case VS_LOC_FULL_PATH: snprintf(buf, len, "%s", ino->name); return;
	case VS_LOC_PATH:
		for (size_t i = 0; i < st->ninodes; i++)
			if (st->inodes[i].id == ino->parent && st->inodes[i].location == VS_LOC_ROOT) {
				snprintf(buf, len, "%s", ino->name);
				return;
			}
		snprintf(buf, len, "#%" PRIu64 "/%s", ino->parent, ino->name);
		return;
	}
}

enum vs_payload_kind
vs_payload_sniff(const unsigned char *p, size_t len, uint64_t total)
{
	struct vs_passt_header h;
	struct vs_vfs_state st;
	int r;

	if (vs_passt_header(p, len, &h))
		return VS_KIND_NET;
	if (len == 0)
		return VS_KIND_UNKNOWN;
	r = vs_vfs_decode(p, len, &st, NULL, 0);
	vs_vfs_state_free(&st);
	/* a whole payload must decode exactly; a prefix must be consistent */
	return r == 0 || (r == 1 && total > len) ? VS_KIND_FS : VS_KIND_UNKNOWN;
}
