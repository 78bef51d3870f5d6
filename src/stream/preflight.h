/* Would a back-end load this state here?  An offline model of what
 * virtiofsd 1.13 does when it is handed a state (its
 * src/passthrough/device_state/deserialization.rs): every inode reopened
 * under the shared directory in the order virtiofsd takes them, then
 * every handle reopened with its flags, for the user the back-end runs
 * as.  Nothing is written and nothing outside the directory is followed.
 * The result is one json-c object (see schema/preflight.schema.json) that
 * callers render as text or JSON. */
#ifndef VS_PREFLIGHT_H
#define VS_PREFLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "payload.h"

struct json_object;

enum vs_pf_on_error { VS_PF_ABORT, VS_PF_GUEST_ERROR };
/* How the destination is set up.  virtiofsd itself ignores its migration
 * mode when loading; what a file-handles setup changes is that the
 * back-end keeps CAP_DAC_READ_SEARCH (--modcaps=+dac_read_search or
 * --inode-file-handles), without which it cannot open the file handles a
 * file-handles state locates inodes by. */
enum vs_pf_mode { VS_PF_MODE_UNSET, VS_PF_MODE_FIND_PATHS, VS_PF_MODE_FILE_HANDLES };

/* Who the back-end runs as.  privileged: uid 0, which virtiofsd runs
 * with CAP_DAC_OVERRIDE kept, so permission bits do not stop it. */
struct vs_pf_user {
	uid_t uid;
	gid_t gid;
	gid_t *groups; /* supplementary, owned by the caller */
	size_t ngroups;
	bool privileged;
};

struct vs_pf_opts {
	int dir_fd;	     /* the shared directory, opened by the caller */
	const char *dir;     /* its name, for messages */
	enum vs_pf_on_error on_error;
	enum vs_pf_mode mode;
	struct vs_pf_user user;
	bool details;	     /* list every inode and handle, not only problems */
	/* descriptor slots the back-end gives the guest: every inode held by
	 * an fd and every open handle takes one (virtiofsd's open-file limit
	 * less its own reserve); 0: no limit */
	uint64_t fd_slots;
};

/* virtiofsd 1.13 keeps this many of its open-file limit for itself
 * (src/main.rs: INTERNAL_FD_RESERVE, MAX_MEM_SLOTS + 100, plus one per
 * pool thread, at least one). */
#define VS_PF_VIRTIOFSD_FD_RESERVE (509u + 100u + 1u)

/* What a check concluded; also the exit status callers use. */
enum vs_pf_verdict {
	VS_PF_RESTORES = 0,	/* every inode and handle reopens */
	VS_PF_FAILS = 2,	/* the load would fail */
	VS_PF_BAD_STATE = 65,	/* rejected whatever the destination holds */
};

/* Check a decoded virtiofsd state; *out receives the result object
 * (caller puts it).  Returns the verdict, or -1 with the error set (I/O
 * on the shared directory itself, out of memory). */
int vs_preflight_fs(const struct vs_vfs_state *st, size_t trailing, const struct vs_pf_opts *o,
		    struct json_object **out);

/* passt: what can be said offline; flows are only checked at restore. */
int vs_preflight_net(const struct vs_passt_header *h, struct json_object **out);

/* Render a result as text, one line per problem. */
void vs_preflight_print(struct json_object *result, FILE *f);

#endif
