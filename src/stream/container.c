#include <config.h>

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "container.h"
#include "error.h"

/* --- writing --- */

static la_ssize_t
write_cb(struct archive *a, void *ctx, const void *buf, size_t len)
{
	struct iovec iov = { (void *)buf, len };

	if (vs_sink_writev(ctx, &iov, 1) < 0) {
		archive_set_error(a, EIO, "%s", vs_error_get()->msg);
		return -1;
	}
	return len;
}

static int
add_member(struct archive *a, const char *name, int64_t mtime, uint64_t size)
{
	struct archive_entry *e = archive_entry_new();
	int r;

	if (!e)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	/* Only what the format needs, and fixed: same state, same bytes. */
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)size);
	archive_entry_set_mtime(e, mtime, 0);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	r = archive_write_header(a, e);
	archive_entry_free(e);
	if (r != ARCHIVE_OK)
		return -1;
	return 0;
}

static int
write_error(struct archive *a)
{
	/* A sink error is already set; otherwise take libarchive's. */
	if (!vs_error_get()->msg[0] || vs_error_get()->exit_code == 0)
		vs_error_set(VS_EXIT_FAIL, 0, "writing the archive: %s", archive_error_string(a));
	return -1;
}

int
vs_container_write(struct vs_sink *out, const struct vs_manifest *m, int raw_fd, uint64_t raw_size)
{
	struct archive *a = archive_write_new();
	struct json_object *doc = NULL;
	unsigned char *buf = NULL;
	const char *text;
	uint64_t left = raw_size;
	int r = -1;

	vs_error_clear();
	if (!a)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	doc = vs_manifest_to_json(m);
	text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	buf = malloc(1 << 20);
	if (!buf || archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
	    archive_write_open2(a, out, NULL, write_cb, NULL, NULL) != ARCHIVE_OK) {
		write_error(a);
		goto out;
	}
	if (add_member(a, VS_CONTAINER_MANIFEST, m->created, strlen(text) + 1) < 0 ||
	    archive_write_data(a, text, strlen(text)) < 0 || archive_write_data(a, "\n", 1) < 0 ||
	    add_member(a, VS_CONTAINER_STATE, m->created, raw_size) < 0) {
		write_error(a);
		goto out;
	}
	while (left > 0) {
		ssize_t n = read(raw_fd, buf, left < (1 << 20) ? left : (1 << 20));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			vs_error_set(VS_EXIT_FAIL, n < 0 ? errno : EIO, "reading the spooled state");
			goto out;
		}
		if (archive_write_data(a, buf, n) < 0) {
			write_error(a);
			goto out;
		}
		left -= n;
	}
	if (archive_write_close(a) != ARCHIVE_OK) {
		write_error(a);
		goto out;
	}
	r = 0;
out:
	archive_write_free(a);
	json_object_put(doc);
	free(buf);
	return r;
}

/* --- reading --- */

#define VS_CONTAINER_RBUF (64 * 1024)

static la_ssize_t
read_cb(struct archive *a, void *ctx, const void **out)
{
	struct vs_container_reader *r = ctx;
	ssize_t n = vs_source_read(r->base, r->rbuf, VS_CONTAINER_RBUF);

	if (n < 0) {
		archive_set_error(a, EIO, "%s", vs_error_get()->msg);
		return -1;
	}
	*out = r->rbuf;
	return n;
}

static int
archive_error(struct vs_container_reader *r, const char *what)
{
	const char *msg = archive_error_string(r->ar);
	/* our own read error travels through libarchive; keep its class */
	if (archive_errno(r->ar) == EIO && vs_error_get()->exit_code)
		return -1;
	return vs_fail(VS_EXIT_DATAERR, 0, "%s: %s %s: %s", r->base->name, r->is_tar ? "archive" : "zstd stream",
		       what, msg ? msg : "unreadable");
}

int
vs_container_open(struct vs_container_reader *r, struct vs_source *base)
{
	struct archive_entry *e;
	char *text = NULL;
	int64_t size;

	memset(r, 0, sizeof *r);
	r->base = base;
	r->rbuf = malloc(VS_CONTAINER_RBUF);
	r->ar = archive_read_new();
	if (!r->rbuf || !r->ar)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	/* zstd only: libarchive would run external programs for some
	 * other filters, and this is untrusted input. */
	archive_read_support_filter_zstd(r->ar);
	archive_read_support_format_tar(r->ar);
	archive_read_support_format_raw(r->ar);
	if (archive_read_open(r->ar, r, NULL, read_cb, NULL) != ARCHIVE_OK)
		return archive_error(r, "cannot be opened");
	if (archive_read_next_header(r->ar, &e) != ARCHIVE_OK)
		return archive_error(r, "has no readable first member");
	r->compressed = archive_filter_count(r->ar) > 1;
	r->is_tar = archive_format(r->ar) != ARCHIVE_FORMAT_RAW;
	if (!r->is_tar)
		return 0;

	if (strcmp(archive_entry_pathname(e), VS_CONTAINER_MANIFEST) != 0)
		return vs_fail(VS_EXIT_DATAERR, 0, "%s: the archive's first member is '%s', expected %s", base->name,
			       archive_entry_pathname(e), VS_CONTAINER_MANIFEST);
	size = archive_entry_size(e);
	if (!archive_entry_size_is_set(e) || size <= 0 || size > VS_MANIFEST_MAX)
		return vs_fail(VS_EXIT_DATAERR, 0, "%s: %s has size %" PRId64 ", expected 1 byte to 1 MiB",
			       base->name, VS_CONTAINER_MANIFEST, size);
	text = malloc(size);
	if (!text)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	if (archive_read_data(r->ar, text, size) != size) {
		free(text);
		return archive_error(r, "manifest cannot be read");
	}
	if (vs_manifest_parse(&r->manifest, text, size, base->name) < 0) {
		free(text);
		return -1;
	}
	free(text);
	r->have_manifest = true;
	if (archive_read_next_header(r->ar, &e) != ARCHIVE_OK)
		return archive_error(r, "has no state member");
	if (strcmp(archive_entry_pathname(e), VS_CONTAINER_STATE) != 0)
		return vs_fail(VS_EXIT_DATAERR, 0, "%s: the archive's second member is '%s', expected %s",
			       base->name, archive_entry_pathname(e), VS_CONTAINER_STATE);
	r->state_size = archive_entry_size(e);
	return 0;
}

ssize_t
vs_container_read(struct vs_source *s, void *buf, size_t len)
{
	struct vs_container_reader *r = s->ctx;
	la_ssize_t n = archive_read_data(r->ar, buf, len);

	if (n < 0)
		return archive_error(r, "is corrupt");
	return n;
}

int
vs_container_finish(struct vs_container_reader *r)
{
	struct archive_entry *e;
	int rc;

	if (!r->is_tar) {
		/* raw: the state must be all there is */
		unsigned char b;
		la_ssize_t n = archive_read_data(r->ar, &b, 1);
		if (n < 0)
			return archive_error(r, "is corrupt");
		if (n > 0)
			return vs_fail(VS_EXIT_DATAERR, 0, "%s: data after the state stream", r->base->name);
		return 0;
	}
	rc = archive_read_next_header(r->ar, &e);
	if (rc == ARCHIVE_EOF)
		return 0;
	if (rc != ARCHIVE_OK)
		return archive_error(r, "is corrupt after the state member");
	return vs_fail(VS_EXIT_DATAERR, 0, "%s: unexpected archive member '%s' after %s", r->base->name,
		       archive_entry_pathname(e), VS_CONTAINER_STATE);
}

void
vs_container_close(struct vs_container_reader *r)
{
	if (r->ar)
		archive_read_free(r->ar);
	r->ar = NULL;
	free(r->rbuf);
	r->rbuf = NULL;
	if (r->have_manifest)
		vs_manifest_free(&r->manifest);
	r->have_manifest = false;
}
