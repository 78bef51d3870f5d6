/* vhost-state proxy --listen SOCK --connect SOCK: sit in a VM's vhost-user
 * path, log the conversation, tee state transfers, snapshot on command. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "error.h"
#include "io.h"
#include "output.h"
#include "proxy.h"
#include "result.h"

struct proxy_args {
	struct vs_proxy_opts o;
	const char *log_path;
};

enum { OPT_LISTEN = 'l', OPT_CONNECT = 'c', OPT_LOG = 0x300, OPT_TEE, OPT_CONTROL };

static const struct argp_option options[] = {
	{ "listen", OPT_LISTEN, "SOCK", 0, "Listen here for the front-end (QEMU's chardev path)", 0 },
	{ "connect", OPT_CONNECT, "SOCK", 0, "The back-end's socket", 0 },
	{ "log", OPT_LOG, "FILE", 0, "Append the message log to FILE (default: stdout; - is stdout)", 0 },
	{ "tee", OPT_TEE, "DIR", 0,
	  "Keep a raw-stream copy of every device-state transfer in DIR, with CHECK_DEVICE_STATE's "
	  "result in a .check file beside it", 0 },
	{ "control", OPT_CONTROL, "SOCK", 0,
	  "Listen here for `vhost-state snapshot` (snapshot of a stopped device, status)", 0 },
	{ 0 }
};

static void
three_paths(const void *ctx, const struct argp_state *state)
{
	const struct vs_proxy_opts *o = ctx;

	if (!o->listen_path || !o->connect_path)
		vs_usage_error(state, "--listen and --connect are required");
	if (strcmp(o->listen_path, o->connect_path) == 0 ||
	    (o->control_path &&
	     (strcmp(o->control_path, o->listen_path) == 0 || strcmp(o->control_path, o->connect_path) == 0)))
		vs_usage_error(state, "--listen, --connect and --control need three different paths");
}

/* --json (the common option, as for every verb): log JSON lines
 * (schema/proxy-log.schema.json) instead of text */
static const struct argp proxy_argp = VS_VERB_ARGP(
	options, "--listen SOCK --connect SOCK",
	"Relay a vhost-user conversation between a front-end (QEMU, whose chardev points at the "
	"--listen socket) and a back-end, byte for byte with every fd, including the back-end "
	"channel, and log one line per message.  The proxy connects to the back-end first, then "
	"serves exactly one front-end, and exits 0 when either side disconnects (the other is "
	"closed).  A proxy error closes both sides and exits non-zero."
	"\v"
	"Log lines (text): TIME DIR NAME flags=0x.. size=N fds=N [decoded payload], where TIME is "
	"UTC with microseconds and DIR is fe>be, be>fe (main socket), be>fe/chan, fe>be/chan (the "
	"back-end channel), px>be, be>px (the proxy's own snapshot requests); events of the proxy "
	"itself read TIME -- KIND: text.  --json gives one JSON object per line with the same "
	"fields (payload decoded as an object; events have \"event\" and \"message\").\n"
	"\n"
	"--tee DIR: each SET_DEVICE_STATE_FD of the front-end gets a pipe of the proxy's, so the "
	"bytes pass through unchanged and a copy lands in DIR/<UTC time>-<n>-save.vhs (or -load): "
	"QEMU's raw stream, in full 1 MiB chunks with only the last one short, written only when "
	"the transfer is complete; <same name>.check holds CHECK_DEVICE_STATE's result.\n"
	"\n"
	"--control SOCK: `vhost-state snapshot SOCK -o FILE` saves the back-end's state while "
	"the device is stopped (every ring the front-end started was stopped again with "
	"GET_VRING_BASE, as in a paused VM): the proxy holds the front-end's messages, sends its "
	"own SET_DEVICE_STATE_FD(SAVE) and CHECK_DEVICE_STATE, then lets them through.  It "
	"refuses while rings run.  `vhost-state snapshot --status SOCK` reports what the proxy "
	"knows.\n"
	"\n"
	"-t bounds every wait that is under way: the rest of a message, a queued message, a "
	"transfer's next bytes, a snapshot's replies; idle peers may stay idle.",
	VS_JSON_CHILD);

/* The library's message "PATH: what" becomes "OPTION PATH: what", with
 * the same exit class and errno. */
static void
name_option(const char *opt, const char *path)
{
	struct vs_error e = *vs_error_get();
	size_t n = strlen(e.msg), p = strlen(path);

	if (strncmp(e.msg, path, p) != 0 || e.msg[p] != ':')
		return;
	if (e.errnum) {
		/* vs_error_set() appends ": strerror" again */
		size_t k = strlen(strerror(e.errnum)) + 2;
		if (n < k || strcmp(e.msg + n - k + 2, strerror(e.errnum)) != 0)
			return;
		e.msg[n - k] = '\0';
	}
	vs_error_set(e.exit_code, e.errnum, "%s %s", opt, e.msg);
}

static int
check_listen(const char *opt, const char *path)
{
	if (vs_proxy_check_listen(path, vs_opt.force) == 0)
		return 0;
	if (vs_error_get()->errnum == EEXIST)
		return vs_fail(VS_EXIT_USAGE, 0, "%s %s: exists (use -f to replace a stale socket)", opt, path);
	name_option(opt, path);
	return -1;
}

/* Everything that can be refused is, before the back-end is connected:
 * connecting consumes a one-shot back-end. */
static int
check_paths(const struct vs_proxy_opts *o)
{
	if (o->tee_dir && vs_proxy_check_tee(o->tee_dir) < 0) {
		name_option("--tee", o->tee_dir);
		return -1;
	}
	if (check_listen("--listen", o->listen_path) < 0 ||
	    (o->control_path && check_listen("--control", o->control_path) < 0))
		return -1;
	return 0;
}

int
vs_cmd_proxy(int argc, char **argv)
{
	struct proxy_args a = { 0 };
	FILE *log = stdout;
	int rc;

	/* no positional argument: the sockets are options */
	struct vs_verb_args va = {
		.pos = { .extra = "unexpected argument '%s' (the sockets are given with --listen and --connect)" },
		.opt = { { OPT_LISTEN, .arg = &a.o.listen_path }, { OPT_CONNECT, .arg = &a.o.connect_path },
			 { OPT_LOG, .arg = &a.log_path }, { OPT_TEE, .arg = &a.o.tee_dir },
			 { OPT_CONTROL, .arg = &a.o.control_path } },
		.end = three_paths,
		.ctx = &a.o,
	};

	argp_parse(&proxy_argp, argc, argv, 0, NULL, &va);
	a.o.json = vs_opt.json;
	vs_json_lines = true; /* an error document is one more line of the log */
	a.o.force = vs_opt.force;
	a.o.max_size = vs_opt.max_size;
	a.o.timeout_ms = vs_opt.timeout_ms;
	/* paths first, then the log file, and only then the back-end */
	if (check_paths(&a.o) < 0)
		return -1;
	if (a.log_path && strcmp(a.log_path, "-") != 0) {
		int fd = open(a.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0644);
		if (fd < 0 || !(log = fdopen(fd, "a"))) {
			vs_error_set(VS_EXIT_FAIL, errno, "--log %s", a.log_path);
			if (fd >= 0)
				close(fd);
			return -1;
		}
	} else if (vs_check_stdout() < 0) {
		return -1;
	}
	a.o.log = log;
	rc = vs_proxy_run(&a.o);
	if (log != stdout && fclose(log) != 0 && rc == 0) {
		vs_error_set(VS_EXIT_FAIL, errno, "--log %s", a.log_path);
		rc = -1;
	}
	if (rc < 0)
		return -1;
	if (!vs_opt.quiet)
		fprintf(stderr, "%s: proxy: session ended\n", program_invocation_short_name);
	return 0;
}
