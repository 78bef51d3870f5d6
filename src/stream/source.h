/* Where bytes at rest come from: files, stdin, pipes.  Reads from pipes
 * and sockets carry the deadline; a non-seekable input can be teed into
 * a spool file as it is read, so it can be replayed. */
#ifndef VS_SOURCE_H
#define VS_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

struct vs_source;
/* A decoder in front of the bytes (zstd, a tar member): fills buf with up
 * to len decoded bytes; 0 at the end, -1 with the error set. */
typedef ssize_t (*vs_source_read_fn)(struct vs_source *s, void *buf, size_t len);

struct vs_source {
	int fd;
	vs_source_read_fn read_fn; /* if set, bytes come from here, not fd */
	void *ctx;		   /* the decoder's state */
	const char *name;
	bool owned;	 /* close fd on vs_source_close */
	bool seekable;	 /* regular file: can rewind */
	int timeout_ms;	 /* deadline of each wait on a pipe or socket (io.h) */
	int tee_fd;	 /* if >= 0, every byte read is copied here */
	uint64_t tee_max, teed; /* the most the tee takes (0: no limit); so far */
	struct stat st;	 /* at open: a rewind checks the file is unchanged */
	unsigned char *buf;
	size_t cap, pos, len;
};

/* path "-" or NULL: stdin.  A directory or unreadable path fails with
 * VS_EXIT_FAIL.  timeout_ms bounds each wait for input on a pipe or a
 * socket (0: the default of io.h, < 0: none). */
int vs_source_open(struct vs_source *s, const char *path, int timeout_ms);
/* A source over an fd we own from now on (closed by vs_source_close),
 * with the default deadline. */
int vs_source_from_fd(struct vs_source *s, int fd, const char *name);
void vs_source_close(struct vs_source *s);
/* Read up to len bytes; 0 at EOF. */
ssize_t vs_source_read(struct vs_source *s, void *buf, size_t len);
/* Make the first `want` unread bytes (fewer at EOF) visible without
 * consuming them; *data points at them.  Returns how many, or -1. */
ssize_t vs_source_peek(struct vs_source *s, size_t want, const unsigned char **data);
/* Zero-copy read: the unread buffered bytes (after one read into the
 * buffer if none are left), all consumed; *data stays valid until the
 * next call on s.  Returns how many, 0 at EOF, or -1. */
ssize_t vs_source_next(struct vs_source *s, const unsigned char **data);
/* From now on copy every byte read into fd, starting with the bytes
 * already buffered (peeked) but not yet consumed.  A read that would take
 * the copy past max bytes (0: no limit) fails with VS_EXIT_DATAERR
 * instead, before anything beyond max is written. */
int vs_source_set_tee(struct vs_source *s, int fd, uint64_t max);
/* A source that reads through fn (a decoder over another source). */
int vs_source_init_decoder(struct vs_source *s, const char *name, vs_source_read_fn fn, void *ctx);
/* Back to the start (seekable sources only); fails if the file changed
 * since it was opened, so what was checked is what gets replayed. */
int vs_source_rewind(struct vs_source *s);

/* An anonymous temp file on disk ($TMPDIR or /var/tmp), unlinked. */
int vs_spool_create(const char *purpose);

#endif
