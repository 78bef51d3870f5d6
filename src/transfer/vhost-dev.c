#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "io.h"
#include "log.h"
#include "vhost-dev.h"
#include "vu-describe.h"

/* QEMU caps the slots it uses at 512 whatever the back-end says. */
#define VS_VHOST_MEMSLOTS_LIMIT 512u
/* VHOST_MEMORY_BASELINE_NREGIONS: one SET_MEM_TABLE's regions */
#define VS_VHOST_MEM_TABLE_MAX 8u
/* The largest inflight area we map: the spec sets none, so bound it. */
#define VS_VHOST_INFLIGHT_MAX (256ull << 20)
/* The largest back-end request payload (vring area and mmap request
 * are 24 and 40 bytes); more is a broken channel. */
#define VS_VHOST_BACKEND_MAX_PAYLOAD 64u

/* ---- keeping the first error while cleaning up after it ---- */

struct saved_error {
	struct vs_error e;
};

static void
save_error(struct saved_error *s)
{
	s->e = *vs_error_get();
}

static void
restore_error(const struct saved_error *s)
{
	vs_error_set(s->e.exit_code, 0, "%s", s->e.msg);
	vs_error_hint(s->e.hint);
}

/* ---- features ---- */

uint64_t
vs_vhost_get_features(const struct vs_vhost_dev *dev, uint64_t features)
{
	return dev->vu.features & features;
}

void
vs_vhost_ack_features(struct vs_vhost_dev *dev, uint64_t features)
{
	dev->acked_features = features & dev->vu.features;
}

unsigned
vs_vhost_get_max_memslots(const struct vs_vhost_dev *dev)
{
	return dev->max_memslots;
}

unsigned
vs_vhost_get_free_memslots(const struct vs_vhost_dev *dev)
{
	return dev->max_memslots > dev->nregions ? dev->max_memslots - dev->nregions : 0;
}

bool
vs_vhost_dev_is_started(const struct vs_vhost_dev *dev)
{
	return dev->started;
}

static bool
has_protocol(const struct vs_vhost_dev *dev, unsigned bit)
{
	return vs_vu_has_protocol_feature(&dev->vu, bit);
}

/* Bit 30 counts as negotiated once a SET_FEATURES carried it: only then
 * may SET_VRING_ENABLE be sent (doc/vhost-user.md, R4). */
static bool
rings_need_enable(const struct vs_vhost_dev *dev)
{
	return dev->sent_features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES);
}

/* vhost_dev_set_features: the guest's features, bit 30 when offered (it
 * keeps the rings disabled until SET_VRING_ENABLE), LOG_ALL while
 * logging.  QEMU waits for it only with LOG_ALL. */
static int
set_features(struct vs_vhost_dev *dev, bool log)
{
	uint64_t f = dev->acked_features & dev->vu.features;

	if (vs_vu_has_feature(&dev->vu, VHOST_USER_F_PROTOCOL_FEATURES))
		f |= 1ull << VHOST_USER_F_PROTOCOL_FEATURES;
	if (log)
		f |= 1ull << VHOST_F_LOG_ALL;
	if (vs_vu_set_features(&dev->vu, f) < 0 || (log && vs_vu_barrier(&dev->vu) < 0))
		return -1;
	dev->sent_features = f;
	dev->features_set = true;
	return 0;
}

/* vhost_user_add_status: GET_STATUS, and SET_STATUS only when bits are
 * missing. */
static int
add_status(struct vs_vhost_dev *dev, uint8_t bits)
{
	uint8_t s;

	if (!has_protocol(dev, VHOST_USER_PROTOCOL_F_STATUS))
		return 0;
	if (vs_vu_get_status(&dev->vu, &s) < 0)
		return -1;
	if ((s & bits) == bits)
		return 0;
	if (vs_vu_set_status(&dev->vu, s | bits) < 0)
		return -1;
	dev->status = s | bits;
	return 0;
}

/* ---- guest memory ---- */

void *
vs_vhost_mem_alloc(struct vs_vhost_dev *dev, uint64_t len, uint64_t align, uint64_t *gpa)
{
	uint64_t rs, at;
	unsigned k;

	if (dev->nregions == 0 || len == 0 || align == 0 || (align & (align - 1)))
		return NULL;
	rs = dev->regions[0].r.memory_size;
	at = (dev->mem_used + align - 1) & ~(align - 1);
	/* never across a region boundary: the back-end maps each alone */
	if (at / rs != (at + len - 1) / rs)
		at = (at / rs + 1) * rs;
	k = at / rs;
	if (len > rs || k >= dev->nregions)
		return NULL;
	dev->mem_used = at + len;
	*gpa = dev->regions[k].r.guest_phys_addr + at % rs;
	return (char *)dev->regions[k].host + at % rs;
}

/* The back-end holds our memfds: once sized, nobody may shrink them
 * (our next access would die of SIGBUS) or grow them, as QEMU seals its
 * own. */
static int
seal_size(int fd)
{
	return fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
}

static int
create_memory(struct vs_vhost_dev *dev)
{
	uint64_t rs = dev->opts.mem_size / dev->opts.nregions;

	for (unsigned i = 0; i < dev->opts.nregions; i++) {
		struct vs_vhost_region *reg = &dev->regions[i];
		int fd = memfd_create("vhost-state-guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		void *p;

		if (fd < 0)
			return vs_fail(VS_EXIT_FAIL, errno, "memfd_create");
		if (ftruncate(fd, rs) < 0 || seal_size(fd) < 0) {
			close(fd);
			return vs_fail(VS_EXIT_FAIL, errno, "guest memory: ftruncate to %" PRIu64 " bytes", rs);
		}
		/* Shared: the back-end maps the same pages through the fd. */
		p = mmap(NULL, rs, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) {
			close(fd);
			return vs_fail(VS_EXIT_FAIL, errno, "guest memory: mmap of %" PRIu64 " bytes", rs);
		}
		reg->fd = fd;
		reg->host = p;
		reg->r.guest_phys_addr = i * rs;
		reg->r.memory_size = rs;
		reg->r.userspace_addr = (uintptr_t)p;
		reg->r.mmap_offset = 0;
		dev->nregions++;
	}
	return 0;
}

/* vhost_set_mem_table: one SET_MEM_TABLE, or with CONFIGURE_MEM_SLOTS
 * (then QEMU never sends SET_MEM_TABLE) one ADD_MEM_REG per region the
 * back-end does not have yet. */
static int
set_mem_table(struct vs_vhost_dev *dev)
{
	if (has_protocol(dev, VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS)) {
		for (unsigned i = 0; i < dev->nregions; i++) {
			if (dev->regions[i].sent)
				continue;
			if (vs_vu_add_mem_reg(&dev->vu, &dev->regions[i].r, dev->regions[i].fd) < 0)
				return -1;
			dev->regions[i].sent = true;
		}
		return 0;
	}
	struct vhost_user_memory_region r[VHOST_MEMORY_BASELINE_NREGIONS];
	int fds[VHOST_MEMORY_BASELINE_NREGIONS];
	for (unsigned i = 0; i < dev->nregions; i++) {
		r[i] = dev->regions[i].r;
		fds[i] = dev->regions[i].fd;
	}
	return vs_vu_set_mem_table(&dev->vu, r, fds, dev->nregions);
}

/* ---- dirty log ---- */

/* vhost_get_log_size: u64 words, each covering VHOST_LOG_CHUNK bytes of
 * guest-physical space, up to the last byte of memory. */
static uint64_t
log_words(const struct vs_vhost_dev *dev)
{
	uint64_t words = 0;

	for (unsigned i = 0; i < dev->nregions; i++) {
		uint64_t last = dev->regions[i].r.guest_phys_addr + dev->regions[i].r.memory_size - 1;
		if (last / VHOST_LOG_CHUNK + 1 > words)
			words = last / VHOST_LOG_CHUNK + 1;
	}
	return words;
}

static void
log_put(struct vs_vhost_dev *dev)
{
	if (dev->log)
		munmap(dev->log, dev->log_size);
	if (dev->log_fd >= 0)
		close(dev->log_fd);
	dev->log = NULL;
	dev->log_fd = -1;
	dev->log_size = 0;
}

/* vhost_dev_log_resize: a fresh shared bitmap, handed over by
 * SET_LOG_BASE. */
static int
log_base(struct vs_vhost_dev *dev)
{
	uint64_t size = log_words(dev) * sizeof(uint64_t);
	int fd;
	void *p;

	log_put(dev);
	fd = memfd_create("vhost-state-log", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return vs_fail(VS_EXIT_FAIL, errno, "memfd_create");
	if (ftruncate(fd, size) < 0 || seal_size(fd) < 0) {
		close(fd);
		return vs_fail(VS_EXIT_FAIL, errno, "dirty log: ftruncate");
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		close(fd);
		return vs_fail(VS_EXIT_FAIL, errno, "dirty log: mmap");
	}
	dev->log_fd = fd;
	dev->log = p;
	dev->log_size = size;
	return vs_vu_set_log_base(&dev->vu, size, 0, fd);
}

/* ---- virtqueues ---- */

static int
set_vring_addr(struct vs_vhost_dev *dev, struct vs_vhost_virtqueue *vq, bool log)
{
	struct vhost_vring_addr a = {
		.index = vq->index,
		.flags = log ? 1u << VHOST_VRING_F_LOG : 0,
		.desc_user_addr = (uintptr_t)vq->vring.desc,
		.used_user_addr = (uintptr_t)vq->vring.used,
		.avail_user_addr = (uintptr_t)vq->vring.avail,
		/* QEMU logs used-ring writes at the used ring's guest address */
		.log_guest_addr = vq->used_gpa,
	};

	if (vs_vu_set_vring_addr(&dev->vu, &a) < 0)
		return -1;
	/* QEMU waits for SET_VRING_ADDR while logging. */
	return log ? vs_vu_barrier(&dev->vu) : 0;
}

int
vs_vhost_virtqueue_start(struct vs_vhost_dev *dev, unsigned index)
{
	struct vs_vhost_virtqueue *vq;

	if (index >= dev->nvqs)
		return vs_fail(VS_EXIT_USAGE, 0, "ring %u does not exist: the back-end has %u", index, dev->nvqs);
	vq = &dev->vqs[index];
	if (vq->started)
		return 0;
	/* bit 30 decides how the back-end treats the ring: features first */
	if (!dev->features_set)
		return vs_fail(VS_EXIT_FAIL, 0, "ring %u not started: no SET_FEATURES was sent yet", index);
	if (vs_vu_set_vring_num(&dev->vu, index, vq->num) < 0 ||
	    vs_vu_set_vring_base(&dev->vu, index, vq->last_avail_idx) < 0 ||
	    set_vring_addr(dev, vq, dev->log_enabled) < 0 || vs_vu_set_vring_kick(&dev->vu, index, vq->kick_fd) < 0 ||
	    vs_vu_set_vring_call(&dev->vu, index, vq->call_fd) < 0 ||
	    vs_vu_set_vring_err(&dev->vu, index, vq->err_fd) < 0) {
		vs_error_prefix("starting ring %u", index);
		return -1;
	}
	vq->started = true;
	return 0;
}

int
vs_vhost_virtqueue_stop(struct vs_vhost_dev *dev, unsigned index)
{
	struct vs_vhost_virtqueue *vq;
	uint32_t base;

	if (index >= dev->nvqs)
		return vs_fail(VS_EXIT_USAGE, 0, "ring %u does not exist: the back-end has %u", index, dev->nvqs);
	vq = &dev->vqs[index];
	if (!vq->started)
		return 0;
	/* Stopped from here on whatever the reply: the back-end stops the
	 * ring on receipt and forgets its kick and call fds. */
	vq->started = false;
	if (vs_vu_get_vring_base(&dev->vu, index, &base) < 0) {
		vs_error_prefix("stopping ring %u", index);
		return -1;
	}
	/* Split ring: the next avail index to consume, bits 16-31 zero.  It
	 * cannot be ahead of what we made available. */
	if (base > 0xffff || (uint16_t)(vq->vring.avail_idx - base) > vq->num) {
		vs_error_set(VS_EXIT_PROTOCOL, 0,
			     "protocol error: GET_VRING_BASE for ring %u returned %" PRIu32
			     ", but only %u entries were ever made available",
			     index, base, vq->vring.avail_idx);
		vs_vu_mark_broken(&dev->vu);
		return -1;
	}
	vq->last_avail_idx = base;
	return 0;
}

int
vs_vhost_virtqueue_mask(struct vs_vhost_dev *dev, unsigned index, bool mask)
{
	if (index >= dev->nvqs)
		return vs_fail(VS_EXIT_USAGE, 0, "ring %u does not exist: the back-end has %u", index, dev->nvqs);
	return vs_vu_set_vring_call(&dev->vu, index, mask ? -1 : dev->vqs[index].call_fd);
}

bool
vs_vhost_virtqueue_pending(struct vs_vhost_dev *dev, unsigned index)
{
	struct pollfd p = { .events = POLLIN };

	if (index >= dev->nvqs)
		return false;
	p.fd = dev->vqs[index].call_fd;
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static bool
queue_selected(const struct vs_vhost_dev *dev, unsigned i)
{
	return !dev->opts.queue_mask || (dev->opts.queue_mask & (1ull << i));
}

/* ---- start and stop ---- */

int
vs_vhost_dev_start(struct vs_vhost_dev *dev)
{
	struct saved_error err;

	if (dev->started)
		return vs_fail(VS_EXIT_FAIL, 0, "the device is already started");
	if (has_protocol(dev, VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)) {
		if (vs_vhost_dev_prepare_inflight(dev) < 0 ||
		    (dev->inflight.fd < 0 && !dev->inflight.size &&
		     vs_vhost_dev_get_inflight(dev, dev->vqs[0].num) < 0) ||
		    vs_vhost_dev_set_inflight(dev) < 0)
			goto fail;
	}
	if (set_features(dev, dev->log_enabled) < 0 || add_status(dev, VIRTIO_CONFIG_S_FEATURES_OK) < 0 ||
	    set_mem_table(dev) < 0)
		goto fail;
	for (unsigned i = 0; i < dev->nvqs; i++)
		if (queue_selected(dev, i) && vs_vhost_virtqueue_start(dev, i) < 0)
			goto fail_vq;
	if (dev->log_enabled && log_base(dev) < 0)
		goto fail_vq;
	if (rings_need_enable(dev)) {
		for (unsigned i = 0; i < dev->nvqs; i++) {
			if (!dev->vqs[i].started)
				continue;
			if (vs_vu_set_vring_enable(&dev->vu, i, true) < 0 || vs_vu_barrier(&dev->vu) < 0)
				goto fail_vq;
		}
	}
	if (add_status(dev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_DRIVER_OK) < 0)
		goto fail_vq;
	dev->started = true;
	/* The first kick starts a ring; it is enabled by now. */
	for (unsigned i = 0; i < dev->nvqs; i++)
		if (dev->vqs[i].started && vs_vhost_vq_kick(dev, i) < 0)
			return -1;
	return 0;

fail_vq:
	/* QEMU's unwinding: stop what was started, keep the first error. */
	save_error(&err);
	for (unsigned i = 0; i < dev->nvqs; i++)
		if (dev->vqs[i].started && !dev->vu.broken)
			vs_vhost_virtqueue_stop(dev, i);
	for (unsigned i = 0; i < dev->nvqs; i++)
		dev->vqs[i].started = false;
	log_put(dev);
	restore_error(&err);
fail:
	vs_error_prefix("device start");
	return -1;
}

int
vs_vhost_dev_stop(struct vs_vhost_dev *dev)
{
	struct saved_error err;
	bool failed = false;

	if (!dev->started)
		return vs_fail(VS_EXIT_FAIL, 0, "the device is not started");
	/* Like QEMU, carry on after an error: every ring must end stopped. */
	if (rings_need_enable(dev)) {
		for (unsigned i = 0; i < dev->nvqs && !failed; i++) {
			if (!dev->vqs[i].started)
				continue;
			if (vs_vu_set_vring_enable(&dev->vu, i, false) < 0 || vs_vu_barrier(&dev->vu) < 0) {
				save_error(&err);
				failed = true;
			}
		}
	}
	for (unsigned i = 0; i < dev->nvqs; i++) {
		if (!dev->vqs[i].started)
			continue;
		if (dev->vu.broken || vs_vhost_virtqueue_stop(dev, i) < 0) {
			dev->vqs[i].started = false;
			if (!failed)
				save_error(&err);
			failed = true;
		}
	}
	if (!failed && has_protocol(dev, VHOST_USER_PROTOCOL_F_STATUS)) {
		if (vs_vu_set_status(&dev->vu, 0) < 0) {
			save_error(&err);
			failed = true;
		} else {
			dev->status = 0;
		}
	}
	/* The log goes with the start; log_enabled stays for the next one. */
	log_put(dev);
	dev->started = false;
	if (failed) {
		restore_error(&err);
		vs_error_prefix("device stop");
		return -1;
	}
	return 0;
}

/* ---- config ---- */

int
vs_vhost_dev_get_config(struct vs_vhost_dev *dev, void *buf, uint32_t len)
{
	return vs_vu_get_config(&dev->vu, 0, buf, len);
}

int
vs_vhost_dev_set_config(struct vs_vhost_dev *dev, const void *buf, uint32_t offset, uint32_t len,
			uint32_t flags)
{
	return vs_vu_set_config(&dev->vu, offset, buf, len, flags);
}

void
vs_vhost_dev_set_config_notifier(struct vs_vhost_dev *dev, void (*fn)(void *), void *opaque)
{
	/* fn and opaque change together, under the lock the thread takes */
	pthread_mutex_lock(&dev->channel.lock);
	dev->channel.config_notifier = fn;
	dev->channel.opaque = opaque;
	pthread_mutex_unlock(&dev->channel.lock);
}

/* ---- inflight ---- */

int
vs_vhost_dev_prepare_inflight(struct vs_vhost_dev *dev)
{
	/* QEMU: the back-end sizes the area by the features in force. */
	return set_features(dev, dev->log_enabled);
}

int
vs_vhost_dev_get_inflight(struct vs_vhost_dev *dev, uint16_t queue_size)
{
	struct vhost_user_inflight in;
	int fd;
	void *p;

	if (vs_vu_get_inflight_fd(&dev->vu, dev->nvqs, queue_size, &in, &fd) < 0)
		return -1;
	if (fd < 0)
		return 0; /* no area: nothing to track */
	if (in.mmap_size > VS_VHOST_INFLIGHT_MAX || in.mmap_offset % sysconf(_SC_PAGESIZE)) {
		close(fd);
		return vs_fail(VS_EXIT_PROTOCOL, 0,
			       "the inflight area from GET_INFLIGHT_FD (%" PRIu64 " bytes at offset %" PRIu64
			       ") is larger than %llu MiB or not page-aligned",
			       in.mmap_size, in.mmap_offset, VS_VHOST_INFLIGHT_MAX >> 20);
	}
	/* Mapping past the end of the file would fault on first touch. */
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || in.mmap_offset > (uint64_t)st.st_size ||
	    in.mmap_size > (uint64_t)st.st_size - in.mmap_offset) {
		close(fd);
		return vs_fail(VS_EXIT_PROTOCOL, 0,
			       "the inflight fd from GET_INFLIGHT_FD is not a file holding %" PRIu64
			       " bytes at offset %" PRIu64,
			       in.mmap_size, in.mmap_offset);
	}
	p = mmap(NULL, in.mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, in.mmap_offset);
	if (p == MAP_FAILED) {
		int e = errno;
		close(fd);
		return vs_fail(VS_EXIT_FAIL, e, "mapping the inflight area (%" PRIu64 " bytes)", in.mmap_size);
	}
	vs_vhost_dev_free_inflight(dev);
	dev->inflight.fd = fd;
	dev->inflight.addr = p;
	dev->inflight.size = in.mmap_size;
	dev->inflight.offset = in.mmap_offset;
	dev->inflight.queue_size = queue_size;
	return 0;
}

int
vs_vhost_dev_set_inflight(struct vs_vhost_dev *dev)
{
	struct vhost_user_inflight in = {
		.mmap_size = dev->inflight.size,
		.mmap_offset = dev->inflight.offset,
		.num_queues = dev->nvqs,
		.queue_size = dev->inflight.queue_size,
	};

	if (dev->inflight.fd < 0)
		return 0;
	return vs_vu_set_inflight_fd(&dev->vu, &in, dev->inflight.fd);
}

void
vs_vhost_dev_reset_inflight(struct vs_vhost_dev *dev)
{
	if (dev->inflight.addr)
		memset(dev->inflight.addr, 0, dev->inflight.size);
}

void
vs_vhost_dev_free_inflight(struct vs_vhost_dev *dev)
{
	if (dev->inflight.addr)
		munmap(dev->inflight.addr, dev->inflight.size);
	if (dev->inflight.fd >= 0)
		close(dev->inflight.fd);
	dev->inflight.addr = NULL;
	dev->inflight.fd = -1;
	dev->inflight.size = 0;
}

/* ---- reset, log, device state ---- */

int
vs_vhost_reset_device(struct vs_vhost_dev *dev)
{
	if (dev->started)
		return vs_fail(VS_EXIT_FAIL, 0, "RESET_DEVICE not sent: the device is started (stop it first)");
	if (vs_vu_reset_device(&dev->vu) < 0)
		return -1;
	/* The device forgot its rings and features: so do we. */
	for (unsigned i = 0; i < dev->nvqs; i++) {
		struct vs_vhost_virtqueue *vq = &dev->vqs[i];
		vs_vring_free(&vq->vring);
		if (vs_vring_init(&vq->vring, vq->num, vq->area) < 0)
			return -1;
		vq->last_avail_idx = 0;
	}
	dev->sent_features = 0;
	dev->features_set = false;
	dev->status = 0;
	vs_vhost_dev_reset_inflight(dev);
	return 0;
}

int
vs_vhost_migration_log(struct vs_vhost_dev *dev, bool enable)
{
	if (enable == dev->log_enabled)
		return 0;
	if (enable) {
		/* Without these QEMU refuses to migrate (a migration blocker). */
		if (!vs_vu_has_feature(&dev->vu, VHOST_F_LOG_ALL))
			return vs_fail(VS_EXIT_UNAVAILABLE, 0,
				       "the back-end does not offer LOG_ALL (feature bit 26): no dirty logging");
		if (!has_protocol(dev, VHOST_USER_PROTOCOL_F_LOG_SHMFD))
			return vs_fail(VS_EXIT_UNAVAILABLE, 0,
				       "the back-end does not support LOG_SHMFD (protocol feature bit 1): no dirty logging");
	}
	if (!dev->started) {
		dev->log_enabled = enable;
		return 0;
	}
	if (enable && log_base(dev) < 0)
		return -1;
	if (set_features(dev, enable) < 0)
		return -1;
	for (unsigned i = 0; i < dev->nvqs; i++)
		if (dev->vqs[i].started && set_vring_addr(dev, &dev->vqs[i], enable) < 0)
			return -1;
	if (!enable)
		log_put(dev);
	dev->log_enabled = enable;
	return 0;
}

bool
vs_vhost_supports_device_state(const struct vs_vhost_dev *dev)
{
	return vs_supports_device_state(&dev->vu);
}

/* QEMU asserts this; a library refuses. */
static int
require_stopped(const struct vs_vhost_dev *dev, const char *what)
{
	if (dev->started)
		return vs_fail(VS_EXIT_FAIL, 0,
			       "%s refused: the device is started; the state moves only while it is stopped", what);
	return 0;
}

int
vs_vhost_set_device_state_fd(struct vs_vhost_dev *dev, uint32_t direction, uint32_t phase, int fd,
			     int *reply_fd)
{
	*reply_fd = -1;
	if (require_stopped(dev, "SET_DEVICE_STATE_FD") < 0)
		return -1;
	return vs_vu_set_device_state_fd(&dev->vu, direction, phase, fd, reply_fd);
}

int
vs_vhost_check_device_state(struct vs_vhost_dev *dev, uint64_t *result)
{
	return vs_vu_check_device_state(&dev->vu, result);
}

int
vs_vhost_save_backend_state(struct vs_vhost_dev *dev, uint64_t max_size, vs_consume_fn consume, void *opaque,
			    uint64_t *bytes)
{
	*bytes = 0;
	if (require_stopped(dev, "saving the state") < 0)
		return -1;
	return vs_save_backend_state(&dev->vu, max_size, consume, opaque, bytes);
}

int
vs_vhost_load_backend_state(struct vs_vhost_dev *dev, vs_produce_fn produce, void *opaque, uint64_t *bytes)
{
	*bytes = 0;
	if (require_stopped(dev, "loading a state") < 0)
		return -1;
	return vs_load_backend_state(&dev->vu, produce, opaque, bytes);
}

/* ---- the driver's side of a ring ---- */

static struct vs_vhost_virtqueue *
started_vq(struct vs_vhost_dev *dev, unsigned index)
{
	if (index >= dev->nvqs) {
		vs_error_set(VS_EXIT_USAGE, 0, "ring %u does not exist: the back-end has %u", index, dev->nvqs);
		return NULL;
	}
	if (!dev->started || !dev->vqs[index].started) {
		vs_error_set(VS_EXIT_FAIL, 0, "ring %u is not started", index);
		return NULL;
	}
	return &dev->vqs[index];
}

int
vs_vhost_vq_add(struct vs_vhost_dev *dev, unsigned index, const struct vs_vring_buf *bufs, unsigned n)
{
	struct vs_vhost_virtqueue *vq = started_vq(dev, index);

	return vq ? vs_vring_add(&vq->vring, bufs, n) : -1;
}

int
vs_vhost_vq_kick(struct vs_vhost_dev *dev, unsigned index)
{
	uint64_t one = 1;

	if (index >= dev->nvqs)
		return vs_fail(VS_EXIT_USAGE, 0, "ring %u does not exist", index);
	/* The avail index is published before the device is told. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	while (write(dev->vqs[index].kick_fd, &one, sizeof one) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) /* the counter is full: a kick is pending anyway */
			break;
		return vs_fail(VS_EXIT_FAIL, errno, "kicking ring %u", index);
	}
	return 0;
}

int
vs_vhost_vq_wait_used(struct vs_vhost_dev *dev, unsigned index, uint32_t *head, uint32_t *len)
{
	struct vs_vhost_virtqueue *vq = started_vq(dev, index);
	struct timespec start, now;
	uint64_t v;

	if (!vq)
		return -1;
	/* One deadline for the whole wait: a back-end that keeps signalling
	 * without ever returning the buffer must not keep us here. */
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd p[2] = { { .fd = vq->call_fd, .events = POLLIN },
				       { .fd = dev->vu.conn.fd, .events = POLLRDHUP } };
		int r = vs_vring_get_used(&vq->vring, head, len);
		long left;

		if (r < 0) {
			vs_error_prefix("ring %u", index);
			return -1;
		}
		if (r > 0)
			return 0;
		clock_gettime(CLOCK_MONOTONIC, &now);
		left = dev->vu.conn.timeout_ms - ((now.tv_sec - start.tv_sec) * 1000L + (now.tv_nsec - start.tv_nsec) / 1000000);
		r = 0;
		if (left > 0) {
			do
				r = poll(p, 2, (int)left);
			while (r < 0 && errno == EINTR);
		}
		if (r < 0)
			return vs_fail(VS_EXIT_FAIL, errno, "poll");
		if (r == 0)
			return vs_fail(VS_EXIT_TIMEOUT, 0,
				       "timed out after %g s waiting for the back-end to return a buffer on ring %u",
				       dev->vu.conn.timeout_ms / 1000.0, index);
		if (!p[0].revents && p[1].revents) {
			vs_vu_mark_broken(&dev->vu);
			return vs_fail(VS_EXIT_UNAVAILABLE, 0,
				       "the back-end closed the connection while we waited for ring %u", index);
		}
		/* Drain the call notification; the used ring is the truth. */
		if (read(vq->call_fd, &v, sizeof v) < 0 && errno != EAGAIN && errno != EINTR)
			return vs_fail(VS_EXIT_FAIL, errno, "reading the call eventfd of ring %u", index);
	}
}

/* ---- the back-end channel ---- */

static void
channel_log(const struct vs_vhost_backend_channel *ch, const char *dir, const struct vs_vu_header *h, size_t nfds,
	    const void *payload)
{
	struct vs_vu_message m = { VS_VU_CHANNEL_BACKEND, *h, payload, nfds };

	if (ch->verbose)
		vs_vu_trace(dir, &m);
}

/* One request from the back-end: 0 served, 1 the back-end closed the
 * channel, -1 the channel is unusable. */
static int
channel_serve_one(struct vs_vhost_backend_channel *ch)
{
	struct vs_vu_conn c = { .fd = ch->fd, .path = "the back-end channel", .timeout_ms = ch->timeout_ms };
	struct vs_vu_header h;
	unsigned char payload[VS_VHOST_BACKEND_MAX_PAYLOAD];
	int fds[VS_VU_MAX_FDS], more[VS_VU_MAX_FDS];
	size_t nfds = 0, nmore = 0;
	uint64_t ret = 1; /* QEMU answers !!ret: non-zero = failed */
	void (*notifier)(void *);
	char peek;

	/* EOF between requests: the back-end closed its end (it does when
	 * the connection ends), not an error. */
	if (recv(ch->fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
		return 1;
	if (vs_conn_recv(&c, &h, VS_VU_HDR_SIZE, fds, &nfds, "a back-end request") < 0)
		return -1;
	/* We asked for no BACKEND_SEND_FD: any fd is unwanted. */
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
	if ((h.flags & ~VHOST_USER_NEED_REPLY_MASK) != VHOST_USER_VERSION || h.size > sizeof payload) {
		channel_log(ch, "<=", &h, nfds, NULL);
		return vs_fail(VS_EXIT_PROTOCOL, 0, "malformed back-end request: flags 0x%" PRIx32 ", %" PRIu32 " bytes",
			       h.flags, h.size);
	}
	if (h.size && vs_conn_recv(&c, payload, h.size, more, &nmore, "a back-end request") < 0)
		return -1;
	for (size_t i = 0; i < nmore; i++)
		close(more[i]);
	channel_log(ch, "<=", &h, nfds + nmore, payload);

	switch (h.request) {
	case VHOST_USER_BACKEND_CONFIG_CHANGE_MSG:
		__atomic_fetch_add(&ch->config_changes, 1, __ATOMIC_RELAXED);
		pthread_mutex_lock(&ch->lock);
		notifier = ch->config_notifier;
		if (notifier)
			notifier(ch->opaque);
		pthread_mutex_unlock(&ch->lock);
		ret = 0;
		break;
	default:
		/* IOTLB, host notifiers, shared objects, in-band call/err:
		 * nothing we negotiated, so each fails (no disconnect). */
		break;
	}
	__atomic_fetch_add(&ch->served, 1, __ATOMIC_RELAXED);
	if ((h.flags & VHOST_USER_NEED_REPLY_MASK) && ch->reply_ack) {
		struct vs_vu_header rh = { .request = h.request,
					   .flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK,
					   .size = sizeof ret };
		struct iovec iov[2] = { { &rh, VS_VU_HDR_SIZE }, { &ret, sizeof ret } };
		channel_log(ch, "=>", &rh, 0, &ret);
		if (vs_conn_send(&c, iov, 2, NULL, 0, vs_vu_backend_request_name(h.request)) < 0)
			return -1;
	}
	return 0;
}

static void *
channel_thread(void *arg)
{
	struct vs_vhost_backend_channel *ch = arg;

	for (;;) {
		struct pollfd p[2] = { { .fd = ch->fd, .events = POLLIN }, { .fd = ch->stop_fd, .events = POLLIN } };
		/* Idle is fine here: a bounded poll in a loop that ends when
		 * the device is cleaned up. */
		int r = poll(p, 2, ch->timeout_ms);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || p[1].revents)
			break;
		if (r == 0)
			continue;
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			r = channel_serve_one(ch);
			/* the back-end left or broke the channel: stop
			 * listening, the main exchange decides the rest */
			if (r < 0 && ch->verbose)
				vs_warn("back-end channel unusable, no longer served: %s", vs_error_get()->msg);
			if (r != 0) {
				/* QEMU drops a broken channel: the back-end sees
				 * EOF; the fd itself stays ours until stop */
				__atomic_store_n(&ch->closed, true, __ATOMIC_RELEASE);
				shutdown(ch->fd, SHUT_RDWR);
				break;
			}
		}
	}
	return NULL;
}

int
vs_vhost_backend_channel_start(struct vs_vhost_backend_channel *ch, int fd, bool reply_ack)
{
	int e;

	ch->fd = fd;
	ch->reply_ack = reply_ack;
	ch->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ch->stop_fd < 0 || vs_set_nonblock(fd, true) < 0) {
		e = errno;
		goto fail;
	}
	e = pthread_create(&ch->thread, NULL, channel_thread, ch);
	if (e)
		goto fail;
	ch->running = true;
	return 0;
fail:
	vs_error_set(VS_EXIT_FAIL, e, "starting the back-end channel");
	if (ch->stop_fd >= 0)
		close(ch->stop_fd);
	close(fd);
	ch->fd = ch->stop_fd = -1;
	return -1;
}

void
vs_vhost_backend_channel_stop(struct vs_vhost_backend_channel *ch)
{
	uint64_t one = 1;

	if (ch->running) {
		/* The thread may be inside a message, waiting on the socket
		 * rather than stop_fd: shutting the socket down ends that wait
		 * at once, so the join never sits out a timeout. */
		shutdown(ch->fd, SHUT_RDWR);
		if (write(ch->stop_fd, &one, sizeof one) < 0)
			pthread_cancel(ch->thread); /* cannot happen with a fresh eventfd */
		pthread_join(ch->thread, NULL);
		ch->running = false;
	}
	if (ch->fd >= 0)
		close(ch->fd);
	if (ch->stop_fd >= 0)
		close(ch->stop_fd);
	ch->fd = ch->stop_fd = -1;
}

/* ---- init and cleanup ---- */

static int
check_opts(struct vs_vhost_dev_opts *o)
{
	long page = sysconf(_SC_PAGESIZE);

	if (!o->mem_size)
		o->mem_size = VS_VHOST_MEM_DEFAULT;
	if (!o->nregions)
		o->nregions = 1;
	if (!o->queue_size)
		o->queue_size = VS_VHOST_QUEUE_SIZE_DEFAULT;
	if (!o->protocol_features)
		o->protocol_features = VS_VHOST_PROTOCOL_FEATURES_IMPLEMENTED;
	if (o->mem_table)
		o->protocol_features &= ~(1ull << VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS);
	if (o->nregions > VS_VHOST_MAX_REGIONS)
		return vs_fail(VS_EXIT_USAGE, 0, "at most %d memory regions, not %u", VS_VHOST_MAX_REGIONS,
			       o->nregions);
	/* Known before connecting, so refused before a one-shot back-end is
	 * used up: SET_MEM_TABLE carries at most 8 regions. */
	if (o->mem_table && o->nregions > VS_VHOST_MEM_TABLE_MAX)
		return vs_fail_hint(VS_EXIT_USAGE, VS_HINT_MEM_TABLE,
				    "without CONFIGURE_MEM_SLOTS, one SET_MEM_TABLE sends at most %u memory regions, not %u",
				    VS_VHOST_MEM_TABLE_MAX, o->nregions);
	if (o->mem_size % o->nregions || (o->mem_size / o->nregions) % page)
		return vs_fail(VS_EXIT_USAGE, 0,
			       "guest memory of %" PRIu64 " bytes does not split into %u regions of whole %ld-byte pages",
			       o->mem_size, o->nregions, page);
	if (!vs_vring_size_valid(o->queue_size))
		return vs_fail(VS_EXIT_USAGE, 0, "a ring size must be a power of 2 from 1 to %u, not %u",
			       VS_VRING_MAX_SIZE, o->queue_size);
	return 0;
}

static int
create_rings(struct vs_vhost_dev *dev)
{
	for (unsigned i = 0; i < dev->nvqs; i++) {
		struct vs_vhost_virtqueue *vq = &dev->vqs[i];
		struct vs_vring_layout l;
		uint64_t gpa;

		vs_vring_layout(dev->opts.queue_size, &l);
		vq->area = vs_vhost_mem_alloc(dev, l.size, VS_VRING_DESC_ALIGN, &gpa);
		if (!vq->area)
			return vs_fail(VS_EXIT_USAGE, 0,
				       "guest memory of %" PRIu64 " bytes in %u region%s has no room for %u rings of %u",
				       dev->opts.mem_size, dev->nregions, dev->nregions == 1 ? "" : "s", dev->nvqs,
				       dev->opts.queue_size);
		vq->num = dev->opts.queue_size;
		vq->desc_gpa = gpa + l.desc;
		vq->avail_gpa = gpa + l.avail;
		vq->used_gpa = gpa + l.used;
		if (vs_vring_init(&vq->vring, vq->num, vq->area) < 0)
			return -1;
		/* Non-blocking like QEMU's event notifiers; virtiofsd copes. */
		vq->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		vq->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		vq->err_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vq->kick_fd < 0 || vq->call_fd < 0 || vq->err_fd < 0)
			return vs_fail(VS_EXIT_FAIL, errno, "eventfd");
	}
	return 0;
}

static void
init_fds(struct vs_vhost_dev *dev)
{
	dev->vu.conn.fd = -1;
	dev->log_fd = -1;
	dev->inflight.fd = -1;
	dev->channel.fd = dev->channel.stop_fd = -1;
	pthread_mutex_init(&dev->channel.lock, NULL);
	for (unsigned i = 0; i < VS_VHOST_MAX_QUEUES; i++) {
		dev->vqs[i].index = i;
		dev->vqs[i].kick_fd = dev->vqs[i].call_fd = dev->vqs[i].err_fd = -1;
	}
	for (unsigned i = 0; i < VS_VHOST_MAX_REGIONS; i++)
		dev->regions[i].fd = -1;
}

int
vs_vhost_dev_init(struct vs_vhost_dev *dev, const char *path, const struct vs_vhost_dev_opts *opts)
{
	struct vs_vu_open_opts o = { .backend_req_fd = -1 };
	int sv[2] = { -1, -1 }, r;

	memset(dev, 0, sizeof *dev);
	init_fds(dev);
	if (opts)
		dev->opts = *opts;
	if (check_opts(&dev->opts) < 0)
		return -1;
	o.protocol_features = dev->opts.protocol_features;
	o.timeout_ms = dev->opts.timeout_ms;
	o.verbose = dev->opts.verbose;
	/* The back-end channel exists before we know whether it is wanted:
	 * SET_BACKEND_REQ_FD comes in the middle of the handshake. */
	if (o.protocol_features & (1ull << VHOST_USER_PROTOCOL_F_BACKEND_REQ)) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
			return vs_fail(VS_EXIT_FAIL, errno, "socketpair");
		o.backend_req_fd = sv[1];
	}
	r = vs_vu_open_with(&dev->vu, path, &o);
	/* Only the back-end holds its end now: it sees EOF when we close ours. */
	if (sv[1] >= 0)
		close(sv[1]);
	if (r < 0) {
		if (sv[0] >= 0)
			close(sv[0]);
		return -1;
	}
	if (has_protocol(dev, VHOST_USER_PROTOCOL_F_BACKEND_REQ)) {
		dev->channel.timeout_ms = dev->vu.conn.timeout_ms;
		dev->channel.verbose = dev->opts.verbose;
		if (vs_vhost_backend_channel_start(&dev->channel, sv[0],
						   has_protocol(dev, VHOST_USER_PROTOCOL_F_REPLY_ACK)) < 0)
			goto fail;
	} else if (sv[0] >= 0) {
		close(sv[0]);
	}
	/* QEMU reads the features again after SET_OWNER (doc/vhost-user.md §2). */
	if (vs_vu_get_features(&dev->vu, &dev->vu.features) < 0) {
		vs_error_prefix("%s: handshake failed", path);
		goto fail;
	}
	if (dev->vu.queue_num == 0) {
		vs_error_set(VS_EXIT_PROTOCOL, 0, "%s: the back-end reports 0 queues", path);
		goto fail;
	}
	dev->nvqs = dev->vu.queue_num < VS_VHOST_MAX_QUEUES ? dev->vu.queue_num : VS_VHOST_MAX_QUEUES;
	if (dev->opts.queue_mask >> dev->nvqs) {
		/* only the handshake tells: the one-shot back-end is gone */
		vs_error_set(VS_EXIT_UNAVAILABLE, 0,
			     "%s: the back-end has %u queue%s (0-%u), fewer than the rings asked for; nothing was set up, "
			     "but connecting consumed it (a one-shot back-end such as virtiofsd has exited): start a "
			     "fresh one and ask for rings 0-%u",
			     path, dev->nvqs, dev->nvqs == 1 ? "" : "s", dev->nvqs - 1, dev->nvqs - 1);
		goto fail;
	}
	dev->max_memslots = has_protocol(dev, VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS)
				    ? (dev->vu.max_mem_slots < VS_VHOST_MEMSLOTS_LIMIT ? dev->vu.max_mem_slots
										       : VS_VHOST_MEMSLOTS_LIMIT)
				    : VHOST_MEMORY_BASELINE_NREGIONS;
	if (dev->opts.nregions > dev->max_memslots) {
		vs_error_set(VS_EXIT_UNAVAILABLE, 0,
			     "%s: %u memory regions asked for, the back-end takes at most %" PRIu64 "%s; nothing was "
			     "set up, but connecting consumed it (a one-shot back-end such as virtiofsd has exited)",
			     path, dev->opts.nregions, dev->max_memslots,
			     has_protocol(dev, VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS) ? " (GET_MAX_MEM_SLOTS)"
											 : " (SET_MEM_TABLE)");
		goto fail;
	}
	dev->acked_features = VS_VHOST_DRIVER_FEATURES & dev->vu.features;
	if (create_memory(dev) < 0 || create_rings(dev) < 0)
		goto fail;
	return 0;
fail:
	vs_vhost_dev_cleanup(dev);
	return -1;
}

void
vs_vhost_dev_cleanup(struct vs_vhost_dev *dev)
{
	/* The connection first: the back-end then drops its mappings and
	 * channel end, and nothing waits on us. */
	vs_vu_close(&dev->vu);
	vs_vhost_backend_channel_stop(&dev->channel);
	for (unsigned i = 0; i < VS_VHOST_MAX_QUEUES; i++) {
		struct vs_vhost_virtqueue *vq = &dev->vqs[i];
		vs_vring_free(&vq->vring);
		if (vq->kick_fd >= 0)
			close(vq->kick_fd);
		if (vq->call_fd >= 0)
			close(vq->call_fd);
		if (vq->err_fd >= 0)
			close(vq->err_fd);
		vq->kick_fd = vq->call_fd = vq->err_fd = -1;
	}
	for (unsigned i = 0; i < dev->nregions; i++) {
		munmap(dev->regions[i].host, dev->regions[i].r.memory_size);
		close(dev->regions[i].fd);
		dev->regions[i].fd = -1;
	}
	dev->nregions = 0;
	log_put(dev);
	vs_vhost_dev_free_inflight(dev);
	dev->started = false;
}
