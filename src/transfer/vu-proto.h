/* vhost-user wire format: header, payload structs and feature bits, with
 * the spec's names (QEMU docs/interop/vhost-user.rst).  All integers are
 * in the host's byte order. */
#ifndef VS_VU_PROTO_H
#define VS_VU_PROTO_H

#include <stdint.h>

enum vhost_user_request {
#define VU_REQUEST(name, code, pl, fds, reply, gate) VHOST_USER_##name = code,
#include "vu-requests.def"
#undef VU_REQUEST
	VHOST_USER_MAX
};

/* Header flags */
#define VHOST_USER_VERSION_MASK 0x3u
#define VHOST_USER_VERSION 0x1u
#define VHOST_USER_REPLY_MASK (1u << 2)
#define VHOST_USER_NEED_REPLY_MASK (1u << 3)

struct vs_vu_header {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
} __attribute__((packed));
#define VS_VU_HDR_SIZE 12u

/* Virtio / vhost feature bits (GET/SET_FEATURES) */
#define VHOST_F_LOG_ALL 26
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX 29
#define VHOST_USER_F_PROTOCOL_FEATURES 30
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VIRTIO_F_RING_PACKED 34

/* Protocol feature bits (GET/SET_PROTOCOL_FEATURES) */
#define VHOST_USER_PROTOCOL_F_MQ 0
#define VHOST_USER_PROTOCOL_F_LOG_SHMFD 1
#define VHOST_USER_PROTOCOL_F_RARP 2
#define VHOST_USER_PROTOCOL_F_REPLY_ACK 3
#define VHOST_USER_PROTOCOL_F_MTU 4
#define VHOST_USER_PROTOCOL_F_BACKEND_REQ 5
#define VHOST_USER_PROTOCOL_F_CROSS_ENDIAN 6
#define VHOST_USER_PROTOCOL_F_CRYPTO_SESSION 7
#define VHOST_USER_PROTOCOL_F_PAGEFAULT 8
#define VHOST_USER_PROTOCOL_F_CONFIG 9
#define VHOST_USER_PROTOCOL_F_BACKEND_SEND_FD 10
#define VHOST_USER_PROTOCOL_F_HOST_NOTIFIER 11
#define VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD 12
#define VHOST_USER_PROTOCOL_F_RESET_DEVICE 13
#define VHOST_USER_PROTOCOL_F_INBAND_NOTIFICATIONS 14
#define VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS 15
#define VHOST_USER_PROTOCOL_F_STATUS 16
#define VHOST_USER_PROTOCOL_F_XEN_MMAP 17
#define VHOST_USER_PROTOCOL_F_SHARED_OBJECT 18
#define VHOST_USER_PROTOCOL_F_DEVICE_STATE 19
#define VHOST_USER_PROTOCOL_F_GET_VRING_BASE_INFLIGHT 20
#define VHOST_USER_PROTOCOL_F_SHMEM 21

/* SET_DEVICE_STATE_FD parameters (doc/vhost-user.md §4) */
enum vhost_user_transfer_state_direction {
	VHOST_USER_TRANSFER_STATE_DIRECTION_SAVE = 0,
	VHOST_USER_TRANSFER_STATE_DIRECTION_LOAD = 1,
};
enum vhost_user_transfer_state_phase {
	VHOST_USER_TRANSFER_STATE_PHASE_STOPPED = 0,
};
struct vs_vu_transfer_device_state {
	uint32_t direction;
	uint32_t phase;
};

/* SET_DEVICE_STATE_FD reply: low byte = error, bit 8 = no fd attached */
#define VHOST_USER_DEVICE_STATE_ERROR_MASK 0xffu
#define VHOST_USER_VRING_NOFD_MASK (1u << 8)

/* SET_VRING_KICK/CALL/ERR u64: ring index, and "no fd attached" */
#define VHOST_USER_VRING_IDX_MASK 0xffu

/* Vring state (SET_VRING_NUM/BASE/ENABLE, GET_VRING_BASE) */
struct vhost_vring_state {
	uint32_t index;
	uint32_t num;
};

/* Vring address (SET_VRING_ADDR): front-end user addresses */
#define VHOST_VRING_F_LOG 0
struct vhost_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc_user_addr;
	uint64_t used_user_addr;
	uint64_t avail_user_addr;
	uint64_t log_guest_addr;
};

/* Memory region, table (SET_MEM_TABLE) and single region (ADD/REM_MEM_REG) */
#define VHOST_MEMORY_BASELINE_NREGIONS 8
struct vhost_user_memory_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
};
struct vhost_user_memory {
	uint32_t nregions;
	uint32_t padding;
	struct vhost_user_memory_region regions[VHOST_MEMORY_BASELINE_NREGIONS];
};
struct vhost_user_mem_reg {
	uint64_t padding;
	struct vhost_user_memory_region region;
};

/* SET_LOG_BASE: one bit per VHOST_LOG_PAGE of guest memory */
#define VHOST_LOG_PAGE 0x1000u
#define VHOST_LOG_CHUNK (VHOST_LOG_PAGE * 64u) /* what one u64 of the log covers */
struct vhost_user_log {
	uint64_t mmap_size;
	uint64_t mmap_offset;
};

/* GET/SET_CONFIG */
#define VHOST_USER_MAX_CONFIG_SIZE 256u
#define VHOST_USER_CONFIG_HDR_SIZE 12u
enum vhost_set_config_type {
	VHOST_SET_CONFIG_TYPE_FRONTEND = 0,
	VHOST_SET_CONFIG_TYPE_MIGRATION = 1,
};
struct vhost_user_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t region[VHOST_USER_MAX_CONFIG_SIZE];
};

/* GET/SET_INFLIGHT_FD: 24 bytes on the wire */
struct vhost_user_inflight {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
	uint32_t padding;
};

/* SET/GET_STATUS: the virtio device-status byte */
#define VIRTIO_CONFIG_S_ACKNOWLEDGE 1u
#define VIRTIO_CONFIG_S_DRIVER 2u
#define VIRTIO_CONFIG_S_DRIVER_OK 4u
#define VIRTIO_CONFIG_S_FEATURES_OK 8u

/* Back-end → front-end requests on the back-end channel (doc/vhost-user.md §6) */
enum vhost_user_backend_request {
	VHOST_USER_BACKEND_NONE = 0,
	VHOST_USER_BACKEND_IOTLB_MSG = 1,
	VHOST_USER_BACKEND_CONFIG_CHANGE_MSG = 2,
	VHOST_USER_BACKEND_VRING_HOST_NOTIFIER_MSG = 3,
	VHOST_USER_BACKEND_VRING_CALL = 4,
	VHOST_USER_BACKEND_VRING_ERR = 5,
	VHOST_USER_BACKEND_SHARED_OBJECT_ADD = 6,
	VHOST_USER_BACKEND_SHARED_OBJECT_REMOVE = 7,
	VHOST_USER_BACKEND_SHARED_OBJECT_LOOKUP = 8,
	VHOST_USER_BACKEND_MAX
};
/* Name of a back-end request code, or "BACKEND_REQUEST_<n>" (static buffer). */
const char *vs_vu_backend_request_name(uint32_t code);

/* Payload kinds, used by the request table and the -v log. */
enum vs_vu_payload {
	VS_PL_NONE,
	VS_PL_ACK, /* reply only: u64 ack, sent on NEED_REPLY */
	VS_PL_U64,
	VS_PL_VRING_STATE,
	VS_PL_VRING_ADDR,
	VS_PL_VRING_FD,
	VS_PL_MEM_TABLE,
	VS_PL_MEM_REG,
	VS_PL_LOG,
	VS_PL_IOTLB,
	VS_PL_CONFIG,
	VS_PL_INFLIGHT,
	VS_PL_SHARED,
	VS_PL_DEVICE_STATE,
	VS_PL_OTHER,
};

/* Gates: what must be negotiated before a request may be sent. */
#define VS_GATE_NONE (-1)
#define VS_GATE_BIT30 (-2)

struct vs_vu_request_info {
	const char *name; /* spec name without the VHOST_USER_ prefix */
	uint32_t code;
	enum vs_vu_payload payload;
	unsigned max_fds;
	enum vs_vu_payload reply;
	int gate; /* protocol feature bit, or VS_GATE_* */
};

/* NULL for an unknown code. */
const struct vs_vu_request_info *vs_vu_request_info(uint32_t code);
/* Name of a request code, or "REQUEST_<n>" for unknown ones (static buffer). */
const char *vs_vu_request_name(uint32_t code);

/* Feature names: NULL when the bit has no known name. */
const char *vs_vu_feature_name(unsigned bit);
const char *vs_vu_protocol_feature_name(unsigned bit);

#endif
