/* Unit tests of src/transfer/vu-describe.c, TAP output: the exact words
 * of a few messages on both channels, the JSON shape the proxy logs, and
 * that no payload size or content makes it read past the payload or
 * write past the buffer (run it under valgrind to see an over-read). */
#include <config.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vu-describe.h"
#include "tap.h"

static const char *
text(enum vs_vu_channel ch, uint32_t code, uint32_t flags, const void *pl, uint32_t size, size_t nfds)
{
	static char buf[2048];
	struct vs_vu_message m = { ch, { code, flags, size }, pl, nfds };

	vs_vu_describe_text(buf, sizeof buf, &m);
	return buf;
}

static void
check_text(const char *got, const char *want, const char *name)
{
	ok(strcmp(got, want) == 0, name);
	if (strcmp(got, want) != 0)
		printf("#   got:  %s\n#   want: %s\n", got, want);
}

static void
test_words(void)
{
	const enum vs_vu_channel M = VS_VU_CHANNEL_MAIN, B = VS_VU_CHANNEL_BACKEND;
	uint64_t v = 0x140000000ull;
	struct vhost_vring_state st = { 1, 2 };
	struct vs_vu_transfer_device_state ds = { VHOST_USER_TRANSFER_STATE_DIRECTION_LOAD, 0 };
	struct vhost_user_mem_reg reg = { 0, { 0x200000, 0x1000, 0x7f00, 0 } };
	struct vhost_user_vring_area area = { 3 | VHOST_USER_VRING_NOFD_MASK, 0x1000, 0x2000 };

	check_text(text(M, VHOST_USER_GET_FEATURES, 0x1, NULL, 0, 0), "GET_FEATURES flags=0x1 size=0 fds=0",
		   "a request without payload: the header only");
	check_text(text(M, VHOST_USER_GET_FEATURES, 0x5, &v, 8, 0),
		   "GET_FEATURES flags=0x5 size=8 fds=0 features=0x140000000 names=PROTOCOL_FEATURES,VERSION_1",
		   "a reply is decoded as the table's reply kind, features by name");
	v = 0;
	check_text(text(M, VHOST_USER_SET_VRING_NUM, 0x5, &v, 8, 0), "SET_VRING_NUM flags=0x5 size=8 fds=0 ack=0",
		   "the reply of an ACK request is an ack");
	check_text(text(M, VHOST_USER_GET_VRING_BASE, 0x1, &st, 8, 0), "GET_VRING_BASE flags=0x1 size=8 fds=0 index=1",
		   "GET_VRING_BASE's request: num is reserved, not shown");
	check_text(text(M, VHOST_USER_GET_VRING_BASE, 0x5, &st, 8, 0),
		   "GET_VRING_BASE flags=0x5 size=8 fds=0 index=1 base=2", "GET_VRING_BASE's reply: the base");
	check_text(text(M, VHOST_USER_SET_DEVICE_STATE_FD, 0x1, &ds, 8, 1),
		   "SET_DEVICE_STATE_FD flags=0x1 size=8 fds=1 direction=load phase=stopped",
		   "SET_DEVICE_STATE_FD: direction and phase by name");
	v = 0x100;
	check_text(text(M, VHOST_USER_SET_DEVICE_STATE_FD, 0x5, &v, 8, 0),
		   "SET_DEVICE_STATE_FD flags=0x5 size=8 fds=0 result=0x100 ok=true backend_fd=false",
		   "SET_DEVICE_STATE_FD's reply: result, ok, and whose fd");
	check_text(text(M, VHOST_USER_ADD_MEM_REG, 0x9, &reg, sizeof reg, 1),
		   "ADD_MEM_REG flags=0x9 size=40 fds=1 region={gpa=0x200000 size=0x1000 uaddr=0x7f00 offset=0x0}",
		   "a nested object is in braces");
	check_text(text(M, 99, 0x1, &v, 8, 0), "REQUEST_99 flags=0x1 size=8 fds=0", "an unknown request: named by code, not decoded");
	check_text(text(B, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG, 0x9, NULL, 0, 0),
		   "BACKEND_CONFIG_CHANGE_MSG flags=0x9 size=0 fds=0", "the back-end channel has its own names");
	check_text(text(B, VHOST_USER_BACKEND_VRING_HOST_NOTIFIER_MSG, 0x1, &area, sizeof area, 0),
		   "BACKEND_VRING_HOST_NOTIFIER_MSG flags=0x1 size=24 fds=0 index=3 fd=false size=0x1000 offset=0x2000",
		   "a host notifier's area is decoded");
	v = 1;
	check_text(text(B, VHOST_USER_BACKEND_VRING_CALL, 0x5, &v, 8, 0), "BACKEND_VRING_CALL flags=0x5 size=8 fds=0 ack=1",
		   "the back-end channel's replies are acks");
	check_text(text(B, VHOST_USER_BACKEND_VRING_CALL, 0x1, &st, 8, 0),
		   "BACKEND_VRING_CALL flags=0x1 size=8 fds=0 index=1 num=2",
		   "codes are per channel: 4 is BACKEND_VRING_CALL here, not RESET_OWNER");
	check_text(text(B, 42, 0x1, NULL, 0, 0), "BACKEND_REQUEST_42 flags=0x1 size=0 fds=0",
		   "an unknown back-end request: named by code");
	check_text(text(M, VHOST_USER_GET_FEATURES, 0x5, NULL, 8, 0), "GET_FEATURES flags=0x5 size=8 fds=0",
		   "a payload that was not read is not decoded");
}

static void
test_json(void)
{
	uint64_t v = 0;
	struct vs_vu_message m = { VS_VU_CHANNEL_MAIN, { VHOST_USER_CHECK_DEVICE_STATE, 0x5, 8 }, &v, 0 };
	struct json_object *o = json_object_new_object();
	const char *s;

	vs_vu_describe_json(o, &m);
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	ok(strcmp(s, "{\"request\":43,\"name\":\"CHECK_DEVICE_STATE\",\"flags\":\"0x5\",\"reply\":true,"
		     "\"need_reply\":false,\"size\":8,\"fds\":0,\"payload\":{\"result\":0,\"ok\":true}}") == 0,
	   "the JSON fields the proxy logs, in order");
	json_object_put(o);
}

/* Every code of both channels, as request and reply, at every size up to
 * 300 bytes of 0xff (nregions 0xffffffff, ...): the payload is a buffer of
 * exactly that size, and the text is cut at 64 bytes without overflow. */
static void
test_bounds(void)
{
	bool fine = true;

	for (int ch = 0; ch < 2; ch++)
		for (uint32_t code = 0; code < 50; code++)
			for (uint32_t flags = 0x1; flags <= 0x5; flags += 4)
				for (uint32_t size = 0; size <= 300; size++) {
					unsigned char *pl = malloc(size ? size : 1);
					char small[64 + 8];
					struct vs_vu_message m = { ch, { code, flags, size }, pl, 1 };
					struct json_object *o = json_object_new_object();

					memset(pl, 0xff, size);
					memset(small, 'X', sizeof small);
					vs_vu_describe_text(small, 64, &m);
					fine &= memchr(small, '\0', 64) != NULL && small[64] == 'X' && small[71] == 'X';
					text(ch, code, flags, pl, size, 1);
					vs_vu_describe_json(o, &m);
					json_object_put(o);
					free(pl);
				}
	ok(fine, "every code and size: the cut text stays in its buffer (an over-read shows under valgrind or ASan)");
}

static void
test_mem_table_cut(void)
{
	unsigned char pl[8 + 32] = { 0 };
	uint32_t n = 3;

	memcpy(pl, &n, 4);
	check_text(text(VS_VU_CHANNEL_MAIN, VHOST_USER_SET_MEM_TABLE, 0x1, pl, sizeof pl, 1),
		   "SET_MEM_TABLE flags=0x1 size=40 fds=1 nregions=3 regions={gpa=0x0 size=0x0 uaddr=0x0 offset=0x0}",
		   "SET_MEM_TABLE: nregions beyond the payload lists only the regions there");
}

/* The typed receive takes a fixed reply's size from the table. */
static void
test_sizes(void)
{
	bool fixed = true;

	for (uint32_t code = 0; code < VHOST_USER_MAX; code++) {
		const struct vs_vu_request_info *i = vs_vu_request_info(code);
		if (i && i->reply != VS_PL_CONFIG && i->reply != VS_PL_OTHER && vs_vu_payload_size(i->reply) == 0)
			fixed = false;
	}
	ok(fixed, "every reply kind in the table but CONFIG and OTHER has a fixed size");
	ok(vs_vu_payload_size(VS_PL_ACK) == 8 && vs_vu_payload_size(VS_PL_VRING_STATE) == 8 &&
		   vs_vu_payload_size(VS_PL_INFLIGHT) == 24 && vs_vu_payload_size(VS_PL_LOG) == 16 &&
		   vs_vu_payload_size(VS_PL_CONFIG) == 0,
	   "payload sizes: u64 8, vring state 8, inflight 24, log 16, config varies");
}

int
main(void)
{
	test_words();
	test_sizes();
	test_json();
	test_mem_table_cut();
	test_bounds();
	printf("1..%d\n", count);
	return failures ? 1 : 0;
}
