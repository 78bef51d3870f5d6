/* vhost-state diff A B [--json]: do two states hold the same payload?
 * Chunking and container are ignored; virtiofsd states are compared
 * field by field. */
#include <config.h>

#include <inttypes.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "error.h"
#include "input.h"
#include "payload.h"

struct diff_args {
	const char *a, *b;
};

static error_t
parse(int key, char *arg, struct argp_state *state)
{
	struct diff_args *a = state->input;

	switch (key) {
	case ARGP_KEY_ARG:
		if (!a->a)
			a->a = arg;
		else if (!a->b)
			a->b = arg;
		else
			vs_usage_error(state, "too many arguments: '%s'", arg);
		break;
	case ARGP_KEY_END:
		if (a->a && a->b && strcmp(a->a, "-") == 0 && strcmp(a->b, "-") == 0)
			vs_usage_error(state, "A and B cannot both be - (stdin is read once)");
		if (!a->b)
			vs_usage_error(state, "two files are required");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp_child children[] = { VS_JSON_CHILD, VS_COMMON_CHILD, { 0 } };
static const struct argp diff_argp = {
	NULL, parse, "A B",
	"Compare two states offline, payload against payload (framing, compression and container "
	"do not matter).  Exit 0: the same; 2: different.  virtiofsd states are compared field "
	"by field (inodes, handles, counters); other kinds report the first differing offset.",
	children, NULL, NULL
};

struct differ {
	struct json_object *list;
	bool print;
};

static void
note(struct differ *d, const char *what, const char *a, const char *b)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "what", json_object_new_string(what));
	json_object_object_add(o, "a", a ? json_object_new_string(a) : NULL);
	json_object_object_add(o, "b", b ? json_object_new_string(b) : NULL);
	json_object_array_add(d->list, o);
	if (d->print)
		printf("  %s: %s -> %s\n", what, a ? a : "(absent)", b ? b : "(absent)");
}

static void
note_u64(struct differ *d, const char *what, uint64_t a, uint64_t b)
{
	char sa[24], sb[24];

	if (a == b)
		return;
	snprintf(sa, sizeof sa, "%" PRIu64, a);
	snprintf(sb, sizeof sb, "%" PRIu64, b);
	note(d, what, sa, sb);
}

static const struct vs_vfs_inode *
find_inode(const struct vs_vfs_state *st, uint64_t id)
{
	for (size_t i = 0; i < st->ninodes; i++)
		if (st->inodes[i].id == id)
			return &st->inodes[i];
	return NULL;
}

static const struct vs_vfs_handle *
find_handle(const struct vs_vfs_state *st, uint64_t id)
{
	for (size_t i = 0; i < st->nhandles; i++)
		if (st->handles[i].id == id)
			return &st->handles[i];
	return NULL;
}

static void
describe(const struct vs_vfs_state *st, const struct vs_vfs_inode *ino, char *buf, size_t len)
{
	char where[4200];

	if (!ino) {
		buf[0] = '\0';
		return;
	}
	vs_vfs_describe_inode(st, ino, where, sizeof where);
	snprintf(buf, len, "%s (refcount %" PRIu64 ")", where, ino->refcount);
}

static void
diff_inodes(struct differ *d, const struct vs_vfs_state *a, const struct vs_vfs_state *b)
{
	char da[4300], db[4300], what[48];

	/* every id in either, once: first a's, then b's that a lacks */
	for (int pass = 0; pass < 2; pass++) {
		const struct vs_vfs_state *s = pass ? b : a;
		for (size_t i = 0; i < s->ninodes; i++) {
			uint64_t id = s->inodes[i].id;
			const struct vs_vfs_inode *ia = find_inode(a, id), *ib = find_inode(b, id);
			if (pass && ia)
				continue;
			describe(a, ia, da, sizeof da);
			describe(b, ib, db, sizeof db);
			if (ia && ib && strcmp(da, db) == 0 && ia->file_handle == ib->file_handle)
				continue;
			snprintf(what, sizeof what, "inode %" PRIu64, id);
			note(d, what, ia ? da : NULL, ib ? db : NULL);
		}
	}
}

static void
diff_handles(struct differ *d, const struct vs_vfs_state *a, const struct vs_vfs_state *b)
{
	char da[64], db[64], what[48];

	for (int pass = 0; pass < 2; pass++) {
		const struct vs_vfs_state *s = pass ? b : a;
		for (size_t i = 0; i < s->nhandles; i++) {
			uint64_t id = s->handles[i].id;
			const struct vs_vfs_handle *ha = find_handle(a, id), *hb = find_handle(b, id);
			if (pass && ha)
				continue;
			if (ha)
				snprintf(da, sizeof da, "inode %" PRIu64 ", flags 0%o", ha->inode, (unsigned)ha->flags);
			if (hb)
				snprintf(db, sizeof db, "inode %" PRIu64 ", flags 0%o", hb->inode, (unsigned)hb->flags);
			if (ha && hb && strcmp(da, db) == 0)
				continue;
			snprintf(what, sizeof what, "handle %" PRIu64, id);
			note(d, what, ha ? da : NULL, hb ? db : NULL);
		}
	}
}

static void
diff_vfs(struct differ *d, const struct vs_vfs_state *a, const struct vs_vfs_state *b)
{
	note_u64(d, "version", a->variant, b->variant);
	note_u64(d, "next_inode", a->next_inode, b->next_inode);
	note_u64(d, "next_handle", a->next_handle, b->next_handle);
	note_u64(d, "writeback", a->writeback, b->writeback);
	note_u64(d, "announce_submounts", a->announce_submounts, b->announce_submounts);
	note_u64(d, "posix_acl", a->posix_acl, b->posix_acl);
	note_u64(d, "sup_group_extension", a->sup_group_extension, b->sup_group_extension);
	note_u64(d, "mount paths", a->nmounts, b->nmounts);
	diff_inodes(d, a, b);
	diff_handles(d, a, b);
}

/* First differing payload offset, streaming; UINT64_MAX if equal. */
static int
first_difference(struct vs_state_input *a, struct vs_state_input *b, uint64_t *at)
{
	struct vs_chunk_reader ra, rb;
	unsigned char *ba = malloc(65536), *bb = malloc(65536);
	uint64_t off = 0;
	int rc = -1;

	*at = UINT64_MAX;
	if (!ba || !bb) {
		vs_error_set(VS_EXIT_FAIL, ENOMEM, "out of memory");
		goto out;
	}
	if (vs_state_input_rewind(a, &ra) < 0 || vs_state_input_rewind(b, &rb) < 0)
		goto out;
	for (;;) {
		/* full buffers on both sides, so the comparison lines up
		 * whatever the chunking */
		ssize_t na = vs_chunk_read_full(&ra, ba, 65536), nb = vs_chunk_read_full(&rb, bb, 65536);
		if (na < 0 || nb < 0)
			goto out;
		ssize_t k = na < nb ? na : nb;
		for (ssize_t i = 0; i < k; i++)
			if (ba[i] != bb[i]) {
				*at = off + i;
				rc = 0;
				goto out;
			}
		if (na != nb) {
			*at = off + k;
			break;
		}
		if (na == 0)
			break;
		off += na;
	}
	rc = 0;
out:
	free(ba);
	free(bb);
	return rc;
}

int
vs_cmd_diff(int argc, char **argv)
{
	struct diff_args args = { 0 };
	struct vs_state_input a = { 0 }, b = { 0 };
	struct vs_chunk_limits lim = { 0 };
	struct differ d = { 0 };
	struct json_object *doc = json_object_new_object();
	unsigned char *pa = NULL, *pb = NULL;
	size_t la, lb;
	uint64_t at;
	bool same;

	argp_parse(&diff_argp, argc, argv, 0, NULL, &args);
	d.print = !vs_opt.json;
	d.list = json_object_new_array();
	lim.max_total = vs_opt.max_size;
	if (vs_state_input_open(&a, args.a, &lim) < 0 || vs_state_input_open(&b, args.b, &lim) < 0 ||
	    first_difference(&a, &b, &at) < 0)
		goto fail;
	same = at == UINT64_MAX;
	json_object_object_add(doc, "same", json_object_new_boolean(same));
	json_object_object_add(doc, "a", json_object_new_string(args.a));
	json_object_object_add(doc, "b", json_object_new_string(args.b));
	json_object_object_add(doc, "a_payload_bytes", json_object_new_int64((int64_t)a.payload));
	json_object_object_add(doc, "b_payload_bytes", json_object_new_int64((int64_t)b.payload));
	json_object_object_add(doc, "first_difference", same ? NULL : json_object_new_int64((int64_t)at));
	if (d.print) {
		if (same)
			printf("same: %s and %s hold the same %" PRIu64 "-byte payload\n", args.a, args.b, a.payload);
		else
			printf("different: the payloads differ at offset %" PRIu64 " (%s: %" PRIu64 " bytes, %s: %" PRIu64
			       " bytes)\n",
			       at, args.a, a.payload, args.b, b.payload);
	}
	if (!same && a.kind == VS_KIND_FS && b.kind == VS_KIND_FS) {
		struct vs_vfs_state sa, sb;
		if (vs_state_input_load(&a, VS_DECODE_MAX, &pa, &la) == 0 &&
		    vs_state_input_load(&b, VS_DECODE_MAX, &pb, &lb) == 0 &&
		    vs_vfs_decode(pa, la, &sa, NULL, 0) == 0) {
			if (vs_vfs_decode(pb, lb, &sb, NULL, 0) == 0) {
				if (d.print)
					printf("virtiofsd state differences (A -> B):\n");
				diff_vfs(&d, &sa, &sb);
				vs_vfs_state_free(&sb);
			}
			vs_vfs_state_free(&sa);
		}
		json_object_object_add(doc, "kind", json_object_new_string("fs"));
	}
	json_object_object_add(doc, "differences", json_object_get(d.list));
	if (vs_opt.json)
		puts(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	free(pa);
	free(pb);
	json_object_put(d.list);
	json_object_put(doc);
	vs_state_input_close(&a);
	vs_state_input_close(&b);
	return same ? 0 : VS_EXIT_DIFFERENT;
fail:
	free(pa);
	free(pb);
	json_object_put(d.list);
	json_object_put(doc);
	vs_state_input_close(&a);
	vs_state_input_close(&b);
	return vs_report_error("diff");
}
