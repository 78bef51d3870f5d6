#include <config.h>

#include <limits.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "output.h"

/* Paths a signal handler must unlink.  Fixed storage, so the handler never
 * touches memory that may be freed under it. */
#define VS_CLEANUP_SLOTS 4
static char cleanup_paths[VS_CLEANUP_SLOTS][PATH_MAX];
static volatile sig_atomic_t cleanup_used[VS_CLEANUP_SLOTS];

static int
cleanup_register(const char *path)
{
	for (int i = 0; i < VS_CLEANUP_SLOTS; i++) {
		if (cleanup_used[i] || strlen(path) >= PATH_MAX)
			continue;
		strcpy(cleanup_paths[i], path);
		cleanup_used[i] = 1;
		return i;
	}
	return -1;
}

static void
cleanup_unregister(int slot)
{
	if (slot >= 0 && slot < VS_CLEANUP_SLOTS)
		cleanup_used[slot] = 0;
}

void
vs_cleanup_install(void)
{
	static const struct vs_cleanup_hooks hooks = { cleanup_register, cleanup_unregister };

	vs_cleanup_set_hooks(&hooks);
}

void
vs_cleanup_run(void)
{
	for (int i = 0; i < VS_CLEANUP_SLOTS; i++)
		if (cleanup_used[i])
			unlink(cleanup_paths[i]);
}
