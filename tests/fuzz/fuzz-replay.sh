#!/bin/sh
# make check: every checked-in input (corpus/NAME/*, regressions/NAME/*)
# runs once through tests/fuzz/fuzz-NAME; TAP, one line per input.
# A libFuzzer binary given files runs each of them ("Executed FILE") and
# exits non-zero on a crash, a leak (LeakSanitizer, at exit) or a
# timeout.  One process per directory: an ASan binary's start costs
# more than most inputs, and 1,100 starts were minutes of make check.
# Only a directory whose process fails is replayed one input per
# process, so that the TAP line names the input and carries its report.
here=$(cd "$(dirname "$0")" && pwd)
n=0
failed=0
# Symbolized reports even without an unversioned llvm-symbolizer in PATH:
# it sits next to the real clang binary.
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ] && c=$(command -v "${CLANG_FUZZ:-clang-14}"); then
	s=$(dirname "$(readlink -f "$c")")/llvm-symbolizer
	[ -x "$s" ] && ASAN_SYMBOLIZER_PATH=$s && export ASAN_SYMBOLIZER_PATH
fi

result() {
	n=$((n + 1))
	if [ "$1" = ok ]; then
		echo "ok $n - $2"
	else
		failed=1
		echo "not ok $n - $2"
		sed 's/^/# /' "$3"
	fi
}

log=$(mktemp) || exit 1
# libFuzzer writes slow or crashing units beside the cwd unless told
art=$(mktemp -d) || exit 1
trap 'rm -rf "$log" "$art"' EXIT

# replay LOG INPUT... — run the inputs in one process, its output to LOG
replay() {
	out=$1
	shift
	"$bin" -timeout=10 -rss_limit_mb=2048 -detect_leaks=1 -artifact_prefix="$art/" "$@" >"$out" 2>&1
}

for dir in "$here"/corpus/* "$here"/regressions/*; do
	[ -d "$dir" ] || continue
	name=${dir##*/}
	kind=${dir%/*}
	kind=${kind##*/}
	bin=tests/fuzz/fuzz-$name
	set --
	for input in "$dir"/*; do
		[ -f "$input" ] || continue
		case ${input##*/} in README* | .*) continue ;; esac
		set -- "$@" "$input"
	done
	[ $# -gt 0 ] || continue
	if [ ! -x "$bin" ]; then
		echo "$bin is not built" >"$log"
		for input; do result fail "fuzz-$name: $kind/$name/${input##*/}" "$log"; done
		continue
	fi
	batch=failed
	replay "$log" "$@" && batch=ok
	alone=0
	sed -n 's/^Executed \(.*\) in [0-9]* ms$/\1/p' "$log" >"$art/ran"
	for input; do
		what="fuzz-$name: $kind/$name/${input##*/}"
		if [ $batch = ok ]; then
			if grep -qxF "$input" "$art/ran"; then
				result ok "$what"
			else
				echo "fuzz-$name passed without reporting that it ran this input" >"$art/missing"
				result fail "$what" "$art/missing"
			fi
		elif replay "$art/one" "$input"; then
			result ok "$what"
		else
			result fail "$what" "$art/one"
			alone=1
		fi
	done
	# each input passes alone but not all in one process: state left
	# over from one input breaks another, a finding too
	[ $batch = ok ] || [ $alone = 1 ] ||
		result fail "fuzz-$name: the inputs of $kind/$name in one process" "$log"
done
echo "1..$n"
exit $failed
