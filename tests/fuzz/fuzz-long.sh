#!/bin/sh
# make fuzz-long: run each fast target (fuzz-*-fast) to FUZZ_LONG_RUNS
# executions (default 10 M) or FUZZ_LONG_SECONDS, whichever comes first,
# from its checked-in corpus; then minimise that corpus in the source
# tree (libFuzzer -merge=1 of the old corpus and what the run found) and
# record the counts in tests/fuzz/README.md between its fuzz-long
# markers.  Exits 1 if any target found a crash, leak or timeout; the
# input stays in tests/fuzz/work/NAME/artifacts/, its full report in
# tests/fuzz/work/NAME/report.log.
#
# FUZZ_LONG_BASELINE (fuzz-baseline, a target that only reads its input)
# runs FUZZ_LONG_BASELINE_RUNS times (default 3 M) from no corpus before
# the first target and after each one: each target's rate per CPU second
# is also given as a fraction of the baseline's around it (the mean of
# the runs before and after), which stays comparable between runs on a
# machine whose speed changes, even during a run.
set -u
here=$(cd "$(dirname "$0")" && pwd)
runs=${FUZZ_LONG_RUNS:-10000000}
seconds=${FUZZ_LONG_SECONDS:-0}
timeout=${FUZZ_TIMEOUT:-10}
rss=${FUZZ_RSS_MB:-2048}
failed=
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ] && c=$(command -v "${CLANG_FUZZ:-clang-14}"); then
	s=$(dirname "$(readlink -f "$c")")/llvm-symbolizer
	[ -x "$s" ] && ASAN_SYMBOLIZER_PATH=$s && export ASAN_SYMBOLIZER_PATH
fi
# Long runs are for executions: ASan keeps no stack per allocation
# (malloc_context_size=0, a usual default of fuzzing tools), which spares
# an unwind and a stack-depot lookup on every malloc and free: a tenth
# of fuzz-decode-fast's CPU time (README.md).  What ASan detects is the
# same; only a report's "allocated by" and "freed by" stacks are empty,
# so a finding is run once more with them (report.log beside the run's
# log).  Options already in ASAN_OPTIONS come after, and win.
user_asan=${ASAN_OPTIONS:-}
ASAN_OPTIONS=malloc_context_size=0${user_asan:+:$user_asan}
export ASAN_OPTIONS
baseline=${FUZZ_LONG_BASELINE:-}
base_runs=${FUZZ_LONG_BASELINE_RUNS:-3000000}
# baseline_rate: the baseline's executions per CPU second, now
baseline_rate() {
	b=tests/fuzz/work/baseline
	rm -rf "$b" && mkdir -p "$b/new" || return 1
	/usr/bin/time -f 'cpu %U %S' -o "$b/cpu" "$baseline" -runs="$base_runs" "$b/new" >"$b/fuzz-long.log" 2>&1 ||
		{ tail -n 20 "$b/fuzz-long.log" >&2; return 1; }
	awk -v n="$base_runs" '/^cpu/ { t = $2 + $3; if (t > 0) printf "%.0f", n / t }' "$b/cpu"
}
base_before=
if [ -n "$baseline" ]; then
	base_before=$(baseline_rate) || exit 1
	echo "fuzz-baseline: $base_before executions per CPU second"
fi
bases=$base_before # every baseline rate of the run
table="| target | executions | seconds | exec/s (wall) | CPU s | exec per CPU s | baseline per CPU s | ÷ baseline | corpus before → after | result |
|---|---|---|---|---|---|---|---|---|---|
"
for bin in "$@"; do
	name=${bin##*/fuzz-}
	work=tests/fuzz/work/$name
	corpus=$here/corpus/$name
	rm -rf "$work/new" "$work/min"
	mkdir -p "$work/new" "$work/min" "$work/artifacts" "$corpus" || exit 1
	before=$(find "$corpus" -type f | wc -l)
	limit=
	[ "$seconds" -gt 0 ] && limit=-max_total_time=$seconds
	echo "fuzz-$name: up to $runs executions${limit:+ or $seconds s} (log: $work/fuzz-long.log)"
	t0=$(date +%s)
	: >"$work/started"
	# shellcheck disable=SC2086 # $limit is empty or one option
	/usr/bin/time -f 'cpu %U %S' -o "$work/cpu" "$bin" -runs="$runs" $limit -timeout="$timeout" \
		-rss_limit_mb="$rss" -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
		"$work/new" "$corpus" >"$work/fuzz-long.log" 2>&1
	rc=$?
	t=$(($(date +%s) - t0))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz-long.log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/fuzz-long.log" | tail -n 1)
	cpu=$(awk '/^cpu/ { printf "%.0f", $2 + $3 }' "$work/cpu")
	per_cpu=$(awk -v n="${execs:-0}" '/^cpu/ { t = $2 + $3; if (t > 0 && n > 0) printf "%.0f", n / t }' "$work/cpu")
	ratio='' base=''
	if [ -n "$baseline" ]; then
		base_after=$(baseline_rate) || exit 1
		echo "fuzz-baseline: $base_after executions per CPU second"
		base=$(((base_before + base_after) / 2))
		bases="$bases $base_after"
		base_before=$base_after
		[ -n "$per_cpu" ] && ratio=$(awk -v a="$per_cpu" -v b="$base" 'BEGIN { printf "%.3f", a / b }')
	fi
	result=clean
	if [ $rc -ne 0 ]; then
		failed=1
		result="FAILED (exit $rc, see $work/artifacts/)"
		tail -n 40 "$work/fuzz-long.log"
		# this run's finding again, with its allocation stacks
		a=$(find "$work/artifacts" -type f -newer "$work/started" | head -n 1)
		if [ -n "$a" ]; then
			ASAN_OPTIONS=$user_asan "$bin" -timeout="$timeout" -rss_limit_mb="$rss" \
				"$a" >"$work/report.log" 2>&1
			echo "fuzz-$name: $a run again with allocation stacks: $work/report.log"
		fi
	else
		# the minimised corpus replaces the checked-in one
		"$bin" -merge=1 "$work/min" "$corpus" "$work/new" >"$work/merge.log" 2>&1 &&
			find "$corpus" -type f -delete && cp "$work/min"/* "$corpus"/ ||
			result="clean (merge failed: $work/merge.log)"
	fi
	after=$(find "$corpus" -type f | wc -l)
	echo "fuzz-$name: ${execs:-?} executions in $t s, $result"
	table="$table| fuzz-$name | ${execs:-?} | $t | ${rate:-?} | ${cpu:-?} | ${per_cpu:-?} | ${base:--} | ${ratio:--} | $before → $after | $result |
"
done
printf '%s' "$table"
# The record in the README, between its markers.
readme=$here/README.md
if grep -q '^<!-- fuzz-long begin -->$' "$readme"; then
	{
		sed '/^<!-- fuzz-long begin -->$/q' "$readme"
		echo "Last run: $(date -u +%Y-%m-%dT%H:%MZ), FUZZ_LONG_RUNS=$runs FUZZ_LONG_SECONDS=$seconds, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)${bases:+; fuzz-baseline did $(echo "$bases" | tr ' ' '\n' | sort -n | sed -n '1p;$p' | paste -sd' ' | sed 's/ / to /') executions per CPU second}."
		echo
		printf '%s' "$table"
		sed -n '/^<!-- fuzz-long end -->$/,$p' "$readme"
	} >"$readme.new" && mv "$readme.new" "$readme"
fi
[ -z "$failed" ]
