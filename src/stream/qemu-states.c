/* The vhost-user back-end states inside device sections: QEMU's chunk
 * lists (hashed as they are walked), the states' records, and virtio-net's
 * back-end subsection, found inside its opaque `virtio` field.  Also the
 * small JSON accessors of the description.  Part of the walker
 * (qemu-walk.h). */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "error.h"
#include "qemu-walk.h"

int
vs_qf_json_size(struct json_object *o, const char *key, int64_t *v)
{
	struct json_object *n;

	if (!json_object_object_get_ex(o, key, &n) || !json_object_is_type(n, json_type_int) ||
	    (*v = json_object_get_int64(n)) < 0)
		return -1;
	return 0;
}

const char *
vs_qf_json_str(struct json_object *o, const char *key)
{
	struct json_object *n;

	if (!json_object_object_get_ex(o, key, &n) || !json_object_is_type(n, json_type_string))
		return NULL;
	return json_object_get_string(n);
}

/* A chunk list (be32 n + n bytes, ended by be32 0) at r->off, hashed, all
 * within r->end. */
int
vs_qf_chunk_list(struct walk *w, struct vs_qemu_state *st)
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
		if (vs_qf_be32(r, &n, "a back-end state chunk length") < 0)
			return -1;
		if (n == 0)
			break;
		if (w->q->max_payload && n > w->q->max_payload - st->payload) {
			w->over_max = true;
			return vs_fail_hint(VS_EXIT_DATAERR, VS_HINT_MAX_SIZE,
					    "%s: the back-end state at offset %" PRIu64 " exceeds the limit of %" PRIu64
					    " bytes",
					    w->q->name, st->offset, w->q->max_payload);
		}
		if (r->off > r->end || n > r->end - r->off)
			return vs_qf_bad(r, at,
				   "a back-end state chunk declares %" PRIu32 " bytes, but only %" PRIu64 " are left before %s",
				   n, r->off > r->end ? 0 : r->end - r->off,
				   r->limit);
		for (uint32_t left = n; left > 0;) {
			size_t k = left < READ_BUF ? left : READ_BUF;
			const unsigned char *p = vs_qf_peek(r, k, "a back-end state chunk");
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
	vs_hex(st->sha256, digest, sizeof digest);
	return 0;
}

int
vs_qf_add_state(struct walk *w, struct vs_qemu_state *st, enum vs_payload_kind kind, struct json_object *field,
	  uint64_t field_size)
{
	struct vs_qemu_file *q = w->q;
	struct vs_qemu_section *sec;

	if (w->cur_section >= q->nsections)
		return vs_qf_bad(&w->r, st->offset, "a back-end's state outside any device's section");
	sec = &q->sections[w->cur_section];
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
int
vs_qf_net_state(struct walk *w, uint64_t start, uint64_t size, struct json_object *field)
{
	static const char pat[] = "\x05\x19" NET_SUBSECTION;
	const size_t plen = sizeof pat - 1;
	struct reader *r = &w->r;
	uint64_t end = start + size, saved_end = r->end, cand[MAX_NET_CANDIDATES], next = start;
	const char *saved_limit = r->limit;
	size_t ncand = 0, valid = 0;
	struct vs_qemu_state st, found;

	if (size > r->end - start)
		return vs_qf_bad(r, start, "field '%s' of %s declares %" PRIu64 " bytes, but only %" PRIu64 " are left",
			   NET_FIELD, w->q->sections[w->cur_section].name, size, r->end - start);
	for (uint64_t pos = start; end - pos >= plen;) {
		size_t n = end - pos < READ_BUF ? end - pos : READ_BUF;
		const unsigned char *p;
		r->off = pos;
		if (!(p = vs_qf_peek(r, n, "the virtio field")))
			return -1;
		for (const unsigned char *m = p; (m = memmem(m, n - (m - p), pat, plen)); m++) {
			if (pos + (m - p) < next)
				continue;
			if (ncand == MAX_NET_CANDIDATES)
				return vs_qf_bad(r, pos + (m - p), "more than %d lookalikes of the %s subsection in field '%s'",
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
		if (vs_qf_be32(r, &version, "a subsection version") < 0 || (version == 0 && vs_qf_chunk_list(w, &st) < 0)) {
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
		if (!ok && end - r->off >= 2 + strlen(VIRTIO_SUBSECTION_PREFIX) && (p = vs_qf_peek(r, 2, "x")) &&
		    p[0] == QEMU_VM_SUBSECTION && p[1] <= end - r->off - 2 && p[1] >= strlen(VIRTIO_SUBSECTION_PREFIX)) {
			r->off += 2;
			p = vs_qf_peek(r, strlen(VIRTIO_SUBSECTION_PREFIX), "x");
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
		return vs_qf_bad(r, start,
			   "field '%s' of %s holds %zu well-formed %s subsections (at %s): which one QEMU wrote is "
			   "ambiguous",
			   NET_FIELD, w->q->sections[w->cur_section].name, valid, NET_SUBSECTION, where);
	}
	if (valid == 1)
		return vs_qf_add_state(w, &found, VS_KIND_NET, field, size);
	return 0;
}

