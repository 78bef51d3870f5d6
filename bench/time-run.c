/* time-run RESULT CMD [ARG...] — run CMD (stdin, stdout and stderr
 * inherited), then append one line to the file RESULT:
 *
 *   SECONDS MAXRSS_KIB STATUS
 *
 * SECONDS is the wall time from just before fork to the end of wait4
 * (CLOCK_MONOTONIC), MAXRSS_KIB the peak resident set of CMD (and of any
 * children it waited for) from wait4's rusage, STATUS its exit status
 * (128+N if killed by signal N).  time-run exits with STATUS too. */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct timespec t0, t1;
	struct rusage ru;
	FILE *out;
	pid_t pid;
	int st, status;

	if (argc < 3) {
		fprintf(stderr, "usage: time-run RESULT CMD [ARG...]\n");
		return 2;
	}
	out = fopen(argv[1], "ae");
	if (!out) {
		fprintf(stderr, "time-run: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "time-run: fork: %s\n", strerror(errno));
		return 2;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		fprintf(stderr, "time-run: %s: %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	while (wait4(pid, &st, 0, &ru) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "time-run: wait4: %s\n", strerror(errno));
			return 2;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	fprintf(out, "%.6f %ld %d\n", (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
		ru.ru_maxrss, status);
	if (fclose(out) != 0) {
		fprintf(stderr, "time-run: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	return status;
}
