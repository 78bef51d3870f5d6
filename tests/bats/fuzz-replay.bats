#!/usr/bin/env bats
# tests/fuzz/fuzz-replay.sh, the fuzz corpora's replay in make check, on
# fake targets: shell scripts that answer as a libFuzzer binary given
# files does ("Executed FILE in N ms" per input, non-zero on a finding).
# Each way a replay can go wrong must give a `not ok` naming the input.

load helpers/common

# As make check runs it: the script and its inputs in the source tree,
# the targets in the build tree, the current directory.
setup() {
	S=$BATS_TEST_TMPDIR/src B=$BATS_TEST_TMPDIR/build
	mkdir -p "$S/tests/fuzz/corpus/demo" "$S/tests/fuzz/regressions/demo" "$B/tests/fuzz"
	cp "$VS_SRCDIR/tests/fuzz/fuzz-replay.sh" "$S/tests/fuzz/"
	for i in a b; do echo "$i" >"$S/tests/fuzz/corpus/demo/$i"; done
	echo c >"$S/tests/fuzz/regressions/demo/c"
	echo notes >"$S/tests/fuzz/corpus/demo/README.md"
}

# fake_target BODY — the build tree's tests/fuzz/fuzz-demo: for each input file, BODY runs
# with $f set to it (the -flags are skipped); its status is the target's.
fake_target() {
	cat >"$B/tests/fuzz/fuzz-demo" <<SH
#!/bin/sh
rc=0
for f; do
	case \$f in -*) continue ;; esac
	$1
done
exit \$rc
SH
	chmod +x "$B/tests/fuzz/fuzz-demo"
}

replay() {
	run sh -c 'cd "$1" && sh "$2"/tests/fuzz/fuzz-replay.sh' _ "$B" "$S"
}

@test "fuzz-replay: every input run and reported gives one ok line each, and README is no input" {
	fake_target 'echo "Executed $f in 0 ms"'
	replay
	assert_success
	assert_line "ok 1 - fuzz-demo: corpus/demo/a"
	assert_line "ok 3 - fuzz-demo: regressions/demo/c"
	assert_line "1..3"
}

@test "fuzz-replay: an input that crashes fails by name, with its report; the others pass" {
	fake_target 'if [ "${f##*/}" = b ]; then echo "==1==ERROR: AddressSanitizer: heap-buffer-overflow"; exit 1; fi; echo "Executed $f in 0 ms"'
	replay
	assert_failure
	assert_line "ok 1 - fuzz-demo: corpus/demo/a"
	assert_line "not ok 2 - fuzz-demo: corpus/demo/b"
	assert_line "# ==1==ERROR: AddressSanitizer: heap-buffer-overflow"
	assert_line "ok 3 - fuzz-demo: regressions/demo/c"
	assert_line "1..3"
}

@test "fuzz-replay: a target that passes without running an input fails that input" {
	fake_target '[ "${f##*/}" = c ] || echo "Executed $f in 0 ms"'
	replay
	assert_failure
	assert_line "ok 2 - fuzz-demo: corpus/demo/b"
	assert_line "not ok 3 - fuzz-demo: regressions/demo/c"
	assert_line "# fuzz-demo passed without reporting that it ran this input"
}

@test "fuzz-replay: a target that is not built fails every input" {
	replay
	assert_failure
	assert_line "not ok 1 - fuzz-demo: corpus/demo/a"
	assert_line "# tests/fuzz/fuzz-demo is not built"
	assert_line "not ok 3 - fuzz-demo: regressions/demo/c"
	assert_line "1..3"
}

@test "fuzz-replay: inputs that pass alone but fail together give one more not ok" {
	# fails only when a and b run in the same process
	fake_target 'echo "Executed $f in 0 ms"; case ${f##*/} in a) seen=1 ;; b) [ -z "${seen:-}" ] || rc=1 ;; esac'
	replay
	assert_failure
	assert_line "ok 1 - fuzz-demo: corpus/demo/a"
	assert_line "ok 2 - fuzz-demo: corpus/demo/b"
	assert_line "not ok 3 - fuzz-demo: the inputs of corpus/demo in one process"
	assert_line "ok 4 - fuzz-demo: regressions/demo/c"
	assert_line "1..4"
}
