/* Walking a QEMU precopy migration stream (migration/savevm.c,
 * migration/vmstate.c, migration/ram.c of QEMU 8.2 .. 10), plain or
 * mapped-ram, bare or inside a libvirt save image.  The reader is
 * positional (pread), bounded by the start of the VM description (or the
 * file's end), so a length that points past it is reported, never
 * followed.  Device sections are walked by the description when the file
 * has one, else between their footers (qemu-nodesc.c).  This file owns the
 * reader, the description, the section walk and the public entry points;
 * qemu-walk.h says what the other files own. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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
#include "qemu-walk.h"
#include "source.h"
#include "vs-json.h"


int
vs_qf_bad(struct reader *r, uint64_t at, const char *fmt, ...)
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
int
vs_qf_unsupported(struct reader *r, uint64_t at, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return vs_fail(VS_EXIT_DATAERR, 0, "%s: not supported (at offset %" PRIu64 "): %s", r->q->name, at, msg);
}

/* Names from the file go into messages: keep them printable. */
void
vs_qf_printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

int
vs_qf_pread(int fd, void *buf, size_t len, uint64_t off, size_t *got, const char *name)
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

/* The reader's buffer for q->fd: READ_BUF, or the file's size + 1 for a
 * smaller file, which is then read whole, once (buf[size] = NUL): the
 * magic, the description's search and text and the walk are all served
 * from it, where each took a pread or two of its own. */
static int
reader_fill(struct reader *r)
{
	struct vs_qemu_file *q = r->q;
	size_t got;

	free(r->buf);
	r->buf_off = r->buf_len = 0;
	r->buf_cap = q->size < READ_BUF ? (size_t)q->size + 1 : READ_BUF;
	r->buf = malloc(r->buf_cap);
	if (!r->buf)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	if (q->size >= READ_BUF)
		return 0;
	if (vs_qf_pread(q->fd, r->buf, (size_t)q->size, 0, &got, q->name) < 0)
		return -1;
	r->buf_len = got;
	r->buf[got] = '\0';
	return 0;
}

/* The whole file is in the buffer (a short read leaves it to preads,
 * which then say the file shrank). */
bool
vs_qf_reader_whole(const struct reader *r)
{
	return r->buf_off == 0 && r->buf_len == r->q->size;
}

/* The n bytes at r->off (n <= READ_BUF), not consumed. */
const unsigned char *
vs_qf_peek(struct reader *r, size_t n, const char *what)
{
	size_t got;

	if (r->off > r->end || n > r->end - r->off) {
		vs_qf_bad(r, r->off, "%s needs %zu bytes, but only %" PRIu64 " are left before %s", what, n,
		    r->off > r->end ? 0 : r->end - r->off,
		    r->limit);
		return NULL;
	}
	if (r->off < r->buf_off || r->off + n > r->buf_off + r->buf_len) {
		size_t want = r->end - r->off < r->buf_cap ? r->end - r->off : r->buf_cap;
		if (vs_qf_pread(r->q->fd, r->buf, want, r->off, &got, r->q->name) < 0)
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

int
vs_qf_bytes(struct reader *r, void *dst, size_t n, const char *what)
{
	const unsigned char *p = vs_qf_peek(r, n, what);

	if (!p)
		return -1;
	memcpy(dst, p, n);
	r->off += n;
	return 0;
}

/* The fixed-width fields: one bounds check each (a be64 is one read,
 * not two be32s; the walk reads millions of RAM record headers). */
int
vs_qf_u8(struct reader *r, uint8_t *v, const char *what)
{
	const unsigned char *p = vs_qf_peek(r, 1, what);

	if (!p)
		return -1;
	*v = *p;
	r->off++;
	return 0;
}

int
vs_qf_be16(struct reader *r, uint16_t *v, const char *what)
{
	const unsigned char *p = vs_qf_peek(r, 2, what);

	if (!p)
		return -1;
	*v = vs_get_be16(p);
	r->off += 2;
	return 0;
}

int
vs_qf_be32(struct reader *r, uint32_t *v, const char *what)
{
	const unsigned char *p = vs_qf_peek(r, 4, what);

	if (!p)
		return -1;
	*v = vs_get_be32(p);
	r->off += 4;
	return 0;
}

int
vs_qf_be64(struct reader *r, uint64_t *v, const char *what)
{
	const unsigned char *p = vs_qf_peek(r, 8, what);

	if (!p)
		return -1;
	*v = vs_get_be64(p);
	r->off += 8;
	return 0;
}

/* u8 length + bytes, as QEMU writes idstrs and subsection names. */
int
vs_qf_name(struct reader *r, char out[256], const char *what)
{
	uint8_t len;

	if (vs_qf_u8(r, &len, what) < 0 || vs_qf_bytes(r, out, len, what) < 0)
		return -1;
	out[len] = '\0';
	if (memchr(out, '\0', len))
		return vs_qf_bad(r, r->off - len, "%s contains a NUL byte", what);
	vs_qf_printable(out);
	return 0;
}

int
vs_qf_skip(struct reader *r, uint64_t n, const char *what)
{
	if (r->off > r->end || n > r->end - r->off)
		return vs_qf_bad(r, r->off, "%s declares %" PRIu64 " bytes, but only %" PRIu64 " are left before %s", what, n,
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

	if (vs_qf_reader_whole(r)) {
		const unsigned char *m = hi > lo ? memrchr(r->buf + lo, QEMU_VM_VMDESCRIPTION, hi - lo) : NULL;
		if (m)
			pos = (uint64_t)(m - r->buf);
		hi = lo;
	}
	/* sized to what is searched: most files are far smaller than READ_BUF */
	buf = hi > lo ? malloc(hi - lo < READ_BUF ? (size_t)(hi - lo) + 1 : READ_BUF) : NULL;
	if (hi > lo && !buf)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	while (hi > lo && pos == UINT64_MAX) {
		uint64_t from = hi - lo > READ_BUF ? hi - READ_BUF : lo;
		if (vs_qf_pread(q->fd, buf, hi - from, from, &got, q->name) < 0) {
			free(buf);
			return -1;
		}
		if (got != hi - from) {
			free(buf);
			return vs_fail(VS_EXIT_FAIL, 0, "%s: the file shrank while it was read", q->name);
		}
		const unsigned char *m = memrchr(buf, QEMU_VM_VMDESCRIPTION, got);
		if (m)
			pos = from + (uint64_t)(m - buf);
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
		if (vs_qf_reader_whole(r))
			memcpy(head, r->buf + at, got = 5);
		else if (vs_qf_pread(q->fd, head, 5, at, &got, q->name) < 0)
			return -1;
		len = vs_get_be32(head + 1);
		if (got == 5 && head[0] == QEMU_VM_VMDESCRIPTION && len == q->size - at - 5) {
			q->desc_offset = at;
			q->desc_len = len;
			return 0;
		}
	}
	return 1;
}

static int
load_desc(struct vs_qemu_file *q, struct reader *r)
{
	struct json_tokener *tok;
	struct json_object *ps;
	char *text, *own = NULL;
	size_t got = q->desc_len;
	int64_t page;

	/* the description ends the file: in a whole buffer, the NUL after the
	 * file ends its text */
	if (vs_qf_reader_whole(r)) {
		text = (char *)r->buf + q->desc_offset + 5;
	} else {
		text = own = malloc((size_t)q->desc_len + 1);
		if (!text)
			return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
		if (vs_qf_pread(q->fd, text, q->desc_len, q->desc_offset + 5, &got, q->name) < 0) {
			free(own);
			return -1;
		}
		if (got != q->desc_len) {
			free(own);
			return vs_fail(VS_EXIT_FAIL, 0, "%s: the file shrank while it was read", q->name);
		}
		text[got] = '\0';
	}
	/* json-c spends ~100 bytes per value: bound the values (each but the
	 * first follows a comma or an opening bracket) before parsing */
	size_t values = 1, lead = strspn(text, " \t\r\n");
	for (size_t k = strcspn(text, ",[{"); k < got; k += 1 + strcspn(text + k + 1, ",[{"))
		values += text[k] != '\0'; /* strcspn stops at a NUL too: step over it */
	if (text[lead] != '{' || values > DESC_VALUES_MAX) {
		bool object = text[lead] == '{';
		free(own);
		return vs_qf_bad(r, q->desc_offset + 5 + (object ? 0 : lead),
			   object ? "the VM description has more values than any real one"
				  : "the VM description is not a JSON object");
	}
	tok = json_tokener_new_ex(4 * MAX_DEPTH + 16);
	if (!tok) {
		free(own);
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	}
	q->desc = json_tokener_parse_ex(tok, text, (int)q->desc_len);
	if (!q->desc || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != q->desc_len || !json_object_is_type(q->desc, json_type_object)) {
		size_t end = json_tokener_get_parse_end(tok);
		enum json_tokener_error e = json_tokener_get_error(tok);
		json_tokener_free(tok);
		free(own);
		json_object_put(q->desc);
		q->desc = NULL;
		return vs_qf_bad(r, q->desc_offset + 5 + end, "the VM description is not one JSON object (%s)",
			   e != json_tokener_success ? json_tokener_error_desc(e) : "trailing bytes");
	}
	json_tokener_free(tok);
	free(own);
	if (!json_object_object_get_ex(q->desc, "page_size", &ps) || !json_object_is_type(ps, json_type_int) ||
	    (page = json_object_get_int64(ps)) < 512 || page > (1 << 20) || (page & (page - 1)))
		return vs_qf_bad(r, q->desc_offset + 5, "the VM description has no usable page_size");
	q->page_size = (uint64_t)page;
	return 0;
}

/* A plain stream (not mapped-ram) without a description is most likely a
 * cut one; without target-page-bits its RAM records cannot be read. */
int
vs_qf_no_desc(struct reader *r)
{
	return vs_qf_bad(r, r->q->size,
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
		vs_qf_bad(&w->r, at, "more than %u sections", MAX_SECTIONS);
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
	if (vs_qf_be32(&w->r, id, "a section id") < 0)
		return -1;
	if (!named)
		return 0;
	if (vs_qf_name(&w->r, name, "a section name") < 0 || vs_qf_be32(&w->r, instance, "a section instance id") < 0 ||
	    vs_qf_be32(&w->r, version, "a section version") < 0)
		return -1;
	return 0;
}

/* QEMU_VM_SECTION_FOOTER + be32 section id, when the source sends them
 * (every current machine type does); then every section has one. */
static int
footer(struct walk *w, uint32_t id)
{
	const unsigned char *p = vs_qf_peek(&w->r, 1, "a section footer or the next section");
	uint64_t at = w->r.off;
	uint32_t got;

	if (!p)
		return -1;
	if (*p != QEMU_VM_SECTION_FOOTER) {
		if (w->footers == 1)
			return vs_qf_bad(&w->r, at, "expected the footer of section %" PRIu32 " (0x7e), found 0x%02x", id, *p);
		w->footers = 0;
		return 0;
	}
	if (w->footers == 0)
		return vs_qf_bad(&w->r, at, "a section footer, but the sections before had none");
	w->footers = 1;
	w->r.off++;
	if (vs_qf_be32(&w->r, &got, "a section footer") < 0)
		return -1;
	if (got != id)
		return vs_qf_bad(&w->r, at, "the footer names section %" PRIu32 ", expected %" PRIu32, got, id);
	return 0;
}

/* --- device state (vmstate) ----------------------------------------------- */

/* One vmsd as described: fields by their sizes, then the subsections that
 * were written, each checked by name and version. */
static int
walk_vmsd(struct walk *w, struct json_object *d, const char *owner, int depth, bool top)
{
	struct reader *r = &w->r;
	struct json_object *fields, *subs;
	const char *vmsd = vs_qf_json_str(d, "vmsd_name");

	if (depth > MAX_DEPTH)
		return vs_qf_bad(r, r->off, "the VM description of %s nests deeper than %d", owner, MAX_DEPTH);
	if (!json_object_object_get_ex(d, "fields", &fields) || !json_object_is_type(fields, json_type_array))
		return vs_qf_bad(r, r->off, "the VM description of %s has no fields", owner);
	for (size_t i = 0; i < json_object_array_length(fields); i++) {
		struct json_object *f = json_object_array_get_idx(fields, i);
		const char *name = vs_qf_json_str(f, "name"), *type = vs_qf_json_str(f, "type");

		if (++w->visits > VISITS_MAX)
			return vs_qf_bad(r, r->off, "the VM description makes the walk too long (more than %llu entries visited)",
				   VISITS_MAX);
		int64_t size, n = 1;
		uint64_t total, at = r->off;
		char what[300];

		if (!name || vs_qf_json_size(f, "size", &size) < 0 ||
		    (json_object_object_get_ex(f, "array_len", NULL) && (vs_qf_json_size(f, "array_len", &n) < 0 || n < 1)))
			return vs_qf_bad(r, at, "the VM description of %s has a field without a usable name or size", owner);
		if ((uint64_t)size > UINT64_MAX / (uint64_t)n)
			return vs_qf_bad(r, at, "field '%s' of %s: size overflows", name, owner);
		total = (uint64_t)size * (uint64_t)n;
		/* a back-end's state belongs to a device's section: the
		 * configuration, read before any, has none */
		if (!top && !w->in_config && vmsd && strcmp(vmsd, FS_SUBSECTION) == 0 && strcmp(name, FS_FIELD) == 0) {
			struct vs_qemu_state st;
			if (vs_qf_chunk_list(w, &st) < 0)
				return -1;
			if (st.length != total)
				return vs_qf_bad(r, at,
					   "the back-end state of %s is a %" PRIu64 "-byte chunk list, but the VM description "
					   "says field '%s' is %" PRIu64 " bytes",
					   w->q->sections[w->cur_section].name, st.length, FS_FIELD, total);
			if (vs_qf_add_state(w, &st, VS_KIND_FS, f, total) < 0)
				return -1;
			continue;
		}
		if (top && vmsd && strcmp(vmsd, NET_VMSD) == 0 && strcmp(name, NET_FIELD) == 0 && type &&
		    strcmp(type, "virtio") == 0) {
			if (vs_qf_net_state(w, at, total, f) < 0)
				return -1;
			continue;
		}
		snprintf(what, sizeof what, "field '%s' of %s", name, owner);
		if (vs_qf_skip(r, total, what) < 0)
			return -1;
	}
	if (!json_object_object_get_ex(d, "subsections", &subs))
		return 0;
	if (!json_object_is_type(subs, json_type_array))
		return vs_qf_bad(r, r->off, "the VM description of %s has malformed subsections", owner);
	for (size_t i = 0; i < json_object_array_length(subs); i++) {
		struct json_object *s = json_object_array_get_idx(subs, i);
		const char *want = vs_qf_json_str(s, "vmsd_name");
		int64_t version;
		uint64_t at = r->off;
		char name[256];
		uint8_t t;
		uint32_t v;

		if (!want || vs_qf_json_size(s, "version", &version) < 0)
			return vs_qf_bad(r, at, "the VM description of %s has a subsection without name or version", owner);
		if (vs_qf_u8(r, &t, "a subsection marker") < 0)
			return -1;
		if (t != QEMU_VM_SUBSECTION)
			return vs_qf_bad(r, at, "expected subsection '%s' of %s (0x05), found 0x%02x", want, owner, t);
		if (vs_qf_name(r, name, "a subsection name") < 0 || vs_qf_be32(r, &v, "a subsection version") < 0)
			return -1;
		if (strcmp(name, want) != 0 || v != (uint64_t)version)
			return vs_qf_bad(r, at, "subsection '%s' version %" PRIu32 ", but the VM description expects '%s' version %" PRId64,
				   name, v, want, version);
		if ((w->in_config && vs_qf_config_subsection(w, name) < 0) || walk_vmsd(w, s, want, depth + 1, false) < 0)
			return -1;
	}
	return 0;
}

/* Configuration subsections that change how the rest is read, read ahead
 * of the generic walk (which then checks their sizes). */
int
vs_qf_config_subsection(struct walk *w, const char *name)
{
	struct reader *r = &w->r;
	uint64_t start = r->off;
	uint32_t count, bits;
	char cap[256];

	if (strcmp(name, "configuration/capabilities") == 0) {
		if (vs_qf_be32(r, &count, "the capability count") < 0)
			return -1;
		for (uint32_t i = 0; i < count; i++) {
			if (vs_qf_name(r, cap, "a capability name") < 0)
				return -1;
			if (strcmp(cap, "x-ignore-shared") == 0)
				w->q->ignore_shared = true;
			else if (strcmp(cap, "mapped-ram") == 0)
				w->q->mapped_ram = true;
		}
	} else if (strcmp(name, "configuration/target-page-bits") == 0) {
		if (vs_qf_be32(r, &bits, "the target page bits") < 0)
			return -1;
		if (bits < 9 || bits > 20 || (w->q->page_size && (1ull << bits) != w->q->page_size))
			return vs_qf_bad(r, start, "target page bits %" PRIu32 " disagree with the description's page_size %" PRIu64,
				   bits, w->q->page_size);
		w->q->page_size = 1ull << bits;
	} else if (strcmp(name, "configuration/uuid") == 0) {
		if (vs_qf_skip(r, 16, "the VM's UUID") < 0)
			return -1;
	} else if (!w->q->described) {
		return vs_qf_unsupported(r, start,
				   "configuration subsection '%s' in a file without a VM description (its length is "
				   "unknown)",
				   name);
	}
	if (w->q->described)
		r->off = start;
	return 0;
}

/* QEMU_VM_CONFIGURATION: the machine type (be32 length + name), then
 * optional subsections, all described under "configuration". */
/* The configuration section's first field, be32 length + the machine
 * type, into q->machine (both walkers read it this way). */
int
vs_qf_machine_type(struct walk *w)
{
	struct reader *r = &w->r;
	uint64_t start = r->off;
	uint32_t len;

	if (vs_qf_be32(r, &len, "the machine type length") < 0)
		return -1;
	if (len >= sizeof w->q->machine)
		return vs_qf_bad(r, start, "a %" PRIu32 "-byte machine type name", len);
	if (vs_qf_bytes(r, w->q->machine, len, "the machine type") < 0)
		return -1;
	w->q->machine[len] = '\0';
	vs_qf_printable(w->q->machine);
	return 0;
}

static int
configuration(struct walk *w)
{
	struct reader *r = &w->r;
	struct json_object *d;
	uint64_t start = r->off;

	if (!w->q->described)
		return vs_qf_configuration_nodesc(w);
	if (!json_object_object_get_ex(w->q->desc, "configuration", &d))
		return vs_qf_bad(r, start - 1, "a configuration section, but the VM description has no 'configuration'");
	if (vs_qf_machine_type(w) < 0)
		return -1;
	r->off = start;
	w->in_config = true;
	if (walk_vmsd(w, d, "configuration", 0, false) < 0)
		return -1;
	w->in_config = false;
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
	if (vs_qf_be32(r, &magic, "the file magic") < 0 || vs_qf_be32(r, &version, "the file version") < 0)
		return -1;
	if (magic != VS_QEMU_FILE_MAGIC)
		return vs_qf_bad(r, q->base, "expected QEMU's magic 0x5145564d (\"QEVM\"), found 0x%08" PRIx32, magic);
	if (version != VS_QEMU_FILE_VERSION)
		return vs_qf_bad(r, q->base + 4, "stream version %" PRIu32 " (only version 3 is understood)", version);
	for (;; first = false) {
		uint64_t at = r->off;
		struct vs_qemu_section *s;
		struct json_object *devs, *d = NULL;
		uint32_t id, instance = 0, ver = 0;
		char name[256];
		uint16_t cmd, len;
		uint8_t t;

		if (vs_qf_u8(r, &t, "a section type") < 0)
			return -1;
		switch (t) {
		case QEMU_VM_EOF:
			if (!q->described && r->off != q->size)
				return vs_qf_bad(r, at, "QEMU_VM_EOF, but %" PRIu64 " bytes follow it and they are no VM description",
					   q->size - r->off);
			if (r->off != q->desc_offset)
				return vs_qf_bad(r, at,
					   "QEMU_VM_EOF, but the VM description starts at offset %" PRIu64
					   " (%" PRIu64 " bytes in between)",
					   q->desc_offset, q->desc_offset - r->off);
			if (w->ram_section >= 0 && !w->ram_ended)
				return vs_qf_bad(r, at, "QEMU_VM_EOF before the end of the ram section");
			q->eof_offset = at;
			return 0;
		case QEMU_VM_CONFIGURATION:
			if (!first)
				return vs_qf_bad(r, at, "a configuration section after other sections");
			if (configuration(w) < 0)
				return -1;
			break;
		case QEMU_VM_COMMAND:
			if (vs_qf_be16(r, &cmd, "a command") < 0 || vs_qf_be16(r, &len, "a command length") < 0)
				return -1;
			if (cmd >= MIG_CMD_POSTCOPY_ADVISE && cmd <= MIG_CMD_RECV_BITMAP)
				return vs_qf_unsupported(r, at, "command %u: a postcopy stream (capability postcopy-ram)", cmd);
			if (!(cmd == MIG_CMD_SWITCHOVER_START && len == 0) && !(cmd == MIG_CMD_PING && len == 4))
				return vs_qf_bad(r, at,
					   "command %u with %u bytes (a precopy file holds only SWITCHOVER_START (11) and "
					   "PING (2))",
					   cmd, len);
			if (vs_qf_skip(r, len, "a command's data") < 0)
				return -1;
			q->commands++;
			break;
		case QEMU_VM_SECTION_START:
			if (section_header(w, true, &id, name, &instance, &ver) < 0)
				return -1;
			if (strcmp(name, "ram") != 0)
				return vs_qf_bad(r, at, "iterative section '%s': only the 'ram' section is understood", name);
			if (w->ram_section >= 0)
				return vs_qf_bad(r, at, "a second ram section");
			if (ver != 4)
				return vs_qf_bad(r, at, "ram section version %" PRIu32 " (expected 4)", ver);
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
			if (vs_qf_ram_records(w) < 0 || footer(w, id) < 0)
				return -1;
			break;
		case QEMU_VM_SECTION_PART:
		case QEMU_VM_SECTION_END:
			if (section_header(w, false, &id, NULL, NULL, NULL) < 0)
				return -1;
			if (w->ram_section < 0 || id != ram_id)
				return vs_qf_bad(r, at, "a %s of section %" PRIu32 ", which no QEMU_VM_SECTION_START opened",
					   t == QEMU_VM_SECTION_PART ? "QEMU_VM_SECTION_PART" : "QEMU_VM_SECTION_END", id);
			if (w->ram_ended)
				return vs_qf_bad(r, at, "more of the ram section after its end");
			w->ram_ended = t == QEMU_VM_SECTION_END;
			q->ram_parts++;
			if (vs_qf_ram_records(w) < 0 || footer(w, id) < 0)
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
				if (vs_qf_full_nodesc(w, at, id, name) < 0 || footer(w, id) < 0)
					return -1;
				q->sections[w->cur_section].length = r->off - at;
				break;
			}
			if (json_object_object_get_ex(q->desc, "devices", &devs) && json_object_is_type(devs, json_type_array))
				for (size_t i = 0; i < json_object_array_length(devs) && !d; i++) {
					struct json_object *e = json_object_array_get_idx(devs, i);
					const char *n = vs_qf_json_str(e, "name");
					int64_t inst, v;
					if (++w->visits > VISITS_MAX)
						return vs_qf_bad(r, at, "the VM description makes the walk too long (more than %llu "
								  "entries visited)",
							   VISITS_MAX);
					if (n && strcmp(n, name) == 0 && vs_qf_json_size(e, "instance_id", &inst) == 0 &&
					    inst == instance) {
						if (vs_qf_json_size(e, "version", &v) < 0 || v != ver)
							return vs_qf_bad(r, at, "section '%s' version %" PRIu32 " disagrees with its VM description",
								   name, ver);
						d = e;
					}
				}
			if (!d)
				return vs_qf_bad(r, at, "device section '%s' (instance %" PRIu32 ") has no VM description", name,
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
			return vs_qf_bad(r, at, "a section footer outside a section");
		default:
			return vs_qf_bad(r, at,
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
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && vs_qf_pread(fd, b, sizeof b, 0, &got, path) == 0 &&
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
	if (reader_fill(&w.r) < 0)
		goto out;
	/* a libvirt save image: its header, then QEMU's stream */
	{
		unsigned char magic[VS_LIBVIRT_MAGIC_LEN];
		size_t got;
		if (vs_qf_reader_whole(&w.r))
			memcpy(magic, w.r.buf, got = q->size < sizeof magic ? (size_t)q->size : sizeof magic);
		else if (vs_qf_pread(fd, magic, sizeof magic, 0, &got, name) < 0)
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
				/* the decompressed stream's now */
				if (reader_fill(&w.r) < 0)
					goto out;
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
		if (vs_qf_be32(&w.r, &magic, "the file magic") < 0 || vs_qf_be32(&w.r, &version, "the file version") < 0)
			goto out;
		if (magic != VS_QEMU_FILE_MAGIC) {
			vs_qf_bad(&w.r, q->base, "expected QEMU's magic 0x5145564d (\"QEVM\"), found 0x%08" PRIx32, magic);
			goto out;
		}
	}
	if (!vs_qf_reader_whole(&w.r))
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
	if (!vs_qf_reader_whole(&w.r))
		w.r.buf_off = w.r.buf_len = 0;
	rc = walk(&w);
	q->footers = w.footers == 1;
	/* what is wrong with a plain stream that has no description: that */
	if (rc < 0 && !q->described && !q->mapped_ram && vs_error_get()->exit_code == VS_EXIT_DATAERR &&
	    !strstr(vs_error_get()->msg, "not supported")) {
		vs_error_clear();
		vs_qf_no_desc(&w.r);
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
	free(w.dev_own);
	free(w.cands);
	if (rc < 0) {
		if (!q->compressed)
			q->fd = -1; /* the caller's */
		vs_qemu_file_close(q);
	}
	return rc;
}

int
vs_qemu_file_open(struct vs_qemu_file *q, const char *path, uint64_t max_payload, int timeout_ms)
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
		if (vs_source_open(&in, "-", timeout_ms) < 0) {
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
			if (vs_write_all(fd, buf, n, "spool file", -1) < 0)
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
			return vs_fail_hint(VS_EXIT_USAGE, VS_HINT_DEVICE, "%s holds %zu back-end states (%s)", q->name,
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

	vs_json_set(doc, "file", json_object_new_string(q->name));
	vs_json_set(doc, "format",
			       json_object_new_string(q->libvirt ? "libvirt-save-image" : "qemu-migration"));
	if (q->libvirt) {
		struct json_object *lv = json_object_new_object(), *dom = json_object_new_object();
		vs_json_set(lv, "version", json_object_new_int64(q->image.version));
		vs_json_set(lv, "format", json_object_new_string(vs_libvirt_format_name(q->image.format)));
		vs_json_set(lv, "format_number", json_object_new_int64(q->image.format));
		vs_json_set(lv, "was_running", json_object_new_boolean(q->image.was_running));
		vs_json_set(lv, "data_len", json_object_new_int64(q->image.data_len));
		vs_json_set(lv, "xml_bytes", json_object_new_int64((int64_t)q->image.xml_len));
		vs_json_set(lv, "cookie_bytes", json_object_new_int64((int64_t)q->image.cookie_len));
		vs_json_set(lv, "stream_offset", json_object_new_int64((int64_t)q->image.stream_offset));
		vs_json_set(lv, "big_endian", json_object_new_boolean(q->image.big_endian));
		vs_json_set(dom, "name", json_object_new_string(q->image.name));
		vs_json_set(dom, "uuid", json_object_new_string(q->image.uuid));
		vs_json_set(lv, "domain", dom);
		vs_json_set(doc, "libvirt", lv);
	} else {
		vs_json_set(doc, "libvirt", NULL);
	}
	vs_json_set(doc, "layout", json_object_new_string(q->mapped_ram ? "mapped-ram" : "plain"));
	vs_json_set(doc, "version", json_object_new_int(VS_QEMU_FILE_VERSION));
	vs_json_set(doc, "size", json_object_new_int64((int64_t)q->size));
	vs_json_set(doc, "machine", q->machine[0] ? json_object_new_string(q->machine) : NULL);
	vs_json_set(doc, "page_size", json_object_new_int64((int64_t)q->page_size));
	vs_json_set(doc, "section_footers", json_object_new_boolean(q->footers));
	vs_json_set(ram, "blocks", json_object_new_int64(q->ram_blocks));
	vs_json_set(ram, "bytes", json_object_new_int64((int64_t)q->ram_bytes));
	vs_json_set(ram, "pages", json_object_new_int64((int64_t)q->ram_pages));
	vs_json_set(ram, "zero_pages", json_object_new_int64((int64_t)q->ram_zero_pages));
	vs_json_set(ram, "xbzrle_pages", json_object_new_int64((int64_t)q->ram_xbzrle_pages));
	vs_json_set(ram, "parts", json_object_new_int64((int64_t)q->ram_parts));
	vs_json_set(doc, "ram", ram);
	for (size_t i = 0; i < q->nsections; i++) {
		const struct vs_qemu_section *s = &q->sections[i];
		struct json_object *o = json_object_new_object();
		vs_json_set(o, "name", json_object_new_string(s->name));
		vs_json_set(o, "instance_id", json_object_new_int64(s->instance_id));
		vs_json_set(o, "section_id", json_object_new_int64(s->section_id));
		vs_json_set(o, "version", json_object_new_int64(s->version));
		vs_json_set(o, "type", json_object_new_string(section_type_name(s->type)));
		vs_json_set(o, "offset", json_object_new_int64((int64_t)s->offset));
		if (s->type == QEMU_VM_SECTION_FULL)
			vs_json_set(o, "length", json_object_new_int64((int64_t)s->length));
		vs_json_set(o, "backend_state", json_object_new_boolean(s->state >= 0));
		json_object_array_add(secs, o);
	}
	vs_json_set(doc, "sections", secs);
	for (size_t i = 0; i < q->nstates; i++) {
		const struct vs_qemu_state *st = &q->states[i];
		struct json_object *o = json_object_new_object();
		vs_json_set(o, "index", json_object_new_int64((int64_t)i + 1));
		vs_json_set(o, "device", json_object_new_string(st->device));
		vs_json_set(o, "instance_id", json_object_new_int64(st->instance_id));
		vs_json_set(o, "kind", json_object_new_string(vs_payload_kind_name(st->kind)));
		vs_json_set(o, "offset", json_object_new_int64((int64_t)st->offset));
		vs_json_set(o, "stream_bytes", json_object_new_int64((int64_t)st->length));
		vs_json_set(o, "payload_bytes", json_object_new_int64((int64_t)st->payload));
		vs_json_set(o, "chunks", json_object_new_int64((int64_t)st->chunks));
		vs_json_set(o, "sha256", json_object_new_string(st->sha256));
		vs_json_set(o, "described_field_size", json_object_new_int64((int64_t)st->desc_size));
		json_object_array_add(states, o);
	}
	vs_json_set(doc, "states", states);
	vs_json_set(desc, "offset", json_object_new_int64((int64_t)q->desc_offset));
	vs_json_set(desc, "length", json_object_new_int64(q->desc_len));
	if (!q->described) {
		json_object_put(desc);
		desc = NULL;
	}
	vs_json_set(doc, "vm_description", desc);
	return doc;
}

