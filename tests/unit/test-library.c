/* The library on its own, TAP output: this program links libvhoststate.a
 * and no object of the command line (main.c, cmd-*.c, run-steps.c,
 * progress.c, cleanup.c), so it builds only while the library needs none
 * of them (tests/check-layering.sh checks every library object).  It opens
 * connections, inputs and outputs with the options a caller passes in and
 * reads the errors and log lines the library hands back. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "input.h"
#include "log.h"
#include "output.h"
#include "vu-frontend.h"
#include "tap.h"

/* What the installed log handler received. */
static struct {
	int lines, debug, warnings;
	char last[512];
} seen;

static void
capture(enum vs_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	seen.lines++;
	seen.debug += level == VS_LOG_DEBUG;
	seen.warnings += level == VS_LOG_WARNING;
	snprintf(seen.last, sizeof seen.last, "%s", msg);
}

static long
ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000L + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static bool
no_flag(const char *msg)
{
	return !strstr(msg, "--") && !strstr(msg, "-f") && !strstr(msg, "vhost-state ");
}

static void
test_log(void)
{
	char path[] = "/tmp/vstestlib.XXXXXX", buf[64] = "";
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	ssize_t n;

	/* the default handler: the line as is on stderr */
	vs_log_set_handler(NULL, NULL);
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	vs_warn("a %s line", "plain");
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, buf, sizeof buf - 1, 0);
	close(fd);
	unlink(path);
	ok(n > 0 && strcmp(buf, "a plain line\n") == 0, "default log handler: the bare line on stderr");

	vs_log_set_handler(capture, NULL);
	vs_warn("fd %d", 7);
	ok(seen.lines == 1 && seen.warnings == 1 && strcmp(seen.last, "fd 7") == 0,
	   "an installed handler gets the level and the formatted line, no newline");
}

static void
test_connect_errors(void)
{
	struct vs_vu vu;
	struct vs_vu_open_opts o = VS_VU_OPEN_OPTS_INIT(200, false);

	ok(vs_vu_open_with(&vu, "/nonexistent/vstest.sock", &o) < 0 &&
		   vs_error_get()->exit_code == VS_EXIT_UNAVAILABLE && strstr(vs_error_get()->msg, "no such socket"),
	   "open: a missing socket is unavailable (69)");
	vs_vu_close(&vu);
}

/* A back-end that accepts and never answers: the deadline is the one
 * passed in, and with verbose the request is traced through the handler. */
static void
test_deadline_and_trace(bool verbose)
{
	struct vs_vu vu;
	struct vs_vu_open_opts o = VS_VU_OPEN_OPTS_INIT(150, verbose);
	struct timespec t0;
	int sv[2];
	long ms;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		ok(0, "socketpair");
		return;
	}
	memset(&seen, 0, sizeof seen);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ok(vs_vu_open_fd_with(&vu, sv[0], "silent", &o) < 0 && vs_error_get()->exit_code == VS_EXIT_TIMEOUT &&
		   strstr(vs_error_get()->msg, "timed out after 0.15 s") &&
		   strstr(vs_error_get()->msg, "GET_FEATURES"),
	   verbose ? "open: a silent back-end times out after the 150 ms passed in (verbose)"
		   : "open: a silent back-end times out after the 150 ms passed in");
	ms = ms_since(&t0);
	ok(ms >= 140 && ms < 5000, "open: the deadline is the caller's, not the default 30 s");
	if (verbose)
		ok(seen.debug == 1 && strncmp(seen.last, "-> GET_FEATURES", 15) == 0,
		   "verbose: the request is traced once through the handler at VS_LOG_DEBUG");
	else
		ok(seen.lines == 0, "not verbose: nothing is logged");
	vs_vu_close(&vu);
	close(sv[1]);
}

static void
test_input_limit(void)
{
	static const unsigned char stream[] = { 0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o', 0, 0, 0, 5,
						'w', 'o', 'r', 'l', 'd', 0, 0, 0, 0 };
	struct vs_chunk_limits lim = { .max_chunk = 1 << 20, .max_total = 7 };
	struct vs_state_input in;
	char path[] = "/tmp/vstestlib.XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0 || write(fd, stream, sizeof stream) != (ssize_t)sizeof stream) {
		ok(0, "writing a test stream");
		return;
	}
	close(fd);
	memset(&in, 0, sizeof in);
	in.timeout_ms = 1000;
	ok(vs_state_input_open(&in, path, &lim) < 0 && vs_error_get()->exit_code == VS_EXIT_DATAERR &&
		   strstr(vs_error_get()->msg, "exceeds the limit of 7 bytes") && no_flag(vs_error_get()->msg) &&
		   vs_error_get()->hint == VS_HINT_MAX_SIZE,
	   "input: over the limit passed in: 65, the limit named, no option, the max-size hint");
	vs_state_input_close(&in);
	lim.max_total = 10;
	memset(&in, 0, sizeof in);
	ok(vs_state_input_open(&in, path, &lim) == 0 && in.payload == 10, "input: at the limit: accepted");
	vs_state_input_close(&in);
	unlink(path);
}

static int registered, unregistered;
static char registered_path[256];

static int
hook_register(const char *path)
{
	registered++;
	snprintf(registered_path, sizeof registered_path, "%s", path);
	return 3;
}

static void
hook_unregister(int slot)
{
	unregistered += slot == 3;
}

static void
test_output(void)
{
	static const struct vs_cleanup_hooks hooks = { hook_register, hook_unregister };
	char dir[] = "/tmp/vstestlib.XXXXXX", path[128];
	struct vs_output out;
	struct stat st;

	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return;
	}
	snprintf(path, sizeof path, "%s/out", dir);
	ok(vs_output_open(&out, path, 0, 0) == 0 && write(out.fd, "x", 1) == 1 && stat(path, &st) < 0 &&
		   vs_output_commit(&out) == 0 && stat(path, &st) == 0 && st.st_size == 1,
	   "output without hooks: the file appears only at commit");
	vs_cleanup_set_hooks(&hooks);
	ok(vs_output_open(&out, path, 0, 0) < 0 && vs_error_get()->exit_code == VS_EXIT_USAGE &&
		   strstr(vs_error_get()->msg, "file exists") && no_flag(vs_error_get()->msg) &&
		   vs_error_get()->hint == VS_HINT_OUTPUT_EXISTS && registered == 0,
	   "output: an existing file is refused without naming -f, with a hint, nothing registered");
	ok(vs_output_open(&out, path, VS_OUTPUT_FORCE, 0) == 0 && registered == 1 &&
		   strncmp(registered_path, dir, strlen(dir)) == 0 && strcmp(registered_path, path) != 0,
	   "output: the temp file is announced to the installed hook");
	vs_output_abort(&out);
	ok(unregistered == 1 && access(registered_path, F_OK) < 0, "output: abort removes it and unregisters it");
	vs_cleanup_set_hooks(NULL);
	unlink(path);
	rmdir(dir);
}

/* vs_output_writeback: a thread while the file is written, gone at commit
 * or abort; the file whole either way, and nothing on a direct output. */
static void
test_writeback(void)
{
	char dir[] = "/tmp/vstestwb.XXXXXX", path[128];
	static unsigned char buf[1 << 20];
	struct vs_output out;
	struct stat st;
	bool wrote = true, same = true;
	FILE *f;

	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return;
	}
	snprintf(path, sizeof path, "%s/out", dir);
	if (vs_output_open(&out, path, 0, 0) < 0) {
		ok(0, "vs_output_open");
		return;
	}
	for (int i = 0; i < 8; i++) {
		memset(buf, 'a' + i, sizeof buf);
		wrote &= write(out.fd, buf, sizeof buf) == (ssize_t)sizeof buf;
		vs_output_writeback(&out, (uint64_t)(i + 1) << 20);
	}
	ok(wrote && out.wb != NULL, "writeback: a thread takes the ranges as they are final");
	vs_output_writeback(&out, UINT64_MAX);
	ok(vs_output_commit(&out) == 0 && out.wb == NULL && stat(path, &st) == 0 && st.st_size == 8 << 20,
	   "writeback: commit stops it and the file is there, whole");
	f = fopen(path, "rb");
	for (int i = 0; f && i < 8; i++)
		same &= fread(buf, 1, sizeof buf, f) == sizeof buf && buf[0] == 'a' + i && buf[sizeof buf - 1] == 'a' + i;
	ok(f && same, "writeback: the bytes are the ones written");
	if (f)
		fclose(f);
	unlink(path);
	ok(vs_output_open(&out, path, 0, 0) == 0 && write(out.fd, buf, sizeof buf) == (ssize_t)sizeof buf,
	   "writeback: a second output");
	vs_output_writeback(&out, UINT64_MAX);
	vs_output_abort(&out);
	ok(out.wb == NULL && access(path, F_OK) < 0, "writeback: abort stops it and leaves no file");
	ok(vs_output_open(&out, "-", 0, 0) == 0, "writeback: stdout opens");
	vs_output_writeback(&out, UINT64_MAX);
	ok(out.wb == NULL, "writeback: nothing on a direct output");
	vs_output_commit(&out);
	rmdir(dir);
}

int
main(void)
{
	test_log();
	test_connect_errors();
	test_deadline_and_trace(false);
	test_deadline_and_trace(true);
	test_input_limit();
	test_output();
	test_writeback();
	printf("1..%d\n", count);
	return failures ? 1 : 0;
}
