#include <config.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "hasher.h"

static unsigned char *
slot(struct vs_hasher *h, unsigned i)
{
	return h->buf + (size_t)i * VS_HASHER_SLOT_SIZE;
}

/* Slots are handed over and taken back in ring order, so the digest
 * sees the bytes in the order they came. */
static void *
hash_thread(void *arg)
{
	struct vs_hasher *h = arg;
	unsigned next = 0;

	pthread_mutex_lock(&h->lock);
	for (;;) {
		while (!h->full[next] && !h->done) {
			h->taker_waits = true;
			pthread_cond_wait(&h->cond, &h->lock);
			h->taker_waits = false;
		}
		if (!h->full[next])
			break;
		pthread_mutex_unlock(&h->lock);
		sha256_update(&h->sha, h->len[next], slot(h, next));
		pthread_mutex_lock(&h->lock);
		h->full[next] = false;
		h->len[next] = 0;
		if (h->filler_waits)
			pthread_cond_broadcast(&h->cond);
		next = (next + 1) % VS_HASHER_SLOTS;
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

void
vs_hasher_init(struct vs_hasher *h)
{
	sigset_t all, old;

	memset(h, 0, sizeof *h);
	sha256_init(&h->sha);
	h->buf = malloc((size_t)VS_HASHER_SLOTS * VS_HASHER_SLOT_SIZE);
	if (!h->buf)
		return;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	/* Leave signals to the other threads (the handler is safe on any,
	 * but this one has nothing to clean up). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	h->threaded = pthread_create(&h->thread, NULL, hash_thread, h) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!h->threaded) {
		pthread_cond_destroy(&h->cond);
		pthread_mutex_destroy(&h->lock);
		free(h->buf);
		h->buf = NULL;
	}
}

/* Hand the slot being filled to the thread and wait for the next one
 * to be free. */
static void
submit(struct vs_hasher *h)
{
	pthread_mutex_lock(&h->lock);
	h->full[h->fill] = true;
	if (h->taker_waits)
		pthread_cond_broadcast(&h->cond);
	h->fill = (h->fill + 1) % VS_HASHER_SLOTS;
	while (h->full[h->fill]) {
		h->filler_waits = true;
		pthread_cond_wait(&h->cond, &h->lock);
		h->filler_waits = false;
	}
	pthread_mutex_unlock(&h->lock);
}

void
vs_hasher_update(struct vs_hasher *h, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	if (!h->threaded) {
		sha256_update(&h->sha, len, p);
		return;
	}
	while (len > 0) {
		/* h->len[h->fill] is ours alone until the slot is submitted */
		size_t room = VS_HASHER_SLOT_SIZE - h->len[h->fill];
		size_t k = len < room ? len : room;

		memcpy(slot(h, h->fill) + h->len[h->fill], p, k);
		h->len[h->fill] += k;
		p += k;
		len -= k;
		if (h->len[h->fill] == VS_HASHER_SLOT_SIZE)
			submit(h);
	}
}

static void
stop(struct vs_hasher *h)
{
	if (!h->threaded)
		return;
	pthread_mutex_lock(&h->lock);
	if (h->len[h->fill] > 0)
		h->full[h->fill] = true;
	h->done = true;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	h->threaded = false;
}

void
vs_hasher_digest(struct vs_hasher *h, unsigned char digest[SHA256_DIGEST_SIZE])
{
	stop(h);
	sha256_digest(&h->sha, SHA256_DIGEST_SIZE, digest);
	vs_hasher_free(h);
}

void
vs_hasher_free(struct vs_hasher *h)
{
	stop(h);
	free(h->buf);
	h->buf = NULL;
}
