#!/usr/bin/env bats
# The transport against the fault-injecting fake back-end: connect,
# handshake rules, reply validation, deadlines, and multi-chunk transfers.

load helpers/common

CHUNKS=$BATS_TEST_DIRNAME/helpers/chunks.py

teardown() {
	vs_teardown
}

@test "transport: no listener at the path exits 69 naming the socket" {
	timed_run "$VHOST_STATE" dump "$BATS_TEST_TMPDIR/none.sock" -o "$BATS_TEST_TMPDIR/out.vhs"
	assert_failure 69
	assert_output --partial "cannot connect to $BATS_TEST_TMPDIR/none.sock: no such socket"
	assert_within 3
	[ ! -e "$BATS_TEST_TMPDIR/out.vhs" ]
	[ -z "$(ls -A "$BATS_TEST_TMPDIR" | grep -v '^none' || true)" ]
}

@test "transport: a socket nobody listens on exits 69 (connection refused)" {
	vs_sockdir
	python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$VS_SOCKDIR/dead.sock"
	[ -S "$VS_SOCKDIR/dead.sock" ]
	run "$VHOST_STATE" info "$VS_SOCKDIR/dead.sock"
	assert_failure 69
	assert_output --partial "Connection refused"
}

@test "transport: a socket path longer than sun_path is a usage error (64)" {
	long=/tmp/$(printf 'x%.0s' $(seq 1 120)).sock
	run "$VHOST_STATE" info "$long"
	assert_failure 64
	assert_output --partial "longer than the 107 a unix socket address holds"
}

@test "transport: a back-end that never answers times out (75) within --timeout, naming the request" {
	start_fake silent --fault silent --at GET_FEATURES
	timed_run "$VHOST_STATE" -t 1 dump "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/out.vhs"
	assert_failure 75
	assert_output --partial "timed out after 1 s waiting for the reply to GET_FEATURES"
	assert_within 3
	[ ! -e "$BATS_TEST_TMPDIR/out.vhs" ]
	[ -z "$(find "$BATS_TEST_TMPDIR" -name '.out.vhs.*')" ]
}

@test "transport: a silent CHECK_DEVICE_STATE times out (75) naming it" {
	start_fake silent --state-size 100 --fault silent --at CHECK_DEVICE_STATE
	timed_run "$VHOST_STATE" -t 1 dump "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/out.vhs"
	assert_failure 75
	assert_output --partial "waiting for the reply to CHECK_DEVICE_STATE"
	assert_within 3
	[ ! -e "$BATS_TEST_TMPDIR/out.vhs" ]
}

@test "transport: a back-end without DEVICE_STATE exits 69 and never receives request 42" {
	start_fake nods --no-device-state
	run "$VHOST_STATE" dump "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/out.vhs"
	assert_failure 69
	assert_output --partial "does not support DEVICE_STATE (protocol feature bit 19 not offered); SET_DEVICE_STATE_FD not sent"
	wait "$FAKE_PID" || true
	grep -q '^SET_OWNER' "$FAKE_LOG"
	run grep -E '^(SET_DEVICE_STATE_FD|CHECK_DEVICE_STATE)' "$FAKE_LOG"
	assert_failure
	[ ! -e "$BATS_TEST_TMPDIR/out.vhs" ]
}

@test "transport: restore into a back-end without protocol features exits 69 before request 42" {
	raw_stream 0102 >"$BATS_TEST_TMPDIR/s.vhs"
	start_fake nopf --no-protocol-features
	run "$VHOST_STATE" restore "$FAKE_SOCK" -i "$BATS_TEST_TMPDIR/s.vhs"
	assert_failure 69
	assert_output --partial "no protocol features at all"
	wait "$FAKE_PID" || true
	run grep -E '^(GET_PROTOCOL_FEATURES|SET_PROTOCOL_FEATURES|SET_DEVICE_STATE_FD)' "$FAKE_LOG"
	assert_failure
}

@test "transport: info on a back-end without DEVICE_STATE succeeds and says so" {
	start_fake nods --no-device-state
	run "$VHOST_STATE" info "$FAKE_SOCK"
	assert_success
	assert_line --regexp '^device state: +not supported'
}

@test "transport: NEED_REPLY only after both GETs and the REPLY_ACK ack; never RESET_*" {
	start_fake quirk
	run "$VHOST_STATE" -q dump "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/out.vhs"
	assert_success
	wait "$FAKE_PID" || true
	run cat "$FAKE_LOG"
	assert_line --index 0 'GET_FEATURES flags=0x1 size=0 fds=0'
	assert_line --index 1 'GET_PROTOCOL_FEATURES flags=0x1 size=0 fds=0'
	# acked: only what was offered AND we implement (MQ, REPLY_ACK, DEVICE_STATE)
	assert_line --index 2 'SET_PROTOCOL_FEATURES flags=0x1 size=8 fds=0'
	assert_line --index 3 'GET_QUEUE_NUM flags=0x1 size=0 fds=0'
	assert_line --index 4 'SET_OWNER flags=0x9 size=0 fds=0'
	assert_line --index 5 'SET_DEVICE_STATE_FD flags=0x1 size=8 fds=1'
	assert_line --index 6 'CHECK_DEVICE_STATE flags=0x1 size=0 fds=0'
	refute_line --regexp '^vhost-state: -> RESET_'
	refute_output --partial GET_MAX_MEM_SLOTS
}

@test "transport: a reply with the wrong request code exits 76 naming the request" {
	start_fake bad --fault wrong-code --at GET_PROTOCOL_FEATURES
	run "$VHOST_STATE" info "$FAKE_SOCK"
	assert_failure 76
	assert_output --partial "protocol error: the reply to GET_PROTOCOL_FEATURES carries request code 16 (SET_PROTOCOL_FEATURES)"
}

@test "transport: a reply with wrong flags exits 76" {
	start_fake bad --fault wrong-flags --at GET_FEATURES
	run "$VHOST_STATE" info "$FAKE_SOCK"
	assert_failure 76
	assert_output --partial "the reply to GET_FEATURES has flags 0x6, expected 0x5"
}

@test "transport: a reply with the wrong size exits 76" {
	start_fake bad --state-size 5 --fault wrong-size --at CHECK_DEVICE_STATE
	run "$VHOST_STATE" dump "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/out.vhs"
	assert_failure 76
	assert_output --partial "the reply to CHECK_DEVICE_STATE has a 12-byte payload, expected 8"
	[ ! -e "$BATS_TEST_TMPDIR/out.vhs" ]
}

@test "transport: a reply with an unexpected fd exits 76" {
	start_fake bad --fault extra-fd --at GET_QUEUE_NUM
	run "$VHOST_STATE" info "$FAKE_SOCK"
	assert_failure 76
	assert_output --partial "the reply to GET_QUEUE_NUM has 1 unexpected fd attached"
}

@test "transport: a back-end that hangs up instead of replying exits 69 naming the request" {
	start_fake bye --fault close --at SET_DEVICE_STATE_FD
	run "$VHOST_STATE" dump "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/out.vhs"
	assert_failure 69
	assert_output --partial "closed the connection while we waited for the reply to SET_DEVICE_STATE_FD"
	[ ! -e "$BATS_TEST_TMPDIR/out.vhs" ]
	[ -z "$(find "$BATS_TEST_TMPDIR" -name '.out.vhs.*')" ]
}

@test "transport: a 5 MiB + 3 state is framed as full 1 MiB chunks, last one short, payload intact" {
	size=$((5 * 1048576 + 3))
	start_fake big --state-size $size --seed 42
	run --separate-stderr "$VHOST_STATE" dump --json "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/big.vhs"
	assert_success
	assert_schema dump
	echo "$output" | jq -e ".payload_bytes == $size and .chunks == 6 and .format == \"raw\""
	# the digest --json computes is the payload's
	sum=$("$FAKE_BACKEND" --emit --state-size $size --seed 42 | sha256sum | cut -d" " -f1)
	echo "$output" | jq -e ".sha256 == \"$sum\""
	run "$CHUNKS" sizes <"$BATS_TEST_TMPDIR/big.vhs"
	assert_output "$(printf '1048576\n%.0s' 1 2 3 4 5)
3
0"
	"$FAKE_BACKEND" --emit --state-size $size --seed 42 >"$BATS_TEST_TMPDIR/expected.bin"
	"$CHUNKS" frame <"$BATS_TEST_TMPDIR/expected.bin" >"$BATS_TEST_TMPDIR/expected.vhs"
	cmp "$BATS_TEST_TMPDIR/big.vhs" "$BATS_TEST_TMPDIR/expected.vhs"
}

@test "transport: restore then verify of a multi-chunk state on one connection round-trips" {
	"$FAKE_BACKEND" --emit --state-size 3000000 --seed 7 | "$CHUNKS" frame 65536 >"$BATS_TEST_TMPDIR/s.vhs"
	start_fake rt --state-size 10
	run --separate-stderr "$VHOST_STATE" verify --json "$FAKE_SOCK" "$BATS_TEST_TMPDIR/s.vhs"
	assert_success
	assert_schema verify
	echo "$output" | jq -e '.same and .actual.payload_bytes == 3000000 and .expected.chunks == 46'
	# paths as they are: '/' is not escaped
	assert_output --partial "\"file\":\"$BATS_TEST_TMPDIR/s.vhs\""
	refute_output --partial '\/'
}

@test "transport: --max-size refuses a larger state from the back-end (65, as inspect and restore) and leaves no file" {
	start_fake big --state-size 2000000
	run "$VHOST_STATE" --max-size 1M dump "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/out.vhs"
	assert_failure 65
	assert_output --partial "vhost-state: dump: the back-end's state exceeds the limit of 1048576 bytes (--max-size)"
	[ ! -e "$BATS_TEST_TMPDIR/out.vhs" ]
	# the same condition on a file: the same status
	start_fake big2 --state-size 2000000
	run "$VHOST_STATE" dump "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/big.vhs"
	assert_success
	run "$VHOST_STATE" --max-size 1M inspect "$BATS_TEST_TMPDIR/big.vhs"
	assert_failure 65
	assert_output --partial "vhost-state: inspect: $BATS_TEST_TMPDIR/big.vhs: the chunk at offset 1048580 brings the state to 2000000 bytes: it exceeds the limit of 1048576 bytes (--max-size)"
	run "$VHOST_STATE" --max-size 1M convert "$BATS_TEST_TMPDIR/big.vhs" "$BATS_TEST_TMPDIR/big.vhsnap"
	assert_failure 65
	[ ! -e "$BATS_TEST_TMPDIR/big.vhsnap" ]
}

@test "transport: a back-end's own channel in the SET_DEVICE_STATE_FD reply is used for SAVE" {
	start_fake own --state-size 1500000 --seed 9 --fault own-fd --at SET_DEVICE_STATE_FD
	run "$VHOST_STATE" -v dump "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/s.vhs"
	assert_success
	assert_line 'vhost-state: <- SET_DEVICE_STATE_FD flags=0x5 size=8 fds=1 result=0x0 ok=true backend_fd=true'
	"$FAKE_BACKEND" --emit --state-size 1500000 --seed 9 | "$CHUNKS" frame >"$BATS_TEST_TMPDIR/expected.vhs"
	cmp "$BATS_TEST_TMPDIR/s.vhs" "$BATS_TEST_TMPDIR/expected.vhs"
}

@test "transport: a back-end's own channel is used for LOAD (verify round-trips through it)" {
	"$FAKE_BACKEND" --emit --state-size 2000000 --seed 5 | "$CHUNKS" frame >"$BATS_TEST_TMPDIR/s.vhs"
	start_fake own --fault own-fd --at SET_DEVICE_STATE_FD
	run --separate-stderr "$VHOST_STATE" verify --json "$FAKE_SOCK" "$BATS_TEST_TMPDIR/s.vhs"
	assert_success
	assert_schema verify
	echo "$output" | jq -e '.same and .actual.payload_bytes == 2000000'
}

@test "transport: a returned channel end we cannot read is a protocol error (76)" {
	start_fake wrong --state-size 100 --fault wrong-end-fd --at SET_DEVICE_STATE_FD
	run "$VHOST_STATE" dump "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/s.vhs"
	assert_failure 76
	assert_output --partial "the fd returned by SET_DEVICE_STATE_FD (SAVE) is not a pipe or socket we can read"
	[ ! -e "$BATS_TEST_TMPDIR/s.vhs" ]
}

@test "transport: the pipe end handed to the back-end is blocking (the fake fails CHECK otherwise)" {
	start_fake strict --state-size 3000000
	run "$VHOST_STATE" -q dump "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/s.vhs"
	assert_success
	run grep -q "non-blocking" "$BATS_TEST_TMPDIR/strict.stderr"
	assert_failure
}

@test "transport: a reset connection (ECONNRESET) exits 69 naming the request" {
	start_fake rst --fault close-unread --at SET_PROTOCOL_FEATURES
	run "$VHOST_STATE" info "$FAKE_SOCK"
	assert_failure 69
	assert_output --partial "closed the connection while we waited for the reply to GET_QUEUE_NUM"
}

@test "transport: with stdout closed, dump refuses before connecting instead of writing elsewhere" {
	# a valgrind wrapper would itself occupy fd 1: run the binary directly
	vs=${VS_REAL_BINARY:-$VHOST_STATE}
	start_fake a --state-size 4
	run bash -c "'$vs' dump '$FAKE_SOCK' >&-"
	assert_failure 1
	assert_output --partial "stdout is closed"
	[ ! -s "$FAKE_LOG" ]
	run bash -c "'$vs' info '$FAKE_SOCK' >&-"
	assert_failure 1
	[ ! -s "$FAKE_LOG" ]
}

@test "transport: a path that is not a socket fails at once (69) and says so" {
	# timing only: a valgrind wrapper's start-up would swamp it
	vs=${VS_REAL_BINARY:-$VHOST_STATE}
	echo x >"$BATS_TEST_TMPDIR/file"
	timed_run "$vs" info "$BATS_TEST_TMPDIR/file"
	assert_failure 69
	assert_output --partial "it is not a unix socket"
	# no second of retries, as for a socket that is not listening yet
	[ "$elapsed_ms" -lt 700 ]
}

# dump_expected SIZE SEED — the raw stream a fake back-end's SAVE must give.
dump_expected() {
	"$FAKE_BACKEND" --emit --state-size "$1" --seed "$2" | "$CHUNKS" frame >"$BATS_TEST_TMPDIR/expected.vhs"
}

@test "transport: a raw dump moves with splice, not read/write, and is byte for byte the same stream" {
	size=$((3 * 1048576 + 12345))
	dump_expected $size 21
	start_fake sp --state-size $size --seed 21
	VS_UNDER_PTRACE=1 run strace -f -qq -e trace=splice,read,write -o "$BATS_TEST_TMPDIR/trace" \
		"$VHOST_STATE" -q dump "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/s.vhs"
	assert_success
	cmp "$BATS_TEST_TMPDIR/s.vhs" "$BATS_TEST_TMPDIR/expected.vhs"
	# the 4 chunks' bytes went through splice; no megabyte read or write
	[ "$(grep -c '^[0-9]* *splice(' "$BATS_TEST_TMPDIR/trace")" -ge 8 ]
	! grep -E '^[0-9]* *(read|write)\(.*= [0-9]{6,}$' "$BATS_TEST_TMPDIR/trace"
}

@test "transport: a raw dump is the same stream to a pipe, to /dev/null's neighbour and to an O_APPEND file" {
	size=$((2 * 1048576 + 777))
	dump_expected $size 22
	start_fake p1 --state-size $size --seed 22
	"$VHOST_STATE" -q dump "$FAKE_SOCK" | cat >"$BATS_TEST_TMPDIR/pipe.vhs"
	cmp "$BATS_TEST_TMPDIR/pipe.vhs" "$BATS_TEST_TMPDIR/expected.vhs"
	# splice refuses O_APPEND files: the fallback copies, the bytes stay
	start_fake p2 --state-size $size --seed 22
	printf 'HEAD' >"$BATS_TEST_TMPDIR/append.vhs"
	"$VHOST_STATE" -q dump "$FAKE_SOCK" >>"$BATS_TEST_TMPDIR/append.vhs"
	{ printf 'HEAD'; cat "$BATS_TEST_TMPDIR/expected.vhs"; } | cmp - "$BATS_TEST_TMPDIR/append.vhs"
	start_fake p3 --state-size $size --seed 22
	run "$VHOST_STATE" dump "$FAKE_SOCK" -o /dev/null
	assert_success
	assert_output --partial "dumped $size bytes of state (2.0 MiB, 3 chunks)"
}

@test "transport: a SAVE in small pieces that overflow the staging pipe's slots still gives full 1 MiB chunks" {
	# --bursts writes 1, 3, 7, 4093, ... bytes with a pause after each:
	# each piece holds a pipe slot, so a chunk outgrows the staging pipe
	# and is finished by read
	size=$((2 * 1048576 + 99))
	dump_expected $size 23
	start_fake b --bursts --state-size $size --seed 23
	"$VHOST_STATE" -q dump "$FAKE_SOCK" | cat >"$BATS_TEST_TMPDIR/b.vhs"
	cmp "$BATS_TEST_TMPDIR/b.vhs" "$BATS_TEST_TMPDIR/expected.vhs"
}

@test "transport: --max-size stops a spliced dump at the limit and writes nothing" {
	start_fake big --state-size 3000000 --seed 24
	run "$VHOST_STATE" --max-size 2M dump "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/big.vhs"
	assert_failure 65
	assert_output --partial "exceeds the limit of 2097152 bytes (--max-size)"
	no_output "$BATS_TEST_TMPDIR" big.vhs
}
