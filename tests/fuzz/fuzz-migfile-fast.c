/* Fast libFuzzer target: the QEMU migration-file walker (what inspect,
 * extract --list and inject do first) over one memfd per process,
 * rewritten for each input, then the JSON view and the choice of a
 * state.  The walk must end inside the file, and every state found must
 * lie inside it.  Plain streams, mapped-ram files and libvirt images in
 * the raw and sparse formats (the libvirt header and domain XML read
 * first); a compressed libvirt image is left to fuzz-migfile, since
 * opening one decompresses it into a spool file on disk, per input. */
#include <config.h>

#include <json.h>
#include <stdbool.h>
#include <stdio.h>

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

/* ASan's quarantine of freed memory (256 MiB by default) is 16 MiB here:
 * an input frees tens of KiB, so a use after free within an input, or
 * the next hundreds, is still caught, and the allocator recycles memory
 * that stays mapped and in cache instead of faulting in fresh pages
 * (and their shadow) until 256 MiB are held: 1.2 times the speed in 20 s
 * runs.  ASAN_OPTIONS from the environment still comes after this. */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
	return "quarantine_size_mb=16";
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vs_qemu_file q;
	struct json_object *doc;
	size_t i;
	int fd;

	if (compressed_image(data, size))
		return 0;
	fd = vs_fuzz_memfd_reuse(data, size);
	vs_error_clear();
	if (vs_qemu_file_open_fd(&q, fd, "fuzz input", 0) < 0) {
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
