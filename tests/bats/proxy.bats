#!/usr/bin/env bats
# vhost-state proxy and snapshot: a real QEMU 10 (TCG, no guest: -S) talks to
# a real virtiofsd through the proxy; the fake back-end covers large states,
# the back-end's own fd, and failures.  Every test starts its own processes.

load helpers/common
load helpers/peers
load helpers/qemu
load helpers/qemu-proxy

IDLE_PAYLOAD=01000200000000000000
# Not idle: next inode 5, next handle 7 (a fresh virtiofsd never has it).
BUSY_PAYLOAD=01000500070000000000

setup_file() {
	virtiofsd_fetch
}

setup() {
	VS_PIDS=
}

teardown() {
	vs_teardown
}

require_vm() {
	require_virtiofsd
	require_qemu
}

# A migration file whose vhost-user-fs state is BUSY_PAYLOAD, made once per
# file: QEMU migrates a fresh virtiofsd directly, then the payload is
# replaced in place (same length) by migfile.py.
busy_migfile() {
	BUSY_MIG=$BATS_FILE_TMPDIR/busy.bin
	[ -s "$BUSY_MIG" ] && return 0
	start_virtiofsd src
	start_qemu src $(vfs_dev 4 "$VFS_SOCK")
	qmp migrate "file:$BATS_FILE_TMPDIR/idle.bin" >/dev/null
	qemu_quit
	[ "$(python3 "$HELPERS/migfile.py" payload "$BATS_FILE_TMPDIR/idle.bin")" = "$IDLE_PAYLOAD" ]
	python3 "$HELPERS/migfile.py" replace "$BATS_FILE_TMPDIR/idle.bin" "$BUSY_PAYLOAD" "$BUSY_MIG"
}

# The state in a migration file: `extract` when this build has it, else
# the independent migfile.py (both give the same bytes).
mig_payload() {
	if "$VHOST_STATE" extract --help >/dev/null 2>&1; then
		"$VHOST_STATE" -q extract "$1" -o "$BATS_TEST_TMPDIR/extracted.vhs" -f &&
			payload_hex "$BATS_TEST_TMPDIR/extracted.vhs"
	else
		python3 "$HELPERS/migfile.py" payload "$1"
	fi
}

@test "proxy: QEMU's handshake and migration pass through; the log shows QEMU's sequence; the tee copy equals the migration file's state" {
	require_vm
	mkdir "$BATS_TEST_TMPDIR/tee"
	start_virtiofsd a
	start_proxy a "$VFS_SOCK" --tee "$BATS_TEST_TMPDIR/tee"
	start_qemu a $(vfs_dev 4 "$PROXY_FRONT")
	run qmp migrate "file:$BATS_TEST_TMPDIR/mig.bin"
	assert_success
	qemu_quit
	wait_proxy
	assert_equal "$PROXY_RC" 0

	# QEMU 10.0.2's init of a device never started, then its SAVE (doc/vhost-user.md §2, §4)
	assert_equal "$(fe_requests "$PROXY_LOG")" "GET_FEATURES GET_PROTOCOL_FEATURES SET_PROTOCOL_FEATURES GET_QUEUE_NUM GET_MAX_MEM_SLOTS SET_BACKEND_REQ_FD SET_OWNER GET_FEATURES SET_VRING_CALL SET_VRING_ERR SET_VRING_CALL SET_VRING_ERR RESET_DEVICE SET_DEVICE_STATE_FD CHECK_DEVICE_STATE "
	run cat "$PROXY_LOG"
	assert_line --regexp '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z be>fe GET_PROTOCOL_FEATURES flags=0x5 size=8 fds=0 protocol_features=0x8a42b names=MQ,LOG_SHMFD,REPLY_ACK,BACKEND_REQ,BACKEND_SEND_FD,RESET_DEVICE,CONFIGURE_MEM_SLOTS,DEVICE_STATE$'
	assert_line --regexp ' fe>be SET_BACKEND_REQ_FD flags=0x9 size=0 fds=1$'
	assert_line --regexp ' -- channel: back-end channel interposed$'
	assert_line --regexp ' fe>be SET_VRING_CALL flags=0x1 size=8 fds=1 index=1 fd=true$'
	assert_line --regexp ' fe>be SET_DEVICE_STATE_FD flags=0x1 size=8 fds=1 direction=save phase=stopped$'
	assert_line --regexp ' be>fe SET_DEVICE_STATE_FD flags=0x5 size=8 fds=0 result=0x100 ok=true backend_fd=false$'
	assert_line --regexp ' be>fe CHECK_DEVICE_STATE flags=0x5 size=8 fds=0 result=0 ok=true$'
	assert_line --regexp ' -- disconnect: the front-end disconnected'

	# one copy, named by time and direction, with CHECK's result beside it
	run ls "$BATS_TEST_TMPDIR/tee"
	assert_output --regexp '^[0-9]{8}T[0-9]{6}\.[0-9]{3}Z-1-save\.check
[0-9]{8}T[0-9]{6}\.[0-9]{3}Z-1-save\.vhs$'
	copy=$(ls "$BATS_TEST_TMPDIR"/tee/*.vhs)
	assert_equal "$(cat "${copy%.vhs}.check")" 0
	assert_equal "$(payload_hex "$copy")" "$(python3 "$HELPERS/migfile.py" payload "$BATS_TEST_TMPDIR/mig.bin")"
	assert_equal "$(payload_hex "$copy")" "$(mig_payload "$BATS_TEST_TMPDIR/mig.bin")"
	assert_equal "$(payload_hex "$copy")" "$IDLE_PAYLOAD"
	# virtiofsd exits when its front-end (the proxy) leaves
	wait_gone "$VFS_PID" 5
}

@test "proxy: with the VM stopped, snapshot saves the back-end's state between QEMU's messages and QEMU still migrates" {
	require_vm
	mkdir "$BATS_TEST_TMPDIR/tee"
	start_virtiofsd a
	start_proxy a "$VFS_SOCK" --tee "$BATS_TEST_TMPDIR/tee"
	start_qemu a $(vfs_dev 4 "$PROXY_FRONT")
	qmp stop >/dev/null
	run --separate-stderr "$VHOST_STATE" snapshot --status --json "$PROXY_CTL"
	assert_success
	assert_schema snapshot-status
	echo "$output" | jq -e '.device_stopped == true and .snapshot.possible == true'
	echo "$output" | jq -e '.backend.protocol_features.acked.names | index("DEVICE_STATE")'
	echo "$output" | jq -e '.frontend.connected == true and .frontend.backend_channel == true'
	echo "$output" | jq -e '[.rings[].index] == [0, 1] and ([.rings[].started] | any) == false'

	run --separate-stderr "$VHOST_STATE" snapshot --json "$PROXY_CTL" -o "$BATS_TEST_TMPDIR/snap.vhs"
	assert_success
	assert_schema snapshot
	echo "$output" | jq -e '.payload_bytes == 10 and .chunks == 1 and .kind == "fs" and .check == 0 and .backend.peer.name == "virtiofsd"'
	assert_equal "$(payload_hex "$BATS_TEST_TMPDIR/snap.vhs")" "$IDLE_PAYLOAD"

	run qmp migrate "file:$BATS_TEST_TMPDIR/mig.bin"
	assert_success
	qemu_quit
	wait_proxy
	assert_equal "$PROXY_RC" 0
	copy=$(ls "$BATS_TEST_TMPDIR"/tee/*-save.vhs)
	assert_equal "$(payload_hex "$copy")" "$(payload_hex "$BATS_TEST_TMPDIR/snap.vhs")"
	assert_equal "$(mig_payload "$BATS_TEST_TMPDIR/mig.bin")" "$IDLE_PAYLOAD"
	# the proxy's own requests, answered to it, between QEMU's messages
	run awk '{ print $2, $3 }' "$PROXY_LOG"
	assert_output --partial "px>be SET_DEVICE_STATE_FD
be>px SET_DEVICE_STATE_FD
px>be CHECK_DEVICE_STATE
be>px CHECK_DEVICE_STATE
-- snapshot:"
	# QEMU's own transfer came after, and only its replies went to it
	[ "$(grep -c ' be>fe SET_DEVICE_STATE_FD ' "$PROXY_LOG")" -eq 1 ]
}

@test "proxy: an incoming migration (LOAD) is teed, and the back-end holds the loaded state (--json log)" {
	require_vm
	busy_migfile
	mkdir "$BATS_TEST_TMPDIR/tee"
	start_virtiofsd b
	start_proxy b "$VFS_SOCK" --tee "$BATS_TEST_TMPDIR/tee" --json
	start_qemu b --incoming $(vfs_dev 4 "$PROXY_FRONT")
	run qmp migrate-incoming "file:$BUSY_MIG"
	assert_success
	copy=$(ls "$BATS_TEST_TMPDIR"/tee/*-load.vhs)
	assert_equal "$(payload_hex "$copy")" "$BUSY_PAYLOAD"
	assert_equal "$(cat "${copy%.vhs}.check")" 0

	# a fresh virtiofsd never holds BUSY: the load reached it
	run "$VHOST_STATE" snapshot "$PROXY_CTL" -o "$BATS_TEST_TMPDIR/snap.vhs"
	assert_success
	assert_equal "$(payload_hex "$BATS_TEST_TMPDIR/snap.vhs")" "$BUSY_PAYLOAD"
	# and QEMU can send it on after the snapshot
	run qmp migrate "file:$BATS_TEST_TMPDIR/out.bin"
	assert_success
	assert_equal "$(mig_payload "$BATS_TEST_TMPDIR/out.bin")" "$BUSY_PAYLOAD"
	qemu_quit
	wait_proxy
	assert_equal "$PROXY_RC" 0

	# every line is one JSON object; messages carry decoded payloads
	jq -e -s 'length > 10' "$PROXY_LOG"
	assert_schema_lines proxy-log "$PROXY_LOG"
	jq -e -s '[.[] | select(.dir == "fe>be" and .name == "SET_DEVICE_STATE_FD")] | map(.payload.direction) == ["load", "save"]' "$PROXY_LOG"
	jq -e -s '[.[] | select(.dir == "be>fe" and .name == "CHECK_DEVICE_STATE")] | map(.payload.result) == [0, 0]' "$PROXY_LOG"
	jq -e -s '[.[] | select(.dir == "be>fe" and .name == "GET_QUEUE_NUM")][0].payload.queues == 2' "$PROXY_LOG"
	jq -e -s '[.[] | select(.name == "SET_PROTOCOL_FEATURES")][0] | .payload.protocol_features == "0x8a42b" and .reply == false and .fds == 0' "$PROXY_LOG"
	jq -e -s '[.[] | select(.event == "tee")] | length == 4' "$PROXY_LOG"
	jq -e -s 'map(select(.time | test("^[0-9-]+T[0-9:.]+Z$"))) | length == (. | length)' "$PROXY_LOG"
}

@test "proxy: snapshot is refused while rings run and taken once GET_VRING_BASE stopped them" {
	require_virtiofsd
	start_virtiofsd a
	start_proxy a "$VFS_SOCK"
	run python3 "$HELPERS/vu-client.py" "$PROXY_FRONT" hello kick:0 kick:1 \
		"sh:$VHOST_STATE snapshot $PROXY_CTL -o $BATS_TEST_TMPDIR/early.vhs" \
		"sh:$VHOST_STATE snapshot --status --json $PROXY_CTL | jq -c '[.device_stopped, [.rings[].started]]'" \
		stop:0 \
		"sh:$VHOST_STATE snapshot $PROXY_CTL -o $BATS_TEST_TMPDIR/half.vhs" \
		stop:1 \
		"sh:$VHOST_STATE snapshot $PROXY_CTL -o $BATS_TEST_TMPDIR/ok.vhs"
	assert_success
	assert_output "hello features 0x174000000 protocol 0x8a42b
kick 0
kick 1
sh 1
vhost-state: snapshot: the device is running (rings 0, 1 started by the front-end): stop the VM first (QMP stop), then retry
sh 0
[false,[true,true]]
base 0 0
sh 1
vhost-state: snapshot: the device is running (ring 1 started by the front-end): stop the VM first (QMP stop), then retry
base 1 0
sh 0
vhost-state: snapshot: 10 bytes of state (1 chunk) via $PROXY_CTL to $BATS_TEST_TMPDIR/ok.vhs"
	assert_file_not_exist() { [ ! -e "$1" ] || { echo "$1 exists" >&2; return 1; }; }
	assert_file_not_exist "$BATS_TEST_TMPDIR/early.vhs"
	assert_file_not_exist "$BATS_TEST_TMPDIR/half.vhs"
	assert_equal "$(payload_hex "$BATS_TEST_TMPDIR/ok.vhs")" "$IDLE_PAYLOAD"
	wait_proxy
	assert_equal "$PROXY_RC" 0
}

@test "proxy: tee copies are exact for large states and for a back-end that returns its own fd (save and load)" {
	mkdir "$BATS_TEST_TMPDIR/tee"
	"$FAKE_BACKEND" --emit --framed --state-size 3000000 >"$BATS_TEST_TMPDIR/expected.vhs"
	for fault in none own-fd; do
		opts=()
		[ $fault = none ] || opts=(--fault "$fault" --at SET_DEVICE_STATE_FD)
		start_fake "save-$fault" --state-size 3000000 "${opts[@]}"
		start_proxy "save-$fault" "$FAKE_SOCK" --tee "$BATS_TEST_TMPDIR/tee"
		run "$VHOST_STATE" dump "$PROXY_FRONT" -o "$BATS_TEST_TMPDIR/save-$fault.vhs"
		assert_success
		wait_proxy
		assert_equal "$PROXY_RC" 0
		grep -q "backend_fd=$([ $fault = none ] && echo false || echo true)\$" "$PROXY_LOG"
		# LOAD: --check-load makes CHECK fail unless every byte arrived
		start_fake "load-$fault" --state-size 3000000 --check-load "${opts[@]}"
		start_proxy "load-$fault" "$FAKE_SOCK" --tee "$BATS_TEST_TMPDIR/tee"
		run "$VHOST_STATE" restore "$PROXY_FRONT" -i "$BATS_TEST_TMPDIR/expected.vhs"
		assert_success
		wait_proxy
		assert_equal "$PROXY_RC" 0
	done
	run ls "$BATS_TEST_TMPDIR/tee"
	assert_equal "$(find "$BATS_TEST_TMPDIR/tee" -name "*.vhs" | wc -l)" 4
	assert_equal "$(cat "$BATS_TEST_TMPDIR"/tee/*.check | tr -d '\n')" 0000
	for copy in "$BATS_TEST_TMPDIR"/tee/*.vhs; do
		run "$VHOST_STATE" diff "$BATS_TEST_TMPDIR/expected.vhs" "$copy"
		assert_success
		# our writer's chunking: full 1 MiB chunks, the last one short
		assert_equal "$(python3 "$HELPERS/chunks.py" sizes <"$copy" | tr '\n' ' ')" "1048576 1048576 902848 0 "
	done
}

@test "proxy: a back-end failure reaches the front-end unchanged and the proxy ends with 0" {
	start_fake direct --fault close --at CHECK_DEVICE_STATE
	run --separate-stderr "$VHOST_STATE" dump "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/direct.vhs"
	direct_status=$status direct_err=$stderr
	start_fake proxied --fault close --at CHECK_DEVICE_STATE
	start_proxy p "$FAKE_SOCK"
	run --separate-stderr "$VHOST_STATE" dump "$PROXY_FRONT" -o "$BATS_TEST_TMPDIR/proxied.vhs"
	assert_equal "$status" "$direct_status"
	assert_equal "$stderr" "${direct_err//$FAKE_SOCK/$PROXY_FRONT}"
	wait_proxy
	assert_equal "$PROXY_RC" 0
	grep -q -- '-- disconnect: the back-end disconnected; closing the other side' "$PROXY_LOG"
}

@test "proxy: an oversized message closes both sides and exits 76" {
	start_fake a
	start_proxy a "$FAKE_SOCK"
	run python3 "$HELPERS/vu-client.py" "$PROXY_FRONT" oversize sleep:0.5
	assert_success
	wait_proxy
	assert_equal "$PROXY_RC" 76
	run cat "$PROXY_ERR"
	assert_output --partial "the front-end sent SET_FEATURES with a 1048576-byte payload, more than the 65536 the proxy relays"
	# the back-end saw its connection end: the fake exits then
	wait_gone "$FAKE_PID" 5
	[ ! -e "$PROXY_CTL" ]
}

@test "proxy: a front-end stuck mid-message times out (-t): both sides closed, exit 75" {
	start_fake a
	vs_sockdir
	PROXY_FRONT=$VS_SOCKDIR/t.front.sock
	"$VHOST_STATE" -t 1 proxy --listen "$PROXY_FRONT" --connect "$FAKE_SOCK" --log "$BATS_TEST_TMPDIR/t.log" \
		2>"$BATS_TEST_TMPDIR/t.err" &
	PROXY_PID=$!
	VS_PIDS="$VS_PIDS $PROXY_PID"
	wait_for_socket "$PROXY_FRONT" "$PROXY_PID"
	run python3 "$HELPERS/vu-client.py" "$PROXY_FRONT" hello partial sleep:2
	wait_proxy
	assert_equal "$PROXY_RC" 75
	grep -q "timed out after 1 s waiting for the front-end to send the rest of a message" "$BATS_TEST_TMPDIR/t.err"
	grep -q -- "-- error: .*closing both sides" "$BATS_TEST_TMPDIR/t.log"
	wait_gone "$FAKE_PID" 5
}

@test "proxy: usage errors exit 64, a missing back-end 69, and no socket is left behind" {
	vs_sockdir
	run "$VHOST_STATE" proxy --listen "$VS_SOCKDIR/f.sock"
	assert_failure 64
	assert_output --partial "--listen and --connect are required"
	run "$VHOST_STATE" proxy --listen "$VS_SOCKDIR/f.sock" --connect "$VS_SOCKDIR/f.sock"
	assert_failure 64
	run "$VHOST_STATE" proxy --listen "$VS_SOCKDIR/f.sock" --connect "$VS_SOCKDIR/none.sock"
	assert_failure 69
	assert_output --partial "no such socket"
	[ ! -e "$VS_SOCKDIR/f.sock" ]
	# with --json the error is one more line of the JSON log on stdout
	run --separate-stderr "$VHOST_STATE" proxy --json --listen "$VS_SOCKDIR/f.sock" --connect "$VS_SOCKDIR/none.sock"
	assert_failure 69
	assert_equal "${#lines[@]}" 1
	assert_schema error
	printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/log.json"
	assert_schema_lines proxy-log "$BATS_TEST_TMPDIR/log.json"
	start_fake a
	touch "$BATS_TEST_TMPDIR/file"
	run "$VHOST_STATE" proxy --listen "$VS_SOCKDIR/f.sock" --connect "$FAKE_SOCK" --tee "$BATS_TEST_TMPDIR/file"
	assert_failure 64
	assert_output --partial "exists and is not a directory"
	# a socket already at --listen is not replaced without -f
	python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$VS_SOCKDIR/f.sock"
	run "$VHOST_STATE" proxy --listen "$VS_SOCKDIR/f.sock" --connect "$FAKE_SOCK"
	assert_failure 64
	assert_output --partial "exists (use -f to replace a stale socket)"
}

@test "proxy: bad --listen, --control, --tee and --log paths are refused before connecting; virtiofsd stays usable" {
	require_virtiofsd
	start_virtiofsd a
	touch "$BATS_TEST_TMPDIR/file"
	# a missing directory: 1, as for an output file (dump -o)
	run "$VHOST_STATE" -v proxy --listen /nonexistent/f.sock --connect "$VFS_SOCK"
	assert_failure 1
	assert_output --partial "vhost-state: proxy: --listen /nonexistent/f.sock: directory /nonexistent: No such file or directory"
	refute_output --partial "GET_FEATURES"
	run "$VHOST_STATE" proxy --listen "$VS_SOCKDIR/f.sock" --connect "$VFS_SOCK" --control /nonexistent/c.sock
	assert_failure 1
	run "$VHOST_STATE" proxy --listen "$VS_SOCKDIR/f.sock" --connect "$VFS_SOCK" --tee /nonexistent
	assert_failure 1
	run "$VHOST_STATE" proxy --listen "$VS_SOCKDIR/f.sock" --connect "$VFS_SOCK" --log /nonexistent/p.log
	assert_failure 1
	# there and not a socket: 64, as an existing output without -f
	run "$VHOST_STATE" proxy --listen "$BATS_TEST_TMPDIR/file" --connect "$VFS_SOCK"
	assert_failure 64
	assert_output --partial "--listen $BATS_TEST_TMPDIR/file: exists and is not a socket"
	run "$VHOST_STATE" proxy --listen "$VS_SOCKDIR/f.sock" --connect "$VFS_SOCK" --control "$BATS_TEST_TMPDIR/file"
	assert_failure 64
	run "$VHOST_STATE" -f proxy --listen "$VS_SOCKDIR/f.sock" --connect "$VFS_SOCK" --control "$BATS_TEST_TMPDIR/file"
	assert_failure 64
	# a refused --listen creates no --log file either
	run "$VHOST_STATE" proxy --listen "$BATS_TEST_TMPDIR/file" --connect "$VFS_SOCK" --log "$BATS_TEST_TMPDIR/p.log"
	assert_failure 64
	[ ! -e "$BATS_TEST_TMPDIR/p.log" ]
	[ ! -e "$VS_SOCKDIR/f.sock" ]
	# the same virtiofsd was never connected: it still serves a front-end
	kill -0 "$VFS_PID"
	run "$VHOST_STATE" dump "$VFS_SOCK" -o "$BATS_TEST_TMPDIR/after.vhs"
	assert_success
}

@test "snapshot: no proxy exits 69; before the front-end negotiated DEVICE_STATE it is refused and writes nothing" {
	vs_sockdir
	run "$VHOST_STATE" snapshot "$VS_SOCKDIR/none.sock" -o "$BATS_TEST_TMPDIR/s.vhs"
	assert_failure 69
	assert_output --partial "is the proxy running with --control?"
	start_fake a
	start_proxy a "$FAKE_SOCK"
	run "$VHOST_STATE" snapshot "$PROXY_CTL" -o "$BATS_TEST_TMPDIR/s.vhs"
	assert_failure 69
	assert_output --partial "the front-end has not negotiated protocol features yet"
	[ ! -e "$BATS_TEST_TMPDIR/s.vhs" ]
	run "$VHOST_STATE" snapshot --status "$PROXY_CTL"
	assert_success
	assert_line --regexp '^front-end: +not connected$'
	assert_line --regexp '^snapshot possible: +no: the front-end has not negotiated'
}

@test "proxy: a back-end flooding a front-end that does not read is held back, not buffered without end" {
	vs_sockdir
	run python3 "$BATS_TEST_DIRNAME/helpers/flood.py" "${VS_REAL_BINARY:-$VHOST_STATE}" "$VS_SOCKDIR" 3
	assert_success
	# without backpressure this grew past a gigabyte in 3 s
	[ "$output" -lt 65536 ]
}
