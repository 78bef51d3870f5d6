/* Fast libFuzzer target: the raw stream's chunk reader on memory.  Each
 * input is a stream; a first byte chooses how the source hands the bytes
 * out (all at once or in small pieces).  The reader runs under normal and
 * tight limits; both must agree with a model of the format on the
 * verdict and, for the accepted prefix, on the payload. */
#include <config.h>

#include <stdbool.h>
#include <string.h>

#include "chunk.h"
#include "error.h"
#include "fuzz-common.h"

static const struct vs_chunk_limits normal_lim = { .max_chunk = 1u << 20, .max_total = 4u << 20 };
static const struct vs_chunk_limits tight_lim = { .max_chunk = 64, .max_total = 256 };

/* The format, independently: whether the stream is well formed within
 * lim, and its payload size. */
static bool
model(const uint8_t *p, size_t n, const struct vs_chunk_limits *lim, uint64_t *payload)
{
	size_t off = 0;

	*payload = 0;
	for (;;) {
		uint32_t len;
		if (n - off < 4)
			return false;
		len = (uint32_t)p[off] << 24 | (uint32_t)p[off + 1] << 16 | (uint32_t)p[off + 2] << 8 | p[off + 3];
		off += 4;
		if (len == 0)
			return off == n;
		if (len > lim->max_chunk || len > lim->max_total - *payload || n - off < len)
			return false;
		*payload += len;
		off += len;
	}
}

static void
run(const uint8_t *data, size_t size, size_t step, const struct vs_chunk_limits *lim)
{
	static unsigned char buf[4096];
	static const size_t sizes[] = { 1, 3, 4096, 2, 7, 64, 5 };
	struct vs_fuzz_mem m;
	struct vs_source src;
	struct vs_chunk_reader r;
	uint64_t want, got = 0;
	bool ok, good = model(data, size, lim, &want);
	unsigned k = 0;
	ssize_t n;

	vs_fuzz_mem_source(&src, &m, data, size, step);
	vs_chunk_reader_init(&r, &src, lim);
	vs_error_clear();
	while ((n = vs_chunk_read(&r, buf, sizes[k++ % 7])) > 0) {
		got += n;
		vs_fuzz_fail_if(got != r.payload, "the bytes returned and the payload counted differ");
		vs_fuzz_fail_if(got > lim->max_total, "more payload than --max-size let through");
	}
	ok = n == 0 && vs_chunk_reader_expect_eof(&r) == 0;
	vs_fuzz_fail_if(ok != good, ok ? "the reader accepted a malformed stream" : "the reader refused a good stream");
	if (ok)
		vs_fuzz_fail_if(got != want, "the payload size differs from the model's");
	else
		vs_fuzz_check_error(true, "a malformed stream");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t step;

	if (size < 1)
		return 0;
	step = data[0] & 0x80 ? (data[0] & 0x7f) + 1 : 0;
	run(data + 1, size - 1, step, &normal_lim);
	run(data + 1, size - 1, step, &tight_lim);
	return 0;
}
