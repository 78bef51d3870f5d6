#!/bin/sh
# make check: every checked-in input (corpus/NAME/*, regressions/NAME/*)
# runs once through tests/fuzz/fuzz-NAME; TAP, one line per input.
# A libFuzzer binary given files runs each of them and exits non-zero on
# a crash, a leak (LeakSanitizer) or a timeout.
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
		sed 's/^/# /' "$log"
	fi
}

log=$(mktemp) || exit 1
# libFuzzer writes slow or crashing units beside the cwd unless told
art=$(mktemp -d) || exit 1
trap 'rm -rf "$log" "$art"' EXIT
for dir in "$here"/corpus/* "$here"/regressions/*; do
	[ -d "$dir" ] || continue
	name=${dir##*/}
	kind=${dir%/*}
	kind=${kind##*/}
	bin=tests/fuzz/fuzz-$name
	for input in "$dir"/*; do
		[ -f "$input" ] || continue
		case ${input##*/} in README* | .*) continue ;; esac
		what="fuzz-$name: $kind/$name/${input##*/}"
		if [ ! -x "$bin" ]; then
			echo "$bin is not built" >"$log"
			result fail "$what"
			continue
		fi
		if "$bin" -timeout=10 -rss_limit_mb=2048 -detect_leaks=1 -artifact_prefix="$art/" "$input" >"$log" 2>&1; then
			result ok "$what"
		else
			result fail "$what"
		fi
	done
done
echo "1..$n"
exit $failed
