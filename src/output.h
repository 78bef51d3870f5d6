/* Output files: atomic (temp + fsync + rename) for regular files and new
 * paths, direct for stdout, devices and FIFOs; TTY checks; temp-file
 * cleanup that a signal handler can run. */
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
};

/* path "-" or NULL means stdout.  Nothing is created for a refused path. */
int vs_output_open(struct vs_output *out, const char *path, unsigned flags);
/* Make the output durable and visible (rename into place). */
int vs_output_commit(struct vs_output *out);
/* Throw a partial output away; a direct output is only closed. */
void vs_output_abort(struct vs_output *out);

/* Set when fd 1 was closed at start-up (main.c then parks /dev/null on
 * it); writing "stdout" is refused instead of silently lost. */
extern bool vs_stdout_was_closed;
int vs_check_stdout(void);

/* Progress of a long transfer.  Human form (\r-updated line) on stderr
 * when it is a terminal or forced; machine form (one line per update:
 * "progress OP bytes=N total=N elapsed_ms=N") on fd >= 0. */
void vs_progress_config(bool human, int machine_fd);
void vs_progress_start(const char *op, uint64_t total);
void vs_progress_update(uint64_t bytes);
void vs_progress_end(void);

/* Remove every registered temp file; async-signal-safe. */
void vs_cleanup_run(void);
/* Register a path to unlink if a signal arrives; returns a slot or -1. */
int vs_cleanup_register(const char *path);
void vs_cleanup_unregister(int slot);

#endif
