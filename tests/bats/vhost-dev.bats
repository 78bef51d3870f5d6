#!/usr/bin/env bats
# The vhost_dev model (src/transfer/vhost-dev.c) through `run`: memory,
# rings, start/stop order, config, reset, dirty logging and the back-end
# channel, against a real virtiofsd; what virtiofsd does not offer is
# refused locally, shown with the fake back-end.

load helpers/common
load helpers/peers
load helpers/fuse

setup_file() {
	virtiofsd_fetch
}

teardown() {
	vs_teardown
}

# The names of the requests sent, in order, from a -v log in $output.
sent() {
	echo "$output" | sed -n 's/^vhost-state: -> \([A-Z_]*\) .*/\1/p' | tr '\n' ' '
}

@test "vhost-dev: with CONFIGURE_MEM_SLOTS each region goes in its own ADD_MEM_REG, never SET_MEM_TABLE (virtiofsd)" {
	require_virtiofsd
	start_virtiofsd a
	run "$VHOST_STATE" -v run --memory 6M --regions 3 "$VFS_SOCK" start stop
	assert_success
	assert_line 'vhost-state: <- GET_MAX_MEM_SLOTS flags=0x5 size=8 fds=0 slots=509'
	assert_line --regexp '^vhost-state: -> ADD_MEM_REG flags=0x9 size=40 fds=1 region=\{gpa=0x0 size=0x200000 uaddr=0x[0-9a-f]+ offset=0x0\}$'
	assert_line --regexp '^vhost-state: -> ADD_MEM_REG flags=0x9 size=40 fds=1 region=\{gpa=0x200000 size=0x200000 uaddr=0x[0-9a-f]+ offset=0x0\}$'
	assert_line --regexp '^vhost-state: -> ADD_MEM_REG flags=0x9 size=40 fds=1 region=\{gpa=0x400000 size=0x200000 uaddr=0x[0-9a-f]+ offset=0x0\}$'
	[ "$(echo "$output" | grep -c -- '-> ADD_MEM_REG')" -eq 3 ]
	refute_output --partial SET_MEM_TABLE
	refute_output --partial REM_MEM_REG
}

@test "vhost-dev: --mem-table does not negotiate CONFIGURE_MEM_SLOTS and sends every region in one SET_MEM_TABLE (virtiofsd)" {
	require_virtiofsd
	start_virtiofsd a
	run "$VHOST_STATE" -v run --memory 8M --regions 4 --mem-table "$VFS_SOCK" start stop
	assert_success
	# 0x8a02b without bit 15
	assert_line 'vhost-state: -> SET_PROTOCOL_FEATURES flags=0x1 size=8 fds=0 protocol_features=0x8202b names=MQ,LOG_SHMFD,REPLY_ACK,BACKEND_REQ,RESET_DEVICE,DEVICE_STATE'
	assert_line --regexp '^vhost-state: -> SET_MEM_TABLE flags=0x9 size=136 fds=4 nregions=4 regions=\{gpa=0x0 [^}]*\}(,\{[^}]*\}){3}$'
	assert_line 'vhost-state: <- SET_MEM_TABLE flags=0x5 size=8 fds=0 ack=0'
	refute_output --partial GET_MAX_MEM_SLOTS
	refute_output --partial ADD_MEM_REG
}

@test "vhost-dev: more regions than SET_MEM_TABLE carries (8) are refused before connecting (64)" {
	require_virtiofsd
	start_virtiofsd a
	run "$VHOST_STATE" -v run --memory 9M --regions 9 --mem-table "$VFS_SOCK" start
	assert_failure 64
	assert_output --partial "without CONFIGURE_MEM_SLOTS, one SET_MEM_TABLE sends at most 8 memory regions, not 9 (--mem-table)"
	refute_output --partial -- '-> GET_FEATURES'
	# the one-shot back-end was not used up: it still answers
	run "$VHOST_STATE" info "$VFS_SOCK"
	assert_success
}

@test "vhost-dev: start sends SET_FEATURES with bit 30 before any ring message, then per ring NUM, BASE, ADDR, KICK, CALL, ERR, then ENABLE (virtiofsd)" {
	require_virtiofsd
	start_virtiofsd a
	run "$VHOST_STATE" -v run "$VFS_SOCK" start
	assert_success
	# offered 0x174000000; acked VERSION_1 | PROTOCOL_FEATURES, no EVENT_IDX
	assert_line 'vhost-state: -> SET_FEATURES flags=0x9 size=8 fds=0 features=0x140000000 names=PROTOCOL_FEATURES,VERSION_1'
	start=$(sent)
	start=${start#*SET_OWNER GET_FEATURES }
	assert_equal "$start" "SET_FEATURES ADD_MEM_REG \
SET_VRING_NUM SET_VRING_BASE SET_VRING_ADDR SET_VRING_KICK SET_VRING_CALL SET_VRING_ERR \
SET_VRING_NUM SET_VRING_BASE SET_VRING_ADDR SET_VRING_KICK SET_VRING_CALL SET_VRING_ERR \
SET_VRING_ENABLE SET_VRING_ENABLE "
	assert_line 'vhost-state: -> SET_VRING_NUM flags=0x9 size=8 fds=0 index=1 size=128'
	assert_line 'vhost-state: -> SET_VRING_BASE flags=0x9 size=8 fds=0 index=1 base=0'
	assert_line 'vhost-state: -> SET_VRING_KICK flags=0x9 size=8 fds=1 index=1 fd=true'
	assert_line 'vhost-state: -> SET_VRING_ENABLE flags=0x9 size=8 fds=0 index=1 enable=1'
}

@test "vhost-dev: ring parts are aligned in guest memory as rust-vmm demands (desc 16, avail 2, used 4)" {
	require_virtiofsd
	start_virtiofsd a
	run "$VHOST_STATE" -v run --queue-size 256 "$VFS_SOCK" start info
	assert_success
	addrs=$(echo "$output" | sed -n 's/.*-> SET_VRING_ADDR .* desc=\(0x[0-9a-f]*\) used=\(0x[0-9a-f]*\) avail=\(0x[0-9a-f]*\) .*/\1,\3,\2/p')
	[ "$(echo "$addrs" | wc -l)" -eq 2 ]
	for line in $addrs; do
		IFS=, read -r d a u <<<"$line"
		# one check per line: under set -e only a line's last command counts
		[ $((d % 16)) -eq 0 ]
		[ $((a % 2)) -eq 0 ]
		[ $((u % 4)) -eq 0 ]
		# desc 256 x 16, then avail right after it
		[ $((a - d)) -eq 4096 ]
	done
	assert_line --regexp '^ring 1 +size 256, base 0, started, desc 0x[0-9a-f]+ avail 0x[0-9a-f]+ used 0x[0-9a-f]+ \(guest-physical\)$'
}

@test "vhost-dev: --queues 1 sets up and starts only the request ring; a ring the back-end lacks exits 69, saying it was consumed" {
	require_virtiofsd
	start_virtiofsd a
	run "$VHOST_STATE" -v run --queues 1 "$VFS_SOCK" start stop
	assert_success
	refute_output --regexp '-> SET_VRING_[A-Z]* .* index=0'
	assert_line 'vhost-state: -> GET_VRING_BASE flags=0x1 size=8 fds=0 index=1'
	refute_output --partial 'GET_VRING_BASE flags=0x1 size=8 fds=0 index=0'
	start_virtiofsd b
	run "$VHOST_STATE" run --queues 0,5 "$VFS_SOCK" start
	assert_failure 69
	assert_output --partial "vhost-state: run: $VFS_SOCK: the back-end has 2 queues (0-1), fewer than the rings asked for; nothing was set up, but connecting consumed it"
}

@test "vhost-dev: stop follows QEMU: ENABLE 0 on every ring, then GET_VRING_BASE on every ring (virtiofsd)" {
	require_virtiofsd
	start_virtiofsd a
	run "$VHOST_STATE" -v run "$VFS_SOCK" start stop
	assert_success
	stop=$(sent)
	stop=${stop##*SET_VRING_ENABLE SET_VRING_ENABLE SET_VRING_ENABLE SET_VRING_ENABLE }
	assert_equal "$stop" "GET_VRING_BASE GET_VRING_BASE "
	assert_line 'vhost-state: -> SET_VRING_ENABLE flags=0x9 size=8 fds=0 index=0 enable=0'
	assert_line 'vhost-state: -> SET_VRING_ENABLE flags=0x9 size=8 fds=0 index=1 enable=0'
	assert_line 'vhost-state: run: stopped; ring bases: 0:0 1:0'
	# virtiofsd offers no STATUS: no SET_STATUS at all
	refute_output --partial STATUS
}

@test "vhost-dev: CONFIG with --tag: negotiated, and the info step reads the tag from config space (virtiofsd)" {
	require_virtiofsd
	start_virtiofsd a --tag=myfs
	run "$VHOST_STATE" -v run "$VFS_SOCK" info
	assert_success
	assert_line 'vhost-state: <- GET_PROTOCOL_FEATURES flags=0x5 size=8 fds=0 protocol_features=0x8a62b names=MQ,LOG_SHMFD,REPLY_ACK,BACKEND_REQ,CONFIG,BACKEND_SEND_FD,RESET_DEVICE,CONFIGURE_MEM_SLOTS,DEVICE_STATE'
	assert_line --regexp '^protocol acked: .* CONFIG '
	assert_line 'vhost-state: -> GET_CONFIG flags=0x1 size=52 fds=0 offset=0 size=40 flags=0x0'
	# tag "myfs" NUL-padded to 36 bytes, then num_request_queues = 1
	assert_line "config:             40 bytes: 6d796673$(printf '0%.0s' $(seq 1 64))01000000"
	# control: without --tag there is no CONFIG, so nothing is asked
	start_virtiofsd b
	run "$VHOST_STATE" -v run "$VFS_SOCK" info
	assert_success
	refute_output --partial GET_CONFIG
	refute_line --regexp '^config:'
}

@test "vhost-dev: reset sends RESET_DEVICE, which wipes virtiofsd's inodes and handles" {
	require_virtiofsd
	populate src "$BATS_TEST_TMPDIR/s.vhs" >/dev/null
	two_file_share dst.share
	start_virtiofsd dst
	run "$VHOST_STATE" -v run "$VFS_SOCK" load "$BATS_TEST_TMPDIR/s.vhs" reset save "$BATS_TEST_TMPDIR/after.vhs"
	assert_success
	assert_line 'vhost-state: -> RESET_DEVICE flags=0x9 size=0 fds=0'
	refute_output --partial RESET_OWNER
	# no inode, no handle left (the id counters survive: 1.13.x pinned)
	after=$(tail -c +5 "$BATS_TEST_TMPDIR/after.vhs" | head -c -4 | xxd -p)
	case $(virtiofsd_version) in
	1.13.*) assert_equal "$after" 01000400020000000000 ;;
	esac
	[[ $after == 0100* ]]
	# control: the same load without reset keeps everything
	start_virtiofsd ctl
	VFS_SHARE_DIR=
	run "$VHOST_STATE" run "$VFS_SOCK" load "$BATS_TEST_TMPDIR/s.vhs" save "$BATS_TEST_TMPDIR/kept.vhs"
	assert_success
	cmp "$BATS_TEST_TMPDIR/s.vhs" "$BATS_TEST_TMPDIR/kept.vhs"
}

@test "vhost-dev: the device starts again after a reset (virtiofsd)" {
	require_virtiofsd
	start_virtiofsd a
	run "$VHOST_STATE" -v run "$VFS_SOCK" start stop reset start stop
	assert_success
	# after RESET_DEVICE the second start sets every ring up again, and
	# the rings it started are stopped again
	after=$(echo "$output" | sed -n '/-> RESET_DEVICE/,$p')
	[ "$(echo "$after" | grep -c -- '-> SET_VRING_KICK')" -eq 2 ]
	[ "$(echo "$after" | grep -c -- '-> GET_VRING_BASE')" -eq 2 ]
	assert_line 'vhost-state: run: stopped; ring bases: 0:0 1:0'
}

@test "vhost-dev: log-start on a started device: SET_LOG_BASE, SET_FEATURES with LOG_ALL, SET_VRING_ADDR with LOG, and SAVE needs no late preparation (virtiofsd)" {
	require_virtiofsd
	start_virtiofsd a
	run "$VHOST_STATE" -v run "$VFS_SOCK" start log-start stop save "$BATS_TEST_TMPDIR/s.vhs"
	assert_success
	log=$(sent)
	log=${log#*SET_VRING_ENABLE SET_VRING_ENABLE }
	log=${log%% SET_VRING_ENABLE*}
	assert_equal "$log" "SET_LOG_BASE SET_FEATURES SET_VRING_ADDR SET_VRING_ADDR"
	# one u64 per VHOST_LOG_CHUNK (256 KiB): 16 words for 4 MiB
	assert_line 'vhost-state: -> SET_LOG_BASE flags=0x1 size=16 fds=1 mmap_size=0x80 mmap_offset=0x0'
	assert_line 'vhost-state: <- SET_LOG_BASE flags=0x5 size=16 fds=0'
	assert_line 'vhost-state: -> SET_FEATURES flags=0x9 size=8 fds=0 features=0x144000000 names=LOG_ALL,PROTOCOL_FEATURES,VERSION_1'
	assert_line --regexp '^vhost-state: -> SET_VRING_ADDR flags=0x9 size=40 fds=0 index=1 flags=0x1 '
	run grep -q "did not announce migration" "$VFS_LOG"
	assert_failure
	# control: the same without log-start
	start_virtiofsd b
	run "$VHOST_STATE" run "$VFS_SOCK" start stop save "$BATS_TEST_TMPDIR/s2.vhs"
	assert_success
	grep -q "did not announce migration" "$VFS_LOG"
}

@test "vhost-dev: log-start on a stopped device is remembered: the next start carries LOG_ALL and sends SET_LOG_BASE after the rings (virtiofsd)" {
	require_virtiofsd
	start_virtiofsd a
	run "$VHOST_STATE" -v run "$VFS_SOCK" log-start start stop save "$BATS_TEST_TMPDIR/s.vhs"
	assert_success
	assert_output --partial "dirty logging on (takes effect at the next start)"
	log=$(sent)
	log=${log#*SET_OWNER GET_FEATURES }
	log=${log%% SET_VRING_ENABLE*}
	assert_equal "$log" "SET_FEATURES ADD_MEM_REG \
SET_VRING_NUM SET_VRING_BASE SET_VRING_ADDR SET_VRING_KICK SET_VRING_CALL SET_VRING_ERR \
SET_VRING_NUM SET_VRING_BASE SET_VRING_ADDR SET_VRING_KICK SET_VRING_CALL SET_VRING_ERR SET_LOG_BASE"
	assert_line 'vhost-state: -> SET_FEATURES flags=0x9 size=8 fds=0 features=0x144000000 names=LOG_ALL,PROTOCOL_FEATURES,VERSION_1'
	run grep -q "did not announce migration" "$VFS_LOG"
	assert_failure
}

@test "vhost-dev: the back-end channel is handed over before SET_OWNER and stays open to the end (virtiofsd; serving is unit-tested)" {
	require_virtiofsd
	start_virtiofsd a
	run "$VHOST_STATE" -v run "$VFS_SOCK" start info stop info
	assert_success
	hs=$(sent)
	assert_equal "${hs%%SET_FEATURES*}" "GET_FEATURES GET_PROTOCOL_FEATURES SET_PROTOCOL_FEATURES GET_QUEUE_NUM GET_MAX_MEM_SLOTS SET_BACKEND_REQ_FD SET_OWNER GET_FEATURES "
	assert_line 'vhost-state: -> SET_BACKEND_REQ_FD flags=0x9 size=0 fds=1'
	assert_line 'vhost-state: <- SET_BACKEND_REQ_FD flags=0x5 size=8 fds=0 ack=0'
	[ "$(echo "$output" | grep -c '^back-end channel:   open, 0 requests served$')" -eq 2 ]
	refute_output --partial "back-end channel unusable"
}

@test "vhost-dev: the fake back-end (no RESET_DEVICE) gets no reset at all: refused locally (69), never RESET_OWNER" {
	start_fake nores
	run "$VHOST_STATE" run "$FAKE_SOCK" reset
	assert_failure 69
	assert_output --partial "run: step 1 (reset): the back-end does not support RESET_DEVICE (protocol feature bit 13); RESET_DEVICE not sent"
	wait "$FAKE_PID" || true
	run grep -E '^RESET' "$FAKE_LOG"
	assert_failure
}

@test "vhost-dev: the fake back-end (no LOG_ALL, no LOG_SHMFD) gets no dirty log: log-start refused locally (69)" {
	start_fake nolog
	run "$VHOST_STATE" run "$FAKE_SOCK" log-start
	assert_failure 69
	assert_output --partial "does not offer LOG_ALL (feature bit 26): no dirty logging"
	wait "$FAKE_PID" || true
	run grep -E '^(SET_LOG_BASE|SET_FEATURES)' "$FAKE_LOG"
	assert_failure
}

@test "vhost-dev: the fake back-end (no CONFIG) is never asked for its config" {
	start_fake nocfg
	run "$VHOST_STATE" run "$FAKE_SOCK" info
	assert_success
	refute_line --regexp '^config:'
	wait "$FAKE_PID" || true
	run grep -E '^(GET_CONFIG|SET_BACKEND_REQ_FD)' "$FAKE_LOG"
	assert_failure
}

@test "vhost-dev: (fake only) inflight: GET_INFLIGHT_FD once, SET_INFLIGHT_FD with that same area; a second start does not ask again" {
	start_fake infl --inflight
	run "$VHOST_STATE" -v run "$FAKE_SOCK" start stop start stop
	assert_success
	assert_line 'vhost-state: -> GET_INFLIGHT_FD flags=0x1 size=24 fds=0 mmap_size=0x0 mmap_offset=0x0 num_queues=1 queue_size=128'
	assert_line 'vhost-state: <- GET_INFLIGHT_FD flags=0x5 size=24 fds=1 mmap_size=0x1000 mmap_offset=0x0 num_queues=1 queue_size=128'
	[ "$(echo "$output" | grep -c -- '-> GET_INFLIGHT_FD')" -eq 1 ]
	[ "$(echo "$output" | grep -c -- '-> SET_INFLIGHT_FD flags=0x9 size=24 fds=1 mmap_size=0x1000')" -eq 2 ]
	wait "$FAKE_PID" || true
	# the fake acks SET_INFLIGHT_FD only for the memfd it handed out
	[ "$(grep -c '^INFLIGHT: SET_INFLIGHT_FD carries the area GET_INFLIGHT_FD gave$' "$FAKE_LOG")" -eq 2 ]
	run grep -c '^GET_INFLIGHT_FD' "$FAKE_LOG"
	assert_output 1
}

@test "vhost-dev: (fake only) status: GET/SET_STATUS 0x8 after SET_FEATURES, 0xf at the end of start, 0 after the GET_VRING_BASEs" {
	start_fake st --status --queues 2
	run "$VHOST_STATE" -v run "$FAKE_SOCK" start stop
	assert_success
	seq=$(echo "$output" | sed -n 's/^vhost-state: -> \(SET_FEATURES\|GET_STATUS\|SET_STATUS\|SET_MEM_TABLE\|SET_VRING_ENABLE\|GET_VRING_BASE\) .*/\1/p' | tr '\n' ' ')
	assert_equal "$seq" "SET_FEATURES GET_STATUS SET_STATUS SET_MEM_TABLE SET_VRING_ENABLE SET_VRING_ENABLE GET_STATUS SET_STATUS \
SET_VRING_ENABLE SET_VRING_ENABLE GET_VRING_BASE GET_VRING_BASE SET_STATUS "
	[ "$(echo "$output" | grep -- '-> SET_STATUS' | sed 's/.*status=//' | tr '\n' ' ')" = "0x8 0xf 0x0 " ]
	assert_line 'vhost-state: <- GET_STATUS flags=0x5 size=8 fds=0 status=0x8'
	wait "$FAKE_PID" || true
	assert_equal "$(sed -n 's/^STATUS: //p' "$FAKE_LOG" | tr '\n' ' ')" "0x8 0xf 0x0 "
}

@test "vhost-dev: (fake only) start/stop against the fake: every ring message acked, no quirk, no hang-up" {
	start_fake ring --queues 2
	run "$VHOST_STATE" -v run "$FAKE_SOCK" start stop start stop
	assert_success
	assert_line --regexp '^vhost-state: -> SET_MEM_TABLE flags=0x9 size=40 fds=1 nregions=1 regions=\{gpa=0x0 [^}]*\}$'
	assert_line 'vhost-state: <- GET_VRING_BASE flags=0x5 size=8 fds=0 index=1 base=0'
	assert_line 'vhost-state: run: stopped; ring bases: 0:0 1:0'
	wait "$FAKE_PID" || true
	run grep -E '^(QUIRK|STRICT)' "$FAKE_LOG"
	assert_failure
	run grep -c '^SET_VRING_KICK flags=0x9 size=8 fds=1' "$FAKE_LOG"
	assert_output 4
}
