/* Fast libFuzzer target: the QEMU migration-file walker (what inspect,
 * extract --list and inject do first) over the input as a file, then the
 * JSON view and the choice of a state.  The walk must end inside the
 * file, and every state found must lie inside it.  Plain streams,
 * mapped-ram files and libvirt images in the raw and sparse formats (the
 * libvirt header and domain XML read first); a compressed libvirt image
 * is left to fuzz-migfile, since opening one decompresses it into a spool
 * file on disk, per input.
 *
 * The file is in memory: this target is linked with --wrap=fstat and
 * --wrap=pread (fuzz.mk), and for the one fd it hands the library, fstat
 * says "a regular file of the input's size" and pread copies from the
 * input: what a memfd holding it gives, without the five or more syscalls
 * per input (rewriting the memfd, fstat, pread) that took a quarter of
 * the time under perf.  fuzz-migfile keeps real files. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fuzz-common.h"
#include "libvirt-image.h"
#include "qemu-file.h"

/* A libvirt image of a compressed format (its header's u32 at 28, in the
 * byte order that makes the version at 16 read 2). */
static bool
compressed_image(const uint8_t *p, size_t n)
{
	uint32_t v, f;
	bool be;

	if (n < VS_LIBVIRT_HEADER_LEN || !vs_libvirt_sniff(p, n))
		return false;
	v = (uint32_t)p[16] | (uint32_t)p[17] << 8 | (uint32_t)p[18] << 16 | (uint32_t)p[19] << 24;
	be = v != VS_LIBVIRT_VERSION;
	f = be ? (uint32_t)p[28] << 24 | (uint32_t)p[29] << 16 | (uint32_t)p[30] << 8 | p[31]
	       : (uint32_t)p[28] | (uint32_t)p[29] << 8 | (uint32_t)p[30] << 16 | (uint32_t)p[31] << 24;
	return f != VS_LIBVIRT_RAW && f != VS_LIBVIRT_SPARSE && vs_libvirt_format_name(f);
}

/* The file: the fd the library has (/dev/null, opened once and never
 * read) and the input it stands for. */
static int file_fd = -1;
static const uint8_t *file;
static size_t file_size;

int __real_fstat(int fd, struct stat *st);
ssize_t __real_pread(int fd, void *buf, size_t len, off_t off);
int __wrap_fstat(int fd, struct stat *st);
ssize_t __wrap_pread(int fd, void *buf, size_t len, off_t off);

int
__wrap_fstat(int fd, struct stat *st)
{
	if (fd != file_fd)
		return __real_fstat(fd, st);
	memset(st, 0, sizeof *st);
	st->st_mode = S_IFREG | 0600;
	st->st_nlink = 1;
	st->st_size = (off_t)file_size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((file_size + 511) / 512);
	return 0;
}

ssize_t
__wrap_pread(int fd, void *buf, size_t len, off_t off)
{
	if (fd != file_fd)
		return __real_pread(fd, buf, len, off);
	if (off < 0) {
		errno = EINVAL;
		return -1;
	}
	if ((uint64_t)off >= file_size)
		return 0;
	if (len > file_size - (uint64_t)off)
		len = file_size - (size_t)off;
	memcpy(buf, file + off, len);
	return (ssize_t)len;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	vs_fuzz_setup();
	file_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	vs_fuzz_fail_if(file_fd < 0, "/dev/null");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vs_qemu_file q;
	struct json_object *doc;
	size_t i;

	if (compressed_image(data, size))
		return 0;
	file = data;
	file_size = size;
	vs_error_clear();
	if (vs_qemu_file_open_fd(&q, file_fd, "fuzz input", 0) < 0) {
		vs_fuzz_check_error(true, "a malformed migration file");
		return 0;
	}
	vs_fuzz_fail_if(q.desc_offset > size || q.eof_offset >= q.desc_offset, "the walk ended outside the file");
	for (size_t k = 0; k < q.nstates; k++)
		vs_fuzz_fail_if(q.states[k].offset > size || q.states[k].length > size - q.states[k].offset,
				"a state found outside the file");
	doc = vs_qemu_file_json(&q);
	vs_fuzz_fail_if(!doc || !json_object_to_json_string(doc), "vs_qemu_file_json");
	json_object_put(doc);
	vs_error_clear();
	if (q.nstates == 1)
		vs_fuzz_fail_if(vs_qemu_file_choose(&q, NULL, &i) < 0 || i != 0, "the only state is not chosen by default");
	else
		vs_fuzz_fail_if(vs_qemu_file_choose(&q, NULL, &i) == 0, "a default chosen among none or several states");
	vs_qemu_file_close(&q);
	return 0;
}
