/* libvirt save images (`virsh save`, managed save): the header libvirt
 * puts in front of the QEMU stream, and the domain XML in it.  Owns the
 * 92-byte header, its checks, the XML (parsed with libxml2 for the
 * domain's name and UUID) and the compression format numbers.  The QEMU
 * stream behind the header is qemu-file.c's.  Layout: doc/migration-files.md. */
#ifndef VS_LIBVIRT_IMAGE_H
#define VS_LIBVIRT_IMAGE_H

#include <stdbool.h>
#include <stdint.h>

#define VS_LIBVIRT_MAGIC "LibvirtQemudSave"
#define VS_LIBVIRT_PARTIAL "LibvirtQemudPart"
#define VS_LIBVIRT_MAGIC_LEN 16
#define VS_LIBVIRT_HEADER_LEN 92u
#define VS_LIBVIRT_VERSION 2u
/* The XML and cookie are held in memory: refuse larger ones. */
#define VS_LIBVIRT_DATA_MAX (64u << 20)

/* virQEMUSaveFormat (libvirt's src/qemu/qemu_saveimage_format.h) */
enum vs_libvirt_format {
	VS_LIBVIRT_RAW = 0,
	VS_LIBVIRT_GZIP = 1,
	VS_LIBVIRT_BZIP2 = 2,
	VS_LIBVIRT_XZ = 3,
	VS_LIBVIRT_LZOP = 4,
	VS_LIBVIRT_ZSTD = 5,
	VS_LIBVIRT_SPARSE = 6,
};

struct vs_libvirt_image {
	bool big_endian; /* the header's u32s (libvirt writes host order) */
	uint32_t version, data_len, was_running, format, cookie_offset;
	uint64_t stream_offset; /* 92 + data_len: where QEMU's stream starts */
	char name[256];		/* <domain><name>, printable */
	char uuid[64];		/* <domain><uuid> */
	char arch[32];		/* <domain><os><type arch=...>, or "" */
	uint64_t xml_len, cookie_len;
};

/* 1 when the 16 bytes start a libvirt save image (complete or partial). */
int vs_libvirt_sniff(const unsigned char *b, size_t len);

/* Read and check the header and XML of fd (a regular file of size
 * bytes).  Errors: VS_EXIT_DATAERR with the file's name. */
int vs_libvirt_image_read(struct vs_libvirt_image *img, int fd, uint64_t size, const char *name);

/* The target page size QEMU uses for the domain's architecture when its
 * stream does not record one (no configuration/target-page-bits): 4096
 * for x86, else 0 (unknown). */
uint64_t vs_libvirt_page_size(const struct vs_libvirt_image *img);

/* "raw", "gzip", ... "sparse", or NULL for an unknown number. */
const char *vs_libvirt_format_name(uint32_t format);

#endif
