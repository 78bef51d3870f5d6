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

# payload_hex STREAM — the payload of a raw stream, in hex.  passt writes
# its state in more than one write(), so where the chunks end depends on
# how the reader's read() calls fell: compare payloads, not streams.
payload_hex() {
	"$BATS_TEST_DIRNAME/helpers/chunks.py" payload <"$1" | xxd -p | tr -d '\n'
}

# the idle state with other observed addresses: 192.0.2.3 and
# 52:54:00:12:34:56 instead of 192.0.2.2 and the broadcast MAC (one chunk)
modified() {
	local hex
	hex=$(payload_hex "$1")
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
	run --separate-stderr "$VHOST_STATE" inspect --json "$BATS_TEST_TMPDIR/p.vhs"
	assert_schema inspect
	echo "$output" | jq -e '.kind == "net" and .decoded.format == "passt" and .decoded.version == 2'
	# the idle state decoded: 62 bytes, the observed addresses, no flows
	echo "$output" | jq -e '.payload_bytes == 62 and .decoded.flow_count == 0 and .decoded.flows == [] and (.decoded | has("error") | not)'
	echo "$output" | jq -e '.decoded.addresses.addr4 == "192.0.2.2" and .decoded.addresses.mac == "ff:ff:ff:ff:ff:ff"'
	start_passt b
	run "$VHOST_STATE" restore "$PASST_SOCK" -i "$BATS_TEST_TMPDIR/p.vhs"
	assert_success
	assert_output --partial "(CHECK_DEVICE_STATE returned 0)"
	# a state a fresh passt does not have is held: load + save on one connection
	modified "$BATS_TEST_TMPDIR/p.vhs" >"$BATS_TEST_TMPDIR/m.vhs"
	run cmp -s "$BATS_TEST_TMPDIR/m.vhs" "$BATS_TEST_TMPDIR/p.vhs"
	assert_failure
	# diff names exactly the two observed addresses that changed
	run --separate-stderr "$VHOST_STATE" diff --json "$BATS_TEST_TMPDIR/p.vhs" "$BATS_TEST_TMPDIR/m.vhs"
	assert_failure 2
	assert_schema diff
	echo "$output" | jq -ce '.kind == "net" and .decoded and .differences == [{"what": "addresses.addr4", "a": "192.0.2.2", "b": "192.0.2.3"}, {"what": "addresses.mac", "a": "ff:ff:ff:ff:ff:ff", "b": "52:54:00:12:34:56"}]'
	start_passt c
	run --separate-stderr "$VHOST_STATE" verify --json "$PASST_SOCK" "$BATS_TEST_TMPDIR/m.vhs"
	assert_success
	assert_schema verify
	echo "$output" | jq -e '.same and .kind == "net" and .actual.payload_bytes == 62 and .differences == []'
}

@test "passt: a fs (virtiofsd) state is refused before connecting; passt stays usable; info --no-connect says net" {
	raw_stream 01000200000000000000 >"$BATS_TEST_TMPDIR/fs.vhs"
	start_passt a
	run "$VHOST_STATE" -v restore "$PASST_SOCK" -i "$BATS_TEST_TMPDIR/fs.vhs"
	assert_failure 1
	assert_output --partial "the state is a fs state but $PASST_SOCK is a net back-end (passt, pid $PASST_PID): refused before connecting"
	refute_output --partial GET_FEATURES
	run --separate-stderr "$VHOST_STATE" info --no-connect --json "$PASST_SOCK"
	assert_success
	assert_schema info-no-connect
	echo "$output" | jq -e --argjson pid "$PASST_PID" '.kind == "net" and .owner.pid == $pid and .owner.name == "passt"'
	# the same passt still serves a front-end: dump from it
	kill -0 "$PASST_PID"
	run "$VHOST_STATE" dump "$PASST_SOCK" -o "$BATS_TEST_TMPDIR/p.vhs"
	assert_success
	wait_exit "$PASST_PID"
	run "$VHOST_STATE" inspect --json "$BATS_TEST_TMPDIR/p.vhs"
	echo "$output" | jq -e '.kind == "net"'
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

@test "passt: QEMU's net state is extracted from inside the virtio field, the payload byte for byte what a direct dump gives" {
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
	assert_schema inspect
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
	raw_stream "$(payload_hex "$BATS_TEST_TMPDIR/m.vhs")0000000000000000" >"$BATS_TEST_TMPDIR/long.vhs"
	run --separate-stderr "$VHOST_STATE" inject --json "$BATS_TEST_TMPDIR/net.mig" "$BATS_TEST_TMPDIR/long.vhs" -o "$BATS_TEST_TMPDIR/m.mig"
	assert_success
	assert_schema inject
	# the payload grows by 8; the stream by 8 less 4 for each extra chunk
	# QEMU framed the old state in (passt writes it in pieces)
	echo "$output" | jq -e '.kind == "net" and .payload_bytes == .replaced.payload_bytes + 8'
	delta=$(echo "$output" | jq '.stream_bytes_delta')
	echo "$output" | jq -e '.stream_bytes_delta == 8 - 4 * (.replaced.chunks - 1)'
	a=$(json_result inspect inspect --json "$BATS_TEST_TMPDIR/net.mig" | jq '.states[0].described_field_size')
	b=$(json_result inspect inspect --json "$BATS_TEST_TMPDIR/m.mig" | jq '.states[0].described_field_size')
	assert_equal "$b" "$((a + delta))"
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
