#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "io.h"
#include "source.h"

#define VS_SOURCE_BUF (256 * 1024)

static int
init_fd(struct vs_source *s, int fd, const char *name, bool owned)
{
	s->fd = fd;
	s->name = name;
	s->owned = owned;
	s->tee_fd = -1;
	s->timeout_ms = vs_timeout_effective(s->timeout_ms);
	if (fstat(s->fd, &s->st) < 0) {
		vs_error_set(VS_EXIT_FAIL, errno, "%s", s->name);
		vs_source_close(s);
		return -1;
	}
	if (S_ISDIR(s->st.st_mode)) {
		vs_error_set(VS_EXIT_FAIL, EISDIR, "%s", s->name);
		vs_source_close(s);
		return -1;
	}
	s->seekable = S_ISREG(s->st.st_mode);
	s->cap = VS_SOURCE_BUF;
	s->buf = malloc(s->cap);
	if (!s->buf) {
		vs_source_close(s);
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	}
	return 0;
}

int
vs_source_open(struct vs_source *s, const char *path, int timeout_ms)
{
	int fd;

	memset(s, 0, sizeof *s);
	s->timeout_ms = timeout_ms;
	if (!path || strcmp(path, "-") == 0)
		return init_fd(s, STDIN_FILENO, "stdin", false);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return vs_fail(VS_EXIT_FAIL, errno, "%s", path);
	return init_fd(s, fd, path, true);
}

int
vs_source_from_fd(struct vs_source *s, int fd, const char *name)
{
	memset(s, 0, sizeof *s);
	return init_fd(s, fd, name, true);
}

void
vs_source_close(struct vs_source *s)
{
	if (s->owned && s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	free(s->buf);
	s->buf = NULL;
}

/* The spool's bound is what keeps a small compressed input from filling
 * TMPDIR: checked before the write, so the spool never exceeds it. */
static int
tee_write(struct vs_source *s, const void *buf, size_t n)
{
	if (s->tee_max && n > s->tee_max - s->teed)
		return vs_fail_hint(VS_EXIT_DATAERR, VS_HINT_MAX_SIZE,
				    "%s: stopped reading: the state stream, lengths included, exceeds the limit of %" PRIu64
				    " bytes",
				    s->name, s->tee_max);
	if (vs_write_all(s->tee_fd, buf, n, "spool file", -1) < 0)
		return -1;
	s->teed += n;
	return 0;
}

static ssize_t
raw_read(struct vs_source *s, void *buf, size_t len)
{
	ssize_t n;

	if (s->read_fn) {
		n = s->read_fn(s, buf, len);
		if (n < 0)
			return -1;
	} else if (s->seekable) {
		do
			n = read(s->fd, buf, len);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return vs_fail(VS_EXIT_FAIL, errno, "%s: read", s->name);
	} else {
		char what[128];
		snprintf(what, sizeof what, "input on %s", s->name);
		n = vs_read_wait(s->fd, buf, len, s->timeout_ms, s->name, what);
		if (n < 0)
			return -1;
	}
	if (n > 0 && s->tee_fd >= 0 && tee_write(s, buf, n) < 0)
		return -1;
	return n;
}

ssize_t
vs_source_read(struct vs_source *s, void *buf, size_t len)
{
	if (s->pos == s->len) {
		/* Large reads bypass the buffer. */
		if (len >= s->cap)
			return raw_read(s, buf, len);
		ssize_t n = raw_read(s, s->buf, s->cap);
		if (n <= 0)
			return n;
		s->pos = 0;
		s->len = n;
	}
	if (len > s->len - s->pos)
		len = s->len - s->pos;
	memcpy(buf, s->buf + s->pos, len);
	s->pos += len;
	return len;
}

ssize_t
vs_source_next(struct vs_source *s, const unsigned char **data)
{
	ssize_t n;

	if (s->pos == s->len) {
		n = raw_read(s, s->buf, s->cap);
		if (n <= 0)
			return n;
		s->pos = 0;
		s->len = n;
	}
	*data = s->buf + s->pos;
	n = (ssize_t)(s->len - s->pos);
	s->pos = s->len;
	return n;
}

ssize_t
vs_source_peek(struct vs_source *s, size_t want, const unsigned char **data)
{
	if (want > s->cap)
		want = s->cap;
	if (s->len - s->pos < want) {
		memmove(s->buf, s->buf + s->pos, s->len - s->pos);
		s->len -= s->pos;
		s->pos = 0;
		while (s->len < want) {
			ssize_t n = raw_read(s, s->buf + s->len, s->cap - s->len);
			if (n < 0)
				return -1;
			if (n == 0)
				break;
			s->len += n;
		}
	}
	*data = s->buf + s->pos;
	return s->len - s->pos < want ? s->len - s->pos : want;
}

int
vs_source_set_tee(struct vs_source *s, int fd, uint64_t max)
{
	s->tee_fd = fd;
	s->tee_max = max;
	s->teed = 0;
	if (s->len > s->pos && tee_write(s, s->buf + s->pos, s->len - s->pos) < 0) {
		s->tee_fd = -1;
		return -1;
	}
	return 0;
}

int
vs_source_init_decoder(struct vs_source *s, const char *name, vs_source_read_fn fn, void *ctx)
{
	memset(s, 0, sizeof *s);
	s->fd = -1;
	s->tee_fd = -1;
	s->name = name;
	s->read_fn = fn;
	s->ctx = ctx;
	s->cap = VS_SOURCE_BUF;
	s->buf = malloc(s->cap);
	if (!s->buf)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	return 0;
}

int
vs_source_rewind(struct vs_source *s)
{
	struct stat now;

	if (!s->seekable || lseek(s->fd, 0, SEEK_SET) < 0)
		return vs_fail(VS_EXIT_FAIL, s->seekable ? errno : ESPIPE, "%s: cannot rewind", s->name);
	if (fstat(s->fd, &now) < 0)
		return vs_fail(VS_EXIT_FAIL, errno, "%s", s->name);
	if (now.st_size != s->st.st_size || now.st_mtim.tv_sec != s->st.st_mtim.tv_sec ||
	    now.st_mtim.tv_nsec != s->st.st_mtim.tv_nsec || now.st_ino != s->st.st_ino)
		return vs_fail(VS_EXIT_FAIL, 0, "%s: the file changed while it was being used", s->name);
	s->pos = s->len = 0;
	return 0;
}

int
vs_spool_create(const char *purpose)
{
	const char *dir = getenv("TMPDIR");
	char *path;
	int fd;

	if (!dir || !*dir)
		dir = "/var/tmp";
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	/* Filesystems without O_TMPFILE: create and unlink at once. */
	if (asprintf(&path, "%s/vhost-state-%s.XXXXXX", dir, purpose) < 0)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		free(path);
		return vs_fail(VS_EXIT_FAIL, e, "cannot create a spool file in %s", dir);
	}
	unlink(path);
	free(path);
	return fd;
}
