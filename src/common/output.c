#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "io.h"
#include "log.h"
#include "output.h"

static struct vs_cleanup_hooks cleanup_hooks;

void
vs_cleanup_set_hooks(const struct vs_cleanup_hooks *hooks)
{
	if (hooks)
		cleanup_hooks = *hooks;
	else
		memset(&cleanup_hooks, 0, sizeof cleanup_hooks);
}

int
vs_cleanup_register(const char *path)
{
	return cleanup_hooks.register_path ? cleanup_hooks.register_path(path) : -1;
}

void
vs_cleanup_unregister(int slot)
{
	if (slot >= 0 && cleanup_hooks.unregister)
		cleanup_hooks.unregister(slot);
}

/* --- background writeback (vs_output_writeback) ------------------------ */

/* sync_file_range(SYNC_FILE_RANGE_WRITE) submits the writes in the
 * caller's context and blocks while the device's queue is full, so it
 * runs here, on its own thread, and the copy and the check that follow a
 * large write go on meanwhile. */
struct vs_writeback {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int fd;
	uint64_t upto;	 /* final bytes, as told */
	uint64_t kicked; /* handed to the kernel */
	enum { WB_RUN, WB_DRAIN, WB_QUIT } state;
};

static void *
writeback_main(void *arg)
{
	struct vs_writeback *wb = arg;

	pthread_mutex_lock(&wb->lock);
	for (;;) {
		while (wb->state == WB_RUN && wb->kicked >= wb->upto)
			pthread_cond_wait(&wb->wake, &wb->lock);
		if (wb->state == WB_QUIT || wb->kicked >= wb->upto)
			break;
		uint64_t from = wb->kicked, to = wb->upto;
		pthread_mutex_unlock(&wb->lock);
		/* advice: a file system that declines it only costs the fsync
		 * more (len 0: to the end) */
		(void)sync_file_range(wb->fd, (off_t)from, to == UINT64_MAX ? 0 : (off_t)(to - from),
				      SYNC_FILE_RANGE_WRITE);
		pthread_mutex_lock(&wb->lock);
		wb->kicked = to;
	}
	pthread_mutex_unlock(&wb->lock);
	return NULL;
}

void
vs_output_writeback(struct vs_output *out, uint64_t upto)
{
	struct vs_writeback *wb = out->wb;

	if (!out->tmp_path || out->fd < 0)
		return;
	if (!wb) {
		wb = calloc(1, sizeof *wb);
		if (!wb)
			return;
		wb->fd = out->fd;
		pthread_mutex_init(&wb->lock, NULL);
		pthread_cond_init(&wb->wake, NULL);
		if (pthread_create(&wb->thread, NULL, writeback_main, wb) != 0) {
			pthread_cond_destroy(&wb->wake);
			pthread_mutex_destroy(&wb->lock);
			free(wb);
			return;
		}
		out->wb = wb;
	}
	pthread_mutex_lock(&wb->lock);
	if (upto > wb->upto) {
		wb->upto = upto;
		pthread_cond_signal(&wb->wake);
	}
	pthread_mutex_unlock(&wb->lock);
}

/* commit: what was told is handed over first (the fsync follows);
 * abort: the thread stops after the call it is in. */
static void
writeback_stop(struct vs_output *out, bool drain)
{
	struct vs_writeback *wb = out->wb;

	if (!wb)
		return;
	pthread_mutex_lock(&wb->lock);
	wb->state = drain ? WB_DRAIN : WB_QUIT;
	pthread_cond_signal(&wb->wake);
	pthread_mutex_unlock(&wb->lock);
	pthread_join(wb->thread, NULL);
	pthread_cond_destroy(&wb->wake);
	pthread_mutex_destroy(&wb->lock);
	free(wb);
	out->wb = NULL;
}

/* After the rename the file is complete and in place; a directory that
 * cannot be synced only weakens durability, so it is a warning. */
static void
fsync_dir_of(const char *path)
{
	char *copy = strdup(path);
	int fd;

	if (!copy)
		return;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		vs_warn("warning: %s: cannot sync its directory: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	free(copy);
}

static int
open_atomic(struct vs_output *out, const char *path, const struct stat *old, bool private)
{
	char *dir_copy = NULL, *base_copy = NULL;
	mode_t mask;

	/* Replace what a symlink points to, not the link itself. */
	out->path = old ? realpath(path, NULL) : strdup(path);
	if (!out->path)
		return vs_fail(VS_EXIT_FAIL, errno, "%s", path);
	dir_copy = strdup(out->path);
	base_copy = strdup(out->path);
	if (!dir_copy || !base_copy ||
	    asprintf(&out->tmp_path, "%s/.%s.XXXXXX", dirname(dir_copy), basename(base_copy)) < 0) {
		out->tmp_path = NULL;
		free(dir_copy);
		free(base_copy);
		free(out->path);
		out->path = NULL;
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	}
	free(dir_copy);
	free(base_copy);

	/* O_CREAT|O_EXCL (mkostemp's own) and O_NOFOLLOW: a name planted
	 * in the directory is never opened through */
	out->fd = mkostemp(out->tmp_path, O_CLOEXEC | O_NOFOLLOW);
	if (out->fd < 0) {
		int e = errno;
		free(out->tmp_path);
		out->tmp_path = NULL;
		/* a failed open leaves nothing for the caller to abort */
		free(out->path);
		out->path = NULL;
		return vs_fail(VS_EXIT_FAIL, e, "%s: cannot create a temporary file beside it", path);
	}
	out->cleanup_slot = vs_cleanup_register(out->tmp_path);
	out->noreplace = private;
	if (private)
		return 0; /* mkostemp made it 0600 */
	/* mkostemp makes 0600; give the file the mode a plain open would. */
	mask = umask(0);
	umask(mask);
	fchmod(out->fd, old ? (old->st_mode & 07777) : (0666 & ~mask));
	return 0;
}

/* A FIFO blocks open() until a reader comes: wait for one, with the
 * deadline, before anything is asked of the back-end. */
static int
open_fifo(struct vs_output *out, const char *path, int timeout_ms)
{
	struct timespec step = { 0, 50 * 1000000L };
	long waited = 0;

	for (;;) {
		out->fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (out->fd >= 0)
			return vs_set_nonblock(out->fd, false);
		if (errno != ENXIO)
			return vs_fail(VS_EXIT_FAIL, errno, "%s", path);
		if (timeout_ms >= 0 && waited >= timeout_ms)
			return vs_fail(VS_EXIT_TIMEOUT, 0, "timed out after %g s waiting for a reader on the FIFO %s",
				       timeout_ms / 1000.0, path);
		nanosleep(&step, NULL);
		waited += 50;
	}
}

bool vs_stdout_was_closed;

int
vs_check_stdout(void)
{
	if (vs_stdout_was_closed)
		return vs_fail(VS_EXIT_FAIL, EBADF, "stdout is closed");
	return 0;
}

int
vs_output_open(struct vs_output *out, const char *path, unsigned flags, int timeout_ms)
{
	struct stat st;
	bool exists;

	memset(out, 0, sizeof *out);
	out->fd = -1;
	out->cleanup_slot = -1;

	if (!path || strcmp(path, "-") == 0) {
		out->name = "stdout";
		out->fd = STDOUT_FILENO;
		if (vs_check_stdout() < 0)
			return -1;
		if ((flags & VS_OUTPUT_BINARY) && !(flags & VS_OUTPUT_FORCE) && isatty(STDOUT_FILENO))
			return vs_fail_hint(VS_EXIT_USAGE, VS_HINT_STDOUT_TERMINAL,
					    "refusing to write binary state to a terminal");
		return 0;
	}

	out->name = path;
	if (flags & VS_OUTPUT_PRIVATE) {
		if (lstat(path, &st) == 0)
			return vs_fail(VS_EXIT_FAIL, EEXIST, "%s: not replaced", path);
		if (errno != ENOENT)
			return vs_fail(VS_EXIT_FAIL, errno, "%s", path);
		return open_atomic(out, path, NULL, true);
	}
	exists = stat(path, &st) == 0;
	if (!exists && errno != ENOENT)
		return vs_fail(VS_EXIT_FAIL, errno, "%s", path);
	if (exists && S_ISDIR(st.st_mode))
		return vs_fail(VS_EXIT_FAIL, EISDIR, "%s", path);
	if (exists && !S_ISREG(st.st_mode)) {
		/* Devices and FIFOs are written in place: never replace /dev/null. */
		if ((flags & VS_OUTPUT_BINARY) && !(flags & VS_OUTPUT_FORCE) && S_ISCHR(st.st_mode)) {
			int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
			bool tty = fd >= 0 && isatty(fd);
			if (fd >= 0)
				close(fd);
			if (tty)
				return vs_fail_hint(VS_EXIT_USAGE, VS_HINT_OUTPUT_TERMINAL,
						    "%s: refusing to write binary state to a terminal", path);
		}
		if (S_ISFIFO(st.st_mode))
			return open_fifo(out, path, vs_timeout_effective(timeout_ms));
		out->fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
		if (out->fd < 0)
			return vs_fail(VS_EXIT_FAIL, errno, "%s", path);
		return 0;
	}
	if (exists && !(flags & VS_OUTPUT_FORCE))
		return vs_fail_hint(VS_EXIT_USAGE, VS_HINT_OUTPUT_EXISTS, "%s: file exists", path);
	return open_atomic(out, path, exists ? &st : NULL, false);
}

/* rename() that fails with EEXIST when anything, a dangling symlink
 * included, took the name meanwhile.  A file system without
 * RENAME_NOREPLACE gets link() + unlink(), which refuse the same way. */
static int
rename_noreplace(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (link(from, to) < 0)
		return -1;
	unlink(from);
	return 0;
}

int
vs_output_commit(struct vs_output *out)
{
	int r = 0;

	writeback_stop(out, true);
	if (out->tmp_path) {
		if (fsync(out->fd) < 0) {
			r = vs_fail(VS_EXIT_FAIL, errno, "%s: cannot sync", out->name);
		} else if ((out->noreplace ? rename_noreplace(out->tmp_path, out->path)
					   : rename(out->tmp_path, out->path)) < 0) {
			r = vs_fail(VS_EXIT_FAIL, errno, "%s: cannot rename the temporary file into place",
				    out->name);
		} else {
			vs_cleanup_unregister(out->cleanup_slot);
			free(out->tmp_path);
			out->tmp_path = NULL;
			fsync_dir_of(out->path);
		}
		if (close(out->fd) < 0 && r == 0)
			r = vs_fail(VS_EXIT_FAIL, errno, "%s", out->name);
		out->fd = -1;
	} else if (out->fd > STDERR_FILENO) {
		if (close(out->fd) < 0)
			r = vs_fail(VS_EXIT_FAIL, errno, "%s", out->name);
		out->fd = -1;
	}
	if (r < 0)
		vs_output_abort(out);
	free(out->path);
	out->path = NULL;
	return r;
}

void
vs_output_abort(struct vs_output *out)
{
	writeback_stop(out, false);
	if (out->tmp_path) {
		unlink(out->tmp_path);
		vs_cleanup_unregister(out->cleanup_slot);
		free(out->tmp_path);
		out->tmp_path = NULL;
	}
	if (out->fd > STDERR_FILENO)
		close(out->fd);
	out->fd = -1;
	free(out->path);
	out->path = NULL;
}
