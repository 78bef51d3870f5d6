/* libFuzzer target: the QEMU migration-file walker (qemu-file.h).  Each
 * input is a migration file as `extract`, `inject` and `inspect` would
 * be given it; it goes through
 *   1. vs_qemu_file_open from a memfd path (what the commands do), then
 *      vs_qemu_file_json (inspect, extract --list) and
 *      vs_qemu_file_choose (extract --device);
 *   2. for each state found: vs_qemu_file_copy_state (extract), whose
 *      output must be the bytes the walker located and must read, through
 *      vs_state_input_open, as the raw stream the walker described
 *      (payload, chunks, sha256);
 *   3. vs_qemu_file_open_fd under a tight --max-size: whatever it accepts
 *      the unlimited walk accepts with the same states, and the caller's
 *      fd stays open;
 *   4. vs_qemu_file_inject of an idle state into the first one found,
 *      then the output walked again (inject's own check).
 * The inputs include mapped-ram files (with and without a description)
 * and libvirt save images, raw, sparse and compressed (gen-seeds.py); for
 * a compressed image the offsets are the decompressed stream's, which the
 * walker reads from its spool (q->fd, q->size).
 * Beyond "no crash, no leak", a failure must carry exit class 65. */
#include <config.h>

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "error.h"
#include "fuzz-common.h"
#include "input.h"
#include "output.h"
#include "qemu-file.h"
#include "sink.h"

#define TIGHT_MAX 64

/* virtiofsd 1.13's idle state as QEMU frames it: what inject puts in. */
static const unsigned char idle[] = { 0, 0, 0, 10, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };

/* Pass 2: extract state i, and read it back as a state. */
static void
extract(struct vs_qemu_file *q, size_t i)
{
	const struct vs_qemu_state *st = &q->states[i];
	uint64_t size = q->size;
	unsigned char p[262] = { 0 };
	/* the walker counts no chunk limit: neither does this reader */
	struct vs_chunk_limits lim = { .max_chunk = UINT32_MAX, .max_total = size };
	struct vs_state_input in;
	struct vs_sink sink;
	char path[64];
	int fd = vs_fuzz_memfd(NULL, 0, path, sizeof path);

	vs_fuzz_fail_if(st->offset > size || st->length > size - st->offset, "a state outside the file");
	vs_fuzz_fail_if(pread(q->fd, p, st->length < sizeof p ? st->length : sizeof p, (off_t)st->offset) < 0,
			"the walked file cannot be read");
	vs_fuzz_fail_if(st->length != st->payload + 4 * (st->chunks + 1), "a state's length != payload + 4 per chunk");
	vs_sink_fd_init(&sink, fd, "extract");
	vs_error_clear();
	vs_fuzz_fail_if(vs_qemu_file_copy_state(q, i, &sink) < 0, "copy_state of a state found failed");
	vs_fuzz_fail_if(lseek(fd, 0, SEEK_CUR) != (off_t)st->length, "copy_state wrote another size than the state's");

	memset(&in, 0, sizeof in);
	in.want_digest = true;
	in.timeout_ms = VS_FUZZ_TIMEOUT_MS;
	if (vs_state_input_open(&in, path, &lim) < 0) {
		/* only the first bytes decide the format: a raw stream whose
		 * first chunk looks like zstd, tar or QEVM goes elsewhere */
		vs_fuzz_fail_if(st->length < 4 || (memcmp(p, "\x28\xb5\x2f\xfd", 4) != 0 && memcmp(p, "QEVM", 4) != 0 &&
					   !(st->length >= 262 && memcmp(p + 257, "ustar", 5) == 0)),
			"an extracted state does not read as a raw stream");
		close(fd);
		return;
	}
	close(fd);
	vs_fuzz_fail_if(in.format != VS_FORMAT_RAW || in.payload != st->payload || in.chunks != st->chunks ||
			in.stream_bytes != st->length || strcmp(in.sha256, st->sha256) != 0,
		"the state input reader and the migration-file walker disagree on a state");
	vs_state_input_close(&in);
}

/* Pass 3. */
static void
tight(const struct vs_qemu_file *q, bool ok, const uint8_t *data, size_t size)
{
	struct vs_qemu_file t;
	int fd = vs_fuzz_memfd(data, size, NULL, 0);

	vs_error_clear();
	if (vs_qemu_file_open_fd(&t, fd, "tight", TIGHT_MAX) < 0) {
		vs_fuzz_check_error(true, "a malformed migration file");
		vs_fuzz_fail_if(fcntl(fd, F_GETFD) < 0, "a failed open_fd closed the caller's fd");
		close(fd);
		return;
	}
	vs_fuzz_fail_if(!ok, "a file refused without a size limit is accepted with one");
	vs_fuzz_fail_if(t.nstates != q->nstates || t.nsections != q->nsections, "a size limit changed the walk");
	for (size_t i = 0; i < t.nstates; i++)
		vs_fuzz_fail_if(t.states[i].payload > TIGHT_MAX || t.states[i].offset != q->states[i].offset ||
				strcmp(t.states[i].sha256, q->states[i].sha256) != 0,
			"a size limit changed a state");
	vs_qemu_file_close(&t);
	vs_fuzz_fail_if(fcntl(fd, F_GETFD) < 0, "vs_qemu_file_close closed the caller's fd");
	close(fd);
}

struct feed {
	size_t off;
};

static ssize_t
feed_idle(void *ctx, void *buf, size_t len)
{
	struct feed *f = ctx;
	size_t n = sizeof idle - f->off < len ? sizeof idle - f->off : len;

	memcpy(buf, idle + f->off, n);
	f->off += n;
	return (ssize_t)n;
}

/* Pass 4: last, since inject rewrites q's description in memory. */
static void
inject(struct vs_qemu_file *q)
{
	struct vs_qemu_file again;
	struct feed f = { 0 };
	enum vs_payload_kind kind = q->states[0].kind;
	size_t nstates = q->nstates;
	int fd = vs_fuzz_memfd(NULL, 0, NULL, 0);
	/* a direct output: no temp file, no writeback thread */
	struct vs_output out = { .fd = fd, .name = "injected", .cleanup_slot = -1 };

	vs_error_clear();
	vs_fuzz_fail_if(vs_qemu_file_inject(q, 0, feed_idle, &f, sizeof idle, &out) < 0,
		"inject into a state found failed");
	vs_error_clear();
	if (vs_qemu_file_open_fd(&again, fd, "injected", 0) < 0) {
		/* a net state is found by pattern inside an opaque field: a
		 * lookalike the new length makes valid is refused, not fatal */
		vs_fuzz_fail_if(kind != VS_KIND_NET, "the output of inject does not walk");
		vs_fuzz_check_error(true, "a malformed migration file");
		close(fd);
		return;
	}
	vs_fuzz_fail_if(again.nstates != nstates || again.states[0].payload != 10 || again.states[0].chunks != 1 ||
			again.states[0].length != sizeof idle,
		"the output of inject does not hold the injected state");
	vs_qemu_file_close(&again);
	close(fd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fds = vs_fuzz_count_fds();
	struct vs_qemu_file q;
	struct json_object *doc;
	char path[64], id[16];
	size_t i;
	bool ok;
	int fd = vs_fuzz_memfd(data, size, path, sizeof path);

	vs_error_clear();
	ok = vs_qemu_file_open(&q, path, 0, VS_FUZZ_TIMEOUT_MS) == 0;
	close(fd);
	if (!ok)
		vs_fuzz_check_error(true, "a malformed migration file");
	tight(&q, ok, data, size);
	if (!ok) {
		vs_fuzz_check_fds(fds, "after the input");
		return 0;
	}
	vs_fuzz_fail_if(q.desc_offset > q.size || q.eof_offset >= q.desc_offset || (!q.compressed && q.size != size),
			"the walk ended outside the file");

	doc = vs_qemu_file_json(&q);
	vs_fuzz_fail_if(!doc || !json_object_to_json_string(doc), "vs_qemu_file_json");
	json_object_put(doc);

	vs_error_clear();
	if (q.nstates == 1)
		vs_fuzz_fail_if(vs_qemu_file_choose(&q, NULL, &i) < 0 || i != 0, "the only state is not chosen by default");
	else
		vs_fuzz_fail_if(vs_qemu_file_choose(&q, NULL, &i) == 0, "a default chosen among none or several states");
	for (size_t k = 0; k < q.nstates; k++) {
		snprintf(id, sizeof id, "%zu", k + 1);
		vs_fuzz_fail_if(vs_qemu_file_choose(&q, id, &i) < 0 || i != k, "a state not chosen by its number");
		/* names can repeat across instances: only no crash */
		vs_qemu_file_choose(&q, q.states[k].device, &i);
		extract(&q, k);
	}
	if (q.nstates)
		inject(&q);
	vs_qemu_file_close(&q);
	vs_fuzz_check_fds(fds, "after the input");
	return 0;
}
