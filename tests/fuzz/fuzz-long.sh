#!/bin/sh
# make fuzz-long: run each fast target (fuzz-*-fast) to FUZZ_LONG_RUNS
# executions (default 10 M) or FUZZ_LONG_SECONDS, whichever comes first,
# from its checked-in corpus; then minimise that corpus in the source
# tree (libFuzzer -merge=1 of the old corpus and what the run found) and
# record the counts in tests/fuzz/README.md between its fuzz-long
# markers.  Exits 1 if any target found a crash, leak or timeout; the
# input stays in tests/fuzz/work/NAME/artifacts/.
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
table="| target | executions | seconds | exec/s (wall) | CPU s | corpus before → after | result |
|---|---|---|---|---|---|---|
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
	# shellcheck disable=SC2086 # $limit is empty or one option
	/usr/bin/time -f 'cpu %U %S' -o "$work/cpu" "$bin" -runs="$runs" $limit -timeout="$timeout" \
		-rss_limit_mb="$rss" -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
		"$work/new" "$corpus" >"$work/fuzz-long.log" 2>&1
	rc=$?
	t=$(($(date +%s) - t0))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz-long.log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/fuzz-long.log" | tail -n 1)
	cpu=$(awk '/^cpu/ { printf "%.0f", $2 + $3 }' "$work/cpu")
	result=clean
	if [ $rc -ne 0 ]; then
		failed=1
		result="FAILED (exit $rc, see $work/artifacts/)"
		tail -n 40 "$work/fuzz-long.log"
	else
		# the minimised corpus replaces the checked-in one
		"$bin" -merge=1 "$work/min" "$corpus" "$work/new" >"$work/merge.log" 2>&1 &&
			find "$corpus" -type f -delete && cp "$work/min"/* "$corpus"/ ||
			result="clean (merge failed: $work/merge.log)"
	fi
	after=$(find "$corpus" -type f | wc -l)
	echo "fuzz-$name: ${execs:-?} executions in $t s, $result"
	table="$table| fuzz-$name | ${execs:-?} | $t | ${rate:-?} | ${cpu:-?} | $before → $after | $result |
"
done
printf '%s' "$table"
# The record in the README, between its markers.
readme=$here/README.md
if grep -q '^<!-- fuzz-long begin -->$' "$readme"; then
	{
		sed '/^<!-- fuzz-long begin -->$/q' "$readme"
		echo "Last run: $(date -u +%Y-%m-%dT%H:%MZ), FUZZ_LONG_RUNS=$runs FUZZ_LONG_SECONDS=$seconds, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)."
		echo
		printf '%s' "$table"
		sed -n '/^<!-- fuzz-long end -->$/,$p' "$readme"
	} >"$readme.new" && mv "$readme.new" "$readme"
fi
[ -z "$failed" ]
