/* What the proxy learns from the conversation it relays (proxy-int.h):
 * the features offered and acked, the replies the front-end waits for,
 * and the state of each ring, which decides whether a snapshot may run
 * and what the control socket's status reports. */
#include <config.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "proxy-int.h"
#include "vu-proto.h"

static bool
reply_ack_on(const struct proxy *px)
{
	return px->protocol_acked & (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK);
}

static struct ring *
ring_at(struct proxy *px, uint64_t index)
{
	if (index >= NRINGS)
		return NULL;
	px->rings[index].seen = true;
	return &px->rings[index];
}

static void
ring_forget_kick(struct ring *r)
{
	if (r->kick_fd >= 0)
		close(r->kick_fd);
	r->kick_fd = -1;
	r->rekick = false;
}

void
vs_px_rings_init(struct proxy *px)
{
	for (unsigned i = 0; i < NRINGS; i++)
		px->rings[i].kick_fd = -1;
}

void
vs_px_rings_close(struct proxy *px)
{
	for (unsigned i = 0; i < NRINGS; i++)
		ring_forget_kick(&px->rings[i]);
}

static void
rings_reset(struct proxy *px)
{
	for (unsigned i = 0; i < NRINGS; i++) {
		px->rings[i].started = px->rings[i].enabled = false;
		px->rings[i].kick = px->rings[i].call = false;
		ring_forget_kick(&px->rings[i]);
	}
}

/* rust-vmm's vhost-user-backend before 0.22 (virtiofsd 1.13 has 0.17)
 * reads a kick that comes while its ring is not yet enabled and drops
 * it, and QEMU's kick fd starts signalled, so that requests the guest
 * made before a stop are seen at the start: dropped, the guest waits
 * for them forever.  The proxy's hop between SET_VRING_KICK and
 * SET_VRING_ENABLE widens that window.  So once the back-end has acked
 * an enable, the ring is kicked again; a kick with nothing new in the
 * ring costs the back-end one look (doc/vhost-user.md, R10). */
static void
rekick(struct proxy *px, bool acked)
{
	for (unsigned i = 0; i < NRINGS; i++) {
		struct ring *r = &px->rings[i];
		if (!r->rekick)
			continue;
		r->rekick = false;
		if (acked && r->kick_fd >= 0 && eventfd_write(r->kick_fd, 1) == 0)
			vs_px_log_event(px, "rekick", NULL, "ring %u kicked again after the back-end acked its enable", i);
	}
}

/* A request of the front-end, before it is forwarded. */
void
vs_px_track_request(struct proxy *px, const struct msg *m)
{
	struct vs_vu_header h = msg_hdr(m);
	const struct vs_vu_request_info *info = vs_vu_request_info(h.request);
	const unsigned char *pl = msg_payload(m);
	struct vhost_vring_state s;
	struct ring *r;
	uint64_t v;

	/* The front-end sent something new, so it is not waiting for an ack
	 * that the back-end may never send (NEED_REPLY without REPLY_ACK). */
	while (px->npending && !px->pending[px->npending - 1].certain)
		px->npending--;
	if ((info && info->reply != VS_PL_ACK) || (h.flags & VHOST_USER_NEED_REPLY_MASK)) {
		if (px->npending == PENDING_MAX) {
			memmove(px->pending, px->pending + 1, sizeof px->pending[0] * (PENDING_MAX - 1));
			px->npending--;
		}
		px->pending[px->npending].code = h.request;
		px->pending[px->npending].certain = (info && info->reply != VS_PL_ACK) || reply_ack_on(px);
		px->npending++;
	}

	if (h.size == sizeof s)
		memcpy(&s, pl, sizeof s);
	switch (h.request) {
	case VHOST_USER_SET_FEATURES:
		if (msg_u64(m, &v)) {
			px->features_acked = v;
			px->have_features_acked = true;
			/* without bit 30 the back-end enables every ring at once */
			if (!(v & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)))
				for (unsigned i = 0; i < NRINGS; i++)
					px->rings[i].enabled = true;
		}
		break;
	case VHOST_USER_SET_PROTOCOL_FEATURES:
		if (msg_u64(m, &v)) {
			px->protocol_acked = v;
			px->have_protocol_acked = true;
		}
		break;
	case VHOST_USER_SET_VRING_NUM:
		if (h.size == sizeof s && (r = ring_at(px, s.index)))
			r->size = s.num;
		break;
	case VHOST_USER_SET_VRING_BASE:
		if (h.size == sizeof s && (r = ring_at(px, s.index)))
			r->base = s.num;
		break;
	case VHOST_USER_SET_VRING_ENABLE:
		if (h.size == sizeof s && (r = ring_at(px, s.index))) {
			r->enabled = s.num != 0;
			/* only an ack says when the back-end has enabled it */
			r->rekick = r->enabled && r->kick_fd >= 0 && (h.flags & VHOST_USER_NEED_REPLY_MASK) &&
				    reply_ack_on(px);
		}
		break;
	case VHOST_USER_SET_VRING_KICK:
		/* A ring with a kick fd (or polling) may start at any moment:
		 * count it as started until GET_VRING_BASE stops it. */
		if (msg_u64(m, &v) && (r = ring_at(px, v & VHOST_USER_VRING_IDX_MASK))) {
			r->kick = !(v & VHOST_USER_VRING_NOFD_MASK);
			r->started = true;
			ring_forget_kick(r);
			if (r->kick && m->nfds == 1)
				r->kick_fd = fcntl(m->fds[0], F_DUPFD_CLOEXEC, 3);
		}
		break;
	case VHOST_USER_SET_VRING_CALL:
		if (msg_u64(m, &v) && (r = ring_at(px, v & VHOST_USER_VRING_IDX_MASK)))
			r->call = !(v & VHOST_USER_VRING_NOFD_MASK);
		break;
	case VHOST_USER_VRING_KICK:
		if (h.size == sizeof s && (r = ring_at(px, s.index)))
			r->started = true;
		break;
	case VHOST_USER_RESET_DEVICE:
	case VHOST_USER_RESET_OWNER:
		rings_reset(px);
		break;
	case VHOST_USER_SET_DEVICE_STATE_FD:
		px->fe_transfer = true;
		px->transfers++;
		break;
	}
}

/* A reply of the back-end to the front-end. */
void
vs_px_track_reply(struct proxy *px, const struct msg *m)
{
	struct vs_vu_header h = msg_hdr(m);
	struct vhost_vring_state s;
	struct ring *r;
	uint64_t v;

	while (px->npending && px->pending[0].code != h.request && !px->pending[0].certain) {
		memmove(px->pending, px->pending + 1, sizeof px->pending[0] * (px->npending - 1));
		px->npending--;
	}
	if (px->npending && px->pending[0].code == h.request) {
		memmove(px->pending, px->pending + 1, sizeof px->pending[0] * (px->npending - 1));
		px->npending--;
	}

	switch (h.request) {
	case VHOST_USER_GET_FEATURES:
		if (msg_u64(m, &v)) {
			px->features = v;
			px->have_features = true;
		}
		break;
	case VHOST_USER_GET_PROTOCOL_FEATURES:
		if (msg_u64(m, &v)) {
			px->protocol_offered = v;
			px->have_protocol = true;
		}
		break;
	case VHOST_USER_GET_QUEUE_NUM:
		if (msg_u64(m, &v)) {
			px->queue_num = v;
			px->have_queue_num = true;
		}
		break;
	case VHOST_USER_GET_MAX_MEM_SLOTS:
		if (msg_u64(m, &v)) {
			px->mem_slots = v;
			px->have_mem_slots = true;
		}
		break;
	case VHOST_USER_GET_VRING_BASE:
		if (h.size == sizeof s) {
			memcpy(&s, msg_payload(m), sizeof s);
			if ((r = ring_at(px, s.index))) {
				r->started = false;
				r->kick = r->call = false; /* back-ends forget both (doc/vhost-user.md, V7) */
				ring_forget_kick(r);
				r->base = s.num;
			}
		}
		break;
	case VHOST_USER_SET_VRING_ENABLE:
		rekick(px, msg_u64(m, &v) && v == 0);
		break;
	case VHOST_USER_SET_DEVICE_STATE_FD:
		if (!msg_u64(m, &v) || (v & VHOST_USER_DEVICE_STATE_ERROR_MASK))
			px->fe_transfer = false;
		break;
	case VHOST_USER_CHECK_DEVICE_STATE:
		px->fe_transfer = false;
		break;
	}
}

/* Rings that are started, as "0, 1"; "" when the device is stopped. */
void
vs_px_started_rings(const struct proxy *px, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < NRINGS; i++)
		if (px->rings[i].started)
			n += snprintf(buf + n, n < len ? len - n : 0, "%s%u", n ? ", " : "", i);
}
