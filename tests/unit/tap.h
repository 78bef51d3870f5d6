/* TAP output for the C unit tests: automake's driver counts each case. */
#ifndef VS_TAP_H
#define VS_TAP_H

#include <stdio.h>

#include "error.h"

static int failures, count;

/* One case; a failure shows the library's last error. */
static void
ok(int cond, const char *name)
{
	count++;
	printf("%s %d - %s\n", cond ? "ok" : "not ok", count, name);
	if (!cond) {
		failures++;
		printf("#   last error: %s\n", vs_error_get()->msg);
	}
}

#endif
