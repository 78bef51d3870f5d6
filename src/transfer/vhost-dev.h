/* The vhost_dev of QEMU's include/hw/virtio/vhost.h, for a vhost-user
 * front-end: one connection, its negotiated features, guest memory in
 * memfd regions, split virtqueues laid out in that memory, and the start,
 * stop, reset, config, inflight, dirty-log and device-state operations,
 * each sending what QEMU sends (doc/vhost-user.md §5).
 *
 * Differences from QEMU, on purpose:
 * - there is no guest: the "guest-acked" virtio features are whatever the
 *   caller asks for (vs_vhost_ack_features), guest memory is ours, and
 *   the call eventfds are ours to wait on;
 * - init does not send QEMU's per-queue SET_VRING_CALL/ERR (vhost_dev_init):
 *   they go out at virtqueue start, after SET_FEATURES, because no ring
 *   message may precede SET_FEATURES (doc/vhost-user.md, R4);
 * - start kicks every started ring once, after enabling it: a ring is
 *   started by its first kick, and a guest would kick it anyway;
 * - what QEMU asserts (no device-state transfer while started) is refused
 *   with an error. */
#ifndef VS_VHOST_DEV_H
#define VS_VHOST_DEV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "device-state.h"
#include "vring.h"
#include "vu-frontend.h"

/* What a vhost_dev may ack: the connection's own set plus what this
 * file implements. */
#define VS_VHOST_PROTOCOL_FEATURES_IMPLEMENTED                                                 \
	(VS_VU_PROTOCOL_FEATURES_IMPLEMENTED | (1ull << VHOST_USER_PROTOCOL_F_LOG_SHMFD) |       \
	 (1ull << VHOST_USER_PROTOCOL_F_BACKEND_REQ) | (1ull << VHOST_USER_PROTOCOL_F_CONFIG) |   \
	 (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) |                                      \
	 (1ull << VHOST_USER_PROTOCOL_F_RESET_DEVICE) | (1ull << VHOST_USER_PROTOCOL_F_STATUS))

/* Virtio features a driver here can use: the split ring with plain
 * notifications, nothing that changes the ring layout or addresses. */
#define VS_VHOST_DRIVER_FEATURES (1ull << VIRTIO_F_VERSION_1)

#define VS_VHOST_MAX_QUEUES 16
#define VS_VHOST_MAX_REGIONS 64
#define VS_VHOST_MEM_DEFAULT (4ull << 20)
#define VS_VHOST_QUEUE_SIZE_DEFAULT 128u

struct vs_vhost_dev_opts {
	uint64_t mem_size;	    /* guest memory; 0: VS_VHOST_MEM_DEFAULT */
	unsigned nregions;	    /* split into this many memfd regions; 0: 1 */
	unsigned queue_size;	    /* ring size; 0: VS_VHOST_QUEUE_SIZE_DEFAULT */
	uint64_t queue_mask;	    /* rings that start; 0: all */
	bool mem_table;		    /* do not negotiate CONFIGURE_MEM_SLOTS: one SET_MEM_TABLE */
	uint64_t protocol_features; /* may be acked; 0: VS_VHOST_PROTOCOL_FEATURES_IMPLEMENTED */
	int timeout_ms;		    /* deadline of each wait (io.h); 0: the default */
	bool verbose;		    /* trace every message, the back-end channel's too */
};

/* One memfd region of guest memory. */
struct vs_vhost_region {
	struct vhost_user_memory_region r; /* as sent: gpa, size, our address, offset */
	void *host;
	int fd;
	bool sent;			   /* the back-end has it (ADD_MEM_REG path) */
};

struct vs_vhost_virtqueue {
	unsigned index;
	unsigned num;		 /* ring size */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	void *area;		 /* desc, avail, used (vs_vring_layout) */
	struct vs_vring vring;	 /* the driver's side */
	int kick_fd, call_fd, err_fd;
	uint16_t last_avail_idx; /* SET_VRING_BASE; GET_VRING_BASE updates it */
	bool started;
};

/* The back-end channel (SET_BACKEND_REQ_FD), served by its own thread so
 * a back-end request never waits on the main exchange, nor it on one. */
struct vs_vhost_backend_channel {
	int fd;		     /* our end, -1 when there is none */
	int stop_fd;	     /* eventfd that ends the thread */
	pthread_t thread;
	bool running;
	bool reply_ack;	     /* REPLY_ACK negotiated: answer NEED_REPLY */
	bool closed;	     /* (atomic) the back-end closed or broke it */
	int timeout_ms;	     /* set before start: deadline of a wait inside a request */
	bool verbose;	     /* set before start: trace every message */
	/* counters the thread keeps (atomic) */
	unsigned long served;
	unsigned long config_changes;
	pthread_mutex_t lock;		       /* guards the notifier and its opaque;
						* initialise it (PTHREAD_MUTEX_INITIALIZER) */
	void (*config_notifier)(void *opaque); /* vhost_dev_set_config_notifier */
	void *opaque;
};

struct vs_vhost_inflight {
	int fd;
	void *addr;
	uint64_t size, offset;
	uint16_t queue_size;
};

struct vs_vhost_dev {
	struct vs_vu vu;
	struct vs_vhost_dev_opts opts;
	unsigned nvqs;
	struct vs_vhost_virtqueue vqs[VS_VHOST_MAX_QUEUES];
	uint64_t acked_features;    /* the "guest" features: vhost_ack_features */
	uint64_t sent_features;	    /* the last SET_FEATURES */
	bool features_set;	    /* a SET_FEATURES was sent (since the last reset) */
	uint64_t max_memslots;	    /* min(GET_MAX_MEM_SLOTS, 512), or 8 */
	struct vs_vhost_region regions[VS_VHOST_MAX_REGIONS];
	unsigned nregions;
	uint64_t mem_used;	    /* bump allocator over guest-physical space */
	bool started;
	bool log_enabled;	    /* dirty logging wanted (vhost_migration_log) */
	int log_fd;
	void *log;
	uint64_t log_size;	    /* bytes */
	struct vs_vhost_inflight inflight;
	uint8_t status;		    /* what SET_STATUS sent last */
	struct vs_vhost_backend_channel channel;
};

/* vhost_dev_init: connect, negotiate in QEMU's order (GET_FEATURES,
 * protocol features, queue count, memory slots, SET_BACKEND_REQ_FD,
 * SET_OWNER, GET_FEATURES again), create the guest memory and lay out
 * the rings in it.  Nothing about memory or rings is sent yet. */
int vs_vhost_dev_init(struct vs_vhost_dev *dev, const char *path, const struct vs_vhost_dev_opts *opts);
/* vhost_dev_cleanup: nothing on the wire; closes the connection, the
 * back-end channel, every fd and mapping. */
void vs_vhost_dev_cleanup(struct vs_vhost_dev *dev);

/* vhost_get_features: the offered features masked by what the caller
 * knows; vhost_ack_features: which of them the "guest" acked. */
uint64_t vs_vhost_get_features(const struct vs_vhost_dev *dev, uint64_t features);
void vs_vhost_ack_features(struct vs_vhost_dev *dev, uint64_t features);
unsigned vs_vhost_get_max_memslots(const struct vs_vhost_dev *dev);
unsigned vs_vhost_get_free_memslots(const struct vs_vhost_dev *dev);
bool vs_vhost_dev_is_started(const struct vs_vhost_dev *dev);

/* vhost_dev_start / vhost_dev_stop (doc/vhost-user.md §5). */
int vs_vhost_dev_start(struct vs_vhost_dev *dev);
int vs_vhost_dev_stop(struct vs_vhost_dev *dev);
/* vhost_virtqueue_start / vhost_virtqueue_stop: one ring. */
int vs_vhost_virtqueue_start(struct vs_vhost_dev *dev, unsigned index);
int vs_vhost_virtqueue_stop(struct vs_vhost_dev *dev, unsigned index);
/* vhost_virtqueue_mask: SET_VRING_CALL with no fd (masked) or ours. */
int vs_vhost_virtqueue_mask(struct vs_vhost_dev *dev, unsigned index, bool mask);
/* vhost_virtqueue_pending: the back-end signalled the ring's call fd
 * (nothing is consumed). */
bool vs_vhost_virtqueue_pending(struct vs_vhost_dev *dev, unsigned index);
/* Not modelled, as they do nothing on a vhost-user wire: the
 * notifier wiring (vhost_dev_enable/disable_notifiers, vhost_config_
 * pending/mask), the IOMMU (vhost_dev_has_iommu: ACCESS_PLATFORM is never
 * acked here, so it is always false), vhost_net_set_backend (vhost-kernel)
 * and the inflight save/load removed from QEMU before 10.0. */

/* vhost_dev_get_config / vhost_dev_set_config (CONFIG). */
int vs_vhost_dev_get_config(struct vs_vhost_dev *dev, void *buf, uint32_t len);
int vs_vhost_dev_set_config(struct vs_vhost_dev *dev, const void *buf, uint32_t offset, uint32_t len,
			    uint32_t flags);
/* vhost_dev_set_config_notifier: called (from the channel's thread) on
 * BACKEND_CONFIG_CHANGE_MSG. */
void vs_vhost_dev_set_config_notifier(struct vs_vhost_dev *dev, void (*fn)(void *), void *opaque);

/* Inflight I/O tracking (INFLIGHT_SHMFD). */
int vs_vhost_dev_prepare_inflight(struct vs_vhost_dev *dev);
int vs_vhost_dev_get_inflight(struct vs_vhost_dev *dev, uint16_t queue_size);
int vs_vhost_dev_set_inflight(struct vs_vhost_dev *dev);
void vs_vhost_dev_reset_inflight(struct vs_vhost_dev *dev);
void vs_vhost_dev_free_inflight(struct vs_vhost_dev *dev);

/* vhost_reset_device: RESET_DEVICE.  It wipes the back-end's state, so
 * it is sent only when asked for, on a stopped device, and only when
 * negotiated (never RESET_OWNER). */
int vs_vhost_reset_device(struct vs_vhost_dev *dev);

/* vhost_migration_log: dirty logging on or off.  On a started device:
 * SET_LOG_BASE, SET_FEATURES(|LOG_ALL), SET_VRING_ADDR(LOG) per ring;
 * on a stopped one it is only remembered for the next start. */
int vs_vhost_migration_log(struct vs_vhost_dev *dev, bool enable);

/* Device state (doc/vhost-user.md §4): refused while started.  fd is lent,
 * as to vs_vu_set_device_state_fd. */
bool vs_vhost_supports_device_state(const struct vs_vhost_dev *dev);
int vs_vhost_set_device_state_fd(struct vs_vhost_dev *dev, uint32_t direction, uint32_t phase, int fd,
				 int *reply_fd);
int vs_vhost_check_device_state(struct vs_vhost_dev *dev, uint64_t *result);
int vs_vhost_save_backend_state(struct vs_vhost_dev *dev, uint64_t max_size, vs_consume_fn consume,
				void *opaque, uint64_t *bytes);
int vs_vhost_load_backend_state(struct vs_vhost_dev *dev, vs_produce_fn produce, void *opaque,
				uint64_t *bytes);

/* Guest memory for the caller's buffers: len bytes aligned to align
 * (a power of 2), inside one region.  Returns our address, its
 * guest-physical address in *gpa; NULL when memory is exhausted. */
void *vs_vhost_mem_alloc(struct vs_vhost_dev *dev, uint64_t len, uint64_t align, uint64_t *gpa);

/* The driver's side of a started ring: put a chain on it and kick, then
 * wait (with the deadline) until the back-end returns one. */
int vs_vhost_vq_add(struct vs_vhost_dev *dev, unsigned index, const struct vs_vring_buf *bufs, unsigned n);
int vs_vhost_vq_kick(struct vs_vhost_dev *dev, unsigned index);
int vs_vhost_vq_wait_used(struct vs_vhost_dev *dev, unsigned index, uint32_t *head, uint32_t *len);

/* The back-end channel alone (vs_vhost_dev_init runs it): serve fd until
 * stopped.  Exposed for tests. */
int vs_vhost_backend_channel_start(struct vs_vhost_backend_channel *ch, int fd, bool reply_ack);
void vs_vhost_backend_channel_stop(struct vs_vhost_backend_channel *ch);

#endif
