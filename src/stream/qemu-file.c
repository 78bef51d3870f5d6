/* Walking a QEMU precopy migration stream (migration/savevm.c,
 * migration/vmstate.c, migration/ram.c of QEMU 8.2 .. 10), plain or
 * mapped-ram, bare or inside a libvirt save image.  The reader is
 * positional (pread), bounded by the start of the VM description (or the
 * file's end), so a length that points past it is reported, never
 * followed.  Device sections are walked by the description when the file
 * has one, else between their footers (see full_nodesc()). */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <nettle/sha2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "error.h"
#include "io.h"
#include "qemu-compressed.h"
#include "qemu-file.h"
#include "source.h"

/* migration/savevm.c */
#define QEMU_VM_EOF 0x00
#define QEMU_VM_SECTION_START 0x01
#define QEMU_VM_SECTION_PART 0x02
#define QEMU_VM_SECTION_END 0x03
#define QEMU_VM_SECTION_FULL 0x04
#define QEMU_VM_SUBSECTION 0x05
#define QEMU_VM_VMDESCRIPTION 0x06
#define QEMU_VM_CONFIGURATION 0x07
#define QEMU_VM_COMMAND 0x08
#define QEMU_VM_SECTION_FOOTER 0x7e
/* enum qemu_vm_cmd: the ones a precopy stream to a file can hold */
#define MIG_CMD_PING 2
#define MIG_CMD_POSTCOPY_ADVISE 3
#define MIG_CMD_RECV_BITMAP 9
#define MIG_CMD_SWITCHOVER_START 11

/* migration/ram.c: MappedRamHeader after each block's name and length */
#define MAPPED_RAM_HDR_VERSION 1
#define MAPPED_RAM_HDR_LEN 28

/* migration/ram.h: flags in the low bits of each record's be64 address */
#define RAM_SAVE_FLAG_ZERO 0x02
#define RAM_SAVE_FLAG_MEM_SIZE 0x04
#define RAM_SAVE_FLAG_PAGE 0x08
#define RAM_SAVE_FLAG_EOS 0x10
#define RAM_SAVE_FLAG_CONTINUE 0x20
#define RAM_SAVE_FLAG_XBZRLE 0x40
#define RAM_SAVE_FLAG_HOOK 0x80
#define RAM_SAVE_FLAG_MULTIFD_FLUSH 0x200
#define ENCODING_FLAG_XBZRLE 0x1

/* Where the states live (hw/virtio/vhost-user-fs.c, hw/net/virtio-net.c). */
#define FS_SUBSECTION "vhost-user-fs-backend"
#define FS_FIELD "back-end"
#define NET_VMSD "virtio-net"
#define NET_FIELD "virtio"
#define NET_SUBSECTION "virtio-net-device/backend"
/* what must follow the net state inside the virtio field: the generic
 * virtio subsections (vmstate_virtio), or the field's end */
#define VIRTIO_SUBSECTION_PREFIX "virtio/"

#define READ_BUF (256u * 1024)
/* Without a description, the device part (from the end of RAM to EOF) is
 * searched for footers: bound it.  Real ones are under a few MiB. */
#define NODESC_DEVICES_MAX (256u << 20)
#define MAX_SECTIONS (1u << 20)
#define MAX_RAM_BLOCKS 4096
#define MAX_DEPTH 32
#define MAX_NET_CANDIDATES 16

struct reader {
	struct vs_qemu_file *q;
	unsigned char *buf;
	uint64_t buf_off; /* file offset of buf[0] */
	size_t buf_len;
	uint64_t off; /* next byte to read */
	uint64_t end; /* nothing at or past this is read */
	const char *limit; /* what is at end, for messages */
};

struct ram_block {
	char name[256];
	uint64_t length;
};

struct walk {
	struct vs_qemu_file *q;
	struct reader r;
	size_t cap_sections, cap_states;
	struct ram_block *blocks;
	size_t nblocks;
	struct ram_block *last_block;
	int footers; /* -1 unknown, 0 none, 1 every section */
	int ram_section; /* index in sections, or -1 */
	bool ram_ended;
	bool in_config;
	bool over_max; /* a state was refused for --max-size */
	size_t cur_section;
	uint64_t visits; /* description entries looked at, see VISITS_MAX */
	/* without a description: footer candidates in the device part */
	struct footer_cand *cands;
	size_t ncands;
	bool cands_done;
	unsigned char *dev; /* the device part, [dev_off, dev_off + dev_len) */
	uint64_t dev_off, dev_len;
};

struct footer_cand {
	uint32_t id;
	uint64_t pos;
};

/* Fields of size 0 take no file bytes, so a crafted description with many
 * of them, met by many small sections, could make the walk quadratic.
 * Real files need a few million visits at most. */
#define VISITS_MAX (64ull << 20)
/* Values (numbers, strings, objects...) in a VM description: a large
 * VM's has some tens of thousands. */
#define DESC_VALUES_MAX (1u << 20)

static int bad(struct reader *r, uint64_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int unsupported(struct reader *r, uint64_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int config_subsection(struct walk *w, const char *name);

static int
bad(struct reader *r, uint64_t at, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return vs_fail(VS_EXIT_DATAERR, 0, "%s: malformed migration file at offset %" PRIu64 ": %s", r->q->name, at,
		       msg);
}

/* A well-formed layout this reader does not handle: said as such, and
 * still VS_EXIT_DATAERR (the input is what cannot be used). */
static int
unsupported(struct reader *r, uint64_t at, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return vs_fail(VS_EXIT_DATAERR, 0, "%s: not supported (at offset %" PRIu64 "): %s", r->q->name, at, msg);
}

/* Names from the file go into messages: keep them printable. */
static void
printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

static int
pread_full(int fd, void *buf, size_t len, uint64_t off, size_t *got, const char *name)
{
	*got = 0;
	while (*got < len) {
		ssize_t k = pread(fd, (char *)buf + *got, len - *got, (off_t)(off + *got));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return vs_fail(VS_EXIT_FAIL, errno, "%s: read", name);
		if (k == 0)
			break;
		*got += k;
	}
	return 0;
}

/* The n bytes at r->off (n <= READ_BUF), not consumed. */
static const unsigned char *
rd_peek(struct reader *r, size_t n, const char *what)
{
	size_t got;

	if (r->off > r->end || n > r->end - r->off) {
		bad(r, r->off, "%s needs %zu bytes, but only %" PRIu64 " are left before %s", what, n,
		    r->off > r->end ? 0 : r->end - r->off,
		    r->limit);
		return NULL;
	}
	if (r->off < r->buf_off || r->off + n > r->buf_off + r->buf_len) {
		size_t want = r->end - r->off < READ_BUF ? r->end - r->off : READ_BUF;
		if (pread_full(r->q->fd, r->buf, want, r->off, &got, r->q->name) < 0)
			return NULL;
		r->buf_off = r->off;
		r->buf_len = got;
		if (got < n) {
			vs_error_set(VS_EXIT_FAIL, 0, "%s: the file shrank while it was read", r->q->name);
			return NULL;
		}
	}
	return r->buf + (r->off - r->buf_off);
}

static int
rd_bytes(struct reader *r, void *dst, size_t n, const char *what)
{
	const unsigned char *p = rd_peek(r, n, what);

	if (!p)
		return -1;
	memcpy(dst, p, n);
	r->off += n;
	return 0;
}

static int
rd_u8(struct reader *r, uint8_t *v, const char *what)
{
	return rd_bytes(r, v, 1, what);
}

static int
rd_be16(struct reader *r, uint16_t *v, const char *what)
{
	unsigned char b[2];

	if (rd_bytes(r, b, 2, what) < 0)
		return -1;
	*v = vs_get_be16(b);
	return 0;
}

static int
rd_be32(struct reader *r, uint32_t *v, const char *what)
{
	unsigned char b[4];

	if (rd_bytes(r, b, 4, what) < 0)
		return -1;
	*v = vs_get_be32(b);
	return 0;
}

static int
rd_be64(struct reader *r, uint64_t *v, const char *what)
{
	uint32_t hi, lo;

	if (rd_be32(r, &hi, what) < 0 || rd_be32(r, &lo, what) < 0)
		return -1;
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

/* u8 length + bytes, as QEMU writes idstrs and subsection names. */
static int
rd_name(struct reader *r, char out[256], const char *what)
{
	uint8_t len;

	if (rd_u8(r, &len, what) < 0 || rd_bytes(r, out, len, what) < 0)
		return -1;
	out[len] = '\0';
	if (memchr(out, '\0', len))
		return bad(r, r->off - len, "%s contains a NUL byte", what);
	printable(out);
	return 0;
}

static int
rd_skip(struct reader *r, uint64_t n, const char *what)
{
	if (r->off > r->end || n > r->end - r->off)
		return bad(r, r->off, "%s declares %" PRIu64 " bytes, but only %" PRIu64 " are left before %s", what, n,
			   r->off > r->end ? 0 : r->end - r->off,
			   r->limit);
	r->off += n;
	return 0;
}

/* --- the VM description ------------------------------------------------ */

/* It ends the file: 0x06, be32 length, JSON to the last byte, right after
 * the QEMU_VM_EOF byte.  JSON text never holds a raw 0x06, so the last one
 * in the file is its marker. */
static int
find_desc(struct vs_qemu_file *q, struct reader *r)
{
	unsigned char *buf, head[5];
	uint64_t lo = q->size - q->base > (uint64_t)VS_QEMU_DESC_MAX + 6 ? q->size - VS_QEMU_DESC_MAX - 6 : q->base,
		 hi = q->size;
	uint64_t pos = UINT64_MAX;
	size_t got;
	uint32_t len;

	buf = malloc(READ_BUF);
	if (!buf)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	while (hi > lo && pos == UINT64_MAX) {
		uint64_t from = hi - lo > READ_BUF ? hi - READ_BUF : lo;
		if (pread_full(q->fd, buf, hi - from, from, &got, q->name) < 0) {
			free(buf);
			return -1;
		}
		if (got != hi - from) {
			free(buf);
			return vs_fail(VS_EXIT_FAIL, 0, "%s: the file shrank while it was read", q->name);
		}
		for (size_t i = got; i-- > 0;)
			if (buf[i] == QEMU_VM_VMDESCRIPTION) {
				pos = from + i;
				break;
			}
		hi = from;
	}
	free(buf);
	/* the last 0x06 may be a byte of the be32 length after the marker
	 * (a 518-byte description is 00 00 02 06): the marker is at most 4
	 * bytes before it */
	for (unsigned k = 0; pos != UINT64_MAX && k <= 4 && pos >= q->base + 9 + k; k++) {
		uint64_t at = pos - k;
		if (q->size - at < 6)
			continue;
		if (pread_full(q->fd, head, 5, at, &got, q->name) < 0)
			return -1;
		len = vs_get_be32(head + 1);
		if (got == 5 && head[0] == QEMU_VM_VMDESCRIPTION && len == q->size - at - 5) {
			q->desc_offset = at;
			q->desc_len = len;
			return 0;
		}
	}
	(void)r;
	return 1;
}

static int
load_desc(struct vs_qemu_file *q, struct reader *r)
{
	struct json_tokener *tok;
	struct json_object *ps;
	char *text;
	size_t got;
	int64_t page;

	text = malloc((size_t)q->desc_len + 1);
	if (!text)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	if (pread_full(q->fd, text, q->desc_len, q->desc_offset + 5, &got, q->name) < 0) {
		free(text);
		return -1;
	}
	if (got != q->desc_len) {
		free(text);
		return vs_fail(VS_EXIT_FAIL, 0, "%s: the file shrank while it was read", q->name);
	}
	text[got] = '\0';
	/* json-c spends ~100 bytes per value: bound the values (each but the
	 * first follows a comma or an opening bracket) before parsing */
	size_t values = 1, lead = strspn(text, " \t\r\n");
	for (size_t k = 0; k < got; k++)
		values += text[k] == ',' || text[k] == '[' || text[k] == '{';
	if (text[lead] != '{' || values > DESC_VALUES_MAX) {
		bool object = text[lead] == '{';
		free(text);
		return bad(r, q->desc_offset + 5 + (object ? 0 : lead),
			   object ? "the VM description has more values than any real one"
				  : "the VM description is not a JSON object");
	}
	tok = json_tokener_new_ex(4 * MAX_DEPTH + 16);
	if (!tok) {
		free(text);
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	}
	q->desc = json_tokener_parse_ex(tok, text, (int)q->desc_len);
	if (!q->desc || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != q->desc_len || !json_object_is_type(q->desc, json_type_object)) {
		size_t end = json_tokener_get_parse_end(tok);
		enum json_tokener_error e = json_tokener_get_error(tok);
		json_tokener_free(tok);
		free(text);
		json_object_put(q->desc);
		q->desc = NULL;
		return bad(r, q->desc_offset + 5 + end, "the VM description is not one JSON object (%s)",
			   e != json_tokener_success ? json_tokener_error_desc(e) : "trailing bytes");
	}
	json_tokener_free(tok);
	free(text);
	if (!json_object_object_get_ex(q->desc, "page_size", &ps) || !json_object_is_type(ps, json_type_int) ||
	    (page = json_object_get_int64(ps)) < 512 || page > (1 << 20) || (page & (page - 1)))
		return bad(r, q->desc_offset + 5, "the VM description has no usable page_size");
	q->page_size = (uint64_t)page;
	return 0;
}

/* A plain stream (not mapped-ram) without a description is most likely a
 * cut one; without target-page-bits its RAM records cannot be read. */
static int
no_desc(struct reader *r)
{
	return bad(r, r->q->size,
		   "no VM description at the end of the file (QEMU_VM_VMDESCRIPTION 0x06, be32 length, JSON): "
		   "the file is truncated, or the machine does not write one (suppress-vmdesc), which is not supported "
		   "for a plain stream (only mapped-ram ones are walked without it)");
}

/* --- sections ---------------------------------------------------------- */

static struct vs_qemu_section *
add_section(struct walk *w, uint64_t at)
{
	struct vs_qemu_file *q = w->q;

	if (q->nsections == MAX_SECTIONS) {
		bad(&w->r, at, "more than %u sections", MAX_SECTIONS);
		return NULL;
	}
	if (q->nsections == w->cap_sections) {
		size_t cap = w->cap_sections ? 2 * w->cap_sections : 64;
		struct vs_qemu_section *s = realloc(q->sections, cap * sizeof *s);
		if (!s) {
			vs_error_set(VS_EXIT_FAIL, ENOMEM, "out of memory");
			return NULL;
		}
		q->sections = s;
		w->cap_sections = cap;
	}
	memset(&q->sections[q->nsections], 0, sizeof *q->sections);
	q->sections[q->nsections].offset = at;
	q->sections[q->nsections].state = -1;
	return &q->sections[q->nsections++];
}

static int
section_header(struct walk *w, bool named, uint32_t *id, char name[256], uint32_t *instance, uint32_t *version)
{
	if (rd_be32(&w->r, id, "a section id") < 0)
		return -1;
	if (!named)
		return 0;
	if (rd_name(&w->r, name, "a section name") < 0 || rd_be32(&w->r, instance, "a section instance id") < 0 ||
	    rd_be32(&w->r, version, "a section version") < 0)
		return -1;
	return 0;
}

/* QEMU_VM_SECTION_FOOTER + be32 section id, when the source sends them
 * (every current machine type does); then every section has one. */
static int
footer(struct walk *w, uint32_t id)
{
	const unsigned char *p = rd_peek(&w->r, 1, "a section footer or the next section");
	uint64_t at = w->r.off;
	uint32_t got;

	if (!p)
		return -1;
	if (*p != QEMU_VM_SECTION_FOOTER) {
		if (w->footers == 1)
			return bad(&w->r, at, "expected the footer of section %" PRIu32 " (0x7e), found 0x%02x", id, *p);
		w->footers = 0;
		return 0;
	}
	if (w->footers == 0)
		return bad(&w->r, at, "a section footer, but the sections before had none");
	w->footers = 1;
	w->r.off++;
	if (rd_be32(&w->r, &got, "a section footer") < 0)
		return -1;
	if (got != id)
		return bad(&w->r, at, "the footer names section %" PRIu32 ", expected %" PRIu32, got, id);
	return 0;
}

/* --- ram ---------------------------------------------------------------- */

/* mapped-ram (migration/ram.c, docs/devel/migration/mapped-ram.rst): the
 * block's MappedRamHeader, then a seek: its dirty bitmap and pages sit at
 * the file offsets the header gives (absolute, even behind a libvirt
 * header), and the stream goes on at pages_offset + the block's length.
 * The pages are never read. */
static int
mapped_ram_block(struct walk *w, const struct ram_block *b)
{
	struct reader *r = &w->r;
	uint64_t at = r->off, page, bitmap, pages, bits;
	uint32_t version;

	if (rd_be32(r, &version, "a MappedRamHeader") < 0 || rd_be64(r, &page, "a MappedRamHeader") < 0 ||
	    rd_be64(r, &bitmap, "a MappedRamHeader") < 0 || rd_be64(r, &pages, "a MappedRamHeader") < 0)
		return -1;
	if (version != MAPPED_RAM_HDR_VERSION)
		return bad(r, at, "MappedRamHeader version %" PRIu32 " of RAM block '%s' (expected %d)", version, b->name,
			   MAPPED_RAM_HDR_VERSION);
	if (page < 512 || page > (1 << 20) || (page & (page - 1)) || (w->q->page_size && page != w->q->page_size))
		return bad(r, at, "RAM block '%s' has page size %" PRIu64 " (expected %" PRIu64 ")", b->name, page,
			   w->q->page_size);
	w->q->page_size = page;
	if (b->length % page)
		return bad(r, at, "RAM block '%s' is %" PRIu64 " bytes, not a whole number of %" PRIu64 "-byte pages",
			   b->name, b->length, page);
	bits = (b->length / page + 7) / 8;
	if (bitmap < r->off || bitmap > r->end || pages < bitmap || pages - bitmap < bits || pages > r->end ||
	    b->length > r->end - pages)
		return bad(r, at,
			   "RAM block '%s' (%" PRIu64 " bytes) has its bitmap at %" PRIu64 " and its pages at %" PRIu64
			   ", which do not fit between the header and %s (offset %" PRIu64 ")",
			   b->name, b->length, bitmap, pages, r->limit, r->end);
	r->off = pages + b->length;
	return 0;
}

static int
ram_mem_size(struct walk *w, uint64_t total)
{
	struct reader *r = &w->r;

	while (total > 0) {
		struct ram_block b;
		uint64_t at = r->off;
		if (rd_name(r, b.name, "a RAM block name") < 0 || rd_be64(r, &b.length, "a RAM block length") < 0)
			return -1;
		if (b.length > total)
			return bad(r, at,
				   "RAM block '%s' declares %" PRIu64 " bytes, but %" PRIu64
				   " are left of the total the section announced",
				   b.name, b.length, total);
		total -= b.length;
		if (w->q->ignore_shared && rd_skip(r, 8, "the block address (x-ignore-shared)") < 0)
			return -1;
		if (w->q->mapped_ram && mapped_ram_block(w, &b) < 0)
			return -1;
		if (w->nblocks == MAX_RAM_BLOCKS)
			return bad(r, at, "more than %u RAM blocks", MAX_RAM_BLOCKS);
		w->blocks[w->nblocks++] = b;
		w->q->ram_blocks++;
		w->q->ram_bytes += b.length;
	}
	return 0;
}

/* Records up to RAM_SAVE_FLAG_EOS, page data skipped, never read. */
static int
ram_records(struct walk *w)
{
	struct reader *r = &w->r;
	uint64_t mask = w->q->page_size - 1;
	/* like the loader's static block in ram_block_from_stream(), CONTINUE
	 * refers to the last block named, even in an earlier section */
	struct ram_block *cur = w->last_block;

	for (;;) {
		uint64_t at = r->off, a, flags, addr;
		bool cont;
		if (rd_be64(r, &a, "a RAM record") < 0)
			return -1;
		if (!w->q->page_size) {
			/* no description and no target-page-bits: only a mapped-ram
			 * stream says its page size, in the header that follows
			 * the first block's name; the first record must be
			 * MEM_SIZE (0x04), whose total is a multiple of pages */
			if (!w->q->mapped_ram)
				return no_desc(r);
			if ((a & 0x3ff) != RAM_SAVE_FLAG_MEM_SIZE)
				return bad(r, at, "the ram section does not start with RAM_SAVE_FLAG_MEM_SIZE");
			if (ram_mem_size(w, a & ~(uint64_t)0x3ff) < 0)
				return -1;
			if (!w->q->page_size)
				return bad(r, at, "a mapped-ram stream whose ram section announces no RAM block");
			mask = w->q->page_size - 1;
			continue;
		}
		flags = a & mask;
		addr = a & ~mask;
		cont = flags & RAM_SAVE_FLAG_CONTINUE;
		flags &= ~(uint64_t)RAM_SAVE_FLAG_CONTINUE;
		switch (flags) {
		case RAM_SAVE_FLAG_MEM_SIZE:
			if (cont)
				return bad(r, at, "RAM_SAVE_FLAG_MEM_SIZE with RAM_SAVE_FLAG_CONTINUE");
			if (ram_mem_size(w, addr) < 0)
				return -1;
			break;
		case RAM_SAVE_FLAG_ZERO:
		case RAM_SAVE_FLAG_PAGE:
		case RAM_SAVE_FLAG_XBZRLE:
			if (w->q->mapped_ram)
				return bad(r, at, "a page record in the stream of a mapped-ram file (its pages sit at fixed offsets)");
			if (!cont) {
				char name[256];
				cur = NULL;
				if (rd_name(r, name, "a RAM block name") < 0)
					return -1;
				for (size_t i = 0; i < w->nblocks && !cur; i++)
					if (strcmp(w->blocks[i].name, name) == 0)
						cur = &w->blocks[i];
				if (!cur)
					return bad(r, at, "a page of RAM block '%s', which the section did not announce", name);
			} else if (!cur) {
				return bad(r, at, "a page continues the previous RAM block, but none was named");
			}
			w->last_block = cur;
			if (addr >= cur->length)
				return bad(r, at, "page address 0x%" PRIx64 " is outside RAM block '%s' (%" PRIu64 " bytes)",
					   addr, cur->name, cur->length);
			if (flags == RAM_SAVE_FLAG_ZERO) {
				if (rd_skip(r, 1, "a zero page's fill byte") < 0)
					return -1;
				w->q->ram_zero_pages++;
			} else if (flags == RAM_SAVE_FLAG_PAGE) {
				if (rd_skip(r, w->q->page_size, "a RAM page") < 0)
					return -1;
				w->q->ram_pages++;
			} else {
				uint8_t enc;
				uint16_t len;
				if (rd_u8(r, &enc, "an XBZRLE page header") < 0 ||
				    rd_be16(r, &len, "an XBZRLE page header") < 0)
					return -1;
				if (enc != ENCODING_FLAG_XBZRLE || len > w->q->page_size)
					return bad(r, at, "an XBZRLE page with encoding 0x%02x and length %u", enc, len);
				if (rd_skip(r, len, "an XBZRLE page") < 0)
					return -1;
				w->q->ram_xbzrle_pages++;
			}
			break;
		case RAM_SAVE_FLAG_EOS:
			return 0;
		case RAM_SAVE_FLAG_MULTIFD_FLUSH:
			break;
		case RAM_SAVE_FLAG_HOOK:
			return bad(r, at, "an RDMA hook record (RAM_SAVE_FLAG_HOOK): not a file migration");
		default:
			return bad(r, at,
				   "a RAM record with flags 0x%" PRIx64
				   " (expected one of ZERO 0x02, MEM_SIZE 0x04, PAGE 0x08, EOS 0x10, XBZRLE 0x40, "
				   "MULTIFD_FLUSH 0x200, optionally with CONTINUE 0x20)",
				   flags | (cont ? RAM_SAVE_FLAG_CONTINUE : 0));
		}
	}
}

/* --- device state (vmstate) ----------------------------------------------- */

static int
json_size(struct json_object *o, const char *key, int64_t *v)
{
	struct json_object *n;

	if (!json_object_object_get_ex(o, key, &n) || !json_object_is_type(n, json_type_int) ||
	    (*v = json_object_get_int64(n)) < 0)
		return -1;
	return 0;
}

static const char *
json_str(struct json_object *o, const char *key)
{
	struct json_object *n;

	if (!json_object_object_get_ex(o, key, &n) || !json_object_is_type(n, json_type_string))
		return NULL;
	return json_object_get_string(n);
}

static void
hex(const unsigned char *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

/* A chunk list (be32 n + n bytes, ended by be32 0) at r->off, hashed, all
 * within r->end. */
static int
chunk_list(struct walk *w, struct vs_qemu_state *st)
{
	struct reader *r = &w->r;
	struct sha256_ctx sha;
	unsigned char digest[SHA256_DIGEST_SIZE];

	memset(st, 0, sizeof *st);
	st->offset = r->off;
	sha256_init(&sha);
	for (;;) {
		uint64_t at = r->off;
		uint32_t n;
		if (rd_be32(r, &n, "a back-end state chunk length") < 0)
			return -1;
		if (n == 0)
			break;
		if (w->q->max_payload && n > w->q->max_payload - st->payload) {
			w->over_max = true;
			return vs_fail(VS_EXIT_DATAERR, 0,
				       "%s: the back-end state at offset %" PRIu64 " is larger than --max-size (%" PRIu64
				       " bytes)",
				       w->q->name, st->offset, w->q->max_payload);
		}
		if (r->off > r->end || n > r->end - r->off)
			return bad(r, at,
				   "a back-end state chunk declares %" PRIu32 " bytes, but only %" PRIu64 " are left before %s",
				   n, r->off > r->end ? 0 : r->end - r->off,
				   r->limit);
		for (uint32_t left = n; left > 0;) {
			size_t k = left < READ_BUF ? left : READ_BUF;
			const unsigned char *p = rd_peek(r, k, "a back-end state chunk");
			if (!p)
				return -1;
			sha256_update(&sha, k, p);
			r->off += k;
			left -= k;
		}
		if (st->chunks == 0 || n < st->min_chunk)
			st->min_chunk = n;
		if (n > st->max_chunk)
			st->max_chunk = n;
		st->chunks++;
		st->payload += n;
	}
	st->length = r->off - st->offset;
	sha256_digest(&sha, sizeof digest, digest);
	hex(digest, sizeof digest, st->sha256);
	return 0;
}

static int
add_state(struct walk *w, struct vs_qemu_state *st, enum vs_payload_kind kind, struct json_object *field,
	  uint64_t field_size)
{
	struct vs_qemu_file *q = w->q;
	struct vs_qemu_section *sec = &q->sections[w->cur_section];

	if (q->nstates == w->cap_states) {
		size_t cap = w->cap_states ? 2 * w->cap_states : 4;
		struct vs_qemu_state *s = realloc(q->states, cap * sizeof *s);
		if (!s)
			return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
		q->states = s;
		w->cap_states = cap;
	}
	st->device = strdup(sec->name);
	if (!st->device)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	st->kind = kind;
	st->instance_id = sec->instance_id;
	st->section_id = sec->section_id;
	st->section_offset = sec->offset;
	st->desc_field = field;
	st->desc_size = field_size;
	sec->state = (int)q->nstates;
	q->states[q->nstates++] = *st;
	return 0;
}

/* virtio-net's back-end state is a subsection of the device's own vmsd,
 * written by virtio_save() inside the `virtio` field, which QEMU describes
 * only by its total size.  Find the subsection header in the field; a
 * candidate counts when its version is 0, its chunk list fits the field,
 * and the field ends or a "virtio/" subsection follows it.  Guest-written
 * bytes (MSI-X table, MAC filter) precede it, so a lookalike is possible:
 * more than one candidate is refused, never guessed. */
static int
net_state(struct walk *w, uint64_t start, uint64_t size, struct json_object *field)
{
	static const char pat[] = "\x05\x19" NET_SUBSECTION;
	const size_t plen = sizeof pat - 1;
	struct reader *r = &w->r;
	uint64_t end = start + size, saved_end = r->end, cand[MAX_NET_CANDIDATES], next = start;
	const char *saved_limit = r->limit;
	size_t ncand = 0, valid = 0;
	struct vs_qemu_state st, found;

	if (size > r->end - start)
		return bad(r, start, "field '%s' of %s declares %" PRIu64 " bytes, but only %" PRIu64 " are left",
			   NET_FIELD, w->q->sections[w->cur_section].name, size, r->end - start);
	for (uint64_t pos = start; end - pos >= plen;) {
		size_t n = end - pos < READ_BUF ? end - pos : READ_BUF;
		const unsigned char *p;
		r->off = pos;
		if (!(p = rd_peek(r, n, "the virtio field")))
			return -1;
		for (const unsigned char *m = p; (m = memmem(m, n - (m - p), pat, plen)); m++) {
			if (pos + (m - p) < next)
				continue;
			if (ncand == MAX_NET_CANDIDATES)
				return bad(r, pos + (m - p), "more than %d lookalikes of the %s subsection in field '%s'",
					   MAX_NET_CANDIDATES, NET_SUBSECTION, NET_FIELD);
			cand[ncand++] = pos + (m - p);
			next = pos + (m - p) + 1;
		}
		if (n < READ_BUF)
			break;
		pos += n - (plen - 1);
	}
	r->end = end;
	r->limit = "the end of the virtio field";
	for (size_t i = 0; i < ncand; i++) {
		uint32_t version;
		const unsigned char *p;
		bool ok;
		r->off = cand[i] + plen;
		w->over_max = false;
		if (rd_be32(r, &version, "a subsection version") < 0 || (version == 0 && chunk_list(w, &st) < 0)) {
			/* a lookalike that does not parse is not a candidate; a
			 * read error or a state over --max-size is an error */
			if (w->over_max || vs_error_get()->exit_code != VS_EXIT_DATAERR)
				return -1;
			vs_error_clear();
			continue;
		}
		if (version != 0)
			continue; /* a lookalike too, and no error was set */
		ok = r->off == end;
		if (!ok && end - r->off >= 2 + strlen(VIRTIO_SUBSECTION_PREFIX) && (p = rd_peek(r, 2, "x")) &&
		    p[0] == QEMU_VM_SUBSECTION && p[1] <= end - r->off - 2 && p[1] >= strlen(VIRTIO_SUBSECTION_PREFIX)) {
			r->off += 2;
			p = rd_peek(r, strlen(VIRTIO_SUBSECTION_PREFIX), "x");
			ok = p && memcmp(p, VIRTIO_SUBSECTION_PREFIX, strlen(VIRTIO_SUBSECTION_PREFIX)) == 0;
		}
		vs_error_clear();
		if (!ok)
			continue;
		found = st;
		valid++;
	}
	r->end = saved_end;
	r->limit = saved_limit;
	r->off = end;
	if (valid > 1) {
		char where[200] = "";
		size_t k = 0;
		for (size_t i = 0; i < ncand && k + 24 < sizeof where; i++)
			k += snprintf(where + k, sizeof where - k, "%s%" PRIu64, i ? ", " : "", cand[i]);
		return bad(r, start,
			   "field '%s' of %s holds %zu well-formed %s subsections (at %s): which one QEMU wrote is "
			   "ambiguous",
			   NET_FIELD, w->q->sections[w->cur_section].name, valid, NET_SUBSECTION, where);
	}
	if (valid == 1)
		return add_state(w, &found, VS_KIND_NET, field, size);
	return 0;
}

/* One vmsd as described: fields by their sizes, then the subsections that
 * were written, each checked by name and version. */
static int
walk_vmsd(struct walk *w, struct json_object *d, const char *owner, int depth, bool top)
{
	struct reader *r = &w->r;
	struct json_object *fields, *subs;
	const char *vmsd = json_str(d, "vmsd_name");

	if (depth > MAX_DEPTH)
		return bad(r, r->off, "the VM description of %s nests deeper than %d", owner, MAX_DEPTH);
	if (!json_object_object_get_ex(d, "fields", &fields) || !json_object_is_type(fields, json_type_array))
		return bad(r, r->off, "the VM description of %s has no fields", owner);
	for (size_t i = 0; i < json_object_array_length(fields); i++) {
		struct json_object *f = json_object_array_get_idx(fields, i);
		const char *name = json_str(f, "name"), *type = json_str(f, "type");

		if (++w->visits > VISITS_MAX)
			return bad(r, r->off, "the VM description makes the walk too long (more than %llu entries visited)",
				   VISITS_MAX);
		int64_t size, n = 1;
		uint64_t total, at = r->off;
		char what[300];

		if (!name || json_size(f, "size", &size) < 0 ||
		    (json_object_object_get_ex(f, "array_len", NULL) && (json_size(f, "array_len", &n) < 0 || n < 1)))
			return bad(r, at, "the VM description of %s has a field without a usable name or size", owner);
		if ((uint64_t)size > UINT64_MAX / (uint64_t)n)
			return bad(r, at, "field '%s' of %s: size overflows", name, owner);
		total = (uint64_t)size * (uint64_t)n;
		if (!top && vmsd && strcmp(vmsd, FS_SUBSECTION) == 0 && strcmp(name, FS_FIELD) == 0) {
			struct vs_qemu_state st;
			if (chunk_list(w, &st) < 0)
				return -1;
			if (st.length != total)
				return bad(r, at,
					   "the back-end state of %s is a %" PRIu64 "-byte chunk list, but the VM description "
					   "says field '%s' is %" PRIu64 " bytes",
					   w->q->sections[w->cur_section].name, st.length, FS_FIELD, total);
			if (add_state(w, &st, VS_KIND_FS, f, total) < 0)
				return -1;
			continue;
		}
		if (top && vmsd && strcmp(vmsd, NET_VMSD) == 0 && strcmp(name, NET_FIELD) == 0 && type &&
		    strcmp(type, "virtio") == 0) {
			if (net_state(w, at, total, f) < 0)
				return -1;
			continue;
		}
		snprintf(what, sizeof what, "field '%s' of %s", name, owner);
		if (rd_skip(r, total, what) < 0)
			return -1;
	}
	if (!json_object_object_get_ex(d, "subsections", &subs))
		return 0;
	if (!json_object_is_type(subs, json_type_array))
		return bad(r, r->off, "the VM description of %s has malformed subsections", owner);
	for (size_t i = 0; i < json_object_array_length(subs); i++) {
		struct json_object *s = json_object_array_get_idx(subs, i);
		const char *want = json_str(s, "vmsd_name");
		int64_t version;
		uint64_t at = r->off;
		char name[256];
		uint8_t t;
		uint32_t v;

		if (!want || json_size(s, "version", &version) < 0)
			return bad(r, at, "the VM description of %s has a subsection without name or version", owner);
		if (rd_u8(r, &t, "a subsection marker") < 0)
			return -1;
		if (t != QEMU_VM_SUBSECTION)
			return bad(r, at, "expected subsection '%s' of %s (0x05), found 0x%02x", want, owner, t);
		if (rd_name(r, name, "a subsection name") < 0 || rd_be32(r, &v, "a subsection version") < 0)
			return -1;
		if (strcmp(name, want) != 0 || v != (uint64_t)version)
			return bad(r, at, "subsection '%s' version %" PRIu32 ", but the VM description expects '%s' version %" PRId64,
				   name, v, want, version);
		if ((w->in_config && config_subsection(w, name) < 0) || walk_vmsd(w, s, want, depth + 1, false) < 0)
			return -1;
	}
	return 0;
}

/* Configuration subsections that change how the rest is read, read ahead
 * of the generic walk (which then checks their sizes). */
static int
config_subsection(struct walk *w, const char *name)
{
	struct reader *r = &w->r;
	uint64_t start = r->off;
	uint32_t count, bits;
	char cap[256];

	if (strcmp(name, "configuration/capabilities") == 0) {
		if (rd_be32(r, &count, "the capability count") < 0)
			return -1;
		for (uint32_t i = 0; i < count; i++) {
			if (rd_name(r, cap, "a capability name") < 0)
				return -1;
			if (strcmp(cap, "x-ignore-shared") == 0)
				w->q->ignore_shared = true;
			else if (strcmp(cap, "mapped-ram") == 0)
				w->q->mapped_ram = true;
		}
	} else if (strcmp(name, "configuration/target-page-bits") == 0) {
		if (rd_be32(r, &bits, "the target page bits") < 0)
			return -1;
		if (bits < 9 || bits > 20 || (w->q->page_size && (1ull << bits) != w->q->page_size))
			return bad(r, start, "target page bits %" PRIu32 " disagree with the description's page_size %" PRIu64,
				   bits, w->q->page_size);
		w->q->page_size = 1ull << bits;
	} else if (strcmp(name, "configuration/uuid") == 0) {
		if (rd_skip(r, 16, "the VM's UUID") < 0)
			return -1;
	} else if (!w->q->described) {
		return unsupported(r, start,
				   "configuration subsection '%s' in a file without a VM description (its length is "
				   "unknown)",
				   name);
	}
	if (w->q->described)
		r->off = start;
	return 0;
}

/* Without a description: the machine type, then the subsections that
 * config_subsection() knows, each read by its own layout (QEMU's
 * migration/savevm.c vmstate_configuration), until the next section. */
static int
configuration_nodesc(struct walk *w)
{
	struct reader *r = &w->r;
	uint64_t start = r->off;
	uint32_t len, v;
	char name[256];

	if (rd_be32(r, &len, "the machine type length") < 0)
		return -1;
	if (len >= sizeof w->q->machine)
		return bad(r, start, "a %" PRIu32 "-byte machine type name", len);
	if (rd_bytes(r, w->q->machine, len, "the machine type") < 0)
		return -1;
	w->q->machine[len] = '\0';
	printable(w->q->machine);
	for (;;) {
		const unsigned char *p = rd_peek(r, 1, "a configuration subsection or the next section");
		uint64_t at = r->off;
		if (!p)
			return -1;
		if (*p != QEMU_VM_SUBSECTION)
			return 0;
		r->off++;
		if (rd_name(r, name, "a subsection name") < 0 || rd_be32(r, &v, "a subsection version") < 0)
			return -1;
		if (strncmp(name, "configuration/", 14) != 0)
			return bad(r, at, "subsection '%s' in the configuration section", name);
		if (config_subsection(w, name) < 0)
			return -1;
	}
}

/* QEMU_VM_CONFIGURATION: the machine type (be32 length + name), then
 * optional subsections, all described under "configuration". */
static int
configuration(struct walk *w)
{
	struct reader *r = &w->r;
	struct json_object *d;
	uint64_t start = r->off;
	uint32_t len;

	if (!w->q->described)
		return configuration_nodesc(w);
	if (!json_object_object_get_ex(w->q->desc, "configuration", &d))
		return bad(r, start - 1, "a configuration section, but the VM description has no 'configuration'");
	if (rd_be32(r, &len, "the machine type length") < 0)
		return -1;
	if (len >= sizeof w->q->machine)
		return bad(r, start, "a %" PRIu32 "-byte machine type name", len);
	if (rd_bytes(r, w->q->machine, len, "the machine type") < 0)
		return -1;
	w->q->machine[len] = '\0';
	printable(w->q->machine);
	r->off = start;
	w->in_config = true;
	if (walk_vmsd(w, d, "configuration", 0, false) < 0)
		return -1;
	w->in_config = false;
	return 0;
}

/* --- device sections without a description ------------------------------ */

/* After a footer comes the next device section's header or QEMU_VM_EOF,
 * the file's last byte (no description follows: there is none). */
static bool
plausible_next(const unsigned char *p, size_t left)
{
	size_t n;

	if (left == 1)
		return p[0] == QEMU_VM_EOF;
	if (left < 1 + 4 + 1 + 1 + 8 || p[0] != QEMU_VM_SECTION_FULL)
		return false;
	n = p[5];
	if (n == 0 || left < 6 + n + 8)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[6 + i] < 0x20 || p[6 + i] >= 0x7f)
			return false;
	return true;
}

static int
cand_cmp(const void *a, const void *b)
{
	const struct footer_cand *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Read the device part (the first device section to the file's end) once
 * and list every footer-like spot in it: 0x7e, be32 id, then what
 * plausible_next() accepts.  Each real footer is one of them. */
static int
collect_footers(struct walk *w, uint64_t from)
{
	struct reader *r = &w->r;
	size_t got, cap = 0;

	if (r->end - from > NODESC_DEVICES_MAX)
		return unsupported(r, from,
			   "%" PRIu64 " bytes of device sections without a VM description (at most %u "
			   "are searched for footers)",
			   r->end - from, NODESC_DEVICES_MAX);
	w->dev_len = r->end - from;
	w->dev_off = from;
	w->dev = malloc(w->dev_len ? w->dev_len : 1);
	if (!w->dev)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	if (pread_full(w->q->fd, w->dev, w->dev_len, from, &got, w->q->name) < 0)
		return -1;
	if (got != w->dev_len)
		return vs_fail(VS_EXIT_FAIL, 0, "%s: the file shrank while it was read", w->q->name);
	for (const unsigned char *p = w->dev, *e = w->dev + w->dev_len; (p = memchr(p, QEMU_VM_SECTION_FOOTER, e - p));
	     p++) {
		if (e - p < 6 || !plausible_next(p + 5, e - p - 5))
			continue;
		if (w->ncands == cap) {
			struct footer_cand *c;
			if (cap == 2 * MAX_SECTIONS)
				return bad(r, from + (p - w->dev), "more than %u section footers", 2 * MAX_SECTIONS);
			cap = cap ? 2 * cap : 256;
			c = realloc(w->cands, cap * sizeof *c);
			if (!c)
				return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
			w->cands = c;
		}
		w->cands[w->ncands].id = vs_get_be32(p + 1);
		w->cands[w->ncands++].pos = from + (p - w->dev);
	}
	qsort(w->cands, w->ncands, sizeof *w->cands, cand_cmp);
	w->cands_done = true;
	return 0;
}

static bool
name_is(const char *name, const char *vmsd)
{
	const char *slash = strrchr(name, '/');

	return strcmp(slash ? slash + 1 : name, vmsd) == 0;
}

/* vhost-user-fs's back-end subsection is the last thing in its section
 * (hw/virtio/vhost-user-fs.c: the vmsd's only subsection, after the
 * `virtio` field): a candidate header counts when its version is 0 and
 * its chunk list ends exactly at the section's footer.  Two that do are
 * refused, never guessed. */
static int
fs_state_nodesc(struct walk *w, uint64_t body, uint64_t end)
{
	static const char pat[] = "\x05\x15" FS_SUBSECTION;
	const size_t plen = sizeof pat - 1;
	struct reader *r = &w->r;
	const unsigned char *b = w->dev + (body - w->dev_off), *e = w->dev + (end - w->dev_off);
	uint64_t saved_end = r->end;
	const char *saved_limit = r->limit;
	struct vs_qemu_state st, found;
	size_t valid = 0;

	r->end = end;
	r->limit = "the section's footer";
	for (const unsigned char *m = b; (size_t)(e - m) >= plen + 4 && (m = memmem(m, e - m, pat, plen)); m++) {
		w->over_max = false;
		r->off = body + (m - b) + plen;
		if (e - m < (ptrdiff_t)(plen + 4) || vs_get_be32(m + plen) != 0)
			continue;
		r->off += 4;
		if (chunk_list(w, &st) < 0) {
			if (w->over_max || vs_error_get()->exit_code != VS_EXIT_DATAERR)
				return -1;
			vs_error_clear();
			continue;
		}
		if (r->off != end)
			continue;
		found = st;
		valid++;
	}
	r->end = saved_end;
	r->limit = saved_limit;
	r->off = end;
	if (valid > 1)
		return unsupported(r, body,
			   "without a VM description, %zu spots in %s parse as its back-end state; "
			   "which one QEMU wrote is ambiguous",
			   valid, w->q->sections[w->cur_section].name);
	if (valid == 1)
		return add_state(w, &found, VS_KIND_FS, NULL, found.length);
	return 0;
}

/* A device section without a description: its bytes have no length, so
 * it ends at the only footer that names its section id, sits after its
 * header and is followed by a section header or EOF.  Sound because QEMU
 * ends every device section with that footer (when the machine sends
 * footers, as every current one does): the real footer is always one of
 * the candidates, so exactly one candidate is the real one, and a
 * lookalike inside device data makes two, which is refused. */
static int
full_nodesc(struct walk *w, uint64_t at, uint32_t id, const char *name)
{
	struct reader *r = &w->r;
	struct footer_cand key = { .id = id, .pos = r->off }, *c;
	size_t lo = 0, hi, n = 0;
	uint64_t body = r->off, end;

	if (!w->cands_done && collect_footers(w, at) < 0)
		return -1;
	/* the first candidate of this id at or after the body, then count */
	for (hi = w->ncands; lo < hi;) {
		size_t mid = lo + (hi - lo) / 2;
		if (cand_cmp(&w->cands[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (c = w->cands + lo; c < w->cands + w->ncands && c->id == id; c++)
		n++;
	if (n == 0)
		return bad(r, at,
			   "no footer of section %" PRIu32 " ('%s') follows it: without a VM description, device "
			   "sections are found between their footers (the file is truncated, or its machine type "
			   "sends no footers, which is not supported)",
			   id, name);
	if (n > 1)
		return unsupported(r, at,
			   "without a VM description the end of section %" PRIu32 " ('%s') is ambiguous "
			   "(%zu footer lookalikes, the first at offset %" PRIu64 ")",
			   id, name, n, w->cands[lo].pos);
	end = w->cands[lo].pos;
	if (name_is(name, "vhost-user-fs")) {
		if (fs_state_nodesc(w, body, end) < 0)
			return -1;
	} else if (name_is(name, NET_VMSD)) {
		if (net_state(w, body, end - body, NULL) < 0)
			return -1;
	}
	r->off = end;
	return 0;
}

static int
walk(struct walk *w)
{
	struct vs_qemu_file *q = w->q;
	struct reader *r = &w->r;
	uint32_t magic, version, ram_id = 0;
	bool first = true;

	r->off = q->base;
	if (rd_be32(r, &magic, "the file magic") < 0 || rd_be32(r, &version, "the file version") < 0)
		return -1;
	if (magic != VS_QEMU_FILE_MAGIC)
		return bad(r, q->base, "expected QEMU's magic 0x5145564d (\"QEVM\"), found 0x%08" PRIx32, magic);
	if (version != VS_QEMU_FILE_VERSION)
		return bad(r, q->base + 4, "stream version %" PRIu32 " (only version 3 is understood)", version);
	for (;; first = false) {
		uint64_t at = r->off;
		struct vs_qemu_section *s;
		struct json_object *devs, *d = NULL;
		uint32_t id, instance = 0, ver = 0;
		char name[256];
		uint16_t cmd, len;
		uint8_t t;

		if (rd_u8(r, &t, "a section type") < 0)
			return -1;
		switch (t) {
		case QEMU_VM_EOF:
			if (!q->described && r->off != q->size)
				return bad(r, at, "QEMU_VM_EOF, but %" PRIu64 " bytes follow it and they are no VM description",
					   q->size - r->off);
			if (r->off != q->desc_offset)
				return bad(r, at,
					   "QEMU_VM_EOF, but the VM description starts at offset %" PRIu64
					   " (%" PRIu64 " bytes in between)",
					   q->desc_offset, q->desc_offset - r->off);
			if (w->ram_section >= 0 && !w->ram_ended)
				return bad(r, at, "QEMU_VM_EOF before the end of the ram section");
			q->eof_offset = at;
			return 0;
		case QEMU_VM_CONFIGURATION:
			if (!first)
				return bad(r, at, "a configuration section after other sections");
			if (configuration(w) < 0)
				return -1;
			break;
		case QEMU_VM_COMMAND:
			if (rd_be16(r, &cmd, "a command") < 0 || rd_be16(r, &len, "a command length") < 0)
				return -1;
			if (cmd >= MIG_CMD_POSTCOPY_ADVISE && cmd <= MIG_CMD_RECV_BITMAP)
				return unsupported(r, at, "command %u: a postcopy stream (capability postcopy-ram)", cmd);
			if (!(cmd == MIG_CMD_SWITCHOVER_START && len == 0) && !(cmd == MIG_CMD_PING && len == 4))
				return bad(r, at,
					   "command %u with %u bytes (a precopy file holds only SWITCHOVER_START (11) and "
					   "PING (2))",
					   cmd, len);
			if (rd_skip(r, len, "a command's data") < 0)
				return -1;
			q->commands++;
			break;
		case QEMU_VM_SECTION_START:
			if (section_header(w, true, &id, name, &instance, &ver) < 0)
				return -1;
			if (strcmp(name, "ram") != 0)
				return bad(r, at, "iterative section '%s': only the 'ram' section is understood", name);
			if (w->ram_section >= 0)
				return bad(r, at, "a second ram section");
			if (ver != 4)
				return bad(r, at, "ram section version %" PRIu32 " (expected 4)", ver);
			if (!(s = add_section(w, at)))
				return -1;
			s->name = strdup(name);
			if (!s->name)
				return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
			s->type = t;
			s->section_id = ram_id = id;
			s->instance_id = instance;
			s->version = ver;
			w->ram_section = (int)(s - q->sections);
			if (ram_records(w) < 0 || footer(w, id) < 0)
				return -1;
			break;
		case QEMU_VM_SECTION_PART:
		case QEMU_VM_SECTION_END:
			if (section_header(w, false, &id, NULL, NULL, NULL) < 0)
				return -1;
			if (w->ram_section < 0 || id != ram_id)
				return bad(r, at, "a %s of section %" PRIu32 ", which no QEMU_VM_SECTION_START opened",
					   t == QEMU_VM_SECTION_PART ? "QEMU_VM_SECTION_PART" : "QEMU_VM_SECTION_END", id);
			if (w->ram_ended)
				return bad(r, at, "more of the ram section after its end");
			w->ram_ended = t == QEMU_VM_SECTION_END;
			q->ram_parts++;
			if (ram_records(w) < 0 || footer(w, id) < 0)
				return -1;
			break;
		case QEMU_VM_SECTION_FULL:
			if (section_header(w, true, &id, name, &instance, &ver) < 0)
				return -1;
			if (!q->described) {
				if (!(s = add_section(w, at)))
					return -1;
				if (!(s->name = strdup(name)))
					return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
				s->type = t;
				s->section_id = id;
				s->instance_id = instance;
				s->version = ver;
				w->cur_section = s - q->sections;
				if (full_nodesc(w, at, id, name) < 0 || footer(w, id) < 0)
					return -1;
				q->sections[w->cur_section].length = r->off - at;
				break;
			}
			if (json_object_object_get_ex(q->desc, "devices", &devs) && json_object_is_type(devs, json_type_array))
				for (size_t i = 0; i < json_object_array_length(devs) && !d; i++) {
					struct json_object *e = json_object_array_get_idx(devs, i);
					const char *n = json_str(e, "name");
					int64_t inst, v;
					if (++w->visits > VISITS_MAX)
						return bad(r, at, "the VM description makes the walk too long (more than %llu "
								  "entries visited)",
							   VISITS_MAX);
					if (n && strcmp(n, name) == 0 && json_size(e, "instance_id", &inst) == 0 &&
					    inst == instance) {
						if (json_size(e, "version", &v) < 0 || v != ver)
							return bad(r, at, "section '%s' version %" PRIu32 " disagrees with its VM description",
								   name, ver);
						d = e;
					}
				}
			if (!d)
				return bad(r, at, "device section '%s' (instance %" PRIu32 ") has no VM description", name,
					   instance);
			if (!(s = add_section(w, at)))
				return -1;
			s->name = strdup(name);
			if (!s->name)
				return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
			s->type = t;
			s->section_id = id;
			s->instance_id = instance;
			s->version = ver;
			w->cur_section = s - q->sections;
			if (walk_vmsd(w, d, name, 0, true) < 0 || footer(w, id) < 0)
				return -1;
			q->sections[w->cur_section].length = r->off - at;
			break;
		case QEMU_VM_SECTION_FOOTER:
			return bad(r, at, "a section footer outside a section");
		default:
			return bad(r, at,
				   "unknown section type 0x%02x (expected EOF 0x00, a section 0x01-0x04, configuration 0x07 "
				   "or command 0x08)",
				   t);
		}
	}
}

/* --- public ---------------------------------------------------------------- */

int
vs_qemu_file_sniff(const char *path)
{
	unsigned char b[VS_LIBVIRT_MAGIC_LEN];
	struct stat st;
	size_t got;
	int fd, r = 0;

	/* regular files only: opening a FIFO here would wait for a writer */
	if (!path || strcmp(path, "-") == 0 || stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && pread_full(fd, b, sizeof b, 0, &got, path) == 0 &&
	    ((got >= 4 && memcmp(b, "QEVM", 4) == 0) || vs_libvirt_sniff(b, got)))
		r = 1;
	vs_error_clear();
	close(fd);
	return r;
}

int
vs_qemu_file_open_fd(struct vs_qemu_file *q, int fd, const char *name, uint64_t max_payload)
{
	struct walk w = { .q = q, .footers = -1, .ram_section = -1 };
	struct stat st;
	int rc = -1;

	memset(q, 0, sizeof *q);
	q->fd = fd;
	q->name = name;
	q->max_payload = max_payload;
	w.r.q = q;
	if (fstat(fd, &st) < 0)
		return vs_fail(VS_EXIT_FAIL, errno, "%s", name);
	if (!S_ISREG(st.st_mode))
		return vs_fail(VS_EXIT_FAIL, 0, "%s: a migration file must be a regular file", name);
	q->size = (uint64_t)st.st_size;
	w.r.buf = malloc(READ_BUF);
	w.blocks = malloc(MAX_RAM_BLOCKS * sizeof *w.blocks);
	if (!w.r.buf || !w.blocks) {
		vs_error_set(VS_EXIT_FAIL, ENOMEM, "out of memory");
		goto out;
	}
	/* a libvirt save image: its header, then QEMU's stream */
	{
		unsigned char magic[VS_LIBVIRT_MAGIC_LEN];
		size_t got;
		if (pread_full(fd, magic, sizeof magic, 0, &got, name) < 0)
			goto out;
		if (vs_libvirt_sniff(magic, got)) {
			if (vs_libvirt_image_read(&q->image, fd, q->size, name) < 0)
				goto out;
			q->libvirt = true;
			q->base = q->image.stream_offset;
			if (q->image.format != VS_LIBVIRT_RAW && q->image.format != VS_LIBVIRT_SPARSE) {
				int spool;
				if (vs_qemu_compressed_spool(fd, &q->image, name, &spool, &q->size) < 0)
					goto out;
				q->compressed = true;
				q->image_fd = fd;
				q->fd = spool;
				q->base = 0;
			}
		}
	}
	/* the header first, so a short or foreign file says so */
	w.r.off = q->base;
	w.r.end = q->size - q->base < 8 ? q->size : q->base + 8;
	w.r.limit = "the end of the file";
	q->desc_offset = w.r.end;
	{
		uint32_t magic, version;
		if (rd_be32(&w.r, &magic, "the file magic") < 0 || rd_be32(&w.r, &version, "the file version") < 0)
			goto out;
		if (magic != VS_QEMU_FILE_MAGIC) {
			bad(&w.r, q->base, "expected QEMU's magic 0x5145564d (\"QEVM\"), found 0x%08" PRIx32, magic);
			goto out;
		}
	}
	w.r.buf_len = 0;
	switch (find_desc(q, &w.r)) {
	case 0:
		q->described = true;
		if (load_desc(q, &w.r) < 0)
			goto out;
		w.r.end = q->desc_offset;
		w.r.limit = "the VM description";
		break;
	case 1:
		/* none (suppress-vmdesc, or cut off): walked without it */
		q->desc_offset = w.r.end = q->size;
		q->desc_len = 0;
		w.r.limit = "the end of the file";
		break;
	default:
		goto out;
	}
	w.r.buf_off = w.r.buf_len = 0;
	rc = walk(&w);
	q->footers = w.footers == 1;
	/* what is wrong with a plain stream that has no description: that */
	if (rc < 0 && !q->described && !q->mapped_ram && vs_error_get()->exit_code == VS_EXIT_DATAERR &&
	    !strstr(vs_error_get()->msg, "not supported")) {
		vs_error_clear();
		no_desc(&w.r);
	}
	/* libvirt restores format 6 with mapped-ram on, the others with it off */
	if (rc == 0 && q->libvirt && (q->image.format == VS_LIBVIRT_SPARSE) != q->mapped_ram)
		rc = vs_fail(VS_EXIT_DATAERR, 0,
			     "%s: malformed libvirt save image: its format is %s but the QEMU stream in it %s "
			     "mapped-ram",
			     name, vs_libvirt_format_name(q->image.format), q->mapped_ram ? "is" : "is not");
out:
	free(w.r.buf);
	free(w.blocks);
	free(w.dev);
	free(w.cands);
	if (rc < 0) {
		if (!q->compressed)
			q->fd = -1; /* the caller's */
		vs_qemu_file_close(q);
	}
	return rc;
}

int
vs_qemu_file_open(struct vs_qemu_file *q, const char *path, uint64_t max_payload)
{
	struct vs_source in;
	unsigned char *buf;
	ssize_t n;
	int fd;

	if (path && strcmp(path, "-") != 0) {
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			return vs_fail(VS_EXIT_FAIL, errno, "%s", path);
	} else {
		/* the description is at the end: spool stdin to disk first */
		fd = vs_spool_create("migration");
		if (fd < 0)
			return -1;
		if (vs_source_open(&in, "-") < 0) {
			close(fd);
			return -1;
		}
		buf = malloc(READ_BUF);
		if (!buf) {
			vs_source_close(&in);
			close(fd);
			return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
		}
		while ((n = vs_source_read(&in, buf, READ_BUF)) > 0)
			if (vs_write_all(fd, buf, n, "spool file", false) < 0)
				break;
		free(buf);
		vs_source_close(&in);
		if (n != 0) {
			close(fd);
			return -1;
		}
		path = "stdin";
	}
	if (vs_qemu_file_open_fd(q, fd, path, max_payload) < 0) {
		close(fd);
		return -1;
	}
	q->owned = true;
	return 0;
}

void
vs_qemu_file_close(struct vs_qemu_file *q)
{
	for (size_t i = 0; i < q->nsections; i++)
		free(q->sections[i].name);
	for (size_t i = 0; i < q->nstates; i++)
		free(q->states[i].device);
	free(q->sections);
	free(q->states);
	q->sections = NULL;
	q->states = NULL;
	q->nsections = q->nstates = 0;
	json_object_put(q->desc);
	q->desc = NULL;
	if (q->compressed) {
		/* fd is the spool; the image's fd is owned as fd would be */
		close(q->fd);
		q->fd = q->image_fd;
		q->compressed = false;
	}
	if (q->owned && q->fd >= 0)
		close(q->fd);
	q->fd = -1;
	q->owned = false;
}

/* "0000:00:04.0" for "0000:00:04.0/vhost-user-fs" */
static bool
device_path_is(const char *device, const char *id)
{
	const char *slash = strrchr(device, '/');

	return slash && (size_t)(slash - device) == strlen(id) && strncmp(device, id, slash - device) == 0;
}

int
vs_qemu_file_choose(const struct vs_qemu_file *q, const char *id, size_t *index)
{
	char list[600] = "";
	size_t k = 0, matches = 0;
	char *end;
	unsigned long pos;

	for (size_t i = 0; i < q->nstates && k + 80 < sizeof list; i++)
		k += snprintf(list + k, sizeof list - k, "%s%zu: %s", i ? ", " : "", i + 1, q->states[i].device);
	if (q->nstates == 0)
		return vs_fail(VS_EXIT_FAIL, 0, "%s: no vhost-user back-end state in this migration file", q->name);
	if (!id) {
		if (q->nstates > 1)
			return vs_fail(VS_EXIT_USAGE, 0,
				       "%s holds %zu back-end states; choose one with --device (%s)", q->name,
				       q->nstates, list);
		*index = 0;
		return 0;
	}
	errno = 0;
	pos = strtoul(id, &end, 10);
	if (!errno && end != id && !*end && *id != '-' && *id != '+') {
		if (pos < 1 || pos > q->nstates)
			return vs_fail(VS_EXIT_USAGE, 0, "%s: no back-end state number %s (%s)", q->name, id, list);
		*index = pos - 1;
		return 0;
	}
	for (size_t i = 0; i < q->nstates; i++)
		if (strcmp(q->states[i].device, id) == 0 || device_path_is(q->states[i].device, id)) {
			*index = i;
			matches++;
		}
	if (matches == 1)
		return 0;
	return vs_fail(VS_EXIT_USAGE, 0, "%s: %s back-end state for device '%s' (%s)", q->name,
		       matches ? "more than one" : "no", id, list);
}

/* [from, to) of the file to a sink or an fd. */
static int
copy_range(struct vs_qemu_file *q, uint64_t from, uint64_t to, struct vs_sink *sink, int fd, const char *name)
{
	const size_t cap = 1u << 20;
	unsigned char *buf = malloc(cap);
	size_t got;

	if (!buf)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	while (from < to) {
		size_t n = to - from < cap ? to - from : cap;
		if (pread_full(q->fd, buf, n, from, &got, q->name) < 0)
			goto fail;
		if (got != n) {
			vs_error_set(VS_EXIT_FAIL, 0, "%s: the file shrank while it was read", q->name);
			goto fail;
		}
		if (sink) {
			struct iovec iov = { buf, n };
			if (vs_sink_writev(sink, &iov, 1) < 0)
				goto fail;
		} else if (vs_write_all(fd, buf, n, name, false) < 0) {
			goto fail;
		}
		from += n;
	}
	free(buf);
	return 0;
fail:
	free(buf);
	return -1;
}

/* [from, to) of the file to the same offsets of out_fd, which holds
 * exactly `from` bytes: holes stay holes (SEEK_DATA/SEEK_HOLE), data goes
 * by copy_file_range (a reflink or an in-kernel copy where the file system
 * can).  A mapped-ram file is mostly holes: its copy must stay sparse.
 * Falls back to copy_range() where out_fd cannot seek or the kernel
 * declines. */
static int
copy_sparse(struct vs_qemu_file *q, uint64_t from, uint64_t to, int fd, const char *name)
{
	off_t cur = (off_t)from;

	if (lseek(fd, 0, SEEK_CUR) != (off_t)from)
		return copy_range(q, from, to, NULL, fd, name);
	while ((uint64_t)cur < to) {
		off_t data = lseek(q->fd, cur, SEEK_DATA), hole;
		if (data < 0 && errno == ENXIO)
			data = (off_t)to; /* only a hole is left */
		else if (data < 0)
			return copy_range(q, cur, to, NULL, fd, name);
		if ((uint64_t)data > to)
			data = (off_t)to;
		hole = data < (off_t)to ? lseek(q->fd, data, SEEK_HOLE) : (off_t)to;
		if (hole < 0)
			return copy_range(q, data, to, NULL, fd, name);
		if ((uint64_t)hole > to)
			hole = (off_t)to;
		/* the hole [cur, data): moved over; ftruncate at the end makes
		 * a trailing one part of the file */
		if (lseek(fd, data, SEEK_SET) != data)
			return vs_fail(VS_EXIT_FAIL, errno, "%s: seek", name);
		for (off_t in = data; in < hole;) {
			ssize_t k = copy_file_range(q->fd, &in, fd, NULL, (size_t)(hole - in), 0);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				if (k < 0 && errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
					return vs_fail(VS_EXIT_FAIL, errno, "%s: copy", name);
				if (copy_range(q, (uint64_t)in, (uint64_t)hole, NULL, fd, name) < 0)
					return -1;
				break;
			}
		}
		cur = hole;
	}
	if (ftruncate(fd, (off_t)to) < 0)
		return vs_fail(VS_EXIT_FAIL, errno, "%s: truncate", name);
	if (lseek(fd, (off_t)to, SEEK_SET) != (off_t)to)
		return vs_fail(VS_EXIT_FAIL, errno, "%s: seek", name);
	return 0;
}

int
vs_qemu_file_copy_state(struct vs_qemu_file *q, size_t i, struct vs_sink *sink)
{
	const struct vs_qemu_state *st = &q->states[i];

	if (copy_range(q, st->offset, st->offset + st->length, sink, -1, NULL) < 0)
		return -1;
	return vs_sink_finish(sink);
}

static int
copy_new_state(vs_qemu_read_fn fn, void *ctx, uint64_t new_len, int out_fd, const char *out_name)
{
	unsigned char *buf = malloc(1u << 20);
	uint64_t done = 0;
	ssize_t n;
	int rc = -1;

	if (!buf)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	while ((n = fn(ctx, buf, 1u << 20)) > 0) {
		if (vs_write_all(out_fd, buf, n, out_name, false) < 0)
			goto out;
		done += n;
	}
	if (n < 0)
		goto out;
	if (done != new_len) {
		vs_error_set(VS_EXIT_FAIL, 0, "the new state changed while it was read (%" PRIu64 " bytes, expected %" PRIu64 ")",
			     done, new_len);
		goto out;
	}
	rc = 0;
out:
	free(buf);
	return rc;
}

static int
inject_tail(struct vs_qemu_file *q, const struct vs_qemu_state *st, vs_qemu_read_fn fn, void *ctx, uint64_t new_len,
	    int out_fd, const char *out_name)
{
	if (q->compressed)
		return vs_qemu_compressed_inject(q->image_fd, &q->image, st, q->size, fn, ctx, new_len, NULL, 0, out_fd,
						 out_name, q->name);
	if (copy_sparse(q, 0, st->offset, out_fd, out_name) < 0 ||
	    copy_new_state(fn, ctx, new_len, out_fd, out_name) < 0 ||
	    copy_range(q, st->offset + st->length, q->size, NULL, out_fd, out_name) < 0)
		return -1;
	return 0;
}

int
vs_qemu_file_inject(struct vs_qemu_file *q, size_t i, vs_qemu_read_fn fn, void *ctx, uint64_t new_len, int out_fd,
		    const char *out_name)
{
	struct vs_qemu_state *st = &q->states[i];
	uint64_t new_size = st->desc_size - st->length + new_len;
	unsigned char head[5];
	char *json = NULL;
	size_t jlen;
	int rc = -1;

	/* the one length that encloses the state: its field in the description;
	 * without one, nothing encloses it (QEMU's loader reads the chunk list
	 * up to its terminator) and only the bytes after it move */
	if (new_size > INT64_MAX)
		return vs_fail(VS_EXIT_FAIL, 0, "%s: the new state is too large", q->name);
	if (!q->described)
		return inject_tail(q, st, fn, ctx, new_len, out_fd, out_name);
	/* the walker reads size x array_len: a new size only fits one element */
	int64_t alen = 1;
	if (json_object_object_get_ex(st->desc_field, "array_len", NULL) &&
	    (json_size(st->desc_field, "array_len", &alen) < 0 || alen != 1))
		return vs_fail(VS_EXIT_DATAERR, 0,
			       "%s: the field holding the state is described as an array (array_len %" PRId64
			       "); a new size cannot be written for it",
			       q->name, alen);
	json_object_object_add(st->desc_field, "size", json_object_new_int64((int64_t)new_size));
	json = vs_qemu_json_serialize(q->desc, &jlen);
	if (!json)
		return -1;
	if (jlen > UINT32_MAX) {
		vs_error_set(VS_EXIT_FAIL, 0, "%s: the VM description would exceed 4 GiB", q->name);
		goto out;
	}
	if (q->compressed) {
		rc = vs_qemu_compressed_inject(q->image_fd, &q->image, st, q->desc_offset, fn, ctx, new_len, json, jlen,
					       out_fd, out_name, q->name);
		goto out;
	}
	if (copy_sparse(q, 0, st->offset, out_fd, out_name) < 0 ||
	    copy_new_state(fn, ctx, new_len, out_fd, out_name) < 0)
		goto out;
	if (copy_range(q, st->offset + st->length, q->desc_offset, NULL, out_fd, out_name) < 0)
		goto out;
	head[0] = QEMU_VM_VMDESCRIPTION;
	head[1] = jlen >> 24;
	head[2] = jlen >> 16;
	head[3] = jlen >> 8;
	head[4] = jlen;
	if (vs_write_all(out_fd, head, 5, out_name, false) < 0 || vs_write_all(out_fd, json, jlen, out_name, false) < 0)
		goto out;
	rc = 0;
out:
	free(json);
	return rc;
}

static const char *
section_type_name(uint8_t t)
{
	return t == QEMU_VM_SECTION_START ? "iterative" : "device";
}

struct json_object *
vs_qemu_file_json(const struct vs_qemu_file *q)
{
	struct json_object *doc = json_object_new_object(), *ram = json_object_new_object(),
			   *secs = json_object_new_array(), *states = json_object_new_array(),
			   *desc = json_object_new_object();

	json_object_object_add(doc, "file", json_object_new_string(q->name));
	json_object_object_add(doc, "format",
			       json_object_new_string(q->libvirt ? "libvirt-save-image" : "qemu-migration"));
	if (q->libvirt) {
		struct json_object *lv = json_object_new_object(), *dom = json_object_new_object();
		json_object_object_add(lv, "version", json_object_new_int64(q->image.version));
		json_object_object_add(lv, "format", json_object_new_string(vs_libvirt_format_name(q->image.format)));
		json_object_object_add(lv, "format_number", json_object_new_int64(q->image.format));
		json_object_object_add(lv, "was_running", json_object_new_boolean(q->image.was_running));
		json_object_object_add(lv, "data_len", json_object_new_int64(q->image.data_len));
		json_object_object_add(lv, "xml_bytes", json_object_new_int64((int64_t)q->image.xml_len));
		json_object_object_add(lv, "cookie_bytes", json_object_new_int64((int64_t)q->image.cookie_len));
		json_object_object_add(lv, "stream_offset", json_object_new_int64((int64_t)q->image.stream_offset));
		json_object_object_add(lv, "big_endian", json_object_new_boolean(q->image.big_endian));
		json_object_object_add(dom, "name", json_object_new_string(q->image.name));
		json_object_object_add(dom, "uuid", json_object_new_string(q->image.uuid));
		json_object_object_add(lv, "domain", dom);
		json_object_object_add(doc, "libvirt", lv);
	} else {
		json_object_object_add(doc, "libvirt", NULL);
	}
	json_object_object_add(doc, "layout", json_object_new_string(q->mapped_ram ? "mapped-ram" : "plain"));
	json_object_object_add(doc, "version", json_object_new_int(VS_QEMU_FILE_VERSION));
	json_object_object_add(doc, "size", json_object_new_int64((int64_t)q->size));
	json_object_object_add(doc, "machine", q->machine[0] ? json_object_new_string(q->machine) : NULL);
	json_object_object_add(doc, "page_size", json_object_new_int64((int64_t)q->page_size));
	json_object_object_add(doc, "section_footers", json_object_new_boolean(q->footers));
	json_object_object_add(ram, "blocks", json_object_new_int64(q->ram_blocks));
	json_object_object_add(ram, "bytes", json_object_new_int64((int64_t)q->ram_bytes));
	json_object_object_add(ram, "pages", json_object_new_int64((int64_t)q->ram_pages));
	json_object_object_add(ram, "zero_pages", json_object_new_int64((int64_t)q->ram_zero_pages));
	json_object_object_add(ram, "xbzrle_pages", json_object_new_int64((int64_t)q->ram_xbzrle_pages));
	json_object_object_add(ram, "parts", json_object_new_int64((int64_t)q->ram_parts));
	json_object_object_add(doc, "ram", ram);
	for (size_t i = 0; i < q->nsections; i++) {
		const struct vs_qemu_section *s = &q->sections[i];
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(s->name));
		json_object_object_add(o, "instance_id", json_object_new_int64(s->instance_id));
		json_object_object_add(o, "section_id", json_object_new_int64(s->section_id));
		json_object_object_add(o, "version", json_object_new_int64(s->version));
		json_object_object_add(o, "type", json_object_new_string(section_type_name(s->type)));
		json_object_object_add(o, "offset", json_object_new_int64((int64_t)s->offset));
		if (s->type == QEMU_VM_SECTION_FULL)
			json_object_object_add(o, "length", json_object_new_int64((int64_t)s->length));
		json_object_object_add(o, "backend_state", json_object_new_boolean(s->state >= 0));
		json_object_array_add(secs, o);
	}
	json_object_object_add(doc, "sections", secs);
	for (size_t i = 0; i < q->nstates; i++) {
		const struct vs_qemu_state *st = &q->states[i];
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "index", json_object_new_int64((int64_t)i + 1));
		json_object_object_add(o, "device", json_object_new_string(st->device));
		json_object_object_add(o, "instance_id", json_object_new_int64(st->instance_id));
		json_object_object_add(o, "kind", json_object_new_string(vs_payload_kind_name(st->kind)));
		json_object_object_add(o, "offset", json_object_new_int64((int64_t)st->offset));
		json_object_object_add(o, "stream_bytes", json_object_new_int64((int64_t)st->length));
		json_object_object_add(o, "payload_bytes", json_object_new_int64((int64_t)st->payload));
		json_object_object_add(o, "chunks", json_object_new_int64((int64_t)st->chunks));
		json_object_object_add(o, "sha256", json_object_new_string(st->sha256));
		json_object_object_add(o, "described_field_size", json_object_new_int64((int64_t)st->desc_size));
		json_object_array_add(states, o);
	}
	json_object_object_add(doc, "states", states);
	json_object_object_add(desc, "offset", json_object_new_int64((int64_t)q->desc_offset));
	json_object_object_add(desc, "length", json_object_new_int64(q->desc_len));
	if (!q->described) {
		json_object_put(desc);
		desc = NULL;
	}
	json_object_object_add(doc, "vm_description", desc);
	return doc;
}

/* --- QEMU's JSON style (qobject/json-writer.c) ------------------------- */

/* One code point from UTF-8, or -1 for an invalid sequence (1 byte used). */
static long
utf8_next(const unsigned char *s, size_t len, size_t *used)
{
	unsigned n;
	long cp;

	*used = 1;
	if (s[0] < 0x80)
		return s[0];
	if ((s[0] & 0xe0) == 0xc0)
		n = 1, cp = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 2, cp = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 3, cp = s[0] & 0x07;
	else
		return -1;
	if (n >= len)
		return -1;
	for (unsigned i = 1; i <= n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || (n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
	    (n == 3 && cp < 0x10000))
		return -1;
	*used = n + 1;
	return cp;
}

static void
put_quoted(FILE *f, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;

	fputc('"', f);
	for (size_t i = 0, used; i < len; i += used) {
		long cp = utf8_next(s + i, len - i, &used);
		switch (cp) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\b': fputs("\\b", f); break;
		case '\f': fputs("\\f", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (cp < 0)
				cp = 0xfffd;
			if (cp > 0xffff) {
				cp -= 0x10000;
				fprintf(f, "\\u%04lX\\u%04lX", 0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
			} else if (cp < 0x20 || cp >= 0x7f) {
				fprintf(f, "\\u%04lX", cp);
			} else {
				fputc((int)cp, f);
			}
		}
	}
	fputc('"', f);
}

static void
put_value(FILE *f, struct json_object *o)
{
	bool first = true;

	switch (json_object_get_type(o)) {
	case json_type_null: fputs("null", f); break;
	case json_type_boolean: fputs(json_object_get_boolean(o) ? "true" : "false", f); break;
	case json_type_int:
	case json_type_double: fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), f); break;
	case json_type_string: put_quoted(f, json_object_get_string(o), (size_t)json_object_get_string_len(o)); break;
	case json_type_object:
		fputc('{', f);
		json_object_object_foreach(o, key, val) {
			if (!first)
				fputs(", ", f);
			first = false;
			put_quoted(f, key, strlen(key));
			fputs(": ", f);
			put_value(f, val);
		}
		fputc('}', f);
		break;
	case json_type_array:
		fputc('[', f);
		for (size_t i = 0; i < json_object_array_length(o); i++) {
			if (i)
				fputs(", ", f);
			put_value(f, json_object_array_get_idx(o, i));
		}
		fputc(']', f);
		break;
	}
}

char *
vs_qemu_json_serialize(struct json_object *o, size_t *len)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	if (!f) {
		vs_error_set(VS_EXIT_FAIL, errno, "out of memory");
		return NULL;
	}
	put_value(f, o);
	if (ferror(f) | fclose(f)) {
		free(buf);
		vs_error_set(VS_EXIT_FAIL, ENOMEM, "out of memory");
		return NULL;
	}
	*len = size;
	return buf;
}
