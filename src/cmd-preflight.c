/* vhost-state preflight SOURCE --shared-dir DIR: would this state load
 * into a back-end here?  Offline; the model is in src/stream/preflight.c. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <json.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "error.h"
#include "input.h"
#include "payload.h"
#include "preflight.h"
#include "qemu-file.h"

struct preflight_args {
	const char *source, *dir, *device, *as_user;
	long long rlimit_nofile; /* -1: not given */
	enum vs_pf_on_error on_error;
	enum vs_pf_mode mode;
};

enum { OPT_SHARED_DIR = 0x500, OPT_MODE, OPT_ON_ERROR, OPT_AS_USER, OPT_DEVICE, OPT_RLIMIT };

static const struct argp_option options[] = {
	{ "shared-dir", OPT_SHARED_DIR, "DIR", 0, "The directory the destination virtiofsd shares (required)", 0 },
	{ "migration-on-error", OPT_ON_ERROR, "abort|guest-error", 0,
	  "What the destination does with a file it cannot reopen: fail the load (abort, the default) or "
	  "hand the guest an error for it (guest-error)", 0 },
	{ "migration-mode", OPT_MODE, "find-paths|file-handles", 0,
	  "How the destination is set up: file-handles means it can open file handles (root with "
	  "CAP_DAC_READ_SEARCH kept); find-paths, the default, means it cannot", 0 },
	{ "as-user", OPT_AS_USER, "USER[:GROUP]", 0,
	  "Judge permissions for the user the back-end runs as (default: the caller).  A name brings its "
	  "supplementary groups; a number brings none", 0 },
	{ "device", OPT_DEVICE, "ID", 0, "Which back-end of a QEMU migration file (as for extract)", 0 },
	{ "rlimit-nofile", OPT_RLIMIT, "N", 0,
	  "The destination's open-file limit, as virtiofsd's own option (default: what virtiofsd "
	  "started here would set; 0: the current soft limit)", 0 },
	{ 0 }
};

static error_t
parse(void *ctx, int key, char *arg, struct argp_state *state)
{
	struct preflight_args *a = ctx;

	switch (key) {
	case OPT_RLIMIT: {
		char *end;
		errno = 0;
		a->rlimit_nofile = strtoll(arg, &end, 10);
		if (errno || end == arg || *end || a->rlimit_nofile < 0)
			argp_error(state, "--rlimit-nofile: expected a count, not '%s'", arg);
		break;
	}
	case OPT_ON_ERROR:
		if (!strcmp(arg, "abort"))
			a->on_error = VS_PF_ABORT;
		else if (!strcmp(arg, "guest-error"))
			a->on_error = VS_PF_GUEST_ERROR;
		else
			argp_error(state, "--migration-on-error: expected abort or guest-error, not '%s'", arg);
		break;
	case OPT_MODE:
		if (!strcmp(arg, "find-paths"))
			a->mode = VS_PF_MODE_FIND_PATHS;
		else if (!strcmp(arg, "file-handles"))
			a->mode = VS_PF_MODE_FILE_HANDLES;
		else
			argp_error(state, "--migration-mode: expected find-paths or file-handles, not '%s'", arg);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static void
dir_given(const void *ctx, const struct argp_state *state)
{
	if (!((const struct preflight_args *)ctx)->dir)
		argp_error(state, "--shared-dir is required");
}

static const struct argp preflight_argp = VS_VERB_ARGP(
	options, "SOURCE",
	"Tell, without any back-end, whether a virtiofsd state would load into a fresh virtiofsd sharing "
	"DIR: every inode is reopened under DIR in the order virtiofsd takes them (paths, recorded file "
	"handles, mount paths), then every open handle is judged against the file's type and "
	"permissions for the back-end's user.  Problems are listed one a line, the first failure first.  "
	"SOURCE is a raw stream, a .vhsnap archive (zstd or not) or a QEMU migration file.  Exit 0: it "
	"would load (with guest-error, problems are listed as the guest's errors); 2: it would fail; "
	"65: the state is malformed or no back-end would take it.  passt states get their version "
	"checked; their flows can only be checked at restore.",
	VS_JSON_CHILD);

/* USER[:GROUP], by name or number. */
static int
parse_user(const char *spec, struct vs_pf_user *u, gid_t **groups)
{
	char name[256], *colon, *end;
	const char *gname = NULL;
	struct passwd *pw = NULL;
	int ngroups = 0;

	snprintf(name, sizeof name, "%s", spec);
	if ((colon = strchr(name, ':'))) {
		*colon = '\0';
		gname = colon + 1;
	}
	errno = 0;
	unsigned long v = strtoul(name, &end, 10);
	if (name[0] && !*end) {
		u->uid = (uid_t)v;
		pw = getpwuid(u->uid);
		u->gid = pw ? pw->pw_gid : (gid_t)v;
		pw = NULL; /* a number: no supplementary groups */
	} else if ((pw = getpwnam(name))) {
		u->uid = pw->pw_uid;
		u->gid = pw->pw_gid;
	} else {
		return vs_fail(VS_EXIT_USAGE, 0, "--as-user: no user '%s'", name);
	}
	if (gname) {
		struct group *gr;
		v = strtoul(gname, &end, 10);
		if (gname[0] && !*end)
			u->gid = (gid_t)v;
		else if ((gr = getgrnam(gname)))
			u->gid = gr->gr_gid;
		else
			return vs_fail(VS_EXIT_USAGE, 0, "--as-user: no group '%s'", gname);
	}
	if (pw) {
		getgrouplist(pw->pw_name, u->gid, NULL, &ngroups);
		*groups = calloc(ngroups ? ngroups : 1, sizeof **groups);
		if (!*groups)
			return vs_fail(VS_EXIT_FAIL, ENOMEM, "--as-user");
		if (getgrouplist(pw->pw_name, u->gid, *groups, &ngroups) < 0)
			ngroups = 0;
		u->groups = *groups;
		u->ngroups = ngroups;
	}
	u->privileged = u->uid == 0;
	return 0;
}

static int
caller_user(struct vs_pf_user *u, gid_t **groups)
{
	int n = getgroups(0, NULL);

	u->uid = geteuid();
	u->gid = getegid();
	u->privileged = u->uid == 0;
	*groups = calloc(n > 0 ? n : 1, sizeof **groups);
	if (!*groups)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "preflight");
	n = getgroups(n, *groups);
	u->groups = *groups;
	u->ngroups = n > 0 ? (size_t)n : 0;
	return 0;
}

/* The open-file limit virtiofsd would run with if started here with
 * --rlimit-nofile=asked (-1: not given), as its limits.rs sets it: by
 * default 1,000,000 (at most fs.nr_open) unless the soft limit is higher,
 * else the hard limit when raising fails.  Our own limit is raised on the
 * way, as we need descriptors too; an asked limit is only computed. */
static uint64_t
virtiofsd_nofile(long long asked)
{
	struct rlimit cur, want;
	uint64_t nr_open = 1048576, target;
	FILE *f;

	if (getrlimit(RLIMIT_NOFILE, &cur) < 0)
		return 0;
	if (asked > 0)
		return (uint64_t)asked;
	if (asked == 0)
		return cur.rlim_cur;
	if ((f = fopen("/proc/sys/fs/nr_open", "re"))) {
		if (fscanf(f, "%" SCNu64, &nr_open) != 1)
			nr_open = 1048576;
		fclose(f);
	}
	target = nr_open < 1000000 ? nr_open : 1000000;
	if (target <= cur.rlim_cur)
		return cur.rlim_cur;
	want.rlim_cur = want.rlim_max = target;
	if (setrlimit(RLIMIT_NOFILE, &want) == 0)
		return target;
	want.rlim_cur = want.rlim_max = cur.rlim_max;
	(void)setrlimit(RLIMIT_NOFILE, &want);
	return cur.rlim_max;
}

/* A QEMU migration file's back-end state, as a raw stream in a memfd
 * that the ordinary reader then opens. */
static int
from_migration(const char *path, const char *device, char *name, size_t len)
{
	struct vs_qemu_file q = { .fd = -1 };
	struct vs_sink sink;
	size_t i;
	int fd = -1;

	if (vs_qemu_file_open(&q, path, vs_opt.max_size, vs_opt.timeout_ms) < 0)
		return -1;
	if (vs_qemu_file_choose(&q, device, &i) < 0)
		goto fail;
	fd = memfd_create("vhost-state-preflight", MFD_CLOEXEC);
	if (fd < 0) {
		vs_error_set(VS_EXIT_FAIL, errno, "memfd_create");
		goto fail;
	}
	vs_sink_fd_init(&sink, fd, "memfd");
	if (vs_qemu_file_copy_state(&q, i, &sink) < 0)
		goto fail;
	vs_qemu_file_close(&q);
	snprintf(name, len, "/proc/self/fd/%d", fd);
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	vs_qemu_file_close(&q);
	return -1;
}

int
vs_cmd_preflight(int argc, char **argv)
{
	struct preflight_args a = { .on_error = VS_PF_ABORT, .rlimit_nofile = -1 };
	struct vs_state_input in = { 0 };
	struct vs_chunk_limits lim = { 0 };
	struct vs_pf_opts o = { .dir_fd = -1 };
	struct json_object *result = NULL;
	unsigned char *payload = NULL;
	gid_t *groups = NULL;
	char memname[64];
	const char *path;
	size_t plen = 0;
	int mig_fd = -1, rc;
	enum vs_input_load loaded;
	uint64_t nofile;
	bool opened = false;

	struct vs_verb_args va = {
		.pos = { .slot = { &a.source }, .required = 1, .missing = "SOURCE is required (- for stdin)",
			 .usage = argp_error },
		.opt = { { OPT_SHARED_DIR, .arg = &a.dir }, { OPT_DEVICE, .arg = &a.device },
			 { OPT_AS_USER, .arg = &a.as_user } },
		.parse = parse,
		.end = dir_given,
		.ctx = &a,
	};

	argp_parse(&preflight_argp, argc, argv, 0, NULL, &va);
	/* refuse a wrong directory or user before reading anything */
	o.dir = a.dir;
	o.dir_fd = open(a.dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (o.dir_fd < 0) {
		vs_error_set(VS_EXIT_USAGE, errno, "--shared-dir %s", a.dir);
		goto fail;
	}
	if ((a.as_user ? parse_user(a.as_user, &o.user, &groups) : caller_user(&o.user, &groups)) < 0)
		goto fail;
	o.on_error = a.on_error;
	o.mode = a.mode;
	o.details = vs_opt.verbose;
	nofile = virtiofsd_nofile(a.rlimit_nofile);
	if (nofile && nofile <= VS_PF_VIRTIOFSD_FD_RESERVE) {
		vs_error_set(VS_EXIT_USAGE, 0,
			     "an open-file limit of %" PRIu64 " is too small for virtiofsd to start (it keeps %u)",
			     nofile, VS_PF_VIRTIOFSD_FD_RESERVE);
		goto fail;
	}
	o.fd_slots = nofile ? nofile - VS_PF_VIRTIOFSD_FD_RESERVE : 0;

	path = a.source;
	if (vs_qemu_file_sniff(a.source)) {
		if ((mig_fd = from_migration(a.source, a.device, memname, sizeof memname)) < 0)
			goto fail;
		path = memname;
	} else if (a.device) {
		vs_error_set(VS_EXIT_USAGE, 0, "--device: %s is not a QEMU migration file", a.source);
		goto fail;
	}
	lim.max_total = vs_opt.max_size;
	if (vs_cmd_input_open(&in, path, &lim) < 0)
		goto fail;
	opened = true;
	loaded = vs_state_input_load(&in, vs_opt.max_size, &payload, &plen);
	if (loaded == VS_INPUT_LOAD_ERROR)
		goto fail;
	if (in.kind == VS_KIND_NET) {
		struct vs_passt_header h;
		vs_passt_header(payload, plen, &h);
		rc = vs_preflight_net(&h, &result);
	} else {
		struct vs_vfs_state st;
		char err[160];
		size_t trailing = 0;
		int d = vs_vfs_load(payload, plen, &st, &trailing, err, sizeof err);
		if (d != 0) {
			if (d > 0)
				vs_vfs_state_free(&st);
			vs_error_set(VS_EXIT_DATAERR, 0, "%s: not a state virtiofsd would read: %s", a.source,
				     d > 0 ? "it ends early" : err);
			goto fail;
		}
		rc = vs_preflight_fs(&st, trailing, &o, &result);
		vs_vfs_state_free(&st);
		if (rc < 0)
			goto fail;
	}
	json_object_object_add(result, "source", json_object_new_string(a.source));
	if (vs_opt.json)
		puts(json_object_to_json_string_ext(result, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	else if (!vs_opt.quiet || rc != 0)
		vs_preflight_print(result, stdout);
	json_object_put(result);
	free(payload);
	free(groups);
	vs_state_input_close(&in);
	if (mig_fd >= 0)
		close(mig_fd);
	close(o.dir_fd);
	return rc;
fail:
	free(payload);
	free(groups);
	if (opened)
		vs_state_input_close(&in);
	if (mig_fd >= 0)
		close(mig_fd);
	if (o.dir_fd >= 0)
		close(o.dir_fd);
	return -1;
}
