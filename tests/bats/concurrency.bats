#!/usr/bin/env bats
# Many transfers at once against real virtiofsd instances, with default
# options (the 30 s deadline included): nothing may time out, fail or
# leave a temporary file behind.

load helpers/common
load helpers/peers

N=64
# under valgrind or ASan (make check-valgrind/-asan) each process costs
# ~100 MB and seconds of start-up: a quarter as many
[ -z "${VS_REAL_BINARY:-}" ] || N=16
IDLE_PAYLOAD=01000200000000000000

setup_file() {
	virtiofsd_fetch
}

setup() {
	VS_PIDS=
	require_virtiofsd
}

teardown() {
	vs_teardown
}

# run_all VERB... — VERB for instance 1..N at once (the word @ is replaced
# by the instance number); counts the failures in $failed, the output in
# $BATS_TEST_TMPDIR/err.N.
run_all() {
	local i pids=() w
	for i in $(seq 1 $N); do
		w=("${@//@/$i}")
		"$VHOST_STATE" "${w[@]}" >"$BATS_TEST_TMPDIR/err.$i" 2>&1 &
		pids+=($!)
	done
	failed=0
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}" || { failed=$((failed + 1)); echo "instance $((i + 1)):" && cat "$BATS_TEST_TMPDIR/err.$((i + 1))"; }
	done
}

@test "concurrency: $N dumps from $N fresh virtiofsd at once, then $N restores at once: all succeed, none times out, no temp file left" {
	export TMPDIR=$BATS_TEST_TMPDIR/tmp
	out=$BATS_TEST_TMPDIR/out
	mkdir -p "$TMPDIR" "$out"
	for i in $(seq 1 $N); do
		start_virtiofsd "s$i"
	done
	run_all -q dump "$VS_SOCKDIR/s@.sock" -o "$out/@.vhsnap"
	assert_equal "$failed" 0
	for i in $(seq 1 $N); do
		"$VHOST_STATE" -q convert --format raw "$out/$i.vhsnap" "$out/$i.vhs"
		assert_equal "$(python3 "$VS_SRCDIR/tests/bats/helpers/chunks.py" payload <"$out/$i.vhs" | xxd -p)" "$IDLE_PAYLOAD"
	done
	for i in $(seq 1 $N); do
		start_virtiofsd "r$i"
	done
	run_all restore "$VS_SOCKDIR/r@.sock" -i "$out/@.vhsnap"
	assert_equal "$failed" 0
	assert_equal "$(grep -l "(CHECK_DEVICE_STATE returned 0)" "$BATS_TEST_TMPDIR"/err.* | wc -l)" $N
	# nothing left behind: no temp file beside the outputs, none in TMPDIR
	assert_equal "$(find "$out" -name '.*' | wc -l)" 0
	assert_equal "$(find "$TMPDIR" -mindepth 1 | wc -l)" 0
}
