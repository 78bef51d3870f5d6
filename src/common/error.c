#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

static __thread struct vs_error last_error;

void
vs_error_set(int exit_code, int errnum, const char *fmt, ...)
{
	va_list ap;
	int n;

	last_error.exit_code = exit_code;
	last_error.errnum = errnum;
	last_error.hint = VS_HINT_NONE;
	va_start(ap, fmt);
	n = vsnprintf(last_error.msg, sizeof last_error.msg, fmt, ap);
	va_end(ap);
	if (errnum && n >= 0 && (size_t)n < sizeof last_error.msg)
		snprintf(last_error.msg + n, sizeof last_error.msg - n, ": %s", strerror(errnum));
}

void
vs_error_prefix(const char *fmt, ...)
{
	char prefix[256];
	size_t plen, mlen = strlen(last_error.msg), cap = sizeof last_error.msg;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(prefix, sizeof prefix - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	strcat(prefix, ": ");
	plen = strlen(prefix);
	/* Shift the message right and put the context in front; the tail is
	 * what gets cut if the whole does not fit. */
	if (plen + mlen >= cap)
		mlen = cap - 1 - plen;
	memmove(last_error.msg + plen, last_error.msg, mlen);
	memcpy(last_error.msg, prefix, plen);
	last_error.msg[plen + mlen] = '\0';
}

void
vs_error_append(const char *fmt, ...)
{
	size_t mlen = strlen(last_error.msg);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error.msg + mlen, sizeof last_error.msg - mlen, fmt, ap);
	va_end(ap);
}

void
vs_error_hint(enum vs_error_hint hint)
{
	last_error.hint = hint;
}

const struct vs_error *
vs_error_get(void)
{
	return &last_error;
}

void
vs_error_clear(void)
{
	memset(&last_error, 0, sizeof last_error);
}
