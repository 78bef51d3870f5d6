/* Taking a state out of a migration file, and writing a copy with a state
 * replaced: the bytes before it copied (a sparse file with its holes kept),
 * the new state, the rest, and the description with the enclosing size
 * fixed; compressed images go through qemu-compressed.c.  Part of the
 * walker (qemu-walk.h). */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bytes.h"
#include "error.h"
#include "io.h"
#include "output.h"
#include "qemu-compressed.h"
#include "qemu-walk.h"
#include "vs-json.h"

/* [from, to) of the file to a sink or an fd. */
static int
copy_range(struct vs_qemu_file *q, uint64_t from, uint64_t to, struct vs_sink *sink, int fd, const char *name)
{
	const size_t cap = 1u << 20;
	unsigned char *buf = malloc(cap);
	size_t got;

	if (!buf)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	while (from < to) {
		size_t n = to - from < cap ? to - from : cap;
		if (vs_qf_pread(q->fd, buf, n, from, &got, q->name) < 0)
			goto fail;
		if (got != n) {
			vs_error_set(VS_EXIT_FAIL, 0, "%s: the file shrank while it was read", q->name);
			goto fail;
		}
		if (sink) {
			struct iovec iov = { buf, n };
			if (vs_sink_writev(sink, &iov, 1) < 0)
				goto fail;
		} else if (vs_write_all(fd, buf, n, name, -1) < 0) {
			goto fail;
		}
		from += n;
	}
	free(buf);
	return 0;
fail:
	free(buf);
	return -1;
}

/* How much of a copy goes to the disk at a time. */
#define WRITEBACK_STEP ((size_t)64 << 20)

/* [from, to) of the file to the same offsets of out_fd, which holds
 * exactly `from` bytes: holes stay holes (SEEK_DATA/SEEK_HOLE), data goes
 * by copy_file_range (a reflink or an in-kernel copy where the file system
 * can).  A mapped-ram file is mostly holes: its copy must stay sparse.
 * Falls back to copy_range() where out_fd cannot seek or the kernel
 * declines. */
static int
copy_sparse(struct vs_qemu_file *q, uint64_t from, uint64_t to, struct vs_output *out)
{
	off_t cur = (off_t)from;
	int fd = out->fd;
	const char *name = out->name;

	if (lseek(fd, 0, SEEK_CUR) != (off_t)from)
		return copy_range(q, from, to, NULL, fd, name);
	while ((uint64_t)cur < to) {
		off_t data = lseek(q->fd, cur, SEEK_DATA), hole;
		if (data < 0 && errno == ENXIO)
			data = (off_t)to; /* only a hole is left */
		else if (data < 0)
			return copy_range(q, cur, to, NULL, fd, name);
		if ((uint64_t)data > to)
			data = (off_t)to;
		hole = data < (off_t)to ? lseek(q->fd, data, SEEK_HOLE) : (off_t)to;
		if (hole < 0)
			return copy_range(q, data, to, NULL, fd, name);
		if ((uint64_t)hole > to)
			hole = (off_t)to;
		/* the hole [cur, data): moved over; ftruncate at the end makes
		 * a trailing one part of the file */
		if (lseek(fd, data, SEEK_SET) != data)
			return vs_fail(VS_EXIT_FAIL, errno, "%s: seek", name);
		for (off_t in = data; in < hole;) {
			/* in steps, each handed to writeback as it lands: the disk
			 * writes while the rest is copied (vs_output_writeback) */
			size_t step = (uint64_t)(hole - in) < WRITEBACK_STEP ? (size_t)(hole - in) : WRITEBACK_STEP;
			ssize_t k = copy_file_range(q->fd, &in, fd, NULL, step, 0);
			if (k > 0)
				vs_output_writeback(out, (uint64_t)in);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				if (k < 0 && errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
					return vs_fail(VS_EXIT_FAIL, errno, "%s: copy", name);
				if (copy_range(q, (uint64_t)in, (uint64_t)hole, NULL, fd, name) < 0)
					return -1;
				break;
			}
		}
		cur = hole;
	}
	if (ftruncate(fd, (off_t)to) < 0)
		return vs_fail(VS_EXIT_FAIL, errno, "%s: truncate", name);
	if (lseek(fd, (off_t)to, SEEK_SET) != (off_t)to)
		return vs_fail(VS_EXIT_FAIL, errno, "%s: seek", name);
	return 0;
}

int
vs_qemu_file_copy_state(struct vs_qemu_file *q, size_t i, struct vs_sink *sink)
{
	const struct vs_qemu_state *st = &q->states[i];

	if (copy_range(q, st->offset, st->offset + st->length, sink, -1, NULL) < 0)
		return -1;
	return vs_sink_finish(sink);
}

static int
copy_new_state(vs_qemu_read_fn fn, void *ctx, uint64_t new_len, int out_fd, const char *out_name)
{
	unsigned char *buf = malloc(1u << 20);
	uint64_t done = 0;
	ssize_t n;
	int rc = -1;

	if (!buf)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	while ((n = fn(ctx, buf, 1u << 20)) > 0) {
		if (vs_write_all(out_fd, buf, n, out_name, -1) < 0)
			goto out;
		done += n;
	}
	if (n < 0)
		goto out;
	if (done != new_len) {
		vs_error_set(VS_EXIT_FAIL, 0, "the new state changed while it was read (%" PRIu64 " bytes, expected %" PRIu64 ")",
			     done, new_len);
		goto out;
	}
	rc = 0;
out:
	free(buf);
	return rc;
}

static int
inject_tail(struct vs_qemu_file *q, const struct vs_qemu_state *st, vs_qemu_read_fn fn, void *ctx, uint64_t new_len,
	    struct vs_output *out)
{
	int out_fd = out->fd;
	const char *out_name = out->name;

	if (q->compressed)
		return vs_qemu_compressed_inject(q->image_fd, &q->image, st, q->size, fn, ctx, new_len, NULL, 0, out_fd,
						 out_name, q->name);
	if (copy_sparse(q, 0, st->offset, out) < 0 ||
	    copy_new_state(fn, ctx, new_len, out_fd, out_name) < 0 ||
	    copy_range(q, st->offset + st->length, q->size, NULL, out_fd, out_name) < 0)
		return -1;
	return 0;
}

int
vs_qemu_file_inject(struct vs_qemu_file *q, size_t i, vs_qemu_read_fn fn, void *ctx, uint64_t new_len,
		    struct vs_output *out)
{
	struct vs_qemu_state *st = &q->states[i];
	int out_fd = out->fd;
	const char *out_name = out->name;
	uint64_t new_size = st->desc_size - st->length + new_len;
	unsigned char head[5];
	char *json = NULL;
	size_t jlen;
	int rc = -1;

	/* the one length that encloses the state: its field in the description;
	 * without one, nothing encloses it (QEMU's loader reads the chunk list
	 * up to its terminator) and only the bytes after it move */
	if (new_size > INT64_MAX)
		return vs_fail(VS_EXIT_FAIL, 0, "%s: the new state is too large", q->name);
	if (!q->described)
		return inject_tail(q, st, fn, ctx, new_len, out);
	/* the walker reads size x array_len: a new size only fits one element */
	int64_t alen = 1;
	if (json_object_object_get_ex(st->desc_field, "array_len", NULL) &&
	    (vs_qf_json_size(st->desc_field, "array_len", &alen) < 0 || alen != 1))
		return vs_fail(VS_EXIT_DATAERR, 0,
			       "%s: the field holding the state is described as an array (array_len %" PRId64
			       "); a new size cannot be written for it",
			       q->name, alen);
	vs_json_set(st->desc_field, "size", json_object_new_int64((int64_t)new_size));
	json = vs_qemu_json_serialize(q->desc, &jlen);
	if (!json)
		return -1;
	if (jlen > UINT32_MAX) {
		vs_error_set(VS_EXIT_FAIL, 0, "%s: the VM description would exceed 4 GiB", q->name);
		goto done;
	}
	if (q->compressed) {
		rc = vs_qemu_compressed_inject(q->image_fd, &q->image, st, q->desc_offset, fn, ctx, new_len, json, jlen,
					       out_fd, out_name, q->name);
		goto done;
	}
	if (copy_sparse(q, 0, st->offset, out) < 0 ||
	    copy_new_state(fn, ctx, new_len, out_fd, out_name) < 0)
		goto done;
	if (copy_range(q, st->offset + st->length, q->desc_offset, NULL, out_fd, out_name) < 0)
		goto done;
	head[0] = QEMU_VM_VMDESCRIPTION;
	head[1] = jlen >> 24;
	head[2] = jlen >> 16;
	head[3] = jlen >> 8;
	head[4] = jlen;
	if (vs_write_all(out_fd, head, 5, out_name, -1) < 0 || vs_write_all(out_fd, json, jlen, out_name, -1) < 0)
		goto done;
	rc = 0;
done:
	free(json);
	return rc;
}
