#!/usr/bin/env bats
# One test per fault-injecting knob of the fake back-end: each failure
# ends cleanly (exit status per README.md's table, a message naming the step,
# within the deadline, no output or temp file left), and each tolerated
# oddity moves the exact bytes.  fd leaks end a run with 70
# (VHOST_STATE_CHECK_FDS=1); make check-asan runs these under LeakSanitizer.

load helpers/common

CHUNKS=$BATS_TEST_DIRNAME/helpers/chunks.py
# -t for every run, and the slack allowed on top of it
T=2
SLACK=2

teardown() {
	vs_teardown
}

# dump_fails STATUS MESSAGE [vhost-state options...] — a dump to
# out.vhs through the running fake fails with STATUS and MESSAGE, in
# time, leaving no file behind.
dump_fails() {
	local status=$1 msg=$2
	shift 2
	timed_run "$VHOST_STATE" -t "$T" "$@" dump "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/out.vhs"
	assert_failure "$status"
	assert_output --partial "$msg"
	assert_within $((T + SLACK))
	no_output "$BATS_TEST_TMPDIR" out.vhs
}

# restore_fails STATUS MESSAGE SIZE — a restore of a SIZE-byte seeded
# state fails with STATUS and MESSAGE, in time.
restore_fails() {
	"$FAKE_BACKEND" --emit --state-size "$3" --seed 3 | "$CHUNKS" frame >"$BATS_TEST_TMPDIR/in.vhs"
	timed_run "$VHOST_STATE" -t "$T" restore "$FAKE_SOCK" -i "$BATS_TEST_TMPDIR/in.vhs"
	assert_failure "$1"
	assert_output --partial "$2"
	assert_within $((T + SLACK))
}

# expect_state FILE SIZE SEED — FILE is the seeded state, framed our way.
expect_state() {
	"$FAKE_BACKEND" --emit --state-size "$2" --seed "$3" | "$CHUNKS" frame >"$BATS_TEST_TMPDIR/expected.vhs"
	cmp "$1" "$BATS_TEST_TMPDIR/expected.vhs"
}

# vu_client SOCK REQ,FLAGS[,U64]... — send each request (u64 payload when
# given); print each reply's request code and u64, or "none" within
# 0.5 s, or "eof" once the back-end hung up.
vu_client() {
	python3 - "$@" <<'EOF'
import socket, struct, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.settimeout(0.5)
for m in sys.argv[2:]:
    f = [int(x, 0) for x in m.split(",")]
    body = struct.pack("=Q", f[2]) if len(f) > 2 else b""
    try:
        s.sendall(struct.pack("=III", f[0], f[1], len(body)) + body)
        r = s.recv(64)
    except socket.timeout:
        print("none")
        continue
    except OSError:
        print("eof")
        break
    if not r:
        print("eof")
        break
    req, flags, size = struct.unpack("=III", r[:12])
    print(req, hex(struct.unpack("=Q", r[12:20])[0]) if size == 8 else "-")
EOF
}

# ---- must fail ----

@test "faults: no DEVICE_STATE offered exits 69; request 42 is never sent" {
	start_fake nods --no-device-state
	dump_fails 69 "does not support DEVICE_STATE (protocol feature bit 19 not offered); SET_DEVICE_STATE_FD not sent"
	run grep -E '^(SET_DEVICE_STATE_FD|CHECK_DEVICE_STATE)' "$FAKE_LOG"
	assert_failure
}

@test "faults: a back-end that closes on SET_DEVICE_STATE_FD exits 69 naming it" {
	start_fake bye --fault close --at SET_DEVICE_STATE_FD
	dump_fails 69 "closed the connection while we waited for the reply to SET_DEVICE_STATE_FD"
}

@test "faults: a back-end that closes on CHECK_DEVICE_STATE exits 69 naming it" {
	start_fake bye --state-size 1000 --fault close --at CHECK_DEVICE_STATE
	dump_fails 69 "closed the connection while we waited for the reply to CHECK_DEVICE_STATE"
}

@test "faults: SET_DEVICE_STATE_FD rejected (0x101) exits 1 with the reply; no CHECK, no file" {
	start_fake rej --fault reject --at SET_DEVICE_STATE_FD
	dump_fails 1 "the back-end refused SET_DEVICE_STATE_FD (SAVE, STOPPED): reply 0x101"
	run grep '^CHECK_DEVICE_STATE' "$FAKE_LOG"
	assert_failure
	start_fake rej2 --fault reject --at SET_DEVICE_STATE_FD
	restore_fails 1 "the back-end refused SET_DEVICE_STATE_FD (LOAD, STOPPED): reply 0x101" 100
}

@test "faults: a SET_DEVICE_STATE_FD that is never answered times out (75) naming it" {
	start_fake silent --fault silent --at SET_DEVICE_STATE_FD
	dump_fails 75 "timed out after $T s waiting for the reply to SET_DEVICE_STATE_FD"
}

@test "faults: a reply with the wrong request code exits 76" {
	start_fake bad --fault wrong-code --at SET_DEVICE_STATE_FD
	dump_fails 76 "protocol error: the reply to SET_DEVICE_STATE_FD carries request code 43 (CHECK_DEVICE_STATE)"
}

@test "faults: a reply with the wrong size exits 76" {
	start_fake bad --fault wrong-size --at SET_DEVICE_STATE_FD
	dump_fails 76 "protocol error: the reply to SET_DEVICE_STATE_FD has a 12-byte payload, expected 8"
}

@test "faults: a reply with the wrong version flag exits 76" {
	start_fake bad --state-size 100 --fault wrong-flags --at CHECK_DEVICE_STATE
	dump_fails 76 "protocol error: the reply to CHECK_DEVICE_STATE has flags 0x6, expected 0x5"
}

@test "faults: unexpected fds attached to a reply exit 76" {
	start_fake bad --state-size 100 --fault extra-fd --at CHECK_DEVICE_STATE
	dump_fails 76 "protocol error: the reply to CHECK_DEVICE_STATE has 1 unexpected fd attached"
	# on request 42 an fd next to "no fd" (0x100) is just as wrong
	start_fake bad42 --fault extra-fd --at SET_DEVICE_STATE_FD
	dump_fails 76 "protocol error: SET_DEVICE_STATE_FD reply 0x100 says no fd but one is attached"
}

@test "faults: a truncated reply header, then a hang-up, exits 69 naming the request" {
	start_fake trunc --fault truncated-header --at SET_DEVICE_STATE_FD
	dump_fails 69 "closed the connection while we waited for the reply to SET_DEVICE_STATE_FD"
	start_fake trunc2 --fault truncated-header --at GET_PROTOCOL_FEATURES
	dump_fails 69 "handshake failed: the back-end closed the connection while we waited for the reply to GET_PROTOCOL_FEATURES"
}

@test "faults: CHECK_DEVICE_STATE returning 1 after SAVE exits 1 with the value; no file" {
	start_fake chk --state-size 5000 --check-result 1
	dump_fails 1 "CHECK_DEVICE_STATE returned 1 after SAVE"
}

@test "faults: CHECK_DEVICE_STATE returning 22 after LOAD exits 1 with the value" {
	start_fake chk --check-result 22
	restore_fails 1 "CHECK_DEVICE_STATE returned 22 (EINVAL, if it is an errno value: Invalid argument) after LOAD: the back-end did not accept the state" 5000
}

@test "faults: SAVE that writes half the state and closes fails on CHECK (1); no file" {
	start_fake part --state-size 300000 --fault save-partial
	dump_fails 1 "CHECK_DEVICE_STATE returned 1 after SAVE"
	# the front-end did read to EOF before CHECK
	grep -q '^CHECK_DEVICE_STATE' "$FAKE_LOG"
}

@test "faults: SAVE to stdout that fails on CHECK never writes the terminator" {
	start_fake part --state-size 300000 --fault save-partial
	run bash -c "'$VHOST_STATE' -t $T dump '$FAKE_SOCK' -o - >'$BATS_TEST_TMPDIR/out.vhs'"
	assert_failure 1
	assert_output --partial "CHECK_DEVICE_STATE returned 1 after SAVE"
	run "$CHUNKS" sizes <"$BATS_TEST_TMPDIR/out.vhs"
	refute_line 0
}

@test "faults: SAVE that never closes its pipe times out (75) naming the transfer; no file" {
	start_fake noeof --state-size 100000 --fault save-no-eof
	dump_fails 75 "timed out after $T s waiting for the back-end to send state data (SAVE transfer of SET_DEVICE_STATE_FD, 100000 bytes so far)"
	[ "$elapsed" -ge $((T - 1)) ]
	run grep '^CHECK_DEVICE_STATE' "$FAKE_LOG"
	assert_failure
}

@test "faults: LOAD that closes its read end early exits 1 with the byte count and CHECK's value" {
	start_fake early --fault load-close-early
	restore_fails 1 "the back-end stopped reading the state after" 3000000
	assert_output --regexp "after [0-9]+ bytes; CHECK_DEVICE_STATE returned 1"
	grep -q '^FAULT load-close-early' "$FAKE_LOG"
}

# at_once — the run just timed ended long before its deadline (T s):
# within half of it beyond twice the start-up measured now, so that a
# wrapper or a loaded machine is not taken for a wait.  The tests using
# it give a 10 s deadline, which a wait could not hide in.
at_once() {
	local t0 startup
	t0=$(date +%s%3N)
	"$VHOST_STATE" --version >/dev/null 2>&1
	startup=$(($(date +%s%3N) - t0))
	if [ "$elapsed_ms" -ge $((T * 500 + 2 * startup)) ]; then
		echo "took $elapsed_ms ms: not at once (deadline $T s, start-up $startup ms here)" >&2
		return 1
	fi
}

@test "faults: a hang-up in the middle of SAVE (pipe left open) exits 69 at once; no file" {
	local T=10
	start_fake mid --state-size 3000000 --fault disconnect-mid
	dump_fails 69 "the back-end closed the connection during the SAVE transfer (after "
	at_once
}

@test "faults: a hang-up in the middle of LOAD (pipe left open) exits 69 at once" {
	local T=10
	start_fake mid --fault disconnect-mid
	restore_fails 69 "the back-end closed the connection during the LOAD transfer (after " 3000000
	at_once
}

@test "faults: a DPDK-strict back-end (hangs up on unoffered bits) gets none: dump, restore, verify, info, run" {
	"$FAKE_BACKEND" --emit --state-size 2000 --seed 4 | "$CHUNKS" frame >"$BATS_TEST_TMPDIR/in.vhs"
	start_fake s1 --strict-features --state-size 2000 --seed 4
	timed_run "$VHOST_STATE" -t "$T" -v dump "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/d.vhs"
	assert_success
	# offered 0x8084d (RARP, CROSS_ENDIAN, HOST_NOTIFIER too); implemented here: MQ, REPLY_ACK, CONFIGURE_MEM_SLOTS, DEVICE_STATE
	assert_line 'vhost-state: <- GET_PROTOCOL_FEATURES flags=0x5 size=8 fds=0 protocol_features=0x8084d names=MQ,RARP,REPLY_ACK,CROSS_ENDIAN,HOST_NOTIFIER,DEVICE_STATE'
	assert_line 'vhost-state: -> SET_PROTOCOL_FEATURES flags=0x1 size=8 fds=0 protocol_features=0x80009 names=MQ,REPLY_ACK,DEVICE_STATE'
	cmp "$BATS_TEST_TMPDIR/d.vhs" "$BATS_TEST_TMPDIR/in.vhs"
	logs=$FAKE_LOG
	start_fake s2 --strict-features
	run "$VHOST_STATE" -t "$T" restore "$FAKE_SOCK" -i "$BATS_TEST_TMPDIR/in.vhs"
	assert_success
	logs="$logs $FAKE_LOG"
	start_fake s3 --strict-features
	run "$VHOST_STATE" -t "$T" verify "$FAKE_SOCK" "$BATS_TEST_TMPDIR/in.vhs"
	assert_success
	logs="$logs $FAKE_LOG"
	start_fake s4 --strict-features
	run "$VHOST_STATE" -t "$T" info "$FAKE_SOCK"
	assert_success
	logs="$logs $FAKE_LOG"
	start_fake s5 --strict-features --state-size 2000 --seed 4 --inflight --status
	run "$VHOST_STATE" -t "$T" -v run "$FAKE_SOCK" start stop save "$BATS_TEST_TMPDIR/r.vhs"
	assert_success
	# INDIRECT_DESC and EVENT_IDX offered, not taken
	assert_line 'vhost-state: -> SET_FEATURES flags=0x9 size=8 fds=0 features=0x140000000 names=PROTOCOL_FEATURES,VERSION_1'
	cmp "$BATS_TEST_TMPDIR/r.vhs" "$BATS_TEST_TMPDIR/in.vhs"
	logs="$logs $FAKE_LOG"
	# shellcheck disable=SC2086
	run grep -l '^STRICT' $logs
	assert_failure
	# control: the fake does hang up on a bit it did not offer (15)
	start_fake ctl --strict-features
	run vu_client "$FAKE_SOCK" 1,1 15,1 16,1,0x8000 1,1
	assert_line --index 2 eof
	grep -q '^STRICT: SET_PROTOCOL_FEATURES 0x8000 carries bits not offered (0x8000)' "$FAKE_LOG"
}

# ---- must succeed ----

@test "faults: the back-end's own fd in the SET_DEVICE_STATE_FD reply carries SAVE and LOAD" {
	start_fake own --state-size 1500000 --seed 9 --fault own-fd --at SET_DEVICE_STATE_FD
	timed_run "$VHOST_STATE" -t "$T" -v dump "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/s.vhs"
	assert_success
	assert_line 'vhost-state: <- SET_DEVICE_STATE_FD flags=0x5 size=8 fds=1 result=0x0 ok=true backend_fd=true'
	assert_within $((T + SLACK))
	expect_state "$BATS_TEST_TMPDIR/s.vhs" 1500000 9
	# LOAD through its own channel: --check-load compares every byte
	start_fake own2 --state-size 1500000 --seed 9 --check-load --fault own-fd --at SET_DEVICE_STATE_FD
	run "$VHOST_STATE" -t "$T" restore "$FAKE_SOCK" -i "$BATS_TEST_TMPDIR/s.vhs"
	assert_success
	assert_output --partial "CHECK_DEVICE_STATE returned 0"
}

@test "faults: a LOAD read slowly succeeds: the deadline is per wait, not per transfer" {
	size=$((6 * 1048576))
	"$FAKE_BACKEND" --emit --state-size $size --seed 6 | "$CHUNKS" frame 65536 >"$BATS_TEST_TMPDIR/in.vhs"
	# 64 KiB then 60 ms: about 6 s in all, three times -t; no single
	# wait (a pipe-full, 1 MiB, before CHECK) comes near it
	start_fake slow --slow-ms 60
	timed_run "$VHOST_STATE" -t "$T" verify --json "$FAKE_SOCK" "$BATS_TEST_TMPDIR/in.vhs"
	assert_success
	assert_schema verify
	echo "$output" | jq -e ".same and .actual.payload_bytes == $size"
	[ "$elapsed" -gt "$T" ]
	[ "$elapsed" -le 20 ]
	# the bytes arrived intact, compared by the fake as they come
	start_fake slowc --slow-ms 60 --state-size $size --seed 6 --check-load
	run "$VHOST_STATE" -t "$T" restore "$FAKE_SOCK" -i "$BATS_TEST_TMPDIR/in.vhs"
	assert_success
	assert_output --partial "CHECK_DEVICE_STATE returned 0"
}

@test "faults: SAVE in odd-sized bursts (1, 3, 7, 4093, ... bytes) gives the exact state in 1 MiB chunks" {
	size=$((1048576 + 300001))
	start_fake burst --bursts --state-size $size --seed 8
	timed_run "$VHOST_STATE" -t "$T" dump --json "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/s.vhs"
	assert_success
	assert_schema dump
	echo "$output" | jq -e ".payload_bytes == $size and .chunks == 2"
	assert_within $((T + SLACK))
	expect_state "$BATS_TEST_TMPDIR/s.vhs" $size 8
}

@test "faults: the rust-vmm 0.13 REPLY_ACK quirk never trips: dump, restore, verify, info, run start stop save" {
	"$FAKE_BACKEND" --emit --state-size 3000 --seed 2 | "$CHUNKS" frame >"$BATS_TEST_TMPDIR/in.vhs"
	logs=
	start_fake q1 --state-size 3000 --seed 2
	timed_run "$VHOST_STATE" -t "$T" dump "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/d.vhs"
	assert_success
	assert_within $((T + SLACK))
	expect_state "$BATS_TEST_TMPDIR/d.vhs" 3000 2
	logs="$logs $FAKE_LOG"
	start_fake q2
	run "$VHOST_STATE" -t "$T" restore "$FAKE_SOCK" -i "$BATS_TEST_TMPDIR/in.vhs"
	assert_success
	logs="$logs $FAKE_LOG"
	start_fake q3
	run "$VHOST_STATE" -t "$T" verify "$FAKE_SOCK" "$BATS_TEST_TMPDIR/in.vhs"
	assert_success
	logs="$logs $FAKE_LOG"
	start_fake q4
	run "$VHOST_STATE" -t "$T" info "$FAKE_SOCK"
	assert_success
	logs="$logs $FAKE_LOG"
	start_fake q5 --state-size 3000 --seed 2 --inflight --status --backend-burst 4
	run "$VHOST_STATE" -t "$T" run "$FAKE_SOCK" start stop save "$BATS_TEST_TMPDIR/r.vhs"
	assert_success
	expect_state "$BATS_TEST_TMPDIR/r.vhs" 3000 2
	logs="$logs $FAKE_LOG"
	# every ack-able request of those runs was asked with NEED_REPLY
	# shellcheck disable=SC2086
	grep -h 'flags=0x9' $logs | grep -q '^SET_OWNER'
	# shellcheck disable=SC2086
	run grep -H '^QUIRK' $logs
	assert_failure
	# control: the model stays silent on an early NEED_REPLY, and logs it
	start_fake ctl
	run vu_client "$FAKE_SOCK" 3,9 1,1 15,1 16,1,0x8 3,9
	assert_line --index 0 none
	assert_line --index 1 '1 0x140000000'
	assert_line --index 4 '3 0x0'
	grep -q '^QUIRK: NEED_REPLY on SET_OWNER left unanswered (rust-vmm vhost 0.13: no GET_FEATURES yet)' "$FAKE_LOG"
}

@test "faults: a burst of back-end-channel requests during the exchange is answered; the state is intact" {
	start_fake bb --state-size 2000000 --seed 5 --backend-burst 200
	timed_run "$VHOST_STATE" -t "$T" run "$FAKE_SOCK" save "$BATS_TEST_TMPDIR/s.vhs"
	assert_success
	assert_within $((T + SLACK))
	expect_state "$BATS_TEST_TMPDIR/s.vhs" 2000000 5
	wait "$FAKE_PID" || true
	grep -q '^SET_BACKEND_REQ_FD flags=0x9 size=0 fds=1' "$FAKE_LOG"
	grep -q '^BACKEND_CHANNEL burst: 200 of 200 answered' "$FAKE_LOG"
	# info alone: the channel is negotiated and open; nothing breaks
	start_fake bbi --backend-burst 5
	run "$VHOST_STATE" -t "$T" run "$FAKE_SOCK" info
	assert_success
	assert_line --regexp '^back-end channel: +open'
}
