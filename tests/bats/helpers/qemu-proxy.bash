# The proxy, for proxy.bats (QEMU itself comes from helpers/qemu).  Every
# wait is bounded; every process goes into VS_PIDS so vs_teardown kills it.

HELPERS=$VS_SRCDIR/tests/bats/helpers

# start_proxy NAME BACKEND-SOCKET [proxy options] — a proxy with a control
# socket, logging to a file; sets PROXY_FRONT, PROXY_CTL, PROXY_LOG,
# PROXY_ERR, PROXY_PID.
start_proxy() {
	local name=$1 back=$2
	shift 2
	vs_sockdir
	PROXY_FRONT=$VS_SOCKDIR/$name.front.sock
	PROXY_CTL=$VS_SOCKDIR/$name.ctl.sock
	PROXY_LOG=$BATS_TEST_TMPDIR/$name.proxy.log
	PROXY_ERR=$BATS_TEST_TMPDIR/$name.proxy.err
	# default dispositions: the suite may itself run under nohup
	env --default-signal=HUP,INT "$VHOST_STATE" proxy --listen "$PROXY_FRONT" --connect "$back" \
		--control "$PROXY_CTL" --log "$PROXY_LOG" "$@" 2>"$PROXY_ERR" &
	PROXY_PID=$!
	VS_PIDS="${VS_PIDS:-} $PROXY_PID"
	wait_for_socket "$PROXY_FRONT" "$PROXY_PID" && wait_for_socket "$PROXY_CTL" "$PROXY_PID"
}

# wait_proxy — the proxy must end by itself within 20 s; sets PROXY_RC.
wait_proxy() {
	for _ in $(seq 1 400); do
		kill -0 "$PROXY_PID" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$PROXY_PID" 2>/dev/null; then
		echo "the proxy is still running 20 s after its peers left" >&2
		return 1
	fi
	# shellcheck disable=SC2034 # read by the tests
	PROXY_RC=0
	# shellcheck disable=SC2034
	wait "$PROXY_PID" || PROXY_RC=$?
}

# wait_gone PID — a process that should end by itself does so within 5 s.
wait_gone() {
	for _ in $(seq 1 100); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.05
	done
	echo "process $1 is still running" >&2
	return 1
}

# payload_hex FILE — the de-chunked payload of a raw stream, as hex
# (chunks.py: a model independent of vhost-state; strict framing).
payload_hex() {
	python3 "$HELPERS/chunks.py" payload <"$1" | xxd -p | tr -d '\n'
}

# Messages the front-end sent, in order, from a text log.
fe_requests() {
	awk '$2 == "fe>be" { printf "%s ", $3 }' "$1"
}
