/* Unit tests of the run verb's step logic (src/run-steps.c), TAP output:
 * what parses, and which sequences are refused before connecting. */
#include <config.h>

#include <stdio.h>
#include <string.h>

#include "error.h"
#include "run-steps.h"
#include "tap.h"

/* Parse a space-separated sequence; returns 0/-1, plan kept on success. */
static int
parse(struct vs_run_plan *p, const char *words)
{
	static char buf[512];
	char *argv[64];
	int argc = 0;

	snprintf(buf, sizeof buf, "%s", words);
	for (char *t = strtok(buf, " "); t && argc < 64; t = strtok(NULL, " "))
		argv[argc++] = t;
	vs_error_clear();
	return vs_run_plan_parse(p, argc, argv);
}

/* A refused sequence: usage error whose message contains want. */
static void
refused(const char *words, const char *want, const char *name)
{
	struct vs_run_plan p;
	int r = parse(&p, words);

	ok(r < 0 && vs_error_get()->exit_code == VS_EXIT_USAGE && strstr(vs_error_get()->msg, want) && !p.steps,
	   name);
	if (r == 0)
		vs_run_plan_free(&p);
}

int
main(void)
{
	struct vs_run_plan p;
	char d[128];

	ok(parse(&p, "start stop save s.vhs") == 0 && p.n == 3, "start stop save FILE: three steps");
	ok(p.steps[0].op == VS_RUN_START && p.steps[1].op == VS_RUN_STOP && p.steps[2].op == VS_RUN_SAVE &&
		   strcmp(p.steps[2].file, "s.vhs") == 0 && p.steps[2].number == 3,
	   "ops, file and numbering");
	vs_run_step_describe(&p.steps[2], d, sizeof d);
	ok(strcmp(d, "step 3 (save s.vhs)") == 0, "a step names itself with its file");
	vs_run_step_describe(&p.steps[0], d, sizeof d);
	ok(strcmp(d, "step 1 (start)") == 0, "and without one");
	vs_run_plan_free(&p);

	ok(parse(&p, "load a.vhs start stop save b.vhs verify b.vhs info reset log-start start stop log-stop") == 0 &&
		   p.n == 11,
	   "every step kind parses");
	ok(!p.steps[0].file_from_save && p.steps[4].file_from_save, "verify of a file an earlier save writes is marked");
	vs_run_plan_free(&p);
	ok(parse(&p, "load b.vhs save b.vhs") == 0 && !p.steps[0].file_from_save,
	   "load before the save of the same file reads the existing file");
	vs_run_plan_free(&p);
	ok(parse(&p, "save start") == 0 && p.n == 1 && strcmp(p.steps[0].file, "start") == 0,
	   "the word after save is its FILE, whatever it looks like");
	vs_run_plan_free(&p);
	ok(parse(&p, "info info start info stop info") == 0, "info anywhere");
	vs_run_plan_free(&p);
	ok(parse(&p, "start") == 0, "ending started is allowed (the back-end sees the disconnect)");
	vs_run_plan_free(&p);
	ok(parse(&p, "log-start save s.vhs") == 0, "logging on a stopped device is only remembered: save allowed");
	vs_run_plan_free(&p);

	refused("", "at least one STEP", "no steps");
	refused("start frobnicate", "step 2: unknown step 'frobnicate'", "an unknown step names its position");
	refused("start stop save", "step 3 (save): a FILE is required", "save without FILE");
	refused("load", "a FILE is required", "load without FILE");
	refused("start start", "step 2 (start): the device is already started", "start twice");
	refused("stop", "step 1 (stop): the device is not started", "stop before start");
	refused("start stop stop", "step 3 (stop): the device is not started", "stop twice");
	refused("start save s.vhs", "step 2 (save s.vhs): the device is started: put a stop step before this one",
		"save while started");
	refused("start load s.vhs", "the device is started", "load while started");
	refused("start verify s.vhs", "the device is started", "verify while started");
	refused("start reset", "step 2 (reset): the device is started", "reset while started");
	refused("log-start log-start", "dirty logging is already on", "log-start twice");
	refused("log-stop", "dirty logging is not on", "log-stop without log-start");
	refused("save a save a", "step 2 (save a): step 1 writes the same output", "two saves to one file");
	refused("load - verify -", "stdin can be read by one step only", "stdin twice");
	refused("save - info", "step 2 (info): info prints on stdout, where a save - step writes the state",
		"info and a state on stdout do not mix");
	refused("info save -", "step 2 (save -): info prints on stdout", "in either order");
	ok(parse(&p, "save - save s.vhs") == 0, "save to stdout and to a file");
	vs_run_plan_free(&p);

	printf("1..%d\n", count);
	return failures ? 1 : 0;
}
