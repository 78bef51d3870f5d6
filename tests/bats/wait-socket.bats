#!/usr/bin/env bats
# tests/peers/wait-socket.sh: the wait for a freshly started server's
# socket, used by the demo, the benches and every test that starts a
# back-end.  A socket file that exists but does not listen yet must not
# end the wait: a connect() then is refused.

load helpers/common

setup() {
	vs_sockdir
	SOCK=$VS_SOCKDIR/w.sock
}

teardown() {
	vs_teardown
}

# server DELAY: binds $SOCK, listens DELAY seconds later, accepts one.
server() {
	/usr/bin/python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
time.sleep(float(sys.argv[2]))
s.listen(1)
s.accept()[0].close()
time.sleep(5)' "$SOCK" "$1" &
	VS_PIDS="$VS_PIDS $!"
}

# connects: one connect() to $SOCK, now
connects() {
	/usr/bin/python3 -c '
import socket, sys
socket.socket(socket.AF_UNIX).connect(sys.argv[1])' "$SOCK"
}

@test "a socket bound but not yet listening is waited for" {
	server 1
	pid=${VS_PIDS##* }
	run wait_listening "$SOCK" "$pid" 5
	assert_success
	run connects
	assert_success
}

@test "a server that exits before listening ends the wait with its pid" {
	/usr/bin/python3 -c '
import socket, sys
socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$SOCK" &
	pid=$!
	wait "$pid"
	[ -S "$SOCK" ]
	run wait_listening "$SOCK" "$pid" 5
	assert_failure
	assert_output "the server (pid $pid) exited before listening on $SOCK"
}

@test "no socket at all: the wait ends after the time given" {
	run wait_listening "$SOCK" "" 1
	assert_failure
	assert_output "nothing listens on $SOCK after 1 s"
}
