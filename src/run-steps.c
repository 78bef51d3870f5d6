#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "run-steps.h"

static const char *const names[] = {
	[VS_RUN_START] = "start",	[VS_RUN_STOP] = "stop",	  [VS_RUN_SAVE] = "save",
	[VS_RUN_LOAD] = "load",		[VS_RUN_VERIFY] = "verify", [VS_RUN_INFO] = "info",
	[VS_RUN_RESET] = "reset",	[VS_RUN_LOG_START] = "log-start", [VS_RUN_LOG_STOP] = "log-stop",
};
#define NOPS (sizeof names / sizeof *names)

const char *
vs_run_op_name(enum vs_run_op op)
{
	return (unsigned)op < NOPS ? names[op] : "?";
}

bool
vs_run_op_takes_file(enum vs_run_op op)
{
	return op == VS_RUN_SAVE || op == VS_RUN_LOAD || op == VS_RUN_VERIFY;
}

void
vs_run_step_describe(const struct vs_run_step *s, char *buf, size_t len)
{
	if (s->file)
		snprintf(buf, len, "step %u (%s %s)", s->number, vs_run_op_name(s->op), s->file);
	else
		snprintf(buf, len, "step %u (%s)", s->number, vs_run_op_name(s->op));
}

static int
step_error(const struct vs_run_step *s, const char *why)
{
	char d[320];

	vs_run_step_describe(s, d, sizeof d);
	return vs_fail(VS_EXIT_USAGE, 0, "%s: %s", d, why);
}

/* Walk the sequence as the device would go through it. */
static int
check_sequence(struct vs_run_plan *p)
{
	bool started = false, logging = false, stdin_used = false, stdout_state = false, stdout_text = false;

	for (unsigned i = 0; i < p->n; i++) {
		struct vs_run_step *s = &p->steps[i];

		switch (s->op) {
		case VS_RUN_START:
			if (started)
				return step_error(s, "the device is already started");
			started = true;
			break;
		case VS_RUN_STOP:
			if (!started)
				return step_error(s, "the device is not started");
			started = false;
			break;
		case VS_RUN_SAVE:
		case VS_RUN_LOAD:
		case VS_RUN_VERIFY:
		case VS_RUN_RESET:
			/* QEMU moves state only on a stopped device, and resets
			 * only after stopping it. */
			if (started)
				return step_error(s, "the device is started: put a stop step before this one");
			break;
		case VS_RUN_LOG_START:
			if (logging)
				return step_error(s, "dirty logging is already on");
			logging = true;
			break;
		case VS_RUN_LOG_STOP:
			if (!logging)
				return step_error(s, "dirty logging is not on");
			logging = false;
			break;
		case VS_RUN_INFO:
			stdout_text = true;
			break;
		}
		if (s->op == VS_RUN_SAVE && strcmp(s->file, "-") == 0)
			stdout_state = true;
		/* the state on stdout must not be mixed with info's text */
		if (stdout_state && stdout_text)
			return step_error(s, "info prints on stdout, where a save - step writes the state");
		if (s->op == VS_RUN_SAVE) {
			for (unsigned j = 0; j < i; j++)
				if (p->steps[j].op == VS_RUN_SAVE && strcmp(p->steps[j].file, s->file) == 0) {
					char why[64];
					snprintf(why, sizeof why, "step %u writes the same output", p->steps[j].number);
					return step_error(s, why);
				}
		}
		if (s->op == VS_RUN_LOAD || s->op == VS_RUN_VERIFY) {
			if (strcmp(s->file, "-") == 0) {
				if (stdin_used)
					return step_error(s, "stdin can be read by one step only");
				stdin_used = true;
			} else {
				for (unsigned j = 0; j < i; j++)
					if (p->steps[j].op == VS_RUN_SAVE && strcmp(p->steps[j].file, s->file) == 0)
						s->file_from_save = true;
			}
		}
	}
	return 0;
}

int
vs_run_plan_parse(struct vs_run_plan *p, int argc, char **argv)
{
	p->n = 0;
	p->steps = calloc(argc > 0 ? argc : 1, sizeof *p->steps);
	if (!p->steps)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	if (argc <= 0) {
		vs_run_plan_free(p);
		return vs_fail(VS_EXIT_USAGE, 0, "at least one STEP is required after SOCKET");
	}
	for (int i = 0; i < argc; i++) {
		struct vs_run_step *s = &p->steps[p->n];
		unsigned op;

		for (op = 0; op < NOPS; op++)
			if (strcmp(argv[i], names[op]) == 0)
				break;
		s->number = p->n + 1;
		if (op == NOPS) {
			vs_error_set(VS_EXIT_USAGE, 0,
				     "step %u: unknown step '%s' (steps: start stop save FILE load FILE verify FILE "
				     "info reset log-start log-stop)",
				     p->n + 1, argv[i]);
			vs_run_plan_free(p);
			return -1;
		}
		s->op = op;
		if (vs_run_op_takes_file(s->op)) {
			if (i + 1 >= argc) {
				int rc = step_error(s, "a FILE is required");
				vs_run_plan_free(p);
				return rc;
			}
			s->file = argv[++i];
		}
		p->n++;
	}
	if (check_sequence(p) < 0) {
		vs_run_plan_free(p);
		return -1;
	}
	return 0;
}

void
vs_run_plan_free(struct vs_run_plan *p)
{
	free(p->steps);
	p->steps = NULL;
	p->n = 0;
}
