/* The CLI's side of temp-file cleanup: the library announces each temp
 * file through its hooks (output.h); a fatal signal unlinks those still
 * registered. */
#ifndef VS_CLEANUP_H
#define VS_CLEANUP_H

/* Install the hooks (once, before any output is opened). */
void vs_cleanup_install(void);
/* Remove every registered temp file; async-signal-safe. */
void vs_cleanup_run(void);

#endif
