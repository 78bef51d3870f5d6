#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "vu-frontend.h"

bool vs_vu_verbose;

static void
log_msg(const char *dir, const struct vs_vu_header *h, size_t nfds, enum vs_vu_payload kind,
	const void *payload)
{
	char detail[96] = "";

	if (!vs_vu_verbose)
		return;
	if ((kind == VS_PL_U64 || kind == VS_PL_ACK) && h->size == 8) {
		uint64_t v;
		memcpy(&v, payload, 8);
		snprintf(detail, sizeof detail, " u64=0x%" PRIx64, v);
	} else if (kind == VS_PL_VRING_STATE && h->size == 8) {
		uint32_t s[2];
		memcpy(s, payload, 8);
		snprintf(detail, sizeof detail, " index=%" PRIu32 " num=%" PRIu32, s[0], s[1]);
	} else if (kind == VS_PL_DEVICE_STATE && h->size == 8) {
		struct vs_vu_transfer_device_state t;
		memcpy(&t, payload, 8);
		snprintf(detail, sizeof detail, " direction=%s phase=%s",
			 t.direction == 0 ? "SAVE" : t.direction == 1 ? "LOAD" : "?",
			 t.phase == 0 ? "STOPPED" : "?");
	}
	fprintf(stderr, "%s: %s %s flags=0x%" PRIx32 " size=%" PRIu32 " fds=%zu%s\n",
		program_invocation_short_name, dir, vs_vu_request_name(h->request), h->flags, h->size,
		nfds, detail);
}

void
vs_vu_mark_broken(struct vs_vu *vu)
{
	if (!vu->broken) {
		vu->broken = true;
		vu->broken_exit = vs_error_get()->exit_code ? vs_error_get()->exit_code : VS_EXIT_PROTOCOL;
	}
}

bool
vs_vu_has_feature(const struct vs_vu *vu, unsigned bit)
{
	return vu->features & (1ull << bit);
}

bool
vs_vu_has_protocol_feature(const struct vs_vu *vu, unsigned bit)
{
	return vu->protocol_features & (1ull << bit);
}

/* NEED_REPLY only once REPLY_ACK was acked, and never before both GETs:
 * rust-vmm vhost < 0.14 back-ends stay silent otherwise. */
static bool
can_need_reply(const struct vs_vu *vu)
{
	return vs_vu_has_protocol_feature(vu, VHOST_USER_PROTOCOL_F_REPLY_ACK) &&
	       vu->sent_get_features && vu->sent_get_protocol_features;
}

static int
check_gate(const struct vs_vu *vu, const struct vs_vu_request_info *info)
{
	if (info->gate == VS_GATE_NONE)
		return 0;
	if (info->gate == VS_GATE_BIT30) {
		if (vs_vu_has_feature(vu, VHOST_USER_F_PROTOCOL_FEATURES))
			return 0;
		return vs_fail(VS_EXIT_UNAVAILABLE, 0,
			       "the back-end does not offer PROTOCOL_FEATURES (feature bit 30); %s not sent",
			       info->name);
	}
	if (vs_vu_has_protocol_feature(vu, info->gate))
		return 0;
	return vs_fail(VS_EXIT_UNAVAILABLE, 0,
		       "the back-end does not support %s (protocol feature bit %d)%s; %s not sent",
		       vs_vu_protocol_feature_name(info->gate), info->gate,
		       vu->protocol_offered & (1ull << info->gate) ? " as negotiated" : "", info->name);
}

/* Send one request and, where the table says one comes, read and
 * validate its reply.  reply/reply_size: the expected reply body (for
 * ACK requests a u64 is read when NEED_REPLY was set).  reply_fd: where
 * a single fd attached to the reply may go; NULL means none is allowed.
 * give_fds: the fds are the back-end's now, closed once sent (or not). */
static int
vu_request(struct vs_vu *vu, uint32_t code, const void *payload, uint32_t size, int *fds,
	   size_t nfds, bool give_fds, void *reply, uint32_t reply_size, int *reply_fd)
{
	const struct vs_vu_request_info *info = vs_vu_request_info(code);
	struct vs_vu_header h = { .request = code, .flags = VHOST_USER_VERSION, .size = size };
	struct vs_vu_header rh;
	struct iovec iov[2] = { { &h, VS_VU_HDR_SIZE }, { (void *)payload, size } };
	int rfds[VS_VU_MAX_FDS];
	size_t nrfds = 0;
	uint64_t ack;
	bool want_ack = false;
	int rc;

	if (reply_fd)
		*reply_fd = -1;
	if (vu->broken || check_gate(vu, info) < 0 || nfds > info->max_fds) {
		if (vu->broken)
			vs_error_set(vu->broken_exit, 0,
				     "%s not sent: the connection is unusable after an earlier error", info->name);
		else if (nfds > info->max_fds)
			vs_error_set(VS_EXIT_FAIL, EINVAL, "%s: too many fds", info->name);
		if (give_fds)
			for (size_t i = 0; i < nfds; i++)
				close(fds[i]);
		return -1;
	}

	if (info->reply == VS_PL_ACK && can_need_reply(vu)) {
		h.flags |= VHOST_USER_NEED_REPLY_MASK;
		want_ack = true;
		reply = &ack;
		reply_size = sizeof ack;
	}
	log_msg("->", &h, nfds, info->payload, payload);
	rc = vs_conn_send(&vu->conn, iov, size ? 2 : 1, fds, nfds, info->name);
	/* Our copies must go at once: a pipe's reader sees EOF only when
	 * every copy of the write end is closed. */
	if (give_fds)
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]);
	if (rc < 0)
		goto broken;
	if (info->reply == VS_PL_ACK && !want_ack)
		return 0;

	if (vs_conn_recv(&vu->conn, &rh, VS_VU_HDR_SIZE, rfds, &nrfds, info->name) < 0)
		goto broken;
	/* QEMU accepts exactly REPLY|version 1 for the request it sent. */
	if (rh.request != code) {
		vs_error_set(VS_EXIT_PROTOCOL, 0, "protocol error: the reply to %s carries request code %" PRIu32
			     " (%s)", info->name, rh.request, vs_vu_request_name(rh.request));
		goto broken_fds;
	}
	if (rh.flags != (VHOST_USER_VERSION | VHOST_USER_REPLY_MASK)) {
		vs_error_set(VS_EXIT_PROTOCOL, 0,
			     "protocol error: the reply to %s has flags 0x%" PRIx32 ", expected 0x5 (reply, version 1)",
			     info->name, rh.flags);
		goto broken_fds;
	}
	if (rh.size != reply_size) {
		vs_error_set(VS_EXIT_PROTOCOL, 0,
			     "protocol error: the reply to %s has a %" PRIu32 "-byte payload, expected %" PRIu32,
			     info->name, rh.size, reply_size);
		goto broken_fds;
	}
	if (reply_size) {
		int more[VS_VU_MAX_FDS];
		size_t nmore = 0;
		if (vs_conn_recv(&vu->conn, reply, reply_size, more, &nmore, info->name) < 0)
			goto broken_fds;
		for (size_t i = 0; i < nmore; i++) {
			if (nrfds < VS_VU_MAX_FDS)
				rfds[nrfds++] = more[i];
			else
				close(more[i]);
		}
	}
	log_msg("<-", &rh, nrfds, want_ack ? VS_PL_ACK : info->reply, reply);
	if (nrfds > (reply_fd ? 1u : 0u)) {
		vs_error_set(VS_EXIT_PROTOCOL, 0, "protocol error: the reply to %s has %zu unexpected fd%s attached",
			     info->name, nrfds, nrfds == 1 ? "" : "s");
		goto broken_fds;
	}
	if (reply_fd && nrfds == 1)
		*reply_fd = rfds[0];
	if (want_ack && ack != 0)
		return vs_fail(VS_EXIT_FAIL, 0, "the back-end rejected %s (ack value %" PRIu64 ")", info->name,
			       ack);
	return 0;

broken_fds:
	for (size_t i = 0; i < nrfds; i++)
		close(rfds[i]);
broken:
	vs_vu_mark_broken(vu);
	return -1;
}

static int
get_u64(struct vs_vu *vu, uint32_t code, uint64_t *out)
{
	return vu_request(vu, code, NULL, 0, NULL, 0, false, out, sizeof *out, NULL);
}

int
vs_vu_get_features(struct vs_vu *vu, uint64_t *features)
{
	vu->sent_get_features = true;
	return get_u64(vu, VHOST_USER_GET_FEATURES, features);
}

int
vs_vu_get_protocol_features(struct vs_vu *vu, uint64_t *features)
{
	vu->sent_get_protocol_features = true;
	return get_u64(vu, VHOST_USER_GET_PROTOCOL_FEATURES, features);
}

int
vs_vu_set_protocol_features(struct vs_vu *vu, uint64_t features)
{
	/* Never ack a bit the back-end did not offer (DPDK disconnects). */
	features &= vu->protocol_offered;
	if (vu_request(vu, VHOST_USER_SET_PROTOCOL_FEATURES, &features, sizeof features, NULL, 0, false, NULL,
		       0, NULL) < 0)
		return -1;
	vu->protocol_features = features;
	return 0;
}

int
vs_vu_get_queue_num(struct vs_vu *vu, uint64_t *num)
{
	return get_u64(vu, VHOST_USER_GET_QUEUE_NUM, num);
}

int
vs_vu_get_max_mem_slots(struct vs_vu *vu, uint64_t *slots)
{
	return get_u64(vu, VHOST_USER_GET_MAX_MEM_SLOTS, slots);
}

int
vs_vu_set_owner(struct vs_vu *vu)
{
	/* A second SET_OWNER makes rust-vmm back-ends hang up. */
	if (vu->owner_set)
		return 0;
	if (vu_request(vu, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0, false, NULL, 0, NULL) < 0)
		return -1;
	vu->owner_set = true;
	return 0;
}

int
vs_vu_open(struct vs_vu *vu, const char *path)
{
	memset(vu, 0, sizeof *vu);
	vu->queue_num = 1;
	vu->max_mem_slots = 8;
	if (vs_conn_connect(&vu->conn, path) < 0)
		return -1;
	if (vs_vu_get_features(vu, &vu->features) < 0)
		goto fail;
	if (vs_vu_has_feature(vu, VHOST_USER_F_PROTOCOL_FEATURES)) {
		if (vs_vu_get_protocol_features(vu, &vu->protocol_offered) < 0 ||
		    vs_vu_set_protocol_features(vu, VS_VU_PROTOCOL_FEATURES_IMPLEMENTED) < 0)
			goto fail;
	}
	if (vs_vu_has_protocol_feature(vu, VHOST_USER_PROTOCOL_F_MQ) &&
	    vs_vu_get_queue_num(vu, &vu->queue_num) < 0)
		goto fail;
	if (vs_vu_has_protocol_feature(vu, VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS) &&
	    vs_vu_get_max_mem_slots(vu, &vu->max_mem_slots) < 0)
		goto fail;
	if (vs_vu_set_owner(vu) < 0)
		goto fail;
	return 0;
fail:
	vs_error_prefix("%s: handshake failed", path);
	vs_conn_close(&vu->conn);
	return -1;
}

void
vs_vu_close(struct vs_vu *vu)
{
	vs_conn_close(&vu->conn);
}

int
vs_vu_set_device_state_fd(struct vs_vu *vu, uint32_t direction, uint32_t phase, int fd, int *reply_fd)
{
	struct vs_vu_transfer_device_state p = { .direction = direction, .phase = phase };
	bool save = direction == VHOST_USER_TRANSFER_STATE_DIRECTION_SAVE;
	const char *dir = save ? "SAVE" : "LOAD";
	uint64_t r;
	int rfd, mode;
	struct stat st;

	*reply_fd = -1;
	if (vu_request(vu, VHOST_USER_SET_DEVICE_STATE_FD, &p, sizeof p, &fd, 1, true, &r, sizeof r, &rfd) < 0)
		return -1;
	if (r & VHOST_USER_DEVICE_STATE_ERROR_MASK) {
		if (rfd < 0)
			return vs_fail(VS_EXIT_FAIL, 0,
				       "the back-end refused SET_DEVICE_STATE_FD (%s, STOPPED): reply 0x%" PRIx64, dir,
				       r);
		vs_error_set(VS_EXIT_PROTOCOL, 0,
			     "protocol error: SET_DEVICE_STATE_FD (%s) returned error 0x%" PRIx64 " together with an fd",
			     dir, r);
		goto broken;
	}
	if (r & VHOST_USER_VRING_NOFD_MASK) {
		if (rfd < 0)
			return 0;
		vs_error_set(VS_EXIT_PROTOCOL, 0,
			     "protocol error: SET_DEVICE_STATE_FD reply 0x%" PRIx64 " says no fd but one is attached", r);
		goto broken;
	}
	if (rfd < 0) {
		vs_error_set(VS_EXIT_PROTOCOL, 0,
			     "protocol error: SET_DEVICE_STATE_FD reply 0x%" PRIx64 " announces an fd but none is attached",
			     r);
		goto broken;
	}
	/* The back-end's own channel: a pipe or socket we can use our way. */
	mode = fcntl(rfd, F_GETFL);
	if (fstat(rfd, &st) < 0 || !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) || mode < 0 ||
	    (mode & O_ACCMODE) == (save ? O_WRONLY : O_RDONLY)) {
		vs_error_set(VS_EXIT_PROTOCOL, 0,
			     "protocol error: the fd returned by SET_DEVICE_STATE_FD (%s) is not a pipe or socket "
			     "we can %s",
			     dir, save ? "read" : "write");
		goto broken;
	}
	*reply_fd = rfd;
	return 0;
broken:
	if (rfd >= 0)
		close(rfd);
	vs_vu_mark_broken(vu);
	return -1;
}

int
vs_vu_check_device_state(struct vs_vu *vu, uint64_t *result)
{
	return get_u64(vu, VHOST_USER_CHECK_DEVICE_STATE, result);
}
