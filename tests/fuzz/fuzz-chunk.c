/* libFuzzer target: the raw state stream reader.  Each input is a stream
 * as it would sit in a file; it goes through
 *   1. vs_chunk_reader over a memfd, with odd read sizes, under the
 *      normal limits and again under tight ones;
 *   2. vs_state_input_open + rewind + full read (twice) + load, from a
 *      memfd (seekable);
 *   3. the same from a pipe (non-seekable: spooled, then replayed);
 *   4. vs_chunk_span over a memfd, the zero-copy path of a restore.
 * Beyond "no crash, no leak", the passes must agree with each other:
 * the same verdict and the same payload bytes, and a failure always
 * carries exit class 65 for a raw stream. */
#include <config.h>

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "chunk.h"
#include "error.h"
#include "fuzz-common.h"
#include "input.h"

/* Small limits keep each input cheap; the tight ones make the limit
 * checks reachable with inputs of a few hundred bytes. */
static const struct vs_chunk_limits normal_lim = { .max_chunk = 1u << 20, .max_total = 4u << 20 };
static const struct vs_chunk_limits tight_lim = { .max_chunk = 64, .max_total = 256 };

struct outcome {
	bool ok;
	uint64_t payload, chunks, stream_bytes;
	uint32_t max_chunk;
	char msg[sizeof ((struct vs_error *)NULL)->msg]; /* the error, without the source name */
};

/* The message names the source, which differs from pass to pass. */
static void
keep_error(struct outcome *o, const char *path)
{
	const char *m = vs_error_get()->msg;
	size_t n = strlen(path);

	if (strncmp(m, path, n) == 0 && strncmp(m + n, ": ", 2) == 0)
		m += n + 2;
	snprintf(o->msg, sizeof o->msg, "%s", m);
}

/* Whether vs_state_input_open reads the bytes as a raw stream, not as
 * zstd, tar or a QEMU migration file (mirrors detect() in input.c;
 * read_input checks that the two agree). */
static bool
is_raw(const uint8_t *data, size_t size)
{
	/* what input.c names instead of reading it as a stream: zstd, other
	 * compressors (gzip, xz, bzip2, lz4), migration files and libvirt
	 * save images */
	static const struct {
		const char *magic;
		size_t len;
	} other[] = { { "\x28\xb5\x2f\xfd", 4 }, { "QEVM", 4 },	   { "\x1f\x8b", 2 },
		      { "\xfd" "7zXZ\0", 6 },	     { "BZh", 3 },	   { "\x04\x22\x4d\x18", 4 },
		      { "LibvirtQemudSave", 16 },    { "LibvirtQemudPart", 16 } };

	for (size_t i = 0; i < sizeof other / sizeof *other; i++)
		if (size >= other[i].len && memcmp(data, other[i].magic, other[i].len) == 0)
			return false;
	/* a zstd skippable frame (pzstd writes one first): 5? 2a 4d 18 */
	if (size >= 4 && (data[0] & 0xf0) == 0x50 && memcmp(data + 1, "\x2a\x4d\x18", 3) == 0)
		return false;
	return !(size >= 262 && memcmp(data + 257, "ustar", 5) == 0);
}

/* Read the whole payload in odd pieces; with compare, it must be a
 * prefix of expect.  Returns true if the stream ended properly. */
static bool
drain(struct vs_chunk_reader *r, const unsigned char *expect, uint64_t expect_len, bool compare)
{
	static const size_t sizes[] = { 1, 3, 4096, 2, 7, 65536, 5, 1u << 20 };
	static unsigned char buf[1u << 20];
	unsigned k = 0;
	ssize_t n;

	while ((n = vs_chunk_read(r, buf, sizes[k++ % 8])) > 0) {
		vs_fuzz_fail_if((uint64_t)n > r->payload, "more bytes returned than the payload counted");
		if (compare) {
			uint64_t off = r->payload - n;
			vs_fuzz_fail_if(r->payload > expect_len || memcmp(buf, expect + off, n) != 0,
				"two readers of the same bytes disagree on the payload");
		}
	}
	if (n < 0)
		return false;
	/* The end is sticky. */
	vs_fuzz_fail_if(vs_chunk_read(r, buf, 1) != 0, "a read after the terminator returned data");
	return vs_chunk_reader_expect_eof(r) == 0;
}

/* Pass 1: the chunk reader alone; the payload is kept in *payload. */
static struct outcome
read_chunks(const uint8_t *data, size_t size, const struct vs_chunk_limits *lim, unsigned char *payload)
{
	static const size_t sizes[] = { 1, 3, 4096, 2, 7, 65536, 5 };
	struct outcome o = { 0 };
	struct vs_source s;
	struct vs_chunk_reader r;
	char path[64];
	unsigned k = 0;
	ssize_t n;
	int fd = vs_fuzz_memfd(data, size, path, sizeof path);

	vs_error_clear();
	vs_fuzz_fail_if(vs_source_open(&s, path, VS_FUZZ_TIMEOUT_MS) < 0, "opening a memfd failed");
	close(fd);
	vs_chunk_reader_init(&r, &s, lim);
	/* The payload is never larger than the input that carries it. */
	while ((n = vs_chunk_read(&r, payload + r.payload, sizes[k++ % 7])) > 0)
		vs_fuzz_fail_if(r.payload > size, "the payload grew larger than the input");
	o.ok = n == 0 && vs_chunk_read(&r, payload, 1) == 0 && vs_chunk_reader_expect_eof(&r) == 0;
	if (!o.ok) {
		vs_fuzz_check_error(true, "a malformed raw stream");
		keep_error(&o, path);
	}
	o.payload = r.payload;
	o.chunks = r.chunks;
	o.stream_bytes = r.offset;
	o.max_chunk = r.max_chunk;
	vs_source_close(&s);
	if (o.ok) {
		vs_fuzz_fail_if(o.stream_bytes != size, "a stream accepted without reading all of it");
		vs_fuzz_fail_if(o.stream_bytes != o.payload + 4 * (o.chunks + 1), "offset != payload + 4 per chunk");
		vs_fuzz_fail_if(o.payload > lim->max_total || o.max_chunk > lim->max_chunk, "a limit was exceeded");
	}
	return o;
}

/* Pass 4: what a restore splices.  The span reader trusts a file that
 * was checked whole before, so only a stream pass 1 accepted must come
 * out exactly; any other input must merely not crash it. */
static void
span_chunks(const uint8_t *data, size_t size, const struct outcome *o1, const unsigned char *payload)
{
	static const size_t sizes[] = { 1, 3, 4096, 2, 7, 65536, 5 };
	struct vs_source s;
	struct vs_chunk_reader r;
	char path[64];
	ssize_t left;
	int fd = vs_fuzz_memfd(data, size, path, sizeof path);

	vs_error_clear();
	vs_fuzz_fail_if(vs_source_open(&s, path, VS_FUZZ_TIMEOUT_MS) < 0, "opening a memfd failed");
	close(fd);
	vs_chunk_reader_init(&r, &s, &normal_lim);
	vs_fuzz_fail_if(!vs_chunk_reader_can_span(&r), "a fresh reader over a memfd cannot span");
	for (unsigned k = 0;; k++) {
		uint64_t at;
		size_t n;

		left = vs_chunk_span(&r, &at);
		if (left <= 0)
			break;
		n = (size_t)left < sizes[k % 7] ? (size_t)left : sizes[k % 7];
		/* As splice would: the file may end inside the chunk. */
		if (at >= size)
			break;
		if (n > size - at)
			n = size - at;
		vs_fuzz_fail_if(o1->ok && memcmp(data + at, payload + r.payload, n) != 0,
			"the span reader points at other bytes than the payload");
		vs_chunk_spanned(&r, n);
	}
	if (left < 0)
		vs_fuzz_check_error(true, "a malformed raw stream");
	if (o1->ok)
		vs_fuzz_fail_if(left != 0 || r.payload != o1->payload || r.chunks != o1->chunks || r.offset != size,
			"the span reader disagrees with the chunk reader on an accepted stream");
	vs_source_close(&s);
}

/* The payload in one piece, as inspect and diff take it. */
static void
load_whole(struct vs_state_input *in, bool raw, const unsigned char *expect, uint64_t expect_len)
{
	unsigned char *buf;
	size_t len;

	vs_fuzz_fail_if(vs_state_input_load(in, VS_DECODE_MAX, &buf, &len) != 0, "loading a checked input failed");
	vs_fuzz_fail_if(len != in->payload || (raw && (len != expect_len || memcmp(buf, expect, len) != 0)),
		"the loaded payload differs from the one read");
	free(buf);
}

/* Passes 2 and 3: check the whole input, then replay it. */
static struct outcome
read_input(const char *path, bool raw, const unsigned char *expect, uint64_t expect_len)
{
	struct vs_state_input in;
	struct vs_chunk_reader r;
	struct outcome o = { 0 };

	vs_error_clear();
	memset(&in, 0, sizeof in);
	in.timeout_ms = VS_FUZZ_TIMEOUT_MS;
	if (vs_state_input_open(&in, path, &normal_lim) < 0) {
		vs_fuzz_check_error(raw, "a malformed raw stream");
		keep_error(&o, path);
		return o;
	}
	vs_fuzz_fail_if(raw != (in.format == VS_FORMAT_RAW), "is_raw() and input.c disagree on the format");
	/* Twice: what was checked is what gets replayed, every time. */
	for (int pass = 0; pass < 2; pass++) {
		vs_fuzz_fail_if(vs_state_input_rewind(&in, &r) < 0, "rewind after a successful open failed");
		vs_fuzz_fail_if(!drain(&r, expect, expect_len, raw), "the replay of a checked input failed");
		vs_fuzz_fail_if(r.payload != in.payload || r.chunks != in.chunks || r.offset != in.stream_bytes,
			"the replay differs from what the check counted");
	}
	load_whole(&in, raw, expect, expect_len);
	o.ok = true;
	o.payload = in.payload;
	o.chunks = in.chunks;
	o.stream_bytes = in.stream_bytes;
	vs_state_input_close(&in);
	return o;
}

/* Readers of the same raw stream: the same verdict, counts and error. */
static void
same(const struct outcome *a, const struct outcome *b, const char *what)
{
	if (a->ok != b->ok || (a->ok && (a->payload != b->payload || a->chunks != b->chunks ||
					 a->stream_bytes != b->stream_bytes)) ||
	    (!a->ok && strcmp(a->msg, b->msg) != 0)) {
		fprintf(stderr, "fuzz-chunk: %s: ok %d/%d payload %llu/%llu chunks %llu/%llu\n"
			"fuzz-chunk:   \"%s\"\nfuzz-chunk:   \"%s\"\n", what, a->ok, b->ok,
			(unsigned long long)a->payload, (unsigned long long)b->payload,
			(unsigned long long)a->chunks, (unsigned long long)b->chunks, a->msg, b->msg);
		vs_fuzz_fail_if(true, "readers of the same raw stream disagree");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fds = vs_fuzz_count_fds();
	/* Two payload buffers: a payload never exceeds its input. */
	unsigned char *payload = malloc(2 * size + 1);
	struct outcome o1, tight, o2;
	bool raw = is_raw(data, size);
	char path[64];
	int fd, p[2];

	vs_fuzz_fail_if(!payload, "out of memory");
	o1 = read_chunks(data, size, &normal_lim, payload);

	/* Tight limits: the same verdict unless a limit is what fails it. */
	tight = read_chunks(data, size, &tight_lim, payload + size);
	if (o1.ok)
		vs_fuzz_fail_if(tight.ok != (o1.payload <= tight_lim.max_total && o1.max_chunk <= tight_lim.max_chunk),
			"tight limits accept what they should refuse, or the reverse");
	else
		vs_fuzz_fail_if(tight.ok, "tight limits accept what normal limits refuse");

	span_chunks(data, size, &o1, payload);

	fd = vs_fuzz_memfd(data, size, path, sizeof path);
	o2 = read_input(path, raw, payload, o1.payload);
	close(fd);
	/* an empty input is called empty by the input reader, by design;
	 * the chunk reader only sees a stream without its terminator */
	if (raw && size == 0)
		vs_fuzz_fail_if(o2.ok || o1.ok, "an empty input accepted");
	else if (raw)
		same(&o1, &o2, "chunk reader vs input from a memfd");

	/* A pipe holds the whole input, so no writer thread is needed. */
	vs_fuzz_fail_if(pipe2(p, O_CLOEXEC) < 0, "pipe");
	if (size <= 65536 || fcntl(p[1], F_SETPIPE_SZ, (int)size) >= (int)size) {
		vs_fuzz_fail_if(size && write(p[1], data, size) != (ssize_t)size, "pipe write");
		close(p[1]);
		snprintf(path, sizeof path, "/proc/self/fd/%d", p[0]);
		o2 = read_input(path, raw, payload, o1.payload);
		if (raw && size == 0)
			vs_fuzz_fail_if(o2.ok || o1.ok, "an empty input accepted");
		else if (raw)
			same(&o1, &o2, "chunk reader vs input from a pipe");
	} else {
		close(p[1]);
	}
	close(p[0]);

	free(payload);
	vs_fuzz_check_fds(fds, "after the input");
	return 0;
}
