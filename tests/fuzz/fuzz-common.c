#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "error.h"
#include "fuzz-common.h"
#include "io.h"
#include "vu-frontend.h"

struct vs_vu_open_opts vs_fuzz_vu_opts = VS_VU_OPEN_OPTS_INIT(VS_FUZZ_TIMEOUT_MS, false);

void
vs_fuzz_setup(void)
{
	const char *debug = getenv("VHOST_STATE_DEBUG");

	/* The library writes to pipes whose reader may be gone. */
	signal(SIGPIPE, SIG_IGN);
	vs_fuzz_vu_opts.verbose = debug && *debug && *debug != '0';
}

/* What most targets need before the first input; weak, so a target with
 * more to set up (fuzz-reply, fuzz-reply-fast, fuzz-migfile-fast)
 * defines its own, which calls vs_fuzz_setup too. */
__attribute__((weak)) int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	vs_fuzz_setup();
	return 0;
}

/* ASan's quarantine of freed memory (256 MiB by default) is 16 MiB in
 * every target: an input frees tens to hundreds of KiB, so a use after
 * free within an input, or the next tens, is still caught, and freed
 * blocks come back while they are mapped and in cache instead of the
 * allocator faulting in fresh pages (and their shadow) until 256 MiB are
 * held.  Measured: 1.2-1.5 times the executions per second of
 * container-fast and migfile-fast, and decode-fast's system time 2.2 s
 * -> 0.3 s of a 10 s run.  ASAN_OPTIONS from the environment still
 * comes after this. */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
	return "quarantine_size_mb=16";
}

int
vs_fuzz_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d) {
		perror("fuzz: /proc/self/fd");
		abort();
	}
	/* The DIR's own fd is counted every time, so it cancels out. */
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

void
vs_fuzz_check_fds(int before, const char *what)
{
	int now = vs_fuzz_count_fds();
	DIR *d;
	struct dirent *e;

	if (now == before)
		return;
	fprintf(stderr, "fuzz: %s: %d fds open, %d before the input\n", what, now, before);
	d = opendir("/proc/self/fd");
	while (d && (e = readdir(d))) {
		char path[64], target[PATH_MAX];
		ssize_t n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
		n = readlink(path, target, sizeof target - 1);
		target[n < 0 ? 0 : n] = '\0';
		fprintf(stderr, "fuzz:   fd %s -> %s\n", e->d_name, target);
	}
	if (d)
		closedir(d);
	abort();
}

void
vs_fuzz_fail_if(bool cond, const char *what)
{
	if (!cond)
		return;
	fprintf(stderr, "%s: %s (last error: exit %d, \"%s\")\n", program_invocation_short_name, what,
		vs_error_get()->exit_code, vs_error_get()->msg);
	abort();
}

void
vs_fuzz_check_error(bool malformed, const char *input)
{
	const struct vs_error *e = vs_error_get();
	char what[128];

	vs_fuzz_fail_if(e->exit_code == 0 || e->msg[0] == '\0', "a failure without an error set");
	/* a memfd or a pipe cannot fail to read: only the bytes are at fault */
	snprintf(what, sizeof what, "%s did not exit 65", input);
	vs_fuzz_fail_if(malformed && e->exit_code != VS_EXIT_DATAERR, what);
}

int
vs_fuzz_memfd(const uint8_t *data, size_t size, char *path, size_t cap)
{
	int fd = memfd_create(program_invocation_short_name, MFD_CLOEXEC);

	vs_fuzz_fail_if(fd < 0, "memfd_create");
	vs_fuzz_fail_if(size && write(fd, data, size) != (ssize_t)size, "memfd write");
	if (path)
		snprintf(path, cap, "/proc/self/fd/%d", fd);
	return fd;
}

static ssize_t
mem_read(struct vs_source *s, void *buf, size_t len)
{
	struct vs_fuzz_mem *m = s->ctx;
	size_t n = m->size - m->off;

	if (n > len)
		n = len;
	if (m->step && n > m->step)
		n = m->step;
	memcpy(buf, m->data + m->off, n);
	m->off += n;
	return (ssize_t)n;
}

void
vs_fuzz_mem_source(struct vs_source *s, struct vs_fuzz_mem *m, const uint8_t *data, size_t size, size_t step)
{
	static unsigned char buf[4096];

	*m = (struct vs_fuzz_mem){ .data = data, .size = size, .step = step };
	memset(s, 0, sizeof *s);
	s->fd = -1;
	s->tee_fd = -1;
	s->name = "fuzz input";
	s->read_fn = mem_read;
	s->ctx = m;
	s->buf = buf;
	s->cap = sizeof buf;
}

