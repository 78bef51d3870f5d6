/* Progress of a long transfer (the CLI's --progress).  Human form
 * (\r-updated line) on stderr when it is a terminal or forced; machine
 * form (one line per update: "progress OP bytes=N total=N elapsed_ms=N")
 * on fd >= 0. */
#ifndef VS_PROGRESS_H
#define VS_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

void vs_progress_config(bool human, int machine_fd);
/* The machine form's fd, or -1. */
int vs_progress_fd(void);
void vs_progress_start(const char *op, uint64_t total);
void vs_progress_update(uint64_t bytes);
void vs_progress_end(void);

#endif
