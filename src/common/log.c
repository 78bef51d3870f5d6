#include <config.h>

#include <stdarg.h>
#include <stdio.h>

#include "log.h"

static void
log_stderr(enum vs_log_level level, const char *msg, void *ctx)
{
	(void)level;
	(void)ctx;
	fprintf(stderr, "%s\n", msg);
}

static vs_log_fn handler = log_stderr;
static void *handler_ctx;

void
vs_log_set_handler(vs_log_fn fn, void *ctx)
{
	handler = fn ? fn : log_stderr;
	handler_ctx = fn ? ctx : NULL;
}

void
vs_log(enum vs_log_level level, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	handler(level, msg, handler_ctx);
}
