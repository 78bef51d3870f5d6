#include <config.h>

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd_errors.h>

#include "bytes.h"
#include "container.h"
#include "error.h"

/* --- writing --- */

/* libarchive writes the headers into memory; the state's data never
 * passes through it (it is spooled, maybe already compressed). */
struct head_buf {
	unsigned char *p;
	size_t len, cap;
	bool done; /* refuse what closing writes (the data's padding) */
};

static la_ssize_t
head_cb(struct archive *a, void *ctx, const void *buf, size_t len)
{
	struct head_buf *h = ctx;

	if (h->done) {
		archive_set_error(a, ECANCELED, "only the headers are wanted");
		return -1;
	}
	if (h->len + len > h->cap) {
		size_t cap = (h->len + len) * 2;
		unsigned char *p = realloc(h->p, cap);
		if (!p) {
			archive_set_error(a, ENOMEM, "out of memory");
			return -1;
		}
		h->p = p;
		h->cap = cap;
	}
	memcpy(h->p + h->len, buf, len);
	h->len += len;
	return len;
}

static int
add_member(struct archive *a, const char *name, int64_t mtime, uint64_t size)
{
	struct archive_entry *e = archive_entry_new();
	int r;

	if (!e)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	/* Only what the format needs, and fixed: same state, same bytes. */
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)size);
	archive_entry_set_mtime(e, mtime, 0);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	r = archive_write_header(a, e);
	archive_entry_free(e);
	if (r != ARCHIVE_OK)
		return -1;
	return 0;
}

int
vs_container_head(const struct vs_manifest *m, uint64_t raw_size, unsigned char **head, size_t *len)
{
	struct archive *a = archive_write_new();
	struct json_object *doc = NULL;
	struct head_buf h = { 0 };
	const char *text;
	int r = -1;

	if (!a)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	vs_error_clear();
	doc = vs_manifest_to_json(m);
	text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	/* No blocking: every header reaches head_cb as soon as it is
	 * written, and nothing is held back for a last block. */
	if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(a, 0) != ARCHIVE_OK ||
	    archive_write_open2(a, &h, NULL, head_cb, NULL, NULL) != ARCHIVE_OK ||
	    add_member(a, VS_CONTAINER_MANIFEST, m->created, strlen(text) + 1) < 0 ||
	    archive_write_data(a, text, strlen(text)) < 0 || archive_write_data(a, "\n", 1) < 0 ||
	    add_member(a, VS_CONTAINER_STATE, m->created, raw_size) < 0) {
		const char *why = archive_error_string(a);
		if (!vs_error_get()->exit_code) /* else add_member said it */
			vs_error_set(VS_EXIT_FAIL, archive_errno(a) == ENOMEM ? ENOMEM : 0,
				     "writing the archive headers: %s", why ? why : "libarchive gave no reason");
		goto out;
	}
	/* The header of a member is whole blocks; anything else would mean
	 * libarchive held bytes back. */
	if (h.len % VS_CONTAINER_BLOCK) {
		vs_error_set(VS_EXIT_FAIL, 0, "writing the archive headers: %zu bytes, not whole blocks", h.len);
		goto out;
	}
	*head = h.p;
	*len = h.len;
	h.p = NULL;
	r = 0;
out:
	/* Closing would pad the state's missing data with zeros and add the
	 * end blocks: head_cb refuses every write from here on, so the close
	 * costs nothing.  (Not archive_write_fail(): then libarchive 3.6
	 * leaks its client state.) */
	h.done = true;
	archive_write_close(a);
	archive_write_free(a);
	json_object_put(doc);
	free(h.p);
	return r;
}

size_t
vs_container_tail_size(uint64_t raw_size)
{
	/* the data padded to a block, then two zero blocks (end of archive) */
	return (VS_CONTAINER_BLOCK - raw_size % VS_CONTAINER_BLOCK) % VS_CONTAINER_BLOCK + 2 * VS_CONTAINER_BLOCK;
}

/* --- reading --- */

bool
vs_is_zstd(const unsigned char *p, size_t n)
{
	if (n < 4)
		return false;
	/* a frame, or a skippable frame: 0x184d2a50 to 0x184d2a5f (RFC 8878) */
	return vs_get_le32(p) == 0xfd2fb528u || (vs_get_le32(p) & 0xfffffff0u) == 0x184d2a50u;
}

/* What libarchive reads when there is a zstd layer: up to this many
 * decoded bytes at a time. */
#define ZBUF_SIZE 65536

/* zstd is decoded here rather than by libarchive's filter, which can
 * neither cap the window nor use a decoder it did not make.  A frame
 * may end and the next begin anywhere; the input may only end between
 * frames. */
static la_ssize_t
zstd_read(struct archive *a, struct vs_container_reader *r, const void **out)
{
	for (;;) {
		ZSTD_outBuffer o = { r->zbuf, ZBUF_SIZE, 0 };
		const unsigned char *p = NULL;
		ssize_t n;

		if (r->zin.pos < r->zin.size || r->out_full) {
			size_t left = ZSTD_decompressStream(r->zd, &o, &r->zin);
			if (ZSTD_getErrorCode(left) == ZSTD_error_frameParameter_windowTooLarge) {
				archive_set_error(a, EILSEQ, "zstd: a frame asks for a window over %u MiB, the most read here",
						  1u << (VS_ZSTD_WINDOW_LOG_MAX - 20));
				return -1;
			}
			if (ZSTD_isError(left)) {
				archive_set_error(a, EILSEQ, "zstd: %s", ZSTD_getErrorName(left));
				return -1;
			}
			r->in_frame = left != 0;
			r->out_full = o.pos == o.size;
			if (o.pos) {
				*out = r->zbuf;
				return o.pos;
			}
			/* libzstd either consumes input or fails
			 * (noForwardProgress): this loop ends */
			if (r->zin.pos < r->zin.size)
				continue;
		}
		n = vs_source_next(r->base, &p);
		if (n < 0) {
			archive_set_error(a, EIO, "%s", vs_error_get()->msg);
			return -1;
		}
		if (n == 0) {
			if (r->in_frame) {
				archive_set_error(a, EILSEQ, "zstd: the input ends inside a frame (cut short?)");
				return -1;
			}
			/* libarchive would call it an unrecognized format; our
			 * own error passes through it (archive_error) */
			if (r->handed == 0) {
				vs_error_set(VS_EXIT_DATAERR, 0,
					"%s: the zstd data decodes to nothing (expected a state stream or a .vhsnap "
					"archive inside)",
					r->base->name);
				archive_set_error(a, EIO, "%s", vs_error_get()->msg);
				return -1;
			}
			return 0;
		}
		r->zin = (ZSTD_inBuffer){ p, (size_t)n, 0 };
	}
}

/* Keep the end of the buffer libarchive had until now, before it is
 * reused (vs_container_finish may need its last bytes): into a ring, so
 * that each call copies at most what it was handed. */
static void
keep_tail(struct vs_container_reader *r)
{
	size_t n = r->last_len < VS_CONTAINER_TAIL ? r->last_len : VS_CONTAINER_TAIL, first;
	const unsigned char *p;

	if (n == 0)
		return;
	p = r->last + r->last_len - n;
	first = n < VS_CONTAINER_TAIL - r->tail_end ? n : VS_CONTAINER_TAIL - r->tail_end;
	memcpy(r->tail + r->tail_end, p, first);
	memcpy(r->tail, p + first, n - first);
	r->tail_end = (r->tail_end + n) % VS_CONTAINER_TAIL;
	r->tail_len = r->tail_len + n < VS_CONTAINER_TAIL ? r->tail_len + n : VS_CONTAINER_TAIL;
	r->last_len = 0;
}

/* Without zstd, libarchive reads the base source's own buffer: no copy,
 * and no buffer of our own per archive. */
static la_ssize_t
read_cb(struct archive *a, void *ctx, const void **out)
{
	struct vs_container_reader *r = ctx;
	const unsigned char *p = NULL;
	la_ssize_t n;

	keep_tail(r);
	if (r->zd) {
		n = zstd_read(a, r, out);
	} else {
		n = vs_source_next(r->base, &p);
		if (n < 0)
			archive_set_error(a, EIO, "%s", vs_error_get()->msg);
		*out = p;
	}
	if (n > 0) {
		r->last = *out;
		r->last_len = (size_t)n;
		r->handed += (uint64_t)n;
	}
	return n;
}

static int
archive_error(struct vs_container_reader *r, const char *what)
{
	const char *msg = archive_error_string(r->ar);
	/* our own read error travels through libarchive; keep its class */
	if (archive_errno(r->ar) == EIO && vs_error_get()->exit_code)
		return -1;
	return vs_fail(VS_EXIT_DATAERR, 0, "%s: %s %s: %s", r->base->name, r->is_tar ? "archive" : "zstd stream",
		       what, msg ? msg : "unreadable");
}

/* The ring's last k bytes (k <= tail_len), in order: first bytes at the
 * returned pointer, then k - first at r->tail (the ring wraps). */
static const unsigned char *
ring_last(const struct vs_container_reader *r, size_t k, size_t *first)
{
	size_t start = (r->tail_end + VS_CONTAINER_TAIL - k) % VS_CONTAINER_TAIL;

	*first = k < VS_CONTAINER_TAIL - start ? k : VS_CONTAINER_TAIL - start;
	return r->tail + start;
}

/* Every byte libarchive was handed, into buf, when there are some, they
 * fit in cap and all are still held (in the ring and the latest buffer);
 * else 0. */
static size_t
handed_all(const struct vs_container_reader *r, unsigned char *buf, size_t cap)
{
	const unsigned char *p;
	size_t first;

	if (r->handed == 0 || r->handed > cap || r->tail_len + r->last_len != r->handed)
		return 0;
	p = ring_last(r, r->tail_len, &first);
	memcpy(buf, p, first);
	memcpy(buf + first, r->tail, r->tail_len - first);
	memcpy(buf + r->tail_len, r->last, r->last_len);
	return (size_t)r->handed;
}

/* libarchive takes a tar cut inside its first header for its raw format,
 * and the stream parser would then report a nonsense chunk length: say
 * what it is. */
static int
cut_first_header(struct vs_container_reader *r)
{
	unsigned char head[512];
	size_t n = handed_all(r, head, sizeof head);

	/* a whole header that libarchive refused is not a cut one */
	if (n < 262 || n == sizeof head || memcmp(head + 257, "ustar", 5) != 0)
		return 0;
	return vs_fail(VS_EXIT_DATAERR, 0,
		       "%s: the archive ends inside its first header, at byte %zu%s (a tar header is 512 bytes: "
		       "the file is cut short)",
		       r->base->name, n, r->compressed ? " of the decoded tar" : "");
}

/* The format has exactly two members, both plain files with fixed names.
 * Nothing is ever extracted by name, but a link, a device or a directory
 * in their place is refused too: the format has none. */
static int
member_check(struct vs_container_reader *r, struct archive_entry *e, const char *which, const char *want)
{
	const char *name = archive_entry_pathname(e);

	if (!name || strcmp(name, want) != 0)
		return vs_fail(VS_EXIT_DATAERR, 0, "%s: the archive's %s member is '%s', expected %s", r->base->name,
			       which, name ? name : "(no name)", want);
	if (archive_entry_hardlink(e))
		return vs_fail(VS_EXIT_DATAERR, 0, "%s: %s is a hard link to '%s', expected a plain file",
			       r->base->name, want, archive_entry_hardlink(e));
	if (archive_entry_filetype(e) != AE_IFREG)
		return vs_fail(VS_EXIT_DATAERR, 0, "%s: %s is a %s, expected a plain file", r->base->name, want,
			       archive_entry_filetype(e) == AE_IFLNK  ? "symlink"
			       : archive_entry_filetype(e) == AE_IFDIR ? "directory"
								       : "special file");
	if (!archive_entry_size_is_set(e))
		return vs_fail(VS_EXIT_DATAERR, 0, "%s: %s has no size", r->base->name, want);
	return 0;
}

/* A zstd layer gets a decoder: dctx if given, else one of our own. */
static int
zstd_setup(struct vs_container_reader *r, ZSTD_DCtx *dctx)
{
	const unsigned char *p;
	ssize_t n = vs_source_peek(r->base, 4, &p);

	if (n < 0)
		return -1;
	if (!vs_is_zstd(p, n))
		return 0;
	r->compressed = true;
	r->zd_lent = dctx != NULL;
	r->zd = dctx ? dctx : ZSTD_createDCtx();
	r->zbuf = malloc(ZBUF_SIZE);
	if (!r->zd || !r->zbuf)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	/* a lent decoder may have been left mid-frame by another container */
	if (ZSTD_isError(ZSTD_DCtx_reset(r->zd, ZSTD_reset_session_and_parameters)) ||
	    ZSTD_isError(ZSTD_DCtx_setParameter(r->zd, ZSTD_d_windowLogMax, VS_ZSTD_WINDOW_LOG_MAX)))
		return vs_fail(VS_EXIT_FAIL, 0, "zstd: the decoder cannot be set up");
	return 0;
}

int
vs_container_open(struct vs_container_reader *r, struct vs_source *base)
{
	return vs_container_open_with(r, base, NULL);
}

int
vs_container_open_with(struct vs_container_reader *r, struct vs_source *base, ZSTD_DCtx *dctx)
{
	struct archive_entry *e;
	char *text = NULL;
	int64_t size;

	memset(r, 0, sizeof *r);
	r->base = base;
	if (zstd_setup(r, dctx) < 0)
		return -1;
	r->ar = archive_read_new();
	if (!r->ar)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	/* No filter: zstd is ours (zstd_read), and libarchive would run
	 * external programs for some others, on untrusted input. */
	archive_read_support_format_tar(r->ar);
	archive_read_support_format_raw(r->ar);
	if (archive_read_open(r->ar, r, NULL, read_cb, NULL) != ARCHIVE_OK)
		return archive_error(r, "cannot be opened");
	switch (archive_read_next_header(r->ar, &e)) {
	case ARCHIVE_OK:
		break;
	case ARCHIVE_EOF:
		return vs_fail(VS_EXIT_DATAERR, 0, "%s: the archive holds no member (expected %s, then %s)", base->name,
			       VS_CONTAINER_MANIFEST, VS_CONTAINER_STATE);
	default:
		return archive_error(r, "has no readable first member");
	}
	r->is_tar = archive_format(r->ar) != ARCHIVE_FORMAT_RAW;
	if (!r->is_tar)
		return cut_first_header(r);

	if (member_check(r, e, "first", VS_CONTAINER_MANIFEST) < 0)
		return -1;
	size = archive_entry_size(e);
	if (size <= 0 || size > VS_MANIFEST_MAX)
		return vs_fail(VS_EXIT_DATAERR, 0, "%s: %s has size %" PRId64 ", expected 1 byte to 1 MiB",
			       base->name, VS_CONTAINER_MANIFEST, size);
	text = malloc(size);
	if (!text)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	if (archive_read_data(r->ar, text, size) != size) {
		free(text);
		return archive_error(r, "manifest cannot be read");
	}
	if (vs_manifest_parse(&r->manifest, text, size, base->name) < 0) {
		free(text);
		return -1;
	}
	free(text);
	r->have_manifest = true;
	switch (archive_read_next_header(r->ar, &e)) {
	case ARCHIVE_OK:
		break;
	case ARCHIVE_EOF:
		return vs_fail(VS_EXIT_DATAERR, 0, "%s: the archive ends after %s: its %s member is missing (the file is cut short?)",
			       base->name, VS_CONTAINER_MANIFEST, VS_CONTAINER_STATE);
	default:
		return archive_error(r, "has no state member");
	}
	if (member_check(r, e, "second", VS_CONTAINER_STATE) < 0)
		return -1;
	r->state_size = archive_entry_size(e);
	return 0;
}

ssize_t
vs_container_read(struct vs_source *s, void *buf, size_t len)
{
	struct vs_container_reader *r = s->ctx;
	la_ssize_t n = archive_read_data(r->ar, buf, len);

	if (n < 0)
		return archive_error(r, "is corrupt");
	return n;
}

/* Where p[0..n) first holds a byte other than zero, or n.  Compared a
 * block at a time: the bytes are looked at one by one only in a block
 * known to hold one, on the way to an error. */
static size_t
nonzero_at(const unsigned char *p, size_t n)
{
	static const unsigned char zero[4096];
	size_t at, k;

	for (at = 0; at < n; at += k) {
		k = n - at < sizeof zero ? n - at : sizeof zero;
		if (memcmp(p + at, zero, k) != 0)
			break;
	}
	if (at >= n)
		return n;
	while (p[at] == 0)
		at++;
	return at;
}

/* The zero padding taken after a tar's end: a whole record of GNU tar's
 * largest customary blocking factor (-b 2048); more is no tar's, and a
 * zstd layer can turn a small file into terabytes of zeros. */
#define PADDING_MAX (1u << 20)

static int
padding_check(struct vs_container_reader *r, const unsigned char *p, size_t n, uint64_t end, uint64_t *at)
{
	size_t i = nonzero_at(p, n);

	if (i < n)
		return vs_fail(VS_EXIT_DATAERR, 0,
			       "%s: data after the archive's end, at byte %" PRIu64 "%s (expected only zero padding: "
			       "one archive per file)",
			       r->base->name, *at + i, r->compressed ? " of the decoded tar" : "");
	*at += n;
	if (*at - end > PADDING_MAX)
		return vs_fail(VS_EXIT_DATAERR, 0,
			       "%s: more than %u MiB of zeros after the archive's end (a tar pads to its record size, "
			       "10 KiB by default)",
			       r->base->name, PADDING_MAX >> 20);
	return 0;
}

/* libarchive stops at the tar's end-of-archive blocks.  What follows may
 * be zero padding (tar writes whole records, 10 KiB by default) and
 * nothing else, or two archives one after the other, or bytes appended
 * to one, would read as the first alone.  libarchive read ahead of its
 * end: those bytes are the last it was handed (read_cb keeps them); the
 * rest is read here. */
static int
after_end(struct vs_container_reader *r)
{
	int64_t pos = archive_filter_bytes(r->ar, 0);
	uint64_t end = (uint64_t)pos, at = end, held;
	size_t in_last;
	const void *p;
	la_ssize_t n;

	if (pos < 0 || end > r->handed || r->handed - end > r->last_len + r->tail_len)
		return vs_fail(VS_EXIT_FAIL, 0, "%s: the bytes after the archive's end cannot be found to check",
			       r->base->name);
	held = r->handed - end;
	in_last = held < r->last_len ? held : r->last_len;
	if (held > in_last) {
		/* the last held - in_last bytes of the ring */
		size_t k = held - in_last, first;
		const unsigned char *p0 = ring_last(r, k, &first);
		if (padding_check(r, p0, first, end, &at) < 0 || padding_check(r, r->tail, k - first, end, &at) < 0)
			return -1;
	}
	if (in_last && padding_check(r, r->last + r->last_len - in_last, in_last, end, &at) < 0)
		return -1;
	while ((n = read_cb(r->ar, r, &p)) > 0)
		if (padding_check(r, p, (size_t)n, end, &at) < 0)
			return -1;
	return n < 0 ? archive_error(r, "is corrupt after its end") : 0;
}

int
vs_container_finish(struct vs_container_reader *r)
{
	struct archive_entry *e;
	int rc;

	if (!r->is_tar) {
		/* raw: the state must be all there is */
		unsigned char b;
		la_ssize_t n = archive_read_data(r->ar, &b, 1);
		if (n < 0)
			return archive_error(r, "is corrupt");
		if (n > 0)
			return vs_fail(VS_EXIT_DATAERR, 0, "%s: data after the state stream", r->base->name);
		return 0;
	}
	rc = archive_read_next_header(r->ar, &e);
	if (rc == ARCHIVE_EOF)
		return after_end(r);
	if (rc != ARCHIVE_OK)
		return archive_error(r, "is corrupt after the state member");
	return vs_fail(VS_EXIT_DATAERR, 0, "%s: unexpected archive member '%s' after %s", r->base->name,
		       archive_entry_pathname(e), VS_CONTAINER_STATE);
}

void
vs_container_close(struct vs_container_reader *r)
{
	if (r->ar)
		archive_read_free(r->ar);
	r->ar = NULL;
	if (!r->zd_lent)
		ZSTD_freeDCtx(r->zd);
	r->zd = NULL;
	free(r->zbuf);
	r->zbuf = NULL;
	if (r->have_manifest)
		vs_manifest_free(&r->manifest);
	r->have_manifest = false;
}
