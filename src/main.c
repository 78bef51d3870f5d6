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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>
#include <nettle/version.h>

#include "cleanup.h"
#include "cmd.h"
#include "error.h"
#include "input.h"
#include "io.h"
#include "log.h"
#include "output.h"
#include "progress.h"
#include "peer-owner.h"
#include "result.h"
#include "sink.h"
#include "vu-frontend.h"

/* 16 GiB: large enough for any real back-end, small enough that a
 * runaway one cannot fill a disk unnoticed. */
#define VS_MAX_SIZE_DEFAULT (16ull << 30)

struct vs_common_opts vs_opt = { .max_size = VS_MAX_SIZE_DEFAULT, .progress_fd = -1,
				  .timeout_ms = VS_TIMEOUT_DEFAULT_MS };

/* cmd.h */
const char *vs_program;
const char *vs_verb;

/* The library's lines, with that prefix; the -v protocol trace carries
 * only the program's name. */
static void
log_line(enum vs_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level == VS_LOG_DEBUG || !vs_verb)
		fprintf(stderr, "%s: %s\n", vs_program, msg);
	else
		fprintf(stderr, "%s: %s: %s\n", vs_program, vs_verb, msg);
}

static const char *
nettle_version(void)
{
	static char v[24];
	snprintf(v, sizeof v, "%d.%d", nettle_version_major(), nettle_version_minor());
	return v;
}

static void
print_version_json(void)
{
	struct json_object *doc = json_object_new_object();

	json_object_object_add(doc, PACKAGE_NAME, json_object_new_string(PACKAGE_VERSION));
	json_object_object_add(doc, "libarchive", json_object_new_string(archive_version_string() + strlen("libarchive ")));
	json_object_object_add(doc, "zstd", json_object_new_string(ZSTD_versionString()));
	json_object_object_add(doc, "json-c", json_object_new_string(json_c_version()));
	json_object_object_add(doc, "nettle", json_object_new_string(nettle_version()));
	puts(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(doc);
}

static void
print_version(FILE *f, struct argp_state *state)
{
	fprintf(f, "%s %s\n", PACKAGE_NAME, PACKAGE_VERSION);
	fprintf(f, "%s\n", archive_version_details());
	fprintf(f, "zstd %s\n", ZSTD_versionString());
	fprintf(f, "json-c %s\n", json_c_version());
	fprintf(f, "nettle %s\n", nettle_version());
}
void (*argp_program_version_hook)(FILE *, struct argp_state *) = print_version;
const char *argp_program_bug_address = NULL;
error_t argp_err_exit_status = VS_EXIT_USAGE;

enum { OPT_MAX_SIZE = 0x100, OPT_PROGRESS };

static const struct argp_option common_options[] = {
	{ "timeout", 't', "SECONDS", 0,
	  "Give up when the back-end is silent this long in any single wait (default 30)", 0 },
	{ "verbose", 'v', NULL, 0, "Log every vhost-user message on stderr", 0 },
	{ "quiet", 'q', NULL, 0, "Print no summary line", 0 },
	{ "force", 'f', NULL, 0, "Overwrite existing files; allow binary data on a terminal", 0 },
	{ "max-size", OPT_MAX_SIZE, "BYTES", 0,
	  "Refuse a state larger than BYTES (suffixes K, M, G, T; default 16G)", 0 },
	{ "progress", OPT_PROGRESS, "FD", OPTION_ARG_OPTIONAL,
	  "Show progress on stderr even when it is not a terminal; with FD, write machine-readable "
	  "progress lines there instead", 0 },
	{ NULL, 'h', NULL, 0, "Give this help list (the same as --help)", -1 },
	{ 0 }
};

int
vs_parse_size(const char *s, uint64_t *out)
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

/* getopt prints its own errors ("unrecognized option") after argv[0],
 * argp its usage and "Try ... --help" after state->name: argv[0] gets
 * "vhost-state: dump" and state->name "vhost-state dump". */
static char *verb_prefix, *verb_display, **verb_argv;

static void
verb_names(struct argp_state *state)
{
	if (!vs_verb || !verb_prefix)
		return;
	free(verb_argv);
	verb_argv = malloc((state->argc + 1) * sizeof *verb_argv);
	if (!verb_argv)
		return;
	memcpy(verb_argv, state->argv, (state->argc + 1) * sizeof *verb_argv);
	verb_argv[0] = verb_prefix;
	state->argv = verb_argv;
	/* argp names a parse whose argv is not the caller's after the
	 * program (__argp_short_program_name); restored at ARGP_KEY_FINI */
	program_invocation_short_name = verb_display;
}

void
vs_usage_error(const struct argp_state *state, const char *fmt, ...)
{
	va_list ap;

	fputs(vs_program, stderr);
	fputs(": ", stderr);
	if (vs_verb)
		fprintf(stderr, "%s: ", vs_verb);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	argp_state_help(state, stderr, ARGP_HELP_STD_ERR);
	exit(VS_EXIT_USAGE); /* not reached: ARGP_HELP_STD_ERR exits */
}

/* ARGP_KEY_ARG and ARGP_KEY_END for p (both exit 64 on an error);
 * ARGP_ERR_UNKNOWN for every other key. */
static error_t
parse_positional(const struct vs_positional *p, int key, char *arg, struct argp_state *state)
{
	void (*usage)(const struct argp_state *, const char *, ...) = p->usage ? p->usage : vs_usage_error;
	unsigned given = 0, i;

	for (i = 0; p->slot[i] && *p->slot[i]; i++)
		given++;
	switch (key) {
	case ARGP_KEY_ARG:
		if (p->slot[i])
			*p->slot[i] = arg;
		else if (p->rest)
			p->rest[(*p->nrest)++] = arg;
		else
			usage(state, p->extra ? p->extra : "too many arguments: '%s'", arg);
		return 0;
	case ARGP_KEY_END:
		if (given + (p->nrest ? (unsigned)*p->nrest : 0) < p->required)
			usage(state, "%s", p->missing);
		return 0;
	}
	return ARGP_ERR_UNKNOWN;
}

error_t
vs_parse_verb(int key, char *arg, struct argp_state *state)
{
	const struct vs_verb_args *v = state->input;
	error_t rc = ARGP_ERR_UNKNOWN, own;

	for (const struct vs_verb_opt *o = v->opt; o->key; o++)
		if (o->key == key) {
			if (o->arg)
				*o->arg = arg;
			else
				*o->flag = true;
			return 0;
		}
	if (key == ARGP_KEY_ARG || key == ARGP_KEY_END)
		rc = parse_positional(&v->pos, key, arg, state);
	if (key == ARGP_KEY_END && v->end)
		v->end(v->ctx, state);
	if (key != ARGP_KEY_ARG && key != ARGP_KEY_END && v->parse &&
	    (own = v->parse(v->ctx, key, arg, state)) != ARGP_ERR_UNKNOWN)
		rc = own;
	return rc;
}

static error_t
parse_common(int key, char *arg, struct argp_state *state)
{
	switch (key) {
	case ARGP_KEY_INIT:
		verb_names(state);
		return 0;
	case ARGP_KEY_FINI:
		program_invocation_short_name = (char *)vs_program;
		return 0;
	case 'h':
		argp_state_help(state, state->out_stream, ARGP_HELP_STD_HELP);
		break;
	case 't': {
		char *end;
		double t = strtod(arg, &end);
		if (*end || end == arg || !(t > 0) || t > 86400)
			vs_usage_error(state, "--timeout takes seconds, more than 0 and at most 86400: '%s'", arg);
		vs_opt.timeout_ms = t * 1000 < 1 ? 1 : (int)(t * 1000);
		break;
	}
	case 'v': vs_opt.verbose = true; break;
	case 'q': vs_opt.quiet = true; break;
	case 'f': vs_opt.force = true; break;
	case OPT_PROGRESS:
		if (arg) {
			char *end;
			long fd = strtol(arg, &end, 10);
			int fl;
			if (*end || end == arg || fd < 0 || fd > 1023 || (fl = fcntl((int)fd, F_GETFL)) < 0)
				vs_usage_error(state, "--progress=FD takes an open file descriptor: '%s'", arg);
			if (fd == STDIN_FILENO || (fl & O_ACCMODE) == O_RDONLY)
				vs_usage_error(state, "--progress=FD: fd %ld is not open for writing%s", fd,
					       fd == STDIN_FILENO ? " (it is stdin)" : "");
			vs_opt.progress_fd = (int)fd;
		} else {
			vs_opt.progress = true;
		}
		break;
	case ARGP_KEY_END:
		if (vs_opt.json && vs_opt.progress_fd == STDOUT_FILENO)
			vs_usage_error(state, "--progress=1 would mix progress lines into --json's document on stdout");
		return 0;
	case OPT_MAX_SIZE:
		if (vs_parse_size(arg, &vs_opt.max_size) < 0 || vs_opt.max_size == 0)
			vs_usage_error(state, "--max-size takes a positive byte count such as 64M: '%s'", arg);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

const struct argp vs_common_argp = { common_options, parse_common, NULL, NULL, NULL, NULL, NULL };

/* --json, for the verbs that print a result */
enum { OPT_JSON = 0x300 };
static const struct argp_option json_options[] = {
	{ "json", OPT_JSON, NULL, 0, "Print one JSON document on stdout (failures too)", 0 },
	{ 0 }
};

static error_t
parse_json(int key, char *arg, struct argp_state *state)
{
	if (key != OPT_JSON)
		return ARGP_ERR_UNKNOWN;
	vs_opt.json = true;
	return 0;
}

const struct argp vs_json_argp = { json_options, parse_json, NULL, NULL, NULL, NULL, NULL };

struct vs_format_opts vs_fmt = { .archive = -1, .zstd_level = VS_ZSTD_OFF, .threads = 1 };

enum { OPT_FORMAT = 0x200, OPT_ZSTD, OPT_THREADS };
static const struct argp_option format_options[] = {
	{ "format", OPT_FORMAT, "raw|archive", 0,
	  "raw: QEMU's stream; archive: the .vhsnap container (default: archive for *.vhsnap "
	  "names, else raw)", 0 },
	{ "zstd", OPT_ZSTD, "LEVEL", OPTION_ARG_OPTIONAL,
	  "Compress with zstd (default level 3; also implied by a *.zst name)", 0 },
	{ "threads", OPT_THREADS, "N", 0, "zstd worker threads (default 1, as zstd -T1: beside the receiving thread; 0: in it; -1: one per core)", 0 },
	{ 0 }
};

static error_t
parse_format(int key, char *arg, struct argp_state *state)
{
	char *end;
	long v;

	switch (key) {
	case OPT_FORMAT:
		if (strcmp(arg, "raw") == 0)
			vs_fmt.archive = 0;
		else if (strcmp(arg, "archive") == 0)
			vs_fmt.archive = 1;
		else
			vs_usage_error(state, "--format is raw or archive, not '%s'", arg);
		break;
	case OPT_ZSTD:
		vs_fmt.zstd_level = VS_ZSTD_DEFAULT_LEVEL;
		if (arg) {
			v = strtol(arg, &end, 10);
			if (*end || end == arg || v < vs_zstd_min_level() || v > vs_zstd_max_level())
				vs_usage_error(state, "--zstd=LEVEL takes %d to %d: '%s'", vs_zstd_min_level(),
					   vs_zstd_max_level(), arg);
			vs_fmt.zstd_level = (int)v;
		}
		break;
	case OPT_THREADS:
		v = strtol(arg, &end, 10);
		if (*end || end == arg || v < -1 || v > 256)
			vs_usage_error(state, "--threads takes -1 to 256: '%s'", arg);
		vs_fmt.threads = v == -1 ? (int)sysconf(_SC_NPROCESSORS_ONLN) : (int)v;
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

const struct argp vs_format_argp = { format_options, parse_format, NULL, NULL, NULL, NULL, NULL };

static bool
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

void
vs_format_from_name(const char *path)
{
	bool zst = path && ends_with(path, ".zst");

	if (vs_fmt.archive < 0)
		vs_fmt.archive = path && (ends_with(path, ".vhsnap") || ends_with(path, ".vhsnap.zst"));
	if (vs_fmt.zstd_level == VS_ZSTD_OFF && zst)
		vs_fmt.zstd_level = VS_ZSTD_DEFAULT_LEVEL;
}

struct verb {
	const char *name;
	int (*run)(int, char **);
};
static const struct verb verbs[] = {
	{ "info", vs_cmd_info },
	{ "dump", vs_cmd_dump },
	{ "restore", vs_cmd_restore },
	{ "verify", vs_cmd_verify },
	{ "run", vs_cmd_run },
	{ "inspect", vs_cmd_inspect },
	{ "convert", vs_cmd_convert },
	{ "diff", vs_cmd_diff },
	{ "extract", vs_cmd_extract },
	{ "inject", vs_cmd_inject },
	{ "proxy", vs_cmd_proxy },
	{ "snapshot", vs_cmd_snapshot },
	{ "preflight", vs_cmd_preflight },
};

static const char top_doc[] =
	"Move the internal state of vhost-user back-ends (virtiofsd, passt, ...)"
	" in and out of files."
	"\v"
	"Commands:\n"
	"  info SOCKET               features, queues, device-state support\n"
	"  info --no-connect SOCKET  who listens there, without connecting\n"
	"  dump SOCKET [-o FILE]     save the state as a QEMU-compatible stream\n"
	"  restore SOCKET [-i FILE]  load a state stream into the back-end\n"
	"  verify SOCKET FILE        load FILE, save again, compare the payloads\n"
	"  run SOCKET STEP...        steps on one connection: start, stop, save...\n"
	"  inspect FILE              what a state file holds (no back-end needed)\n"
	"  convert IN OUT            raw <-> archive, zstd or not, losslessly\n"
	"  diff A B                  compare two states' payloads\n"
	"  extract MIGFILE [-o FILE] a back-end's state out of a QEMU migration file\n"
	"  inject MIGFILE STATE -o OUT  a copy of MIGFILE holding STATE instead\n"
	"  proxy --listen S --connect S  relay, log and tee a VM's vhost-user traffic\n"
	"  snapshot CTRL [-o FILE]   a paused VM's back-end state, through the proxy\n"
	"  preflight SRC --shared-dir DIR  would the state load here? (offline)\n"
	"  help [COMMAND]            this help, or COMMAND's (as -h, --help)\n"
	"\n"
	"`vhost-state COMMAND --help` describes each one.  The tool is a\n"
	"vhost-user front-end that connects to the back-end's unix socket.\n"
	"Connecting consumes a one-shot back-end such as virtiofsd, which serves\n"
	"one front-end and exits when it leaves: use a fresh instance per command.\n"
	"\n"
	"Exit status (the same condition gives the same status in every command):\n"
	"   0  success (verify: the back-end holds the same state)\n"
	"   1  the operation failed: refused, CHECK non-zero, I/O error\n"
	"   2  verify: the back-end holds a different state; diff: they differ;\n"
	"      preflight: the state would not load\n"
	"  64  usage error; an output or socket path already there (without -f)\n"
	"  65  malformed input (stream, archive, manifest, digest), or over --max-size\n"
	"  69  back-end unavailable, closed the connection, or lacks what is asked\n"
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
		vs_usage_error(state, "a command is required (`vhost-state --help` lists them)");
		return 0;
	}
	return ARGP_ERR_UNKNOWN;
}

static const struct argp_child top_children[] = { VS_JSON_CHILD, { &vs_common_argp, 0, "Common options:", 10 },
						  { 0 } };
static const struct argp top_argp = { NULL, parse_top, "COMMAND [ARG...]", top_doc, top_children, NULL, NULL };

static void
on_signal(int sig)
{
	/* Partial outputs never survive: unlink temp files, then go. */
	vs_cleanup_run();
	_exit(128 + sig);
}

/* VHOST_STATE_CHECK_FDS=1 (the test suite sets it): every fd open at exit
 * must have been open at start, or the run fails with a list of leaks.
 * valgrind's own fd tracking cannot fail a run; this can. */
#define VS_FD_CHECK_MAX 1024
static unsigned char fds_at_start[VS_FD_CHECK_MAX / 8];
static bool fd_check;

static void
fd_snapshot(unsigned char *set)
{
	memset(set, 0, VS_FD_CHECK_MAX / 8);
	for (int fd = 0; fd < VS_FD_CHECK_MAX; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			set[fd / 8] |= 1 << (fd % 8);
}

static int
fd_leaks(void)
{
	unsigned char now[VS_FD_CHECK_MAX / 8];
	int leaks = 0;

	fd_snapshot(now);
	for (int fd = 0; fd < VS_FD_CHECK_MAX; fd++) {
		char link[64], target[256] = "?";
		ssize_t n;
		if (!(now[fd / 8] & (1 << (fd % 8))) || (fds_at_start[fd / 8] & (1 << (fd % 8))))
			continue;
		snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
		n = readlink(link, target, sizeof target - 1);
		target[n > 0 ? n : 1] = '\0';
		vs_warn("fd leak: fd %d (%s) is still open at exit", fd, target);
		leaks++;
	}
	return leaks;
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

struct json_object *vs_error_json_extra;
char vs_fail_step[320];

/* The library words an error in its own terms; here it gets the option
 * (or the command) of ours behind it. */
static const char *const hint_text[] = {
	[VS_HINT_MAX_SIZE] = " (--max-size)",
	[VS_HINT_DEVICE] = "; choose one with --device",
	[VS_HINT_MEM_TABLE] = " (--mem-table)",
	[VS_HINT_MIGRATION_STREAM] = ": `vhost-state extract MIGFILE` takes a back-end's state out of it",
	[VS_HINT_LIBVIRT_IMAGE] = ": `vhost-state extract IMAGE` takes a back-end's state out of it",
	[VS_HINT_OUTPUT_EXISTS] = " (use -f to overwrite)",
	[VS_HINT_OUTPUT_TERMINAL] = " (use -f)",
	[VS_HINT_STDOUT_TERMINAL] = " (use -o FILE, a pipe, or -f)",
};

/* Print the current error (and a JSON error document with --json);
 * returns the exit status to use. */
static int
report_error(const char *verb)
{
	const struct vs_error *e = vs_error_get();
	int code = e->exit_code ? e->exit_code : VS_EXIT_FAIL;

	if ((size_t)e->hint < sizeof hint_text / sizeof *hint_text && hint_text[e->hint]) {
		vs_error_append("%s", hint_text[e->hint]);
		vs_error_hint(VS_HINT_NONE);
	}

	fprintf(stderr, "%s: %s: %s%s%s\n", vs_program, verb, vs_fail_step, vs_fail_step[0] ? ": " : "",
		e->msg[0] ? e->msg : "failed");
	if (vs_opt.json) {
		struct json_object *doc = json_object_new_object(), *err = json_object_new_object();
		json_object_object_add(err, "message", json_object_new_string(e->msg));
		json_object_object_add(err, "exit_code", json_object_new_int(code));
		if (e->errnum)
			json_object_object_add(err, "errno", json_object_new_int(e->errnum));
		json_object_object_add(doc, "error", err);
		/* what a verb did before it failed (run: the steps done) */
		if (vs_error_json_extra) {
			json_object_object_foreach(vs_error_json_extra, key, val)
				json_object_object_add(doc, key, json_object_get(val));
			json_object_put(vs_error_json_extra);
			vs_error_json_extra = NULL;
		}
		vs_json_print(doc);
		json_object_put(doc);
	}
	return code;
}

int
vs_cmd_output_open(struct vs_output *out, const char *path, unsigned flags)
{
	/* as vs_output_open leaves it: vs_output_abort is safe */
	memset(out, 0, sizeof *out);
	out->fd = -1;
	out->cleanup_slot = -1;
	if (!path || strcmp(path, "-") == 0) {
		if (vs_check_stdout() < 0)
			return -1;
		if (vs_progress_fd() == STDOUT_FILENO)
			return vs_fail(VS_EXIT_USAGE, 0,
				       "--progress=1 would mix progress lines into the output on stdout (use -o FILE or "
				       "another fd)");
	}
	return vs_output_open(out, path, flags, vs_opt.timeout_ms);
}

int
vs_cmd_vu_open(struct vs_vu *vu, const char *socket)
{
	const struct vs_vu_open_opts o = VS_VU_OPEN_OPTS_INIT(vs_opt.timeout_ms, vs_opt.verbose);

	return vs_vu_open_with(vu, socket, &o);
}

int
vs_cmd_input_open(struct vs_state_input *in, const char *path, const struct vs_chunk_limits *lim)
{
	in->timeout_ms = vs_opt.timeout_ms;
	return vs_state_input_open(in, path, lim);
}

void
vs_setup_progress(void)
{
	bool human = vs_opt.progress || (!vs_opt.quiet && vs_opt.progress_fd < 0 && isatty(STDERR_FILENO));

	vs_progress_config(human && vs_opt.progress_fd < 0, vs_opt.progress_fd);
}

/* A net state into a fs back-end (or the reverse) is refused unless
 * forced: the back-end would reject it at best.  owner: the process
 * behind the socket, found before connecting or by SO_PEERCRED after. */
int
vs_check_kind(const struct vs_peer_owner *owner, const struct vs_state_input *in, const char *socket, bool connected)
{
	const char *state = in->have_manifest ? in->manifest.kind : vs_payload_kind_name(in->kind);

	if (vs_opt.force || !owner->kind || strcmp(state, "unknown") == 0 || strcmp(state, owner->kind) == 0)
		return 0;
	if (!connected)
		return vs_fail(VS_EXIT_FAIL, 0,
			       "the state is a %s state but %s is a %s back-end (%s, pid %d): refused before connecting, "
			       "the back-end is untouched (-f loads it anyway)",
			       state, socket, owner->kind, owner->name, (int)owner->pid);
	return vs_fail(VS_EXIT_FAIL, 0,
		       "the state is a %s state but %s is a %s back-end (%s, pid %d): nothing was sent, but connecting "
		       "consumed it (a one-shot back-end such as virtiofsd or passt has exited; its owner was not "
		       "visible before connecting); use a fresh instance of a %s back-end (-f loads it anyway)",
		       state, socket, owner->kind, owner->name, (int)owner->pid, state);
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

/* Data written but not flushed is data lost: a --help or a result that
 * could not be written fails the run (as coreutils' close_stdout).  argp
 * exits by itself after --help and --version, hence atexit. */
static bool stdout_closed;

static int
close_stdout(void)
{
	stdout_closed = true;
	errno = 0;
	if (fflush(stdout) != 0 || ferror(stdout) || (fclose(stdout) != 0 && errno != EBADF)) {
		int e = errno;
		fprintf(stderr, "%s: %s%sstdout: %s\n", vs_program, vs_verb ? vs_verb : "", vs_verb ? ": " : "",
			strerror(e ? e : EIO));
		return -1;
	}
	return 0;
}

static void
close_stdout_at_exit(void)
{
	if (!stdout_closed && close_stdout() < 0)
		_exit(VS_EXIT_FAIL);
}

/* help [COMMAND]: the same as --help, or COMMAND --help */
static int
help_verb(int argc, char **argv)
{
	if (argc > 2) {
		fprintf(stderr, "%s: help: one command at most (try `%s help`)\n", vs_program, vs_program);
		return VS_EXIT_USAGE;
	}
	if (argc == 2) {
		for (size_t i = 0; i < sizeof verbs / sizeof *verbs; i++)
			if (strcmp(argv[1], verbs[i].name) == 0)
				return -1 - (int)i;
		fprintf(stderr, "%s: help: unknown command '%s' (`%s help` lists them)\n", vs_program, argv[1],
			vs_program);
		return VS_EXIT_USAGE;
	}
	/* as --help, which argp answers (and exits) */
	char *top_help[] = { (char *)vs_program, "--help", NULL };
	argp_parse(&top_argp, 2, top_help, ARGP_IN_ORDER, NULL, NULL);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *dbg = getenv("VHOST_STATE_DEBUG");
	char *help_argv[3];
	const struct verb *verb = NULL;
	int rc = VS_EXIT_USAGE;

	fd_check = getenv("VHOST_STATE_CHECK_FDS") && strcmp(getenv("VHOST_STATE_CHECK_FDS"), "0") != 0;
	reserve_stdio();
	if (fd_check)
		fd_snapshot(fds_at_start);
	vs_cleanup_install();
	setup_signals();
	atexit(close_stdout_at_exit);
	if (dbg && *dbg && strcmp(dbg, "0") != 0)
		vs_opt.verbose = true;
	/* "vhost-state: ..." however it was started (./vhost-state, a path) */
	vs_program = program_invocation_short_name;
	vs_log_set_handler(log_line, NULL);
	if (argc > 0)
		argv[0] = (char *)vs_program;

	/* argp acts on --version as soon as it sees it, so look ahead for
	 * --json (only before the command, as for every common option) */
	for (int i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--json") == 0)
			for (int k = 1; k < argc && argv[k][0] == '-'; k++)
				if (strcmp(argv[k], "--version") == 0 || strcmp(argv[k], "-V") == 0) {
					print_version_json();
					return close_stdout() == 0 ? 0 : VS_EXIT_FAIL;
				}
	}
	argp_parse(&top_argp, argc, argv, ARGP_IN_ORDER, NULL, NULL);
	if (strcmp(argv[verb_index], "help") == 0) {
		rc = help_verb(argc - verb_index, argv + verb_index);
		if (rc >= 0)
			goto out;
		/* help COMMAND: run COMMAND --help */
		verb = &verbs[-1 - rc];
		help_argv[0] = argv[verb_index];
		help_argv[1] = "--help";
		help_argv[2] = NULL;
		argc = 2;
		argv = help_argv;
		verb_index = 0;
	} else {
		for (size_t i = 0; i < sizeof verbs / sizeof *verbs; i++)
			if (strcmp(argv[verb_index], verbs[i].name) == 0)
				verb = &verbs[i];
	}
	if (!verb) {
		fprintf(stderr, "%s: unknown command '%s' (`%s help` lists them)\n", vs_program, argv[verb_index],
			vs_program);
		return VS_EXIT_USAGE;
	}
	/* progress is configured when the verb's options are known: see
	 * vs_setup_progress() */
	vs_verb = verb->name;
	/* "" names no socket, file or value; connecting to it would fail
	 * only after the other checks, as "connection refused" */
	for (int i = 1; i < argc; i++)
		if (argv[i][0] == '\0') {
			fprintf(stderr, "%s: %s: argument %d is empty: it names no socket, file or value\n", vs_program,
				vs_verb, i);
			return VS_EXIT_USAGE;
		}
	if (asprintf(&verb_display, "%s %s", vs_program, verb->name) < 0 ||
	    asprintf(&verb_prefix, "%s: %s", vs_program, verb->name) < 0)
		return VS_EXIT_FAIL;
	argv[verb_index] = verb_display;
	rc = verb->run(argc - verb_index, argv + verb_index);
	if (rc < 0)
		rc = report_error(verb->name);
	free(verb_argv);
	free(verb_prefix);
	free(verb_display);
	verb_argv = NULL;
	verb_prefix = verb_display = NULL;
out:
	if (close_stdout() < 0 && rc == 0)
		rc = VS_EXIT_FAIL;
	if (fd_check && fd_leaks() > 0)
		rc = VS_EXIT_SOFTWARE;
	return rc;
}
