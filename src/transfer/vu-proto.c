#include <config.h>

#include <stddef.h>
#include <stdio.h>

#include "vu-proto.h"

#define VS_GATE_NONE_BIT VS_GATE_NONE
#define VS_GATE_BIT30_BIT VS_GATE_BIT30
#define GATE(g) VS_GATE_##g##_BIT
#define VS_GATE_MQ_BIT VHOST_USER_PROTOCOL_F_MQ
#define VS_GATE_LOG_SHMFD_BIT VHOST_USER_PROTOCOL_F_LOG_SHMFD
#define VS_GATE_RARP_BIT VHOST_USER_PROTOCOL_F_RARP
#define VS_GATE_MTU_BIT VHOST_USER_PROTOCOL_F_MTU
#define VS_GATE_BACKEND_REQ_BIT VHOST_USER_PROTOCOL_F_BACKEND_REQ
#define VS_GATE_CROSS_ENDIAN_BIT VHOST_USER_PROTOCOL_F_CROSS_ENDIAN
#define VS_GATE_CRYPTO_SESSION_BIT VHOST_USER_PROTOCOL_F_CRYPTO_SESSION
#define VS_GATE_PAGEFAULT_BIT VHOST_USER_PROTOCOL_F_PAGEFAULT
#define VS_GATE_CONFIG_BIT VHOST_USER_PROTOCOL_F_CONFIG
#define VS_GATE_INFLIGHT_SHMFD_BIT VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD
#define VS_GATE_RESET_DEVICE_BIT VHOST_USER_PROTOCOL_F_RESET_DEVICE
#define VS_GATE_INBAND_NOTIFICATIONS_BIT VHOST_USER_PROTOCOL_F_INBAND_NOTIFICATIONS
#define VS_GATE_CONFIGURE_MEM_SLOTS_BIT VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS
#define VS_GATE_STATUS_BIT VHOST_USER_PROTOCOL_F_STATUS
#define VS_GATE_SHARED_OBJECT_BIT VHOST_USER_PROTOCOL_F_SHARED_OBJECT
#define VS_GATE_DEVICE_STATE_BIT VHOST_USER_PROTOCOL_F_DEVICE_STATE

static const struct vs_vu_request_info requests[VHOST_USER_MAX] = {
#define VU_REQUEST(name, code, pl, fds, reply, gate) \
	[code] = { #name, code, VS_PL_##pl, fds, VS_PL_##reply, GATE(gate) },
#include "vu-requests.def"
#undef VU_REQUEST
};

const struct vs_vu_request_info *
vs_vu_request_info(uint32_t code)
{
	if (code >= VHOST_USER_MAX || !requests[code].name)
		return NULL;
	return &requests[code];
}

const char *
vs_vu_request_name(uint32_t code)
{
	static __thread char buf[24];
	const struct vs_vu_request_info *info = vs_vu_request_info(code);

	if (info)
		return info->name;
	snprintf(buf, sizeof buf, "REQUEST_%u", code);
	return buf;
}

static const char *const backend_requests[VHOST_USER_BACKEND_MAX] = {
	[VHOST_USER_BACKEND_IOTLB_MSG] = "BACKEND_IOTLB_MSG",
	[VHOST_USER_BACKEND_CONFIG_CHANGE_MSG] = "BACKEND_CONFIG_CHANGE_MSG",
	[VHOST_USER_BACKEND_VRING_HOST_NOTIFIER_MSG] = "BACKEND_VRING_HOST_NOTIFIER_MSG",
	[VHOST_USER_BACKEND_VRING_CALL] = "BACKEND_VRING_CALL",
	[VHOST_USER_BACKEND_VRING_ERR] = "BACKEND_VRING_ERR",
	[VHOST_USER_BACKEND_SHARED_OBJECT_ADD] = "BACKEND_SHARED_OBJECT_ADD",
	[VHOST_USER_BACKEND_SHARED_OBJECT_REMOVE] = "BACKEND_SHARED_OBJECT_REMOVE",
	[VHOST_USER_BACKEND_SHARED_OBJECT_LOOKUP] = "BACKEND_SHARED_OBJECT_LOOKUP",
};

const char *
vs_vu_backend_request_name(uint32_t code)
{
	static __thread char buf[32];

	if (code < VHOST_USER_BACKEND_MAX && backend_requests[code])
		return backend_requests[code];
	snprintf(buf, sizeof buf, "BACKEND_REQUEST_%u", code);
	return buf;
}

static const char *const feature_names[64] = {
	[VHOST_F_LOG_ALL] = "LOG_ALL",
	[27] = "ANY_LAYOUT",
	[24] = "NOTIFY_ON_EMPTY",
	[VIRTIO_RING_F_INDIRECT_DESC] = "RING_INDIRECT_DESC",
	[VIRTIO_RING_F_EVENT_IDX] = "RING_EVENT_IDX",
	[VHOST_USER_F_PROTOCOL_FEATURES] = "PROTOCOL_FEATURES",
	[VIRTIO_F_VERSION_1] = "VERSION_1",
	[VIRTIO_F_ACCESS_PLATFORM] = "ACCESS_PLATFORM",
	[VIRTIO_F_RING_PACKED] = "RING_PACKED",
	[35] = "IN_ORDER",
	[36] = "ORDER_PLATFORM",
	[37] = "SR_IOV",
	[38] = "NOTIFICATION_DATA",
	[39] = "NOTIF_CONFIG_DATA",
	[40] = "RING_RESET",
	[63] = "DEVICE_IOTLB",
};

static const char *const protocol_feature_names[64] = {
	[VHOST_USER_PROTOCOL_F_MQ] = "MQ",
	[VHOST_USER_PROTOCOL_F_LOG_SHMFD] = "LOG_SHMFD",
	[VHOST_USER_PROTOCOL_F_RARP] = "RARP",
	[VHOST_USER_PROTOCOL_F_REPLY_ACK] = "REPLY_ACK",
	[VHOST_USER_PROTOCOL_F_MTU] = "MTU",
	[VHOST_USER_PROTOCOL_F_BACKEND_REQ] = "BACKEND_REQ",
	[VHOST_USER_PROTOCOL_F_CROSS_ENDIAN] = "CROSS_ENDIAN",
	[VHOST_USER_PROTOCOL_F_CRYPTO_SESSION] = "CRYPTO_SESSION",
	[VHOST_USER_PROTOCOL_F_PAGEFAULT] = "PAGEFAULT",
	[VHOST_USER_PROTOCOL_F_CONFIG] = "CONFIG",
	[VHOST_USER_PROTOCOL_F_BACKEND_SEND_FD] = "BACKEND_SEND_FD",
	[VHOST_USER_PROTOCOL_F_HOST_NOTIFIER] = "HOST_NOTIFIER",
	[VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD] = "INFLIGHT_SHMFD",
	[VHOST_USER_PROTOCOL_F_RESET_DEVICE] = "RESET_DEVICE",
	[VHOST_USER_PROTOCOL_F_INBAND_NOTIFICATIONS] = "INBAND_NOTIFICATIONS",
	[VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS] = "CONFIGURE_MEM_SLOTS",
	[VHOST_USER_PROTOCOL_F_STATUS] = "STATUS",
	[VHOST_USER_PROTOCOL_F_XEN_MMAP] = "XEN_MMAP",
	[VHOST_USER_PROTOCOL_F_SHARED_OBJECT] = "SHARED_OBJECT",
	[VHOST_USER_PROTOCOL_F_DEVICE_STATE] = "DEVICE_STATE",
	[VHOST_USER_PROTOCOL_F_GET_VRING_BASE_INFLIGHT] = "GET_VRING_BASE_INFLIGHT",
	[VHOST_USER_PROTOCOL_F_SHMEM] = "SHMEM",
};

const char *
vs_vu_feature_name(unsigned bit)
{
	return bit < 64 ? feature_names[bit] : NULL;
}

const char *
vs_vu_protocol_feature_name(unsigned bit)
{
	return bit < 64 ? protocol_feature_names[bit] : NULL;
}

/* The wire layouts of QEMU's vhost-user.rst, checked where they are defined. */
_Static_assert(sizeof(struct vhost_vring_state) == 8, "vring state");
_Static_assert(sizeof(struct vhost_vring_addr) == 40, "vring address");
_Static_assert(sizeof(struct vhost_user_memory_region) == 32, "memory region");
_Static_assert(sizeof(struct vhost_user_mem_reg) == 40, "single region");
_Static_assert(sizeof(struct vhost_user_log) == 16, "log description");
_Static_assert(sizeof(struct vhost_user_inflight) == 24, "inflight description");
_Static_assert(sizeof(struct vhost_user_config) == VHOST_USER_CONFIG_HDR_SIZE + VHOST_USER_MAX_CONFIG_SIZE,
	       "config space");
