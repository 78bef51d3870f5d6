#!/bin/sh
# make check-stress: run every bats file that uses a real peer (it loads
# helpers/peers) N times through `make check`, while a busy loop keeps
# one core loaded, so timing windows the idle suite never opens show up.
# Each round runs the files J at a time (make -jJ, as check-all's own
# make check does), so with J=2 the 2-core machine has three busy jobs.
# Zero failures is the bar.  Usage (from the build directory):
#   MAKE=make tests/stress.sh N J FILE.bats...
set -u
n=$1 jobs=$2
shift 2
log=check-stress.log
: >"$log"

hog() { while :; do :; done; }
hog &
hog_pid=$!
trap 'kill "$hog_pid" 2>/dev/null' EXIT
trap 'exit 130' INT TERM

fails=0 runs=0
i=0
t0=$(date +%s)
while [ "$i" -lt "$n" ]; do
	i=$((i + 1))
	start=$(date +%s)
	for f in "$@"; do rm -f "${f%.bats}.trs"; done
	${MAKE:-make} -j"$jobs" check TESTS="$*" VHOST_STATE_REQUIRE_PEERS=1 >/dev/null 2>&1
	rc=$?
	bad=0
	for f in "$@"; do
		runs=$((runs + 1))
		trs=${f%.bats}.trs
		if grep -qx ':global-test-result: PASS' "$trs" 2>/dev/null; then
			r=ok
		else
			r=FAILED bad=$((bad + 1))
		fi
		echo "round $i/$n $f: $r" >>"$log"
		# what failed, from the test's own log
		[ "$r" = ok ] || grep -E '^(not ok|#)' "${f%.bats}.log" 2>/dev/null | head -n 40 >>"$log"
	done
	# make failing with every file passed: the build, or the harness
	if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
		echo "round $i/$n: make check failed (status $rc) with every file passed" >>"$log"
		bad=1
	fi
	fails=$((fails + bad))
	echo "round $i/$n: $# files, $bad failed ($(($(date +%s) - start)) s)" | tee -a "$log"
done
echo "check-stress: $runs runs ($n rounds of $# files, $jobs at a time, one core busy): $fails failed in $(($(date +%s) - t0)) s; log in $log" | tee -a "$log"
[ "$fails" -eq 0 ]
