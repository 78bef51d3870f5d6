/* Unit tests of the split-ring layout arithmetic and the driver's side of
 * a ring (src/transfer/vring.c), TAP output.  The device is played by
 * the test, writing the used ring as a back-end would — and as a broken
 * one would. */
#include <config.h>

#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "vring.h"
#include "tap.h"

static void
test_sizes(void)
{
	struct vs_vring_layout l;

	ok(vs_vring_desc_size(128) == 2048, "desc table: 16 bytes per entry");
	ok(vs_vring_avail_size(128) == 4 + 2 * 128 + 2, "avail ring: flags, idx, ring, used_event");
	ok(vs_vring_used_size(128) == 4 + 8 * 128 + 2, "used ring: flags, idx, ring, avail_event");

	ok(vs_vring_layout(128, &l) == 0, "layout of a 128-entry ring");
	ok(l.desc == 0 && l.avail == 2048, "avail follows the descriptor table");
	ok(l.used == 2312, "used ring after avail (2048 + 262), rounded up to 4");
	ok(l.size == 3344, "area: used ring end (2312 + 1030) rounded up to 16");
	ok(l.size >= l.used + vs_vring_used_size(128) && l.size % VS_VRING_DESC_ALIGN == 0,
	   "area size covers the used ring, rounded to 16");

	/* every power of 2: parts aligned, in order, not overlapping */
	int good = 1;
	for (unsigned num = 1; num <= VS_VRING_MAX_SIZE; num *= 2) {
		if (vs_vring_layout(num, &l) < 0 || l.desc % VS_VRING_DESC_ALIGN || l.avail % VS_VRING_AVAIL_ALIGN ||
		    l.used % VS_VRING_USED_ALIGN || l.avail < l.desc + vs_vring_desc_size(num) ||
		    l.used < l.avail + vs_vring_avail_size(num) || l.size < l.used + vs_vring_used_size(num) ||
		    l.used - (l.avail + vs_vring_avail_size(num)) >= VS_VRING_USED_ALIGN)
			good = 0;
	}
	ok(good, "sizes 1..32768: aligned, ordered, disjoint, no slack beyond alignment");
	ok(vs_vring_layout(32768, &l) == 0 && l.avail == 524288 && l.used == 589832 && l.size == 851984,
	   "largest ring: exact offsets and size");

	vs_error_clear();
	ok(vs_vring_layout(0, &l) < 0 && vs_error_get()->exit_code == VS_EXIT_USAGE, "size 0 refused (usage)");
	ok(vs_vring_layout(100, &l) < 0, "size 100 (not a power of 2) refused");
	ok(vs_vring_layout(65536, &l) < 0, "size 65536 (over 32768) refused");
	ok(!vs_vring_size_valid(3) && vs_vring_size_valid(1) && vs_vring_size_valid(256), "size_valid");
}

/* the device's side: return head with len bytes written */
static void
device_use(struct vs_vring *vr, uint16_t *dev_used, uint32_t head, uint32_t len)
{
	vr->used->ring[*dev_used % vr->num].id = htole32(head);
	vr->used->ring[*dev_used % vr->num].len = htole32(len);
	(*dev_used)++;
	__atomic_store_n(&vr->used->idx, htole16(*dev_used), __ATOMIC_RELEASE);
}

static void
test_driver(void)
{
	struct vs_vring_layout l;
	struct vs_vring vr;
	void *area;
	uint32_t head, len;
	uint16_t dev_used = 0;
	struct vs_vring_buf req[2] = { { 0x1000, 48, false }, { 0x2000, 4096, true } };
	int h1, h2, h3;

	vs_vring_layout(4, &l);
	area = aligned_alloc(16, l.size);
	memset(area, 0xaa, l.size);
	ok(vs_vring_init(&vr, 4, area) == 0, "init a 4-entry ring");
	ok(vr.avail->idx == 0 && vr.used->idx == 0 && vr.num_free == 4, "init zeroes the area; all free");
	ok(vs_vring_get_used(&vr, &head, &len) == 0, "nothing used yet");

	h1 = vs_vring_add(&vr, req, 2);
	ok(h1 == 0 && le16toh(vr.avail->idx) == 1 && le16toh(vr.avail->ring[0]) == 0, "chain 1 published at avail[0]");
	ok(le64toh(vr.desc[0].addr) == 0x1000 && le32toh(vr.desc[0].len) == 48 &&
		   le16toh(vr.desc[0].flags) == VIRTQ_DESC_F_NEXT && le16toh(vr.desc[0].next) == 1,
	   "descriptor 0: readable, linked to 1");
	ok(le16toh(vr.desc[1].flags) == VIRTQ_DESC_F_WRITE, "descriptor 1: writable, end of chain");
	h2 = vs_vring_add(&vr, req, 2);
	ok(h2 == 2 && vr.num_free == 0, "chain 2 takes descriptors 2-3");
	vs_error_clear();
	ok(vs_vring_add(&vr, req, 1) < 0, "a full ring refuses another chain");
	ok(vs_vring_in_flight(&vr) == 2, "two chains in flight");

	/* the device completes chain 2 first */
	device_use(&vr, &dev_used, h2, 100);
	ok(vs_vring_get_used(&vr, &head, &len) == 1 && head == (uint32_t)h2 && len == 100, "chain 2 comes back");
	h3 = vs_vring_add(&vr, req, 2);
	ok(h3 == 2, "its descriptors are reused");
	device_use(&vr, &dev_used, h1, 0);
	ok(vs_vring_get_used(&vr, &head, &len) == 1 && head == (uint32_t)h1, "chain 1 comes back");
	ok(vs_vring_get_used(&vr, &head, &len) == 0, "then nothing");

	/* a broken device */
	vs_error_clear();
	device_use(&vr, &dev_used, h1, 0); /* h1 is no longer outstanding */
	ok(vs_vring_get_used(&vr, &head, &len) < 0 && vs_error_get()->exit_code == VS_EXIT_PROTOCOL,
	   "a head that is not outstanding is a protocol error");
	vs_vring_free(&vr);

	ok(vs_vring_init(&vr, 4, area) == 0, "fresh ring");
	dev_used = 0;
	h1 = vs_vring_add(&vr, req, 2);
	vs_error_clear();
	device_use(&vr, &dev_used, h1, 4097);
	ok(vs_vring_get_used(&vr, &head, &len) < 0, "a length over the writable bytes is refused");
	vs_vring_free(&vr);

	ok(vs_vring_init(&vr, 4, area) == 0, "fresh ring");
	dev_used = 0;
	vs_vring_add(&vr, req, 2);
	device_use(&vr, &dev_used, 9, 0);
	ok(vs_vring_get_used(&vr, &head, &len) < 0, "an id beyond the ring is refused");
	vs_vring_free(&vr);

	ok(vs_vring_init(&vr, 4, area) == 0, "fresh ring");
	vr.used->idx = htole16(3); /* three used, none made available */
	ok(vs_vring_get_used(&vr, &head, &len) < 0, "a used index ahead of what was made available is refused");
	vs_vring_free(&vr);

	ok(vs_vring_init(&vr, 4, area) == 0, "fresh ring");
	struct vs_vring_buf bad[2] = { { 0x2000, 8, true }, { 0x1000, 8, false } };
	ok(vs_vring_add(&vr, bad, 2) < 0 && vr.num_free == 4, "readable after writable refused, nothing taken");
	ok(vs_vring_add(&vr, req, 0) < 0, "an empty chain refused");

	/* the index wraps at 65536 */
	int wrap_ok = 1;
	dev_used = 0;
	for (unsigned i = 0; i < 70000; i++) {
		int h = vs_vring_add(&vr, req, 2);
		if (h < 0) {
			wrap_ok = 0;
			break;
		}
		device_use(&vr, &dev_used, h, 1);
		if (vs_vring_get_used(&vr, &head, &len) != 1 || head != (uint32_t)h) {
			wrap_ok = 0;
			break;
		}
	}
	ok(wrap_ok && vs_vring_in_flight(&vr) == 0 && vr.avail_idx == (uint16_t)70000, "70000 chains: indexes wrap");
	vs_vring_free(&vr);
	ok(vs_vring_init(&vr, 3, area) < 0 && !vr.chain, "init refuses a size that is not a power of 2");
	free(area);
}

int
main(void)
{
	test_sizes();
	test_driver();
	printf("1..%d\n", count);
	return failures ? 1 : 0;
}
