/* Compressed libvirt save images (formats 1-5): decompressing the QEMU
 * stream into a spool whose RAM pages are holes, and recompressing it
 * for inject.  See qemu-compressed.c. */
#ifndef VS_QEMU_COMPRESSED_H
#define VS_QEMU_COMPRESSED_H

#include <stdint.h>

#include "libvirt-image.h"
#include "qemu-file.h"

/* The stream of image img (fd, the file named name) decompressed into a
 * new spool file (*spool, *size bytes), RAM pages left as holes. */
int vs_qemu_compressed_spool(int fd, const struct vs_libvirt_image *img, const char *name, int *spool,
			     uint64_t *size);

/* Write to out_fd the image with state st (offsets in the decompressed
 * stream) replaced by new_len bytes from fn, the stream from desc_offset
 * on replaced by the description json (NULL: the stream ends there), all
 * recompressed as img->format says; header, XML and cookie unchanged. */
int vs_qemu_compressed_inject(int fd, const struct vs_libvirt_image *img, const struct vs_qemu_state *st,
			      uint64_t desc_offset, vs_qemu_read_fn fn, void *ctx, uint64_t new_len, const char *json,
			      size_t jlen, int out_fd, const char *out_name, const char *name);

#endif
