/* What main.c shares with the cmd-<verb>.c files. */
#ifndef VS_CMD_H
#define VS_CMD_H

#include <argp.h>
#include <stdbool.h>
#include <stdint.h>

struct vs_common_opts {
	bool verbose;
	bool quiet;
	bool force;
	bool json; /* set by the verbs that offer --json */
	uint64_t max_size;
};
extern struct vs_common_opts vs_opt;

/* -t -v -q -f --max-size, as an argp child of every verb. */
extern const struct argp vs_common_argp;
#define VS_COMMON_CHILD { &vs_common_argp, 0, "Common options:", 10 }

/* The direct-mode caveat every verb's --help repeats. */
#define VS_DIRECT_MODE_NOTE \
	"\vConnecting consumes a one-shot back-end: virtiofsd serves one front-end " \
	"and exits when it leaves, so each command needs a fresh instance."

/* Print the current error (and a JSON error document with --json);
 * returns the exit status to use. */
int vs_report_error(const char *verb);
/* "  NAME NAME ..." for the set bits of a mask. */
void vs_print_feature_names(uint64_t mask, const char *(*name)(unsigned));

int vs_cmd_info(int argc, char **argv);
int vs_cmd_dump(int argc, char **argv);
int vs_cmd_restore(int argc, char **argv);
int vs_cmd_verify(int argc, char **argv);

#endif
