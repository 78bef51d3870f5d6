/* Integers at rest, read from unaligned bytes: big-endian (QEMU's stream
 * and migration files, passt's header) and little-endian (gzip). */
#ifndef VS_BYTES_H
#define VS_BYTES_H

#include <endian.h>
#include <stdint.h>
#include <string.h>

static inline uint16_t
vs_get_be16(const void *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof v);
	return be16toh(v);
}

static inline uint32_t
vs_get_be32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof v);
	return be32toh(v);
}

static inline uint64_t
vs_get_be64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof v);
	return be64toh(v);
}

static inline uint32_t
vs_get_le32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof v);
	return le32toh(v);
}

#endif
