/* Split virtqueues (virtio 1.x "Split Virtqueues") as a driver sees them:
 * where the three parts go in guest memory, and, for the test client,
 * adding descriptor chains and collecting used ones.  The rings are
 * little-endian (VIRTIO_F_VERSION_1); the back-end reads and writes them
 * in shared memory, so nothing read back from them is trusted. */
#ifndef VS_VRING_H
#define VS_VRING_H

#include <stdbool.h>
#include <stdint.h>

#define VS_VRING_MAX_SIZE 32768u

/* Alignment each part needs (virtio 1.x table "Virtqueue Part Alignment";
 * rust-vmm rejects SET_VRING_ADDR otherwise). */
#define VS_VRING_DESC_ALIGN 16u
#define VS_VRING_AVAIL_ALIGN 2u
#define VS_VRING_USED_ALIGN 4u

#define VIRTQ_DESC_F_NEXT 1u
#define VIRTQ_DESC_F_WRITE 2u
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1u

struct virtq_desc {
	uint64_t addr; /* guest-physical */
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[]; /* num entries, then used_event */
};

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

struct virtq_used {
	uint16_t flags;
	uint16_t idx;
	struct virtq_used_elem ring[]; /* num entries, then avail_event */
};

/* Offsets of the parts inside one area, and its size. */
struct vs_vring_layout {
	uint64_t desc;
	uint64_t avail;
	uint64_t used;
	uint64_t size;
};

/* A ring size is a power of 2 from 1 to 32768. */
bool vs_vring_size_valid(unsigned num);
/* Bytes of each part for num entries, event fields included. */
uint64_t vs_vring_desc_size(unsigned num);
uint64_t vs_vring_avail_size(unsigned num);
uint64_t vs_vring_used_size(unsigned num);
/* Descriptor table, then the available ring, then the used ring, each
 * aligned as required.  Fails (EINVAL) for an invalid size. */
int vs_vring_layout(unsigned num, struct vs_vring_layout *l);

/* The driver side of one ring. */
struct vs_vring {
	unsigned num;
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	uint16_t free_head;	/* first free descriptor */
	uint16_t num_free;
	uint16_t avail_idx;	/* ours: the next avail->idx */
	uint16_t last_used_idx; /* the next used entry to collect */
	uint16_t *chain;	/* per head: descriptors in its chain, 0 if free */
	uint32_t *writable;	/* per head: device-writable bytes in its chain */
	uint16_t *next;		/* descriptor links (free list and chains), our copy */
};

struct vs_vring_buf {
	uint64_t addr; /* guest-physical */
	uint32_t len;
	bool write;    /* device-writable */
};

/* area: vs_vring_layout(num).size bytes, aligned to 16; it is zeroed. */
int vs_vring_init(struct vs_vring *vr, unsigned num, void *area);
void vs_vring_free(struct vs_vring *vr);
/* Put one chain (device-readable buffers first) on the available ring.
 * Returns its head, or -1 (EAGAIN: not enough free descriptors; EINVAL:
 * a readable buffer after a writable one, or n == 0). */
int vs_vring_add(struct vs_vring *vr, const struct vs_vring_buf *bufs, unsigned n);
/* Collect the next used chain: 1 with *head and *len, 0 when there is
 * none yet, -1 when the device broke the rules (an id that is not an
 * outstanding head, a length over what the chain can take). */
int vs_vring_get_used(struct vs_vring *vr, uint32_t *head, uint32_t *len);
/* Chains the device holds (added, not yet collected). */
unsigned vs_vring_in_flight(const struct vs_vring *vr);

#endif
