#!/usr/bin/env bats
# `vhost-state run SOCKET STEP...`: several steps on one connection.  The
# sequence is checked before connecting; a failing step ends it with its
# own exit status and names it.

load helpers/common
load helpers/peers

IDLE_STREAM=0000000a0100020000000000000000000000
BUSY_PAYLOAD=01000500070000000000
ONE_FILE_PAYLOAD=0102010200000201010105612e747874000300000000000000

setup_file() {
	virtiofsd_fetch
}

teardown() {
	vs_teardown
}

sent() {
	echo "$output" | sed -n 's/^vhost-state: -> \([A-Z_]*\) .*/\1/p' | tr '\n' ' '
}

@test "run: the exact message order of run start stop save (virtiofsd)" {
	require_virtiofsd
	start_virtiofsd a
	run "$VHOST_STATE" -v run "$VFS_SOCK" start stop save "$BATS_TEST_TMPDIR/s.vhs"
	assert_success
	# init (QEMU's vhost_dev_init), start (vhost_dev_start), stop
	# (vhost_dev_stop), save (vhost_save_backend_state)
	assert_equal "$(sent)" "GET_FEATURES GET_PROTOCOL_FEATURES SET_PROTOCOL_FEATURES GET_QUEUE_NUM \
GET_MAX_MEM_SLOTS SET_BACKEND_REQ_FD SET_OWNER GET_FEATURES \
SET_FEATURES ADD_MEM_REG \
SET_VRING_NUM SET_VRING_BASE SET_VRING_ADDR SET_VRING_KICK SET_VRING_CALL SET_VRING_ERR \
SET_VRING_NUM SET_VRING_BASE SET_VRING_ADDR SET_VRING_KICK SET_VRING_CALL SET_VRING_ERR \
SET_VRING_ENABLE SET_VRING_ENABLE \
SET_VRING_ENABLE SET_VRING_ENABLE GET_VRING_BASE GET_VRING_BASE \
SET_DEVICE_STATE_FD CHECK_DEVICE_STATE "
	# what is acked: MQ LOG_SHMFD REPLY_ACK BACKEND_REQ RESET_DEVICE
	# CONFIGURE_MEM_SLOTS DEVICE_STATE (not BACKEND_SEND_FD)
	assert_line 'vhost-state: -> SET_PROTOCOL_FEATURES flags=0x1 size=8 fds=0 protocol_features=0x8a02b names=MQ,LOG_SHMFD,REPLY_ACK,BACKEND_REQ,RESET_DEVICE,CONFIGURE_MEM_SLOTS,DEVICE_STATE'
	assert_line 'vhost-state: -> SET_VRING_ENABLE flags=0x9 size=8 fds=0 index=0 enable=1'
	assert_line 'vhost-state: -> SET_VRING_ENABLE flags=0x9 size=8 fds=0 index=0 enable=0'
	assert_line 'vhost-state: -> SET_DEVICE_STATE_FD flags=0x1 size=8 fds=1 direction=save phase=stopped'
	assert_equal "$(hexof "$BATS_TEST_TMPDIR/s.vhs")" "$IDLE_STREAM"
	refute_line --regexp '^vhost-state: -> RESET_'
}

@test "run: load, start, stop, save of a non-idle state keeps it (virtiofsd)" {
	require_virtiofsd
	raw_stream "$BUSY_PAYLOAD" >"$BATS_TEST_TMPDIR/busy.vhs"
	start_virtiofsd a
	run "$VHOST_STATE" run "$VFS_SOCK" load "$BATS_TEST_TMPDIR/busy.vhs" start stop save "$BATS_TEST_TMPDIR/again.vhs"
	assert_success
	assert_output --partial "run: loaded 10 bytes of state"
	assert_output --partial "run: stopped; ring bases: 0:0 1:0"
	cmp "$BATS_TEST_TMPDIR/busy.vhs" "$BATS_TEST_TMPDIR/again.vhs"
}

@test "run: a sequence that moves state on a started device is refused before connecting (64)" {
	start_fake a
	run "$VHOST_STATE" run "$FAKE_SOCK" start save "$BATS_TEST_TMPDIR/s.vhs"
	assert_failure 64
	assert_output --partial "run: step 2 (save $BATS_TEST_TMPDIR/s.vhs): the device is started: put a stop step before this one"
	[ ! -s "$FAKE_LOG" ]
	[ ! -e "$BATS_TEST_TMPDIR/s.vhs" ]
	run "$VHOST_STATE" run "$FAKE_SOCK" stop
	assert_failure 64
	assert_output --partial "step 1 (stop): the device is not started"
	run "$VHOST_STATE" run "$FAKE_SOCK" start frobnicate
	assert_failure 64
	assert_output --partial "step 2: unknown step 'frobnicate'"
	run "$VHOST_STATE" run "$FAKE_SOCK" start stop save
	assert_failure 64
	assert_output --partial "step 3 (save): a FILE is required"
	run "$VHOST_STATE" run "$FAKE_SOCK"
	assert_failure 64
	[ ! -s "$FAKE_LOG" ]
}

@test "run: --help lists every step and the device options" {
	run "$VHOST_STATE" run --help
	assert_success
	for w in 'start ' 'stop ' 'save FILE' 'load FILE' 'verify FILE' 'info ' 'reset ' 'log-start' 'log-stop' \
		--memory --regions --queues --queue-size --mem-table --config-size; do
		assert_output --partial -- "$w"
	done
	run "$VHOST_STATE" --help
	assert_output --partial "run SOCKET STEP..."
}

@test "run: a failing step ends the sequence with its exit status and names it; later steps never run (virtiofsd)" {
	require_virtiofsd
	raw_stream 67617262 >"$BATS_TEST_TMPDIR/bad.vhs"
	start_virtiofsd a
	run "$VHOST_STATE" -v run "$VFS_SOCK" load "$BATS_TEST_TMPDIR/bad.vhs" start stop save "$BATS_TEST_TMPDIR/s.vhs"
	assert_failure 1
	assert_output --partial "vhost-state: run: step 1 (load $BATS_TEST_TMPDIR/bad.vhs): CHECK_DEVICE_STATE returned 1 after LOAD"
	refute_output --partial SET_FEATURES
	refute_output --partial direction=save
	[ ! -e "$BATS_TEST_TMPDIR/s.vhs" ]
	[ -z "$(find "$BATS_TEST_TMPDIR" -name '.s.vhs.*')" ]
	grep -q "Failed to load state" "$VFS_LOG"
}

@test "run: a protocol error in a step exits 76 naming it; outputs of steps that succeeded stay (fake)" {
	start_fake bad --state-size 5 --fault wrong-size --at CHECK_DEVICE_STATE
	run "$VHOST_STATE" run "$FAKE_SOCK" save "$BATS_TEST_TMPDIR/a.vhs" save "$BATS_TEST_TMPDIR/b.vhs"
	assert_failure 76
	assert_output --partial "run: step 1 (save $BATS_TEST_TMPDIR/a.vhs): after the SAVE transfer: protocol error"
	[ ! -e "$BATS_TEST_TMPDIR/a.vhs" ]
	[ ! -e "$BATS_TEST_TMPDIR/b.vhs" ]
	# step 2 is refused (the fake has no RESET_DEVICE): step 1's file
	# stays, step 3's temporary file is removed
	start_fake ok --state-size 5
	run "$VHOST_STATE" run "$FAKE_SOCK" save "$BATS_TEST_TMPDIR/c.vhs" reset save "$BATS_TEST_TMPDIR/d.vhs"
	assert_failure 69
	assert_output --partial "run: step 2 (reset): "
	[ "$(stat -c %s "$BATS_TEST_TMPDIR/c.vhs")" -eq 13 ]
	[ ! -e "$BATS_TEST_TMPDIR/d.vhs" ]
	[ -z "$(find "$BATS_TEST_TMPDIR" -name '.d.vhs.*')" ]
}

@test "run: outputs are checked before connecting: an existing file exits 64 unless -f; malformed input exits 65" {
	start_fake a --state-size 7
	echo old >"$BATS_TEST_TMPDIR/s.vhs"
	run "$VHOST_STATE" run "$FAKE_SOCK" save "$BATS_TEST_TMPDIR/s.vhs"
	assert_failure 64
	assert_output --partial "file exists"
	raw_stream "$BUSY_PAYLOAD" | head -c 14 >"$BATS_TEST_TMPDIR/cut.vhs"
	run "$VHOST_STATE" run "$FAKE_SOCK" load "$BATS_TEST_TMPDIR/cut.vhs"
	assert_failure 65
	assert_output --partial "step 1 (load $BATS_TEST_TMPDIR/cut.vhs)"
	[ ! -s "$FAKE_LOG" ]
	run "$VHOST_STATE" -f run "$FAKE_SOCK" save "$BATS_TEST_TMPDIR/s.vhs"
	assert_success
	[ "$(stat -c %s "$BATS_TEST_TMPDIR/s.vhs")" -eq 15 ]
}

@test "run: the fake back-end (no rings) round-trips load then save on one connection, with only state messages after init" {
	"$FAKE_BACKEND" --emit --state-size 3000 --seed 3 | "$BATS_TEST_DIRNAME/helpers/chunks.py" frame >"$BATS_TEST_TMPDIR/in.vhs"
	start_fake rt --state-size 10
	run "$VHOST_STATE" -v run "$FAKE_SOCK" load "$BATS_TEST_TMPDIR/in.vhs" save "$BATS_TEST_TMPDIR/out.vhs" info
	assert_success
	cmp "$BATS_TEST_TMPDIR/in.vhs" "$BATS_TEST_TMPDIR/out.vhs"
	assert_equal "$(sent)" "GET_FEATURES GET_PROTOCOL_FEATURES SET_PROTOCOL_FEATURES GET_QUEUE_NUM SET_OWNER GET_FEATURES \
SET_DEVICE_STATE_FD CHECK_DEVICE_STATE SET_DEVICE_STATE_FD CHECK_DEVICE_STATE "
	assert_line --regexp '^ring 0 +size 128, base 0, stopped, desc 0x0 avail 0x800 used 0x908 \(guest-physical\)$'
	assert_line 'back-end channel:   none'
	assert_line 'device:             stopped'
}

@test "run: save then verify of the same file on one connection; verify of a different state exits 2 naming the step (virtiofsd)" {
	require_virtiofsd
	start_virtiofsd a
	run "$VHOST_STATE" run "$VFS_SOCK" start stop save "$BATS_TEST_TMPDIR/s.vhs" verify "$BATS_TEST_TMPDIR/s.vhs"
	assert_success
	assert_output --partial "run: verified: the back-end holds the 10-byte state of $BATS_TEST_TMPDIR/s.vhs"
	# a state naming a file missing here loads (guest-error) but is lost
	raw_stream "$ONE_FILE_PAYLOAD" >"$BATS_TEST_TMPDIR/one.vhs"
	start_virtiofsd b --migration-on-error=guest-error
	run "$VHOST_STATE" run "$VFS_SOCK" verify "$BATS_TEST_TMPDIR/one.vhs" info
	assert_failure 2
	assert_output --partial "run: step 1 (verify $BATS_TEST_TMPDIR/one.vhs): the back-end holds a different state"
	refute_line --regexp '^socket:'
	# decoded as the verify command decodes it
	assert_line "  inode 2: a.txt (refcount 1) -> (invalid) (refcount 1)"
	start_virtiofsd c --migration-on-error=guest-error
	run --separate-stderr "$VHOST_STATE" run --json "$VFS_SOCK" verify "$BATS_TEST_TMPDIR/one.vhs"
	assert_failure 2
	assert_schema error
	echo "$output" | jq -e '.failed_step.step == "verify" and .failed_step.status == "different" and .failed_step.decoded'
	echo "$output" | jq -e '[.failed_step.differences[] | select(.what == "inode" and .id == 2)][0].b.status == "invalid"'
}

@test "run: save - writes the stream to stdout, load - reads stdin; info cannot share stdout with a state (fake)" {
	"$FAKE_BACKEND" --emit --state-size 100 --seed 4 | "$BATS_TEST_DIRNAME/helpers/chunks.py" frame >"$BATS_TEST_TMPDIR/in.vhs"
	start_fake a --state-size 10
	"$VHOST_STATE" -q run "$FAKE_SOCK" load - save - <"$BATS_TEST_TMPDIR/in.vhs" >"$BATS_TEST_TMPDIR/out.vhs"
	cmp "$BATS_TEST_TMPDIR/in.vhs" "$BATS_TEST_TMPDIR/out.vhs"
	start_fake b
	run "$VHOST_STATE" run "$FAKE_SOCK" save - info
	assert_failure 64
	assert_output --partial "step 2 (info): info prints on stdout, where a save - step writes the state"
	[ ! -s "$FAKE_LOG" ]
}

@test "run: --json is one document with what each step did" {
	require_virtiofsd
	start_virtiofsd a
	run --separate-stderr "$VHOST_STATE" run --json "$VFS_SOCK" start info stop save "$BATS_TEST_TMPDIR/s.vhs"
	assert_success
	assert_schema run
	echo "$output" | jq -e --arg s "$VFS_SOCK" '.socket == $s and (.steps | length) == 4'
	echo "$output" | jq -e '.steps[0].rings_started == [0, 1]'
	echo "$output" | jq -e '.steps[1].info.started == true and (.steps[1].info.rings | length) == 2'
	echo "$output" | jq -e '.steps[1].info.protocol_features.acked.names | index("DEVICE_STATE")'
	echo "$output" | jq -e '.steps[2].ring_bases == {"0": 0, "1": 0}'
	echo "$output" | jq -e '.steps[3].payload_bytes == 10 and .steps[3].chunks == 1'
	# typed: the step's name, position and file apart
	echo "$output" | jq -e --arg f "$BATS_TEST_TMPDIR/s.vhs" '[.steps[] | [.step, .index]] == [["start", 1], ["info", 2], ["stop", 3], ["save", 4]] and .steps[3].file == $f'
}

@test "run: --json on a failing step is still one document: the error, the steps done, the failed one" {
	start_fake nores --state-size 7
	run --separate-stderr "$VHOST_STATE" run --json "$FAKE_SOCK" save "$BATS_TEST_TMPDIR/s.vhs" reset
	assert_failure 69
	assert_schema error
	echo "$output" | jq -e '.error.exit_code == 69 and (.error.message | test("RESET_DEVICE not sent"))'
	echo "$output" | jq -e '(.steps | length) == 1 and .steps[0].payload_bytes == 7'
	echo "$output" | jq -e '.failed_step == {"step": "reset", "index": 2}'
}
