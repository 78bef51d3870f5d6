#!/bin/sh
# make fuzz: run each libFuzzer binary given for FUZZ_SECONDS, starting
# from its checked-in seeds and regression inputs, and print how many
# inputs each executed.  New corpus entries, logs and crash inputs go to
# tests/fuzz/work/NAME/ in the build directory.  FUZZ_JOBS targets run
# at once (default: the number of cores).  Exits 1 if any target found a
# crash, leak, timeout or out-of-memory.
set -u
here=$(cd "$(dirname "$0")" && pwd)
seconds=${FUZZ_SECONDS:-60}
timeout=${FUZZ_TIMEOUT:-10}
rss=${FUZZ_RSS_MB:-2048}
failed=
summary=
# Symbolized reports even without an unversioned llvm-symbolizer in PATH:
# it sits next to the real clang binary.
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ] && c=$(command -v "${CLANG_FUZZ:-clang-14}"); then
	s=$(dirname "$(readlink -f "$c")")/llvm-symbolizer
	[ -x "$s" ] && ASAN_SYMBOLIZER_PATH=$s && export ASAN_SYMBOLIZER_PATH
fi

# run_one BIN: fuzz one target; its report goes to $work/report, its
# status to $work/rc (the targets run side by side, see FUZZ_JOBS).
run_one() {
	bin=$1
	name=${bin##*/fuzz-}
	work=tests/fuzz/work/$name
	# libFuzzer adds new inputs to the first directory only.
	set -- "$work/corpus"
	for d in "$here/corpus/$name" "$here/regressions/$name"; do
		[ -d "$d" ] && set -- "$@" "$d"
	done
	# shellcheck disable=SC2086 # FUZZ_FLAGS is a list of options
	"$bin" -max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb="$rss" \
		-detect_leaks=1 -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
		${FUZZ_FLAGS:-} "$@" >"$work/fuzz.log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log" | tail -n 1)
	line="fuzz-$name: ${execs:-?} executions in $seconds s"
	{
		if [ $rc -ne 0 ]; then
			line="$line: FAILED (exit $rc)"
			echo "---- fuzz-$name: end of $work/fuzz.log"
			tail -n 60 "$work/fuzz.log"
			echo "----"
			for a in "$work"/artifacts/*; do
				[ -f "$a" ] || continue
				echo "fuzz-$name: reproduce with: $bin $a"
				echo "fuzz-$name: keep it as a regression test in tests/fuzz/regressions/$name/"
			done
		fi
		echo "$line"
	} >"$work/report"
	echo $rc >"$work/rc"
}

# FUZZ_JOBS targets at a time (default: one per core), each one process.
jobs=${FUZZ_JOBS:-$(nproc)}
running=0
for bin in "$@"; do
	name=${bin##*/fuzz-}
	work=tests/fuzz/work/$name
	mkdir -p "$work/corpus" "$work/artifacts" || exit 1
	rm -f "$work/rc" "$work/report"
	echo "fuzz-$name: fuzzing for $seconds s (log: $work/fuzz.log)"
	run_one "$bin" &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait
		running=0
	fi
done
wait
for bin in "$@"; do
	work=tests/fuzz/work/${bin##*/fuzz-}
	cat "$work/report" 2>/dev/null
	[ "$(cat "$work/rc" 2>/dev/null)" = 0 ] || failed=1
done

[ -z "$failed" ]
