#!/usr/bin/env bats
# QEMU migration files: extract, inject and inspect, against real QEMU 10
# and virtiofsd.  QEMU writes and reads the files (migrate to file:,
# migrate-incoming); vhost-state takes states out and puts others in.

load helpers/common
load helpers/peers
load helpers/qemu
load helpers/fuse

# virtiofsd 1.13 states (see virtiofsd.bats)
IDLE=01000200000000000000
BUSY=01000500070000000000
ONE_FILE=0102010200000201010105612e747874000300000000000000
DEV4=0000:00:04.0/vhost-user-fs
DEV5=0000:00:05.0/vhost-user-fs

setup_file() {
	virtiofsd_fetch
	# The base file: QEMU with two idle vhost-user-fs devices (slots 4, 5),
	# saved once for the whole file.
	BASE=$BATS_FILE_TMPDIR/base.mig
	export BASE
	if [ -n "$VIRTIOFSD_ROOT" ] && command -v qemu-system-x86_64 >/dev/null; then
		BATS_TEST_TMPDIR=$BATS_FILE_TMPDIR
		start_virtiofsd base4
		local s4=$VFS_SOCK
		start_virtiofsd base5
		# shellcheck disable=SC2046
		start_qemu base $(vfs_dev 4 "$s4") $(vfs_dev 5 "$VFS_SOCK")
		qemu_save "$BASE" || rm -f "$BASE"
		vs_teardown
	fi
}

setup() {
	require_virtiofsd
	require_qemu
	[ -s "$BASE" ] || { cat "$BATS_FILE_TMPDIR"/base.qemu.log >&2; false; }
}

teardown() {
	vs_teardown
}

# load_and_resave IN OUT SHARE4 SHARE5 — fresh virtiofsd instances on the
# two shares, a QEMU that loads IN (must complete), then saves to OUT.
load_and_resave() {
	local in=$1 out=$2 s4
	VFS_SHARE_DIR=$3 start_virtiofsd load4
	s4=$VFS_SOCK
	VFS_SHARE_DIR=$4 start_virtiofsd load5
	# shellcheck disable=SC2046
	start_qemu load --incoming $(vfs_dev 4 "$s4") $(vfs_dev 5 "$VFS_SOCK")
	qemu_load "$in"
	qemu_save "$out"
}

@test "qemu: extract --list finds both vhost-user-fs back-ends with QEMU's 18-byte idle streams" {
	run "$VHOST_STATE" extract --list "$BASE"
	assert_success
	assert_line --regexp "^1  $DEV4  fs  10 bytes in 1 chunk  at offset [0-9]+  sha256 [0-9a-f]{64}$"
	assert_line --regexp "^2  $DEV5  fs  10 bytes in 1 chunk  at offset [0-9]+  sha256 [0-9a-f]{64}$"
	run --separate-stderr "$VHOST_STATE" extract --list --json "$BASE"
	assert_success
	assert_schema extract
	echo "$output" | jq -e --arg f "$BASE" '.file == $f and (.states | length) == 2 and .states[0].stream_bytes == 18 and .states[1].described_field_size == 18'
	sha=$(echo "$output" | jq -r .states[1].sha256)
	run --separate-stderr "$VHOST_STATE" extract --json "$BASE" --device 0000:00:05.0 -o "$BATS_TEST_TMPDIR/idle.vhs"
	assert_success
	assert_schema extract
	echo "$output" | jq -e --arg d "$DEV5" --arg s "$sha" '.device == $d and .index == 2 and .payload_bytes == 10 and .chunks == 1 and .sha256 == $s and .format == "raw"'
	assert_equal "$(hexof "$BATS_TEST_TMPDIR/idle.vhs")" "0000000a${IDLE}00000000"
	# several states and no --device: a usage error naming them
	run "$VHOST_STATE" extract "$BASE" -o "$BATS_TEST_TMPDIR/x.vhs"
	assert_failure 64
	assert_output --partial "holds 2 back-end states (1: $DEV4, 2: $DEV5); choose one with --device"
	[ ! -e "$BATS_TEST_TMPDIR/x.vhs" ]
	run "$VHOST_STATE" extract "$BASE" --device 0000:00:09.0 -o "$BATS_TEST_TMPDIR/x.vhs"
	assert_failure 64
	assert_output --partial "no back-end state for device '0000:00:09.0'"
}

@test "qemu: inject of an extracted state gives back the migration file byte for byte" {
	"$VHOST_STATE" -q extract "$BASE" --device 1 -o "$BATS_TEST_TMPDIR/s.vhsnap"
	run "$VHOST_STATE" inject "$BASE" "$BATS_TEST_TMPDIR/s.vhsnap" --device 1 -o "$BATS_TEST_TMPDIR/same.mig"
	assert_success
	cmp "$BASE" "$BATS_TEST_TMPDIR/same.mig"
}

@test "qemu: two devices holding different states: QEMU loads them, saves them, extract gives each exactly; restore works" {
	raw_stream "$BUSY" >"$BATS_TEST_TMPDIR/busy.vhs"
	raw_stream "$ONE_FILE" >"$BATS_TEST_TMPDIR/one.vhs"
	mkdir -p "$BATS_TEST_TMPDIR/s4" "$BATS_TEST_TMPDIR/s5"
	echo hello >"$BATS_TEST_TMPDIR/s5/a.txt"
	"$VHOST_STATE" -q inject "$BASE" "$BATS_TEST_TMPDIR/busy.vhs" --device 0000:00:04.0 -o "$BATS_TEST_TMPDIR/a.mig"
	"$VHOST_STATE" -q inject "$BATS_TEST_TMPDIR/a.mig" "$BATS_TEST_TMPDIR/one.vhs" --device "$DEV5" -o "$BATS_TEST_TMPDIR/b.mig"
	# QEMU puts them into two fresh virtiofsd instances and takes them out again
	load_and_resave "$BATS_TEST_TMPDIR/b.mig" "$BATS_TEST_TMPDIR/out.mig" "$BATS_TEST_TMPDIR/s4" "$BATS_TEST_TMPDIR/s5"
	run "$VHOST_STATE" extract --list "$BATS_TEST_TMPDIR/out.mig"
	assert_success
	assert_line --regexp "^1  $DEV4  fs  10 bytes in 1 chunk "
	assert_line --regexp "^2  $DEV5  fs  25 bytes in 1 chunk "
	"$VHOST_STATE" -q extract "$BATS_TEST_TMPDIR/out.mig" --device 0000:00:04.0 -o "$BATS_TEST_TMPDIR/x4.vhs"
	"$VHOST_STATE" -q extract "$BATS_TEST_TMPDIR/out.mig" --device "$DEV5" -o "$BATS_TEST_TMPDIR/x5.vhsnap"
	# cross-check: direct dumps of instances prepared the same way
	VFS_SHARE_DIR=$BATS_TEST_TMPDIR/s4 start_virtiofsd d4
	"$VHOST_STATE" -q run "$VFS_SOCK" load "$BATS_TEST_TMPDIR/busy.vhs" save "$BATS_TEST_TMPDIR/d4.vhs"
	VFS_SHARE_DIR=$BATS_TEST_TMPDIR/s5 start_virtiofsd d5
	"$VHOST_STATE" -q run "$VFS_SOCK" load "$BATS_TEST_TMPDIR/one.vhs" save "$BATS_TEST_TMPDIR/d5.vhs"
	cmp "$BATS_TEST_TMPDIR/x4.vhs" "$BATS_TEST_TMPDIR/d4.vhs"
	"$VHOST_STATE" -q convert "$BATS_TEST_TMPDIR/x5.vhsnap" "$BATS_TEST_TMPDIR/x5.vhs"
	cmp "$BATS_TEST_TMPDIR/x5.vhs" "$BATS_TEST_TMPDIR/d5.vhs"
	assert_equal "$(hexof "$BATS_TEST_TMPDIR/x5.vhs")" "00000019${ONE_FILE}00000000"
	# the archive says where it came from
	tar xOf "$BATS_TEST_TMPDIR/x5.vhsnap" manifest.json |
		jq -e --arg d "$DEV5" '.payload.kind == "fs" and .backend.device == $d and .backend.source == "qemu-migration-file"'
	# each restores into a fresh virtiofsd, and is held there
	VFS_SHARE_DIR=$BATS_TEST_TMPDIR/s4 start_virtiofsd r4
	run "$VHOST_STATE" restore "$VFS_SOCK" -i "$BATS_TEST_TMPDIR/x4.vhs"
	assert_success
	VFS_SHARE_DIR=$BATS_TEST_TMPDIR/s5 start_virtiofsd r5 --migration-on-error=guest-error
	run "$VHOST_STATE" verify "$VFS_SOCK" "$BATS_TEST_TMPDIR/x5.vhsnap"
	assert_success
}

@test "qemu: a populated state (virtio-fs test client) injected, loaded by QEMU, saved again: the same payload comes out" {
	[ -x "$(fuse_client_path)" ] || skip "tests/fuse-client not built (make check builds it)"
	populate pop "$BATS_TEST_TMPDIR/pop.vhs"
	run "$VHOST_STATE" inspect "$BATS_TEST_TMPDIR/pop.vhs"
	assert_line --partial "3 inodes, 2 handles"
	run --separate-stderr "$VHOST_STATE" inject --json "$BASE" "$BATS_TEST_TMPDIR/pop.vhs" --device "$DEV4" -o "$BATS_TEST_TMPDIR/pop.mig"
	assert_success
	assert_schema inject
	echo "$output" | jq -e --arg d "$DEV4" '.device == $d and .kind == "fs" and .chunks == 1 and .replaced.payload_bytes == 10 and .index == 1'
	# the description follows the new size
	run --separate-stderr "$VHOST_STATE" extract --list --json "$BATS_TEST_TMPDIR/pop.mig"
	size=$(stat -c %s "$BATS_TEST_TMPDIR/pop.vhs")
	assert_schema extract
	echo "$output" | jq -e --argjson s "$size" '.states[0].stream_bytes == $s and .states[0].described_field_size == $s'
	mkdir -p "$BATS_TEST_TMPDIR/empty"
	load_and_resave "$BATS_TEST_TMPDIR/pop.mig" "$BATS_TEST_TMPDIR/again.mig" "$VFS_SHARE_DIR" "$BATS_TEST_TMPDIR/empty"
	"$VHOST_STATE" -q extract "$BATS_TEST_TMPDIR/again.mig" --device 1 -o "$BATS_TEST_TMPDIR/again.vhs"
	run "$VHOST_STATE" diff "$BATS_TEST_TMPDIR/pop.vhs" "$BATS_TEST_TMPDIR/again.vhs"
	assert_success
	cmp "$BATS_TEST_TMPDIR/pop.vhs" "$BATS_TEST_TMPDIR/again.vhs"
}

@test "qemu: a corrupt injected state makes QEMU's load fail (negative control)" {
	printf 'garb' >"$BATS_TEST_TMPDIR/garb.bin"
	raw_stream "$(xxd -p "$BATS_TEST_TMPDIR/garb.bin")" >"$BATS_TEST_TMPDIR/garb.vhs"
	"$VHOST_STATE" -q inject "$BASE" "$BATS_TEST_TMPDIR/garb.vhs" --device 1 -o "$BATS_TEST_TMPDIR/bad.mig"
	mkdir -p "$BATS_TEST_TMPDIR/e4" "$BATS_TEST_TMPDIR/e5"
	VFS_SHARE_DIR=$BATS_TEST_TMPDIR/e4 start_virtiofsd n4
	local s4=$VFS_SOCK log4=$VFS_LOG
	VFS_SHARE_DIR=$BATS_TEST_TMPDIR/e5 start_virtiofsd n5
	# shellcheck disable=SC2046
	start_qemu neg --incoming $(vfs_dev 4 "$s4") $(vfs_dev 5 "$VFS_SOCK")
	run qemu_load "$BATS_TEST_TMPDIR/bad.mig"
	assert_failure 1
	assert_output --partial "migration failed"
	grep -q "Failed to load state" "$log4"
	qemu_quit
	# the same file with a good state loads (the control is the state)
	"$VHOST_STATE" -q inject -f "$BATS_TEST_TMPDIR/bad.mig" <(raw_stream "$BUSY") --device 1 -o "$BATS_TEST_TMPDIR/good.mig"
	VFS_SHARE_DIR=$BATS_TEST_TMPDIR/e4 start_virtiofsd g4
	s4=$VFS_SOCK
	VFS_SHARE_DIR=$BATS_TEST_TMPDIR/e5 start_virtiofsd g5
	# shellcheck disable=SC2046
	start_qemu good --incoming $(vfs_dev 4 "$s4") $(vfs_dev 5 "$VFS_SOCK")
	qemu_load "$BATS_TEST_TMPDIR/good.mig"
	qemu_quit
}

@test "qemu: inspect describes a migration file: machine, RAM, devices carrying state, sizes" {
	run "$VHOST_STATE" inspect "$BASE"
	assert_success
	assert_line --regexp '^format: +QEMU migration stream, version 3 \(machine pc-q35-[0-9.]+, page size 4096\)$'
	assert_line --regexp '^devices: +[0-9]+ device sections, 2 with vhost-user back-end state$'
	assert_line --regexp "^state 1: +$DEV4 \(fs\): 10 bytes in 1 chunk; stream 18 bytes at offset [0-9]+; sha256 "
	run "$VHOST_STATE" -v inspect "$BASE"
	assert_line --regexp "^  section [0-9]+ at offset [0-9]+: $DEV5 \(instance 0, version 0\), [0-9]+ bytes, back-end state$"
	assert_line --regexp '^  section [0-9]+ at offset 24: ram \(instance 0, version 4\)$'
	run --separate-stderr "$VHOST_STATE" inspect --json "$BASE"
	assert_success
	assert_schema inspect
	echo "$output" | jq -e '.format == "qemu-migration" and .page_size == 4096 and (.states | length) == 2'
	echo "$output" | jq -e '.ram.bytes >= 134217728 and .section_footers == true'
	echo "$output" | jq -e '[.sections[] | select(.backend_state)] | length == 2'
	# other verbs refuse it, pointing at extract
	run "$VHOST_STATE" restore /nonexistent.sock -i "$BASE"
	assert_failure 65
	assert_output --partial "vhost-state extract MIGFILE"
}

@test "qemu: a file cut anywhere exits 65 naming the offset, never crashes or reads past the end" {
	size=$(stat -c %s "$BASE")
	state_at=$(json_result inspect inspect --json "$BASE" | jq '.states[0].offset')
	for cut in 0 3 7 8 12 30 200 5000 300000 $((state_at - 1)) $((state_at + 2)) $((state_at + 9)) \
		$((size - 100)) $((size - 1)); do
		head -c "$cut" "$BASE" >"$BATS_TEST_TMPDIR/cut.mig"
		run "$VHOST_STATE" extract --list "$BATS_TEST_TMPDIR/cut.mig"
		assert_failure 65
		assert_output --partial "malformed migration file at offset"
	done
	# the header alone: what is missing is said
	printf 'QEVM\0\0' >"$BATS_TEST_TMPDIR/short.mig"
	run "$VHOST_STATE" inspect "$BATS_TEST_TMPDIR/short.mig"
	assert_failure 65
	assert_output --partial "the file version needs 4 bytes, but only 2 are left before the end of the file"
}

# patch FILE OFFSET HEX — overwrite bytes in place
patch() {
	printf '%s' "$3" | xxd -r -p | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

@test "qemu: a state whose size disagrees with the VM description exits 65 with both sizes" {
	cp "$BASE" "$BATS_TEST_TMPDIR/m.mig"
	desc=$(json_result inspect inspect --json "$BASE" | jq '.vm_description.offset')
	# the first back-end field's "size": 18 becomes 19 (same length)
	off=$(grep -abo '"type": "virtio-fs back-end state", "size": 18' "$BATS_TEST_TMPDIR/m.mig" | head -n1 | cut -d: -f1)
	[ "$off" -gt "$desc" ]
	patch "$BATS_TEST_TMPDIR/m.mig" $((off + 45)) 39
	run "$VHOST_STATE" extract --list "$BATS_TEST_TMPDIR/m.mig"
	assert_failure 65
	assert_output --regexp "offset [0-9]+: the back-end state of $DEV4 is a 18-byte chunk list, but the VM description says field 'back-end' is 19 bytes"
}

@test "qemu: unknown section types, foreign iterative sections, bad footers and lengths past the end exit 65" {
	# the ram section's name "ram" at offset 14 (after magic, version,
	# configuration): another iterative section is not understood
	cfg=$(( $(xxd -s 9 -l 4 -p "$BASE" | sed 's/^/0x/') ))
	start=$((8 + 1 + 4 + cfg))
	cp "$BASE" "$BATS_TEST_TMPDIR/a.mig"
	patch "$BATS_TEST_TMPDIR/a.mig" $((start + 6)) 726178 # "rax"
	run "$VHOST_STATE" extract --list "$BATS_TEST_TMPDIR/a.mig"
	assert_failure 65
	assert_output --partial "offset $start: iterative section 'rax': only the 'ram' section is understood"
	cp "$BASE" "$BATS_TEST_TMPDIR/b.mig"
	patch "$BATS_TEST_TMPDIR/b.mig" "$start" 09
	run "$VHOST_STATE" extract --list "$BATS_TEST_TMPDIR/b.mig"
	assert_failure 65
	assert_output --partial "offset $start: unknown section type 0x09"
	# the device section's footer names another section
	sec=$(json_result inspect inspect --json "$BASE" | jq '.sections[] | select(.name == "'$DEV4'")')
	foot=$(( $(echo "$sec" | jq '.offset + .length') - 4 ))
	cp "$BASE" "$BATS_TEST_TMPDIR/c.mig"
	patch "$BATS_TEST_TMPDIR/c.mig" "$foot" 0000ffff
	run "$VHOST_STATE" extract --list "$BATS_TEST_TMPDIR/c.mig"
	assert_failure 65
	assert_output --partial "the footer names section 65535"
	# a chunk length pointing past the end
	at=$(json_result inspect inspect --json "$BASE" | jq '.states[1].offset')
	cp "$BASE" "$BATS_TEST_TMPDIR/d.mig"
	patch "$BATS_TEST_TMPDIR/d.mig" "$at" 7fffffff
	run "$VHOST_STATE" extract --list "$BATS_TEST_TMPDIR/d.mig"
	assert_failure 65
	assert_output --partial "offset $at: a back-end state chunk declares 2147483647 bytes, but only"
}

@test "qemu: inject refuses a net state for a fs device, an existing OUT, and leaves nothing behind on failure" {
	raw_stream b1bb1d1b0bb1d1b0000000020000000200000000 >"$BATS_TEST_TMPDIR/net.vhs"
	run "$VHOST_STATE" inject "$BASE" "$BATS_TEST_TMPDIR/net.vhs" --device 1 -o "$BATS_TEST_TMPDIR/o.mig"
	assert_failure 1
	assert_output --partial "is a net state but $DEV4 holds a fs back-end's state; nothing was written"
	[ ! -e "$BATS_TEST_TMPDIR/o.mig" ]
	run "$VHOST_STATE" inject "$BASE" "$BATS_TEST_TMPDIR/net.vhs" --device 1 -o "$BATS_TEST_TMPDIR/o.mig" -f
	assert_success
	raw_stream "$BUSY" >"$BATS_TEST_TMPDIR/busy.vhs"
	run "$VHOST_STATE" inject "$BASE" "$BATS_TEST_TMPDIR/busy.vhs" --device 1 -o "$BATS_TEST_TMPDIR/o.mig"
	assert_failure 64
	assert_output --partial "file exists"
	# a malformed STATE is refused before anything is written
	printf '\0\0\0\x10abc' >"$BATS_TEST_TMPDIR/trunc.vhs"
	run "$VHOST_STATE" inject "$BASE" "$BATS_TEST_TMPDIR/trunc.vhs" --device 1 -o "$BATS_TEST_TMPDIR/p.mig"
	assert_failure 65
	[ ! -e "$BATS_TEST_TMPDIR/p.mig" ]
	[ -z "$(ls -A "$BATS_TEST_TMPDIR" | grep '^\.p\.mig')" ]
	# a large state (3 chunks, 2.5 MB) goes in and comes out intact
	"$FAKE_BACKEND" --emit --state-size 2500000 --seed 5 | "$BATS_TEST_DIRNAME/helpers/chunks.py" frame 1000000 >"$BATS_TEST_TMPDIR/big.vhs"
	"$VHOST_STATE" -q inject -f "$BASE" "$BATS_TEST_TMPDIR/big.vhs" --device 2 -o "$BATS_TEST_TMPDIR/big.mig"
	"$VHOST_STATE" -q extract "$BATS_TEST_TMPDIR/big.mig" --device 2 -o "$BATS_TEST_TMPDIR/big-out.vhs"
	cmp "$BATS_TEST_TMPDIR/big.vhs" "$BATS_TEST_TMPDIR/big-out.vhs"
	# and a migration file on a pipe works too (spooled: the description is at the end)
	cat "$BATS_TEST_TMPDIR/big.mig" | "$VHOST_STATE" -q extract - --device 2 | cmp - "$BATS_TEST_TMPDIR/big.vhs"
}

@test "qemu: a VM description that is not a JSON object is refused (65) before json-c builds it" {
	python3 -c '
import struct, sys
desc = b"[" + b"0," * 1000 + b"0]"
sys.stdout.buffer.write(b"QEVM" + struct.pack(">I", 3) + b"\x00" + b"\x06" + struct.pack(">I", len(desc)) + desc)' \
		>"$BATS_TEST_TMPDIR/array.mig"
	run "$VHOST_STATE" extract --list "$BATS_TEST_TMPDIR/array.mig"
	assert_failure 65
	assert_output --partial "the VM description is not a JSON object"
}
