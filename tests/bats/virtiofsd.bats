#!/usr/bin/env bats
# Dump, restore and verify against a real virtiofsd (fetched by
# tests/peers/fetch-trixie.sh).  Each test starts fresh instances: virtiofsd
# serves one front-end and exits when it leaves.

load helpers/common
load helpers/peers

# The idle state of virtiofsd 1.13.x: variant V2, no inodes, next inode 2,
# no handles, next handle 0, four false options, empty mount map.
IDLE_PAYLOAD=01000200000000000000
IDLE_STREAM=0000000a0100020000000000000000000000
# Not idle: next inode 5, next handle 7 — a fresh instance never has it.
BUSY_PAYLOAD=01000500070000000000
# One inode besides the root: a.txt by path (virtiofsd 1.13 postcard
# encoding: V2 | 2 inodes | root id 1 refcount 2 | id 2 refcount 1
# Path{parent 1, "a.txt"} | next inode 3 | no handles | next handle 0 |
# four false options | no mount paths).
ONE_FILE_PAYLOAD=0102010200000201010105612e747874000300000000000000

setup_file() {
	virtiofsd_fetch
}

setup() {
	require_virtiofsd
}

teardown() {
	vs_teardown
}

@test "virtiofsd: info shows DEVICE_STATE offered and negotiated, two queues, 509 slots" {
	start_virtiofsd a
	run "$VHOST_STATE" info "$VFS_SOCK"
	assert_success
	assert_line --regexp '^protocol offered: .*0x000000000008a42b .* DEVICE_STATE'
	assert_line --regexp '^protocol acked: .* REPLY_ACK .*DEVICE_STATE'
	assert_line --regexp '^queues: +2$'
	assert_line --regexp '^memory slots: +509$'
	assert_line --regexp '^device state: +supported'
}

@test "virtiofsd: info --json is one document with feature masks as hex and names" {
	start_virtiofsd a
	run --separate-stderr "$VHOST_STATE" info --json "$VFS_SOCK"
	assert_success
	echo "$output" | jq -e '.device_state == true and .queues == 2 and .memory_slots == 509'
	echo "$output" | jq -e '.protocol_features.offered.hex == "0x8a42b"'
	echo "$output" | jq -e '.protocol_features.acked.names | index("DEVICE_STATE")'
	echo "$output" | jq -e '.features.names | index("PROTOCOL_FEATURES")'
	echo "$output" | jq -e '.peer.pid > 0'
}

@test "virtiofsd: handshake follows QEMU's order and never resets the device" {
	start_virtiofsd a
	run "$VHOST_STATE" -v dump "$VFS_SOCK" -o "$BATS_TEST_TMPDIR/s.vhs"
	assert_success
	sent=$(echo "$output" | sed -n 's/^vhost-state: -> \([A-Z_]*\) .*/\1/p' | tr '\n' ' ')
	assert_equal "$sent" "GET_FEATURES GET_PROTOCOL_FEATURES SET_PROTOCOL_FEATURES GET_QUEUE_NUM GET_MAX_MEM_SLOTS SET_OWNER SET_DEVICE_STATE_FD CHECK_DEVICE_STATE "
	# acks only what we implement and it offered; no NEED_REPLY on the ack itself
	assert_line 'vhost-state: -> SET_PROTOCOL_FEATURES flags=0x1 size=8 fds=0 u64=0x88009'
	assert_line 'vhost-state: -> SET_DEVICE_STATE_FD flags=0x1 size=8 fds=1 direction=SAVE phase=STOPPED'
	refute_output --partial RESET
}

@test "virtiofsd: an idle instance dumps exactly QEMU's 18-byte stream" {
	[ "$(virtiofsd_version)" = "${VIRTIOFSD_ROOT##*/virtiofsd-}" ]
	case $(virtiofsd_version) in
	1.13.*) ;;
	*) skip "idle bytes pinned for virtiofsd 1.13.x, have $(virtiofsd_version)" ;;
	esac
	start_virtiofsd a
	run "$VHOST_STATE" dump "$VFS_SOCK" -o "$BATS_TEST_TMPDIR/idle.vhs"
	assert_success
	assert_output --partial "dumped 10 bytes of state (1 chunk)"
	assert_equal "$(hexof "$BATS_TEST_TMPDIR/idle.vhs")" "$IDLE_STREAM"
	# virtiofsd leaves when its only front-end does
	wait "$VFS_PID"
}

@test "virtiofsd: dump to stdout gives the same bytes as dump to a file" {
	start_virtiofsd a
	run "$VHOST_STATE" -q dump "$VFS_SOCK" -o "$BATS_TEST_TMPDIR/file.vhs"
	assert_success
	start_virtiofsd b
	"$VHOST_STATE" -q dump "$VFS_SOCK" >"$BATS_TEST_TMPDIR/stdout.vhs"
	start_virtiofsd c
	"$VHOST_STATE" -q dump "$VFS_SOCK" -o - >"$BATS_TEST_TMPDIR/dash.vhs"
	cmp "$BATS_TEST_TMPDIR/file.vhs" "$BATS_TEST_TMPDIR/stdout.vhs"
	cmp "$BATS_TEST_TMPDIR/file.vhs" "$BATS_TEST_TMPDIR/dash.vhs"
	[ "$(stat -c %s "$BATS_TEST_TMPDIR/file.vhs")" -gt 4 ]
}

@test "virtiofsd: a non-idle state restored into a fresh instance is held (verify 0), and differs from idle" {
	raw_stream "$BUSY_PAYLOAD" >"$BATS_TEST_TMPDIR/busy.vhs"
	# control: a fresh instance does not already hold it
	start_virtiofsd fresh
	"$VHOST_STATE" -q dump "$VFS_SOCK" -o "$BATS_TEST_TMPDIR/fresh.vhs"
	run cmp -s "$BATS_TEST_TMPDIR/fresh.vhs" "$BATS_TEST_TMPDIR/busy.vhs"
	assert_failure
	# restore: CHECK 0
	start_virtiofsd r
	run "$VHOST_STATE" restore "$VFS_SOCK" -i "$BATS_TEST_TMPDIR/busy.vhs"
	assert_success
	assert_output --partial "restored 10 bytes of state"
	# proof that it is held: load + re-dump on one connection is identical
	start_virtiofsd v
	run "$VHOST_STATE" verify "$VFS_SOCK" "$BATS_TEST_TMPDIR/busy.vhs"
	assert_success
	assert_output --partial "holds the 10-byte state"
}

@test "virtiofsd: a state holding an inode for a.txt is kept when a.txt exists (verify 0)" {
	raw_stream "$ONE_FILE_PAYLOAD" >"$BATS_TEST_TMPDIR/one.vhs"
	[ "$(stat -c %s "$BATS_TEST_TMPDIR/one.vhs")" -eq 33 ]
	VFS_SHARE_DIR=$BATS_TEST_TMPDIR/share
	mkdir -p "$VFS_SHARE_DIR" && echo hello >"$VFS_SHARE_DIR/a.txt"
	start_virtiofsd a --migration-on-error=guest-error
	run "$VHOST_STATE" verify "$VFS_SOCK" "$BATS_TEST_TMPDIR/one.vhs"
	assert_success
	assert_output --partial "holds the 25-byte state"
}

@test "virtiofsd: verify exits 2 when the state names a file missing from the shared dir (guest-error)" {
	# CHECK says 0 — the load "succeeds" — but the inode is lost: only
	# the re-dump shows it.  This is what verify exists for.
	raw_stream "$ONE_FILE_PAYLOAD" >"$BATS_TEST_TMPDIR/one.vhs"
	start_virtiofsd a --migration-on-error=guest-error
	run "$VHOST_STATE" restore "$VFS_SOCK" -i "$BATS_TEST_TMPDIR/one.vhs"
	assert_success
	start_virtiofsd b --migration-on-error=guest-error
	run "$VHOST_STATE" verify "$VFS_SOCK" "$BATS_TEST_TMPDIR/one.vhs"
	assert_failure 2
	assert_output --partial "holds a different state"
	assert_output --regexp "file 25 bytes, back-end [0-9]+ bytes"
	grep -q "No such file or directory" "$VFS_LOG"
}

@test "virtiofsd: restore of a state naming a missing file exits 1 by default, CHECK's value shown" {
	raw_stream "$ONE_FILE_PAYLOAD" >"$BATS_TEST_TMPDIR/one.vhs"
	start_virtiofsd a
	run "$VHOST_STATE" restore "$VFS_SOCK" -i "$BATS_TEST_TMPDIR/one.vhs"
	assert_failure 1
	assert_output --partial "CHECK_DEVICE_STATE returned 1 after LOAD"
	grep -q "a.txt: No such file or directory" "$VFS_LOG"
}

@test "virtiofsd: verify ignores framing but not payload: trailing payload bytes are lost (exit 2)" {
	# The idle stream framed as 1-byte chunks loads, but re-dumps as one
	# chunk: verify compares payloads, so that alone must NOT differ ...
	raw_stream 01 00 02 00 00 00 00 00 00 00 >"$BATS_TEST_TMPDIR/bytewise.vhs"
	start_virtiofsd a
	run "$VHOST_STATE" verify "$VFS_SOCK" "$BATS_TEST_TMPDIR/bytewise.vhs"
	assert_success
	# ... while trailing payload bytes, which virtiofsd ignores on load,
	# are gone on re-dump: a different state.
	raw_stream "${BUSY_PAYLOAD}ffff" >"$BATS_TEST_TMPDIR/trailing.vhs"
	start_virtiofsd b
	run "$VHOST_STATE" verify "$VFS_SOCK" "$BATS_TEST_TMPDIR/trailing.vhs"
	assert_equal "$status" 2
	assert_output --partial "differ at offset 10 (file 12 bytes, back-end 10 bytes)"
}

@test "virtiofsd: restore of a bad state exits 1 and shows CHECK's value" {
	raw_stream 67617262 >"$BATS_TEST_TMPDIR/bad.vhs"
	start_virtiofsd a
	run "$VHOST_STATE" restore "$VFS_SOCK" -i "$BATS_TEST_TMPDIR/bad.vhs"
	assert_failure 1
	assert_output --partial "CHECK_DEVICE_STATE returned 1 after LOAD"
	# the reason is only in virtiofsd's own log
	grep -q "Failed to load state" "$VFS_LOG"
}

@test "virtiofsd: restore from a stdin pipe is spooled and loads" {
	start_virtiofsd a
	run bash -c "'$BATS_TEST_DIRNAME/helpers/emit.sh' $BUSY_PAYLOAD | '$VHOST_STATE' verify '$VFS_SOCK' -"
	assert_success
}

@test "virtiofsd: trailing bytes after the terminator exit 65 and the back-end is never contacted" {
	{ raw_stream "$BUSY_PAYLOAD"; printf 'x'; } >"$BATS_TEST_TMPDIR/trail.vhs"
	start_virtiofsd a
	run "$VHOST_STATE" -v restore "$VFS_SOCK" -i "$BATS_TEST_TMPDIR/trail.vhs"
	assert_failure 65
	assert_output --partial "trailing data at offset 18"
	refute_output --partial SET_DEVICE_STATE_FD
	# still listening, untouched: a dump of it is the idle state
	run "$VHOST_STATE" -q dump "$VFS_SOCK" -o "$BATS_TEST_TMPDIR/after.vhs"
	assert_success
	run cmp "$BATS_TEST_TMPDIR/after.vhs" "$BATS_TEST_TMPDIR/trail.vhs"
	assert_failure
}

@test "virtiofsd: a stream without terminator exits 65 and the back-end is never contacted" {
	raw_stream "$BUSY_PAYLOAD" | head -c 14 >"$BATS_TEST_TMPDIR/cut.vhs"
	start_virtiofsd a
	run "$VHOST_STATE" -v verify "$VFS_SOCK" "$BATS_TEST_TMPDIR/cut.vhs"
	assert_failure 65
	assert_output --partial "ends at offset 14 without the terminating zero-length chunk"
	refute_output --partial GET_FEATURES
	grep -q "Waiting for vhost-user socket connection" "$VFS_LOG"
	run grep -q "Client connected" "$VFS_LOG"
	assert_failure
}

@test "virtiofsd: dump --format archive records identity; it restores and verifies in fresh instances" {
	start_virtiofsd a
	run "$VHOST_STATE" dump --format archive --zstd "$VFS_SOCK" -o "$BATS_TEST_TMPDIR/s.bin"
	assert_success
	run --separate-stderr "$VHOST_STATE" inspect --json "$BATS_TEST_TMPDIR/s.bin"
	echo "$output" | jq -e '.format == "archive+zstd" and .kind == "fs" and .digest_checked'
	echo "$output" | jq -e '.manifest.backend.peer.name == "virtiofsd"'
	echo "$output" | jq -e '.manifest.backend.protocol_features.offered.hex == "0x8a42b"'
	start_virtiofsd b
	run "$VHOST_STATE" restore "$VFS_SOCK" -i "$BATS_TEST_TMPDIR/s.bin"
	assert_success
	start_virtiofsd c
	run "$VHOST_STATE" verify "$VFS_SOCK" "$BATS_TEST_TMPDIR/s.bin"
	assert_success
}

@test "virtiofsd: a populated state round-trips through an archive; inspect and diff read it" {
	raw_stream 0102010200000201010105612e74787400030101020004020000000000 >"$BATS_TEST_TMPDIR/open.vhs"
	"$VHOST_STATE" -q convert "$BATS_TEST_TMPDIR/open.vhs" "$BATS_TEST_TMPDIR/open.vhsnap.zst"
	VFS_SHARE_DIR=$BATS_TEST_TMPDIR/share
	mkdir -p "$VFS_SHARE_DIR" && echo hello >"$VFS_SHARE_DIR/a.txt"
	# the archive loads, and the back-end gives back exactly its payload
	start_virtiofsd a
	run --separate-stderr "$VHOST_STATE" verify --json "$VFS_SOCK" "$BATS_TEST_TMPDIR/open.vhsnap.zst"
	assert_success
	echo "$output" | jq -e '.same == true and .backend_payload_bytes == 29 and .first_difference == null'
	run "$VHOST_STATE" inspect "$BATS_TEST_TMPDIR/open.vhsnap.zst"
	assert_line "  inode 2: a.txt (refcount 1)"
	assert_line "  handle 1: inode 2, open flags 02"
	# the idle state differs from it exactly by the inode and the handle
	start_virtiofsd d
	"$VHOST_STATE" -q dump "$VFS_SOCK" -o "$BATS_TEST_TMPDIR/idle.vhsnap"
	run "$VHOST_STATE" diff "$BATS_TEST_TMPDIR/idle.vhsnap" "$BATS_TEST_TMPDIR/open.vhsnap.zst"
	assert_failure 2
	assert_line "  inode 2: (absent) -> a.txt (refcount 1)"
	assert_line "  handle 1: (absent) -> inode 2, flags 02"
}

@test "virtiofsd: a net (passt) state is refused by restore and verify before connecting; the instance stays usable; -f loads it" {
	raw_stream b1bb1d1b0bb1d1b0000000020000000200000000 >"$BATS_TEST_TMPDIR/net.vhs"
	start_virtiofsd a
	run "$VHOST_STATE" -v restore "$VFS_SOCK" -i "$BATS_TEST_TMPDIR/net.vhs"
	assert_failure 1
	assert_output --partial "the state is a net state but $VFS_SOCK is a fs back-end (virtiofsd, pid $VFS_PID): refused before connecting, the back-end is untouched (-f loads it anyway)"
	# not even GET_FEATURES: nothing was said to it
	refute_output --partial GET_FEATURES
	# verify loads the file too: the same check, as early
	run "$VHOST_STATE" -v verify "$VFS_SOCK" "$BATS_TEST_TMPDIR/net.vhs"
	assert_failure 1
	assert_output --partial "vhost-state: verify: the state is a net state but $VFS_SOCK is a fs back-end (virtiofsd, pid $VFS_PID): refused before connecting"
	refute_output --partial GET_FEATURES
	# the same instance still serves a front-end: the refusals cost nothing
	kill -0 "$VFS_PID"
	run "$VHOST_STATE" dump "$VFS_SOCK" -o "$BATS_TEST_TMPDIR/after.vhs"
	assert_success
	run "$VHOST_STATE" inspect --json "$BATS_TEST_TMPDIR/after.vhs"
	echo "$output" | jq -e '.kind == "fs"'
	start_virtiofsd b
	run "$VHOST_STATE" -f restore "$VFS_SOCK" -i "$BATS_TEST_TMPDIR/net.vhs"
	assert_failure 1
	assert_output --partial "CHECK_DEVICE_STATE returned 1 after LOAD"
}

@test "virtiofsd: a listener not visible before connecting is checked after (exit 1, the message says it was consumed)" {
	unshare -U -r -n true 2>/dev/null || skip "no user and network namespaces here (unshare -U -r -n)"
	raw_stream b1bb1d1b0bb1d1b0000000020000000200000000 >"$BATS_TEST_TMPDIR/net.vhs"
	# in its own network namespace, its socket is not in our /proc/net/unix
	VFS_EXEC="unshare -U -r -n" start_virtiofsd a
	run "$VHOST_STATE" info --no-connect "$VFS_SOCK"
	assert_failure 69
	assert_output --partial "or a back-end in another network namespace"
	run "$VHOST_STATE" -v restore "$VFS_SOCK" -i "$BATS_TEST_TMPDIR/net.vhs"
	assert_failure 1
	assert_output --partial "the state is a net state but $VFS_SOCK is a fs back-end (virtiofsd, pid $VFS_PID): nothing was sent, but connecting consumed it"
	assert_output --partial "use a fresh instance of a net back-end (-f loads it anyway)"
	refute_output --partial SET_DEVICE_STATE_FD
	wait "$VFS_PID"
}

@test "virtiofsd: info --no-connect names it (fs) and leaves it untouched" {
	start_virtiofsd a
	run --separate-stderr "$VHOST_STATE" info --no-connect --json "$VFS_SOCK"
	assert_success
	assert_schema info-no-connect
	echo "$output" | jq -e --argjson pid "$VFS_PID" '.kind == "fs" and .owner.pid == $pid and .owner.name == "virtiofsd" and (.owner.cmdline | test("--socket-path="))'
	# run through trixie's loader: exe is the loader, the name is not
	echo "$output" | jq -e '.owner.exe | test("ld-linux")'
	run "$VHOST_STATE" info --no-connect "$VFS_SOCK"
	assert_success
	assert_line --regexp "^owner: +pid $VFS_PID: .*virtiofsd --socket-path="
	assert_line --regexp '^kind: +fs$'
	kill -0 "$VFS_PID"
	run "$VHOST_STATE" dump "$VFS_SOCK" -o "$BATS_TEST_TMPDIR/after.vhs"
	assert_success
	# negative control: a plain info consumes it
	start_virtiofsd b
	run "$VHOST_STATE" info "$VFS_SOCK"
	assert_success
	wait "$VFS_PID"
}

@test "virtiofsd: SOURCE_DATE_EPOCH: two dumps of the same state are byte-identical archives" {
	export SOURCE_DATE_EPOCH=1700000000
	VFS_SHARE_DIR=$BATS_TEST_TMPDIR/share
	for i in 1 2; do
		start_virtiofsd same
		"$VHOST_STATE" -q dump "$VFS_SOCK" -o "$BATS_TEST_TMPDIR/$i.vhsnap"
		wait "$VFS_PID" || true
	done
	cmp "$BATS_TEST_TMPDIR/1.vhsnap" "$BATS_TEST_TMPDIR/2.vhsnap"
}
