/* What every libFuzzer target shares: the entry points (declared here so
 * -Wmissing-prototypes holds) and the per-input fd leak check. */
#ifndef VS_FUZZ_COMMON_H
#define VS_FUZZ_COMMON_H

#include <stddef.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "source.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The deadline of every wait.  The fake peers never leave the library
 * waiting, so it only ends real stalls; it is long enough that a loaded
 * CI machine never trips it, and well below libFuzzer's -timeout. */
#define VS_FUZZ_TIMEOUT_MS 3000

/* Process-wide settings for a harness: SIGPIPE ignored (as main.c does),
 * and the options every connection is opened with: the deadline, -v
 * logging when VHOST_STATE_DEBUG is set.  fuzz-common.c's
 * LLVMFuzzerInitialize calls it; a target that defines its own (a weak
 * default is replaced) must too. */
void vs_fuzz_setup(void);
struct vs_vu_open_opts;
extern struct vs_vu_open_opts vs_fuzz_vu_opts;

/* Abort when cond holds, naming what failed and the library's last
 * error: libFuzzer then reports the input as a crash. */
void vs_fuzz_fail_if(bool cond, const char *what);
/* After a failure on fuzz bytes: the error model must say why, and when
 * the input is at fault (malformed), with exit 65; input names it. */
void vs_fuzz_check_error(bool malformed, const char *input);
/* A memfd holding data; its /proc/self/fd path goes to path if set. */
int vs_fuzz_memfd(const uint8_t *data, size_t size, char *path, size_t cap);

/* --- the fast targets: parsers on memory, no fd per input --- */

/* A vs_source over data (the library's decoder interface), with a small
 * static buffer: nothing is allocated, nothing to close.  Bytes come out
 * in pieces of at most step (0: as asked), so the readers' refills and
 * boundaries are exercised. */
struct vs_fuzz_mem {
	const uint8_t *data;
	size_t size, off, step;
};
void vs_fuzz_mem_source(struct vs_source *s, struct vs_fuzz_mem *m, const uint8_t *data, size_t size,
			size_t step);

/* Open fds, counted in /proc/self/fd. */
int vs_fuzz_count_fds(void);
/* Abort, listing the open fds, if their number differs from before:
 * libFuzzer then reports the input as a crash. */
void vs_fuzz_check_fds(int before, const char *what);

#endif
