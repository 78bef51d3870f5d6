#!/usr/bin/env bats
# A real Linux guest (Debian 12 cloud kernel, busybox /init) on virtio-fs
# under plain QEMU: it holds a.txt open and reads through that descriptor
# every second (helpers/guest.bash).  QEMU saves it to a migration file
# while the file is open; vhost-state takes the back-end state out and
# decodes it; QEMU restores the guest into fresh virtiofsd instances.

load helpers/common
load helpers/peers
load helpers/qemu
load helpers/guest

# Boot the guest once for the file, let it read, and save it: $SAVED, with
# the last tick it printed in $SAVED.tick and its share in $SHARE.
save_running_guest() {
	local t0=$SECONDS
	guest_share share &&
		start_virtiofsd src --cache=never &&
		start_guest src "$VFS_SOCK" &&
		wait_console "$GUEST_CONSOLE" "guest: ready tag=$GUEST_TAG file=a.txt" 90 &&
		echo "guest ready after $((SECONDS - t0)) s ($(guest_accel))" &&
		wait_tick "$GUEST_CONSOLE" 0 OK OK 30 &&
		guest_save "$SAVED" &&
		last_tick "$GUEST_CONSOLE" >"$SAVED.tick" &&
		wait_exit "$VFS_PID"
}

setup_file() {
	virtiofsd_fetch
	guest_fetch
	SAVED=$BATS_FILE_TMPDIR/guest.mig
	SHARE=$BATS_FILE_TMPDIR/share
	export SAVED SHARE
	if [ -n "$VIRTIOFSD_ROOT" ] && [ -n "$GUEST_KERNEL" ] && command -v qemu-system-x86_64 >/dev/null; then
		BATS_TEST_TMPDIR=$BATS_FILE_TMPDIR
		save_running_guest >"$BATS_FILE_TMPDIR/save.out" 2>&1 || rm -f "$SAVED"
		vs_teardown
	fi
}

setup() {
	require_virtiofsd
	require_qemu
	require_guest
	[ -s "$SAVED" ] || {
		cat "$BATS_FILE_TMPDIR"/save.out "$BATS_FILE_TMPDIR"/src.qemu.log >&2
		false
	}
	SAVED_TICK=$(cat "$SAVED.tick")
}

teardown() {
	vs_teardown
}

@test "guest: the state saved while the guest holds a.txt open names its inode and an open handle on it" {
	run "$VHOST_STATE" extract --list "$SAVED"
	assert_success
	assert_line --regexp "^1  $GUEST_DEV  fs  [0-9]+ bytes in 1 chunk  at offset [0-9]+  sha256 [0-9a-f]{64}$"
	"$VHOST_STATE" -q extract "$SAVED" -o "$BATS_TEST_TMPDIR/state.vhs"
	run "$VHOST_STATE" inspect "$BATS_TEST_TMPDIR/state.vhs"
	assert_success
	assert_line --regexp '^decoded: +virtiofsd state V[12]: [0-9]+ inodes, [1-9][0-9]* handles?, next inode [0-9]+, next handle [0-9]+$'
	assert_line --regexp '^  inode 1: / \(root\) \(refcount [0-9]+\)$'
	assert_line --regexp '^  inode [0-9]+: a.txt \(refcount [1-9][0-9]*\)$'
	ino=$(printf '%s\n' "$output" | sed -n 's/^  inode \([0-9]*\): a\.txt .*/\1/p')
	assert_line --regexp "^  handle [0-9]+: inode $ino, open flags 0[0-7]*$"
	# the same through --json: a handle whose inode is a.txt's, opened read-only
	run --separate-stderr "$VHOST_STATE" inspect --json "$BATS_TEST_TMPDIR/state.vhs"
	assert_schema inspect
	assert_success
	echo "$output" | jq -e '.decoded as $h | [$h.inodes[] | select(.path == "a.txt" and .status == "path") | .id] as $a
		| ($a | length) == 1 and ([$h.handles[] | select(.inode == $a[0] and (.flags % 4) == 0)] | length) >= 1'
}

@test "guest: restored into a fresh virtiofsd, the guest keeps reading through its open descriptor" {
	VFS_SHARE_DIR=$SHARE start_virtiofsd dst --cache=never
	start_guest dst --incoming "$VFS_SOCK"
	guest_load "$SAVED"
	wait_tick "$GUEST_CONSOLE" "$SAVED_TICK" OK OK 30
	wait_tick "$GUEST_CONSOLE" "$tick_no" OK OK 10
	# the same guest carried on (no reboot), with the ticks following on
	run console_lines "$GUEST_CONSOLE"
	refute_line --partial "guest: ready"
	first=$(console_lines "$GUEST_CONSOLE" | sed -n 's/^tick \([0-9]*\) .*/\1/p' | head -n1)
	[ "$first" -gt "$SAVED_TICK" ]
	[ "$first" -le $((SAVED_TICK + 2)) ]
	refute_line --regexp 'fd=(EIO|ERR|BAD|EOF|ENOENT)'
	# the next save still holds the handle: the descriptor is open across both
	guest_save "$BATS_TEST_TMPDIR/again.mig"
	"$VHOST_STATE" -q extract "$BATS_TEST_TMPDIR/again.mig" -o "$BATS_TEST_TMPDIR/again.vhs"
	run --separate-stderr "$VHOST_STATE" inspect --json "$BATS_TEST_TMPDIR/again.vhs"
	assert_schema inspect
	echo "$output" | jq -e '.decoded as $h | [$h.inodes[] | select(.path == "a.txt") | .id] as $a
		| [$h.handles[] | select(.inode == $a[0])] | length >= 1'
}

@test "guest: with a.txt gone and --migration-on-error=guest-error the guest gets EIO on its descriptor; verify exits 2" {
	mkdir -p "$BATS_TEST_TMPDIR/gone"
	VFS_SHARE_DIR=$BATS_TEST_TMPDIR/gone start_virtiofsd dst --cache=never --migration-on-error=guest-error
	start_guest dst --incoming "$VFS_SOCK"
	guest_load "$SAVED"
	wait_tick "$GUEST_CONSOLE" "$SAVED_TICK" EIO ENOENT 30
	vs_teardown
	# vhost-state's pre-flight check sees the lost inode and handle ...
	"$VHOST_STATE" -q extract "$SAVED" -o "$BATS_TEST_TMPDIR/state.vhs"
	VFS_SHARE_DIR=$BATS_TEST_TMPDIR/gone start_virtiofsd v1 --migration-on-error=guest-error
	run "$VHOST_STATE" verify "$VFS_SOCK" "$BATS_TEST_TMPDIR/state.vhs"
	assert_failure 2
	# ... and passes the same state where a.txt is present (the control)
	VFS_SHARE_DIR=$SHARE start_virtiofsd v2 --migration-on-error=guest-error
	run "$VHOST_STATE" verify "$VFS_SOCK" "$BATS_TEST_TMPDIR/state.vhs"
	assert_success
}

@test "guest: with a.txt gone and virtiofsd's default (abort) the restore fails (negative control)" {
	mkdir -p "$BATS_TEST_TMPDIR/gone"
	VFS_SHARE_DIR=$BATS_TEST_TMPDIR/gone start_virtiofsd dst --cache=never
	local vlog=$VFS_LOG
	start_guest dst --incoming "$VFS_SOCK"
	run python3 "$QMP_PY" "$QEMU_QMP" incoming "$SAVED"
	assert_failure 1
	assert_output --partial "migration failed"
	grep -q "Failed to load state" "$vlog"
	[ "$(last_tick "$GUEST_CONSOLE")" = 0 ]
}
