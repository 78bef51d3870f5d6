#!/usr/bin/env bats
# passt (--vhost-user) as a net back-end: direct info/dump/restore/verify
# with its errno-style CHECK values, and its state inside QEMU migration
# files (virtio-net-device/backend, nested in the device's virtio field).

load helpers/common
load helpers/peers
load helpers/qemu

NET_DEV=0000:00:04.0/virtio-net

setup_file() {
	passt_fetch
}

setup() {
	require_passt
}

teardown() {
	vs_teardown
}

# passt_state HEX... — passt's own header (magic, version 2, compat 2)
# followed by HEX, as a raw stream
passt_state() {
	raw_stream "b1bb1d1b0bb1d1b00000000200000002$*"
}

# the idle state with other observed addresses: 192.0.2.3 and
# 52:54:00:12:34:56 instead of 192.0.2.2 and the broadcast MAC
modified() {
	local hex
	hex=$(xxd -p "$1" | tr -d '\n')
	hex=${hex:8:${#hex}-16}
	[[ $hex == *c0000202ffffffffffff* ]] || { echo "unexpected passt state: $hex" >&2; return 1; }
	raw_stream "${hex/c0000202ffffffffffff/c0000203525400123456}"
}

@test "passt: info shows a net back-end with DEVICE_STATE and one queue" {
	start_passt a
	run "$VHOST_STATE" info "$PASST_SOCK"
	assert_success
	assert_line --regexp '^protocol offered: .*0x000000000008000e .*DEVICE_STATE'
	assert_line --regexp '^queues: +1 '
	assert_line --regexp '^device state: +supported'
}

@test "passt: dump gives its state with passt's magic; it exits after the save; the dump restores and a modified one verifies" {
	start_passt a
	run "$VHOST_STATE" dump "$PASST_SOCK" -o "$BATS_TEST_TMPDIR/p.vhs"
	assert_success
	wait_exit "$PASST_PID"
	grep -q "Migration complete, exiting" "$PASST_LOG"
	run "$VHOST_STATE" inspect --json "$BATS_TEST_TMPDIR/p.vhs"
	echo "$output" | jq -e '.kind == "net" and .hints.backend == "passt" and .hints.version == 2'
	start_passt b
	run "$VHOST_STATE" restore "$PASST_SOCK" -i "$BATS_TEST_TMPDIR/p.vhs"
	assert_success
	assert_output --partial "(CHECK_DEVICE_STATE returned 0)"
	# a state a fresh passt does not have is held: load + save on one connection
	modified "$BATS_TEST_TMPDIR/p.vhs" >"$BATS_TEST_TMPDIR/m.vhs"
	run cmp -s "$BATS_TEST_TMPDIR/m.vhs" "$BATS_TEST_TMPDIR/p.vhs"
	assert_failure
	start_passt c
	run "$VHOST_STATE" verify "$PASST_SOCK" "$BATS_TEST_TMPDIR/m.vhs"
	assert_success
	assert_output --partial "holds the"
}

@test "passt: bad states fail with passt's errno-style CHECK values: 61 (short), 22 (bad magic), 95 (unknown version)" {
	raw_stream 0102030405060708 >"$BATS_TEST_TMPDIR/short.vhs"
	raw_stream b1bb1d1b0bb1d1b1000000020000000200000000 >"$BATS_TEST_TMPDIR/magic.vhs"
	raw_stream b1bb1d1b0bb1d1b0000000090000000900000000 >"$BATS_TEST_TMPDIR/version.vhs"
	for c in short:61:ENODATA magic:22:EINVAL version:95:EOPNOTSUPP; do
		kind=${c%%:*} rest=${c#*:}
		start_passt "$kind"
		run "$VHOST_STATE" restore "$PASST_SOCK" -i "$BATS_TEST_TMPDIR/$kind.vhs"
		assert_failure 1
		# the value, named as the errno passt means by it
		assert_output --partial "CHECK_DEVICE_STATE returned ${rest%:*} (${rest#*:}, if it is an errno value:"
	done
}

@test "passt: QEMU's net state is extracted from inside the virtio field, byte for byte the payload a direct dump gives" {
	require_qemu
	start_passt q
	# shellcheck disable=SC2046
	start_qemu q $(net_dev 4 "$PASST_SOCK")
	qemu_save "$BATS_TEST_TMPDIR/net.mig"
	run "$VHOST_STATE" extract --list "$BATS_TEST_TMPDIR/net.mig"
	assert_success
	assert_output --regexp "^1  $NET_DEV  net  [0-9]+ bytes in [0-9]+ chunks?  at offset [0-9]+  sha256 [0-9a-f]{64}$"
	"$VHOST_STATE" -q extract "$BATS_TEST_TMPDIR/net.mig" -o "$BATS_TEST_TMPDIR/x.vhs"
	start_passt d
	"$VHOST_STATE" -q dump "$PASST_SOCK" -o "$BATS_TEST_TMPDIR/d.vhs"
	# The payloads, not the streams: passt writes its state in pieces
	# (header, addresses, flow count) and QEMU makes a chunk of each read,
	# so on a loaded machine QEMU's stream can be chunked 16+42+4 where the
	# dump has one 62-byte chunk.  extract keeps QEMU's chunking.
	python3 "$VS_SRCDIR/tests/bats/helpers/chunks.py" payload <"$BATS_TEST_TMPDIR/x.vhs" >"$BATS_TEST_TMPDIR/x.bin"
	python3 "$VS_SRCDIR/tests/bats/helpers/chunks.py" payload <"$BATS_TEST_TMPDIR/d.vhs" >"$BATS_TEST_TMPDIR/d.bin"
	[ -s "$BATS_TEST_TMPDIR/d.bin" ]
	cmp "$BATS_TEST_TMPDIR/x.bin" "$BATS_TEST_TMPDIR/d.bin"
	run "$VHOST_STATE" diff "$BATS_TEST_TMPDIR/x.vhs" "$BATS_TEST_TMPDIR/d.vhs"
	assert_success
	# the state sits inside the virtio field, which the description sizes
	run --separate-stderr "$VHOST_STATE" inspect --json "$BATS_TEST_TMPDIR/net.mig"
	echo "$output" | jq -e '.states[0].kind == "net" and .states[0].described_field_size > .states[0].stream_bytes'
	# and goes back byte for byte
	"$VHOST_STATE" -q inject "$BATS_TEST_TMPDIR/net.mig" "$BATS_TEST_TMPDIR/x.vhs" -o "$BATS_TEST_TMPDIR/same.mig"
	cmp "$BATS_TEST_TMPDIR/net.mig" "$BATS_TEST_TMPDIR/same.mig"
}

@test "passt: a modified net state injected is loaded by QEMU into a fresh passt and comes out again; a corrupt one fails" {
	require_qemu
	start_passt q
	# shellcheck disable=SC2046
	start_qemu q $(net_dev 4 "$PASST_SOCK")
	qemu_save "$BATS_TEST_TMPDIR/net.mig"
	"$VHOST_STATE" -q extract "$BATS_TEST_TMPDIR/net.mig" -o "$BATS_TEST_TMPDIR/x.vhs"
	modified "$BATS_TEST_TMPDIR/x.vhs" >"$BATS_TEST_TMPDIR/m.vhs"
	# 8 bytes longer (passt ignores trailing bytes): QEMU must find every
	# virtio subsection after it, and the description's virtio field grows
	hex=$(xxd -p "$BATS_TEST_TMPDIR/m.vhs" | tr -d '\n')
	raw_stream "${hex:8:${#hex}-16}0000000000000000" >"$BATS_TEST_TMPDIR/long.vhs"
	run "$VHOST_STATE" inject "$BATS_TEST_TMPDIR/net.mig" "$BATS_TEST_TMPDIR/long.vhs" -o "$BATS_TEST_TMPDIR/m.mig"
	assert_success
	assert_output --partial "(the state +8 bytes)"
	a=$("$VHOST_STATE" inspect --json "$BATS_TEST_TMPDIR/net.mig" | jq '.states[0].described_field_size')
	b=$("$VHOST_STATE" inspect --json "$BATS_TEST_TMPDIR/m.mig" | jq '.states[0].described_field_size')
	assert_equal "$b" "$((a + 8))"
	start_passt l
	# shellcheck disable=SC2046
	start_qemu l --incoming $(net_dev 4 "$PASST_SOCK")
	qemu_load "$BATS_TEST_TMPDIR/m.mig"
	qemu_save "$BATS_TEST_TMPDIR/again.mig"
	"$VHOST_STATE" -q extract "$BATS_TEST_TMPDIR/again.mig" -o "$BATS_TEST_TMPDIR/again.vhs"
	run "$VHOST_STATE" diff "$BATS_TEST_TMPDIR/m.vhs" "$BATS_TEST_TMPDIR/again.vhs"
	assert_success
	# negative control: passt's bad-magic state makes the load fail
	raw_stream b1bb1d1b0bb1d1b1000000020000000200000000 >"$BATS_TEST_TMPDIR/bad.vhs"
	"$VHOST_STATE" -q inject "$BATS_TEST_TMPDIR/net.mig" "$BATS_TEST_TMPDIR/bad.vhs" -o "$BATS_TEST_TMPDIR/bad.mig"
	start_passt n
	# shellcheck disable=SC2046
	start_qemu n --incoming $(net_dev 4 "$PASST_SOCK")
	run qemu_load "$BATS_TEST_TMPDIR/bad.mig"
	assert_failure 1
	assert_output --partial "migration failed"
	qemu_quit
}

@test "passt: a state that would plant a lookalike back-end subsection in the virtio field is refused (65), nothing written" {
	require_qemu
	start_passt q
	# shellcheck disable=SC2046
	start_qemu q $(net_dev 4 "$PASST_SOCK")
	qemu_save "$BATS_TEST_TMPDIR/net.mig"
	# 0x05, 25, "virtio-net-device/backend", version 0, one 1-byte chunk,
	# terminator, then a "virtio/" subsection header
	fake=0519$(printf 'virtio-net-device/backend' | xxd -p | tr -d '\n')00000000000000017800000000050776697274696f2f
	raw_stream "$fake" >"$BATS_TEST_TMPDIR/fake.vhs"
	run "$VHOST_STATE" inject "$BATS_TEST_TMPDIR/net.mig" "$BATS_TEST_TMPDIR/fake.vhs" -o "$BATS_TEST_TMPDIR/f.mig"
	assert_failure 65
	assert_output --partial "is ambiguous"
	[ ! -e "$BATS_TEST_TMPDIR/f.mig" ]
}
