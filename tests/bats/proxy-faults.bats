#!/usr/bin/env bats
# The proxy under faults of its own surroundings: signals, a crowd of
# control clients, a control client that never speaks.  The fake back-end
# stands in for virtiofsd (these are not back-end behaviours).

load helpers/common
load helpers/qemu-proxy

setup() {
	VS_PIDS=
}

teardown() {
	vs_teardown
}

@test "proxy: SIGTERM or SIGHUP mid-SAVE ends it with 128+N: sockets and the partial tee copy removed, both peers disconnected" {
	tee=$BATS_TEST_TMPDIR/tee
	mkdir -m 0700 "$tee"
	for sig in TERM HUP; do
		start_fake "f-$sig" --state-size 3000000
		start_proxy "p-$sig" "$FAKE_SOCK" --tee "$tee"
		# a front-end that starts a SAVE and does not read it: the
		# transfer stays open in the proxy, its copy half-written
		python3 "$HELPERS/vu-client.py" "$PROXY_FRONT" hello save-start sleep:8 \
			>"$BATS_TEST_TMPDIR/client-$sig.out" 2>&1 &
		client=$!
		VS_PIDS="$VS_PIDS $client"
		for _ in $(seq 1 100); do
			[ -n "$(ls -A "$tee")" ] && break
			sleep 0.05
		done
		ls -A "$tee" | grep -q '^\.'
		kill -"$sig" "$PROXY_PID"
		wait_proxy
		assert_equal "$PROXY_RC" $((128 + $(kill -l "$sig")))
		[ ! -e "$PROXY_FRONT" ] && [ ! -e "$PROXY_CTL" ]
		assert_equal "$(ls -A "$tee" | wc -l)" 0
		# the back-end saw its connection end (the fake then exits)
		wait_gone "$FAKE_PID" 5
		# and the front-end's connection is closed
		run python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' "$PROXY_FRONT"
		assert_failure
		kill "$client" 2>/dev/null || true
	done
}

@test "proxy: started with SIGHUP ignored (as under nohup), a SIGHUP leaves it running; SIGTERM still ends it" {
	start_fake a
	vs_sockdir
	PROXY_FRONT=$VS_SOCKDIR/n.front.sock
	PROXY_CTL=$VS_SOCKDIR/n.ctl.sock
	env --ignore-signal=HUP "$VHOST_STATE" proxy --listen "$PROXY_FRONT" --connect "$FAKE_SOCK" \
		--control "$PROXY_CTL" 2>"$BATS_TEST_TMPDIR/n.err" &
	PROXY_PID=$!
	VS_PIDS="$VS_PIDS $PROXY_PID"
	wait_for_socket "$PROXY_CTL" "$PROXY_PID"
	kill -HUP "$PROXY_PID"
	sleep 0.3
	kill -0 "$PROXY_PID"
	run "$VHOST_STATE" snapshot --status "$PROXY_CTL"
	assert_success
	kill -TERM "$PROXY_PID"
	wait_proxy
	assert_equal "$PROXY_RC" 143
	[ ! -e "$PROXY_CTL" ]
}

@test "proxy: 100 control clients at once each get an answer (the status, 'too many', or EAGAIN at connect), and the proxy goes on" {
	start_fake a
	start_proxy a "$FAKE_SOCK"
	run python3 - "$PROXY_CTL" <<-'PY'
		import socket, sys, threading
		path = sys.argv[1]
		answers = []
		def client():
		    s = socket.socket(socket.AF_UNIX)
		    s.settimeout(20)
		    try:
		        s.connect(path)
		    except BlockingIOError:
		        # the listen backlog is full: refused at once (EAGAIN),
		        # which snapshot reports as exit 75
		        answers.append(b"EAGAIN")
		        return
		    s.sendall(b"status\n")
		    data = b""
		    while True:
		        d = s.recv(65536)
		        if not d:
		            break
		        data += d
		    answers.append(data)
		threads = [threading.Thread(target=client) for _ in range(100)]
		for t in threads:
		    t.start()
		for t in threads:
		    t.join()
		served = sum(1 for a in answers if a.startswith(b"{") and a.endswith(b"}\n"))
		busy = sum(1 for a in answers if a == b"error 1 too many control clients at once\n")
		refused = answers.count(b"EAGAIN")
		print("answers", len(answers), "served", served, "busy", busy, "refused at connect", refused)
		sys.exit(0 if len(answers) == 100 and served + busy + refused == 100 and served > 0 else 1)
	PY
	echo "$output"
	assert_success
	kill -0 "$PROXY_PID"
	run "$VHOST_STATE" snapshot --status "$PROXY_CTL"
	assert_success
}

@test "proxy: a fifth control client is told 'too many' once its line is read, then a clean EOF (no reset), and snapshot says so with exit 1" {
	start_fake a
	start_proxy a "$FAKE_SOCK"
	# four clients that say nothing hold the four places; the fifth sends
	# its line at once, the sixth only after a pause (accepted before it
	# sent anything); each reads the answer to its end
	run python3 - "$PROXY_CTL" "$VHOST_STATE" <<-'PY'
		import socket, subprocess, sys, time
		path, tool = sys.argv[1], sys.argv[2]
		def conn():
		    s = socket.socket(socket.AF_UNIX)
		    s.settimeout(20)
		    s.connect(path)
		    return s
		silent = [conn() for _ in range(4)]
		time.sleep(0.3)
		def ask(pause):
		    s = conn()
		    time.sleep(pause)
		    s.sendall(b"status\n")
		    time.sleep(0.3)
		    data = b""
		    while True:
		        d = s.recv(65536)  # a reset raises here
		        if not d:
		            return data
		        data += d
		print("at once:", ask(0))
		print("after a pause:", ask(0.3))
		r = subprocess.run([tool, "snapshot", "--status", path], capture_output=True, text=True)
		print("snapshot --status:", r.returncode, r.stderr.strip())
		for s in silent:
		    s.close()
	PY
	echo "$output"
	assert_success
	assert_line "at once: b'error 1 too many control clients at once\n'"
	assert_line "after a pause: b'error 1 too many control clients at once\n'"
	assert_line "snapshot --status: 1 vhost-state: snapshot: too many control clients at once"
	run "$VHOST_STATE" snapshot --status "$PROXY_CTL"
	assert_success
}

@test "proxy: a control client that sends more than its line (a line over 255 bytes, or bytes after it) gets its answer and a clean EOF, not a reset" {
	start_fake a
	start_proxy a "$FAKE_SOCK"
	# each sends, waits until the proxy has answered, then reads to EOF
	run python3 - "$PROXY_CTL" <<-'PY'
		import socket, sys, time
		path = sys.argv[1]
		def ask(data, more=b""):
		    s = socket.socket(socket.AF_UNIX)
		    s.settimeout(20)
		    s.connect(path)
		    s.sendall(data)
		    time.sleep(0.3)
		    if more:
		        s.sendall(more)  # after the proxy read the line
		        time.sleep(0.3)
		    got = b""
		    while True:
		        d = s.recv(65536)  # a reset raises here
		        if not d:
		            break
		        got += d
		    s.close()
		    return got
		print("long:", ask(b"x" * 4000 + b"\n"))
		print("after:", ask(b"nonsense\n", b"y" * 3000))
		print("status and more:", ask(b"status\nstatus\n" + b"z" * 70000)[:10])
	PY
	echo "$output"
	assert_success
	assert_line "long: b'error 64 command line too long\n'"
	assert_line "after: b\"error 64 unknown command 'nonsense' (status, snapshot)\\n\""
	assert_line "status and more: b'{\"backend\"'"
	run "$VHOST_STATE" snapshot --status "$PROXY_CTL"
	assert_success
}

@test "proxy: a control client that connects and never sends is dropped after -t; the proxy goes on" {
	start_fake a
	vs_sockdir
	PROXY_FRONT=$VS_SOCKDIR/t.front.sock
	PROXY_CTL=$VS_SOCKDIR/t.ctl.sock
	"$VHOST_STATE" -t 1 proxy --listen "$PROXY_FRONT" --connect "$FAKE_SOCK" --control "$PROXY_CTL" \
		--log "$BATS_TEST_TMPDIR/t.log" 2>"$BATS_TEST_TMPDIR/t.err" &
	PROXY_PID=$!
	VS_PIDS="$VS_PIDS $PROXY_PID"
	wait_for_socket "$PROXY_CTL" "$PROXY_PID"
	timed_run python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
sys.exit(0 if s.recv(1) == b"" else 1)' "$PROXY_CTL"
	assert_success
	# closed by the proxy's deadline, not by ours
	[ "$elapsed_ms" -ge 900 ] && [ "$elapsed_ms" -lt 9000 ]
	kill -0 "$PROXY_PID"
	run "$VHOST_STATE" snapshot --status "$PROXY_CTL"
	assert_success
}

@test "proxy: a tee copy is kept only once CHECK_DEVICE_STATE went by; a back-end killed mid-SAVE leaves no copy, the front-end sees a short state then the connection close" {
	tee=$BATS_TEST_TMPDIR/tee
	mkdir -m 0700 "$tee"
	# the whole state read, but no CHECK: the pipe's EOF alone does not
	# say the state is whole
	start_fake a --state-size 3000000
	start_proxy a "$FAKE_SOCK" --tee "$tee"
	run python3 "$HELPERS/vu-client.py" "$PROXY_FRONT" hello save-start "save-read:$BATS_TEST_TMPDIR/a.raw"
	assert_success
	assert_line "save-read 3000000"
	wait_proxy
	assert_equal "$PROXY_RC" 0
	grep -q "tee: transfer 1 (save): no copy kept: the session ended before CHECK_DEVICE_STATE said the state was whole" "$PROXY_LOG"
	assert_equal "$(ls -A "$tee" | wc -l)" 0
	# the back-end killed (SIGKILL) while the front-end has not read the state
	start_fake b --state-size 3000000
	start_proxy b "$FAKE_SOCK" --tee "$tee"
	python3 "$HELPERS/vu-client.py" "$PROXY_FRONT" hello save-start sleep:1 "save-read:$BATS_TEST_TMPDIR/b.raw" check \
		>"$BATS_TEST_TMPDIR/b.out" 2>&1 &
	client=$!
	VS_PIDS="$VS_PIDS $client"
	for _ in $(seq 1 100); do
		[ -n "$(ls -A "$tee")" ] && break
		sleep 0.05
	done
	kill -KILL "$FAKE_PID"
	wait_proxy
	# the back-end leaving ends the proxy normally: 0, said in the log
	assert_equal "$PROXY_RC" 0
	grep -q -- "-- disconnect: the back-end disconnected; closing the other side" "$PROXY_LOG"
	grep -q "tee: transfer 1 (save): no copy kept" "$PROXY_LOG"
	assert_equal "$(ls -A "$tee" | wc -l)" 0
	# the front-end read less than the state, then found the connection closed
	wait "$client" && status=0 || status=$?
	[ "$status" -ne 0 ]
	size=$(sed -n 's/^save-read //p' "$BATS_TEST_TMPDIR/b.out")
	[ -n "$size" ] && [ "$size" -lt 3000000 ]
	! grep -q "^check" "$BATS_TEST_TMPDIR/b.out"
}

@test "proxy: a front-end killed mid-LOAD: the proxy ends with 0, keeps no tee copy, and closes the back-end's connection" {
	tee=$BATS_TEST_TMPDIR/tee
	mkdir -m 0700 "$tee"
	start_fake a
	start_proxy a "$FAKE_SOCK" --tee "$tee"
	python3 "$HELPERS/vu-client.py" "$PROXY_FRONT" hello load-start load-write:100000 sleep:30 \
		>"$BATS_TEST_TMPDIR/client.out" 2>&1 &
	client=$!
	VS_PIDS="$VS_PIDS $client"
	for _ in $(seq 1 200); do
		grep -q "^load-write" "$BATS_TEST_TMPDIR/client.out" && break
		sleep 0.05
	done
	grep -q "^load-write 100000" "$BATS_TEST_TMPDIR/client.out"
	kill -KILL "$client"
	wait_proxy
	# a front-end leaving ends the proxy normally: 0, said in the log
	assert_equal "$PROXY_RC" 0
	grep -q -- "-- disconnect: the front-end disconnected; closing the other side" "$PROXY_LOG"
	grep -q "tee: transfer 1 (load): no copy kept" "$PROXY_LOG"
	assert_equal "$(ls -A "$tee" | wc -l)" 0
	# the back-end saw its front-end leave (the fake exits then)
	wait_gone "$FAKE_PID"
}

@test "proxy: a snapshot client that disconnects mid-transfer: the proxy finishes the SAVE with CHECK, says so, and releases the front-end" {
	start_fake a --state-size 3000000
	start_proxy a "$FAKE_SOCK"
	# the snapshot client reads the first bytes, then leaves
	leave="sh:python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1]); s.sendall(b\"snapshot\\n\"); d=b\"\"
while len(d) < 1000: d += s.recv(1000)
print(d[:3]); s.close()' $PROXY_CTL"
	run python3 "$HELPERS/vu-client.py" "$PROXY_FRONT" hello "$leave" sleep:1 check
	echo "$output"
	assert_success
	assert_line "b'ok\\n'"
	# the front-end's request after it was answered: its messages were released
	assert_line "check 0"
	wait_proxy
	assert_equal "$PROXY_RC" 0
	grep -q "snapshot: 3000000 bytes, CHECK_DEVICE_STATE 0 (the client had left); releasing front-end messages" "$PROXY_LOG"
}

@test "proxy: a snapshot client that never reads holds the front-end at most -t, then is dropped and the SAVE finished; memory stays bounded" {
	start_fake a --state-size 3000000
	vs_sockdir
	PROXY_FRONT=$VS_SOCKDIR/t.front.sock
	PROXY_CTL=$VS_SOCKDIR/t.ctl.sock
	PROXY_LOG=$BATS_TEST_TMPDIR/t.log
	"$VHOST_STATE" -t 2 proxy --listen "$PROXY_FRONT" --connect "$FAKE_SOCK" --control "$PROXY_CTL" \
		--log "$PROXY_LOG" 2>"$BATS_TEST_TMPDIR/t.err" &
	PROXY_PID=$!
	VS_PIDS="$VS_PIDS $PROXY_PID"
	wait_for_socket "$PROXY_CTL" "$PROXY_PID"
	# the client asks, then sleeps without reading; the proxy's RSS is
	# sampled meanwhile (the whole state is 3 MB, its queue must not be)
	stall="sh:python3 -c 'import socket,sys,time; s=socket.socket(socket.AF_UNIX); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096); s.connect(sys.argv[1]); s.sendall(b\"snapshot\\n\"); time.sleep(1.5); print(\"rss\", open(\"/proc/%s/status\" % sys.argv[2]).read().split(\"VmRSS:\")[1].split()[0]); time.sleep(4)' $PROXY_CTL $PROXY_PID"
	base=$(awk '/^VmRSS:/ { print $2 }' "/proc/$PROXY_PID/status")
	timed_run python3 "$HELPERS/vu-client.py" "$PROXY_FRONT" hello "$stall" check
	echo "$output"
	assert_success
	assert_line "check 0"
	# growth in KiB while stalled: far less than the 2930 KiB of state
	rss=$(sed -n 's/^rss //p' <<<"$output")
	echo "RSS $base KiB before, $rss KiB while the client stalled"
	[ $((rss - base)) -lt 1536 ]
	wait_proxy
	assert_equal "$PROXY_RC" 0
	grep -q "snapshot: 3000000 bytes, CHECK_DEVICE_STATE 0 (the client had left)" "$PROXY_LOG"
}

@test "proxy and snapshot: --max-size drops a larger tee copy (the transfer still relayed, the proxy exits 1) and refuses a larger snapshot (65, nothing written)" {
	tee=$BATS_TEST_TMPDIR/tee
	mkdir -m 0700 "$tee"
	start_fake a --state-size 3000000
	start_proxy a "$FAKE_SOCK" --tee "$tee" --max-size 1000000
	run python3 "$HELPERS/vu-client.py" "$PROXY_FRONT" hello \
		"sh:$VHOST_STATE --max-size 1000000 snapshot $PROXY_CTL -o $BATS_TEST_TMPDIR/big.vhs" \
		"sh:until $VHOST_STATE snapshot --status --json $PROXY_CTL | jq -e .snapshot.possible >/dev/null; do sleep 0.1; done" \
		"sh:$VHOST_STATE --max-size 3000000 snapshot $PROXY_CTL -o $BATS_TEST_TMPDIR/ok.vhs" \
		save-start "save-read:$BATS_TEST_TMPDIR/a.raw" check
	assert_success
	assert_line --index 1 "sh 65"
	assert_line --index 2 "vhost-state: snapshot: the state is larger than --max-size (1000000 bytes)"
	assert_line --index 3 "sh 0"
	assert_line --index 4 "sh 0"
	assert_line --index 5 --partial "vhost-state: snapshot: 3000000 bytes of state"
	assert_line "save-read 3000000"
	assert_line "check 0"
	[ ! -e "$BATS_TEST_TMPDIR/big.vhs" ]
	[ -s "$BATS_TEST_TMPDIR/ok.vhs" ]
	wait_proxy
	assert_equal "$PROXY_RC" 1
	grep -q "tee: transfer 1 (save): no copy kept: larger than the limit of 1000000 bytes" "$PROXY_LOG"
	grep -q "1 tee copy could not be written (see the log)" "$PROXY_ERR"
	# no copy; CHECK_DEVICE_STATE's result is still recorded
	assert_equal "$(ls -A "$tee" | grep -c '\.vhs$')" 0
	assert_equal "$(cat "$tee"/*-1-save.check)" 0
}

# doc/vhost-user.md, R10: rust-vmm's vhost-user-backend before 0.22
# (virtiofsd 1.13 has 0.17) drops a kick that comes before its ring is
# enabled; QEMU's kick fd starts signalled, and with that kick dropped a
# request made before a stop is never served (seen as a soak whose guest
# stopped after a cont).  The fake's --watch-kicks models it.
@test "proxy: a ring is kicked again once the back-end acks its enable, since rust-vmm before 0.22 drops a kick that comes earlier" {
	# direct, as a control: QEMU's signalled kick is dropped, and nothing
	# kicks the ring after its enable
	start_fake direct --watch-kicks
	run python3 "$VS_SRCDIR/tests/bats/helpers/vu-client.py" "$FAKE_SOCK" hello kick-set:0 enable:0
	assert_success
	assert_line "enable 0 0"
	wait_gone "$FAKE_PID" 5 || true
	run grep '^KICK' "$FAKE_LOG"
	assert_output "KICK: ring 0: a kick before its enable, dropped
KICK: ring 0 not kicked within 1 s of its enable"
	# through the proxy: kicked again right after the ack
	start_fake via --watch-kicks
	start_proxy a "$FAKE_SOCK" --json
	run python3 "$VS_SRCDIR/tests/bats/helpers/vu-client.py" "$PROXY_FRONT" hello kick-set:0 enable:0
	assert_success
	assert_line "enable 0 0"
	wait_proxy
	run grep '^KICK' "$FAKE_LOG"
	assert_output "KICK: ring 0: a kick before its enable, dropped
KICK: ring 0 kicked after its enable"
	# the proxy says so, once, as an event of its JSON log
	assert_schema_lines proxy-log "$PROXY_LOG"
	run jq -r 'select(.event == "rekick") | .message' "$PROXY_LOG"
	assert_output "ring 0 kicked again after the back-end acked its enable"
}
