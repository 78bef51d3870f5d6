/* vhost-state: move the internal state of vhost-user back-ends in and out
 * of files.  Top level: common options, verb dispatch, signals, and the
 * final stdout check. */
#include <config.h>

#include <archive.h>
#include <argp.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "cmd.h"
#include "error.h"
#include "io.h"
#include "output.h"
#include "vu-frontend.h"

/* 16 GiB: large enough for any real back-end, small enough that a
 * runaway one cannot fill a disk unnoticed. */
#define VS_MAX_SIZE_DEFAULT (16ull << 30)

struct vs_common_opts vs_opt = { .max_size = VS_MAX_SIZE_DEFAULT };

static void
print_version(FILE *f, struct argp_state *state)
{
	fprintf(f, "%s %s\n", PACKAGE_NAME, PACKAGE_VERSION);
	fprintf(f, "%s\n", archive_version_details());
	fprintf(f, "zstd %s\n", ZSTD_versionString());
	fprintf(f, "json-c %s\n", json_c_version());
}
void (*argp_program_version_hook)(FILE *, struct argp_state *) = print_version;
const char *argp_program_bug_address = NULL;
error_t argp_err_exit_status = VS_EXIT_USAGE;

enum { OPT_MAX_SIZE = 0x100 };

static const struct argp_option common_options[] = {
	{ "timeout", 't', "SECONDS", 0,
	  "Give up when the back-end is silent this long in any single wait (default 30)", 0 },
	{ "verbose", 'v', NULL, 0, "Log every vhost-user message on stderr", 0 },
	{ "quiet", 'q', NULL, 0, "Print no summary line", 0 },
	{ "force", 'f', NULL, 0, "Overwrite existing files; allow binary data on a terminal", 0 },
	{ "max-size", OPT_MAX_SIZE, "BYTES", 0,
	  "Refuse a state larger than BYTES (suffixes K, M, G, T; default 16G)", 0 },
	{ 0 }
};

static int
parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	int shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	switch (*end) {
	case 'K': case 'k': shift = 10; end++; break;
	case 'M': case 'm': shift = 20; end++; break;
	case 'G': case 'g': shift = 30; end++; break;
	case 'T': case 't': shift = 40; end++; break;
	}
	if (shift && (*end == 'i' || *end == 'I') && (end[1] == 'B' || end[1] == 'b'))
		end += 2;
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

static error_t
parse_common(int key, char *arg, struct argp_state *state)
{
	switch (key) {
	case 't': {
		char *end;
		double t = strtod(arg, &end);
		if (*end || end == arg || !(t > 0) || t > 86400)
			argp_error(state, "--timeout takes seconds, more than 0 and at most 86400: '%s'", arg);
		vs_timeout_ms = t * 1000 < 1 ? 1 : (int)(t * 1000);
		break;
	}
	case 'v': vs_opt.verbose = vs_vu_verbose = true; break;
	case 'q': vs_opt.quiet = true; break;
	case 'f': vs_opt.force = true; break;
	case OPT_MAX_SIZE:
		if (parse_size(arg, &vs_opt.max_size) < 0 || vs_opt.max_size == 0)
			argp_error(state, "--max-size takes a positive byte count such as 64M: '%s'", arg);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

const struct argp vs_common_argp = { common_options, parse_common, NULL, NULL, NULL, NULL, NULL };

struct verb {
	const char *name;
	int (*run)(int, char **);
};
static const struct verb verbs[] = {
	{ "info", vs_cmd_info },
	{ "dump", vs_cmd_dump },
	{ "restore", vs_cmd_restore },
	{ "verify", vs_cmd_verify },
};

static const char top_doc[] =
	"Move the internal state of vhost-user back-ends (virtiofsd, passt, ...)"
	" in and out of files."
	"\v"
	"Commands:\n"
	"  info SOCKET               features, queues, device-state support\n"
	"  dump SOCKET [-o FILE]     save the state as a QEMU-compatible stream\n"
	"  restore SOCKET [-i FILE]  load a state stream into the back-end\n"
	"  verify SOCKET FILE        load FILE, save again, compare the payloads\n"
	"\n"
	"`vhost-state COMMAND --help` describes each one.  The tool is a\n"
	"vhost-user front-end that connects to the back-end's unix socket.\n"
	"Connecting consumes a one-shot back-end such as virtiofsd, which serves\n"
	"one front-end and exits when it leaves: use a fresh instance per command.\n"
	"\n"
	"Exit status:\n"
	"   0  success (verify: the back-end holds the same state)\n"
	"   1  the operation failed: refused, CHECK non-zero, I/O error\n"
	"   2  verify: the back-end holds a different state\n"
	"  64  usage error\n"
	"  65  malformed input stream\n"
	"  69  back-end unavailable, closed the connection, or lacks DEVICE_STATE\n"
	"  75  timed out waiting for the back-end\n"
	"  76  the back-end broke the protocol\n"
	" 128+N killed by signal N\n"
	"\n"
	"Environment: VHOST_STATE_DEBUG=1 is the same as -v.";

static int verb_index;

static error_t
parse_top(int key, char *arg, struct argp_state *state)
{
	switch (key) {
	case ARGP_KEY_ARG:
		verb_index = state->next - 1;
		state->next = state->argc; /* the verb parses the rest */
		return 0;
	case ARGP_KEY_NO_ARGS:
		argp_error(state, "a command is required (info, dump, restore, verify)");
		return 0;
	}
	return ARGP_ERR_UNKNOWN;
}

static const struct argp_child top_children[] = { { &vs_common_argp, 0, "Common options:", 10 }, { 0 } };
static const struct argp top_argp = { NULL, parse_top, "COMMAND [ARG...]", top_doc, top_children, NULL, NULL };

static void
on_signal(int sig)
{
	/* Partial outputs never survive: unlink temp files, then go. */
	vs_cleanup_run();
	_exit(128 + sig);
}

/* With fd 0, 1 or 2 closed, the next socket or pipe would take its
 * number, and the state written to "stdout" would go to the back-end. */
static void
reserve_stdio(void)
{
	int fd;

	vs_stdout_was_closed = fcntl(STDOUT_FILENO, F_GETFD) < 0;
	do
		fd = open("/dev/null", O_RDWR | O_NOCTTY);
	while (fd >= 0 && fd <= STDERR_FILENO);
	if (fd < 0)
		_exit(VS_EXIT_FAIL);
	close(fd);
}

static void
setup_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	/* An inherited "ignore" (nohup, a background job) is the caller's
	 * wish: keep it. */
	static const int polite[] = { SIGINT, SIGHUP };
	for (size_t i = 0; i < sizeof polite / sizeof *polite; i++) {
		struct sigaction old;
		if (sigaction(polite[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
			sigaction(polite[i], &sa, NULL);
	}
}

int
vs_report_error(const char *verb)
{
	const struct vs_error *e = vs_error_get();
	int code = e->exit_code ? e->exit_code : VS_EXIT_FAIL;

	fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, verb,
		e->msg[0] ? e->msg : "failed");
	if (vs_opt.json) {
		struct json_object *doc = json_object_new_object(), *err = json_object_new_object();
		json_object_object_add(err, "message", json_object_new_string(e->msg));
		json_object_object_add(err, "exit_code", json_object_new_int(code));
		if (e->errnum)
			json_object_object_add(err, "errno", json_object_new_int(e->errnum));
		json_object_object_add(doc, "error", err);
		puts(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(doc);
	}
	return code;
}

void
vs_print_feature_names(uint64_t mask, const char *(*name)(unsigned))
{
	for (unsigned bit = 0; bit < 64; bit++) {
		if (!(mask & (1ull << bit)))
			continue;
		if (name(bit))
			printf(" %s", name(bit));
		else
			printf(" bit%u", bit);
	}
}

int
main(int argc, char **argv)
{
	const char *dbg = getenv("VHOST_STATE_DEBUG");
	int rc = VS_EXIT_USAGE;

	reserve_stdio();
	setup_signals();
	if (dbg && *dbg && strcmp(dbg, "0") != 0)
		vs_opt.verbose = vs_vu_verbose = true;

	argp_parse(&top_argp, argc, argv, ARGP_IN_ORDER, NULL, NULL);
	for (size_t i = 0; i < sizeof verbs / sizeof *verbs; i++) {
		if (strcmp(argv[verb_index], verbs[i].name) == 0) {
			char *name = NULL;
			/* "vhost-state dump" in the verb's usage and errors */
			if (asprintf(&name, "%s %s", program_invocation_short_name, verbs[i].name) < 0)
				return VS_EXIT_FAIL;
			argv[verb_index] = name;
			rc = verbs[i].run(argc - verb_index, argv + verb_index);
			free(name);
			goto out;
		}
	}
	fprintf(stderr, "%s: unknown command '%s' (try --help)\n", program_invocation_short_name,
		argv[verb_index]);
	return VS_EXIT_USAGE;
out:
	/* Data written but not flushed is data lost: check stdout. */
	if (fflush(stdout) != 0 || (fclose(stdout) != 0 && errno != EBADF)) {
		if (rc == 0) {
			fprintf(stderr, "%s: stdout: %s\n", program_invocation_short_name, strerror(errno));
			rc = VS_EXIT_FAIL;
		}
	}
	return rc;
}
