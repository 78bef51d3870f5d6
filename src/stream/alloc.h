/* Large zeroed arrays (a decoded state's inodes, preflight's tables) on
 * transparent huge pages where the kernel offers them on request: 100,000
 * inodes otherwise cost thousands of page faults, a tenth of the check's
 * time.  Freed with free(). */
#ifndef VS_ALLOC_H
#define VS_ALLOC_H

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static inline void *
vs_calloc_large(size_t n, size_t size)
{
	const size_t huge = (size_t)2 << 20;
	size_t bytes;
	void *p;

	if (__builtin_mul_overflow(n, size, &bytes))
		return NULL;
	if (bytes < 2 * huge)
		return calloc(n ? n : 1, size);
	bytes = (bytes + huge - 1) & ~(huge - 1);
	if (!(p = aligned_alloc(huge, bytes)))
		return NULL;
	(void)madvise(p, bytes, MADV_HUGEPAGE); /* a hint: fine if refused */
	memset(p, 0, bytes);
	return p;
}

#endif
