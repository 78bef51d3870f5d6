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

static int
by_id(const void *a, const void *b)
{
	const struct vs_vfs_id_index *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
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

/* A count of items that each take at least min bytes cannot exceed what
 * is left divided by min; more means the bytes end early, found before
 * anything is allocated.  This bounds every allocation by the input size
 * (an inode, 64 bytes in memory, takes at least 4 on the wire). */
static bool
count(struct cursor *c, size_t min, size_t *out)
{
	uint64_t n;

	if (!u64(c, &n))
		return false;
	if (n > (c->len - c->off) / min) {
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

/* The fewest bytes each item takes (one per varint, tag and length):
 * an inode's id, refcount, location and file-handle option; a handle's
 * id, inode, source and flags; a mount's id and path length. */
#define INODE_MIN 4
#define HANDLE_MIN 4
#define MOUNT_MIN 2

/* ---- paths: every inode's, resolved once ---- */

enum { PATH_NONE = -1, PATH_UNSEEN = -2, PATH_ON_CHAIN = -3 };

size_t
vs_vfs_inode_at(const struct vs_vfs_state *st, uint64_t id)
{
	struct vs_vfs_id_index key = { .id = id }, *hit;

	hit = st->by_id ? bsearch(&key, st->by_id, st->ninodes, sizeof key, by_id) : NULL;
	return hit ? hit->i : VS_VFS_NO_INODE;
}

/* The length of a path that starts at this inode (Root, Full path), or
 * PATH_NONE for what names no place (Invalid, a file handle). */
static int32_t
start_len(const struct vs_vfs_inode *ino)
{
	if (ino->location == VS_LOC_ROOT)
		return 1; /* "." */
	if (ino->location == VS_LOC_FULL_PATH && ino->name && strlen(ino->name) <= VS_VFS_PATH_MAX)
		return (int32_t)strlen(ino->name);
	return PATH_NONE;
}

/* A Path inode's path length from its parent's: the parent's path, "/"
 * and the name, or the name alone under the root ("a", not "./a"). */
static int32_t
child_len(const struct vs_vfs_inode *parent, int32_t parent_len, const struct vs_vfs_inode *ino)
{
	size_t n = ino->name ? strlen(ino->name) : 0, total;

	/* a prefix (vs_vfs_decode 1) may end before an inode's name; an
	 * empty name is no path component */
	if (parent_len < 0 || n == 0)
		return PATH_NONE;
	total = parent->location == VS_LOC_ROOT ? n : (size_t)parent_len + 1 + n;
	return total <= VS_VFS_PATH_MAX ? (int32_t)total : PATH_NONE;
}

/* Each inode's parent index and path length (st->parent_at, ->path_len).
 * Following the parents inode by inode costs a chain's length for every
 * inode on it, and a loop the whole path limit each time: quadratic on a
 * crafted state.  Here every inode is resolved once: climb from it to an
 * inode already resolved or one that starts a path (the climb's inodes
 * are marked, so meeting one again is a loop), then come back down. */
static bool
index_paths(struct vs_vfs_state *st)
{
	size_t n = st->ninodes ? st->ninodes : 1, *chain = malloc(n * sizeof *chain);
	const struct vs_vfs_inode *ino = st->inodes;
	int32_t *len;

	st->parent_at = malloc(n * sizeof *st->parent_at);
	st->path_len = len = malloc(n * sizeof *st->path_len);
	if (!chain || !st->parent_at || !len) {
		free(chain);
		return false;
	}
	for (size_t i = 0; i < st->ninodes; i++) {
		st->parent_at[i] = ino[i].location == VS_LOC_PATH ? vs_vfs_inode_at(st, ino[i].parent) : VS_VFS_NO_INODE;
		len[i] = PATH_UNSEEN;
	}
	for (size_t i = 0; i < st->ninodes; i++) {
		size_t top = 0, at = i;
		int32_t l;

		while (at != VS_VFS_NO_INODE && len[at] == PATH_UNSEEN && ino[at].location == VS_LOC_PATH) {
			len[at] = PATH_ON_CHAIN;
			chain[top++] = at;
			at = st->parent_at[at];
		}
		if (at == VS_VFS_NO_INODE || len[at] == PATH_ON_CHAIN)
			l = PATH_NONE; /* a parent not in the state, or a loop */
		else if (len[at] == PATH_UNSEEN)
			l = len[at] = start_len(&ino[at]);
		else
			l = len[at];
		while (top > 0) {
			size_t c = chain[--top];
			l = len[c] = at == VS_VFS_NO_INODE ? PATH_NONE : child_len(&ino[at], l, &ino[c]);
			at = c;
		}
	}
	free(chain);
	return true;
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
	if (!count(&c, INODE_MIN, &st->ninodes))
		goto out;
	st->inodes = vs_calloc_large(st->ninodes, sizeof *st->inodes);
	if (!st->inodes)
		goto out;
	for (size_t i = 0; i < st->ninodes; i++)
		if (!inode(&c, &st->inodes[i]))
			goto out;
	if (!u64(&c, &st->next_inode) || !count(&c, HANDLE_MIN, &st->nhandles))
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
		if (!count(&c, MOUNT_MIN, &st->nmounts))
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
	/* the id index serves vs_vfs_inode_path (the decoded views); a state
	 * read as virtiofsd reads it (vs_vfs_load: preflight, which keeps its
	 * own index) does not pay for the sort */
	if (!trailing) {
		st->by_id = malloc((st->ninodes ? st->ninodes : 1) * sizeof *st->by_id);
		if (!st->by_id)
			goto out;
		for (size_t i = 0; i < st->ninodes; i++)
			st->by_id[i] = (struct vs_vfs_id_index){ st->inodes[i].id, i };
		qsort(st->by_id, st->ninodes, sizeof *st->by_id, by_id);
		if (!index_paths(st))
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
	free(st->by_id);
	free(st->parent_at);
	free(st->path_len);
	free(st->handles);
	free(st->mounts);
	memset(st, 0, sizeof *st);
}

bool
vs_vfs_inode_path(const struct vs_vfs_state *st, const struct vs_vfs_inode *ino, char *buf, size_t len,
		  uint64_t *budget)
{
	size_t i = (size_t)(ino - st->inodes), at, n;
	int32_t plen = st->path_len ? st->path_len[i] : -1;

	if (plen < 0 || (size_t)plen >= len)
		return false;
	if (*budget < (uint64_t)plen + 1) {
		*budget = 0;
		return false;
	}
	*budget -= (uint64_t)plen + 1;
	if (ino->location == VS_LOC_ROOT) {
		memcpy(buf, ".", 2);
		return true;
	}
	/* right to left, each name before its parent's: index_paths checked
	 * that the names and separators add up to plen */
	at = (size_t)plen;
	buf[at] = '\0';
	for (;;) {
		n = strlen(ino->name);
		at -= n;
		memcpy(buf + at, ino->name, n);
		if (ino->location != VS_LOC_PATH)
			break; /* a full path: the start */
		ino = &st->inodes[st->parent_at[ino - st->inodes]];
		if (ino->location == VS_LOC_ROOT)
			break;
		buf[--at] = '/';
	}
	return true;
}

/* ---- passt ---- */

static void
passt_flow(const unsigned char *p, struct vs_passt_flow *f)
{
	f->pif[0] = p[0];
	f->pif[1] = p[1];
	for (int i = 0; i < 2; i++) {
		const unsigned char *s = p + 2 + 36 * i;
		memcpy(f->side[i].oaddr, s, 16);
		memcpy(f->side[i].eaddr, s + 16, 16);
		memcpy(&f->side[i].oport, s + 32, 2);
		memcpy(&f->side[i].eport, s + 34, 2);
		f->side[i].oport = le16toh(f->side[i].oport);
		f->side[i].eport = le16toh(f->side[i].eport);
	}
	p += 74;
	f->retries = p[0];
	f->ws_from_tap = p[1];
	f->ws_to_tap = p[2];
	f->events = p[3];
	f->tap_mss = vs_get_be32(p + 4);
	f->sndbuf = vs_get_be32(p + 8);
	f->flags = p[12];
	f->seq_dup_ack_approx = p[13];
	f->wnd_from_tap = vs_get_be16(p + 14);
	f->wnd_to_tap = vs_get_be16(p + 16);
	f->seq_to_tap = vs_get_be32(p + 18);
	f->seq_ack_from_tap = vs_get_be32(p + 22);
	f->seq_from_tap = vs_get_be32(p + 26);
	f->seq_ack_to_tap = vs_get_be32(p + 30);
	f->seq_init_from_tap = vs_get_be32(p + 34);
}

static void
passt_ext(const unsigned char *p, struct vs_passt_flow *f)
{
	uint32_t *w[] = { &f->seq_snd, &f->seq_rcv, &f->sndq,	 &f->notsent, &f->rcvq,	   &f->mss,
			  &f->timestamp, &f->snd_wl1, &f->snd_wnd, &f->max_window, &f->rcv_wnd, &f->rcv_wup };

	for (size_t i = 0; i < sizeof w / sizeof *w; i++)
		*w[i] = vs_get_be32(p + 4 * i);
	f->snd_ws = p[48];
	f->rcv_ws = p[49];
	f->tcpi_state = p[50];
	f->tcpi_options = p[51];
}

int
vs_passt_decode(const unsigned char *p, size_t len, struct vs_passt_state *st, char *err, size_t errlen)
{
	size_t off = 16 + VS_PASST_ADDRS_SIZE;

	memset(st, 0, sizeof *st);
#define BAD(...) do { snprintf(err, errlen, __VA_ARGS__); vs_passt_state_free(st); return -1; } while (0)
	if (!vs_passt_header(p, len, &st->h))
		BAD("no passt migration header (magic 0x%016llx)", (unsigned long long)VS_PASST_MAGIC);
	if (st->h.version != 1 && st->h.version != 2)
		BAD("passt migration version %" PRIu32 " is not decoded (versions 1 and 2 are)", st->h.version);
	if (len < off)
		BAD("the observed addresses end early: %zu bytes, expected %d", len - 16, VS_PASST_ADDRS_SIZE);
	memcpy(st->addr6, p + 16, 16);
	memcpy(st->addr6_ll, p + 32, 16);
	memcpy(st->addr4, p + 48, 4);
	memcpy(st->mac, p + 52, 6);
	if (st->h.version == 2) {
		st->have_flows = true;
		if (len - off < 4)
			BAD("the flow count is missing at payload offset %zu", off);
		st->nflows = vs_get_be32(p + off);
		off += 4;
		/* each flow takes at least its two records: bound the count
		 * by what is there before allocating */
		if (st->nflows > (len - off) / (VS_PASST_FLOW_SIZE + VS_PASST_EXT_SIZE))
			BAD("%" PRIu32 " flows do not fit in the %zu bytes after the count at payload offset %zu",
			    st->nflows, len - off, off - 4);
		st->flows = calloc(st->nflows ? st->nflows : 1, sizeof *st->flows);
		if (!st->flows)
			BAD("out of memory");
		for (uint32_t i = 0; i < st->nflows; i++, off += VS_PASST_FLOW_SIZE)
			passt_flow(p + off, &st->flows[i]);
		for (uint32_t i = 0; i < st->nflows; i++) {
			struct vs_passt_flow *f = &st->flows[i];
			if (len - off < VS_PASST_EXT_SIZE)
				BAD("flow %" PRIu32 "'s extended data ends early at payload offset %zu", i, off);
			passt_ext(p + off, f);
			off += VS_PASST_EXT_SIZE;
			if (f->tcpi_state == 0)
				continue; /* skipped by the source: no queues follow */
			if ((uint64_t)f->sndq + f->rcvq > len - off)
				BAD("flow %" PRIu32 "'s queues (%" PRIu32 " + %" PRIu32
				    " bytes) end early at payload offset %zu",
				    i, f->sndq, f->rcvq, off);
			off += (size_t)f->sndq + f->rcvq;
		}
	}
	if (off != len)
		BAD("%zu trailing bytes after the state at payload offset %zu", len - off, off);
#undef BAD
	return 0;
}

void
vs_passt_state_free(struct vs_passt_state *st)
{
	free(st->flows);
	st->flows = NULL;
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
