/* Unit tests of the raw stream codec (src/stream/chunk.c), TAP output. */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "chunk.h"
#include "error.h"
#include "tap.h"

/* A source over bytes, through a memfd opened by path. */
static int
open_bytes(struct vs_source *s, const void *data, size_t len, char *path)
{
	int fd = memfd_create("chunk-test", 0);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		return -1;
	sprintf(path, "/proc/self/fd/%d", fd);
	return vs_source_open(s, path, 0);
}

/* Decode everything; returns payload length or -1, exit code in *code. */
static long
decode(const void *data, size_t len, unsigned char *out, size_t cap, uint64_t max_total, int *code)
{
	struct vs_source s;
	struct vs_chunk_reader r;
	struct vs_chunk_limits lim = { .max_chunk = 1 << 20, .max_total = max_total };
	char path[64];
	long total = 0;
	ssize_t n;

	vs_error_clear();
	*code = 0;
	if (open_bytes(&s, data, len, path) < 0)
		return -1;
	vs_chunk_reader_init(&r, &s, &lim);
	while ((n = vs_chunk_read(&r, out + total, cap - total)) > 0)
		total += n;
	if (n < 0 || vs_chunk_reader_expect_eof(&r) < 0) {
		*code = vs_error_get()->exit_code;
		total = -1;
	}
	vs_source_close(&s);
	return total;
}

static const unsigned char idle[] = { 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };

int
main(void)
{
	unsigned char out[64], buf[256];
	int code;
	long n;
	size_t k;

	/* the idle virtiofsd stream, as QEMU writes it */
	static const unsigned char qemu[] = { 0, 0, 0, 10, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	n = decode(qemu, sizeof qemu, out, sizeof out, 0, &code);
	ok(n == 10 && memcmp(out, idle, 10) == 0, "one 10-byte chunk decodes to the payload");

	/* 1-byte chunks */
	k = 0;
	for (int i = 0; i < 10; i++) {
		buf[k++] = 0; buf[k++] = 0; buf[k++] = 0; buf[k++] = 1;
		buf[k++] = idle[i];
	}
	memset(buf + k, 0, 4);
	k += 4;
	n = decode(buf, k, out, sizeof out, 0, &code);
	ok(n == 10 && memcmp(out, idle, 10) == 0, "ten 1-byte chunks decode to the same payload");

	/* a 3+7 split */
	k = 0;
	buf[k++] = 0; buf[k++] = 0; buf[k++] = 0; buf[k++] = 3;
	memcpy(buf + k, idle, 3); k += 3;
	buf[k++] = 0; buf[k++] = 0; buf[k++] = 0; buf[k++] = 7;
	memcpy(buf + k, idle + 3, 7); k += 7;
	memset(buf + k, 0, 4); k += 4;
	n = decode(buf, k, out, sizeof out, 0, &code);
	ok(n == 10 && memcmp(out, idle, 10) == 0, "a 3+7 split decodes to the same payload");

	/* the empty state */
	static const unsigned char empty[] = { 0, 0, 0, 0 };
	n = decode(empty, sizeof empty, out, sizeof out, 0, &code);
	ok(n == 0 && code == 0, "the 4-byte stream 00 00 00 00 is the empty state");

	/* missing terminator */
	n = decode(qemu, sizeof qemu - 4, out, sizeof out, 0, &code);
	ok(n < 0 && code == VS_EXIT_DATAERR && strstr(vs_error_get()->msg, "offset 14") &&
		   strstr(vs_error_get()->msg, "terminating"),
	   "a stream without terminator fails with 65 naming offset 14");

	/* truncated inside a chunk and inside a length */
	n = decode(qemu, 9, out, sizeof out, 0, &code);
	ok(n < 0 && code == VS_EXIT_DATAERR && strstr(vs_error_get()->msg, "inside a chunk ("),
	   "a stream cut inside a chunk fails with 65");
	n = decode(qemu, 16, out, sizeof out, 0, &code);
	ok(n < 0 && code == VS_EXIT_DATAERR && strstr(vs_error_get()->msg, "inside a chunk length"),
	   "a stream cut inside a chunk length fails with 65");

	/* trailing bytes */
	memcpy(buf, qemu, sizeof qemu);
	buf[sizeof qemu] = 0x42;
	n = decode(buf, sizeof qemu + 1, out, sizeof out, 0, &code);
	ok(n < 0 && code == VS_EXIT_DATAERR && strstr(vs_error_get()->msg, "trailing data at offset 18"),
	   "a byte after the terminator fails with 65 naming offset 18");

	/* oversized length */
	static const unsigned char huge[] = { 0xff, 0xff, 0xff, 0xff, 1, 2, 3 };
	n = decode(huge, sizeof huge, out, sizeof out, 0, &code);
	ok(n < 0 && code == VS_EXIT_DATAERR && strstr(vs_error_get()->msg, "4294967295") &&
		   strstr(vs_error_get()->msg, "chunk limit"),
	   "a chunk of 4294967295 bytes is refused before anything is read");

	/* total bound */
	n = decode(qemu, sizeof qemu, out, sizeof out, 9, &code);
	ok(n < 0 && code == VS_EXIT_DATAERR && strstr(vs_error_get()->msg, "exceeds the limit of 9 bytes") &&
		   !strstr(vs_error_get()->msg, "--max-size") && vs_error_get()->hint == VS_HINT_MAX_SIZE,
	   "a payload above the limit is refused, naming the limit, not the option, with the max-size hint");
	n = decode(qemu, sizeof qemu, out, sizeof out, 10, &code);
	ok(n == 10, "a payload of exactly --max-size is accepted");

	/* deterministic chunking: same bytes however the payload arrives */
	{
		size_t total = 2 * VS_CHUNK_SIZE + 12345;
		unsigned char *data = malloc(total);
		unsigned char *a = NULL, *b = NULL;
		size_t alen = 0, blen = 0;
		for (size_t i = 0; i < total; i++)
			data[i] = (unsigned char)(i * 7 + (i >> 11));
		for (int pass = 0; pass < 2; pass++) {
			int fd = memfd_create("w", 0);
			struct vs_sink sink;
			struct vs_chunk_writer w;
			vs_sink_fd_init(&sink, fd, "memfd");
			vs_chunk_writer_init(&w, &sink);
			if (pass == 0) {
				vs_chunk_writer_write(&w, data, total);
			} else {
				size_t off = 0, step = 1;
				while (off < total) {
					size_t len = step < total - off ? step : total - off;
					vs_chunk_writer_write(&w, data + off, len);
					off += len;
					step = step * 3 + 1;
					if (step > 300000)
						step = 7;
				}
			}
			vs_chunk_writer_end(&w);
			vs_chunk_writer_free(&w);
			size_t len = lseek(fd, 0, SEEK_END);
			unsigned char *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
			unsigned char *copy = malloc(len);
			memcpy(copy, m, len);
			munmap(m, len);
			close(fd);
			if (pass == 0) { a = copy; alen = len; } else { b = copy; blen = len; }
		}
		ok(alen == blen && memcmp(a, b, alen) == 0, "the writer's bytes do not depend on how the payload arrives");
		ok(alen == total + 4 * 4 && a[0] == 0 && a[1] == 0x10 && a[2] == 0 && a[3] == 0,
		   "full 1 MiB chunks, the last one short, then the terminator");
		size_t last = 2 * (VS_CHUNK_SIZE + 4);
		ok(((size_t)a[last] << 24 | a[last + 1] << 16 | a[last + 2] << 8 | a[last + 3]) == 12345 &&
			   memcmp(a + alen - 4, empty, 4) == 0,
		   "the short chunk carries the remainder and the stream ends in be32 0");
		free(a);
		free(b);
		free(data);
	}

	printf("1..%d\n", count);
	return failures ? 1 : 0;
}
