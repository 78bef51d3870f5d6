/* sha256 — hash stdin to EOF with nettle's SHA-256 (the manifests'
 * digest, one thread) and print it.  The bench times it on the state an
 * archive row compresses: no archive dump can take less, since its
 * manifest needs the digest of every payload byte. */
#include <config.h>

#include <errno.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
main(void)
{
	static unsigned char buf[256 * 1024];
	unsigned char md[SHA256_DIGEST_SIZE];
	struct sha256_ctx s;
	ssize_t n;

	sha256_init(&s);
	while ((n = read(0, buf, sizeof buf)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "sha256: reading stdin: %s\n", strerror(errno));
			return 1;
		}
		sha256_update(&s, n, buf);
	}
	sha256_digest(&s, sizeof md, md);
	for (size_t i = 0; i < sizeof md; i++)
		printf("%02x", md[i]);
	printf("\n");
	return 0;
}
