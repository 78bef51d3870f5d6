#!/bin/sh
# make check-stress: run every bats file that uses a real peer (it loads
# helpers/peers) N times through `make check`, while a busy loop keeps
# one core loaded, so timing windows the idle suite never opens show up.
# Zero failures is the bar.  Usage (from the build directory):
#   MAKE=make tests/stress.sh N FILE.bats...
set -u
n=$1
shift
log=check-stress.log
: >"$log"

hog() { while :; do :; done; }
hog &
hog_pid=$!
trap 'kill "$hog_pid" 2>/dev/null' EXIT
trap 'exit 130' INT TERM

fails=0 runs=0
i=0
while [ "$i" -lt "$n" ]; do
	i=$((i + 1))
	for f in "$@"; do
		runs=$((runs + 1))
		start=$(date +%s)
		if ${MAKE:-make} check TESTS="$f" VHOST_STATE_REQUIRE_PEERS=1 >/dev/null 2>&1; then
			r=ok
		else
			r=FAILED
			fails=$((fails + 1))
		fi
		echo "round $i/$n $f: $r ($(($(date +%s) - start)) s)" | tee -a "$log"
		# what failed, from the test's own log
		[ "$r" = ok ] || grep -E '^(not ok|#)' "${f%.bats}.log" | head -n 40 >>"$log"
	done
done
echo "check-stress: $runs runs ($n rounds of $# files, one core busy): $fails failed; log in $log" | tee -a "$log"
[ "$fails" -eq 0 ]
