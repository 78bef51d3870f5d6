#include <config.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "identity.h"
#include "vu-describe.h"

const struct vs_vu_request_info *
vs_vu_describe_info(const struct vs_vu_message *m)
{
	return m->channel == VS_VU_CHANNEL_BACKEND ? vs_vu_backend_request_info(m->hdr.request)
						   : vs_vu_request_info(m->hdr.request);
}

const char *
vs_vu_describe_name(const struct vs_vu_message *m)
{
	return m->channel == VS_VU_CHANNEL_BACKEND ? vs_vu_backend_request_name(m->hdr.request)
						   : vs_vu_request_name(m->hdr.request);
}

static struct json_object *
jhex(uint64_t v)
{
	char s[24];

	snprintf(s, sizeof s, "0x%" PRIx64, v);
	return json_object_new_string(s);
}

static void
add(struct json_object *o, const char *key, struct json_object *v)
{
	json_object_object_add(o, key, v);
}

static void
add_int(struct json_object *o, const char *key, uint64_t v)
{
	add(o, key, json_object_new_int64((int64_t)v));
}

static void
add_mask(struct json_object *o, const char *key, uint64_t mask, const char *(*name)(unsigned))
{
	add(o, key, jhex(mask));
	add(o, "names", vs_json_feature_names(mask, name));
}

static struct json_object *
region_json(const struct vhost_user_memory_region *r)
{
	struct json_object *o = json_object_new_object();

	add(o, "gpa", jhex(r->guest_phys_addr));
	add(o, "size", jhex(r->memory_size));
	add(o, "uaddr", jhex(r->userspace_addr));
	add(o, "offset", jhex(r->mmap_offset));
	return o;
}

/* The u64 bit 8 of SET_VRING_KICK/CALL/ERR and host notifiers: "no fd". */
static void
add_vring_fd(struct json_object *o, uint64_t v)
{
	add_int(o, "index", v & VHOST_USER_VRING_IDX_MASK);
	add(o, "fd", json_object_new_boolean(!(v & VHOST_USER_VRING_NOFD_MASK)));
}

/* A u64 payload, named by what the request means by it. */
static void
decode_u64(struct json_object *o, const struct vs_vu_message *m, bool reply, uint64_t v)
{
	switch (m->channel == VS_VU_CHANNEL_MAIN ? m->hdr.request : VHOST_USER_MAX) {
	case VHOST_USER_GET_FEATURES:
	case VHOST_USER_SET_FEATURES:
		add_mask(o, "features", v, vs_vu_feature_name);
		return;
	case VHOST_USER_GET_PROTOCOL_FEATURES:
	case VHOST_USER_SET_PROTOCOL_FEATURES:
		add_mask(o, "protocol_features", v, vs_vu_protocol_feature_name);
		return;
	case VHOST_USER_GET_QUEUE_NUM:
		add_int(o, "queues", v);
		return;
	case VHOST_USER_GET_MAX_MEM_SLOTS:
		add_int(o, "slots", v);
		return;
	case VHOST_USER_SET_STATUS:
	case VHOST_USER_GET_STATUS:
		add(o, "status", jhex(v));
		return;
	case VHOST_USER_SET_DEVICE_STATE_FD:
		if (reply) {
			add(o, "result", jhex(v));
			add(o, "ok", json_object_new_boolean((v & VHOST_USER_DEVICE_STATE_ERROR_MASK) == 0));
			add(o, "backend_fd", json_object_new_boolean(!(v & VHOST_USER_VRING_NOFD_MASK) && m->nfds == 1));
			return;
		}
		break;
	case VHOST_USER_CHECK_DEVICE_STATE:
		add_int(o, "result", v);
		add(o, "ok", json_object_new_boolean(v == 0));
		return;
	}
	add(o, "value", jhex(v));
}

static void
decode_vring_state(struct json_object *o, const struct vs_vu_message *m, bool reply, const unsigned char *pl)
{
	struct vhost_vring_state s;
	const char *what = "num";

	memcpy(&s, pl, sizeof s);
	add_int(o, "index", s.index);
	switch (m->channel == VS_VU_CHANNEL_MAIN ? m->hdr.request : VHOST_USER_MAX) {
	case VHOST_USER_SET_VRING_NUM: what = "size"; break;
	case VHOST_USER_SET_VRING_BASE: what = "base"; break;
	case VHOST_USER_GET_VRING_BASE:
		if (!reply)
			return; /* num is reserved in the request */
		what = "base";
		break;
	case VHOST_USER_SET_VRING_ENABLE: what = "enable"; break;
	case VHOST_USER_SET_VRING_ENDIAN: what = "endian"; break;
	}
	add_int(o, what, s.num);
}

static void
decode_mem_table(struct json_object *o, const unsigned char *pl, uint32_t size)
{
	struct json_object *regions = json_object_new_array();
	uint32_t n;

	memcpy(&n, pl, 4);
	add_int(o, "nregions", n);
	for (uint32_t i = 0; i < n && 8 + (uint64_t)(i + 1) * sizeof(struct vhost_user_memory_region) <= size; i++) {
		struct vhost_user_memory_region r;
		memcpy(&r, pl + 8 + i * sizeof r, sizeof r);
		json_object_array_add(regions, region_json(&r));
	}
	add(o, "regions", regions);
}

static void
decode_uuid(struct json_object *o, const unsigned char *pl)
{
	char uuid[40];
	size_t n = 0;

	for (int i = 0; i < 16; i++)
		n += snprintf(uuid + n, sizeof uuid - n, "%s%02x", i == 4 || i == 6 || i == 8 || i == 10 ? "-" : "",
			      pl[i]);
	add(o, "uuid", json_object_new_string(uuid));
}

static void
decode_device_state(struct json_object *o, const unsigned char *pl)
{
	struct vs_vu_transfer_device_state t;

	memcpy(&t, pl, sizeof t);
	if (t.direction <= VHOST_USER_TRANSFER_STATE_DIRECTION_LOAD)
		add(o, "direction", json_object_new_string(t.direction ? "load" : "save"));
	else
		add_int(o, "direction", t.direction);
	if (t.phase == VHOST_USER_TRANSFER_STATE_PHASE_STOPPED)
		add(o, "phase", json_object_new_string("stopped"));
	else
		add_int(o, "phase", t.phase);
}

/* Payloads of a known kind and an acceptable size; anything else decodes
 * to nothing. */
static void
decode_kind(struct json_object *o, const struct vs_vu_message *m, enum vs_vu_payload kind, bool reply)
{
	const unsigned char *pl = m->payload;
	uint32_t size = m->hdr.size;
	uint64_t v = 0;

	if (size >= 8)
		memcpy(&v, pl, 8);
	switch (kind) {
	case VS_PL_ACK:
		if (size == 8)
			add_int(o, "ack", v);
		break;
	case VS_PL_U64:
		if (size == 8)
			decode_u64(o, m, reply, v);
		break;
	case VS_PL_VRING_STATE:
		if (size == sizeof(struct vhost_vring_state))
			decode_vring_state(o, m, reply, pl);
		break;
	case VS_PL_VRING_FD:
		if (size == 8)
			add_vring_fd(o, v);
		break;
	case VS_PL_VRING_ADDR:
		if (size == sizeof(struct vhost_vring_addr)) {
			struct vhost_vring_addr a;
			memcpy(&a, pl, sizeof a);
			add_int(o, "index", a.index);
			add(o, "flags", jhex(a.flags));
			add(o, "desc", jhex(a.desc_user_addr));
			add(o, "used", jhex(a.used_user_addr));
			add(o, "avail", jhex(a.avail_user_addr));
			add(o, "log", jhex(a.log_guest_addr));
		}
		break;
	case VS_PL_MEM_TABLE:
		if (size >= 8)
			decode_mem_table(o, pl, size);
		break;
	case VS_PL_MEM_REG:
		if (size >= sizeof(struct vhost_user_mem_reg)) {
			struct vhost_user_mem_reg r;
			memcpy(&r, pl, sizeof r);
			add(o, "region", region_json(&r.region));
		}
		break;
	case VS_PL_LOG:
		if (size >= 8) {
			add(o, "mmap_size", jhex(v));
			if (size >= 16) {
				uint64_t off;
				memcpy(&off, pl + 8, 8);
				add(o, "mmap_offset", jhex(off));
			}
		}
		break;
	case VS_PL_IOTLB:
		/* struct vhost_iotlb_msg: iova, size, uaddr, perm, type */
		if (size >= 26) {
			uint64_t w[3];
			memcpy(w, pl, sizeof w);
			add(o, "iova", jhex(w[0]));
			add(o, "size", jhex(w[1]));
			add(o, "uaddr", jhex(w[2]));
			add(o, "perm", json_object_new_int(pl[24]));
			add(o, "type", json_object_new_int(pl[25]));
		}
		break;
	case VS_PL_CONFIG:
		if (size >= VHOST_USER_CONFIG_HDR_SIZE) {
			uint32_t c[3];
			memcpy(c, pl, sizeof c);
			add_int(o, "offset", c[0]);
			add_int(o, "size", c[1]);
			add(o, "flags", jhex(c[2]));
		}
		break;
	case VS_PL_INFLIGHT:
		if (size == sizeof(struct vhost_user_inflight)) {
			struct vhost_user_inflight f;
			memcpy(&f, pl, sizeof f);
			add(o, "mmap_size", jhex(f.mmap_size));
			add(o, "mmap_offset", jhex(f.mmap_offset));
			add(o, "num_queues", json_object_new_int(f.num_queues));
			add(o, "queue_size", json_object_new_int(f.queue_size));
		}
		break;
	case VS_PL_SHARED:
		if (size == 16)
			decode_uuid(o, pl);
		break;
	case VS_PL_DEVICE_STATE:
		if (size == sizeof(struct vs_vu_transfer_device_state))
			decode_device_state(o, pl);
		break;
	case VS_PL_VRING_AREA:
		if (size == sizeof(struct vhost_user_vring_area)) {
			struct vhost_user_vring_area a;
			memcpy(&a, pl, sizeof a);
			add_vring_fd(o, a.u64);
			add(o, "size", jhex(a.size));
			add(o, "offset", jhex(a.offset));
		}
		break;
	case VS_PL_NONE:
	case VS_PL_OTHER:
		break;
	}
}

struct json_object *
vs_vu_describe_payload(const struct vs_vu_message *m)
{
	const struct vs_vu_request_info *info = vs_vu_describe_info(m);
	struct json_object *o = json_object_new_object();
	bool reply = m->hdr.flags & VHOST_USER_REPLY_MASK;

	if (info && m->payload)
		decode_kind(o, m, reply ? info->reply : info->payload, reply);
	return o;
}

void
vs_vu_describe_json(struct json_object *o, const struct vs_vu_message *m)
{
	const struct vs_vu_header *h = &m->hdr;

	add_int(o, "request", h->request);
	add(o, "name", json_object_new_string(vs_vu_describe_name(m)));
	add(o, "flags", jhex(h->flags));
	add(o, "reply", json_object_new_boolean(h->flags & VHOST_USER_REPLY_MASK));
	add(o, "need_reply", json_object_new_boolean(h->flags & VHOST_USER_NEED_REPLY_MASK));
	add_int(o, "size", h->size);
	add_int(o, "fds", m->nfds);
	add(o, "payload", vs_vu_describe_payload(m));
}

/* Text form of a decoded value: key=value pairs, arrays joined by ',',
 * objects inside either in braces.
 * Returns what snprintf would: the length it wanted. */
static size_t
render_text(struct json_object *v, char *buf, size_t len)
{
	size_t n = 0;

	if (len)
		buf[0] = '\0';
	switch (json_object_get_type(v)) {
	case json_type_object: {
		bool first = true;
		json_object_object_foreach(v, key, val)
		{
			bool braces = json_object_get_type(val) == json_type_object;
			n += snprintf(buf + n, n < len ? len - n : 0, "%s%s=%s", first ? "" : " ", key, braces ? "{" : "");
			n += render_text(val, buf + (n < len ? n : len), n < len ? len - n : 0);
			if (braces)
				n += snprintf(buf + n, n < len ? len - n : 0, "}");
			first = false;
		}
		break;
	}
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			struct json_object *e = json_object_array_get_idx(v, i);
			bool braces = json_object_get_type(e) == json_type_object;
			n += snprintf(buf + n, n < len ? len - n : 0, "%s%s", i ? "," : "", braces ? "{" : "");
			n += render_text(e, buf + (n < len ? n : len), n < len ? len - n : 0);
			if (braces)
				n += snprintf(buf + n, n < len ? len - n : 0, "}");
		}
		break;
	case json_type_null:
		n = snprintf(buf, len, "null");
		break;
	default:
		n = snprintf(buf, len, "%s", json_object_get_string(v));
		break;
	}
	return n;
}

void
vs_vu_describe_text(char *buf, size_t len, const struct vs_vu_message *m)
{
	struct json_object *pl = vs_vu_describe_payload(m);
	size_t n;

	n = snprintf(buf, len, "%s flags=0x%" PRIx32 " size=%" PRIu32 " fds=%zu", vs_vu_describe_name(m), m->hdr.flags,
		     m->hdr.size, m->nfds);
	if (n < len && json_object_object_length(pl) > 0) {
		buf[n++] = ' ';
		buf[n] = '\0';
		render_text(pl, buf + n, len - n);
	}
	json_object_put(pl);
}
