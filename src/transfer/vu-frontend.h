/* A vhost-user front-end connection: one function per request, feature
 * gates checked before sending, every reply validated, and a sticky
 * "broken" state after any transport or protocol error.
 *
 * fds: the connection owns its socket (vs_vu_open_fd takes it).  Every fd
 * a request carries is lent: the caller keeps it and closes it, whether
 * the call succeeded or not.  An fd that comes back in a reply is the
 * caller's on success; after an error none is left open. */
#ifndef VS_VU_FRONTEND_H
#define VS_VU_FRONTEND_H

#include <stdbool.h>
#include <stdint.h>

#include "vu-conn.h"
#include "vu-proto.h"

struct vs_vu_message; /* vu-describe.h */

/* Protocol features this front-end implements and therefore may ack. */
#define VS_VU_PROTOCOL_FEATURES_IMPLEMENTED                                         \
	((1ull << VHOST_USER_PROTOCOL_F_MQ) | (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) | \
	 (1ull << VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS) |                          \
	 (1ull << VHOST_USER_PROTOCOL_F_DEVICE_STATE))

struct vs_vu {
	struct vs_vu_conn conn;
	bool broken;
	int broken_exit;	     /* exit class of the error that broke it */
	bool sent_get_features;
	bool sent_get_protocol_features;
	bool owner_set;
	uint64_t features;	     /* GET_FEATURES */
	uint64_t protocol_offered;   /* GET_PROTOCOL_FEATURES */
	uint64_t protocol_features;  /* what SET_PROTOCOL_FEATURES acked */
	uint64_t queue_num;	     /* GET_QUEUE_NUM, or 1 without MQ */
	uint64_t max_mem_slots;	     /* GET_MAX_MEM_SLOTS, or 8 without it */
	bool verbose;		     /* trace every message (vs_vu_trace) */
};

/* How vs_vu_open_with connects and negotiates. */
struct vs_vu_open_opts {
	int timeout_ms;		    /* deadline of each wait (io.h); 0: the default */
	bool verbose;		    /* trace every message (the CLI's -v) */
	uint64_t protocol_features; /* what we may ack (only what was offered is) */
	int backend_req_fd;	    /* lent to SET_BACKEND_REQ_FD when BACKEND_REQ is
				     * negotiated; -1 for none */
};
/* What vs_vu_open uses, with a deadline and a trace of one's own. */
#define VS_VU_OPEN_OPTS_INIT(timeout, trace)                                                   \
	{ .timeout_ms = (timeout), .verbose = (trace),                                         \
	  .protocol_features = VS_VU_PROTOCOL_FEATURES_IMPLEMENTED, .backend_req_fd = -1 }

/* "DIR NAME flags=... key=value ..." (vs_vu_describe_text) to the log
 * handler at VS_LOG_DEBUG; callers trace only when asked to (verbose). */
void vs_vu_trace(const char *dir, const struct vs_vu_message *m);

/* Connect and negotiate in QEMU's order (doc/vhost-user.md §2), with the
 * default deadline and no trace. */
int vs_vu_open(struct vs_vu *vu, const char *path);
/* The same on a socket that is already connected (a socketpair, an
 * inherited fd), named name in messages.  Takes fd: it is closed on
 * failure and by vs_vu_close. */
int vs_vu_open_fd(struct vs_vu *vu, int fd, const char *name);
/* The same with a deadline, a trace, a choice of protocol features and a
 * back-end channel (NULL: the defaults of vs_vu_open).  opts->backend_req_fd stays the
 * caller's: close it once this returns, so that only the back-end holds
 * that end. */
int vs_vu_open_with(struct vs_vu *vu, const char *path, const struct vs_vu_open_opts *opts);
int vs_vu_open_fd_with(struct vs_vu *vu, int fd, const char *name, const struct vs_vu_open_opts *opts);
void vs_vu_close(struct vs_vu *vu);

/* After an error that leaves the conversation in an unknown state: every
 * later request fails at once, with the same exit class. */
void vs_vu_mark_broken(struct vs_vu *vu);

bool vs_vu_has_feature(const struct vs_vu *vu, unsigned bit);
bool vs_vu_has_protocol_feature(const struct vs_vu *vu, unsigned bit);

int vs_vu_get_features(struct vs_vu *vu, uint64_t *features);
int vs_vu_get_protocol_features(struct vs_vu *vu, uint64_t *features);
int vs_vu_set_protocol_features(struct vs_vu *vu, uint64_t features);
int vs_vu_get_queue_num(struct vs_vu *vu, uint64_t *num);
int vs_vu_get_max_mem_slots(struct vs_vu *vu, uint64_t *slots);
int vs_vu_set_owner(struct vs_vu *vu);

/* Lends fd (close it after the call, so the reader can see EOF).  On
 * success *reply_fd is the back-end's own channel end (ours to close), or
 * -1 when we keep using ours. */
int vs_vu_set_device_state_fd(struct vs_vu *vu, uint32_t direction, uint32_t phase, int fd,
			      int *reply_fd);
int vs_vu_check_device_state(struct vs_vu *vu, uint64_t *result);

/* The requests of a vhost_dev.  Each is gated on what was negotiated
 * and, when REPLY_ACK is on, waited for (NEED_REPLY). */
/* Without REPLY_ACK, make sure the back-end has processed what was sent
 * (QEMU's vhost_user_write_sync: a GET_FEATURES round trip). */
int vs_vu_barrier(struct vs_vu *vu);
int vs_vu_set_features(struct vs_vu *vu, uint64_t features);
int vs_vu_set_mem_table(struct vs_vu *vu, const struct vhost_user_memory_region *regions, const int *fds,
			unsigned n);
int vs_vu_add_mem_reg(struct vs_vu *vu, const struct vhost_user_memory_region *region, int fd);
int vs_vu_rem_mem_reg(struct vs_vu *vu, const struct vhost_user_memory_region *region);
int vs_vu_set_vring_num(struct vs_vu *vu, unsigned index, uint32_t num);
int vs_vu_set_vring_base(struct vs_vu *vu, unsigned index, uint32_t base);
int vs_vu_get_vring_base(struct vs_vu *vu, unsigned index, uint32_t *base);
int vs_vu_set_vring_addr(struct vs_vu *vu, const struct vhost_vring_addr *addr);
/* fd -1 sends the "no fd" bit. */
int vs_vu_set_vring_kick(struct vs_vu *vu, unsigned index, int fd);
int vs_vu_set_vring_call(struct vs_vu *vu, unsigned index, int fd);
int vs_vu_set_vring_err(struct vs_vu *vu, unsigned index, int fd);
int vs_vu_set_vring_enable(struct vs_vu *vu, unsigned index, bool enable);
int vs_vu_set_backend_req_fd(struct vs_vu *vu, int fd);
int vs_vu_set_log_base(struct vs_vu *vu, uint64_t mmap_size, uint64_t mmap_offset, int fd);
int vs_vu_get_config(struct vs_vu *vu, uint32_t offset, void *buf, uint32_t size);
int vs_vu_set_config(struct vs_vu *vu, uint32_t offset, const void *buf, uint32_t size, uint32_t flags);
/* *fd: the back-end's area (ours to close), -1 when mmap_size is 0. */
int vs_vu_get_inflight_fd(struct vs_vu *vu, uint16_t num_queues, uint16_t queue_size,
			  struct vhost_user_inflight *inflight, int *fd);
int vs_vu_set_inflight_fd(struct vs_vu *vu, const struct vhost_user_inflight *inflight, int fd);
int vs_vu_reset_device(struct vs_vu *vu);
int vs_vu_set_status(struct vs_vu *vu, uint8_t status);
int vs_vu_get_status(struct vs_vu *vu, uint8_t *status);

#endif
