#!/usr/bin/env bats
# Real back-ends without DEVICE_STATE, and resource faults: full disks,
# unreadable inputs.

load helpers/common
load helpers/peers

teardown() {
	vs_teardown
	if [ -n "${TINY:-}" ]; then
		umount "$TINY" 2>/dev/null || true
	fi
}

@test "resources: qemu-storage-daemon (vhost-user-blk, no DEVICE_STATE): info says so" {
	require_qsd
	start_qsd blk
	run "$VHOST_STATE" info "$QSD_SOCK"
	assert_success
	assert_line --regexp '^protocol offered: +0x0000000000008f2b '
	assert_line --regexp '^device state: +not supported'
}

@test "resources: qemu-storage-daemon: dump exits 69 and request 42 is never sent" {
	require_qsd
	start_qsd blk
	run "$VHOST_STATE" -v dump "$QSD_SOCK" -o "$BATS_TEST_TMPDIR/out.vhs"
	assert_failure 69
	assert_output --partial "does not support DEVICE_STATE"
	refute_output --partial "-> SET_DEVICE_STATE_FD"
	# it would have said so: libvhost-user panics on request 42
	run grep -q "Unhandled request" "$QSD_LOG"
	assert_failure
	[ ! -e "$BATS_TEST_TMPDIR/out.vhs" ]
	# and it is still serving: the connection ended cleanly
	kill -0 "$QSD_PID"
}

@test "resources: a full file system (ENOSPC) exits 1 and leaves no temp file" {
	[ "$(id -u)" = 0 ] || skip "mounting a tmpfs needs root"
	TINY=$BATS_TEST_TMPDIR/tiny
	mkdir "$TINY"
	mount -t tmpfs -o size=64k tmpfs "$TINY" || skip "cannot mount a tmpfs here"
	start_fake big --state-size 1000000
	run "$VHOST_STATE" dump "$FAKE_SOCK" -o "$TINY/out.vhs"
	assert_failure 1
	assert_output --partial "No space left on device"
	[ -z "$(ls -A "$TINY")" ]
}

@test "resources: an input that fails to read (EIO) exits 1 with the error; nothing is sent" {
	start_fake a --state-size 4
	# /proc/self/mem cannot be read at offset 0, even by root
	run "$VHOST_STATE" restore "$FAKE_SOCK" -i /proc/self/mem
	assert_failure 1
	assert_output --partial "Input/output error"
	[ ! -s "$FAKE_LOG" ]
}
