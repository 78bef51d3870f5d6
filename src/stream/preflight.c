/* The model follows virtiofsd 1.13's loading code:
 *   src/passthrough/device_state/deserialization.rs  (order, errors, modes)
 *   src/passthrough/inode_store.rs                   (open_file, new_inode)
 *   src/passthrough/util.rs                          (is_safe_inode, reopen)
 *   src/passthrough/file_handle.rs                   (handle comparison)
 *   src/passthrough/mount_fd.rs                      (mount paths)
 * Where it departs from it, a comment says so. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "alloc.h"
#include "error.h"
#include "preflight.h"
#include "vs-json.h"

#define ROOT_ID 1 /* FUSE_ROOT_ID */

/* A directory's names, read once, for children that need no more than
 * to exist: one getdents pass instead of a stat each. */
struct listing {
	char *names;	/* d_type byte, name, NUL; ... */
	size_t used, cap;
	uint32_t *slots; /* offset + 1 into names; 0: empty */
	size_t mask;
	bool failed;	/* could not be read: stat each child instead */
};

/* One serialised inode as the simulated inode store holds it. */
struct node {
	bool inserted, valid;
	int fd;		 /* O_PATH, kept for parents and for inodes with handles */
	mode_t mode;
	uid_t uid;
	gid_t gid;
	dev_t dev;
	char *why;	 /* why it is invalid */
	const char *status;
	struct listing *list; /* when many children only need to exist */
	uint64_t refs;	 /* the refcount, as the load spends it */
	bool slot;	 /* holds one of the guest's descriptor slots */
	bool dropped;	 /* its refcount ran out during the load */
};

/* id -> index, for the inode store (which holds one inode per id). */
struct id_slot {
	uint64_t id;
	size_t idx;
};

struct ro_dev {
	dev_t dev;
	bool ro;
};

struct pf {
	const struct vs_vfs_state *st;
	const struct vs_pf_opts *o;
	struct node *nodes;
	struct id_slot *ids; /* sorted by id */
	long *store;	     /* per slot of ids: index of the inode inserted, or -1 */
	long *by_id;	     /* id -> first slot in ids, when ids are dense */
	size_t nby_id;
	bool *has_children;
	/* a handle's judgement needs the inode's mode bits or file system:
	 * any handle for an unprivileged user, a write handle for root */
	bool *needs_stat;
	uint32_t *light; /* per inode: children that only need to exist */
	struct stat root_st;
	int *mount_fd;	     /* per state mount; -1 when it could not be opened */
	struct ro_dev *rodevs;
	size_t nrodevs;
	/* result */
	struct json_object *problems, *inode_list, *handle_list;
	size_t broken_inodes, broken_handles;
	bool failed;	     /* abort mode: the load stops at the first problem */
	bool hard;	     /* an error no mode tolerates */
	bool bad_state;	     /* ... and the state itself is at fault */
	bool first_done;     /* the first load-stopping problem is marked */
	uint64_t slots_used; /* of o->fd_slots */
};

static int
cmp_slot(const void *a, const void *b)
{
	const struct id_slot *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* ids sorted by id, then by position.  Dense ids (as virtiofsd hands
 * them out) are placed by counting, and by_id finds them directly. */
static void
sort_ids(struct pf *p, uint64_t max_id)
{
	size_t n = p->st->ninodes, *start;

	if (n && max_id < 4 * (uint64_t)n + 1024 && (start = calloc(max_id + 2, sizeof *start))) {
		p->by_id = malloc((max_id + 1) * sizeof *p->by_id);
		if (p->by_id) {
			p->nby_id = max_id + 1;
			for (size_t i = 0; i < n; i++)
				start[p->st->inodes[i].id + 1]++;
			for (size_t k = 1; k <= max_id + 1; k++)
				start[k] += start[k - 1];
			for (size_t k = 0; k <= max_id; k++)
				p->by_id[k] = start[k + 1] > start[k] ? (long)start[k] : -1;
			for (size_t i = 0; i < n; i++)
				p->ids[start[p->st->inodes[i].id]++] = (struct id_slot){ p->st->inodes[i].id, i };
			free(start);
			return;
		}
		free(start);
	}
	for (size_t i = 0; i < n; i++)
		p->ids[i] = (struct id_slot){ p->st->inodes[i].id, i };
	qsort(p->ids, n, sizeof *p->ids, cmp_slot);
}

/* Position in ids of the first slot with this id, or -1. */
static long
find_id(const struct pf *p, uint64_t id)
{
	size_t lo = 0, hi = p->st->ninodes;

	if (p->by_id) /* ids are dense, as virtiofsd hands them out */
		return id < p->nby_id ? p->by_id[id] : -1;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (p->ids[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < p->st->ninodes && p->ids[lo].id == id ? (long)lo : -1;
}

/* The inode the store holds for id, or NULL. */
static const struct vs_vfs_inode *
stored(const struct pf *p, uint64_t id, struct node **n)
{
	long s = find_id(p, id);

	if (s < 0 || p->store[s] < 0)
		return NULL;
	if (n)
		*n = &p->nodes[p->store[s]];
	return &p->st->inodes[p->store[s]];
}

/* The inode the store holds for id, or else the first the state has. */
static const struct vs_vfs_inode *
named(const struct pf *p, uint64_t id)
{
	const struct vs_vfs_inode *ino = stored(p, id, NULL);
	long s;

	if (ino || (s = find_id(p, id)) < 0)
		return ino;
	return &p->st->inodes[p->ids[s].idx];
}

/* Whether an inode of this id was dropped during the load. */
static const struct node *
dropped(const struct pf *p, uint64_t id)
{
	long s = find_id(p, id);

	for (size_t k = (size_t)s; s >= 0 && k < p->st->ninodes && p->ids[k].id == id; k++)
		if (p->nodes[p->ids[k].idx].dropped)
			return &p->nodes[p->ids[k].idx];
	return NULL;
}

/* The path an inode names, relative to the shared directory; "." for the
 * root, "#N/name" when a parent is not in the state. */
static char *
inode_path(const struct pf *p, const struct vs_vfs_inode *ino)
{
	char *path = NULL, *tmp;
	size_t depth = 0;

	switch (ino->location) {
	case VS_LOC_ROOT: return strdup(".");
	case VS_LOC_INVALID: return strdup("");
	case VS_LOC_FULL_PATH: return strdup(ino->name);
	case VS_LOC_FILE_HANDLE: {
		struct node *n = &p->nodes[ino - p->st->inodes];
		char link[64], target[PATH_MAX], base[PATH_MAX];
		ssize_t l, b;
		if (n->fd < 0)
			return strdup("");
		snprintf(link, sizeof link, "/proc/self/fd/%d", n->fd);
		l = readlink(link, target, sizeof target - 1);
		snprintf(link, sizeof link, "/proc/self/fd/%d", p->o->dir_fd);
		b = readlink(link, base, sizeof base - 1);
		if (l < 0 || b < 0)
			return strdup("");
		target[l] = base[b] = '\0';
		if (strncmp(target, base, b) == 0 && (target[b] == '/' || target[b] == '\0'))
			return strdup(target[b] ? target + b + 1 : ".");
		return strdup(""); /* outside: not named */
	}
	case VS_LOC_PATH: break;
	}
	path = strdup(ino->name);
	while (path && ino->location == VS_LOC_PATH && depth++ < p->st->ninodes) {
		const struct vs_vfs_inode *parent = named(p, ino->parent);
		if (!parent) {
			if (asprintf(&tmp, "#%" PRIu64 "/%s", ino->parent, path) < 0)
				tmp = NULL;
		} else if (parent->location == VS_LOC_ROOT) {
			break;
		} else if (parent->location == VS_LOC_PATH || parent->location == VS_LOC_FULL_PATH) {
			if (asprintf(&tmp, "%s/%s", parent->name, path) < 0)
				tmp = NULL;
		} else {
			char *pp = inode_path(p, parent);
			if (!pp || asprintf(&tmp, "%s/%s", pp[0] ? pp : "?", path) < 0)
				tmp = NULL;
			free(pp);
			parent = NULL;
		}
		free(path);
		path = tmp;
		if (!parent || parent->location != VS_LOC_PATH)
			break;
		ino = parent;
	}
	return path;
}

static const char *
errno_status(int e)
{
	switch (e) {
	case ENOENT: return "missing";
	case EACCES: case EPERM: return "permission";
	case ENOTDIR: return "not-a-directory";
	case EISDIR: return "is-a-directory";
	case EBADF: return "not-openable";
	case EROFS: return "read-only";
	case ELOOP: return "symlink";
	case EXDEV: return "outside";
	default: return "error";
	}
}

static const char *
errno_name(int e)
{
	const char *n = strerrorname_np(e);
	return n ? n : "EIO";
}

/* Record a problem; the order of the list is the order of the load. */
static void
problem(struct pf *p, const char *object, uint64_t id, const struct vs_vfs_inode *ino, const char *status, int err,
	const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static void
problem(struct pf *p, const char *object, uint64_t id, const struct vs_vfs_inode *ino, const char *status, int err,
	const char *fmt, ...)
{
	struct json_object *o = json_object_new_object();
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	vs_json_set(o, "object", json_object_new_string(object));
	vs_json_set(o, "id", json_object_new_uint64(id));
	if (ino) {
		char *path = inode_path(p, ino);
		if (strcmp(object, "handle") == 0)
			vs_json_set(o, "inode", json_object_new_uint64(ino->id));
		if (path && path[0])
			vs_json_set(o, "path", json_object_new_string(path));
		free(path);
	}
	vs_json_set(o, "status", json_object_new_string(status));
	if (err)
		vs_json_set(o, "errno", json_object_new_string(errno_name(err)));
	vs_json_set(o, "message", json_object_new_string(msg));
	/* what the load does with it: abort stops at the first; in guest
	 * mode the guest finds it broken; some stop any load */
	bool fatal = p->hard || p->o->on_error == VS_PF_ABORT;
	vs_json_set(o, "effect", json_object_new_string(fatal ? "fatal" : "guest-error"));
	vs_json_set(o, "first", json_object_new_boolean(fatal && !p->first_done));
	p->first_done |= fatal;
	json_object_array_add(p->problems, o);
	if (p->o->on_error == VS_PF_ABORT)
		p->failed = true;
}

/* A load-stopping error whatever the mode (virtiofsd returns it without
 * going through deserialize_invalid_inode). */
static void
hard(struct pf *p, bool state_at_fault, const char *object, uint64_t id, const struct vs_vfs_inode *ino,
     const char *status, const char *msg)
{
	p->hard = true;
	p->failed = true;
	p->bad_state |= state_at_fault;
	problem(p, object, id, ino, status, 0, "%s", msg);
}

static uint32_t
name_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static bool
list_add(struct listing *l, const char *name, unsigned char type)
{
	size_t n = strlen(name) + 2;

	if (l->used + n > l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 4096;
		while (cap < l->used + n)
			cap *= 2;
		char *b = realloc(l->names, cap);
		if (!b)
			return false;
		l->names = b;
		l->cap = cap;
	}
	if (l->used + n > UINT32_MAX - 1)
		return false;
	l->names[l->used] = (char)type;
	memcpy(l->names + l->used + 1, name, n - 1);
	for (size_t h = name_hash(name) & l->mask;; h = (h + 1) & l->mask)
		if (!l->slots[h]) {
			l->slots[h] = (uint32_t)l->used + 1;
			break;
		}
	l->used += n;
	return true;
}

/* The names in directory fd (O_PATH); the table is kept under half full. */
static struct listing *
list_dir(int fd)
{
	struct listing *l = calloc(1, sizeof *l);
	size_t cap = 64, entries = 0;
	char buf[32768];
	int d;

	if (!l)
		return NULL;
	d = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	l->slots = calloc(cap, sizeof *l->slots);
	l->mask = cap - 1;
	if (d < 0 || !l->slots)
		goto fail;
	for (;;) {
		long n = syscall(SYS_getdents64, d, buf, sizeof buf);
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		for (long off = 0; off < n;) {
			struct dirent64 *e = (void *)(buf + off);
			off += e->d_reclen;
			if (++entries * 2 > cap) {
				/* rehash into a table twice the size */
				uint32_t *old = l->slots;
				size_t oldcap = cap;
				cap *= 2;
				l->slots = calloc(cap, sizeof *l->slots);
				l->mask = cap - 1;
				if (!l->slots) {
					l->slots = old;
					goto fail;
				}
				for (size_t i = 0; i < oldcap; i++)
					if (old[i])
						for (size_t h = name_hash(l->names + old[i]) & l->mask;; h = (h + 1) & l->mask)
							if (!l->slots[h]) {
								l->slots[h] = old[i];
								break;
							}
				free(old);
			}
			if (!list_add(l, e->d_name, e->d_type))
				goto fail;
		}
	}
	close(d);
	return l;
fail:
	if (d >= 0)
		close(d);
	l->failed = true;
	return l;
}

/* DT_* of name, 0 if absent, -1 if the listing cannot tell. */
static int
list_find(const struct listing *l, const char *name)
{
	if (l->failed)
		return -1;
	for (size_t h = name_hash(name) & l->mask; l->slots[h]; h = (h + 1) & l->mask) {
		const char *e = l->names + l->slots[h];
		if (strcmp(e, name) == 0)
			return e[-1] == DT_UNKNOWN ? -1 : e[-1];
	}
	return 0;
}

static void
list_free(struct listing *l)
{
	if (l) {
		free(l->names);
		free(l->slots);
		free(l);
	}
}

/* Permission bits for the back-end's user (ACLs are not read). */
static bool
may(const struct pf *p, const struct node *n, int want /* 4 r, 2 w, 1 x */)
{
	const struct vs_pf_user *u = &p->o->user;
	unsigned bits;
	bool group = n->gid == u->gid;

	if (u->privileged)
		return true;
	if (n->uid == u->uid)
		bits = (n->mode >> 6) & 7;
	else {
		for (size_t i = 0; !group && i < u->ngroups; i++)
			group = u->groups[i] == n->gid;
		bits = group ? (n->mode >> 3) & 7 : n->mode & 7;
	}
	return (bits & want) == (unsigned)want;
}

static bool
dev_read_only(struct pf *p, const struct node *n)
{
	struct statvfs sv;
	struct ro_dev *r;
	int fd = n->fd;

	for (size_t i = 0; i < p->nrodevs; i++)
		if (p->rodevs[i].dev == n->dev)
			return p->rodevs[i].ro;
	/* an inode kept without an fd is on its parent's file system */
	for (size_t i = 0; fd < 0 && i < p->st->ninodes; i++)
		if (p->nodes[i].fd >= 0 && p->nodes[i].dev == n->dev)
			fd = p->nodes[i].fd;
	if (fd < 0 || fstatvfs(fd, &sv) < 0)
		return false;
	r = realloc(p->rodevs, (p->nrodevs + 1) * sizeof *r);
	if (!r)
		return false;
	p->rodevs = r;
	r[p->nrodevs].dev = n->dev;
	r[p->nrodevs].ro = sv.f_flag & ST_RDONLY;
	return r[p->nrodevs++].ro;
}

static void
set_stat(struct node *n, const struct stat *s)
{
	n->mode = s->st_mode;
	n->uid = s->st_uid;
	n->gid = s->st_gid;
	n->dev = s->st_dev;
}

/* name_to_handle_at() of what fd/name is, compared with the recorded one
 * without its mount id (SerializableFileHandle::require_equal_without_mount_id). */
static int
compare_handle(int fd, const char *name, const struct vs_vfs_file_handle *rec, char *why, size_t len)
{
	union {
		struct file_handle fh;
		unsigned char buf[sizeof(struct file_handle) + VS_VFS_HANDLE_MAX];
	} h;
	int mnt;

	h.fh.handle_bytes = VS_VFS_HANDLE_MAX;
	if (name_to_handle_at(fd, name, &h.fh, &mnt, name[0] ? 0 : AT_EMPTY_PATH) < 0) {
		int e = errno;
		snprintf(why, len, "no file handle to compare with the recorded one: %s", strerror(e));
		return e;
	}
	if (h.fh.handle_type != rec->type) {
		snprintf(why, len, "file handle type 0x%x, recorded 0x%x: not the same file", (unsigned)h.fh.handle_type,
			 (unsigned)rec->type);
		return -1;
	}
	if (h.fh.handle_bytes != rec->len || memcmp(h.fh.f_handle, rec->bytes, rec->len) != 0) {
		snprintf(why, len, "file handle differs from the recorded one: not the same file");
		return -1;
	}
	return 0;
}

/* Without openat2 (before Linux 5.6, or under valgrind): one component
 * at a time, ".." never above dirfd, and a symbolic link on the way
 * refused rather than followed. */
static int
walk_in_root(int dirfd, const char *name, int flags)
{
	char *copy = strdup(name), *save = NULL, *c;
	int fds[PATH_MAX / 2], depth = 0, fd = -1, e = 0;

	if (!copy)
		return -1;
	fds[0] = dirfd;
	for (c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		bool last = !save || !*save || strspn(save, "/") == strlen(save);
		if (!strcmp(c, "."))
			continue;
		if (!strcmp(c, "..")) {
			if (depth > 0)
				close(fds[depth--]);
			continue;
		}
		if (depth + 1 >= (int)(sizeof fds / sizeof *fds)) {
			e = ENAMETOOLONG;
			break;
		}
		fd = openat(fds[depth], c, (last ? flags : O_PATH | O_DIRECTORY) | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			e = errno == ENOTDIR && !last ? ELOOP : errno;
			break;
		}
		if (last) {
			while (depth > 0)
				close(fds[depth--]);
			free(copy);
			return fd;
		}
		fds[++depth] = fd;
	}
	while (depth > 0)
		close(fds[depth--]);
	free(copy);
	if (!e) /* nothing but "." and "..": dirfd itself */
		return (fd = openat(dirfd, ".", flags | O_CLOEXEC)) < 0 ? -1 : fd;
	errno = e;
	return -1;
}

/* name under dirfd as if dirfd were "/": what virtiofsd's sandbox gives */
static int
open_in_root(int dirfd, const char *name, int flags)
{
	struct open_how how = { .flags = (uint64_t)flags | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	int fd = (int)syscall(SYS_openat2, dirfd, name, &how, sizeof how);

	return fd < 0 && errno == ENOSYS ? walk_in_root(dirfd, name, flags) : fd;
}

/* GuestFdSemaphore::allocate() (guest_fd_limit.rs): out of slots, the
 * back-end fails the open with ENFILE. */
static bool
take_slot(struct pf *p, bool *held)
{
	if (p->o->fd_slots && p->slots_used >= p->o->fd_slots)
		return false;
	p->slots_used++;
	*held = true;
	return true;
}

static void
give_slot(struct pf *p, bool *held)
{
	if (*held && p->slots_used)
		p->slots_used--;
	*held = false;
}

static void
no_slot_message(const struct pf *p, char *buf, size_t len)
{
	snprintf(buf, len,
		 "no descriptor left for it: the back-end's open-file limit leaves %" PRIu64
		 " for inodes and handles, all in use",
		 p->o->fd_slots);
}

/* deserialize_invalid_inode(): abort stops the load; guest-error keeps
 * the inode as invalid. */
static void
invalid_inode(struct pf *p, size_t i, const char *status, int err, const char *why)
{
	const struct vs_vfs_inode *ino = &p->st->inodes[i];
	struct node *n = &p->nodes[i];

	n->valid = false;
	n->status = status;
	give_slot(p, &n->slot);
	free(n->why);
	n->why = strdup(why);
	if (n->fd >= 0)
		close(n->fd);
	n->fd = -1;
	p->broken_inodes++;
	problem(p, "inode", ino->id, ino, status, err, "%s", why);
}

/* Whether name exists in parent, from its listing (built the first time
 * it pays): 0 with s->st_mode its type (0: absent), -1 to stat instead. */
static int
list_type(struct pf *p, struct node *parent, int parent_fd, const char *name, struct stat *s)
{
	size_t pi = (size_t)(parent - p->nodes);
	int t;

	if (p->light[pi] < 8)
		return -1;
	if (!parent->list && !(parent->list = list_dir(parent_fd)))
		return -1;
	if ((t = list_find(parent->list, name)) < 0)
		return -1;
	memset(s, 0, sizeof *s);
	s->st_mode = t ? DTTOIF(t) : 0;
	s->st_dev = parent->dev;
	return 0;
}

/* deserialize_path(): openat(parent, name, O_PATH | O_NOFOLLOW) and
 * statx.  A single component as virtiofsd records it is opened exactly as
 * virtiofsd does; a name with '/' in it (never written by virtiofsd) is
 * resolved inside the parent, not out of it. */
static bool
open_path(struct pf *p, size_t i, int parent_fd, struct node *parent, const char *name, bool full)
{
	const struct vs_vfs_inode *ino = &p->st->inodes[i];
	struct node *n = &p->nodes[i];
	bool keep = p->has_children[i] || full;
	struct stat s;
	char why[600];
	int fd = -1;

	if (parent && !S_ISDIR(parent->mode)) {
		invalid_inode(p, i, "not-a-directory", ENOTDIR, "its parent is no longer a directory");
		return false;
	}
	if (parent && !may(p, parent, 1)) {
		invalid_inode(p, i, "permission", EACCES, "its parent directory is not searchable for the user");
		return false;
	}
	if (full || strchr(name, '/') || !strcmp(name, "..") || !strcmp(name, ".")) {
		fd = open_in_root(parent_fd, name, O_PATH | O_NOFOLLOW);
		if (fd < 0 || fstat(fd, &s) < 0) {
			int e = errno;
			snprintf(why, sizeof why, "%s: %s", name, strerror(e));
			if (fd >= 0)
				close(fd);
			invalid_inode(p, i, errno_status(e), e, why);
			return false;
		}
		keep = true;
	} else if (!keep && !ino->recorded && parent && list_type(p, parent, parent_fd, name, &s) >= 0) {
		if (!s.st_mode) {
			snprintf(why, sizeof why, "%s: %s", name, strerror(ENOENT));
			invalid_inode(p, i, "missing", ENOENT, why);
			return false;
		}
	} else if (keep) {
		fd = openat(parent_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &s) < 0) {
			int e = errno;
			snprintf(why, sizeof why, "%s: %s", name, strerror(e));
			if (fd >= 0)
				close(fd);
			invalid_inode(p, i, errno_status(e), e, why);
			return false;
		}
	} else if (fstatat(parent_fd, name, &s, AT_SYMLINK_NOFOLLOW) < 0) {
		int e = errno;
		snprintf(why, sizeof why, "%s: %s", name, strerror(e));
		invalid_inode(p, i, errno_status(e), e, why);
		return false;
	} else if (parent && s.st_dev != parent->dev && p->needs_stat[i]) {
		/* a mount point: its own fd, for its file system's flags */
		fd = openat(parent_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		keep = fd >= 0;
	}
	n->fd = keep ? fd : -1;
	set_stat(n, &s);
	n->valid = true;
	if (!take_slot(p, &n->slot)) {
		no_slot_message(p, why, sizeof why);
		invalid_inode(p, i, "no-descriptor", ENFILE, why);
		return false;
	}
	/* check_file_handle() is done for Path inodes only */
	if (ino->recorded && !full) {
		int r = n->fd >= 0 ? compare_handle(n->fd, "", ino->recorded, why, sizeof why)
				   : compare_handle(parent_fd, name, ino->recorded, why, sizeof why);
		if (r != 0) {
			invalid_inode(p, i, r > 0 ? "no-file-handle" : "replaced", r > 0 ? r : 0, why);
			return false;
		}
	}
	return true;
}

/* deserialize_file_handle(): the mount path's fd, then
 * open_by_handle_at(O_PATH). */
static bool
open_handle_location(struct pf *p, size_t i)
{
	const struct vs_vfs_inode *ino = &p->st->inodes[i];
	const struct vs_vfs_file_handle *h = ino->handle;
	struct node *n = &p->nodes[i];
	union {
		struct file_handle fh;
		unsigned char buf[sizeof(struct file_handle) + VS_VFS_HANDLE_MAX];
	} fh;
	struct stat s;
	char why[300];
	int mfd = -1, fd;

	for (size_t m = 0; m < p->st->nmounts; m++)
		if (p->st->mounts[m].id == h->mount_id)
			mfd = p->mount_fd[m];
	if (mfd < 0) {
		snprintf(why, sizeof why, "no usable path for the file handle's mount id %" PRIu64, h->mount_id);
		invalid_inode(p, i, "unknown-mount", 0, why);
		return false;
	}
	/* open_by_handle_at() needs CAP_DAC_READ_SEARCH, which virtiofsd
	 * keeps only when told to (see vs_pf_mode) */
	if (p->o->mode != VS_PF_MODE_FILE_HANDLES || !p->o->user.privileged) {
		invalid_inode(p, i, "permission", EPERM,
			      "opening the file handle: the back-end lacks CAP_DAC_READ_SEARCH (not set up "
			      "for a file-handles migration)");
		return false;
	}
	fh.fh.handle_bytes = h->len;
	fh.fh.handle_type = h->type;
	memcpy(fh.fh.f_handle, h->bytes, h->len);
	fd = open_by_handle_at(mfd, &fh.fh, O_PATH | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &s) < 0) {
		int e = errno;
		snprintf(why, sizeof why, "opening the file handle: %s%s", strerror(e),
			 e == EPERM ? " (checking it needs CAP_DAC_READ_SEARCH, as virtiofsd does)" : "");
		if (fd >= 0)
			close(fd);
		invalid_inode(p, i, e == ESTALE ? "missing" : errno_status(e), e, why);
		return false;
	}
	n->fd = fd;
	set_stat(n, &s);
	n->valid = true;
	if (!take_slot(p, &n->slot)) {
		no_slot_message(p, why, sizeof why);
		invalid_inode(p, i, "no-descriptor", ENFILE, why);
		return false;
	}
	return true;
}

static bool
insert(struct pf *p, size_t i)
{
	const struct vs_vfs_inode *ino = &p->st->inodes[i];
	long s = find_id(p, ino->id);
	char msg[128];

	if (p->store[s] >= 0) {
		snprintf(msg, sizeof msg, "inode id %" PRIu64 " is used twice", ino->id);
		hard(p, true, "inode", ino->id, NULL, "bad-state", msg);
		return false;
	}
	p->store[s] = (long)i;
	p->nodes[i].inserted = true;
	p->nodes[i].refs = ino->refcount;
	if (!p->nodes[i].status)
		p->nodes[i].status = "ok";
	return true;
}

/* deserialize_root_node(): the shared directory itself, and a recorded
 * handle that must match (a mismatch is always fatal for the root). */
static bool
root_node(struct pf *p, size_t i)
{
	const struct vs_vfs_inode *ino = &p->st->inodes[i];
	struct node *n = &p->nodes[i];
	char why[600];

	if (ino->location != VS_LOC_ROOT) {
		hard(p, true, "inode", ino->id, NULL, "bad-state", "the root inode is not recorded as the root");
		return false;
	}
	n->fd = p->o->dir_fd;
	set_stat(n, &p->root_st);
	n->valid = true;
	if (!take_slot(p, &n->slot)) {
		/* open_root_node() fails the whole load */
		no_slot_message(p, why, sizeof why);
		hard(p, false, "inode", ino->id, ino, "no-descriptor", why);
		return false;
	}
	if (!insert(p, i))
		return false;
	if (ino->recorded) {
		int r = compare_handle(p->o->dir_fd, "", ino->recorded, why, sizeof why);
		if (r != 0) {
			hard(p, false, "inode", ino->id, ino, r > 0 ? "no-file-handle" : "replaced", why);
			return false;
		}
	}
	return true;
}

/* InodeStoreInner::forget_one(): at 0 the inode leaves the store. */
static void
unref(struct pf *p, uint64_t id, struct node *n)
{
	if (n->refs > 0 && --n->refs > 0)
		return;
	p->store[find_id(p, id)] = -1;
	n->inserted = false;
	n->dropped = true;
	give_slot(p, &n->slot);
	n->status = "dropped";
	if (n->fd >= 0 && n->fd != p->o->dir_fd)
		close(n->fd);
	n->fd = -1;
	list_free(n->list);
	n->list = NULL;
}

enum step { DONE, DEFER, STOP };

/* deserialize_with_fs() for one inode. */
static enum step
inode_step(struct pf *p, size_t i)
{
	const struct vs_vfs_inode *ino = &p->st->inodes[i];
	struct node *parent = NULL;
	char why[600];

	switch (ino->location) {
	case VS_LOC_ROOT:
		if (ino->id != ROOT_ID) {
			snprintf(why, sizeof why, "inode %" PRIu64 " is recorded as the root but is not inode 1", ino->id);
			hard(p, true, "inode", ino->id, NULL, "bad-state", why);
			return STOP;
		}
		if (stored(p, ROOT_ID, NULL)) {
			hard(p, true, "inode", ino->id, NULL, "bad-state", "inode id 1 is used twice");
			return STOP;
		}
		return root_node(p, i) ? DONE : STOP;
	case VS_LOC_PATH:
		if (ino->id == ROOT_ID) {
			hard(p, true, "inode", ino->id, NULL, "bad-state", "the root inode is recorded by a path");
			return STOP;
		}
		if (!stored(p, ino->parent, &parent))
			return DEFER;
		if (!parent->valid) {
			snprintf(why, sizeof why, "its parent, inode %" PRIu64 ", is lost: %s", ino->parent,
				 parent->why ? parent->why : "invalid");
			invalid_inode(p, i, "parent-lost", 0, why);
		} else {
			open_path(p, i, parent->fd, parent, ino->name, false);
		}
		/* the child holds one of the parent's references, given up
		 * once it is placed (StrongInodeReference::new_no_increment,
		 * dropped by deserialize_path) */
		unref(p, ino->parent, parent);
		break;
	case VS_LOC_INVALID:
		snprintf(why, sizeof why, "the migration source had already lost inode %" PRIu64, ino->id);
		invalid_inode(p, i, "lost", 0, why);
		break;
	case VS_LOC_FULL_PATH:
		if (ino->id == ROOT_ID) {
			hard(p, true, "inode", ino->id, NULL, "bad-state", "the root inode is recorded by a path");
			return STOP;
		}
		if (!stored(p, ROOT_ID, &parent))
			return DEFER;
		if (!parent->valid)
			invalid_inode(p, i, "parent-lost", 0, "the shared directory is lost");
		else
			open_path(p, i, parent->fd, NULL, ino->name, true);
		break;
	case VS_LOC_FILE_HANDLE:
		if (ino->id == ROOT_ID) {
			hard(p, true, "inode", ino->id, NULL, "bad-state", "the root inode is recorded by a file handle");
			return STOP;
		}
		open_handle_location(p, i);
		break;
	}
	return insert(p, i) ? DONE : STOP;
}

/* The mount paths of a V2 state, opened O_RDONLY under the root
 * (MountFd::new); a failure only makes its file handles unusable. */
static void
open_mounts(struct pf *p)
{
	for (size_t m = 0; m < p->st->nmounts; m++)
		p->mount_fd[m] = open_in_root(p->o->dir_fd, p->st->mounts[m].path, O_RDONLY);
}

static const char *
access_name(int flags)
{
	switch (flags & O_ACCMODE) {
	case O_RDONLY: return "read";
	case O_WRONLY: return "write";
	case O_RDWR: return "read-write";
	default: return "invalid";
	}
}

/* Handle::deserialize_with_fs(): InodeData::open_file() with the
 * recorded flags (O_NOFOLLOW cleared), through /proc/self/fd.  Modelled
 * from the file's type and mode rather than opened, so that nothing is
 * opened for writing and another user can be asked about. */
static void
handle_step(struct pf *p, const struct vs_vfs_handle *h)
{
	const struct vs_vfs_inode *ino;
	struct node *n;
	int flags = h->flags & ~O_NOFOLLOW, acc = flags & O_ACCMODE, e = 0;
	const char *why = NULL, *status = "ok";
	char msg[900];

	ino = stored(p, h->inode, &n);
	if (!ino) {
		if (dropped(p, h->inode))
			snprintf(msg, sizeof msg,
				 "handle %" PRIu64 " is on inode %" PRIu64 ", which left the load when its refcount "
				 "ran out: the state counts fewer references than inodes under it",
				 h->id, h->inode);
		else
			snprintf(msg, sizeof msg, "handle %" PRIu64 " is on inode %" PRIu64
				 ", which the state does not hold", h->id, h->inode);
		hard(p, true, "handle", h->id, NULL, "bad-state", msg);
		return;
	}
	if (!n->valid) {
		snprintf(msg, sizeof msg, "its inode %" PRIu64 " is lost: %s", h->inode, n->why ? n->why : "invalid");
		p->broken_handles++;
		problem(p, "handle", h->id, ino, "inode-lost", 0, "%s", msg);
		status = "inode-lost";
	} else if (!S_ISREG(n->mode) && !S_ISDIR(n->mode)) {
		e = EBADF;
		why = S_ISLNK(n->mode) ? "it is a symbolic link now, not a regular file or directory"
				       : "it is neither a regular file nor a directory now";
	} else if (flags & O_PATH) {
		e = 0;
	} else if ((flags & O_DIRECTORY) && !S_ISDIR(n->mode)) {
		e = ENOTDIR, why = "opened as a directory, but it is not one now";
	} else if (S_ISDIR(n->mode) && acc != O_RDONLY) {
		e = EISDIR, why = "opened for writing, but it is a directory now";
	} else if (acc != O_RDONLY && dev_read_only(p, n)) {
		e = EROFS, why = "opened for writing, on a read-only file system";
	} else if (!may(p, n, (acc == O_RDONLY ? 4 : acc == O_WRONLY ? 2 : 6))) {
		e = EACCES, why = "the user may not open it this way";
	} else if ((flags & O_NOATIME) && !p->o->user.privileged && n->uid != p->o->user.uid) {
		e = EPERM, why = "O_NOATIME on a file the user does not own";
	} else {
		bool held = false;
		if (!take_slot(p, &held)) {
			char slot[200];
			no_slot_message(p, slot, sizeof slot);
			snprintf(msg, sizeof msg, "reopening inode %" PRIu64 " for %s: %s", h->inode, access_name(flags), slot);
			p->broken_handles++;
			status = "no-descriptor";
			problem(p, "handle", h->id, ino, status, ENFILE, "%s", msg);
		}
	}
	if (e) {
		snprintf(msg, sizeof msg, "reopening inode %" PRIu64 " for %s: %s (%s)", h->inode, access_name(flags),
			 why, strerror(e));
		p->broken_handles++;
		status = errno_status(e);
		problem(p, "handle", h->id, ino, status, e, "%s", msg);
	}
	if (p->handle_list) {
		struct json_object *o = json_object_new_object();
		char *path = inode_path(p, ino);
		vs_json_set(o, "id", json_object_new_uint64(h->id));
		vs_json_set(o, "inode", json_object_new_uint64(h->inode));
		vs_json_set(o, "flags", json_object_new_int(h->flags));
		vs_json_set(o, "access", json_object_new_string(access_name(flags)));
		if (path && path[0])
			vs_json_set(o, "path", json_object_new_string(path));
		vs_json_set(o, "status", json_object_new_string(status));
		json_object_array_add(p->handle_list, o);
		free(path);
	}
}

static const char *
type_name(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return "file";
	case S_IFDIR: return "directory";
	case S_IFLNK: return "symlink";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	case S_IFCHR: return "char-device";
	case S_IFBLK: return "block-device";
	default: return "unknown";
	}
}

static const char *const location_names[] = { "root", "path", "invalid", "full-path", "file-handle" };

static void
list_inodes(struct pf *p)
{
	for (size_t i = 0; i < p->st->ninodes; i++) {
		const struct vs_vfs_inode *ino = &p->st->inodes[i];
		const struct node *n = &p->nodes[i];
		struct json_object *o = json_object_new_object();
		char *path = inode_path(p, ino);
		vs_json_set(o, "id", json_object_new_uint64(ino->id));
		vs_json_set(o, "location", json_object_new_string(location_names[ino->location]));
		if (path && path[0])
			vs_json_set(o, "path", json_object_new_string(path));
		if (n->valid)
			vs_json_set(o, "type", json_object_new_string(type_name(n->mode)));
		vs_json_set(o, "recorded_handle", json_object_new_boolean(ino->recorded != NULL));
		vs_json_set(o, "status", json_object_new_string(n->status ? n->status : "not-reached"));
		json_object_array_add(p->inode_list, o);
		free(path);
	}
}

/* The load, step by step in virtiofsd's order
 * (PassthroughFsV1::apply_with_mount_paths). */
static void
simulate(struct pf *p)
{
	const struct vs_vfs_state *st = p->st;
	size_t *v = malloc((st->ninodes ? st->ninodes : 1) * sizeof *v), n = st->ninodes;

	if (!v) {
		p->hard = true;
		return;
	}
	for (size_t i = 0; i < n; i++)
		v[i] = i;
	/* with mount paths, the root comes first (it opens them); the
	 * Vec::swap_remove reorders what is left */
	if (st->nmounts && n) {
		size_t r = 0;
		while (r < n && st->inodes[v[r]].id != ROOT_ID)
			r++;
		if (r == n) {
			hard(p, true, "inode", ROOT_ID, NULL, "bad-state", "the state has mount paths but no root inode");
			goto out;
		}
		size_t idx = v[r];
		v[r] = v[--n];
		if (!root_node(p, idx))
			goto out;
		open_mounts(p);
	}
	while (n) {
		size_t i = 0;
		bool any = false;
		while (i < n) {
			enum step s = inode_step(p, v[i]);
			if (s == STOP || (p->failed && p->hard))
				goto out;
			if (s == DEFER) {
				i++;
				continue;
			}
			v[i] = v[--n];
			any = true;
		}
		if (!any) {
			char msg[300];
			const struct vs_vfs_inode *c = &st->inodes[v[0]];
			const struct node *gone = c->location == VS_LOC_PATH ? dropped(p, c->parent) : NULL;
			if (gone)
				snprintf(msg, sizeof msg,
					 "inode %" PRIu64 " is under inode %" PRIu64 ", which left the load when its "
					 "refcount ran out: the state counts fewer references than inodes under it",
					 c->id, c->parent);
			else
				snprintf(msg, sizeof msg,
					 "%zu inode%s name parents that never appear (first: inode %" PRIu64
					 " under %" PRIu64 ")",
					 n, n == 1 ? "" : "s", c->id, c->parent);
			hard(p, true, "inode", st->inodes[v[0]].id, NULL, "bad-state", msg);
			goto out;
		}
	}
	for (size_t h = 0; h < st->nhandles && !p->hard; h++)
		handle_step(p, &st->handles[h]);
out:
	free(v);
}

static void
raise_fd_limit(void)
{
	struct rlimit r;

	/* virtiofsd raises its own limit too; we keep parents open */
	if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
	}
}

static struct json_object *
user_json(const struct vs_pf_user *u)
{
	struct json_object *o = json_object_new_object();

	vs_json_set(o, "uid", json_object_new_int64(u->uid));
	vs_json_set(o, "gid", json_object_new_int64(u->gid));
	vs_json_set(o, "privileged", json_object_new_boolean(u->privileged));
	return o;
}

static struct json_object *
counts(size_t total, size_t broken)
{
	struct json_object *o = json_object_new_object();

	vs_json_set(o, "total", json_object_new_uint64(total));
	vs_json_set(o, "broken", json_object_new_uint64(broken));
	return o;
}

int
vs_preflight_fs(const struct vs_vfs_state *st, size_t trailing, const struct vs_pf_opts *o, struct json_object **out)
{
	struct pf p = { .st = st, .o = o };
	struct json_object *doc, *req, *notes;
	size_t ni = st->ninodes ? st->ninodes : 1;
	int verdict;
	uint64_t max_id = 0;
	bool file_handles = false;

	*out = NULL;
	if (fstat(o->dir_fd, &p.root_st) < 0)
		return vs_fail(VS_EXIT_FAIL, errno, "%s", o->dir);
	raise_fd_limit();
	p.nodes = vs_calloc_large(ni, sizeof *p.nodes);
	p.ids = vs_calloc_large(ni, sizeof *p.ids);
	p.store = malloc(ni * sizeof *p.store);
	p.has_children = calloc(ni, sizeof *p.has_children);
	p.needs_stat = calloc(ni, sizeof *p.needs_stat);
	p.light = calloc(ni, sizeof *p.light);
	p.mount_fd = malloc((st->nmounts ? st->nmounts : 1) * sizeof *p.mount_fd);
	if (!p.nodes || !p.ids || !p.store || !p.has_children || !p.needs_stat || !p.light || !p.mount_fd) {
		verdict = vs_fail(VS_EXIT_FAIL, ENOMEM, "preflight");
		goto out;
	}
	for (size_t i = 0; i < st->ninodes; i++) {
		p.nodes[i].fd = -1;
		p.store[i] = -1;
		file_handles |= st->inodes[i].location == VS_LOC_FILE_HANDLE;
		max_id = st->inodes[i].id > max_id ? st->inodes[i].id : max_id;
	}
	for (size_t m = 0; m < st->nmounts; m++)
		p.mount_fd[m] = -1;
	sort_ids(&p, max_id);
	/* which inodes must stay open: parents (any inode of that id) and
	 * inodes with handles */
	for (size_t i = 0; i < st->ninodes; i++) {
		long s;
		if (st->inodes[i].location != VS_LOC_PATH || (s = find_id(&p, st->inodes[i].parent)) < 0)
			continue;
		for (size_t k = (size_t)s; k < st->ninodes && p.ids[k].id == st->inodes[i].parent; k++)
			p.has_children[p.ids[k].idx] = true;
	}
	for (size_t h = 0; h < st->nhandles; h++) {
		long s = find_id(&p, st->handles[h].inode);
		if (o->user.privileged && (st->handles[h].flags & O_ACCMODE) == O_RDONLY)
			continue;
		for (size_t k = (size_t)s; s >= 0 && k < st->ninodes && p.ids[k].id == st->handles[h].inode; k++)
			p.needs_stat[p.ids[k].idx] = true;
	}
	for (size_t i = 0; i < st->ninodes; i++) {
		const struct vs_vfs_inode *c = &st->inodes[i];
		long s;
		if (c->location != VS_LOC_PATH || p.has_children[i] || p.needs_stat[i] || c->recorded ||
		    (s = find_id(&p, c->parent)) < 0)
			continue;
		p.light[p.ids[s].idx]++;
	}
	p.problems = json_object_new_array();
	if (o->details) {
		p.inode_list = json_object_new_array();
		p.handle_list = json_object_new_array();
	}

	simulate(&p);

	doc = json_object_new_object();
	vs_json_set(doc, "backend", json_object_new_string("virtiofsd"));
	vs_json_set(doc, "state_version", json_object_new_string(st->variant ? "V2" : "V1"));
	vs_json_set(doc, "shared_dir", json_object_new_string(o->dir));
	vs_json_set(doc, "on_error", json_object_new_string(o->on_error == VS_PF_ABORT ? "abort" : "guest-error"));
	vs_json_set(doc, "migration_mode",
			       o->mode == VS_PF_MODE_UNSET ? NULL
			       : json_object_new_string(o->mode == VS_PF_MODE_FIND_PATHS ? "find-paths" : "file-handles"));
	vs_json_set(doc, "user", user_json(&o->user));
	verdict = p.bad_state ? VS_PF_BAD_STATE : p.failed ? VS_PF_FAILS : VS_PF_RESTORES;
	vs_json_set(doc, "verdict",
			       json_object_new_string(verdict == VS_PF_BAD_STATE ? "bad-state"
						      : verdict == VS_PF_FAILS	   ? "fails"
						      : p.broken_inodes + p.broken_handles ? "restores-with-errors"
											 : "restores"));
	vs_json_set(doc, "exit_code", json_object_new_int(verdict));
	vs_json_set(doc, "inodes", counts(st->ninodes, p.broken_inodes));
	vs_json_set(doc, "handles", counts(st->nhandles, p.broken_handles));
	/* NegotiatedOpts::apply(): options the destination must have on */
	req = json_object_new_array();
	if (st->writeback)
		json_object_array_add(req, json_object_new_string("writeback"));
	if (st->announce_submounts)
		json_object_array_add(req, json_object_new_string("announce-submounts"));
	if (st->posix_acl)
		json_object_array_add(req, json_object_new_string("posix-acl"));
	vs_json_set(doc, "requires", req);
	vs_json_set(doc, "problems", p.problems);
	notes = json_object_new_array();
	if (trailing) {
		char t[96];
		snprintf(t, sizeof t, "%zu bytes after the state are ignored, as virtiofsd ignores them", trailing);
		json_object_array_add(notes, json_object_new_string(t));
	}
	if (o->mode != VS_PF_MODE_FILE_HANDLES && file_handles)
		json_object_array_add(notes, json_object_new_string(
						     "the state locates inodes by file handle (it was saved in file-handles "
						     "mode): only a destination that keeps CAP_DAC_READ_SEARCH opens them"));
	if (!o->user.privileged)
		json_object_array_add(notes, json_object_new_string(
						     "permissions are judged from mode bits; ACLs are not read"));
	vs_json_set(doc, "notes", notes);
	if (o->details) {
		list_inodes(&p);
		vs_json_set(doc, "inode_list", p.inode_list);
		vs_json_set(doc, "handle_list", p.handle_list);
	}
	*out = doc;
out:
	for (size_t i = 0; p.nodes && i < st->ninodes; i++) {
		if (p.nodes[i].fd >= 0 && p.nodes[i].fd != o->dir_fd)
			close(p.nodes[i].fd);
		free(p.nodes[i].why);
		list_free(p.nodes[i].list);
	}
	for (size_t m = 0; p.mount_fd && m < st->nmounts; m++)
		if (p.mount_fd[m] >= 0)
			close(p.mount_fd[m]);
	if (!*out) {
		json_object_put(p.problems);
		json_object_put(p.inode_list);
		json_object_put(p.handle_list);
	}
	free(p.nodes);
	free(p.ids);
	free(p.store);
	free(p.has_children);
	free(p.needs_stat);
	free(p.light);
	free(p.by_id);
	free(p.mount_fd);
	free(p.rodevs);
	return verdict;
}

/* passt (migrate.c): the target takes a state whose [compat_version,
 * version] range holds a version it reads.  The passt builds of 2025
 * read version 2 only. */
#define VS_PASST_READS_MIN 2u
#define VS_PASST_READS_MAX 2u

int
vs_preflight_net(const struct vs_passt_header *h, struct json_object **out)
{
	struct json_object *doc = json_object_new_object(), *problems = json_object_new_array(),
			   *notes = json_object_new_array();
	bool ok = h->compat_version <= VS_PASST_READS_MAX && h->version >= VS_PASST_READS_MIN &&
		  h->compat_version <= h->version;

	vs_json_set(doc, "backend", json_object_new_string("passt"));
	vs_json_set(doc, "state_version", json_object_new_int64(h->version));
	vs_json_set(doc, "compat_version", json_object_new_int64(h->compat_version));
	/* a good header is all that can be known: the flows decide */
	vs_json_set(doc, "verdict", json_object_new_string(ok ? "unverified" : "fails"));
	vs_json_set(doc, "exit_code", json_object_new_int(ok ? 0 : VS_PF_FAILS));
	if (!ok) {
		struct json_object *p = json_object_new_object();
		char msg[160];
		snprintf(msg, sizeof msg, "migration data version %u (compatible down to %u); passt reads version %u",
			 h->version, h->compat_version, VS_PASST_READS_MAX);
		vs_json_set(p, "object", json_object_new_string("header"));
		vs_json_set(p, "id", json_object_new_uint64(0));
		vs_json_set(p, "status", json_object_new_string("version"));
		vs_json_set(p, "errno", json_object_new_string("EOPNOTSUPP"));
		vs_json_set(p, "message", json_object_new_string(msg));
		vs_json_set(p, "effect", json_object_new_string("fatal"));
		vs_json_set(p, "first", json_object_new_boolean(true));
		json_object_array_add(problems, p);
	}
	vs_json_set(doc, "problems", problems);
	json_object_array_add(notes, json_object_new_string(
					     "TCP flows are not checked offline: they need passt-repair on the "
					     "destination at restore time, and each connection must still be "
					     "repairable there"));
	vs_json_set(doc, "notes", notes);
	*out = doc;
	return ok ? VS_PF_RESTORES : VS_PF_FAILS;
}

static const char *
str(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && v ? json_object_get_string(v) : NULL;
}

void
vs_preflight_print(struct json_object *r, FILE *f)
{
	struct json_object *problems, *notes, *req, *list, *in, *hd;
	const char *verdict = str(r, "verdict"), *backend = str(r, "backend");
	size_t np;

	json_object_object_get_ex(r, "problems", &problems);
	np = json_object_array_length(problems);
	if (strcmp(backend, "virtiofsd") == 0) {
		json_object_object_get_ex(r, "inodes", &in);
		json_object_object_get_ex(r, "handles", &hd);
		fprintf(f, "%s: virtiofsd state %s, %s inodes, %s handles, under %s (%s)%s%s\n", verdict,
			str(r, "state_version"), str(in, "total"), str(hd, "total"), str(r, "shared_dir"),
			str(r, "on_error"), np ? "; problems in load order:" : "", "");
	} else {
		fprintf(f, "%s: passt migration data version %s (compatible down to %s)\n", verdict,
			str(r, "state_version"), str(r, "compat_version"));
	}
	for (size_t i = 0; i < np; i++) {
		struct json_object *p = json_object_array_get_idx(problems, i), *first;
		const char *path = str(p, "path"), *errname = str(p, "errno"), *inode = str(p, "inode");
		json_object_object_get_ex(p, "first", &first);
		fprintf(f, "%s %s%s%s%s%s%s: %s: %s%s%s%s%s\n", str(p, "object"), str(p, "id"), inode ? " (inode " : "",
			inode ? inode : "", inode ? ")" : "", path ? " " : "", path ? path : "", str(p, "status"),
			str(p, "message"), errname ? " [" : "", errname ? errname : "", errname ? "]" : "",
			json_object_get_boolean(first) && strcmp(str(p, "effect"), "fatal") == 0 ? " (first failure)"
												  : "");
	}
	if (json_object_object_get_ex(r, "requires", &req))
		for (size_t i = 0; i < json_object_array_length(req); i++)
			fprintf(f, "requires: the destination must have %s enabled\n",
				json_object_get_string(json_object_array_get_idx(req, i)));
	if (json_object_object_get_ex(r, "inode_list", &list))
		for (size_t i = 0; i < json_object_array_length(list); i++) {
			struct json_object *o = json_object_array_get_idx(list, i);
			const char *path = str(o, "path"), *type = str(o, "type");
			fprintf(f, "  inode %s %s %s%s%s%s\n", str(o, "id"), str(o, "status"), path ? path : "(no path)",
				type ? " (" : "", type ? type : "", type ? ")" : "");
		}
	if (json_object_object_get_ex(r, "handle_list", &list))
		for (size_t i = 0; i < json_object_array_length(list); i++) {
			struct json_object *o = json_object_array_get_idx(list, i);
			const char *path = str(o, "path");
			fprintf(f, "  handle %s %s inode %s %s for %s\n", str(o, "id"), str(o, "status"), str(o, "inode"),
				path ? path : "(no path)", str(o, "access"));
		}
	if (json_object_object_get_ex(r, "notes", &notes))
		for (size_t i = 0; i < json_object_array_length(notes); i++)
			fprintf(f, "note: %s\n", json_object_get_string(json_object_array_get_idx(notes, i)));
}
