/* A small vhost-user back-end for tests: it speaks enough of the protocol
 * for the handshake and the device-state transfer, produces a seeded
 * state of any size, and misbehaves on request (--fault).
 *
 *   fake-backend --socket PATH [--log FILE] [--state-size N] [--seed S]
 *                [--no-device-state] [--no-protocol-features]
 *                [--fault KIND] [--at REQUEST]
 *                [--slow-ms MS] [--check-load]
 *   fake-backend --emit [--framed] [--state-size N] [--seed S]
 *   fake-backend --absorb [--framed] [--state-size N] [--seed S]
 *
 * Faults, applied to the first request named by --at (default
 * GET_FEATURES): silent (never answer), close (hang up), close-unread
 * (hang up once the next request sits unread: the front-end sees
 * ECONNRESET), wrong-code, wrong-size, wrong-flags, extra-fd (an fd the
 * reply must not carry); for SET_DEVICE_STATE_FD also own-fd (reply 0
 * with the back-end's own pipe end, as the spec allows) and wrong-end-fd
 * (its own pipe, but the end we would use).
 * --log records one line per request received, so tests can assert what
 * was (not) sent.  --slow-ms makes SAVE pause that long after each
 * 64 KiB and LOAD after each read, for tests that must catch a transfer
 * in the middle.  --emit prints the seeded state on stdout, so a test
 * can compare it with what a dump carried.
 *
 * More faults: reject (SET_DEVICE_STATE_FD replies 0x101: error 1, no
 * fd), truncated-header (half a reply header, then hang up; any --at).
 * Transfer faults ignore --at and hit the first transfer they fit:
 * save-partial (SAVE writes half the state and closes; CHECK 1),
 * save-no-eof (SAVE writes it all but never closes its end),
 * load-close-early (LOAD reads 4 KiB, closes its end; CHECK 1) and
 * disconnect-mid (half-way through SAVE or LOAD the socket is shut down
 * while the pipe stays open).  --check-result N makes CHECK return N.
 * --bursts makes SAVE write in odd-sized pieces (1, 3, 7, 4093, ...).
 * --piece N makes SAVE and --emit write N bytes at a time (default: a
 * whole 1 MiB block), and --emit keep its pipe at the default size: the
 * simplest emitter, for benchmarks that must not depend on one.
 *
 * Peer models: --strict-features (DPDK) offers bits the front-end does
 * not implement (RARP, CROSS_ENDIAN, HOST_NOTIFIER; virtio
 * INDIRECT_DESC, EVENT_IDX) and not CONFIGURE_MEM_SLOTS, which it does,
 * and hangs up on a SET_PROTOCOL_FEATURES or SET_FEATURES carrying a
 * bit not offered.  Acks follow rust-vmm vhost 0.13 always: only once
 * GET_FEATURES and GET_PROTOCOL_FEATURES were both seen and REPLY_ACK
 * was acked; a NEED_REPLY before that gets no answer and a "QUIRK" line
 * in the log.  --backend-burst N offers BACKEND_REQ and, when the first
 * SET_DEVICE_STATE_FD arrives, sends N BACKEND_CONFIG_CHANGE_MSG with
 * NEED_REPLY on the back-end channel, each needing an answer (CHECK
 * returns 1 unless all came).
 *
 * Enough of a vhost_dev for `run start/stop`: SET_FEATURES,
 * SET_MEM_TABLE, SET_VRING_*, GET_VRING_BASE; --queues N (default 1);
 * --inflight offers INFLIGHT_SHMFD (GET_INFLIGHT_FD gives a 4 KiB memfd,
 * SET_INFLIGHT_FD is acked 0 only with that same area) and --status
 * offers STATUS (GET/SET_STATUS keep the byte).  --watch-kicks keeps
 * each ring's kick fd, drops a kick already there when it comes (as
 * rust-vmm's vhost-user-backend before 0.22 does for a ring not yet
 * enabled), and after acking an enable logs whether the ring was kicked
 * within a second ("KICK: ..." lines).
 *
 * For benchmarks: --check-load makes LOAD compare what arrives with the
 * seeded state instead of keeping it (CHECK then returns 1 unless every
 * byte and the length match; SAVE gives the seeded state), and --absorb
 * checks stdin the same way (exit status 0 or 1).  --framed makes --emit
 * write, and --absorb expect, QEMU's raw stream (be32 length + bytes per
 * chunk, 1 MiB chunks from --emit, a zero length at the end).  Emitting
 * and checking cost next to nothing: the state is a 1 MiB block of
 * xorshift output made once per seed, each 1 MiB of the state being that
 * block XORed with a 64-bit key of its own (so no two blocks share
 * bytes: it stays incompressible).  --compressible (any mode) makes the
 * block mostly repeated text instead: about 4.5x with zstd -1.  The
 * same seed and flag must be given to both ends.  --emit and --absorb enlarge their
 * pipe to 1 MiB when they can, like vhost-state does with its own. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "bytes.h"
#include "vu-proto.h"

static FILE *log_file;
static uint64_t state_size = 10, seed = 1;
/* --compressible: the base block is mostly repeated text (seeded_init) */
static bool compressible;
static unsigned slow_ms;
static size_t piece; /* --piece: write size, 0 = a whole block */
static bool offer_device_state = true, offer_protocol = true;
static const char *fault, *fault_at = "GET_FEATURES";
static bool fault_done;
/* the transfer fault the running worker applies, if any */
static const char *worker_fault;
static bool check_result_set, strict_features, offer_inflight, offer_status, bursts;
static uint64_t check_result;
static unsigned queues = 1, backend_burst;
static int conn_fd = -1, backend_fd = -1, inflight_fd = -1;
static uint64_t features_offered, protocol_offered;
static uint8_t dev_status;
static uint32_t vring_base[256];
/* --watch-kicks: each ring's kick fd, kept */
static bool watch_kicks;
static int kick_fds[256] = { [0 ... 255] = -1 };

/* Faults of the transfer itself: they ignore --at. */
static bool
transfer_fault(const char *kind)
{
	return strcmp(kind, "save-partial") == 0 || strcmp(kind, "save-no-eof") == 0 ||
	       strcmp(kind, "load-close-early") == 0 || strcmp(kind, "disconnect-mid") == 0;
}

/* Whether the fault applies to this request now (then it is used up). */
static bool
fault_here(uint32_t request, const char *kind)
{
	if (!fault || fault_done || strcmp(fault, kind) != 0 || strcmp(vs_vu_request_name(request), fault_at) != 0)
		return false;
	fault_done = true;
	return true;
}

/* What SAVE produces: what was loaded last, else the seeded state. */
static int loaded_fd = -1;
static uint64_t loaded_size;

static uint64_t protocol_acked;
static bool seen_get_features, seen_get_protocol;

static pthread_t worker;
static bool worker_running;
static int worker_fd = -1, worker_dir;
/* Like virtiofsd: CHECK without a transfer fails. */
static uint64_t worker_result = 1;
static bool got_nonblocking_fd;
/* --check-load */
static bool check_load;

static uint64_t
next_rand(uint64_t *s)
{
	/* xorshift64*: cheap, and both ends can regenerate it */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static void
die(const char *what)
{
	fprintf(stderr, "fake-backend: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

/* The seeded state, state_size bytes: block k (1 MiB) is the base block
 * (xorshift64* output from the seed) XORed word by word with key(k). */
#define BLOCK_SIZE (1u << 20)
static uint64_t *base_block;

static void
seeded_init(void)
{
	uint64_t s = seed ? seed : 1;

	if (base_block)
		return;
	base_block = malloc(BLOCK_SIZE);
	if (!base_block)
		die("malloc");
	if (compressible) {
		/* 64-byte lines of two texts, seeded pick, each with a
		 * 12-byte field of xorshift output: about 4.5x with zstd -1
		 * (the key XOR keeps the repeats: 64 is a multiple of 8) */
		static const char text[] =
			"inode 0000000000000000 nlookup 00000000 parent 0000000000000000\n"
			"handle 0000000000000000 flags 00000000 offset 0000000000000000\n";
		unsigned char *p = (unsigned char *)base_block;

		for (size_t i = 0; i < BLOCK_SIZE; i += 64) {
			uint64_t pick = next_rand(&s), x = next_rand(&s), y = next_rand(&s);
			memcpy(p + i, text + 64 * (pick & 1), 64);
			memcpy(p + i + 6, &x, 8);
			memcpy(p + i + 14, &y, 4);
		}
		return;
	}
	for (size_t i = 0; i < BLOCK_SIZE / 8; i++)
		base_block[i] = next_rand(&s);
}

static uint64_t
block_key(uint64_t idx)
{
	/* splitmix64 of (seed, block index) */
	uint64_t z = seed + (idx + 1) * 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Block idx of the state into out (BLOCK_SIZE bytes of room). */
static void
seeded_block(uint64_t idx, uint64_t *out)
{
	uint64_t key = block_key(idx);

	for (size_t i = 0; i < BLOCK_SIZE / 8; i++)
		out[i] = base_block[i] ^ key;
}

/* The key as seen from a word load r bytes into a word boundary. */
static uint64_t
key_at(uint64_t key, unsigned r)
{
	if (r == 0)
		return key;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return key << (8 * r) | key >> (64 - 8 * r);
#else
	return key >> (8 * r) | key << (64 - 8 * r);
#endif
}

/* Whether the len bytes at p are the state's bytes at offset off. */
static bool
seeded_matches(uint64_t off, const unsigned char *p, size_t len)
{
	while (len) {
		uint64_t idx = off / BLOCK_SIZE, key = block_key(idx), acc = 0, rk;
		size_t pos = off % BLOCK_SIZE, seg = BLOCK_SIZE - pos, j = 0;
		const unsigned char *b = (const unsigned char *)base_block + pos;

		if (seg > len)
			seg = len;
		rk = key_at(key, pos % 8);
		for (; j + 8 <= seg; j += 8) {
			uint64_t x, y;
			memcpy(&x, p + j, 8);
			memcpy(&y, b + j, 8);
			acc |= x ^ y ^ rk;
		}
		if (acc)
			return false;
		for (; j < seg; j++) {
			uint64_t k = key_at(key, (pos + j) % 8);
			unsigned char kb;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
			kb = k >> 56;
#else
			kb = k & 0xff;
#endif
			if (p[j] != (b[j] ^ kb))
				return false;
		}
		p += seg;
		off += seg;
		len -= seg;
	}
	return true;
}

/* Best effort: a 1 MiB pipe means fewer wakeups on both ends. */
static void
grow_pipe(int fd)
{
	fcntl(fd, F_SETPIPE_SZ, BLOCK_SIZE);
}

/* Write the seeded state to fd, framed as QEMU's raw stream (1 MiB
 * chunks, then a zero length) when framed is set. */
static int
write_seeded(int fd, bool framed)
{
	static uint64_t *buf;
	uint64_t left = state_size;
	uint32_t be;

	seeded_init();
	if (!buf && !(buf = malloc(BLOCK_SIZE)))
		die("malloc");
	for (uint64_t idx = 0; left; idx++) {
		size_t n = left < BLOCK_SIZE ? left : BLOCK_SIZE;
		seeded_block(idx, buf);
		if (framed) {
			be = htonl(n);
			if (write_all(fd, &be, 4) < 0)
				return -1;
		}
		if (slow_ms) {
			/* a pause after each 64 KiB, for tests */
			for (size_t off = 0; off < n; off += 1 << 16) {
				size_t k = n - off < 1 << 16 ? n - off : 1 << 16;
				if (write_all(fd, (char *)buf + off, k) < 0)
					return -1;
				usleep(slow_ms * 1000);
			}
		} else {
			size_t step = piece ? piece : n;
			for (size_t off = 0; off < n; off += step)
				if (write_all(fd, (char *)buf + off, n - off < step ? n - off : step) < 0)
					return -1;
		}
		left -= n;
	}
	be = 0;
	return framed ? write_all(fd, &be, 4) : 0;
}

/* Read the state from fd and compare it with the seeded one; framed:
 * QEMU's raw stream, any chunking.  Returns 0 when every byte and the
 * length match; otherwise says what differs on stderr and returns 1.
 * Reads to EOF either way, so the writer never sees EPIPE. */
static int
check_seeded(int fd, bool framed, const char *what)
{
	static unsigned char *buf;
	uint64_t total = 0, stream = 0, mismatch = UINT64_MAX;
	uint32_t left = 0;
	unsigned char hdr[4];
	unsigned hfill = 0;
	bool ended = false, trailing = false;
	ssize_t n;

	seeded_init();
	if (!buf && !(buf = malloc(BLOCK_SIZE)))
		die("malloc");
	while ((n = read(fd, buf, BLOCK_SIZE)) != 0) {
		unsigned char *p = buf;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "fake-backend: %s: read: %s\n", what, strerror(errno));
			return 1;
		}
		stream += n;
		while (n > 0) {
			size_t take = n;
			if (framed) {
				if (ended) {
					trailing = true;
					break;
				}
				if (left == 0) {
					while (hfill < 4 && n > 0) {
						hdr[hfill++] = *p++;
						n--;
					}
					if (hfill < 4)
						break;
					hfill = 0;
					left = vs_get_be32(hdr);
					if (left == 0)
						ended = true;
					continue;
				}
				if (take > left)
					take = left;
				left -= take;
			}
			/* bytes past state_size show in the length check */
			size_t in = total >= state_size ? 0 : state_size - total < take ? state_size - total : take;
			if (mismatch == UINT64_MAX && in && !seeded_matches(total, p, in))
				for (mismatch = total; seeded_matches(mismatch, p + (mismatch - total), 1);)
					mismatch++;
			total += take;
			p += take;
			n -= take;
		}
		if (slow_ms)
			usleep(slow_ms * 1000);
	}
	if (framed && (!ended || trailing || hfill || left)) {
		fprintf(stderr, "fake-backend: %s: malformed stream (%s after %" PRIu64 " bytes)\n", what,
			trailing ? "trailing bytes" : "no terminator", stream);
		return 1;
	}
	if (mismatch != UINT64_MAX || total != state_size) {
		if (mismatch != UINT64_MAX)
			fprintf(stderr, "fake-backend: %s: the state differs from the seeded one at offset %" PRIu64 "\n",
				what, mismatch);
		else
			fprintf(stderr, "fake-backend: %s: %" PRIu64 " bytes, the seeded state has %" PRIu64 "\n",
				what, total, state_size);
		return 1;
	}
	return 0;
}

static void
log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
log_line(const char *fmt, ...)
{
	va_list ap;

	if (!log_file)
		return;
	va_start(ap, fmt);
	vfprintf(log_file, fmt, ap);
	va_end(ap);
	fputc('\n', log_file);
	fflush(log_file);
}

/* The first limit bytes of the seeded state (all of it at most); with
 * --bursts in odd-sized pieces, a short pause after each, so the reader
 * sees them one by one. */
static int
write_seeded_pieces(int fd, uint64_t limit)
{
	static const size_t sizes[] = { 1, 3, 7, 4093, 13, 65537, 5, 131071, 2, 8191 };
	static uint64_t *buf;
	uint64_t off = 0;
	unsigned k = 0;

	if (limit > state_size)
		limit = state_size;
	seeded_init();
	if (!buf && !(buf = malloc(BLOCK_SIZE)))
		die("malloc");
	while (off < limit) {
		uint64_t idx = off / BLOCK_SIZE;
		size_t pos = off % BLOCK_SIZE, n = BLOCK_SIZE - pos;
		seeded_block(idx, buf);
		if (n > limit - off)
			n = limit - off;
		if (bursts && n > sizes[k % 10])
			n = sizes[k % 10];
		if (write_all(fd, (char *)buf + pos, n) < 0)
			return -1;
		off += n;
		if (bursts) {
			k++;
			usleep(2000);
		}
	}
	return 0;
}

/* Hang up the socket half-way through a transfer, the pipe left open:
 * the front-end must notice the socket, not wait for the pipe. */
static void
disconnect_mid(void)
{
	log_line("FAULT disconnect-mid: socket shut down, the pipe stays open");
	shutdown(conn_fd, SHUT_RDWR);
	sleep(30);
	exit(0);
}

/* A transfer with a fault (worker_fault) applied. */
static void
faulty_transfer(void)
{
	static unsigned char buf[4096];
	bool save = worker_dir == VHOST_USER_TRANSFER_STATE_DIRECTION_SAVE;

	worker_result = 0;
	if (strcmp(worker_fault, "save-partial") == 0) {
		write_seeded_pieces(worker_fd, state_size / 2);
		worker_result = 1;
	} else if (strcmp(worker_fault, "save-no-eof") == 0) {
		write_seeded_pieces(worker_fd, state_size);
		/* never closed: the front-end waits for an EOF that never comes */
		log_line("FAULT save-no-eof: %" PRIu64 " bytes written, the pipe stays open", state_size);
		worker_fd = -1;
		return;
	} else if (strcmp(worker_fault, "load-close-early") == 0) {
		ssize_t n;
		while ((n = read(worker_fd, buf, sizeof buf)) < 0 && errno == EINTR)
			;
		log_line("FAULT load-close-early: read end closed after %zd bytes", n);
		worker_result = 1;
	} else if (strcmp(worker_fault, "disconnect-mid") == 0) {
		if (save) {
			write_seeded_pieces(worker_fd, state_size / 2);
		} else {
			uint64_t got = 0;
			ssize_t n;
			while (got < 65536 && (n = read(worker_fd, buf, sizeof buf)) != 0)
				if (n > 0)
					got += n;
		}
		disconnect_mid();
	}
	close(worker_fd);
	worker_fd = -1;
}

/* --backend-burst: N config-change requests on the back-end channel,
 * each with NEED_REPLY; how many got a proper answer. */
static pthread_t burster;
static bool burster_running, burster_started;
static unsigned burst_answered;

static void *
burst(void *arg)
{
	(void)arg;
	for (unsigned i = 0; i < backend_burst; i++) {
		struct vs_vu_header h = { VHOST_USER_BACKEND_CONFIG_CHANGE_MSG,
					  VHOST_USER_VERSION | VHOST_USER_NEED_REPLY_MASK, 0 };
		unsigned char r[VS_VU_HDR_SIZE + 8];
		struct vs_vu_header rh;
		struct pollfd p = { .fd = backend_fd, .events = POLLIN };
		size_t got = 0;
		uint64_t v;

		if (send(backend_fd, &h, sizeof h, MSG_NOSIGNAL) != (ssize_t)sizeof h)
			break;
		while (got < sizeof r && poll(&p, 1, 5000) == 1) {
			ssize_t n = recv(backend_fd, r + got, sizeof r - got, 0);
			if (n <= 0)
				break;
			got += n;
		}
		if (got != sizeof r)
			break;
		memcpy(&rh, r, sizeof rh);
		memcpy(&v, r + VS_VU_HDR_SIZE, 8);
		if (rh.request != h.request || rh.flags != (VHOST_USER_VERSION | VHOST_USER_REPLY_MASK) ||
		    rh.size != 8 || v != 0)
			break;
		burst_answered++;
	}
	log_line("BACKEND_CHANNEL burst: %u of %u answered", burst_answered, backend_burst);
	return NULL;
}

static void *
transfer(void *arg)
{
	static unsigned char buf[1 << 16];
	(void)arg;

	if (worker_fault && !got_nonblocking_fd) {
		faulty_transfer();
		return NULL;
	}

	/* virtiofsd's transfer threads treat EAGAIN as fatal: a front-end
	 * that hands over a non-blocking end must fail, every time. */
	worker_result = got_nonblocking_fd ? 1 : 0;
	if (got_nonblocking_fd) {
		close(worker_fd);
		worker_fd = -1;
		return NULL;
	}
	if (worker_dir == VHOST_USER_TRANSFER_STATE_DIRECTION_SAVE) {
		if (loaded_fd >= 0) {
			uint64_t left = loaded_size;
			lseek(loaded_fd, 0, SEEK_SET);
			while (left) {
				ssize_t n = read(loaded_fd, buf, left < sizeof buf ? left : sizeof buf);
				if (n <= 0 || write_all(worker_fd, buf, n) < 0) {
					worker_result = 1;
					break;
				}
				left -= n;
			}
		} else if ((bursts ? write_seeded_pieces(worker_fd, state_size) : write_seeded(worker_fd, false)) < 0) {
			worker_result = 1;
		}
	} else if (check_load) {
		worker_result = check_seeded(worker_fd, false, "LOAD");
		/* SAVE gives the seeded state from now on */
		if (loaded_fd >= 0)
			close(loaded_fd);
		loaded_fd = -1;
	} else {
		int fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		uint64_t total = 0;
		ssize_t n;
		if (fd < 0)
			die("O_TMPFILE");
		while ((n = read(worker_fd, buf, sizeof buf)) > 0) {
			if (write_all(fd, buf, n) < 0)
				die("spool");
			total += n;
			if (slow_ms)
				usleep(slow_ms * 1000);
		}
		if (n < 0) {
			worker_result = 1;
			close(fd);
		} else {
			if (loaded_fd >= 0)
				close(loaded_fd);
			loaded_fd = fd;
			loaded_size = total;
		}
	}
	close(worker_fd);
	worker_fd = -1;
	return NULL;
}

static void
send_reply(int conn, uint32_t request, const void *payload, uint32_t size, int fd)
{
	struct vs_vu_header h = { request, VHOST_USER_VERSION | VHOST_USER_REPLY_MASK, size };
	unsigned char msg[VS_VU_HDR_SIZE + 64];
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	int extra = -1;
	bool faulty = fault && !fault_done && !transfer_fault(fault) && strcmp(vs_vu_request_name(request), fault_at) == 0;

	if (faulty) {
		fault_done = true;
		if (strcmp(fault, "silent") == 0) {
			pause();
			exit(0);
		}
		if (strcmp(fault, "close") == 0)
			exit(0);
		if (strcmp(fault, "truncated-header") == 0) {
			/* half a header, then hang up */
			if (send(conn, &h, VS_VU_HDR_SIZE / 2, MSG_NOSIGNAL) < 0)
				exit(0);
			usleep(100 * 1000);
			exit(0);
		}

		if (strcmp(fault, "wrong-code") == 0)
			h.request = request + 1;
		else if (strcmp(fault, "wrong-flags") == 0)
			h.flags = 2 | VHOST_USER_REPLY_MASK;
		else if (strcmp(fault, "wrong-size") == 0)
			h.size = size + 4;
		else if (strcmp(fault, "extra-fd") == 0 && fd < 0)
			fd = extra = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	memcpy(msg, &h, VS_VU_HDR_SIZE);
	memcpy(msg + VS_VU_HDR_SIZE, payload, size);
	iov.iov_base = msg;
	iov.iov_len = VS_VU_HDR_SIZE + (h.size > size ? h.size : size);
	if (h.size > size)
		memset(msg + VS_VU_HDR_SIZE + size, 0, h.size - size);
	if (fd >= 0) {
		struct cmsghdr *cm;
		memset(&ctl, 0, sizeof ctl);
		m.msg_control = ctl.buf;
		m.msg_controllen = sizeof ctl.buf;
		cm = CMSG_FIRSTHDR(&m);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof fd);
	}
	if (sendmsg(conn, &m, MSG_NOSIGNAL) < 0)
		exit(0);
	if (extra >= 0)
		close(extra);
}

static void
reply_u64(int conn, uint32_t request, uint64_t v)
{
	send_reply(conn, request, &v, sizeof v, -1);
}

/* rust-vmm vhost 0.13 semantics: acks only once both GETs were seen and
 * REPLY_ACK was acked; a NEED_REPLY before that stays unanswered (and
 * the front-end hangs), which the log records. */
static void
maybe_ack(int conn, const struct vs_vu_header *h, uint64_t v)
{
	if (!(h->flags & VHOST_USER_NEED_REPLY_MASK))
		return;
	if (seen_get_features && seen_get_protocol && (protocol_acked & (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK)))
		reply_u64(conn, h->request, v);
	else
		log_line("QUIRK: NEED_REPLY on %s left unanswered (rust-vmm vhost 0.13: %s)",
			 vs_vu_request_name(h->request),
			 !seen_get_features	 ? "no GET_FEATURES yet"
			 : !seen_get_protocol ? "no GET_PROTOCOL_FEATURES yet"
					      : "REPLY_ACK not acked");
}

/* --strict-features, like DPDK: a bit we did not offer ends the
 * connection.  Returns whether the value passes. */
static bool
strict_ok(uint32_t request, uint64_t v, uint64_t offered)
{
	if (!strict_features || !(v & ~offered))
		return true;
	log_line("STRICT: %s 0x%" PRIx64 " carries bits not offered (0x%" PRIx64 "): disconnecting",
		 vs_vu_request_name(request), v, v & ~offered);
	fprintf(stderr, "fake-backend: received invalid %s 0x%" PRIx64 "\n", vs_vu_request_name(request), v);
	return false;
}

/* Bit 8 of SET_VRING_KICK/CALL/ERR says "no fd": rust-vmm rejects a
 * mismatch either way. */
static bool
vring_fd_ok(uint64_t v, int nfds)
{
	return (v & VHOST_USER_VRING_NOFD_MASK) ? nfds == 0 : nfds == 1;
}

static void
serve(int conn)
{
	for (;;) {
		struct vs_vu_header h;
		unsigned char payload[4096];
		union {
			char buf[CMSG_SPACE(sizeof(int) * 8)];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { &h, VS_VU_HDR_SIZE };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
				    .msg_controllen = sizeof ctl.buf };
		int fds[8], nfds = 0;
		ssize_t n = recvmsg(conn, &m, MSG_WAITALL | MSG_CMSG_CLOEXEC);

		if (n == 0)
			return;
		if (n != VS_VU_HDR_SIZE) {
			fprintf(stderr, "fake-backend: short header\n");
			return;
		}
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm))
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
				nfds = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
				memcpy(fds, CMSG_DATA(cm), nfds * sizeof(int));
			}
		if (h.size > sizeof payload || (h.flags & VHOST_USER_VERSION_MASK) != 1) {
			fprintf(stderr, "fake-backend: bad header (size %u flags 0x%x)\n", h.size, h.flags);
			return;
		}
		if (h.size && recv(conn, payload, h.size, MSG_WAITALL) != (ssize_t)h.size)
			return;
		if (log_file) {
			fprintf(log_file, "%s flags=0x%x size=%u fds=%d\n", vs_vu_request_name(h.request), h.flags,
				h.size, nfds);
			fflush(log_file);
		}

		if (fault_here(h.request, "close-unread")) {
			/* let the front-end's next request arrive, then hang up
			 * with it unread: the front-end gets ECONNRESET */
			usleep(200 * 1000);
			exit(0);
		}

		uint64_t u64 = 0;
		if (h.size >= 8)
			memcpy(&u64, payload, 8);
		switch (h.request) {
		case VHOST_USER_GET_FEATURES:
			seen_get_features = true;
			features_offered = (1ull << VIRTIO_F_VERSION_1) |
					   (offer_protocol ? 1ull << VHOST_USER_F_PROTOCOL_FEATURES : 0) |
					   (strict_features ? (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
								      (1ull << VIRTIO_RING_F_EVENT_IDX)
							    : 0);
			reply_u64(conn, h.request, features_offered);
			break;
		case VHOST_USER_GET_PROTOCOL_FEATURES:
			seen_get_protocol = true;
			protocol_offered =
				(1ull << VHOST_USER_PROTOCOL_F_MQ) | (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) |
				(offer_device_state ? 1ull << VHOST_USER_PROTOCOL_F_DEVICE_STATE : 0) |
				(offer_inflight ? 1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD : 0) |
				(offer_status ? 1ull << VHOST_USER_PROTOCOL_F_STATUS : 0) |
				(backend_burst ? 1ull << VHOST_USER_PROTOCOL_F_BACKEND_REQ : 0) |
				/* DPDK-like: bits nobody here implements */
				(strict_features ? (1ull << VHOST_USER_PROTOCOL_F_RARP) |
							   (1ull << VHOST_USER_PROTOCOL_F_CROSS_ENDIAN) |
							   (1ull << VHOST_USER_PROTOCOL_F_HOST_NOTIFIER)
						 : 0);
			reply_u64(conn, h.request, protocol_offered);
			break;
		case VHOST_USER_SET_PROTOCOL_FEATURES:
			if (!strict_ok(h.request, u64, protocol_offered))
				return;
			protocol_acked = u64;
			maybe_ack(conn, &h, 0);
			break;
		case VHOST_USER_SET_FEATURES:
			if (!strict_ok(h.request, u64, features_offered))
				return;
			maybe_ack(conn, &h, 0);
			break;
		case VHOST_USER_GET_QUEUE_NUM:
			reply_u64(conn, h.request, queues);
			break;
		case VHOST_USER_SET_BACKEND_REQ_FD:
			if (nfds != 1 || !(protocol_acked & (1ull << VHOST_USER_PROTOCOL_F_BACKEND_REQ))) {
				fprintf(stderr, "fake-backend: bad SET_BACKEND_REQ_FD\n");
				return;
			}
			if (backend_fd >= 0)
				close(backend_fd);
			backend_fd = fds[0];
			nfds = 0;
			maybe_ack(conn, &h, 0);
			break;
		case VHOST_USER_SET_MEM_TABLE:
			/* the fds are closed below: nothing here maps memory */
			maybe_ack(conn, &h, 0);
			break;
		case VHOST_USER_SET_VRING_NUM:
		case VHOST_USER_SET_VRING_ADDR:
			maybe_ack(conn, &h, 0);
			break;
		case VHOST_USER_SET_VRING_ENABLE: {
			struct vhost_vring_state st;
			struct pollfd pfd;
			uint64_t kicks;
			memcpy(&st, payload, sizeof st);
			maybe_ack(conn, &h, 0);
			if (!watch_kicks || !st.num || kick_fds[st.index & 0xff] < 0)
				break;
			/* the enable is acked: is the ring kicked now? */
			pfd = (struct pollfd){ .fd = kick_fds[st.index & 0xff], .events = POLLIN };
			if (poll(&pfd, 1, 1000) == 1 && read(pfd.fd, &kicks, sizeof kicks) == sizeof kicks)
				log_line("KICK: ring %u kicked after its enable", st.index);
			else
				log_line("KICK: ring %u not kicked within 1 s of its enable", st.index);
			break;
		}
		case VHOST_USER_SET_VRING_BASE: {
			struct vhost_vring_state st;
			memcpy(&st, payload, sizeof st);
			vring_base[st.index & 0xff] = st.num;
			maybe_ack(conn, &h, 0);
			break;
		}
		case VHOST_USER_GET_VRING_BASE: {
			struct vhost_vring_state st;
			memcpy(&st, payload, sizeof st);
			st.num = vring_base[st.index & 0xff];
			send_reply(conn, h.request, &st, sizeof st, -1);
			break;
		}
		case VHOST_USER_SET_VRING_KICK:
		case VHOST_USER_SET_VRING_CALL:
		case VHOST_USER_SET_VRING_ERR:
			if (!vring_fd_ok(u64, nfds)) {
				fprintf(stderr, "fake-backend: %s: %d fds with 0x%" PRIx64 "\n",
					vs_vu_request_name(h.request), nfds, u64);
				return;
			}
			if (watch_kicks && h.request == VHOST_USER_SET_VRING_KICK && nfds == 1) {
				/* as rust-vmm's vhost-user-backend before 0.22 does with a
				 * ring not yet enabled: a kick already there is read and
				 * dropped (doc/vhost-user.md, R10) */
				uint64_t kicks;
				int k = u64 & 0xff;
				if (kick_fds[k] >= 0)
					close(kick_fds[k]);
				kick_fds[k] = fds[0];
				nfds = 0;
				fcntl(kick_fds[k], F_SETFL, O_NONBLOCK);
				if (read(kick_fds[k], &kicks, sizeof kicks) == sizeof kicks)
					log_line("KICK: ring %d: a kick before its enable, dropped", k);
			}
			maybe_ack(conn, &h, 0);
			break;
		case VHOST_USER_GET_INFLIGHT_FD: {
			struct vhost_user_inflight in;
			if (!offer_inflight)
				goto unhandled;
			memcpy(&in, payload, sizeof in);
			log_line("INFLIGHT: GET_INFLIGHT_FD num_queues=%u queue_size=%u", in.num_queues, in.queue_size);
			if (inflight_fd >= 0)
				close(inflight_fd);
			inflight_fd = memfd_create("fake-inflight", MFD_CLOEXEC);
			if (inflight_fd < 0 || ftruncate(inflight_fd, 4096) < 0)
				die("inflight memfd");
			in.mmap_size = 4096;
			in.mmap_offset = 0;
			send_reply(conn, h.request, &in, sizeof in, inflight_fd);
			break;
		}
		case VHOST_USER_SET_INFLIGHT_FD: {
			struct stat a, b;
			bool same;
			if (!offer_inflight || nfds != 1)
				goto unhandled;
			same = inflight_fd >= 0 && fstat(fds[0], &a) == 0 && fstat(inflight_fd, &b) == 0 &&
			       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
			log_line("INFLIGHT: SET_INFLIGHT_FD carries %s", same ? "the area GET_INFLIGHT_FD gave"
									      : "another area");
			maybe_ack(conn, &h, same ? 0 : 1);
			break;
		}
		case VHOST_USER_GET_STATUS:
			if (!offer_status)
				goto unhandled;
			reply_u64(conn, h.request, dev_status);
			break;
		case VHOST_USER_SET_STATUS:
			if (!offer_status)
				goto unhandled;
			log_line("STATUS: 0x%" PRIx64, u64);
			dev_status = u64;
			maybe_ack(conn, &h, 0);
			break;
		case VHOST_USER_SET_OWNER:
			maybe_ack(conn, &h, 0);
			break;
		case VHOST_USER_SET_DEVICE_STATE_FD: {
			struct vs_vu_transfer_device_state t;
			if (nfds != 1 || h.size != sizeof t) {
				fprintf(stderr, "fake-backend: bad SET_DEVICE_STATE_FD\n");
				return;
			}
			memcpy(&t, payload, sizeof t);
			/* virtiofsd and passt hang up on anything else */
			if (t.direction > VHOST_USER_TRANSFER_STATE_DIRECTION_LOAD ||
			    t.phase != VHOST_USER_TRANSFER_STATE_PHASE_STOPPED) {
				fprintf(stderr, "fake-backend: bad direction %u / phase %u\n", t.direction, t.phase);
				return;
			}
			got_nonblocking_fd = fcntl(fds[0], F_GETFL) & O_NONBLOCK;
			if (got_nonblocking_fd)
				fprintf(stderr, "fake-backend: the front-end handed over a non-blocking fd\n");
			if (worker_running) {
				pthread_join(worker, NULL);
				worker_running = false;
			}
			worker_fd = fds[0];
			worker_dir = t.direction;
			nfds = 0;
			if (fault_here(h.request, "reject")) {
				close(worker_fd);
				worker_fd = -1;
				worker_result = 1;
				reply_u64(conn, h.request, VHOST_USER_VRING_NOFD_MASK | 1);
				break;
			}
			worker_fault = NULL;
			if (fault && !fault_done &&
			    (strcmp(fault, "disconnect-mid") == 0 ||
			     (t.direction == VHOST_USER_TRANSFER_STATE_DIRECTION_SAVE &&
			      (strcmp(fault, "save-partial") == 0 || strcmp(fault, "save-no-eof") == 0)) ||
			     (t.direction == VHOST_USER_TRANSFER_STATE_DIRECTION_LOAD &&
			      strcmp(fault, "load-close-early") == 0))) {
				worker_fault = fault;
				fault_done = true;
			}
			if (backend_burst && backend_fd >= 0 && !burster_started) {
				if (pthread_create(&burster, NULL, burst, NULL) != 0)
					die("pthread_create");
				burster_running = burster_started = true;
			}
			bool own = fault_here(h.request, "own-fd"), wrong = !own && fault_here(h.request, "wrong-end-fd");
			if (own || wrong) {
				/* Our own channel instead of the front-end's. */
				int p[2];
				bool save = t.direction == VHOST_USER_TRANSFER_STATE_DIRECTION_SAVE;
				uint64_t zero = 0;
				if (pipe2(p, O_CLOEXEC) < 0)
					die("pipe");
				close(worker_fd);
				int give = (save != wrong) ? p[0] : p[1], keep = give == p[0] ? p[1] : p[0];
				worker_fd = keep;
				got_nonblocking_fd = false;
				send_reply(conn, h.request, &zero, sizeof zero, give);
				close(give);
			} else {
				reply_u64(conn, h.request, VHOST_USER_VRING_NOFD_MASK);
			}
			if (pthread_create(&worker, NULL, transfer, NULL) != 0)
				die("pthread_create");
			worker_running = true;
			break;
		}
		case VHOST_USER_CHECK_DEVICE_STATE:
			if (worker_running) {
				pthread_join(worker, NULL);
				worker_running = false;
			}
			if (burster_running) {
				pthread_join(burster, NULL);
				burster_running = false;
				if (burst_answered != backend_burst)
					worker_result = 1;
			}
			reply_u64(conn, h.request, check_result_set ? check_result : worker_result);
			break;
		default:
		unhandled:
			/* Like most real back-ends: an unknown request ends it. */
			fprintf(stderr, "fake-backend: unhandled request %s\n", vs_vu_request_name(h.request));
			return;
		}
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
	}
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "log", required_argument, NULL, 'l' },
		{ "state-size", required_argument, NULL, 'n' },
		{ "seed", required_argument, NULL, 'S' },
		{ "no-device-state", no_argument, NULL, 'D' },
		{ "no-protocol-features", no_argument, NULL, 'P' },
		{ "fault", required_argument, NULL, 'F' },
		{ "at", required_argument, NULL, 'a' },
		{ "emit", no_argument, NULL, 'E' },
		{ "slow-ms", required_argument, NULL, 'W' },
		{ "check-load", no_argument, NULL, 'C' },
		{ "absorb", no_argument, NULL, 'A' },
		{ "framed", no_argument, NULL, 'f' },
		{ "check-result", required_argument, NULL, 'R' },
		{ "strict-features", no_argument, NULL, 'T' },
		{ "bursts", no_argument, NULL, 'B' },
		{ "backend-burst", required_argument, NULL, 'b' },
		{ "queues", required_argument, NULL, 'q' },
		{ "inflight", no_argument, NULL, 'I' },
		{ "status", no_argument, NULL, 'U' },
		{ "compressible", no_argument, NULL, 'c' },
		{ "piece", required_argument, NULL, 'p' },
		{ "watch-kicks", no_argument, NULL, 'K' },
		{ 0 }
	};
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = NULL;
	bool emit = false, absorb = false, framed = false;
	int c, lfd, conn;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': path = optarg; break;
		case 'l':
			log_file = fopen(optarg, "we");
			if (!log_file)
				die(optarg);
			break;
		case 'n': state_size = strtoull(optarg, NULL, 0); break;
		case 'S': seed = strtoull(optarg, NULL, 0); break;
		case 'D': offer_device_state = false; break;
		case 'P': offer_protocol = false; break;
		case 'F': fault = optarg; break;
		case 'a': fault_at = optarg; break;
		case 'E': emit = true; break;
		case 'W': slow_ms = strtoul(optarg, NULL, 0); break;
		case 'C': check_load = true; break;
		case 'A': absorb = true; break;
		case 'f': framed = true; break;
		case 'R':
			check_result = strtoull(optarg, NULL, 0);
			check_result_set = true;
			break;
		case 'T': strict_features = true; break;
		case 'B': bursts = true; break;
		case 'b': backend_burst = strtoul(optarg, NULL, 0); break;
		case 'q': queues = strtoul(optarg, NULL, 0); break;
		case 'I': offer_inflight = true; break;
		case 'U': offer_status = true; break;
		case 'c': compressible = true; break;
		case 'p': piece = strtoul(optarg, NULL, 0); break;
		case 'K': watch_kicks = true; break;
		default:
			fprintf(stderr, "usage: fake-backend --socket PATH [options]\n");
			return 2;
		}
	}
	if (emit) {
		if (!piece)
			grow_pipe(STDOUT_FILENO);
		return write_seeded(STDOUT_FILENO, framed) < 0 ? 1 : 0;
	}
	if (absorb) {
		grow_pipe(STDIN_FILENO);
		return check_seeded(STDIN_FILENO, framed, "stdin");
	}
	if (!path || strlen(path) >= sizeof sa.sun_path) {
		fprintf(stderr, "fake-backend: --socket PATH is required\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	strcpy(sa.sun_path, path);
	unlink(path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 1) < 0)
		die(path);
	/* One front-end, like virtiofsd. */
	conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (conn < 0)
		die("accept");
	close(lfd);
	unlink(path);
	conn_fd = conn;
	serve(conn);
	if (worker_running)
		pthread_join(worker, NULL);
	if (burster_running)
		pthread_join(burster, NULL);
	return 0;
}
