/* A vhost-user front-end connection: one function per request, feature
 * gates checked before sending, every reply validated, and a sticky
 * "broken" state after any transport or protocol error. */
#ifndef VS_VU_FRONTEND_H
#define VS_VU_FRONTEND_H

#include <stdbool.h>
#include <stdint.h>

#include "vu-conn.h"
#include "vu-proto.h"

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
};

/* -v: log every message on stderr. */
extern bool vs_vu_verbose;

/* Connect and negotiate in QEMU's order (vhost-user.md §6.1). */
int vs_vu_open(struct vs_vu *vu, const char *path);
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

/* Sends fd and always closes it.  On success *reply_fd is the back-end's
 * own channel end, or -1 when we keep using ours. */
int vs_vu_set_device_state_fd(struct vs_vu *vu, uint32_t direction, uint32_t phase, int fd,
			      int *reply_fd);
int vs_vu_check_device_state(struct vs_vu *vu, uint64_t *result);

#endif
