/* The threaded SHA-256 must give nettle's digest for any split of the
 * input, across slot boundaries, and after an early free. */
#include <config.h>

#include <nettle/sha2.h>
#include <stdlib.h>
#include <string.h>

#include "hasher.h"
#include "tap.h"

static unsigned char *data;

static void
reference(size_t len, unsigned char *md)
{
	struct sha256_ctx s;

	sha256_init(&s);
	sha256_update(&s, len, data);
	sha256_digest(&s, SHA256_DIGEST_SIZE, md);
}

/* Feed len bytes in pieces of step (0: pseudo-random sizes). */
static int
same(size_t len, size_t step)
{
	unsigned char want[SHA256_DIGEST_SIZE], got[SHA256_DIGEST_SIZE];
	struct vs_hasher h;
	unsigned seed = 12345;
	size_t off = 0;

	reference(len, want);
	vs_hasher_init(&h);
	if (!h.threaded)
		return 0; /* the point is the thread; say so */
	while (off < len) {
		size_t k = step;
		if (!k) {
			seed = seed * 1103515245 + 12345;
			k = (seed >> 8) % (VS_HASHER_SLOT_SIZE * 3) + 1;
		}
		if (k > len - off)
			k = len - off;
		vs_hasher_update(&h, data + off, k);
		off += k;
	}
	vs_hasher_digest(&h, got);
	return memcmp(want, got, sizeof want) == 0;
}

int
main(void)
{
	const size_t S = VS_HASHER_SLOT_SIZE, max = 9 * VS_HASHER_SLOT_SIZE + 77;
	struct vs_hasher h;

	data = malloc(max);
	if (!data)
		return 1;
	for (size_t i = 0; i < max; i++)
		data[i] = (unsigned char)(i * 2654435761u >> 13);

	printf("1..10\n");
	ok(same(0, 1), "empty input");
	ok(same(1, 1), "one byte");
	ok(same(S - 1, S - 1), "one byte short of a slot");
	ok(same(S, S), "exactly one slot");
	ok(same(S + 1, S + 1), "one byte over a slot");
	ok(same(VS_HASHER_SLOTS * S, S), "the whole ring, slot by slot");
	ok(same(max, 4096), "many laps of the ring in 4 KiB pieces");
	ok(same(max, 0), "pieces of random sizes, some larger than the ring");
	ok(same(max, 3 * S + 5), "pieces larger than the ring");

	/* Freed with slots in flight: this returns (a hang would be the
	 * harness's timeout); the ASan run of make check-all finds a leak. */
	vs_hasher_init(&h);
	vs_hasher_update(&h, data, max);
	vs_hasher_free(&h);
	ok(h.buf == NULL && !h.threaded, "free while hashing returns");
	free(data);
	return failures ? 1 : 0;
}
