#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "io.h"
#include "vu-frontend.h"

bool vs_vu_verbose;

static void
log_msg(const char *dir, const struct vs_vu_header *h, size_t nfds, enum vs_vu_payload kind,
	const void *payload)
{
	char detail[256] = "";

	if (!vs_vu_verbose)
		return;
	if ((kind == VS_PL_U64 || kind == VS_PL_ACK) && h->size == 8) {
		uint64_t v;
		memcpy(&v, payload, 8);
		snprintf(detail, sizeof detail, " u64=0x%" PRIx64, v);
	} else if (kind == VS_PL_VRING_FD && h->size == 8) {
		uint64_t v;
		memcpy(&v, payload, 8);
		snprintf(detail, sizeof detail, " index=%" PRIu64 "%s", v & VHOST_USER_VRING_IDX_MASK,
			 v & VHOST_USER_VRING_NOFD_MASK ? " nofd" : "");
	} else if (kind == VS_PL_VRING_STATE && h->size == 8) {
		uint32_t s[2];
		memcpy(s, payload, 8);
		snprintf(detail, sizeof detail, " index=%" PRIu32 " num=%" PRIu32, s[0], s[1]);
	} else if (kind == VS_PL_VRING_ADDR && h->size == sizeof(struct vhost_vring_addr)) {
		struct vhost_vring_addr a;
		memcpy(&a, payload, sizeof a);
		snprintf(detail, sizeof detail,
			 " index=%" PRIu32 " flags=0x%" PRIx32 " desc=0x%" PRIx64 " avail=0x%" PRIx64
			 " used=0x%" PRIx64 " log=0x%" PRIx64,
			 a.index, a.flags, a.desc_user_addr, a.avail_user_addr, a.used_user_addr, a.log_guest_addr);
	} else if (kind == VS_PL_MEM_TABLE && h->size >= 8) {
		uint32_t n;
		memcpy(&n, payload, 4);
		snprintf(detail, sizeof detail, " nregions=%" PRIu32, n);
	} else if (kind == VS_PL_MEM_REG && h->size == sizeof(struct vhost_user_mem_reg)) {
		struct vhost_user_mem_reg m;
		memcpy(&m, payload, sizeof m);
		snprintf(detail, sizeof detail, " gpa=0x%" PRIx64 " size=0x%" PRIx64 " offset=0x%" PRIx64,
			 m.region.guest_phys_addr, m.region.memory_size, m.region.mmap_offset);
	} else if (kind == VS_PL_LOG && h->size >= 8) {
		uint64_t sz;
		memcpy(&sz, payload, 8);
		snprintf(detail, sizeof detail, " mmap_size=0x%" PRIx64, sz);
	} else if (kind == VS_PL_CONFIG && h->size >= VHOST_USER_CONFIG_HDR_SIZE) {
		uint32_t c[3];
		memcpy(c, payload, sizeof c);
		snprintf(detail, sizeof detail, " offset=%" PRIu32 " size=%" PRIu32 " flags=0x%" PRIx32, c[0], c[1],
			 c[2]);
	} else if (kind == VS_PL_INFLIGHT && h->size == sizeof(struct vhost_user_inflight)) {
		struct vhost_user_inflight f;
		memcpy(&f, payload, sizeof f);
		snprintf(detail, sizeof detail,
			 " mmap_size=0x%" PRIx64 " mmap_offset=0x%" PRIx64 " num_queues=%u queue_size=%u",
			 f.mmap_size, f.mmap_offset, f.num_queues, f.queue_size);
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
vu_request_var(struct vs_vu *vu, uint32_t code, const void *payload, uint32_t size, int *fds,
	       size_t nfds, bool give_fds, void *reply, uint32_t reply_size, uint32_t *reply_got,
	       int *reply_fd)
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
	if (want_ack ? rh.size != reply_size
		     : reply_got ? rh.size > reply_size : rh.size != reply_size) {
		vs_error_set(VS_EXIT_PROTOCOL, 0,
			     "protocol error: the reply to %s has a %" PRIu32 "-byte payload, expected %s%" PRIu32,
			     info->name, rh.size, reply_got && !want_ack ? "at most " : "", reply_size);
		goto broken_fds;
	}
	if (reply_got && !want_ack)
		*reply_got = reply_size = rh.size;
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
vu_request(struct vs_vu *vu, uint32_t code, const void *payload, uint32_t size, int *fds,
	   size_t nfds, bool give_fds, void *reply, uint32_t reply_size, int *reply_fd)
{
	return vu_request_var(vu, code, payload, size, fds, nfds, give_fds, reply, reply_size, NULL,
			      reply_fd);
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
	return vs_vu_open_with(vu, path, NULL);
}

int
vs_vu_open_with(struct vs_vu *vu, const char *path, const struct vs_vu_open_opts *opts)
{
	struct vs_vu_conn c;

	if (vs_conn_connect(&c, path) < 0) {
		memset(vu, 0, sizeof *vu);
		vu->conn = c; /* fd -1: vs_vu_close stays safe */
		if (opts && opts->backend_req_fd >= 0)
			close(opts->backend_req_fd);
		return -1;
	}
	if (vs_vu_open_fd_with(vu, c.fd, path, opts) < 0)
		return -1;
	vu->conn.peer_pid = c.peer_pid;
	return 0;
}

int
vs_vu_open_fd(struct vs_vu *vu, int fd, const char *name)
{
	return vs_vu_open_fd_with(vu, fd, name, NULL);
}

int
vs_vu_open_fd_with(struct vs_vu *vu, int fd, const char *name, const struct vs_vu_open_opts *opts)
{
	static const struct vs_vu_open_opts defaults = {
		.protocol_features = VS_VU_PROTOCOL_FEATURES_IMPLEMENTED, .backend_req_fd = -1
	};
	int breq;

	if (!opts)
		opts = &defaults;
	breq = opts->backend_req_fd;
	memset(vu, 0, sizeof *vu);
	vu->queue_num = 1;
	vu->max_mem_slots = 8;
	vu->conn.fd = fd;
	vu->conn.path = name;
	/* Every wait has a deadline only if no call can block. */
	if (vs_set_nonblock(fd, true) < 0)
		goto fail;
	if (vs_vu_get_features(vu, &vu->features) < 0)
		goto fail;
	if (vs_vu_has_feature(vu, VHOST_USER_F_PROTOCOL_FEATURES)) {
		if (vs_vu_get_protocol_features(vu, &vu->protocol_offered) < 0 ||
		    vs_vu_set_protocol_features(vu, opts->protocol_features) < 0)
			goto fail;
	}
	if (vs_vu_has_protocol_feature(vu, VHOST_USER_PROTOCOL_F_MQ) &&
	    vs_vu_get_queue_num(vu, &vu->queue_num) < 0)
		goto fail;
	if (vs_vu_has_protocol_feature(vu, VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS) &&
	    vs_vu_get_max_mem_slots(vu, &vu->max_mem_slots) < 0)
		goto fail;
	/* QEMU hands the back-end channel over before SET_OWNER (doc/vhost-user.md §2). */
	if (breq >= 0) {
		int r = 0;
		if (vs_vu_has_protocol_feature(vu, VHOST_USER_PROTOCOL_F_BACKEND_REQ))
			r = vs_vu_set_backend_req_fd(vu, breq);
		else
			close(breq);
		breq = -1;
		if (r < 0)
			goto fail;
	}
	if (vs_vu_set_owner(vu) < 0)
		goto fail;
	return 0;
fail:
	if (breq >= 0)
		close(breq);
	vs_error_prefix("%s: handshake failed", name);
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

/* ---- Requests of a vhost_dev (doc/vhost-user.md §5) ---- */

int
vs_vu_barrier(struct vs_vu *vu)
{
	uint64_t f;

	/* QEMU's vhost_user_write_sync: with acks the request was already
	 * waited for; without, every back-end answers GET_FEATURES. */
	if (can_need_reply(vu))
		return 0;
	return get_u64(vu, VHOST_USER_GET_FEATURES, &f);
}

int
vs_vu_set_features(struct vs_vu *vu, uint64_t features)
{
	/* Never ack a bit the back-end did not offer: rust-vmm hangs up. */
	if (features & ~vu->features)
		return vs_fail(VS_EXIT_FAIL, EINVAL,
			       "SET_FEATURES 0x%" PRIx64 " contains bits the back-end did not offer (0x%" PRIx64
			       "); not sent",
			       features, features & ~vu->features);
	return vu_request(vu, VHOST_USER_SET_FEATURES, &features, sizeof features, NULL, 0, false, NULL, 0, NULL);
}

int
vs_vu_set_mem_table(struct vs_vu *vu, const struct vhost_user_memory_region *regions, const int *fds,
		    unsigned n)
{
	struct vhost_user_memory m = { .nregions = n };
	int dup_fds[VHOST_MEMORY_BASELINE_NREGIONS];

	if (n == 0 || n > VHOST_MEMORY_BASELINE_NREGIONS)
		return vs_fail(VS_EXIT_FAIL, EINVAL, "SET_MEM_TABLE takes 1 to %d regions, not %u",
			       VHOST_MEMORY_BASELINE_NREGIONS, n);
	memcpy(m.regions, regions, n * sizeof *regions);
	memcpy(dup_fds, fds, n * sizeof *fds);
	/* QEMU sends only the regions in use: size 8 + n × 32. */
	return vu_request(vu, VHOST_USER_SET_MEM_TABLE, &m, 8 + n * sizeof *regions, dup_fds, n, false, NULL, 0,
			  NULL);
}

int
vs_vu_add_mem_reg(struct vs_vu *vu, const struct vhost_user_memory_region *region, int fd)
{
	struct vhost_user_mem_reg m = { .region = *region };

	return vu_request(vu, VHOST_USER_ADD_MEM_REG, &m, sizeof m, &fd, 1, false, NULL, 0, NULL);
}

int
vs_vu_rem_mem_reg(struct vs_vu *vu, const struct vhost_user_memory_region *region)
{
	/* No fd: rust-vmm back-ends reject one on REM_MEM_REG (doc/vhost-user.md, R7). */
	struct vhost_user_mem_reg m = { .region = *region };

	m.region.mmap_offset = 0;
	return vu_request(vu, VHOST_USER_REM_MEM_REG, &m, sizeof m, NULL, 0, false, NULL, 0, NULL);
}

static int
vring_state(struct vs_vu *vu, uint32_t code, unsigned index, uint32_t num)
{
	struct vhost_vring_state st = { .index = index, .num = num };

	return vu_request(vu, code, &st, sizeof st, NULL, 0, false, NULL, 0, NULL);
}

int
vs_vu_set_vring_num(struct vs_vu *vu, unsigned index, uint32_t num)
{
	return vring_state(vu, VHOST_USER_SET_VRING_NUM, index, num);
}

int
vs_vu_set_vring_base(struct vs_vu *vu, unsigned index, uint32_t base)
{
	return vring_state(vu, VHOST_USER_SET_VRING_BASE, index, base);
}

int
vs_vu_set_vring_enable(struct vs_vu *vu, unsigned index, bool enable)
{
	return vring_state(vu, VHOST_USER_SET_VRING_ENABLE, index, enable);
}

int
vs_vu_get_vring_base(struct vs_vu *vu, unsigned index, uint32_t *base)
{
	struct vhost_vring_state st = { .index = index, .num = 0 }, r;

	if (vu_request(vu, VHOST_USER_GET_VRING_BASE, &st, sizeof st, NULL, 0, false, &r, sizeof r, NULL) < 0)
		return -1;
	if (r.index != index) {
		vs_error_set(VS_EXIT_PROTOCOL, 0,
			     "protocol error: the reply to GET_VRING_BASE for ring %u names ring %" PRIu32, index,
			     r.index);
		vs_vu_mark_broken(vu);
		return -1;
	}
	*base = r.num;
	return 0;
}

int
vs_vu_set_vring_addr(struct vs_vu *vu, const struct vhost_vring_addr *addr)
{
	return vu_request(vu, VHOST_USER_SET_VRING_ADDR, addr, sizeof *addr, NULL, 0, false, NULL, 0, NULL);
}

static int
vring_fd(struct vs_vu *vu, uint32_t code, unsigned index, int fd)
{
	/* Bit 8 says "no fd": rust-vmm rejects a mismatch either way. */
	uint64_t v = (index & VHOST_USER_VRING_IDX_MASK) | (fd < 0 ? VHOST_USER_VRING_NOFD_MASK : 0);

	if (index > VHOST_USER_VRING_IDX_MASK)
		return vs_fail(VS_EXIT_FAIL, EINVAL, "%s: ring index %u does not fit", vs_vu_request_name(code),
			       index);
	return vu_request(vu, code, &v, sizeof v, &fd, fd < 0 ? 0 : 1, false, NULL, 0, NULL);
}

int
vs_vu_set_vring_kick(struct vs_vu *vu, unsigned index, int fd)
{
	return vring_fd(vu, VHOST_USER_SET_VRING_KICK, index, fd);
}

int
vs_vu_set_vring_call(struct vs_vu *vu, unsigned index, int fd)
{
	return vring_fd(vu, VHOST_USER_SET_VRING_CALL, index, fd);
}

int
vs_vu_set_vring_err(struct vs_vu *vu, unsigned index, int fd)
{
	return vring_fd(vu, VHOST_USER_SET_VRING_ERR, index, fd);
}

int
vs_vu_set_backend_req_fd(struct vs_vu *vu, int fd)
{
	/* QEMU closes its copy of the passed end once it is sent. */
	return vu_request(vu, VHOST_USER_SET_BACKEND_REQ_FD, NULL, 0, &fd, 1, true, NULL, 0, NULL);
}

int
vs_vu_set_log_base(struct vs_vu *vu, uint64_t mmap_size, uint64_t mmap_offset, int fd)
{
	struct vhost_user_log log = { .mmap_size = mmap_size, .mmap_offset = mmap_offset };
	unsigned char reply[sizeof log];
	uint32_t got = 0;

	/* Answered whenever LOG_SHMFD is on; libvhost-user sends a u64,
	 * rust-vmm echoes the 16 bytes, and QEMU takes either. */
	return vu_request_var(vu, VHOST_USER_SET_LOG_BASE, &log, sizeof log, &fd, 1, false, reply, sizeof reply,
			      &got, NULL);
}

int
vs_vu_get_config(struct vs_vu *vu, uint32_t offset, void *buf, uint32_t size)
{
	struct vhost_user_config c = { .offset = offset, .size = size }, r = { 0 };

	if (size == 0 || size > VHOST_USER_MAX_CONFIG_SIZE)
		return vs_fail(VS_EXIT_FAIL, EINVAL, "GET_CONFIG: %" PRIu32 " bytes is outside 1..%u", size,
			       VHOST_USER_MAX_CONFIG_SIZE);
	uint32_t got = 0;

	if (vu_request_var(vu, VHOST_USER_GET_CONFIG, &c, VHOST_USER_CONFIG_HDR_SIZE + size, NULL, 0, false, &r,
			   VHOST_USER_CONFIG_HDR_SIZE + size, &got, NULL) < 0)
		return -1;
	/* A failure is a reply with size 0 (some back-ends send just the
	 * header then); anything else must echo exactly what was asked. */
	if (got >= VHOST_USER_CONFIG_HDR_SIZE && r.size == 0)
		return vs_fail(VS_EXIT_FAIL, 0, "the back-end failed GET_CONFIG (offset %" PRIu32 ", %" PRIu32 " bytes)",
			       offset, size);
	if (got != VHOST_USER_CONFIG_HDR_SIZE + size || r.offset != offset || r.size != size) {
		vs_error_set(VS_EXIT_PROTOCOL, 0,
			     "protocol error: the reply to GET_CONFIG (offset %" PRIu32 ", %" PRIu32
			     " bytes) is %" PRIu32 " bytes long for offset %" PRIu32 ", size %" PRIu32,
			     offset, size, got, got >= 8 ? r.offset : 0, got >= 8 ? r.size : 0);
		vs_vu_mark_broken(vu);
		return -1;
	}
	memcpy(buf, r.region, size);
	return 0;
}

int
vs_vu_set_config(struct vs_vu *vu, uint32_t offset, const void *buf, uint32_t size, uint32_t flags)
{
	struct vhost_user_config c = { .offset = offset, .size = size, .flags = flags };

	if (size == 0 || size > VHOST_USER_MAX_CONFIG_SIZE)
		return vs_fail(VS_EXIT_FAIL, EINVAL, "SET_CONFIG: %" PRIu32 " bytes is outside 1..%u", size,
			       VHOST_USER_MAX_CONFIG_SIZE);
	memcpy(c.region, buf, size);
	return vu_request(vu, VHOST_USER_SET_CONFIG, &c, VHOST_USER_CONFIG_HDR_SIZE + size, NULL, 0, false, NULL, 0,
			  NULL);
}

int
vs_vu_get_inflight_fd(struct vs_vu *vu, uint16_t num_queues, uint16_t queue_size,
		      struct vhost_user_inflight *inflight, int *fd)
{
	struct vhost_user_inflight req = { .num_queues = num_queues, .queue_size = queue_size };

	*fd = -1;
	if (vu_request(vu, VHOST_USER_GET_INFLIGHT_FD, &req, sizeof req, NULL, 0, false, inflight,
		       sizeof *inflight, fd) < 0)
		return -1;
	/* An fd comes exactly when there is an area to map. */
	if ((inflight->mmap_size != 0) != (*fd >= 0)) {
		vs_error_set(VS_EXIT_PROTOCOL, 0,
			     "protocol error: the reply to GET_INFLIGHT_FD has mmap_size %" PRIu64 " and %s fd",
			     inflight->mmap_size, *fd >= 0 ? "an" : "no");
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		vs_vu_mark_broken(vu);
		return -1;
	}
	return 0;
}

int
vs_vu_set_inflight_fd(struct vs_vu *vu, const struct vhost_user_inflight *inflight, int fd)
{
	return vu_request(vu, VHOST_USER_SET_INFLIGHT_FD, inflight, sizeof *inflight, &fd, 1, false, NULL, 0,
			  NULL);
}

int
vs_vu_reset_device(struct vs_vu *vu)
{
	return vu_request(vu, VHOST_USER_RESET_DEVICE, NULL, 0, NULL, 0, false, NULL, 0, NULL);
}

int
vs_vu_set_status(struct vs_vu *vu, uint8_t status)
{
	uint64_t v = status;

	return vu_request(vu, VHOST_USER_SET_STATUS, &v, sizeof v, NULL, 0, false, NULL, 0, NULL);
}

int
vs_vu_get_status(struct vs_vu *vu, uint8_t *status)
{
	uint64_t v;

	if (get_u64(vu, VHOST_USER_GET_STATUS, &v) < 0)
		return -1;
	if (v > 0xff) {
		vs_error_set(VS_EXIT_PROTOCOL, 0, "protocol error: GET_STATUS returned 0x%" PRIx64 ", not a status byte",
			     v);
		vs_vu_mark_broken(vu);
		return -1;
	}
	*status = v;
	return 0;
}
