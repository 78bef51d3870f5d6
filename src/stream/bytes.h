/* Integers at rest, read from unaligned bytes: big-endian (QEMU's stream
 * and migration files, passt's header) and little-endian (gzip); bytes
 * as hex text (digests, file handles, config space). */
#ifndef VS_BYTES_H
#define VS_BYTES_H

#include <endian.h>
#include <nettle/base16.h>
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

/* The n bytes at d as lower-case hex, NUL-terminated: out holds 2n + 1.
 * nettle's encoder, not a sprintf per byte: under ASan each of those
 * parsed its format twice, 4 % of the migration-file fuzz target's time
 * (a digest per state found, 32 calls). */
static inline void
vs_hex(char *out, const void *d, size_t n)
{
	base16_encode_update(out, n, d);
	out[2 * n] = '\0';
}

#endif
