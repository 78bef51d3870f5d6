#!/bin/bash
# bench/mapped-ram.sh — extract --list on mapped-ram files and sparse libvirt
# images of guests of several RAM sizes: the time must not grow with the RAM
# (the walk seeks over each block's pages, doc/migration-files.md §3).
#
# Real files: QEMU 10 (paused, TCG) with a real virtiofsd, saved with
# mapped-ram to file:F and, behind a libvirt header, to file:I,offset=N.
# Each figure is the median of BENCH_RUNS (default 9) runs with min and max,
# wall time and peak RSS from bench/time-run, plus the bytes vhost-state
# read (strace, when present).
#
# Environment: VHOST_STATE TIME_RUN VS_SRCDIR (make bench-mapped-ram sets
# them), BENCH_TMPDIR (default /var/tmp), BENCH_SIZES (default "1G 4G"),
# BENCH_RUNS.
set -eu
: "${VHOST_STATE:?}" "${TIME_RUN:?}" "${VS_SRCDIR:?}"
TMP=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/vs-bench-mr.XXXXXX")
RUNS=${BENCH_RUNS:-9}
QMP=$VS_SRCDIR/tests/peers/qmp.py
PIDS=
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT

R=$("$VS_SRCDIR/tests/peers/fetch-trixie.sh" virtiofsd 2>/dev/null | tail -n1)/root
[ -x "$R/usr/libexec/virtiofsd" ] || { echo "mapped-ram bench: no virtiofsd (tests/peers/fetch-trixie.sh)" >&2; exit 1; }

. "$VS_SRCDIR/tests/peers/wait-socket.sh"

# save MEM URI: one paused guest of MEM with a virtiofsd, saved mapped-ram
save() {
	local mem=$1 uri=$2 d
	d=$(mktemp -d "$TMP/run.XXXX")
	mkdir "$d/share"
	"$R/usr/lib64/ld-linux-x86-64.so.2" --library-path "$R/usr/lib/x86_64-linux-gnu" "$R/usr/libexec/virtiofsd" \
		--socket-path="$d/vfs.sock" --shared-dir="$d/share" --sandbox=none --seccomp=none >"$d/vfs.log" 2>&1 &
	PIDS="$PIDS $!"
	wait_listening "$d/vfs.sock" $!
	qemu-system-x86_64 -M q35 -accel tcg -nodefaults -display none -S -m "$mem" \
		-object memory-backend-memfd,id=mem,size="$mem",share=on -machine memory-backend=mem \
		-chardev socket,id=vfs,path="$d/vfs.sock" -device vhost-user-fs-pci,chardev=vfs,tag=fs,addr=0x4 \
		-qmp unix:"$d/qmp",server=on,wait=off >"$d/qemu.log" 2>&1 &
	PIDS="$PIDS $!"
	wait_listening "$d/qmp" $!
	/usr/bin/python3 "$QMP" "$d/qmp" migrate-set-capabilities \
		'{"capabilities":[{"capability":"mapped-ram","state":true}]}' >/dev/null
	# QEMU reads every page of RAM to save it (a 16 GiB guest: over 20 s)
	QMP_TIMEOUT=600 /usr/bin/python3 "$QMP" "$d/qmp" migrate "$uri"
	/usr/bin/python3 "$QMP" "$d/qmp" quit
	wait
	PIDS=
}

# measure FILE: median, min, max wall ms; peak RSS; bytes read
measure() {
	local f=$1 i ms rss
	: >"$TMP/times"
	for i in $(seq "$RUNS"); do
		"$TIME_RUN" "$TMP/times" "$VHOST_STATE" -q extract --list "$f" >/dev/null
	done
	# time-run appends "SECONDS MAXRSS_KIB STATUS"
	ms=$(awk '{printf "%.1f\n", $1 * 1000}' "$TMP/times" | sort -n)
	rss=$(awk '{print $2}' "$TMP/times" | sort -n | tail -n1)
	printf '%s ms (min %s, max %s), peak RSS %s KiB' \
		"$(echo "$ms" | sed -n "$(((RUNS + 1) / 2))p")" "$(echo "$ms" | head -n1)" "$(echo "$ms" | tail -n1)" "$rss"
	if command -v strace >/dev/null; then
		printf ', read %s bytes' "$(strace -f -e trace=read,pread64 "$VHOST_STATE" -q extract --list "$f" 2>&1 >/dev/null |
			sed -n 's/.*= \([0-9][0-9]*\)$/\1/p' | awk '{s += $1} END {print s + 0}')"
	fi
	echo
}

printf '| guest RAM | file | apparent size | on disk | extract --list |\n|---|---|---|---|---|\n'
for mem in ${BENCH_SIZES:-1G 4G}; do
	save "$mem" "file:$TMP/mr-$mem.mig"
	n=$(/usr/bin/python3 "$VS_SRCDIR/tests/bats/helpers/libvirt-image.py" header "$TMP/lv-$mem.img" --format 6)
	save "$mem" "file:$TMP/lv-$mem.img,offset=$n"
	for f in "$TMP/mr-$mem.mig" "$TMP/lv-$mem.img"; do
		printf '| %s | %s | %s | %s | %s |\n' "$mem" "$(basename "$f" | sed 's/-.*//; s/mr/mapped-ram/; s/lv/libvirt sparse/')" \
			"$(stat -c %s "$f")" "$(du -k "$f" | cut -f1) KiB" "$(measure "$f")"
	done
	rm -f "$TMP/mr-$mem.mig" "$TMP/lv-$mem.img"
done
