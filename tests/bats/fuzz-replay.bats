#!/usr/bin/env bats
# tests/fuzz/fuzz-replay.sh, the fuzz corpora's replay in make check, on
# fake targets: shell scripts that answer as a libFuzzer binary given
# files does ("Executed FILE in N ms" per input, non-zero on a finding).
# Each way a replay can go wrong must give a `not ok` naming the input.

load helpers/common

setup() {
	T=$BATS_TEST_TMPDIR/tree
	mkdir -p "$T/tests/fuzz/corpus/demo"
	cp "$VS_SRCDIR/tests/fuzz/fuzz-replay.sh" "$T/tests/fuzz/"
	for i in a b c; do echo "$i" >"$T/tests/fuzz/corpus/demo/$i"; done
	echo notes >"$T/tests/fuzz/corpus/demo/README.md"
}

# fake_target BODY — tests/fuzz/fuzz-demo: for each input file, BODY runs
# with $f set to it (the -flags are skipped); its status is the target's.
fake_target() {
	cat >"$T/tests/fuzz/fuzz-demo" <<SH
#!/bin/sh
rc=0
for f; do
	case \$f in -*) continue ;; esac
	$1
done
exit \$rc
SH
	chmod +x "$T/tests/fuzz/fuzz-demo"
}

replay() {
	run sh -c 'cd "$1" && sh tests/fuzz/fuzz-replay.sh' _ "$T"
}

@test "fuzz-replay: every input run and reported gives one ok line each, and README is no input" {
	fake_target 'echo "Executed $f in 0 ms"'
	replay
	assert_success
	assert_line "ok 1 - fuzz-demo: corpus/demo/a"
	assert_line "ok 3 - fuzz-demo: corpus/demo/c"
	assert_line "1..3"
}

@test "fuzz-replay: an input that crashes fails by name, with its report; the others pass" {
	fake_target 'if [ "${f##*/}" = b ]; then echo "==1==ERROR: AddressSanitizer: heap-buffer-overflow"; exit 1; fi; echo "Executed $f in 0 ms"'
	replay
	assert_failure
	assert_line "ok 1 - fuzz-demo: corpus/demo/a"
	assert_line "not ok 2 - fuzz-demo: corpus/demo/b"
	assert_line "# ==1==ERROR: AddressSanitizer: heap-buffer-overflow"
	assert_line "ok 3 - fuzz-demo: corpus/demo/c"
	assert_line "1..3"
}

@test "fuzz-replay: a target that passes without running an input fails that input" {
	fake_target '[ "${f##*/}" = c ] || echo "Executed $f in 0 ms"'
	replay
	assert_failure
	assert_line "ok 2 - fuzz-demo: corpus/demo/b"
	assert_line "not ok 3 - fuzz-demo: corpus/demo/c"
	assert_line "# fuzz-demo passed without reporting that it ran this input"
}

@test "fuzz-replay: a target that is not built fails every input" {
	replay
	assert_failure
	assert_line "not ok 1 - fuzz-demo: corpus/demo/a"
	assert_line "# tests/fuzz/fuzz-demo is not built"
	assert_line "not ok 3 - fuzz-demo: corpus/demo/c"
	assert_line "1..3"
}

@test "fuzz-replay: inputs that pass alone but fail together give one more not ok" {
	# fails only when a and c run in the same process
	fake_target 'echo "Executed $f in 0 ms"; case ${f##*/} in a) seen=1 ;; c) [ -z "${seen:-}" ] || rc=1 ;; esac'
	replay
	assert_failure
	assert_line "ok 1 - fuzz-demo: corpus/demo/a"
	assert_line "ok 3 - fuzz-demo: corpus/demo/c"
	assert_line "not ok 4 - fuzz-demo: the inputs of corpus/demo in one process"
	assert_line "1..4"
}
