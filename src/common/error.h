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

/* What a front end may add to a message: the library words its errors in
 * its own terms (a limit it was given, a choice left to its caller), and
 * the front end names the option or command behind them. */
enum vs_error_hint {
	VS_HINT_NONE,
	VS_HINT_MAX_SIZE,	 /* a size limit the caller passed in */
	VS_HINT_DEVICE,		 /* a migration file holds several states: one is to be chosen */
	VS_HINT_MEM_TABLE,	 /* more regions than one SET_MEM_TABLE carries */
	VS_HINT_MIGRATION_STREAM, /* a QEMU migration stream given as a state */
	VS_HINT_LIBVIRT_IMAGE,	 /* a libvirt save image given as a state */
	VS_HINT_OUTPUT_EXISTS,	 /* an output file that would be replaced */
	VS_HINT_OUTPUT_TERMINAL, /* binary output to a terminal named by path */
	VS_HINT_STDOUT_TERMINAL, /* binary output to a terminal on stdout */
};

struct vs_error {
	int exit_code;
	int errnum; /* 0 if none */
	enum vs_error_hint hint;
	char msg[1024];
};

/* Set the error; errnum (if non-zero) is appended as strerror. */
void vs_error_set(int exit_code, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prepend "context: " to the current message. */
void vs_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Append text to the current message (cut if it does not fit). */
void vs_error_append(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Tag the current error with a hint (vs_error_set clears it). */
void vs_error_hint(enum vs_error_hint hint);
const struct vs_error *vs_error_get(void);
void vs_error_clear(void);

/* Convenience: set and return -1. */
#define vs_fail(code, errnum, ...) (vs_error_set((code), (errnum), __VA_ARGS__), -1)
/* The same, tagged with a hint. */
#define vs_fail_hint(code, hint, ...) (vs_error_set((code), 0, __VA_ARGS__), vs_error_hint(hint), -1)

#endif
