/* The steps of `vhost-state run SOCKET STEP...`: parsing them, and
 * checking the sequence as a whole before anything connects, so a
 * mistake never consumes a one-shot back-end. */
#ifndef VS_RUN_STEPS_H
#define VS_RUN_STEPS_H

#include <stdbool.h>
#include <stddef.h>

enum vs_run_op {
	VS_RUN_START,	  /* vhost_dev_start */
	VS_RUN_STOP,	  /* vhost_dev_stop */
	VS_RUN_SAVE,	  /* FILE: vhost_save_backend_state */
	VS_RUN_LOAD,	  /* FILE: vhost_load_backend_state */
	VS_RUN_VERIFY,	  /* FILE: load, save again, compare */
	VS_RUN_INFO,	  /* print what was negotiated and the rings */
	VS_RUN_RESET,	  /* vhost_reset_device: RESET_DEVICE */
	VS_RUN_LOG_START, /* vhost_migration_log(true) */
	VS_RUN_LOG_STOP,  /* vhost_migration_log(false) */
};

struct vs_run_step {
	enum vs_run_op op;
	const char *file;    /* save, load, verify; "-" is stdout/stdin */
	unsigned number;     /* 1-based position in the sequence */
	bool file_from_save; /* load/verify of what an earlier save writes */
};

struct vs_run_plan {
	struct vs_run_step *steps;
	unsigned n;
};

/* Parse the words after SOCKET and check the sequence: start only when
 * stopped, stop only when started, save/load/verify/reset only when
 * stopped, log-start/log-stop only when they change something, one
 * writer per output, stdin read once.  Errors are VS_EXIT_USAGE and name
 * the step. */
int vs_run_plan_parse(struct vs_run_plan *p, int argc, char **argv);
void vs_run_plan_free(struct vs_run_plan *p);

const char *vs_run_op_name(enum vs_run_op op);
bool vs_run_op_takes_file(enum vs_run_op op);
/* "step 3 (save s.vhs)" */
void vs_run_step_describe(const struct vs_run_step *s, char *buf, size_t len);

#endif
