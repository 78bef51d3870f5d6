/* Where the library's messages go.  The library never writes to stderr
 * itself: it hands each line (a warning, a -v protocol trace) to the
 * handler its user installed.  Without one, a line goes to stderr as is. */
#ifndef VS_LOG_H
#define VS_LOG_H

enum vs_log_level {
	VS_LOG_ERROR,
	VS_LOG_WARNING,
	VS_LOG_NOTE,
	VS_LOG_DEBUG, /* the protocol trace of -v */
};

/* msg has no trailing newline. */
typedef void (*vs_log_fn)(enum vs_log_level level, const char *msg, void *ctx);

/* Install fn (NULL: back to the default, stderr).  Set it before any
 * thread that logs starts; the handler itself may be called from the
 * back-end channel's thread. */
void vs_log_set_handler(vs_log_fn fn, void *ctx);
void vs_log(enum vs_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define vs_warn(...) vs_log(VS_LOG_WARNING, __VA_ARGS__)

#endif
