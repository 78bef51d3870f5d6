#include <config.h>

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "vring.h"

_Static_assert(sizeof(struct virtq_desc) == 16, "descriptor");
_Static_assert(sizeof(struct virtq_used_elem) == 8, "used element");

bool
vs_vring_size_valid(unsigned num)
{
	return num >= 1 && num <= VS_VRING_MAX_SIZE && (num & (num - 1)) == 0;
}

uint64_t
vs_vring_desc_size(unsigned num)
{
	return (uint64_t)sizeof(struct virtq_desc) * num;
}

uint64_t
vs_vring_avail_size(unsigned num)
{
	/* flags, idx, ring[num], used_event */
	return 2 * (3 + (uint64_t)num);
}

uint64_t
vs_vring_used_size(unsigned num)
{
	/* flags, idx, ring[num], avail_event */
	return 2 * 3 + (uint64_t)sizeof(struct virtq_used_elem) * num;
}

static uint64_t
align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

int
vs_vring_layout(unsigned num, struct vs_vring_layout *l)
{
	if (!vs_vring_size_valid(num))
		return vs_fail(VS_EXIT_USAGE, 0, "a ring size must be a power of 2 from 1 to %u, not %u",
			       VS_VRING_MAX_SIZE, num);
	l->desc = 0;
	l->avail = align_up(l->desc + vs_vring_desc_size(num), VS_VRING_AVAIL_ALIGN);
	l->used = align_up(l->avail + vs_vring_avail_size(num), VS_VRING_USED_ALIGN);
	l->size = align_up(l->used + vs_vring_used_size(num), VS_VRING_DESC_ALIGN);
	return 0;
}

int
vs_vring_init(struct vs_vring *vr, unsigned num, void *area)
{
	struct vs_vring_layout l;

	memset(vr, 0, sizeof *vr);
	if (vs_vring_layout(num, &l) < 0)
		return -1;
	if ((uintptr_t)area % VS_VRING_DESC_ALIGN)
		return vs_fail(VS_EXIT_FAIL, EINVAL, "ring area %p is not %u-byte aligned", area,
			       VS_VRING_DESC_ALIGN);
	vr->chain = calloc(num, sizeof *vr->chain);
	vr->writable = calloc(num, sizeof *vr->writable);
	vr->next = calloc(num, sizeof *vr->next);
	if (!vr->chain || !vr->writable || !vr->next) {
		vs_vring_free(vr);
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	}
	memset(area, 0, l.size);
	vr->num = num;
	vr->desc = (struct virtq_desc *)((char *)area + l.desc);
	vr->avail = (struct virtq_avail *)((char *)area + l.avail);
	vr->used = (struct virtq_used *)((char *)area + l.used);
	/* The free list threads through the unused descriptors; the links
	 * live in our own memory, which the device cannot touch. */
	for (unsigned i = 0; i + 1 < num; i++)
		vr->next[i] = i + 1;
	vr->free_head = 0;
	vr->num_free = num;
	return 0;
}

void
vs_vring_free(struct vs_vring *vr)
{
	free(vr->chain);
	free(vr->writable);
	free(vr->next);
	vr->chain = NULL;
	vr->writable = NULL;
	vr->next = NULL;
}

int
vs_vring_add(struct vs_vring *vr, const struct vs_vring_buf *bufs, unsigned n)
{
	uint16_t head = vr->free_head, i = head;
	uint32_t writable = 0;

	if (n == 0)
		return vs_fail(VS_EXIT_FAIL, EINVAL, "an empty descriptor chain");
	if (n > vr->num_free)
		return vs_fail(VS_EXIT_FAIL, EAGAIN, "%u descriptors wanted, %u free", n, vr->num_free);
	for (unsigned k = 1; k < n; k++)
		if (bufs[k - 1].write && !bufs[k].write)
			return vs_fail(VS_EXIT_FAIL, EINVAL, "a device-readable buffer after a writable one");
	for (unsigned k = 0; k < n; k++) {
		struct virtq_desc *d = &vr->desc[i];
		uint16_t flags = (bufs[k].write ? VIRTQ_DESC_F_WRITE : 0) | (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0);
		d->addr = htole64(bufs[k].addr);
		d->len = htole32(bufs[k].len);
		d->flags = htole16(flags);
		d->next = htole16(k + 1 < n ? vr->next[i] : 0);
		if (bufs[k].write)
			writable += bufs[k].len;
		/* the free list's link becomes the chain's link */
		i = vr->next[i];
	}
	vr->free_head = i;
	vr->num_free -= n;
	vr->chain[head] = n;
	vr->writable[head] = writable;
	vr->avail->ring[vr->avail_idx % vr->num] = htole16(head);
	vr->avail_idx++;
	/* The device may read the entry once it sees the new index. */
	__atomic_store_n(&vr->avail->idx, htole16(vr->avail_idx), __ATOMIC_RELEASE);
	return head;
}

int
vs_vring_get_used(struct vs_vring *vr, uint32_t *head, uint32_t *len)
{
	uint16_t used_idx = le16toh(__atomic_load_n(&vr->used->idx, __ATOMIC_ACQUIRE));
	uint16_t outstanding = vr->avail_idx - vr->last_used_idx;
	struct virtq_used_elem e;
	uint16_t i, last;

	if (used_idx == vr->last_used_idx)
		return 0;
	/* The device cannot have used more than we made available. */
	if ((uint16_t)(used_idx - vr->last_used_idx) > outstanding)
		return vs_fail(VS_EXIT_PROTOCOL, 0,
			       "the back-end moved the used index to %u with only %u chain%s outstanding after %u",
			       used_idx, outstanding, outstanding == 1 ? "" : "s", vr->last_used_idx);
	memcpy(&e, (const void *)&vr->used->ring[vr->last_used_idx % vr->num], sizeof e);
	e.id = le32toh(e.id);
	e.len = le32toh(e.len);
	if (e.id >= vr->num || vr->chain[e.id] == 0)
		return vs_fail(VS_EXIT_PROTOCOL, 0, "the back-end returned descriptor %" PRIu32
			       ", which is not the head of an outstanding chain", e.id);
	if (e.len > vr->writable[e.id])
		return vs_fail(VS_EXIT_PROTOCOL, 0,
			       "the back-end claims to have written %" PRIu32 " bytes into a chain that takes %" PRIu32,
			       e.len, vr->writable[e.id]);
	/* Give the chain back to the free list, walking our own links. */
	last = i = e.id;
	for (unsigned k = 1; k < vr->chain[e.id]; k++)
		last = vr->next[last];
	vr->next[last] = vr->free_head;
	vr->free_head = i;
	vr->num_free += vr->chain[e.id];
	vr->chain[e.id] = 0;
	vr->writable[e.id] = 0;
	vr->last_used_idx++;
	*head = e.id;
	*len = e.len;
	return 1;
}

unsigned
vs_vring_in_flight(const struct vs_vring *vr)
{
	return (uint16_t)(vr->avail_idx - vr->last_used_idx);
}
