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
	wait_gone "$PROXY_PID" 20 || { echo "(the proxy, 20 s after its peers left)" >&2; return 1; }
	# shellcheck disable=SC2034 # read by the tests
	PROXY_RC=0
	# shellcheck disable=SC2034
	wait "$PROXY_PID" || PROXY_RC=$?
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
