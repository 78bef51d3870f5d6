/* The header of a libvirt save image (libvirt's src/qemu/qemu_saveimage.h:
 * struct _virQEMUSaveHeader) and its domain XML.  Every length is checked
 * against the file before it is used; the XML is parsed with a size bound,
 * without network access, DTD loading or entity substitution. */
#include <config.h>

#include <byteswap.h>
#include <errno.h>
#include <inttypes.h>
#include <libxml/parser.h>
#include <stdarg.h>
#include <stdio.h>
#include <libxml/tree.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "io.h"
#include "libvirt-image.h"

static const char *const format_names[] = { "raw", "gzip", "bzip2", "xz", "lzop", "zstd", "sparse" };

const char *
vs_libvirt_format_name(uint32_t format)
{
	return format < sizeof format_names / sizeof *format_names ? format_names[format] : NULL;
}

uint64_t
vs_libvirt_page_size(const struct vs_libvirt_image *img)
{
	/* QEMU's x86 targets have a fixed 4 KiB TARGET_PAGE_SIZE; targets with
	 * a variable one (arm) record it in the stream */
	if (strcmp(img->arch, "x86_64") == 0 || strcmp(img->arch, "i686") == 0)
		return 4096;
	return 0;
}

int
vs_libvirt_sniff(const unsigned char *b, size_t len)
{
	return len >= VS_LIBVIRT_MAGIC_LEN && (memcmp(b, VS_LIBVIRT_MAGIC, VS_LIBVIRT_MAGIC_LEN) == 0 ||
					       memcmp(b, VS_LIBVIRT_PARTIAL, VS_LIBVIRT_MAGIC_LEN) == 0);
}

static int
bad(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
bad(const char *name, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return vs_fail(VS_EXIT_DATAERR, 0, "%s: malformed libvirt save image: %s", name, msg);
}

static uint32_t
u32_at(const struct vs_libvirt_image *img, const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	/* libvirt writes its host's order and swaps a header whose version
	 * is too large: accept either order, found by the version */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return img->big_endian ? bswap_32(v) : v;
#else
	return img->big_endian ? v : bswap_32(v);
#endif
}

static void
printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			*s = '?';
}

/* The text of the only child element NAME of node, or NULL. */
static void
child_text(xmlNode *node, const char *name, char *out, size_t cap)
{
	out[0] = '\0';
	for (xmlNode *c = node->children; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0) {
			xmlChar *t = xmlNodeGetContent(c);
			if (t) {
				snprintf(out, cap, "%s", (const char *)t);
				xmlFree(t);
			}
			printable(out);
			return;
		}
}

static void
quiet_xml(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

static int
parse_xml(struct vs_libvirt_image *img, const char *xml, size_t len, const char *name)
{
	xmlDoc *doc;
	xmlNode *root;

	xmlSetGenericErrorFunc(NULL, quiet_xml);
	/* no XML_PARSE_NOENT or XML_PARSE_DTDLOAD: entities stay unexpanded
	 * and nothing outside the image is read */
	doc = xmlReadMemory(xml, (int)len, "domain.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
	if (!doc)
		return bad(name, "the domain XML at offset %u does not parse", VS_LIBVIRT_HEADER_LEN);
	root = xmlDocGetRootElement(doc);
	if (!root || strcmp((const char *)root->name, "domain") != 0) {
		xmlFreeDoc(doc);
		return bad(name, "the XML at offset %u is not a <domain>", VS_LIBVIRT_HEADER_LEN);
	}
	child_text(root, "name", img->name, sizeof img->name);
	child_text(root, "uuid", img->uuid, sizeof img->uuid);
	for (xmlNode *os = root->children; os; os = os->next)
		if (os->type == XML_ELEMENT_NODE && strcmp((const char *)os->name, "os") == 0)
			for (xmlNode *t = os->children; t; t = t->next)
				if (t->type == XML_ELEMENT_NODE && strcmp((const char *)t->name, "type") == 0) {
					xmlChar *a = xmlGetProp(t, (const xmlChar *)"arch");
					if (a) {
						snprintf(img->arch, sizeof img->arch, "%s", (const char *)a);
						printable(img->arch);
						xmlFree(a);
					}
				}
	xmlFreeDoc(doc);
	return 0;
}

int
vs_libvirt_image_read(struct vs_libvirt_image *img, int fd, uint64_t size, const char *name)
{
	unsigned char h[VS_LIBVIRT_HEADER_LEN];
	char *data;
	const char *end;

	memset(img, 0, sizeof *img);
	if (size < VS_LIBVIRT_HEADER_LEN) {
		if (size >= VS_LIBVIRT_MAGIC_LEN)
			return bad(name, "the file has %" PRIu64 " bytes, less than the %u-byte header", size,
				   VS_LIBVIRT_HEADER_LEN);
		return bad(name, "the file has %" PRIu64 " bytes, less than a header", size);
	}
	if (vs_pread_all(fd, h, sizeof h, 0, name) < 0)
		return -1;
	if (memcmp(h, VS_LIBVIRT_PARTIAL, VS_LIBVIRT_MAGIC_LEN) == 0)
		return vs_fail(VS_EXIT_DATAERR, 0,
			       "%s: an unfinished libvirt save (magic LibvirtQemudPart: libvirt was interrupted before it "
			       "completed the image): not supported, nothing to read",
			       name);
	if (memcmp(h, VS_LIBVIRT_MAGIC, VS_LIBVIRT_MAGIC_LEN) != 0)
		return bad(name, "expected the magic \"LibvirtQemudSave\"");
	img->big_endian = false;
	if (u32_at(img, h + 16) != VS_LIBVIRT_VERSION) {
		img->big_endian = true;
		if (u32_at(img, h + 16) != VS_LIBVIRT_VERSION) {
			img->big_endian = false;
			return bad(name, "header version %" PRIu32 " (only version %u is understood)", u32_at(img, h + 16),
				   VS_LIBVIRT_VERSION);
		}
	}
	img->version = VS_LIBVIRT_VERSION;
	img->data_len = u32_at(img, h + 20);
	img->was_running = u32_at(img, h + 24);
	img->format = u32_at(img, h + 28);
	img->cookie_offset = u32_at(img, h + 32);
	img->stream_offset = VS_LIBVIRT_HEADER_LEN + (uint64_t)img->data_len;
	if (img->data_len > size - VS_LIBVIRT_HEADER_LEN)
		return bad(name, "data_len %" PRIu32 " reaches past the end of the file (%" PRIu64 " bytes)",
			   img->data_len, size);
	if (img->data_len > VS_LIBVIRT_DATA_MAX)
		return bad(name, "data_len %" PRIu32 " is larger than any domain XML (at most %u bytes)", img->data_len,
			   VS_LIBVIRT_DATA_MAX);
	if (img->data_len == 0)
		return bad(name, "data_len is 0: no domain XML");
	if (!vs_libvirt_format_name(img->format))
		return bad(name, "format %" PRIu32 " (expected 0 raw, 1 gzip, 2 bzip2, 3 xz, 4 lzop, 5 zstd or 6 sparse)",
			   img->format);
	if (img->was_running > 1)
		return bad(name, "was_running is %" PRIu32 " (expected 0 or 1)", img->was_running);
	if (img->cookie_offset >= img->data_len)
		return bad(name, "cookieOffset %" PRIu32 " is not inside the %" PRIu32 " bytes of data", img->cookie_offset,
			   img->data_len);
	data = malloc(img->data_len);
	if (!data)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	if (vs_pread_all(fd, data, img->data_len, VS_LIBVIRT_HEADER_LEN, name) < 0) {
		free(data);
		return -1;
	}
	/* the XML ends at its NUL, within cookieOffset when there is a cookie */
	end = memchr(data, '\0', img->cookie_offset ? img->cookie_offset : img->data_len);
	if (!end) {
		free(data);
		return bad(name, "the domain XML is not NUL-terminated within %s",
			   img->cookie_offset ? "cookieOffset" : "data_len");
	}
	img->xml_len = (uint64_t)(end - data);
	if (img->cookie_offset) {
		const char *c = data + img->cookie_offset;
		const char *cend = memchr(c, '\0', img->data_len - img->cookie_offset);
		if (!cend) {
			free(data);
			return bad(name, "the cookie at offset %" PRIu32 " is not NUL-terminated within data_len",
				   VS_LIBVIRT_HEADER_LEN + img->cookie_offset);
		}
		img->cookie_len = (uint64_t)(cend - c);
	}
	if (parse_xml(img, data, img->xml_len, name) < 0) {
		free(data);
		return -1;
	}
	free(data);
	return 0;
}
