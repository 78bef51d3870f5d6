/* libFuzzer target: the .vhsnap container and its manifest.  Each input
 * is a file as `restore` or `inspect` would be given it; it goes through
 *   1. vs_state_input_open from a memfd: format detection, zstd and tar
 *      through libarchive, manifest.json read and checked, the state
 *      member de-chunked and checked against the manifest's digest and
 *      counts; then rewind + full read, load, and copy_raw;
 *   2. vs_manifest_parse on the bytes themselves, as if they were the
 *      manifest.json member; what it accepts must survive
 *      vs_manifest_to_json and a second parse unchanged.
 * Beyond "no crash, no leak", a failure must carry an exit class (65:
 * the bytes are at fault), and what was checked must be what replays. */
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
#include "manifest.h"
#include "sink.h"

static const struct vs_chunk_limits lim = { .max_chunk = 1u << 20, .max_total = 4u << 20 };

/* Pass 1. */
static void
read_input(const uint8_t *data, size_t size, bool want_digest)
{
	static unsigned char buf[64 * 1024];
	struct vs_state_input in;
	struct vs_chunk_reader r;
	struct vs_sink sink;
	unsigned char *whole;
	size_t len;
	char path[64];
	ssize_t n;
	int fd = vs_fuzz_memfd(data, size, path, sizeof path), out;

	vs_error_clear();
	memset(&in, 0, sizeof in);
	in.want_digest = want_digest;
	in.timeout_ms = VS_FUZZ_TIMEOUT_MS;
	if (vs_state_input_open(&in, path, &lim) < 0) {
		vs_fuzz_check_error(true, "malformed input");
		close(fd);
		return;
	}
	close(fd);
	vs_fuzz_fail_if(in.have_manifest != (in.format == VS_FORMAT_ARCHIVE || in.format == VS_FORMAT_ARCHIVE_ZSTD),
		"an archive without a manifest, or a manifest without an archive");
	if (in.have_manifest)
		vs_fuzz_fail_if(strcmp(in.manifest.sha256, in.sha256) != 0 || in.manifest.payload_size != in.payload ||
				in.manifest.chunks != in.chunks,
			"an archive accepted although its manifest disagrees with the state");
	vs_fuzz_fail_if(in.payload > lim.max_total || in.max_chunk > lim.max_chunk, "a limit was exceeded");
	vs_fuzz_fail_if(in.stream_bytes != in.payload + 4 * (in.chunks + 1), "stream bytes != payload + 4 per chunk");

	vs_fuzz_fail_if(vs_state_input_rewind(&in, &r) < 0, "rewind after a successful open failed");
	while ((n = vs_chunk_read(&r, buf, sizeof buf)) > 0)
		;
	vs_fuzz_fail_if(n < 0 || vs_chunk_reader_expect_eof(&r) < 0, "the replay of a checked input failed");
	vs_fuzz_fail_if(r.payload != in.payload || r.chunks != in.chunks || r.offset != in.stream_bytes,
		"the replay differs from what the check counted");

	vs_fuzz_fail_if(vs_state_input_load(&in, VS_DECODE_MAX, &whole, &len) != 0 || len != in.payload,
		"loading a checked input failed");
	free(whole);

	/* What convert and extract copy: the raw stream, framing as stored. */
	out = vs_fuzz_memfd(NULL, 0, NULL, 0);
	vs_sink_fd_init(&sink, out, "copy");
	vs_fuzz_fail_if(vs_state_input_copy_raw(&in, &sink, NULL) < 0, "copy_raw of a checked input failed");
	vs_fuzz_fail_if(lseek(out, 0, SEEK_CUR) != (off_t)in.stream_bytes, "copy_raw wrote another size than the stream's");
	close(out);

	vs_state_input_close(&in);
}

static void
same_manifest(const struct vs_manifest *a, const struct vs_manifest *b)
{
	const char *ja = a->backend ? json_object_to_json_string(a->backend) : "";
	const char *jb = b->backend ? json_object_to_json_string(b->backend) : "";

	vs_fuzz_fail_if(a->major != b->major || a->created != b->created || strcmp(a->tool, b->tool) != 0 ||
			strcmp(a->kind, b->kind) != 0 || a->payload_size != b->payload_size || a->chunks != b->chunks ||
			strcmp(a->sha256, b->sha256) != 0 || !a->backend != !b->backend || strcmp(ja, jb) != 0,
		"a manifest changed through vs_manifest_to_json and back");
}

/* Pass 2. */
static void
parse_manifest(const uint8_t *data, size_t size)
{
	struct vs_manifest m, again;
	struct json_object *doc;
	const char *text;

	vs_error_clear();
	if (vs_manifest_parse(&m, (const char *)data, size, "fuzz") < 0) {
		vs_fuzz_check_error(true, "malformed input");
		vs_fuzz_fail_if(m.backend != NULL, "a refused manifest kept its backend");
		return;
	}
	doc = vs_manifest_to_json(&m);
	vs_fuzz_fail_if(!doc, "vs_manifest_to_json");
	text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	vs_fuzz_fail_if(vs_manifest_parse(&again, text, strlen(text), "fuzz") < 0, "a manifest we wrote does not parse");
	same_manifest(&m, &again);
	vs_manifest_free(&again);
	json_object_put(doc);
	vs_manifest_free(&m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fds = vs_fuzz_count_fds();

	read_input(data, size, size & 1);
	if (size <= VS_MANIFEST_MAX)
		parse_manifest(data, size);
	vs_fuzz_check_fds(fds, "after the input");
	return 0;
}
