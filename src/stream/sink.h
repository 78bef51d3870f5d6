/* Where bytes at rest go: one interface, many endpoints (plain fd now;
 * zstd and tar members plug in through the same ops). */
#ifndef VS_SINK_H
#define VS_SINK_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <zstd.h>

struct vs_sink;

struct vs_sink_ops {
	/* Write every byte of iov; -1 with the error set. */
	int (*writev)(struct vs_sink *s, const struct iovec *iov, int iovcnt);
	/* Flush what is buffered; the endpoint itself is the caller's. */
	int (*finish)(struct vs_sink *s);
};

struct vs_sink {
	const struct vs_sink_ops *ops;
	const char *name;
	int fd;
};

/* A sink that writes straight to fd (regular file, pipe, device). */
void vs_sink_fd_init(struct vs_sink *s, int fd, const char *name);

/* A sink that zstd-compresses into another one (one frame, ended by
 * finish).  workers > 0 uses zstd's own threads. */
struct vs_sink_zstd {
	struct vs_sink base; /* first: the ops receive &base */
	struct vs_sink *next;
	ZSTD_CCtx *cctx;
	unsigned char *out;
	size_t out_cap;
};
int vs_sink_zstd_init(struct vs_sink_zstd *z, struct vs_sink *next, int level, int workers);
void vs_sink_zstd_free(struct vs_sink_zstd *z);

/* A sink that counts what passes through to another one. */
struct vs_sink_count {
	struct vs_sink base; /* first */
	struct vs_sink *next;
	uint64_t bytes;
};
void vs_sink_count_init(struct vs_sink_count *c, struct vs_sink *next);

/* Whether s writes straight to its fd (vs_sink_fd_init). */
bool vs_sink_is_fd(const struct vs_sink *s);

/* Move exactly len bytes from the pipe pipe_fd to the fd sink out with
 * splice(2): the pages go on without a copy through user space.  Where
 * the output refuses splice (an O_APPEND file, some devices) they are
 * read into buf (at least len bytes) and written instead. */
int vs_sink_splice_from_pipe(struct vs_sink *out, int pipe_fd, size_t len, void *buf);

/* Append len bytes of the file fd (from its offset 0) to the fd sink
 * out, without a copy through user space where the kernel can. */
int vs_sink_copy_file(struct vs_sink *out, int fd, uint64_t len);

/* "No compression", where a zstd level is expected: zstd's own levels
 * go below zero (the fast ones). */
#define VS_ZSTD_OFF INT_MIN

/* Levels zstd accepts, for option parsing. */
int vs_zstd_min_level(void);
int vs_zstd_max_level(void);

static inline int
vs_sink_writev(struct vs_sink *s, const struct iovec *iov, int iovcnt)
{
	return s->ops->writev(s, iov, iovcnt);
}

static inline int
vs_sink_finish(struct vs_sink *s)
{
	return s->ops->finish ? s->ops->finish(s) : 0;
}

#endif
