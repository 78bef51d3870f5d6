#!/usr/bin/env bats
# preflight on the state of a real Linux guest (helpers/guest.bash: it holds
# a.txt open and reads it every second), saved by QEMU to a migration file:
# preflight's verdict against QEMU's own restore of that file into a fresh
# virtiofsd, in abort mode (the load fails or not) and in guest-error mode
# (the guest's descriptor reads EIO or not).

load helpers/common
load helpers/peers
load helpers/qemu
load helpers/guest

setup_file() {
	virtiofsd_fetch
	guest_fetch
	SAVED=$BATS_FILE_TMPDIR/guest.mig
	SHARE=$BATS_FILE_TMPDIR/share
	export SAVED SHARE
	if [ -n "$VIRTIOFSD_ROOT" ] && [ -n "$GUEST_KERNEL" ] && command -v qemu-system-x86_64 >/dev/null; then
		BATS_TEST_TMPDIR=$BATS_FILE_TMPDIR
		{
			guest_share share &&
				start_virtiofsd src --cache=never &&
				start_guest src "$VFS_SOCK" &&
				wait_console "$GUEST_CONSOLE" "guest: ready tag=$GUEST_TAG file=a.txt" 90 &&
				wait_tick "$GUEST_CONSOLE" 0 OK OK 30 &&
				guest_save "$SAVED" &&
				last_tick "$GUEST_CONSOLE" >"$SAVED.tick" &&
				wait_exit "$VFS_PID"
		} >"$BATS_FILE_TMPDIR/save.out" 2>&1 || rm -f "$SAVED"
		vs_teardown
	fi
}

setup() {
	require_virtiofsd
	require_qemu
	require_guest
	[ -s "$SAVED" ] || {
		cat "$BATS_FILE_TMPDIR"/save.out >&2
		false
	}
	SAVED_TICK=$(cat "$SAVED.tick")
}

teardown() {
	vs_teardown
}

# pf DIR [options] — preflight of the guest's migration file on DIR.
pf() {
	local dir=$1
	shift
	run "$VHOST_STATE" preflight "$SAVED" --device "$GUEST_DEV" --shared-dir "$dir" --json "$@"
	PF_RC=$status
	PF_JSON=$output
	assert_schema preflight
}

# a.txt's inode in the guest's state
a_inode() {
	"$VHOST_STATE" inspect --json "$BATS_TEST_TMPDIR/state.vhs" |
		jq -r '.hints.inodes[] | select(.path == "a.txt") | .id'
}

@test "preflight-guest: the guest's share as it was: preflight says it restores, and QEMU restores it (the guest keeps reading)" {
	pf "$SHARE"
	assert_equal "$PF_RC" 0
	jq -e '.verdict == "restores" and .handles.total >= 1' <<<"$PF_JSON"
	VFS_SHARE_DIR=$SHARE start_virtiofsd dst --cache=never
	start_guest dst --incoming "$VFS_SOCK"
	guest_load "$SAVED"
	wait_tick "$GUEST_CONSOLE" "$SAVED_TICK" OK OK 30
}

@test "preflight-guest: a.txt gone, abort: preflight fails at a.txt's inode first, and QEMU's load fails on it" {
	"$VHOST_STATE" -q extract "$SAVED" --device "$GUEST_DEV" -o "$BATS_TEST_TMPDIR/state.vhs"
	ino=$(a_inode)
	mkdir -p "$BATS_TEST_TMPDIR/gone"
	pf "$BATS_TEST_TMPDIR/gone"
	assert_equal "$PF_RC" 2
	assert_equal "$(jq -r '.problems[0] | "\(.object) \(.id) \(.path) \(.status)"' <<<"$PF_JSON")" "inode $ino a.txt missing"
	VFS_SHARE_DIR=$BATS_TEST_TMPDIR/gone start_virtiofsd dst --cache=never
	local vlog=$VFS_LOG
	start_guest dst --incoming "$VFS_SOCK"
	run python3 "$QMP_PY" "$QEMU_QMP" incoming "$SAVED"
	assert_failure 1
	grep -q "Failed to load state: Inode $ino: " "$vlog"
}

@test "preflight-guest: a.txt gone, guest-error: preflight lists a.txt and its handle; the restored guest reads EIO through its descriptor" {
	"$VHOST_STATE" -q extract "$SAVED" --device "$GUEST_DEV" -o "$BATS_TEST_TMPDIR/state.vhs"
	ino=$(a_inode)
	mkdir -p "$BATS_TEST_TMPDIR/gone"
	pf "$BATS_TEST_TMPDIR/gone" --migration-on-error guest-error
	assert_equal "$PF_RC" 0
	jq -e --argjson i "$ino" '.verdict == "restores-with-errors"
		and ([.problems[] | select(.object == "inode")] | map(.id) == [$i])
		and ([.problems[] | select(.object == "handle")] | length >= 1 and all(.inode == $i))' <<<"$PF_JSON"
	VFS_SHARE_DIR=$BATS_TEST_TMPDIR/gone start_virtiofsd dst --cache=never --migration-on-error=guest-error
	start_guest dst --incoming "$VFS_SOCK"
	guest_load "$SAVED"
	wait_tick "$GUEST_CONSOLE" "$SAVED_TICK" EIO ENOENT 30
}
