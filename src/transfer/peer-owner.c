#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "identity.h"
#include "peer-owner.h"

/* /proc/net/unix's St column for a listening socket (SS_UNCONNECTED),
 * with __SO_ACCEPTCON in Flags */
#define UNIX_FLAG_ACCEPTCON 0x10000

void
vs_peer_describe(pid_t pid, struct vs_peer_owner *o)
{
	char link[64];
	ssize_t n;

	memset(o, 0, sizeof *o);
	o->pid = pid;
	snprintf(link, sizeof link, "/proc/%d/exe", (int)pid);
	n = readlink(link, o->exe, sizeof o->exe - 1);
	o->exe[n > 0 ? n : 0] = '\0';
	vs_peer_name(pid, o->name, sizeof o->name);
	vs_peer_cmdline(pid, o->cmdline, sizeof o->cmdline);
	o->kind = vs_backend_kind(o->name);
}

/* Does the path a socket was bound to name the same file as ours?  A
 * relative one is relative to its owner's working directory. */
static bool
same_path(const char *bound, const char *real, pid_t owner)
{
	char buf[PATH_MAX + 64], *r;
	bool same;

	if (bound[0] == '/') {
		snprintf(buf, sizeof buf, "%s", bound);
	} else {
		if (owner <= 0)
			return false;
		snprintf(buf, sizeof buf, "/proc/%d/cwd/%s", (int)owner, bound);
	}
	r = realpath(buf, NULL);
	same = r && strcmp(r, real) == 0;
	free(r);
	return same;
}

/* The process holding socket:[ino] among its fds; 0 if none visible. */
static pid_t
inode_owner(unsigned long ino)
{
	char want[64];
	DIR *proc = opendir("/proc");
	struct dirent *p;
	pid_t found = 0;

	if (!proc)
		return 0;
	snprintf(want, sizeof want, "socket:[%lu]", ino);
	while (!found && (p = readdir(proc))) {
		char dir[300];
		DIR *fds;
		struct dirent *f;
		if (p->d_name[0] < '1' || p->d_name[0] > '9')
			continue;
		snprintf(dir, sizeof dir, "/proc/%s/fd", p->d_name);
		fds = opendir(dir); /* another user's: EACCES, skipped */
		if (!fds)
			continue;
		while ((f = readdir(fds))) {
			char link[600], target[64];
			ssize_t n;
			if (f->d_name[0] == '.')
				continue;
			snprintf(link, sizeof link, "%s/%s", dir, f->d_name);
			n = readlink(link, target, sizeof target - 1);
			if (n <= 0)
				continue;
			target[n] = '\0';
			if (strcmp(target, want) == 0) {
				found = (pid_t)atol(p->d_name);
				break;
			}
		}
		closedir(fds);
	}
	closedir(proc);
	return found;
}

int
vs_peer_owner_find(const char *path, struct vs_peer_owner *o)
{
	FILE *f = fopen("/proc/net/unix", "re");
	char *line = NULL, *real;
	size_t cap = 0;
	pid_t owner = 0;
	int matches = 0;
	bool listening = false;

	memset(o, 0, sizeof *o);
	if (!f)
		return vs_fail(VS_EXIT_FAIL, errno, "/proc/net/unix");
	real = realpath(path, NULL);
	if (!real) {
		fclose(f);
		return 0;
	}
	while (getline(&line, &cap, f) > 0) {
		unsigned long flags, type, st, ino;
		int off = 0;
		char *bound;
		pid_t pid;
		/* Num RefCount Protocol Flags Type St Inode Path */
		if (sscanf(line, "%*s %*x %*x %lx %lx %lx %lu %n", &flags, &type, &st, &ino, &off) != 4 || off == 0)
			continue;
		if (!(flags & UNIX_FLAG_ACCEPTCON) || line[off] == '\0' || line[off] == '@')
			continue;
		bound = line + off;
		bound[strcspn(bound, "\n")] = '\0';
		/* a cheap test first: the same last component */
		if (strcmp(strrchr(bound, '/') ? strrchr(bound, '/') + 1 : bound,
			   strrchr(real, '/') + 1) != 0)
			continue;
		pid = inode_owner(ino);
		if (!same_path(bound, real, pid))
			continue;
		listening = true;
		/* a socket file replaced while its old listener lives on is
		 * listed twice: two owners cannot be told apart by path */
		if (matches++ && pid != owner) {
			owner = 0;
			break;
		}
		owner = pid;
	}
	free(line);
	free(real);
	fclose(f);
	if (owner <= 0)
		return listening ? 1 : 0;
	vs_peer_describe(owner, o);
	return 2;
}
