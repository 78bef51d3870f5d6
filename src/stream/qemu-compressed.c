/* Compressed libvirt save images (formats 1 gzip, 2 bzip2, 3 xz, 4 lzop,
 * 5 zstd): QEMU's stream behind the header, compressed as a whole, which
 * cannot be read by position.  This file owns the sequential side, through
 * libarchive's filters (raw format, no external program):
 *   - reading: the stream is decompressed once into a spool file in which
 *     every RAM page is a hole (the RAM records are parsed as they stream
 *     by, the pages skipped), so neither memory nor disk grows with the
 *     guest's RAM, and qemu-file.c's positional walker then reads the
 *     spool like any file (offsets are the decompressed stream's);
 *   - inject: a second decompression copies the stream to a compressor of
 *     the same kind, the state and the description replaced on the way.
 * The layouts: doc/migration-files.md. */
#include <config.h>

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "bytes.h"
#include "error.h"
#include "io.h"
#include "qemu-compressed.h"
#include "qemu-walk.h" /* the wire constants */
#include "source.h"

#define IN_BUF (256u * 1024)
#define OUT_BUF (256u * 1024)
/* device sections + description after the RAM: held in the spool, but
 * bounded (real ones are a few MiB) */
#define TAIL_MAX (1ull << 30)
#define MAX_BLOCKS 4096


static int
pwrite_all(int fd, const void *buf, size_t len, uint64_t off, const char *name)
{
	while (len > 0) {
		ssize_t k = pwrite(fd, buf, len, (off_t)off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return vs_fail(VS_EXIT_FAIL, k < 0 ? errno : ENOSPC, "%s: write", name);
		buf = (const char *)buf + k;
		len -= (size_t)k;
		off += (uint64_t)k;
	}
	return 0;
}

struct dec {
	struct archive *a;
	int fd;
	uint64_t in_off; /* next compressed byte (pread) */
	const char *name, *filter;
	unsigned char *in, *buf;
	size_t have, at; /* decompressed bytes in buf, and the next one */
	uint64_t pos;	 /* decompressed bytes consumed */
	bool eof;
	/* libarchive's gzip filter skips the member's trailer unchecked: the
	 * CRC-32 and length of what it gave are checked here at the end */
	bool gzip;
	uLong crc;
	uint64_t total;
};

/* The image's last 8 bytes are its gzip trailer (CRC-32, length mod
 * 2^32, little-endian): libvirt and gzip write one member. */
static int
gzip_trailer_check(struct dec *d)
{
	unsigned char t[8];
	struct stat st;

	if (fstat(d->fd, &st) < 0)
		return vs_fail(VS_EXIT_FAIL, errno, "%s", d->name);
	if ((uint64_t)st.st_size < 8 || vs_pread_all(d->fd, t, 8, (uint64_t)st.st_size - 8, d->name) < 0)
		return vs_fail(VS_EXIT_DATAERR, 0, "%s: malformed libvirt save image: no gzip trailer", d->name);
	if (vs_get_le32(t) != (uint32_t)d->crc || vs_get_le32(t + 4) != (uint32_t)d->total)
		return vs_fail(VS_EXIT_DATAERR, 0,
			       "%s: malformed libvirt save image: its gzip stream is corrupt: the %" PRIu64
			       " bytes it gives have CRC-32 %08lx, its trailer says %08" PRIx32 " for %" PRIu32 " bytes",
			       d->name, d->total, d->crc, vs_get_le32(t), vs_get_le32(t + 4));
	return 0;
}

/* The next decompressed bytes into buf: their count, 0 at the end, -1 (error set) */
static la_ssize_t
dec_fill(struct dec *d)
{
	la_ssize_t got = archive_read_data(d->a, d->buf, OUT_BUF);

	if (got < 0)
		return vs_fail(VS_EXIT_DATAERR, 0,
			       "%s: malformed libvirt save image: its %s stream is corrupt after %" PRIu64 " bytes: %s",
			       d->name, d->filter, d->pos, archive_error_string(d->a));
	if (d->gzip && got > 0) {
		d->crc = crc32(d->crc, d->buf, (uInt)got);
		d->total += (uint64_t)got;
	}
	if (d->gzip && got == 0 && gzip_trailer_check(d) < 0)
		return -1;
	return got;
}

static int
filter_for(uint32_t format, const char **name, int *code)
{
	switch (format) {
	case VS_LIBVIRT_GZIP: *name = "gzip"; *code = ARCHIVE_FILTER_GZIP; return 0;
	case VS_LIBVIRT_BZIP2: *name = "bzip2"; *code = ARCHIVE_FILTER_BZIP2; return 0;
	case VS_LIBVIRT_XZ: *name = "xz"; *code = ARCHIVE_FILTER_XZ; return 0;
	case VS_LIBVIRT_LZOP: *name = "lzop"; *code = ARCHIVE_FILTER_LZOP; return 0;
	case VS_LIBVIRT_ZSTD: *name = "zstd"; *code = ARCHIVE_FILTER_ZSTD; return 0;
	default: return -1;
	}
}

/* libarchive answers ARCHIVE_WARN when it would run an external program
 * (lzop without liblzo2): that is refused, never run. */
static int
add_read_filter(struct archive *a, uint32_t format)
{
	switch (format) {
	case VS_LIBVIRT_GZIP: return archive_read_support_filter_gzip(a);
	case VS_LIBVIRT_BZIP2: return archive_read_support_filter_bzip2(a);
	case VS_LIBVIRT_XZ: return archive_read_support_filter_xz(a);
	case VS_LIBVIRT_LZOP: return archive_read_support_filter_lzop(a);
	case VS_LIBVIRT_ZSTD: return archive_read_support_filter_zstd(a);
	default: return ARCHIVE_FATAL;
	}
}

static int
add_write_filter(struct archive *a, uint32_t format)
{
	switch (format) {
	case VS_LIBVIRT_GZIP: return archive_write_add_filter_gzip(a);
	case VS_LIBVIRT_BZIP2: return archive_write_add_filter_bzip2(a);
	case VS_LIBVIRT_XZ: return archive_write_add_filter_xz(a);
	case VS_LIBVIRT_LZOP: return archive_write_add_filter_lzop(a);
	case VS_LIBVIRT_ZSTD: return archive_write_add_filter_zstd(a);
	default: return ARCHIVE_FATAL;
	}
}

static int
not_in_build(const char *name, uint32_t format)
{
	const char *f = vs_libvirt_format_name(format);

	return vs_fail(VS_EXIT_DATAERR, 0,
		       "%s: a libvirt save image compressed with %s (format %" PRIu32
		       "): not supported by this build (its libarchive would need an external %s program, and "
		       "vhost-state runs none)",
		       name, f ? f : "?", format, f ? f : "?");
}

static ssize_t
read_cb(struct archive *a, void *ctx, const void **out)
{
	struct dec *d = ctx;
	ssize_t k;

	do
		k = pread(d->fd, d->in, IN_BUF, (off_t)d->in_off);
	while (k < 0 && errno == EINTR);
	if (k < 0) {
		archive_set_error(a, errno, "read");
		return -1;
	}
	d->in_off += (uint64_t)k;
	*out = d->in;
	return k;
}

static void
dec_close(struct dec *d)
{
	if (d->a)
		archive_read_free(d->a);
	free(d->in);
	free(d->buf);
	memset(d, 0, sizeof *d);
}

static int
dec_open(struct dec *d, int fd, const struct vs_libvirt_image *img, const char *name)
{
	struct archive_entry *e;
	int code, rc;

	memset(d, 0, sizeof *d);
	d->fd = fd;
	d->in_off = img->stream_offset;
	d->name = name;
	d->gzip = img->format == VS_LIBVIRT_GZIP;
	d->crc = crc32(0, NULL, 0);
	if (filter_for(img->format, &d->filter, &code) < 0)
		return vs_fail(VS_EXIT_DATAERR, 0, "%s: format %" PRIu32 " is not compressed", name, img->format);
	d->in = malloc(IN_BUF);
	d->buf = malloc(OUT_BUF);
	d->a = archive_read_new();
	if (!d->in || !d->buf || !d->a) {
		dec_close(d);
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	}
	rc = add_read_filter(d->a, img->format);
	if (rc != ARCHIVE_OK) {
		dec_close(d);
		return not_in_build(name, img->format);
	}
	if (archive_read_support_format_raw(d->a) != ARCHIVE_OK ||
	    archive_read_open(d->a, d, NULL, read_cb, NULL) != ARCHIVE_OK ||
	    archive_read_next_header(d->a, &e) != ARCHIVE_OK) {
		vs_error_set(VS_EXIT_DATAERR, 0, "%s: malformed libvirt save image: its %s stream does not open: %s", name,
			     d->filter, archive_error_string(d->a) ? archive_error_string(d->a) : "no data");
		dec_close(d);
		return -1;
	}
	/* the raw reader takes uncompressed data too: the filter must be there */
	if (archive_filter_count(d->a) < 2 || archive_filter_code(d->a, 0) != code) {
		vs_error_set(VS_EXIT_DATAERR, 0,
			     "%s: malformed libvirt save image: its header says format %" PRIu32
			     " (%s), but the stream after it is not %s-compressed",
			     name, img->format, d->filter, d->filter);
		dec_close(d);
		return -1;
	}
	return 0;
}

/* n decompressed bytes into dst (NULL: dropped); short: the stream ended. */
static int
dec_read(struct dec *d, void *dst, uint64_t n, const char *what)
{
	while (n > 0) {
		size_t k;
		if (d->at == d->have) {
			la_ssize_t got = d->eof ? 0 : dec_fill(d);
			if (got < 0)
				return -1;
			if (got == 0) {
				d->eof = true;
				return vs_fail(VS_EXIT_DATAERR, 0,
					       "%s: malformed migration file at offset %" PRIu64
					       " of the decompressed %s stream: it ends there, inside %s",
					       d->name, d->pos, d->filter, what);
			}
			d->have = (size_t)got;
			d->at = 0;
		}
		k = d->have - d->at < n ? d->have - d->at : (size_t)n;
		if (dst) {
			memcpy(dst, d->buf + d->at, k);
			dst = (char *)dst + k;
		}
		d->at += k;
		d->pos += k;
		n -= k;
	}
	return 0;
}

/* 1 at the end of the decompressed stream, 0 if more, -1 on error */
static int
dec_at_end(struct dec *d)
{
	if (d->at < d->have)
		return 0;
	if (!d->eof) {
		la_ssize_t got = dec_fill(d);
		if (got < 0)
			return -1;
		d->have = (size_t)got;
		d->at = 0;
		d->eof = got == 0;
	}
	return d->eof;
}

/* --- decompress into a spool ------------------------------------------------ */

struct seq {
	struct dec d;
	const char *arch;
	int spool;
	uint64_t page_size;
	bool ignore_shared;
	/* bytes for the spool, written together: records are a few bytes
	 * each, and there are millions in a large guest's stream */
	unsigned char wbuf[64 * 1024];
	size_t wlen;
	uint64_t wpos; /* the spool offset of wbuf[0] */
};

static int
flush(struct seq *s)
{
	if (s->wlen && pwrite_all(s->spool, s->wbuf, s->wlen, s->wpos, "spool file") < 0)
		return -1;
	s->wpos += s->wlen;
	s->wlen = 0;
	return 0;
}

/* The next byte, left in the stream. */
static int
peek(struct seq *s, uint8_t *t, const char *what)
{
	if (dec_read(&s->d, t, 1, what) < 0)
		return -1;
	s->d.pos--;
	s->d.at--;
	return 0;
}

static int seq_bad(struct seq *s, uint64_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
seq_bad(struct seq *s, uint64_t at, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return vs_fail(VS_EXIT_DATAERR, 0,
		       "%s: malformed migration file at offset %" PRIu64 " of the decompressed %s stream: %s", s->d.name,
		       at, s->d.filter, msg);
}

/* n bytes (at most GET_PIECE) to the spool at the same offset, and into
 * dst if not NULL */
#define GET_PIECE 512u
static int
get_piece(struct seq *s, void *dst, size_t n, const char *what)
{
	unsigned char tmp[GET_PIECE];
	uint64_t at = s->d.pos;

	if (dec_read(&s->d, tmp, n, what) < 0)
		return -1;
	/* after a hole (skipped page data) the bytes go further on */
	if (at != s->wpos + s->wlen || s->wlen + n > sizeof s->wbuf) {
		if (flush(s) < 0)
			return -1;
		s->wpos = at;
	}
	memcpy(s->wbuf + s->wlen, tmp, n);
	s->wlen += n;
	if (dst)
		memcpy(dst, tmp, n);
	return 0;
}

/* n bytes, any n: a command's data is up to 64 KiB (be16 length) */
static int
get(struct seq *s, void *dst, size_t n, const char *what)
{
	unsigned char *out = dst;

	while (n > 0) {
		size_t k = n < GET_PIECE ? n : GET_PIECE;
		if (get_piece(s, out, k, what) < 0)
			return -1;
		if (out)
			out += k;
		n -= k;
	}
	return 0;
}

static int
get_be32(struct seq *s, uint32_t *v, const char *what)
{
	unsigned char b[4];

	if (get(s, b, 4, what) < 0)
		return -1;
	*v = vs_get_be32(b);
	return 0;
}

static int
get_be64(struct seq *s, uint64_t *v, const char *what)
{
	unsigned char b[8];

	if (get(s, b, 8, what) < 0)
		return -1;
	*v = (uint64_t)vs_get_be32(b) << 32 | vs_get_be32(b + 4);
	return 0;
}

static int
get_name(struct seq *s, char out[256], const char *what)
{
	uint8_t len;

	if (get(s, &len, 1, what) < 0 || get(s, out, len, what) < 0)
		return -1;
	out[len] = '\0';
	return 0;
}

/* The configuration section: the machine type, then subsections whose
 * layouts are known (migration/savevm.c vmstate_configuration). */
static int
seq_config(struct seq *s)
{
	unsigned char b[256];
	char name[256];
	uint32_t len, v, count, bits;
	uint8_t t;

	if (get_be32(s, &len, "the machine type length") < 0)
		return -1;
	if (len > 255)
		return seq_bad(s, s->d.pos - 4, "a %" PRIu32 "-byte machine type name", len);
	if (get(s, b, len, "the machine type") < 0)
		return -1;
	for (;;) {
		uint64_t at = s->d.pos;
		if (peek(s, &t, "the section after the configuration") < 0)
			return -1;
		if (t != QEMU_VM_SUBSECTION)
			return 0;
		if (get(s, NULL, 1, "a subsection") < 0 || get_name(s, name, "a subsection name") < 0 || get_be32(s, &v, "a subsection version") < 0)
			return -1;
		if (strcmp(name, "configuration/capabilities") == 0) {
			if (get_be32(s, &count, "the capability count") < 0)
				return -1;
			for (uint32_t i = 0; i < count; i++) {
				if (get_name(s, name, "a capability name") < 0)
					return -1;
				if (strcmp(name, "x-ignore-shared") == 0)
					s->ignore_shared = true;
				else if (strcmp(name, "mapped-ram") == 0)
					return seq_bad(s, at, "a mapped-ram stream in a compressed image (libvirt writes "
							      "mapped-ram only as format 6, sparse)");
			}
		} else if (strcmp(name, "configuration/target-page-bits") == 0) {
			if (get_be32(s, &bits, "the target page bits") < 0)
				return -1;
			if (bits < 9 || bits > 20)
				return seq_bad(s, at, "target page bits %" PRIu32, bits);
			s->page_size = 1ull << bits;
		} else if (strcmp(name, "configuration/uuid") == 0) {
			if (get(s, NULL, 16, "the VM's UUID") < 0)
				return -1;
		} else {
			return vs_fail(VS_EXIT_DATAERR, 0,
				       "%s: not supported (at offset %" PRIu64
				       " of the decompressed stream): configuration subsection '%s' (its length is "
				       "only in the VM description, at the end of the stream)",
				       s->d.name, at, name);
		}
	}
}

/* RAM records up to EOS: page contents become holes in the spool. */
static int
seq_ram(struct seq *s)
{
	uint64_t mask = s->page_size - 1;
	char name[256];

	for (;;) {
		uint64_t at = s->d.pos, a, flags, total, len;
		unsigned char x[3];
		if (get_be64(s, &a, "a RAM record") < 0)
			return -1;
		flags = a & mask & ~(uint64_t)RAM_SAVE_FLAG_CONTINUE;
		switch (flags) {
		case RAM_SAVE_FLAG_MEM_SIZE:
			total = a & ~mask;
			for (unsigned n = 0; total > 0; n++) {
				if (n == MAX_BLOCKS)
					return seq_bad(s, at, "more than %u RAM blocks", MAX_BLOCKS);
				if (get_name(s, name, "a RAM block name") < 0 || get_be64(s, &len, "a RAM block length") < 0)
					return -1;
				if (len > total || len == 0)
					return seq_bad(s, at, "RAM block '%s' of %" PRIu64 " bytes (%" PRIu64 " announced)", name,
						       len, total);
				total -= len;
				if (s->ignore_shared && get(s, NULL, 8, "a block address") < 0)
					return -1;
			}
			break;
		case RAM_SAVE_FLAG_ZERO:
		case RAM_SAVE_FLAG_PAGE:
		case RAM_SAVE_FLAG_XBZRLE:
			if (!(a & RAM_SAVE_FLAG_CONTINUE) && get_name(s, name, "a RAM block name") < 0)
				return -1;
			if (flags == RAM_SAVE_FLAG_ZERO) {
				if (get(s, NULL, 1, "a zero page's fill byte") < 0)
					return -1;
			} else if (flags == RAM_SAVE_FLAG_PAGE) {
				if (dec_read(&s->d, NULL, s->page_size, "a RAM page") < 0)
					return -1;
			} else {
				if (get(s, x, 3, "an XBZRLE page header") < 0)
					return -1;
				len = (uint64_t)x[1] << 8 | x[2];
				if (len > s->page_size)
					return seq_bad(s, at, "an XBZRLE page of %" PRIu64 " bytes", len);
				if (dec_read(&s->d, NULL, len, "an XBZRLE page") < 0)
					return -1;
			}
			break;
		case RAM_SAVE_FLAG_EOS:
			return 0;
		case RAM_SAVE_FLAG_MULTIFD_FLUSH:
			break;
		default:
			return seq_bad(s, at, "a RAM record with flags 0x%" PRIx64, flags);
		}
	}
}

static int
seq_footer(struct seq *s)
{
	uint8_t t;

	if (peek(s, &t, "a section footer or the next section") < 0)
		return -1;
	if (t != QEMU_VM_SECTION_FOOTER)
		return 0;
	return get(s, NULL, 5, "a section footer");
}

/* Everything from the first device section on: copied whole. */
static int
seq_tail(struct seq *s)
{
	uint64_t from = s->d.pos;
	int end;

	if (flush(s) < 0)
		return -1;
	while ((end = dec_at_end(&s->d)) == 0) {
		size_t k = s->d.have - s->d.at;
		if (s->d.pos + k - from > TAIL_MAX)
			return vs_fail(VS_EXIT_DATAERR, 0,
				       "%s: not supported (at offset %" PRIu64
				       " of the decompressed stream): more than %llu bytes of device sections",
				       s->d.name, from, TAIL_MAX);
		if (pwrite_all(s->spool, s->d.buf + s->d.at, k, s->d.pos, "spool file") < 0)
			return -1;
		s->d.at += k;
		s->d.pos += k;
	}
	return end < 0 ? -1 : 0;
}

static int
seq_walk(struct seq *s)
{
	unsigned char head[8];
	char name[256];
	uint32_t id;
	uint8_t t;

	if (get(s, head, 8, "the stream header") < 0)
		return -1;
	if (vs_get_be32(head) != 0x5145564du || vs_get_be32(head + 4) != 3)
		return seq_bad(s, 0, "expected QEMU's magic \"QEVM\" and version 3");
	for (bool first = true;; first = false) {
		uint64_t at = s->d.pos;
		unsigned char c[4];
		uint32_t clen;
		if (get(s, &t, 1, "a section type") < 0)
			return -1;
		switch (t) {
		case QEMU_VM_CONFIGURATION:
			if (!first)
				return seq_bad(s, at, "a configuration section after other sections");
			if (seq_config(s) < 0)
				return -1;
			break;
		case QEMU_VM_COMMAND:
			if (get(s, c, 4, "a command") < 0)
				return -1;
			clen = (uint32_t)c[2] << 8 | c[3];
			if (get(s, NULL, clen, "a command's data") < 0)
				return -1;
			break;
		case QEMU_VM_SECTION_START:
			if (get_be32(s, &id, "a section id") < 0 || get_name(s, name, "a section name") < 0 ||
			    get(s, NULL, 8, "a section instance and version") < 0)
				return -1;
			if (strcmp(name, "ram") != 0)
				return seq_bad(s, at, "iterative section '%s': only the 'ram' section is understood", name);
			if (!s->page_size)
				return vs_fail(VS_EXIT_DATAERR, 0,
					       "%s: not supported: the stream does not record its page size "
					       "(configuration/target-page-bits) and the domain's architecture ('%s') does "
					       "not fix one",
					       s->d.name, s->arch[0] ? s->arch : "none given");
			if (seq_ram(s) < 0 || seq_footer(s) < 0)
				return -1;
			break;
		case QEMU_VM_SECTION_PART:
		case QEMU_VM_SECTION_END:
			if (get_be32(s, &id, "a section id") < 0 || !s->page_size || seq_ram(s) < 0 || seq_footer(s) < 0)
				return s->page_size ? -1 : seq_bad(s, at, "a ram section part before its start");
			break;
		default:
			/* a device section, EOF, or garbage: the walker of the
			 * spool says which */
			return seq_tail(s);
		}
	}
}

int
vs_qemu_compressed_spool(int fd, const struct vs_libvirt_image *img, const char *name, int *spool, uint64_t *size)
{
	struct seq s = { .spool = -1 };
	int rc;

	s.page_size = vs_libvirt_page_size(img);
	s.arch = img->arch;
	if (dec_open(&s.d, fd, img, name) < 0)
		return -1;
	s.spool = vs_spool_create("migration");
	if (s.spool < 0) {
		dec_close(&s.d);
		return -1;
	}
	rc = seq_walk(&s);
	if (rc == 0 && ftruncate(s.spool, (off_t)s.d.pos) < 0)
		rc = vs_fail(VS_EXIT_FAIL, errno, "spool file: truncate");
	*size = s.d.pos;
	dec_close(&s.d);
	if (rc < 0) {
		close(s.spool);
		return -1;
	}
	*spool = s.spool;
	return 0;
}

/* --- inject: recompress --------------------------------------------------- */

struct enc {
	int fd;
	const char *name;
};

static la_ssize_t
write_cb(struct archive *a, void *ctx, const void *buf, size_t len)
{
	struct enc *e = ctx;

	if (vs_write_all(e->fd, buf, len, e->name, -1) < 0) {
		archive_set_error(a, EIO, "%s", vs_error_get()->msg);
		return -1;
	}
	return (la_ssize_t)len;
}

static int
put(struct archive *w, const void *buf, size_t len, const char *name)
{
	while (len > 0) {
		la_ssize_t k = archive_write_data(w, buf, len);
		if (k <= 0)
			return vs_fail(VS_EXIT_FAIL, 0, "%s: compressing: %s", name, archive_error_string(w));
		buf = (const char *)buf + k;
		len -= (size_t)k;
	}
	return 0;
}

/* n bytes of the decompressed input to the compressor */
static int
pass(struct dec *d, struct archive *w, uint64_t n, const char *name)
{
	while (n > 0) {
		int end = d->at == d->have ? dec_at_end(d) : 0;
		if (end < 0)
			return -1;
		if (end)
			return vs_fail(VS_EXIT_FAIL, 0, "%s: the file changed while it was read", d->name);
		size_t k = d->have - d->at < n ? d->have - d->at : (size_t)n;
		if (put(w, d->buf + d->at, k, name) < 0)
			return -1;
		d->at += k;
		d->pos += k;
		n -= k;
	}
	return 0;
}

int
vs_qemu_compressed_inject(int fd, const struct vs_libvirt_image *img, const struct vs_qemu_state *st,
			  uint64_t desc_offset, vs_qemu_read_fn fn, void *ctx, uint64_t new_len, const char *json,
			  size_t jlen, int out_fd, const char *out_name, const char *name)
{
	struct enc e = { out_fd, out_name };
	struct archive *w = NULL;
	struct archive_entry *ent = NULL;
	struct dec d;
	unsigned char *buf = NULL, head[5];
	uint64_t done = 0;
	ssize_t n;
	int rc = -1;

	/* header, XML, cookie and padding: byte for byte */
	buf = malloc(OUT_BUF);
	if (!buf)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	for (uint64_t off = 0; off < img->stream_offset;) {
		size_t k = img->stream_offset - off < OUT_BUF ? img->stream_offset - off : OUT_BUF;
		if (vs_pread_all(fd, buf, k, off, name) < 0 || vs_write_all(out_fd, buf, k, out_name, -1) < 0) {
			free(buf);
			return -1;
		}
		off += k;
	}
	if (dec_open(&d, fd, img, name) < 0) {
		free(buf);
		return -1;
	}
	w = archive_write_new();
	ent = archive_entry_new();
	if (!w || !ent) {
		vs_error_set(VS_EXIT_FAIL, ENOMEM, "out of memory");
		goto out;
	}
	if (add_write_filter(w, img->format) != ARCHIVE_OK) {
		not_in_build(name, img->format);
		goto out;
	}
	archive_entry_set_pathname(ent, "stream");
	archive_entry_set_filetype(ent, AE_IFREG);
	archive_entry_set_perm(ent, 0600);
	if (archive_write_set_format_raw(w) != ARCHIVE_OK || archive_write_set_bytes_per_block(w, 0) != ARCHIVE_OK ||
	    archive_write_open2(w, &e, NULL, write_cb, NULL, NULL) != ARCHIVE_OK ||
	    archive_write_header(w, ent) != ARCHIVE_OK) {
		vs_error_set(VS_EXIT_FAIL, 0, "%s: compressing: %s", out_name, archive_error_string(w));
		goto out;
	}
	if (pass(&d, w, st->offset, out_name) < 0 || dec_read(&d, NULL, st->length, "the old state") < 0)
		goto out;
	while ((n = fn(ctx, buf, OUT_BUF)) > 0) {
		if (put(w, buf, (size_t)n, out_name) < 0)
			goto out;
		done += (uint64_t)n;
	}
	if (n < 0)
		goto out;
	if (done != new_len) {
		vs_error_set(VS_EXIT_FAIL, 0, "the new state changed while it was read");
		goto out;
	}
	if (pass(&d, w, desc_offset - st->offset - st->length, out_name) < 0)
		goto out;
	if (json) {
		head[0] = 0x06; /* QEMU_VM_VMDESCRIPTION */
		head[1] = (unsigned char)(jlen >> 24);
		head[2] = (unsigned char)(jlen >> 16);
		head[3] = (unsigned char)(jlen >> 8);
		head[4] = (unsigned char)jlen;
		if (put(w, head, 5, out_name) < 0 || put(w, json, jlen, out_name) < 0)
			goto out;
	}
	if (archive_write_close(w) != ARCHIVE_OK) {
		vs_error_set(VS_EXIT_FAIL, 0, "%s: compressing: %s", out_name, archive_error_string(w));
		goto out;
	}
	rc = 0;
out:
	if (w)
		archive_write_free(w);
	archive_entry_free(ent);
	dec_close(&d);
	free(buf);
	return rc;
}
