/* The walk of a migration stream without a VM description (machine option
 * suppress-vmdesc, mapped-ram layout): the configuration by its known
 * subsections, and device sections between their footers, with the
 * vhost-user-fs back-end state found at the end of its section.  Why this
 * is sound, and what is refused: doc/migration-files.md.  Part of the
 * walker (qemu-walk.h). */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bytes.h"
#include "error.h"
#include "io.h"
#include "qemu-walk.h"

/* Without a description: the machine type, then the subsections that
 * vs_qf_config_subsection() knows, each read by its own layout (QEMU's
 * migration/savevm.c vmstate_configuration), until the next section. */
int
vs_qf_configuration_nodesc(struct walk *w)
{
	struct reader *r = &w->r;
	uint32_t v;
	char name[256];

	if (vs_qf_machine_type(w) < 0)
		return -1;
	for (;;) {
		const unsigned char *p = vs_qf_peek(r, 1, "a configuration subsection or the next section");
		uint64_t at = r->off;
		if (!p)
			return -1;
		if (*p != QEMU_VM_SUBSECTION)
			return 0;
		r->off++;
		if (vs_qf_name(r, name, "a subsection name") < 0 || vs_qf_be32(r, &v, "a subsection version") < 0)
			return -1;
		if (strncmp(name, "configuration/", 14) != 0)
			return vs_qf_bad(r, at, "subsection '%s' in the configuration section", name);
		if (vs_qf_config_subsection(w, name) < 0)
			return -1;
	}
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
		return vs_qf_unsupported(r, from,
			   "%" PRIu64 " bytes of device sections without a VM description (at most %u "
			   "are searched for footers)",
			   r->end - from, NODESC_DEVICES_MAX);
	w->dev_len = r->end - from;
	w->dev_off = from;
	if (vs_qf_reader_whole(r)) {
		/* no copy: the device part is read in place */
		w->dev = r->buf + from;
	} else {
		w->dev = w->dev_own = malloc(w->dev_len ? w->dev_len : 1);
		if (!w->dev_own)
			return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
		if (vs_qf_pread(w->q->fd, w->dev_own, w->dev_len, from, &got, w->q->name) < 0)
			return -1;
		if (got != w->dev_len)
			return vs_fail(VS_EXIT_FAIL, 0, "%s: the file shrank while it was read", w->q->name);
	}
	for (const unsigned char *p = w->dev, *e = w->dev + w->dev_len; (p = memchr(p, QEMU_VM_SECTION_FOOTER, e - p));
	     p++) {
		if (e - p < 6 || !plausible_next(p + 5, e - p - 5))
			continue;
		if (w->ncands == cap) {
			struct footer_cand *c;
			if (cap == 2 * MAX_SECTIONS)
				return vs_qf_bad(r, from + (p - w->dev), "more than %u section footers", 2 * MAX_SECTIONS);
			cap = cap ? 2 * cap : 256;
			c = realloc(w->cands, cap * sizeof *c);
			if (!c)
				return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
			w->cands = c;
		}
		w->cands[w->ncands].id = vs_get_be32(p + 1);
		w->cands[w->ncands++].pos = from + (p - w->dev);
	}
	if (w->ncands)
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
		if (vs_qf_chunk_list(w, &st) < 0) {
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
		return vs_qf_unsupported(r, body,
			   "without a VM description, %zu spots in %s parse as its back-end state; "
			   "which one QEMU wrote is ambiguous",
			   valid, w->q->sections[w->cur_section].name);
	if (valid == 1)
		return vs_qf_add_state(w, &found, VS_KIND_FS, NULL, found.length);
	return 0;
}

/* A device section without a description: its bytes have no length, so
 * it ends at the only footer that names its section id, sits after its
 * header and is followed by a section header or EOF.  Sound because QEMU
 * ends every device section with that footer (when the machine sends
 * footers, as every current one does): the real footer is always one of
 * the candidates, so exactly one candidate is the real one, and a
 * lookalike inside device data makes two, which is refused. */
int
vs_qf_full_nodesc(struct walk *w, uint64_t at, uint32_t id, const char *name)
{
	struct reader *r = &w->r;
	struct footer_cand key = { .id = id, .pos = r->off };
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
	for (size_t k = lo; k < w->ncands && w->cands[k].id == id; k++)
		n++;
	if (n == 0)
		return vs_qf_bad(r, at,
			   "no footer of section %" PRIu32 " ('%s') follows it: without a VM description, device "
			   "sections are found between their footers (the file is truncated, or its machine type "
			   "sends no footers, which is not supported)",
			   id, name);
	if (n > 1)
		return vs_qf_unsupported(r, at,
			   "without a VM description the end of section %" PRIu32 " ('%s') is ambiguous "
			   "(%zu footer lookalikes, the first at offset %" PRIu64 ")",
			   id, name, n, w->cands[lo].pos);
	end = w->cands[lo].pos;
	if (name_is(name, "vhost-user-fs")) {
		if (fs_state_nodesc(w, body, end) < 0)
			return -1;
	} else if (name_is(name, NET_VMSD)) {
		if (vs_qf_net_state(w, body, end - body, NULL) < 0)
			return -1;
	}
	r->off = end;
	return 0;
}
