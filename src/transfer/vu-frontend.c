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
#include "log.h"
#include "vu-describe.h"
#include "vu-frontend.h"

void
vs_vu_trace(const char *dir, const struct vs_vu_message *m)
{
	char line[2048];

	vs_vu_describe_text(line, sizeof line, m);
	vs_log(VS_LOG_DEBUG, "%s %s", dir, line);
}

static void
log_msg(const struct vs_vu *vu, const char *dir, const struct vs_vu_header *h, size_t nfds, const void *payload)
{
	struct vs_vu_message m = { VS_VU_CHANNEL_MAIN, *h, payload, nfds };

	if (vu->verbose)
		vs_vu_trace(dir, &m);
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

/* What vu_send put on the wire: the receiving side needs to know which
 * request it answers and whether an ack is due. */
struct vu_sent {
	const struct vs_vu_request_info *info;
	bool need_reply; /* NEED_REPLY went out: a u64 ack is due */
};

/* A caller asked for a reply the table does not promise: the request is
 * out, so the conversation is lost as after a protocol error. */
static int
misuse(struct vs_vu *vu, const struct vu_sent *sent, const char *what)
{
	vs_error_set(VS_EXIT_SOFTWARE, 0, "internal error: %s: %s", sent->info->name, what);
	vs_vu_mark_broken(vu);
	return -1;
}

/* Whether a reply may bring an fd (it is the caller's then). */
enum vu_fd_policy {
	VU_FD_NONE,
	VU_FD_OPTIONAL, /* at most one */
};

/* Send code with its body and fds, after the gate and the fd limit of
 * the request table; NEED_REPLY is set where the table's reply is ACK and
 * an ack may be asked for.  fds are borrowed: the caller keeps and closes
 * them, sent or not. */
static int
vu_send(struct vs_vu *vu, uint32_t code, const void *body, uint32_t size, const int *fds, size_t nfds,
	struct vu_sent *sent)
{
	const struct vs_vu_request_info *info = vs_vu_request_info(code);
	struct vs_vu_header h = { .request = code, .flags = VHOST_USER_VERSION, .size = size };
	struct iovec iov[2] = { { &h, VS_VU_HDR_SIZE }, { (void *)body, size } };

	sent->info = info;
	sent->need_reply = false;
	if (vu->broken)
		return vs_fail(vu->broken_exit, 0, "%s not sent: the connection is unusable after an earlier error",
			       info->name);
	if (check_gate(vu, info) < 0)
		return -1;
	if (nfds > info->max_fds)
		return vs_fail(VS_EXIT_FAIL, EINVAL, "%s: too many fds", info->name);
	if (info->reply == VS_PL_ACK && can_need_reply(vu)) {
		h.flags |= VHOST_USER_NEED_REPLY_MASK;
		sent->need_reply = true;
	}
	log_msg(vu, "->", &h, nfds, body);
	if (vs_conn_send(&vu->conn, iov, size ? 2 : 1, fds, nfds, info->name) < 0) {
		vs_vu_mark_broken(vu);
		return -1;
	}
	return 0;
}

static void
close_fds(const int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
}

/* Receive the reply to what vu_send sent: the same request code, flags
 * exactly REPLY|version 1 (QEMU accepts nothing else), a payload of min
 * to max bytes into body (*got: how many; NULL when min == max), and fds
 * as policy allows; an fd that is allowed goes to *fd (the caller's; -1
 * when none came).  A violation breaks the connection, and no received
 * fd is left open. */
static int
vu_recv(struct vs_vu *vu, const struct vu_sent *sent, void *body, uint32_t min, uint32_t max, uint32_t *got,
	enum vu_fd_policy policy, int *fd)
{
	const char *name = sent->info->name;
	struct vs_vu_header rh;
	int rfds[VS_VU_MAX_FDS], more[VS_VU_MAX_FDS];
	size_t nrfds = 0, nmore = 0;

	if (fd)
		*fd = -1;
	/* The table says whether a reply comes: an ACK only on NEED_REPLY. */
	if (sent->info->reply == VS_PL_ACK && !sent->need_reply)
		return misuse(vu, sent, "no reply is due");
	if (vs_conn_recv(&vu->conn, &rh, VS_VU_HDR_SIZE, rfds, &nrfds, name) < 0)
		goto broken;
	if (rh.request != sent->info->code) {
		vs_error_set(VS_EXIT_PROTOCOL, 0,
			     "protocol error: the reply to %s carries request code %" PRIu32 " (%s)", name, rh.request,
			     vs_vu_request_name(rh.request));
		goto broken_fds;
	}
	if (rh.flags != (VHOST_USER_VERSION | VHOST_USER_REPLY_MASK)) {
		vs_error_set(VS_EXIT_PROTOCOL, 0,
			     "protocol error: the reply to %s has flags 0x%" PRIx32 ", expected 0x5 (reply, version 1)",
			     name, rh.flags);
		goto broken_fds;
	}
	if (rh.size < min || rh.size > max) {
		vs_error_set(VS_EXIT_PROTOCOL, 0,
			     "protocol error: the reply to %s has a %" PRIu32 "-byte payload, expected %s%" PRIu32, name,
			     rh.size, min == max ? "" : "at most ", max);
		goto broken_fds;
	}
	if (rh.size && vs_conn_recv(&vu->conn, body, rh.size, more, &nmore, name) < 0)
		goto broken_fds;
	for (size_t i = 0; i < nmore; i++) {
		if (nrfds < VS_VU_MAX_FDS)
			rfds[nrfds++] = more[i];
		else
			close(more[i]);
	}
	log_msg(vu, "<-", &rh, nrfds, body);
	if (nrfds > (policy == VU_FD_OPTIONAL ? 1u : 0u)) {
		vs_error_set(VS_EXIT_PROTOCOL, 0, "protocol error: the reply to %s has %zu unexpected fd%s attached",
			     name, nrfds, nrfds == 1 ? "" : "s");
		goto broken_fds;
	}
	if (got)
		*got = rh.size;
	if (nrfds == 1)
		*fd = rfds[0];
	return 0;

broken_fds:
	close_fds(rfds, nrfds);
broken:
	vs_vu_mark_broken(vu);
	return -1;
}

/* A reply of the fixed size of the table's reply kind, into body (size
 * bytes, which must be that size). */
static int
vu_recv_fixed(struct vs_vu *vu, const struct vu_sent *sent, void *body, uint32_t size, enum vu_fd_policy policy,
	      int *fd)
{
	uint32_t want = vs_vu_payload_size(sent->need_reply ? VS_PL_ACK : sent->info->reply);

	if (want == 0 || want != size)
		return misuse(vu, sent, "the reply is not of the size asked for");
	return vu_recv(vu, sent, body, size, size, NULL, policy, fd);
}

/* The reply of a request whose table reply is ACK: a u64 only when
 * NEED_REPLY went out, and non-zero is the back-end's refusal. */
static int
vu_recv_ack(struct vs_vu *vu, const struct vu_sent *sent)
{
	uint64_t ack;

	if (sent->info->reply != VS_PL_ACK)
		return misuse(vu, sent, "the reply is not an ack");
	if (!sent->need_reply)
		return 0;
	if (vu_recv_fixed(vu, sent, &ack, sizeof ack, VU_FD_NONE, NULL) < 0)
		return -1;
	if (ack != 0)
		return vs_fail(VS_EXIT_FAIL, 0, "the back-end rejected %s (ack value %" PRIu64 ")", sent->info->name,
			       ack);
	return 0;
}

/* A request answered by an ack (or nothing, without REPLY_ACK). */
static int
vu_call(struct vs_vu *vu, uint32_t code, const void *body, uint32_t size, const int *fds, size_t nfds)
{
	struct vu_sent sent;

	if (vu_send(vu, code, body, size, fds, nfds, &sent) < 0)
		return -1;
	return vu_recv_ack(vu, &sent);
}

/* A request without a body, answered by a u64. */
static int
get_u64(struct vs_vu *vu, uint32_t code, uint64_t *out)
{
	struct vu_sent sent;

	if (vu_send(vu, code, NULL, 0, NULL, 0, &sent) < 0)
		return -1;
	return vu_recv_fixed(vu, &sent, out, sizeof *out, VU_FD_NONE, NULL);
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
	if (vu_call(vu, VHOST_USER_SET_PROTOCOL_FEATURES, &features, sizeof features, NULL, 0) < 0)
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
	if (vu_call(vu, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0) < 0)
		return -1;
	vu->owner_set = true;
	return 0;
}

static const struct vs_vu_open_opts open_defaults = VS_VU_OPEN_OPTS_INIT(0, false);

int
vs_vu_open(struct vs_vu *vu, const char *path)
{
	return vs_vu_open_with(vu, path, NULL);
}

int
vs_vu_open_with(struct vs_vu *vu, const char *path, const struct vs_vu_open_opts *opts)
{
	struct vs_vu_conn c;

	if (!opts)
		opts = &open_defaults;
	if (vs_conn_connect(&c, path, opts->timeout_ms) < 0) {
		memset(vu, 0, sizeof *vu);
		vu->conn = c; /* fd -1: vs_vu_close stays safe */
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
	if (!opts)
		opts = &open_defaults;
	memset(vu, 0, sizeof *vu);
	vu->queue_num = 1;
	vu->max_mem_slots = 8;
	vu->verbose = opts->verbose;
	vu->conn.fd = fd;
	vu->conn.path = name;
	vu->conn.timeout_ms = vs_timeout_effective(opts->timeout_ms);
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
	if (opts->backend_req_fd >= 0 && vs_vu_has_protocol_feature(vu, VHOST_USER_PROTOCOL_F_BACKEND_REQ) &&
	    vs_vu_set_backend_req_fd(vu, opts->backend_req_fd) < 0)
		goto fail;
	if (vs_vu_set_owner(vu) < 0)
		goto fail;
	return 0;
fail:
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
	struct vu_sent sent;
	uint64_t r;
	int rfd, mode;
	struct stat st;

	*reply_fd = -1;
	if (vu_send(vu, VHOST_USER_SET_DEVICE_STATE_FD, &p, sizeof p, &fd, 1, &sent) < 0 ||
	    vu_recv_fixed(vu, &sent, &r, sizeof r, VU_FD_OPTIONAL, &rfd) < 0)
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
	return vu_call(vu, VHOST_USER_SET_FEATURES, &features, sizeof features, NULL, 0);
}

int
vs_vu_set_mem_table(struct vs_vu *vu, const struct vhost_user_memory_region *regions, const int *fds,
		    unsigned n)
{
	struct vhost_user_memory m = { .nregions = n };

	if (n == 0 || n > VHOST_MEMORY_BASELINE_NREGIONS)
		return vs_fail(VS_EXIT_FAIL, EINVAL, "SET_MEM_TABLE takes 1 to %d regions, not %u",
			       VHOST_MEMORY_BASELINE_NREGIONS, n);
	memcpy(m.regions, regions, n * sizeof *regions);
	/* QEMU sends only the regions in use: size 8 + n × 32. */
	return vu_call(vu, VHOST_USER_SET_MEM_TABLE, &m, 8 + n * sizeof *regions, fds, n);
}

int
vs_vu_add_mem_reg(struct vs_vu *vu, const struct vhost_user_memory_region *region, int fd)
{
	struct vhost_user_mem_reg m = { .region = *region };

	return vu_call(vu, VHOST_USER_ADD_MEM_REG, &m, sizeof m, &fd, 1);
}

int
vs_vu_rem_mem_reg(struct vs_vu *vu, const struct vhost_user_memory_region *region)
{
	/* No fd: rust-vmm back-ends reject one on REM_MEM_REG (doc/vhost-user.md, R7). */
	struct vhost_user_mem_reg m = { .region = *region };

	m.region.mmap_offset = 0;
	return vu_call(vu, VHOST_USER_REM_MEM_REG, &m, sizeof m, NULL, 0);
}

static int
vring_state(struct vs_vu *vu, uint32_t code, unsigned index, uint32_t num)
{
	struct vhost_vring_state st = { .index = index, .num = num };

	return vu_call(vu, code, &st, sizeof st, NULL, 0);
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
	struct vu_sent sent;

	if (vu_send(vu, VHOST_USER_GET_VRING_BASE, &st, sizeof st, NULL, 0, &sent) < 0 ||
	    vu_recv_fixed(vu, &sent, &r, sizeof r, VU_FD_NONE, NULL) < 0)
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
	return vu_call(vu, VHOST_USER_SET_VRING_ADDR, addr, sizeof *addr, NULL, 0);
}

static int
vring_fd(struct vs_vu *vu, uint32_t code, unsigned index, int fd)
{
	/* Bit 8 says "no fd": rust-vmm rejects a mismatch either way. */
	uint64_t v = (index & VHOST_USER_VRING_IDX_MASK) | (fd < 0 ? VHOST_USER_VRING_NOFD_MASK : 0);

	if (index > VHOST_USER_VRING_IDX_MASK)
		return vs_fail(VS_EXIT_FAIL, EINVAL, "%s: ring index %u does not fit", vs_vu_request_name(code),
			       index);
	return vu_call(vu, code, &v, sizeof v, &fd, fd < 0 ? 0 : 1);
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
	return vu_call(vu, VHOST_USER_SET_BACKEND_REQ_FD, NULL, 0, &fd, 1);
}

int
vs_vu_set_log_base(struct vs_vu *vu, uint64_t mmap_size, uint64_t mmap_offset, int fd)
{
	struct vhost_user_log log = { .mmap_size = mmap_size, .mmap_offset = mmap_offset };
	unsigned char reply[sizeof log];
	struct vu_sent sent;
	uint32_t got;

	/* Answered whenever LOG_SHMFD is on; libvhost-user sends a u64,
	 * rust-vmm echoes the 16 bytes, and QEMU takes either. */
	if (vu_send(vu, VHOST_USER_SET_LOG_BASE, &log, sizeof log, &fd, 1, &sent) < 0)
		return -1;
	return vu_recv(vu, &sent, reply, 0, sizeof reply, &got, VU_FD_NONE, NULL);
}

int
vs_vu_get_config(struct vs_vu *vu, uint32_t offset, void *buf, uint32_t size)
{
	struct vhost_user_config c = { .offset = offset, .size = size }, r = { 0 };

	if (size == 0 || size > VHOST_USER_MAX_CONFIG_SIZE)
		return vs_fail(VS_EXIT_FAIL, EINVAL, "GET_CONFIG: %" PRIu32 " bytes is outside 1..%u", size,
			       VHOST_USER_MAX_CONFIG_SIZE);
	uint32_t got = 0;
	struct vu_sent sent;

	if (vu_send(vu, VHOST_USER_GET_CONFIG, &c, VHOST_USER_CONFIG_HDR_SIZE + size, NULL, 0, &sent) < 0 ||
	    vu_recv(vu, &sent, &r, 0, VHOST_USER_CONFIG_HDR_SIZE + size, &got, VU_FD_NONE, NULL) < 0)
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
	return vu_call(vu, VHOST_USER_SET_CONFIG, &c, VHOST_USER_CONFIG_HDR_SIZE + size, NULL, 0);
}

int
vs_vu_get_inflight_fd(struct vs_vu *vu, uint16_t num_queues, uint16_t queue_size,
		      struct vhost_user_inflight *inflight, int *fd)
{
	struct vhost_user_inflight req = { .num_queues = num_queues, .queue_size = queue_size };
	struct vu_sent sent;

	*fd = -1;
	if (vu_send(vu, VHOST_USER_GET_INFLIGHT_FD, &req, sizeof req, NULL, 0, &sent) < 0 ||
	    vu_recv_fixed(vu, &sent, inflight, sizeof *inflight, VU_FD_OPTIONAL, fd) < 0)
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
	return vu_call(vu, VHOST_USER_SET_INFLIGHT_FD, inflight, sizeof *inflight, &fd, 1);
}

int
vs_vu_reset_device(struct vs_vu *vu)
{
	return vu_call(vu, VHOST_USER_RESET_DEVICE, NULL, 0, NULL, 0);
}

int
vs_vu_set_status(struct vs_vu *vu, uint8_t status)
{
	uint64_t v = status;

	return vu_call(vu, VHOST_USER_SET_STATUS, &v, sizeof v, NULL, 0);
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
