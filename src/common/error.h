/* The one error model: a message, an errno and an exit class, kept per
 * thread.  A failing function sets it and returns -1; callers that know
 * more prepend context ("restore: ...") without losing the original. */
#ifndef VS_ERROR_H
#define VS_ERROR_H

#include <stdarg.h>

/* Exit statuses (README.md, "Exit status").  77 and 99 belong to automake's driver. */
enum vs_exit {
	VS_EXIT_OK = 0,
	VS_EXIT_FAIL = 1,	 /* operation failed, CHECK != 0, I/O error */
	VS_EXIT_DIFFERENT = 2,	 /* verify: back-end holds another state */
	VS_EXIT_USAGE = 64,
	VS_EXIT_DATAERR = 65,	 /* malformed stream or file */
	VS_EXIT_UNAVAILABLE = 69, /* cannot connect, closed, lacks DEVICE_STATE */
	VS_EXIT_TIMEOUT = 75,
	VS_EXIT_PROTOCOL = 76,	 /* back-end broke the protocol */
	VS_EXIT_SOFTWARE = 70,	 /* internal error: only from debug checks (fd leaks) */
};

struct vs_error {
	int exit_code;
	int errnum; /* 0 if none */
	char msg[1024];
};

/* Set the error; errnum (if non-zero) is appended as strerror. */
void vs_error_set(int exit_code, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prepend "context: " to the current message. */
void vs_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const struct vs_error *vs_error_get(void);
void vs_error_clear(void);

/* Convenience: set and return -1. */
#define vs_fail(code, errnum, ...) (vs_error_set((code), (errnum), __VA_ARGS__), -1)

#endif
