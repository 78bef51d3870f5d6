#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "decode.h"
#include "error.h"
#include "vs-json.h"

static struct json_object *
jint(uint64_t v)
{
	return v > INT64_MAX ? json_object_new_uint64(v) : json_object_new_int64((int64_t)v);
}

/* key: a string literal (vs_json_set) */
static void
add(struct json_object *o, const char *key, uint64_t v)
{
	vs_json_set(o, key, jint(v));
}

static struct json_object *
jhex(const unsigned char *p, size_t len)
{
	char buf[2 * VS_VFS_HANDLE_MAX + 1];

	vs_hex(buf, p, len < VS_VFS_HANDLE_MAX ? len : VS_VFS_HANDLE_MAX);
	return json_object_new_string(buf);
}

/* ---- virtiofsd ---- */

static const char *const location_names[] = { "root", "path", "invalid", "full-path", "file-handle" };

/* Objects one view shares (json-c counts the references; nothing edits
 * a view once built): an inode's object is otherwise eight or nine
 * allocations, and a state holds thousands of inodes.  One string per
 * status word, one number per small value (refcounts, open flags), and
 * each inode's id, which is also its children's parent and its handles'
 * inode. */
#define SMALL_INTS 64

struct shared {
	struct json_object *word[sizeof location_names / sizeof *location_names];
	struct json_object *small[SMALL_INTS];
	struct json_object **ids; /* per inode, each with a reference of ours */
};

static struct json_object *
status_word(struct shared *sh, enum vs_vfs_location loc)
{
	if (!sh->word[loc])
		return sh->word[loc] = json_object_new_string(location_names[loc]);
	return json_object_get(sh->word[loc]);
}

static struct json_object *
small_int(struct shared *sh, int64_t v)
{
	if (v < 0 || v >= SMALL_INTS)
		return json_object_new_int64(v);
	if (!sh->small[v])
		return sh->small[v] = json_object_new_int64(v);
	return json_object_get(sh->small[v]);
}

/* Inode i's id, or the number v where there is no such inode. */
static struct json_object *
inode_id(struct shared *sh, size_t i, uint64_t v)
{
	return i != VS_VFS_NO_INODE && sh->ids ? json_object_get(sh->ids[i]) : jint(v);
}

static struct json_object *
file_handle_json(const struct vs_vfs_file_handle *fh)
{
	struct json_object *o = json_object_new_object();

	add(o, "mount_id", fh->mount_id);
	vs_json_set(o, "handle_type", json_object_new_int(fh->type));
	vs_json_set(o, "handle", jhex(fh->bytes, fh->len));
	return o;
}

/* Bytes of path text for one state (vs_vfs_inode_path): a million
 * inodes 256 bytes deep each, while a crafted state (many inodes under
 * one 4 KiB-deep chain) cannot make a decode write gigabytes. */
#define PATH_BUDGET (1ull << 28)

static struct json_object *
inode_json(const struct vs_vfs_state *st, size_t i, struct shared *sh, uint64_t *budget)
{
	const struct vs_vfs_inode *ino = &st->inodes[i];
	struct json_object *o = json_object_new_object();
	char path[4097];

	vs_json_set(o, "id", inode_id(sh, i, ino->id));
	vs_json_set(o, "refcount", ino->refcount < SMALL_INTS ? small_int(sh, (int64_t)ino->refcount) : jint(ino->refcount));
	vs_json_set(o, "status", status_word(sh, ino->location));
	if (ino->location == VS_LOC_PATH) {
		vs_json_set(o, "parent", inode_id(sh, st->parent_at[i], ino->parent));
		vs_json_set(o, "name", json_object_new_string(ino->name));
	}
	vs_json_set(o, "path",
			       vs_vfs_inode_path(st, ino, path, sizeof path, budget) ? json_object_new_string(path) : NULL);
	if (ino->location == VS_LOC_FILE_HANDLE)
		vs_json_set(o, "location_handle", file_handle_json(ino->handle));
	vs_json_set(o, "file_handle", ino->recorded ? file_handle_json(ino->recorded) : NULL);
	return o;
}

static struct json_object *
vfs_json(const unsigned char *p, size_t len)
{
	struct json_object *o = json_object_new_object(), *neg, *list;
	struct vs_vfs_state st;
	struct shared sh = { 0 };
	uint64_t budget = PATH_BUDGET;
	char err[128];
	int r;

	vs_json_set(o, "format", json_object_new_string("virtiofsd"));
	r = vs_vfs_decode(p, len, &st, err, sizeof err);
	if (r != 0) {
		vs_json_set(o, "error", json_object_new_string(r == 1 ? "the payload ends early" : err));
		if (r == 1)
			vs_vfs_state_free(&st);
		return o;
	}
	vs_json_set(o, "version", json_object_new_int(st.variant ? 2 : 1));
	add(o, "next_inode", st.next_inode);
	add(o, "next_handle", st.next_handle);
	neg = json_object_new_object();
	vs_json_set(neg, "writeback", json_object_new_boolean(st.writeback));
	vs_json_set(neg, "announce_submounts", json_object_new_boolean(st.announce_submounts));
	vs_json_set(neg, "posix_acl", json_object_new_boolean(st.posix_acl));
	vs_json_set(neg, "sup_group_extension", json_object_new_boolean(st.sup_group_extension));
	vs_json_set(o, "negotiated", neg);
	sh.ids = malloc((st.ninodes ? st.ninodes : 1) * sizeof *sh.ids);
	for (size_t i = 0; sh.ids && i < st.ninodes; i++)
		sh.ids[i] = jint(st.inodes[i].id);
	list = json_object_new_array_ext((int)st.ninodes);
	for (size_t i = 0; i < st.ninodes; i++)
		json_object_array_add(list, inode_json(&st, i, &sh, &budget));
	vs_json_set(o, "inodes", list);
	if (budget == 0)
		vs_json_set(o, "paths_incomplete", json_object_new_boolean(true));
	list = json_object_new_array_ext((int)st.nhandles);
	for (size_t i = 0; i < st.nhandles; i++) {
		struct json_object *h = json_object_new_object();
		add(h, "id", st.handles[i].id);
		vs_json_set(h, "inode", inode_id(&sh, vs_vfs_inode_at(&st, st.handles[i].inode), st.handles[i].inode));
		vs_json_set(h, "flags", small_int(&sh, st.handles[i].flags));
		json_object_array_add(list, h);
	}
	vs_json_set(o, "handles", list);
	if (st.variant) {
		list = json_object_new_array_ext((int)st.nmounts);
		for (size_t i = 0; i < st.nmounts; i++) {
			struct json_object *m = json_object_new_object();
			add(m, "id", st.mounts[i].id);
			vs_json_set(m, "path", json_object_new_string(st.mounts[i].path));
			json_object_array_add(list, m);
		}
		vs_json_set(o, "mounts", list);
	}
	for (size_t i = 0; sh.ids && i < st.ninodes; i++)
		json_object_put(sh.ids[i]);
	free(sh.ids);
	vs_vfs_state_free(&st);
	return o;
}

/* ---- passt ---- */

static struct json_object *
jaddr(const unsigned char *a16)
{
	static const unsigned char v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	char buf[INET6_ADDRSTRLEN];

	if (memcmp(a16, v4mapped, 12) == 0)
		inet_ntop(AF_INET, a16 + 12, buf, sizeof buf);
	else
		inet_ntop(AF_INET6, a16, buf, sizeof buf);
	return json_object_new_string(buf);
}

static const char *
pif_name(uint8_t pif)
{
	/* enum pif_type in passt's pif.h */
	static const char *const names[] = { "none", "host", "tap", "splice" };
	return pif < 4 ? names[pif] : "unknown";
}

static struct json_object *
flow_json(uint32_t index, const struct vs_passt_flow *f)
{
	struct json_object *o = json_object_new_object(), *sides = json_object_new_array(),
			   *seq = json_object_new_object(), *win = json_object_new_object(),
			   *q = json_object_new_object(), *sock = json_object_new_object();

	add(o, "id", index);
	vs_json_set(o, "protocol", json_object_new_string("tcp"));
	for (int i = 0; i < 2; i++) {
		struct json_object *s = json_object_new_object();
		vs_json_set(s, "pif", json_object_new_string(pif_name(f->pif[i])));
		vs_json_set(s, "our_address", jaddr(f->side[i].oaddr));
		add(s, "our_port", f->side[i].oport);
		vs_json_set(s, "endpoint_address", jaddr(f->side[i].eaddr));
		add(s, "endpoint_port", f->side[i].eport);
		json_object_array_add(sides, s);
	}
	vs_json_set(o, "sides", sides);
	add(o, "events", f->events);
	add(o, "flags", f->flags);
	add(o, "retries", f->retries);
	add(o, "tap_mss", f->tap_mss);
	add(o, "sndbuf", f->sndbuf);
	add(seq, "to_tap", f->seq_to_tap);
	add(seq, "ack_from_tap", f->seq_ack_from_tap);
	add(seq, "from_tap", f->seq_from_tap);
	add(seq, "ack_to_tap", f->seq_ack_to_tap);
	add(seq, "init_from_tap", f->seq_init_from_tap);
	add(seq, "dup_ack_approx", f->seq_dup_ack_approx);
	add(seq, "socket_send", f->seq_snd);
	add(seq, "socket_receive", f->seq_rcv);
	vs_json_set(o, "sequence", seq);
	add(win, "from_tap", f->wnd_from_tap);
	add(win, "to_tap", f->wnd_to_tap);
	add(win, "scale_from_tap", f->ws_from_tap);
	add(win, "scale_to_tap", f->ws_to_tap);
	add(win, "snd_wl1", f->snd_wl1);
	add(win, "snd_wnd", f->snd_wnd);
	add(win, "max_window", f->max_window);
	add(win, "rcv_wnd", f->rcv_wnd);
	add(win, "rcv_wup", f->rcv_wup);
	add(win, "snd_scale", f->snd_ws);
	add(win, "rcv_scale", f->rcv_ws);
	vs_json_set(o, "windows", win);
	add(q, "send", f->sndq);
	add(q, "not_sent", f->notsent);
	add(q, "receive", f->rcvq);
	vs_json_set(o, "queues", q);
	add(sock, "mss", f->mss);
	add(sock, "timestamp", f->timestamp);
	add(sock, "tcpi_state", f->tcpi_state);
	add(sock, "tcpi_options", f->tcpi_options);
	vs_json_set(o, "socket", sock);
	/* passt writes tcpi_state 0 for a flow it could not dump */
	vs_json_set(o, "skipped", json_object_new_boolean(f->tcpi_state == 0));
	return o;
}

static struct json_object *
passt_json(const unsigned char *p, size_t len)
{
	struct json_object *o = json_object_new_object(), *addrs, *flows;
	struct vs_passt_state st;
	char err[160] = "", mac[18];

	vs_json_set(o, "format", json_object_new_string("passt"));
	if (vs_passt_header(p, len, &st.h)) {
		vs_json_set(o, "version", json_object_new_int64(st.h.version));
		vs_json_set(o, "compat_version", json_object_new_int64(st.h.compat_version));
	}
	if (vs_passt_decode(p, len, &st, err, sizeof err) < 0) {
		vs_json_set(o, "error", json_object_new_string(err));
		return o;
	}
	addrs = json_object_new_object();
	vs_json_set(addrs, "addr6", jaddr(st.addr6));
	vs_json_set(addrs, "addr6_ll", jaddr(st.addr6_ll));
	{
		char a4[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, st.addr4, a4, sizeof a4);
		vs_json_set(addrs, "addr4", json_object_new_string(a4));
	}
	snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", st.mac[0], st.mac[1], st.mac[2], st.mac[3],
		 st.mac[4], st.mac[5]);
	vs_json_set(addrs, "mac", json_object_new_string(mac));
	vs_json_set(o, "addresses", addrs);
	if (st.have_flows) {
		add(o, "flow_count", st.nflows);
		flows = json_object_new_array_ext((int)st.nflows);
		for (uint32_t i = 0; i < st.nflows; i++)
			json_object_array_add(flows, flow_json(i, &st.flows[i]));
		vs_json_set(o, "flows", flows);
	}
	vs_passt_state_free(&st);
	return o;
}

struct json_object *
vs_decode_json(enum vs_payload_kind kind, const unsigned char *p, size_t len)
{
	if (kind == VS_KIND_FS)
		return vfs_json(p, len);
	if (kind == VS_KIND_NET)
		return passt_json(p, len);
	return NULL;
}

/* ---- differences ---- */

int
vs_decode_comparable(struct json_object *a, struct json_object *b)
{
	struct json_object *fa, *fb;

	return a && b && !json_object_object_get_ex(a, "error", NULL) &&
	       !json_object_object_get_ex(b, "error", NULL) && json_object_object_get_ex(a, "format", &fa) &&
	       json_object_object_get_ex(b, "format", &fb) && json_object_equal(fa, fb);
}

/* list keys whose items carry an "id", and what one item is called */
static const struct {
	const char *list, *item;
} id_lists[] = { { "inodes", "inode" }, { "handles", "handle" }, { "mounts", "mount" }, { "flows", "flow" } };

static void
note(struct json_object *out, const char *what, struct json_object *id, struct json_object *a, struct json_object *b)
{
	struct json_object *o = json_object_new_object();

	vs_json_set(o, "what", json_object_new_string(what));
	if (id)
		vs_json_set(o, "id", json_object_get(id));
	vs_json_set(o, "a", a ? json_object_get(a) : NULL);
	vs_json_set(o, "b", b ? json_object_get(b) : NULL);
	json_object_array_add(out, o);
}

struct keyed {
	uint64_t id;
	struct json_object *item;
};

static int
by_id(const void *x, const void *y)
{
	const struct keyed *a = x, *b = y;
	return a->id < b->id ? -1 : a->id > b->id;
}

static struct keyed *
sorted(struct json_object *list, size_t *n)
{
	size_t len = json_object_array_length(list);
	struct keyed *k = calloc(len ? len : 1, sizeof *k);
	struct json_object *id;

	*n = 0;
	if (!k)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		struct json_object *item = json_object_array_get_idx(list, i);
		if (!json_object_object_get_ex(item, "id", &id))
			continue;
		k[*n].id = json_object_get_uint64(id);
		k[(*n)++].item = item;
	}
	qsort(k, *n, sizeof *k, by_id);
	return k;
}

/* a's items in id order with b's merged in; equal ones are skipped */
static void
diff_items(struct json_object *out, const char *what, struct json_object *la, struct json_object *lb)
{
	size_t na, nb, i = 0, j = 0;
	struct keyed *ka = sorted(la, &na), *kb = sorted(lb, &nb);

	while (ka && kb && (i < na || j < nb)) {
		if (j == nb || (i < na && ka[i].id < kb[j].id)) {
			note(out, what, json_object_object_get(ka[i].item, "id"), ka[i].item, NULL);
			i++;
		} else if (i == na || kb[j].id < ka[i].id) {
			note(out, what, json_object_object_get(kb[j].item, "id"), NULL, kb[j].item);
			j++;
		} else {
			if (!json_object_equal(ka[i].item, kb[j].item))
				note(out, what, json_object_object_get(ka[i].item, "id"), ka[i].item, kb[j].item);
			i++;
			j++;
		}
	}
	free(ka);
	free(kb);
}

static const char *
item_name(const char *list)
{
	for (size_t i = 0; i < sizeof id_lists / sizeof *id_lists; i++)
		if (strcmp(id_lists[i].list, list) == 0)
			return id_lists[i].item;
	return NULL;
}

static void
diff_object(struct json_object *out, const char *prefix, struct json_object *a, struct json_object *b)
{
	char what[128];

	/* a's keys, then those only b has */
	for (int pass = 0; pass < 2; pass++) {
		json_object_object_foreach(pass ? b : a, key, val)
		{
			struct json_object *va = NULL, *vb = NULL;
			const char *item;
			(void)val;
			if (pass && json_object_object_get_ex(a, key, NULL))
				continue;
			json_object_object_get_ex(a, key, &va);
			json_object_object_get_ex(b, key, &vb);
			snprintf(what, sizeof what, "%s%s%s", prefix, *prefix ? "." : "", key);
			if (!*prefix && (item = item_name(key)) &&
			    (json_object_is_type(va, json_type_array) || json_object_is_type(vb, json_type_array))) {
				/* a list one side lacks (V1 has no mounts) is empty */
				struct json_object *none = json_object_new_array();
				diff_items(out, item, va ? va : none, vb ? vb : none);
				json_object_put(none);
			}
			else if (json_object_is_type(va, json_type_object) && json_object_is_type(vb, json_type_object))
				diff_object(out, what, va, vb);
			else if (!json_object_equal(va, vb))
				note(out, what, NULL, va, vb);
		}
	}
}

struct json_object *
vs_decode_differences(struct json_object *a, struct json_object *b)
{
	struct json_object *out = json_object_new_array();

	diff_object(out, "", a, b);
	return out;
}

int
vs_decode_keep_add(struct vs_decode_keep *k, const void *data, size_t len)
{
	bool whole = k->len == k->total;

	k->total += len;
	/* too large to decode: from then on counted only */
	if (!whole || len > k->max - k->len)
		return 0;
	if (k->len + len > k->cap) {
		size_t want = k->cap ? k->cap : 65536;
		unsigned char *p;
		while (want < k->len + len)
			want *= 2;
		if (want > k->max)
			want = k->max;
		p = realloc(k->buf, want);
		if (!p)
			return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
		k->buf = p;
		k->cap = want;
	}
	memcpy(k->buf + k->len, data, len);
	k->len += len;
	return 0;
}

void
vs_decode_keep_free(struct vs_decode_keep *k)
{
	free(k->buf);
	memset(k, 0, sizeof *k);
}

struct json_object *
vs_decode_diff(enum vs_payload_kind ka, const unsigned char *pa, size_t la, enum vs_payload_kind kb,
	       const unsigned char *pb, size_t lb)
{
	struct json_object *va, *vb, *list = NULL;

	if (ka != kb)
		return NULL;
	va = vs_decode_json(ka, pa, la);
	vb = vs_decode_json(kb, pb, lb);
	if (vs_decode_comparable(va, vb))
		list = vs_decode_differences(va, vb);
	json_object_put(va);
	json_object_put(vb);
	return list;
}
