#!/usr/bin/env bats
# Raw streams at rest: every input is checked whole before a back-end is
# contacted; outputs appear complete or not at all.

load helpers/common

teardown() {
	vs_teardown
}

# restore_refused FILE STATUS MESSAGE — restore must fail before connecting:
# the fake back-end's log stays empty.
restore_refused() {
	start_fake idle --state-size 4
	run "$VHOST_STATE" restore "$FAKE_SOCK" -i "$1"
	assert_failure "$2"
	assert_output --partial "$3"
	[ ! -s "$FAKE_LOG" ]
	# it is still waiting for its first front-end: nothing reached it
	kill -0 "$FAKE_PID"
}

@test "stream: trailing bytes after the terminator exit 65 with the offset; nothing is sent" {
	{ raw_stream 0102; printf 'x'; } >"$BATS_TEST_TMPDIR/s.vhs"
	restore_refused "$BATS_TEST_TMPDIR/s.vhs" 65 "trailing data at offset 10 after the terminating zero-length chunk"
}

@test "stream: a missing terminator exits 65; nothing is sent" {
	raw_stream 0102 | head -c 6 >"$BATS_TEST_TMPDIR/s.vhs"
	restore_refused "$BATS_TEST_TMPDIR/s.vhs" 65 "ends at offset 6 without the terminating zero-length chunk"
}

@test "stream: a chunk over the 64 MiB limit exits 65 before its bytes are read; nothing is sent" {
	printf '\x04\x00\x00\x01abc' >"$BATS_TEST_TMPDIR/s.vhs"
	restore_refused "$BATS_TEST_TMPDIR/s.vhs" 65 "declares 67108865 bytes, more than the 67108864-byte chunk limit"
}

@test "stream: a state over --max-size exits 65; nothing is sent" {
	start_fake idle --state-size 4
	raw_stream 0102030405 >"$BATS_TEST_TMPDIR/s.vhs"
	run "$VHOST_STATE" --max-size 4 restore "$FAKE_SOCK" -i "$BATS_TEST_TMPDIR/s.vhs"
	assert_failure 65
	assert_output --partial "exceeds the limit of 4 bytes (--max-size)"
	[ ! -s "$FAKE_LOG" ]
}

@test "stream: an empty file is malformed (65), not an empty state, and called empty" {
	: >"$BATS_TEST_TMPDIR/empty.vhs"
	restore_refused "$BATS_TEST_TMPDIR/empty.vhs" 65 "$BATS_TEST_TMPDIR/empty.vhs is empty (a state stream holds at least its 4-byte terminator"
	run "$VHOST_STATE" inspect - </dev/null
	assert_failure 65
	assert_output --partial "vhost-state: inspect: stdin is empty"
}

@test "stream: gzip, xz, bzip2 and lz4 files are named (65): only zstd is read; nothing is sent" {
	raw_stream 0102 >"$BATS_TEST_TMPDIR/s.vhs"
	local tool ext
	for tool in gzip:gz xz:xz bzip2:bz2 lz4:lz4; do
		ext=${tool#*:}
		tool=${tool%:*}
		command -v "$tool" >/dev/null || fail "$tool missing (build-aux/install-deps.sh installs it)"
		"$tool" -c "$BATS_TEST_TMPDIR/s.vhs" >"$BATS_TEST_TMPDIR/s.vhs.$ext"
		restore_refused "$BATS_TEST_TMPDIR/s.vhs.$ext" 65 "s.vhs.$ext: $tool data: only zstd is read (decompress it with $tool -d first)"
		vs_teardown
		run "$VHOST_STATE" inspect - <"$BATS_TEST_TMPDIR/s.vhs.$ext"
		assert_failure 65
		assert_output --partial "vhost-state: inspect: stdin: $tool data: only zstd is read"
	done
	# negative control: zstd itself is read
	zstd -q -c "$BATS_TEST_TMPDIR/s.vhs" >"$BATS_TEST_TMPDIR/s.vhs.zst"
	run "$VHOST_STATE" inspect "$BATS_TEST_TMPDIR/s.vhs.zst"
	assert_success
}

@test "stream: a directory as input exits 1 with a clear error; nothing is sent" {
	restore_refused "$BATS_TEST_TMPDIR" 1 "$BATS_TEST_TMPDIR: Is a directory"
}

@test "stream: an unreadable input exits 1; nothing is sent" {
	restore_refused "$BATS_TEST_TMPDIR/missing.vhs" 1 "missing.vhs: No such file or directory"
}

@test "stream: a stdin pipe is checked whole before connecting, then loaded from the spool" {
	start_fake rt --state-size 4
	run bash -c "{ '$BATS_TEST_DIRNAME/helpers/emit.sh' 0a0b 0c; sleep 0.3; printf z; } | '$VHOST_STATE' restore '$FAKE_SOCK'"
	assert_failure 65
	assert_output --partial "stdin: malformed state stream: trailing data at offset 15"
	[ ! -s "$FAKE_LOG" ]
	run --separate-stderr bash -c "'$BATS_TEST_DIRNAME/helpers/emit.sh' 0a0b 0c | '$VHOST_STATE' verify --json '$FAKE_SOCK' -"
	assert_success
	assert_schema verify
	echo "$output" | jq -e '.same and .file == "-" and .actual.payload_bytes == 3 and .expected.chunks == 2'
}

@test "stream: the empty state (00 00 00 00) round-trips" {
	start_fake rt
	raw_stream >"$BATS_TEST_TMPDIR/empty.vhs"
	[ "$(hexof "$BATS_TEST_TMPDIR/empty.vhs")" = 00000000 ]
	run "$VHOST_STATE" verify "$FAKE_SOCK" "$BATS_TEST_TMPDIR/empty.vhs"
	assert_success
	assert_output --partial "holds the 0-byte state"
	start_fake rt2
	run --separate-stderr "$VHOST_STATE" verify --json "$FAKE_SOCK" "$BATS_TEST_TMPDIR/empty.vhs"
	assert_success
	assert_schema verify
	echo "$output" | jq -e '.same and .actual.payload_bytes == 0 and .expected.chunks == 0'
}

@test "stream: dump refuses to replace an existing file without -f, before connecting" {
	start_fake a --state-size 4
	echo precious >"$BATS_TEST_TMPDIR/out.vhs"
	run "$VHOST_STATE" dump "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/out.vhs"
	assert_failure 64
	assert_output --partial "file exists (use -f to overwrite)"
	[ "$(cat "$BATS_TEST_TMPDIR/out.vhs")" = precious ]
	[ ! -s "$FAKE_LOG" ]
	run "$VHOST_STATE" -f dump "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/out.vhs"
	assert_success
	[ "$(stat -c %s "$BATS_TEST_TMPDIR/out.vhs")" -eq 12 ]
}

@test "stream: a failed dump keeps the old file intact with -f (atomic replace)" {
	start_fake bye --state-size 4 --fault close --at CHECK_DEVICE_STATE
	echo precious >"$BATS_TEST_TMPDIR/out.vhs"
	run "$VHOST_STATE" -f dump "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/out.vhs"
	assert_failure 69
	[ "$(cat "$BATS_TEST_TMPDIR/out.vhs")" = precious ]
	[ "$(ls -A "$BATS_TEST_TMPDIR" | grep -c 'out.vhs')" -eq 1 ]
}

@test "stream: a dump that fails while streaming to stdout never writes the terminator" {
	start_fake bye --state-size 100 --fault close --at CHECK_DEVICE_STATE
	run bash -c "'$VHOST_STATE' dump '$FAKE_SOCK' >'$BATS_TEST_TMPDIR/partial.vhs'"
	assert_failure 69
	# the payload chunk may be there, the terminator is not
	run "$BATS_TEST_DIRNAME/helpers/chunks.py" payload <"$BATS_TEST_TMPDIR/partial.vhs"
	assert_failure
}

@test "stream: dump writes into a FIFO or /dev/null directly, never replacing it" {
	start_fake a --state-size 4
	run "$VHOST_STATE" dump "$FAKE_SOCK" -o /dev/null
	assert_success
	[ -c /dev/null ]
	start_fake b --state-size 4
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	cat "$BATS_TEST_TMPDIR/fifo" >"$BATS_TEST_TMPDIR/from-fifo" &
	run "$VHOST_STATE" dump "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/fifo"
	assert_success
	wait
	[ -p "$BATS_TEST_TMPDIR/fifo" ]
	[ "$(stat -c %s "$BATS_TEST_TMPDIR/from-fifo")" -eq 12 ]
}

@test "stream: dump to /dev/full fails with exit 1 and a clear error" {
	start_fake a --state-size 4
	run "$VHOST_STATE" dump "$FAKE_SOCK" -o /dev/full
	assert_failure 1
	assert_output --partial "/dev/full: write: No space left on device"
}

@test "stream: a new output file gets the usual mode, not the temp file's 0600" {
	start_fake a --state-size 4
	(umask 022 && "$VHOST_STATE" -q dump "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/new.vhs")
	[ "$(stat -c %a "$BATS_TEST_TMPDIR/new.vhs")" = 644 ]
}

@test "stream: a FIFO with no reader times out (75) before the back-end is contacted" {
	start_fake a --state-size 4
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	timed_run "$VHOST_STATE" -t 0.5 dump "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/fifo"
	assert_failure 75
	assert_output --partial "waiting for a reader on the FIFO"
	assert_within 3
	[ ! -s "$FAKE_LOG" ]
}

@test "stream: a stalled stdin pipe times out (75) and nothing is sent" {
	start_fake a --state-size 4
	# a pipe whose writer stays open and silent
	mkfifo "$BATS_TEST_TMPDIR/in"
	exec {holder}<>"$BATS_TEST_TMPDIR/in"
	timed_run "$VHOST_STATE" -t 0.5 restore "$FAKE_SOCK" <"$BATS_TEST_TMPDIR/in"
	exec {holder}>&-
	assert_failure 75
	assert_output --partial "waiting for input on stdin"
	assert_within 3
	[ ! -s "$FAKE_LOG" ]
}

# signal_mid_dump SIGNAL STATUS — a dump to a file, interrupted while the
# state streams: no output, no temp file, exit 128+N.
signal_mid_dump() {
	start_fake slow --state-size 20000000 --slow-ms 20
	# background jobs inherit an ignored SIGINT; give it back its default
	env --default-signal=INT "$VHOST_STATE" -q dump "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/out.vhs" &
	pid=$!
	wait_for_temp "$BATS_TEST_TMPDIR" out.vhs
	signal_status "$pid" "$1"
	assert_equal "$rc" "$2"
	no_output "$BATS_TEST_TMPDIR" out.vhs
}

@test "stream: SIGTERM mid-dump removes the temp file and exits 143" {
	signal_mid_dump TERM 143
}

@test "stream: SIGINT mid-dump removes the temp file and exits 130" {
	signal_mid_dump INT 130
}

@test "stream: SIGTERM mid archive+zstd dump (zstd and SHA-256 threads busy) exits 143; no output" {
	start_fake slow --state-size 20000000 --slow-ms 20
	"$VHOST_STATE" -q dump "$FAKE_SOCK" --threads 2 -o "$BATS_TEST_TMPDIR/out.vhsnap.zst" &
	pid=$!
	# an archive's output gets its bytes only at the end: wait for the transfer
	for _ in $(seq 1 200); do
		grep -q '^SET_DEVICE_STATE_FD' "$FAKE_LOG" && break
		sleep 0.05
	done
	sleep 0.3
	kill -0 "$pid"
	signal_status "$pid" TERM
	assert_equal "$rc" 143
	no_output "$BATS_TEST_TMPDIR" out.vhsnap.zst
}

@test "stream: an archive+zstd dump whose SAVE stops half-way fails on CHECK (1); no output" {
	start_fake part --state-size 3000000 --fault save-partial
	run "$VHOST_STATE" dump "$FAKE_SOCK" --threads 2 -o "$BATS_TEST_TMPDIR/out.vhsnap.zst"
	assert_failure 1
	assert_output --partial "CHECK_DEVICE_STATE returned 1 after SAVE"
	no_output "$BATS_TEST_TMPDIR" out.vhsnap.zst
}

@test "stream: a file that is no state at all is refused with a hint about what was expected" {
	echo "hello, world" >"$BATS_TEST_TMPDIR/text.vhs"
	run "$VHOST_STATE" inspect "$BATS_TEST_TMPDIR/text.vhs"
	assert_failure 65
	assert_output --partial "is it a state file? expected a raw stream, a .vhsnap archive"
}

@test "stream: SIGTERM mid-restore exits 143 and leaves no spool file behind" {
	"$FAKE_BACKEND" --emit --state-size 20000000 | "$BATS_TEST_DIRNAME/helpers/chunks.py" frame >"$BATS_TEST_TMPDIR/big.vhs"
	start_fake slow --slow-ms 20
	mkdir "$BATS_TEST_TMPDIR/spool"
	# through a pipe, so the input is spooled to TMPDIR first
	cat "$BATS_TEST_TMPDIR/big.vhs" | TMPDIR="$BATS_TEST_TMPDIR/spool" "$VHOST_STATE" -q restore "$FAKE_SOCK" &
	pid=$!
	for _ in $(seq 1 200); do
		grep -q '^SET_DEVICE_STATE_FD' "$FAKE_LOG" && break
		sleep 0.05
	done
	grep -q '^SET_DEVICE_STATE_FD' "$FAKE_LOG"
	signal_status "$pid" TERM
	assert_equal "$rc" 143
	[ -z "$(ls -A "$BATS_TEST_TMPDIR/spool")" ]
}

@test "stream: a raw file's framing is checked without reading its payload, with the errors a pipe of the same bytes gets" {
	d=$BATS_TEST_TMPDIR
	printf '\x00\x00\x03\xe8abcdefghij' >"$d/cut.vhs"
	printf '\x00\x00\x00\x02ab\x00\x00\x00\x00X' >"$d/trailing.vhs"
	printf '\x00\x00\x00\x02ab' >"$d/noend.vhs"
	for f in cut trailing noend; do
		run "$VHOST_STATE" restore "$d/none.sock" -i "$d/$f.vhs"
		assert_failure 65
		from_file=${output//"$d/$f.vhs"/X}
		run sh -c 'cat "$3" | "$1" restore "$2"' sh "$VHOST_STATE" "$d/none.sock" "$d/$f.vhs"
		assert_failure 65
		assert_equal "$from_file" "${output//stdin/X}"
	done
	# and the payload of a good file is not read before the transfer: a
	# 64 MiB state is checked with a few reads, not 64 of 1 MiB
	command -v strace >/dev/null || skip "strace is not installed"
	start_fake a --state-size 67108864 --check-load
	"$FAKE_BACKEND" --emit --framed --state-size 67108864 >"$d/big.vhs"
	# (the program itself, not a valgrind wrapper reading its own files)
	# (LeakSanitizer cannot run under ptrace: off for this one run)
	run env ASAN_OPTIONS=detect_leaks=0 strace -f -e trace=read,pread64 -o "$d/trace" \
		"${VS_REAL_BINARY:-$VHOST_STATE}" -q restore "$FAKE_SOCK" -i "$d/big.vhs"
	assert_success
	# reads that returned 64 KiB or more: the 1 MiB sniff of the first
	# chunk, not the payload's 64
	big_reads=$(awk '$NF + 0 >= 65536' "$d/trace" | wc -l)
	[ "$big_reads" -lt 4 ]
}
