# The soak (soak.bats, make check-soak): the test guest in vs.mode=soak
# (tests/peers/guest-init.sh) reads and writes its virtio-fs share through
# `vhost-state proxy` in front of a real virtiofsd, while `snapshot
# --status` polls the proxy every 100 ms and stop/snapshot/cont cycles run.
# Needs helpers/common, peers, qemu, qemu-proxy and guest.  Every wait is
# bounded; every process goes into VS_PIDS.

# The proxy's RSS may end this much above its size after the first cycle:
# glibc keeps up to M_TRIM_THRESHOLD (128 KiB) of freed memory at the top of
# its heap before giving it back, and where the last free chunk ends is up
# to the order of frees.  A leak of 24 bytes per status call (6000 calls in
# ten minutes) or 3 KiB per cycle (50) would be larger.
# shellcheck disable=SC2034 # used by soak.bats
SOAK_RSS_SLACK_KB=132

# soak_rounds FILE — the number of the last "soak N ok" round, 0 if none.
soak_rounds() {
	console_lines "$1" | sed -n 's/^soak \([0-9][0-9]*\) ok$/\1/p' | tail -n1 | grep . || echo 0
}

# soak_failures FILE — the guest's failure lines (its loop's and /init's);
# fails when there are none.
soak_failures() {
	console_lines "$1" | grep -E '^(soak [0-9]+ FAIL|guest: FAIL)'
}

# soak_wait_round FILE AFTER SECONDS — until a round above AFTER is ok.
soak_wait_round() {
	local end=$((SECONDS + $3))
	while [ "$(soak_rounds "$1")" -le "$2" ]; do
		if [ "$SECONDS" -ge "$end" ]; then
			echo "no soak round after $2 within $3 s; console $1:" >&2
			console_lines "$1" | tail -n 20 >&2
			return 1
		fi
		sleep 0.1
	done
}

# share_check DIR — every fN in DIR that has its fN.sum holds what the guest
# wrote (run while the VM is stopped; files without their pair or with an
# empty sum are being written or removed).  Prints the first mismatch and
# fails.
share_check() {
	local f want got n=0
	for f in "$1"/f*.sum; do
		if [ ! -e "$f" ] || [ ! -e "${f%.sum}" ]; then
			continue
		fi
		want=$(cat "$f")
		# the guest creates fN.sum, then writes it: stopped in between, it
		# is empty
		case $want in
		*[!0-9a-f]* | "") continue ;;
		esac
		[ "${#want}" = 64 ] || continue
		got=$(sha256sum <"${f%.sum}" | cut -d' ' -f1)
		if [ "$want" != "$got" ]; then
			echo "share: ${f%.sum} has sha256 $got, its .sum says $want" >&2
			return 1
		fi
		n=$((n + 1))
	done
	share_checked=$n
}

# proxy_fds, proxy_rss — the proxy's open descriptors and VmRSS (kB).
proxy_fds() {
	find "/proc/$PROXY_PID/fd" -mindepth 1 -maxdepth 1 | wc -l
}
proxy_rss() {
	awk '$1 == "VmRSS:" { print $2 }' "/proc/$PROXY_PID/status"
}

# poll_status DIR — in the background: `snapshot --status` every 100 ms
# until DIR/stop appears, one line per call in DIR/status.log ("ok" or
# "fail RC"), stderr in DIR/status.err.  While DIR/pause exists it makes no
# call and shows DIR/paused.  Sets POLL_PID.
poll_status() {
	local d=$1
	(
		while [ ! -e "$d/stop" ]; do
			if [ -e "$d/pause" ]; then
				touch "$d/paused"
				sleep 0.05
				continue
			fi
			rm -f "$d/paused"
			if "$VHOST_STATE" snapshot --status -t 10 "$PROXY_CTL" >/dev/null 2>>"$d/status.err"; then
				echo ok >>"$d/status.log"
			else
				echo "fail $?" >>"$d/status.log"
			fi
			sleep 0.1
		done
	) &
	POLL_PID=$!
	VS_PIDS="${VS_PIDS:-} $POLL_PID"
}

# poll_pause DIR, poll_resume DIR — hold the poller between calls (10 s at
# most), so that no control connection is open while fds are counted; once
# DIR/stop ended it, there is nothing to hold.
poll_pause() {
	[ ! -e "$1/stop" ] || ! kill -0 "$POLL_PID" 2>/dev/null || {
		echo "the status poller should have ended" >&2
		return 1
	}
	[ ! -e "$1/stop" ] || return 0
	touch "$1/pause"
	for _ in $(seq 1 200); do
		[ -e "$1/paused" ] && return 0
		sleep 0.05
	done
	echo "the status poller did not pause" >&2
	return 1
}
poll_resume() {
	rm -f "$1/pause" "$1/paused"
}

# proxy_measure DIR NAME — with the poller paused, the proxy's fd count and
# RSS into DIR/NAME.fds and DIR/NAME.rss; the fd count is read until it
# holds still for 0.2 s (the proxy closes the last status client in its
# own time).
proxy_measure() {
	local a b
	poll_pause "$1" || return 1
	a=$(proxy_fds)
	for _ in $(seq 1 25); do
		sleep 0.2
		b=$(proxy_fds)
		[ "$a" != "$b" ] || break
		a=$b
	done
	echo "$a" >"$1/$2.fds"
	proxy_rss >"$1/$2.rss"
	poll_resume "$1"
}

# soak_cycle DIR K COMPARE — QMP stop, snapshot through the proxy to
# DIR/snapK.vhs, the share checked; with COMPARE=1 also QMP migrate to a
# file while still stopped, the virtio-fs state extracted and its payload
# compared with the snapshot's; then QMP cont.  Appends to DIR/cycles.log.
soak_cycle() {
	local d=$1 k=$2 compare=$3 t0 ms round
	t0=$(date +%s%3N)
	qmp stop >/dev/null || { echo "cycle $k: QMP stop failed" >&2; return 1; }
	round=$(soak_rounds "$GUEST_CONSOLE")
	"$VHOST_STATE" -q snapshot -t 60 "$PROXY_CTL" -o "$d/snap$k.vhs" ||
		{ echo "cycle $k: snapshot failed" >&2; return 1; }
	python3 "$HELPERS/chunks.py" payload <"$d/snap$k.vhs" >"$d/snap$k.bin" || return 1
	share_check "$VFS_SHARE/soak" || { echo "cycle $k: the share differs from the guest's sums" >&2; return 1; }
	if [ "$compare" = 1 ]; then
		QMP_TIMEOUT=180 qmp migrate "file:$d/mig" >/dev/null ||
			{ echo "cycle $k: QMP migrate failed" >&2; cat "$QEMU_LOG" >&2; return 1; }
		"$VHOST_STATE" -q extract -f "$d/mig" -o "$d/mig$k.vhs" || { echo "cycle $k: extract failed" >&2; return 1; }
		rm -f "$d/mig"
		python3 "$HELPERS/chunks.py" payload <"$d/mig$k.vhs" >"$d/mig$k.bin" || return 1
		if cmp -s "$d/snap$k.bin" "$d/mig$k.bin"; then
			compare=bytes
		elif compare=$(vfs_equivalent "$d/snap$k.vhs" "$d/mig$k.vhs"); then
			compare="$compare inodes"
		else
			echo "cycle $k: the snapshot ($(wc -c <"$d/snap$k.bin") bytes) differs from the migration's state ($(wc -c <"$d/mig$k.bin") bytes): $compare" >&2
			soak_mismatch "$d" "$k" >&2
			return 1
		fi
	fi
	qmp cont >/dev/null || { echo "cycle $k: QMP cont failed" >&2; return 1; }
	ms=$(($(date +%s%3N) - t0))
	echo "cycle $k: stopped $ms ms, guest at round $round, state $(wc -c <"$d/snap$k.bin") bytes sha256 $(sha256sum <"$d/snap$k.bin" | cut -c1-16), share files checked $share_checked, compared: $compare" >>"$d/cycles.log"
}

# vfs_equivalent A B — two virtiofsd states, B saved after A with the VM
# stopped in between, equal but for the parent directories virtiofsd looks
# up afresh at each save (helpers/vfscompare.py); prints "renumbered N".
vfs_equivalent() {
	"$VHOST_STATE" inspect --json "$1" | jq '.decoded' >"$1.json" &&
		"$VHOST_STATE" inspect --json "$2" | jq '.decoded' >"$2.json" &&
		python3 "$HELPERS/vfscompare.py" "$1.json" "$2.json"
}

# soak_mismatch DIR K — what differs, for the failure's report: both
# states decoded, and one more snapshot (the VM still stopped) compared.
soak_mismatch() {
	local d=$1 k=$2 f
	for f in snap mig; do
		echo "-- $f$k.vhs:"
		head -c 4096 "$d/$f$k.bin" | xxd | head -n 64
		"$VHOST_STATE" inspect "$d/$f$k.vhs" | sed -n '/^decoded/,$p' | head -n 40
	done
	"$VHOST_STATE" -q snapshot -t 60 "$PROXY_CTL" -o "$d/again$k.vhs" || return 0
	python3 "$HELPERS/chunks.py" payload <"$d/again$k.vhs" >"$d/again$k.bin" || return 0
	cmp -s "$d/again$k.bin" "$d/mig$k.bin" && echo "-- a snapshot taken after the migration equals the migration's state"
	cmp -s "$d/again$k.bin" "$d/snap$k.bin" && echo "-- a snapshot taken after the migration equals the first snapshot"
	echo "-- again$k.vhs:"
	"$VHOST_STATE" inspect "$d/again$k.vhs" | sed -n '/^decoded/,$p' | head -n 40
}

# soak_run SECONDS CYCLES COMPARE_EVERY — the whole soak on the booted
# guest: CYCLES cycles spread over SECONDS, every COMPARE_EVERY-th one (and
# the first and last) compared with a migration.  The results are in
# $SOAK_DIR: cycles.log, status.log, first/end .fds/.rss, summary.
soak_run() {
	local secs=$1 cycles=$2 every=$3 d=$SOAK_DIR t0 due k compare
	poll_status "$d"
	t0=$(date +%s%3N)
	for k in $(seq 1 "$cycles"); do
		due=$((t0 + k * secs * 1000 / (cycles + 1)))
		while [ "$(date +%s%3N)" -lt "$due" ]; do sleep 0.1; done
		compare=no
		if [ "$k" = 1 ] || [ "$k" = "$cycles" ] || [ $((k % every)) = 0 ]; then
			compare=1
		fi
		soak_cycle "$d" "$k" "$compare" || return 1
		[ "$k" != 1 ] || proxy_measure "$d" first || return 1
	done
	while [ "$(date +%s%3N)" -lt $((t0 + secs * 1000)) ]; do sleep 0.1; done
	touch "$d/stop"
	wait_exit "$POLL_PID" 20 || return 1
	proxy_measure "$d" end || return 1
	echo "$(($(date +%s%3N) - t0))" >"$d/elapsed_ms"
}

# soak_stall_report — what to look at when the guest's loop has stopped
# or QEMU did not answer: the guest's round at each cycle's stop, where
# each thread of QEMU, the proxy and virtiofsd waits (a QEMU that waits
# for a vhost-user reply does not answer QMP either), QEMU's run state,
# its view of the device and its queues (for a vhost device, used-idx is
# read from guest memory: the back-end's progress), and the ends of the
# proxy's, virtiofsd's and QEMU's logs.  Each QMP query gets 5 s.
soak_stall_report() {
	local path q pid
	local QMP_TIMEOUT=5
	export QMP_TIMEOUT
	echo "-- cycles:"
	cat "$SOAK_DIR/cycles.log"
	for pid in "${QEMU_PID:-}" "${PROXY_PID:-}" "${VFS_PID:-}"; do
		[ -n "$pid" ] || continue
		echo "-- threads of $pid:"
		ps -L -o tid=,stat=,wchan:32=,comm= -p "$pid" 2>&1
	done
	echo "-- run state: $(qmp status 2>&1)"
	path=$(qmp x-query-virtio 2>/dev/null | jq -r '.[] | select(.name | test("user-fs")) | .path' | head -n1)
	if [ -n "$path" ]; then
		qmp x-query-virtio-status "{\"path\": \"$path\"}" 2>&1 |
			jq -c '{status, started, vm_running: .["vm-running"], broken}' 2>&1
		for q in 0 1; do
			echo "-- queue $q:"
			qmp x-query-virtio-queue-status "{\"path\": \"$path\", \"queue\": $q}" 2>&1 | jq -c . 2>&1
			qmp x-query-virtio-vhost-queue-status "{\"path\": \"$path\", \"queue\": $q}" 2>&1 | jq -c . 2>&1
		done
	fi
	echo "-- proxy log, last 30 lines:"
	tail -n 30 "$PROXY_LOG"
	echo "-- virtiofsd log, last 20 lines:"
	tail -n 20 "$VFS_LOG"
	echo "-- QEMU log, last 20 lines:"
	tail -n 20 "$QEMU_LOG"
}

# soak_distinct_states — how many different states the snapshots held.
soak_distinct_states() {
	grep -o 'sha256 [0-9a-f]*' "$SOAK_DIR/cycles.log" | sort -u | wc -l
}

# soak_pairs_differ — how many snapshots vfscompare.py tells apart from the
# one of the cycle before (the guest ran in between): its negative control.
soak_pairs_differ() {
	local k n=0 prev=
	for k in $(seq 1 "$(wc -l <"$SOAK_DIR/cycles.log")"); do
		"$VHOST_STATE" inspect --json "$SOAK_DIR/snap$k.vhs" | jq '.decoded' >"$SOAK_DIR/snap$k.vhs.json" || return 1
		if [ -n "$prev" ] && ! python3 "$HELPERS/vfscompare.py" "$prev" "$SOAK_DIR/snap$k.vhs.json" >/dev/null; then
			n=$((n + 1))
		fi
		prev=$SOAK_DIR/snap$k.vhs.json
	done
	echo "$n"
}

# soak_summary — one paragraph of what the soak saw (for the record).
soak_summary() {
	local d=$SOAK_DIR
	echo "soak: $(cat "$d/elapsed_ms") ms, guest rounds $(soak_rounds "$GUEST_CONSOLE"), $(wc -l <"$d/cycles.log") cycles, $(grep -vc 'compared: no$' "$d/cycles.log") compared with a migration: $(grep -c 'compared: bytes$' "$d/cycles.log") byte for byte, $(grep -c 'compared: renumbered' "$d/cycles.log") but for virtiofsd's renumbered parent inodes; $(grep -c '^ok$' "$d/status.log") status calls ok, $(grep -vc '^ok$' "$d/status.log") failed"
	echo "proxy fds after cycle 1: $(cat "$d/first.fds"), at the end: $(cat "$d/end.fds"); VmRSS after cycle 1: $(cat "$d/first.rss") kB, at the end: $(cat "$d/end.rss") kB"
	echo "distinct states: $(soak_distinct_states)"
	awk '{ sub(/^cycle [0-9]+: stopped /, ""); sub(/ ms.*/, ""); print }' "$d/cycles.log" | sort -n |
		awk '{ a[NR] = $1 } END { if (NR) printf "stop-to-cont ms: min %d, median %d, max %d\n", a[1], a[int((NR + 1) / 2)], a[NR] }'
}
