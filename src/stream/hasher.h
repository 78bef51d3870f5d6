/* SHA-256 on a thread of its own: a manifest needs the digest of the
 * whole payload, and hashing costs about as much as compressing it, so
 * the receiving thread only copies each piece into a small ring. */
#ifndef VS_HASHER_H
#define VS_HASHER_H

#include <nettle/sha2.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#define VS_HASHER_SLOTS 4
#define VS_HASHER_SLOT_SIZE (256 * 1024)

struct vs_hasher {
	struct sha256_ctx sha;
	bool threaded; /* else everything is hashed inline */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned char *buf;		       /* VS_HASHER_SLOTS slots */
	size_t len[VS_HASHER_SLOTS];	       /* bytes in each slot */
	bool full[VS_HASHER_SLOTS];	       /* handed to the thread */
	unsigned fill;			       /* the slot being filled */
	bool done;			       /* no more slots will come */
	bool taker_waits, filler_waits;	       /* wake only whoever sleeps */
};

/* Start hashing; without memory or a thread it hashes inline. */
void vs_hasher_init(struct vs_hasher *h);
void vs_hasher_update(struct vs_hasher *h, const void *buf, size_t len);
/* Wait for the thread, write the digest, release everything. */
void vs_hasher_digest(struct vs_hasher *h, unsigned char digest[SHA256_DIGEST_SIZE]);
/* Release without a digest (after an error); also after _digest. */
void vs_hasher_free(struct vs_hasher *h);

#endif
