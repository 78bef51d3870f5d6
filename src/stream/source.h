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

struct vs_source {
	int fd;
	const char *name;
	bool owned;	 /* close fd on vs_source_close */
	bool seekable;	 /* regular file: can rewind */
	int tee_fd;	 /* if >= 0, every byte read is copied here */
	struct stat st;	 /* at open: a rewind checks the file is unchanged */
	unsigned char *buf;
	size_t cap, pos, len;
};

/* path "-" or NULL: stdin.  A directory or unreadable path fails with
 * VS_EXIT_FAIL. */
int vs_source_open(struct vs_source *s, const char *path);
void vs_source_close(struct vs_source *s);
/* Read up to len bytes; 0 at EOF. */
ssize_t vs_source_read(struct vs_source *s, void *buf, size_t len);
/* Back to the start (seekable sources only); fails if the file changed
 * since it was opened, so what was checked is what gets replayed. */
int vs_source_rewind(struct vs_source *s);

/* An anonymous temp file on disk ($TMPDIR or /var/tmp), unlinked. */
int vs_spool_create(const char *purpose);

#endif
