#!/bin/sh
# proxy-overhead.sh — QEMU migration to a file, directly and through
# `vhost-state proxy`, on fresh virtiofsd instances: medians, min-max and
# the ratio (direct / proxy: 1.00 means no overhead).
#
# Environment: VHOST_STATE (the binary), VS_SRCDIR (the source tree),
# BENCH_PROXY_RUNS (default 7).  Needs qemu-system-x86_64 and virtiofsd
# (fetched like the tests do).
set -eu

VS=${VHOST_STATE:?}
SRC=${VS_SRCDIR:?}
RUNS=${BENCH_PROXY_RUNS:-7}
QMP_PY=$SRC/tests/peers/qmp.py
# Debian's, as the tests use: a python3 found on PATH may be a slow shim
PY=/usr/bin/python3

command -v qemu-system-x86_64 >/dev/null || { echo "proxy overhead: not measured (no qemu-system-x86_64)"; exit 0; }
root=$("$SRC/tests/peers/fetch-trixie.sh" virtiofsd 2>/dev/null)/root || {
	echo "proxy overhead: not measured (no virtiofsd)"
	exit 0
}
work=$(mktemp -d /tmp/vs-bench-proxy.XXXXXX)
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

# under set -e, a failed wait ends the script
. "$SRC/tests/peers/wait-socket.sh"

# one_run MODE N: prints the migration time in ms
one_run() {
	d=$work/$1-$2
	mkdir -p "$d/share"
	"$root/usr/lib64/ld-linux-x86-64.so.2" --library-path "$root/usr/lib/x86_64-linux-gnu" \
		"$root/usr/libexec/virtiofsd" --socket-path="$d/vfs.sock" --shared-dir="$d/share" \
		--sandbox=none --seccomp=none >"$d/vfs.log" 2>&1 &
	pids="$pids $!"
	wait_listening "$d/vfs.sock" $!
	front=$d/vfs.sock
	if [ "$1" = proxy ]; then
		"$VS" proxy --listen "$d/front.sock" --connect "$d/vfs.sock" --log /dev/null 2>"$d/proxy.log" &
		pids="$pids $!"
		wait_listening "$d/front.sock" $!
		front=$d/front.sock
	fi
	qemu-system-x86_64 -M q35 -accel tcg -nodefaults -display none -S -m 128M \
		-object memory-backend-memfd,id=mem,size=128M,share=on -machine memory-backend=mem \
		-chardev socket,id=vfs,path="$front" -device vhost-user-fs-pci,chardev=vfs,tag=bench \
		-qmp unix:"$d/qmp.sock",server=on,wait=off >"$d/qemu.log" 2>&1 &
	pids="$pids $!"
	wait_listening "$d/qmp.sock" $!
	$PY "$QMP_PY" "$d/qmp.sock" migrate "$d/mig.bin" >/dev/null
	# QEMU's own count, from the migrate command to completion: neither
	# qmp.py's start-up nor its 50 ms polling is in it
	ms=$($PY "$QMP_PY" "$d/qmp.sock" query-migrate | sed -n 's/.*"total-time": *\([0-9][0-9]*\).*/\1/p')
	$PY "$QMP_PY" "$d/qmp.sock" quit >/dev/null 2>&1 || true
	[ -n "$ms" ] || { echo "proxy overhead: no total-time in query-migrate" >&2; exit 1; }
	echo "$ms"
}

stats() { # prints "median min max" of the numbers on stdin
	sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%d %d %d\n", m, v[1], v[NR] }'
}

: >"$work/direct"
: >"$work/proxy"
run=0
while [ $run -lt "$RUNS" ]; do
	# interleaved, so a busy moment hits both alike
	one_run direct $run >>"$work/direct"
	one_run proxy $run >>"$work/proxy"
	run=$((run + 1))
done
read -r dm dmin dmax <<EOS
$(stats <"$work/direct")
EOS
read -r pm pmin pmax <<EOS
$(stats <"$work/proxy")
EOS
printf '%-32s  %-7s  %9s ms  %6s ms  %5s  %-40s  %-8s  %s\n' "QEMU migrate through proxy" "idle fs" "$pm" "$dm" \
	"$(awk -v d="$dm" -v p="$pm" 'BEGIN { printf "%.2f", d / p }')" "$pmin-$pmax / $dmin-$dmax ms" "-" \
	"baseline: the same migration without the proxy ($RUNS runs each)"
