/* Fast libFuzzer target: the .vhsnap container and its manifest, on
 * memory.  The first byte chooses:
 *   even: vs_manifest_parse on the rest, as if it were manifest.json;
 *         what it accepts must survive vs_manifest_to_json and a second
 *         parse unchanged;
 *   odd:  vs_container_open over a memory source (tar through libarchive,
 *         the members and the manifest checked), then the state member
 *         read to its end and vs_container_finish; bit 7: the source
 *         hands out 512 bytes at a time.
 * A failure must carry exit class 65: only the bytes can be at fault.
 *
 * zstd input costs libzstd's window (2 MiB and more per frame, which ASan
 * maps and unmaps each time): a tenth of the speed.  So this target
 * leaves inputs that open with a zstd frame to fuzz-container-zstd-fast,
 * this file built with VS_FUZZ_ZSTD, which puts the zstd magic in front
 * of every container it reads, keeps one decoder for all of them
 * (vs_container_open_with) and keeps its buffers small (clamp_window
 * below). */
#include <config.h>

#include <json.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "container.h"
#include "error.h"
#include "fuzz-common.h"
#include "manifest.h"

#ifndef VS_FUZZ_ZSTD
static void
manifest(const uint8_t *data, size_t size)
{
	struct vs_manifest m, again;
	struct json_object *doc;
	const char *text;

	vs_error_clear();
	if (vs_manifest_parse(&m, (const char *)data, size, "manifest") < 0) {
		vs_fuzz_check_error(true, "a malformed manifest");
		return;
	}
	doc = vs_manifest_to_json(&m);
	text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN);
	vs_fuzz_fail_if(vs_manifest_parse(&again, text, strlen(text), "again") < 0,
			"a manifest written from an accepted one is refused");
	vs_fuzz_fail_if(again.payload_size != m.payload_size || again.chunks != m.chunks ||
				again.created != m.created || strcmp(again.sha256, m.sha256) != 0 ||
				strcmp(again.kind, m.kind) != 0,
			"a manifest changed through to_json and parse");
	json_object_put(doc);
	vs_manifest_free(&again);
	vs_manifest_free(&m);
}
#endif

static void
container(const uint8_t *data, size_t size, size_t step, ZSTD_DCtx *dctx)
{
	static unsigned char buf[65536];
	struct vs_container_reader r;
	struct vs_source base, state;
	struct vs_fuzz_mem m;
	uint64_t got = 0;
	ssize_t n;

	vs_fuzz_mem_source(&base, &m, data, size, step);
	vs_error_clear();
	if (vs_container_open_with(&r, &base, dctx) < 0) {
		vs_fuzz_check_error(true, "a malformed container");
		vs_container_close(&r);
		return;
	}
	memset(&state, 0, sizeof state);
	state.ctx = &r;
	while ((n = vs_container_read(&state, buf, sizeof buf)) > 0)
		got += n;
	if (n == 0 && r.is_tar)
		vs_fuzz_fail_if(got != r.state_size, "the state member gave another size than its header says");
	if (n < 0 || vs_container_finish(&r) < 0)
		vs_fuzz_check_error(true, "a malformed container");
	vs_container_close(&r);
}

#ifdef VS_FUZZ_ZSTD
/* The largest window a frame header may ask of the decoder here (2^n
 * bytes).  A decoder's buffers hold the window plus two blocks of output
 * and a block of input (blocks are at most the window, up to 128 KiB):
 * 2.4 MiB for what vhost-state writes (a 2 MiB window), up to 128 MiB as
 * a header asks.  The decoder kept across inputs keeps them while they
 * are big enough, but mutated headers ask for every size, so they are
 * made again and again; under ASan a buffer past 128 KiB is mmapped, its
 * shadow poisoned, then unmapped with a TLB flush (a quarter of the
 * speed without this cap, measured).  At 2^14 the buffer (64 KiB) stays
 * in ASan's size classes.  What the decoder does does not depend on the
 * window but through which offsets and block sizes are valid, and the
 * seeds are written with this window (gen-fast-seeds.py), so it changes
 * nothing for them: a Window_Descriptor asking for more (up to the
 * reader's limit, VS_ZSTD_WINDOW_LOG_MAX; above it the frame is refused
 * before any allocation and is left as it is) is rewritten to ask for
 * this much, and a match reaching further back or a bigger block is then
 * the decoder's corruption error.  Only the first frame's header is
 * rewritten; a single-segment frame's window is its content size, left
 * as it is too. */
#define WINDOW_LOG_CAP 14

static void
clamp_window(uint8_t *frame, size_t size)
{
	uint64_t base, window;

	/* magic, Frame_Header_Descriptor (bit 5: single segment, no
	 * Window_Descriptor; the content size is the window), then the
	 * Window_Descriptor: exponent (5 bits, + 10) and mantissa (3 bits) */
	if (size < 6 || frame[4] & 0x20)
		return;
	base = UINT64_C(1) << (10 + (frame[5] >> 3));
	window = base + (base >> 3) * (frame[5] & 7);
	if (window > UINT64_C(1) << WINDOW_LOG_CAP && window <= UINT64_C(1) << VS_ZSTD_WINDOW_LOG_MAX)
		frame[5] = (WINDOW_LOG_CAP - 10) << 3;
}

#endif

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t step;

	if (size < 1)
		return 0;
	step = data[0] & 0x80 ? 512 : 0;
#ifdef VS_FUZZ_ZSTD
	uint8_t *z = malloc(size + 3);

	vs_fuzz_fail_if(!z, "out of memory");
	memcpy(z, "\x28\xb5\x2f\xfd", 4);
	memcpy(z + 4, data + 1, size - 1);
	clamp_window(z, size + 3);
	/* one decoder for every input, as vs_container_open_with allows:
	 * its buffers are not made and unmade each time */
	static ZSTD_DCtx *dctx;
	if (!dctx)
		dctx = ZSTD_createDCtx();
	vs_fuzz_fail_if(!dctx, "out of memory");
	container(z, size + 3, step, dctx);
	free(z);
#else
	if (data[0] & 1) {
		if (!vs_is_zstd(data + 1, size - 1))
			container(data + 1, size - 1, step, NULL);
	} else {
		manifest(data + 1, size - 1);
	}
#endif
	return 0;
}
