/* Output files: atomic (temp + fsync + rename) for regular files and new
 * paths, direct for stdout, devices and FIFOs; TTY checks.  A temp file
 * is announced to the cleanup hooks its user installed (the CLI unlinks
 * it on a fatal signal, src/cleanup.c). */
#ifndef VS_OUTPUT_H
#define VS_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>

enum {
	VS_OUTPUT_FORCE = 1 << 0,  /* overwrite; allow binary on a terminal */
	VS_OUTPUT_BINARY = 1 << 1, /* refuse a terminal unless forced */
	/* A file only its owner reads (0600), never replacing anything:
	 * whatever is at the path, a symlink included, makes open or commit
	 * fail.  FORCE is ignored. */
	VS_OUTPUT_PRIVATE = 1 << 2,
};

struct vs_output {
	int fd;
	const char *name;     /* for messages: the path, or "stdout" */
	char *path;	      /* final path when atomic, else NULL */
	char *tmp_path;	      /* temp file to rename, else NULL */
	int cleanup_slot;     /* index in the signal-cleanup table, or -1 */
	bool noreplace;	      /* VS_OUTPUT_PRIVATE: commit never replaces */
	struct vs_writeback *wb; /* vs_output_writeback's thread, or NULL */
};

/* path "-" or NULL means stdout.  Nothing is created for a refused path.
 * timeout_ms bounds the wait for a reader on a FIFO (0: the default of
 * io.h, < 0: forever). */
int vs_output_open(struct vs_output *out, const char *path, unsigned flags, int timeout_ms);
/* The first `upto` bytes of an atomic output are final (UINT64_MAX: all
 * written so far): a thread, started on first use, has the kernel write
 * them to disk while the caller goes on, so that commit's fsync waits for
 * what is left instead of the whole file.  Advice only: no effect on a
 * direct output, and nothing is reported. */
void vs_output_writeback(struct vs_output *out, uint64_t upto);
/* Make the output durable and visible (rename into place). */
int vs_output_commit(struct vs_output *out);
/* Throw a partial output away; a direct output is only closed. */
void vs_output_abort(struct vs_output *out);

/* Set when fd 1 was closed at start-up (main.c then parks /dev/null on
 * it); writing "stdout" is refused instead of silently lost. */
extern bool vs_stdout_was_closed;
int vs_check_stdout(void);

/* Temp files someone should remove if the process dies before commit
 * or abort (a signal).  register returns a slot (or -1: not tracked) that
 * unregister is given back; the hooks must not block.  Without hooks
 * nothing is tracked. */
struct vs_cleanup_hooks {
	int (*register_path)(const char *path);
	void (*unregister)(int slot);
};
void vs_cleanup_set_hooks(const struct vs_cleanup_hooks *hooks);
/* What the library calls (output files, the proxy's sockets). */
int vs_cleanup_register(const char *path);
void vs_cleanup_unregister(int slot);

#endif
