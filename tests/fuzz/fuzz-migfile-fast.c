/* Fast libFuzzer target: the QEMU migration-file walker (what inspect,
 * extract --list and inject do first) over one memfd per process,
 * rewritten for each input, then the JSON view and the choice of a
 * state.  The walk must end inside the file, and every state found must
 * lie inside it. */
#include <config.h>

#include <json.h>
#include <stdbool.h>
#include <stdio.h>

#include "error.h"
#include "fuzz-common.h"
#include "qemu-file.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	vs_fuzz_setup();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = vs_fuzz_memfd_reuse(data, size);
	struct vs_qemu_file q;
	struct json_object *doc;
	size_t i;

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
