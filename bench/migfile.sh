#!/bin/bash
# bench/migfile.sh — extract and inject on a plain QEMU migration file of a
# guest whose RAM is all non-zero, against cat and cp of the same file:
#   extract FILE -o /dev/null   against  cat FILE >/dev/null
#   inject FILE STATE -o OUT    against  cp FILE OUT
# The file sits in the page cache (read once before the runs); OUT is
# removed after each run, on the same file system for both sides.
#
# The guest: QEMU 10 (paused, TCG) with a real virtiofsd, its RAM a
# memory-backend-file over a file of incompressible bytes (the fake
# back-end's seeded output), so every page travels whole in the stream.
# Each figure is the median of BENCH_RUNS (default 7) runs with min and
# max, the two sides alternating; ratio = baseline / vhost-state (above 1:
# vhost-state is faster).  Targets (issue "performance, second round"):
# extract >= 0.90, inject >= 0.90.
#
# Environment: VHOST_STATE FAKE_BACKEND TIME_RUN VS_SRCDIR (make bench
# sets them), BENCH_TMPDIR (default /var/tmp), BENCH_MIG_SIZES (default
# "1G"), BENCH_RUNS.
set -eu
: "${VHOST_STATE:?}" "${FAKE_BACKEND:?}" "${TIME_RUN:?}" "${VS_SRCDIR:?}"
TMP=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/vs-bench-mig.XXXXXX")
SOCKS=$(mktemp -d /tmp/vsm.XXXXXX)
RUNS=${BENCH_RUNS:-7}
QMP=$VS_SRCDIR/tests/peers/qmp.py
PIDS=
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	rm -rf "$TMP" "$SOCKS"
}
trap cleanup EXIT

R=$(sh "$VS_SRCDIR/tests/peers/fetch-trixie.sh" virtiofsd 2>/dev/null | tail -n1)/root
[ -x "$R/usr/libexec/virtiofsd" ] || { echo "migfile bench: no virtiofsd (tests/peers/fetch-trixie.sh)" >&2; exit 1; }

. "$VS_SRCDIR/tests/peers/wait-socket.sh"

bytes() {
	case $1 in
	*G) echo $((${1%G} << 30)) ;;
	*M) echo $((${1%M} << 20)) ;;
	*) echo "$1" ;;
	esac
}

# save MEM FILE: a paused guest of MEM whose RAM is incompressible, saved
# to FILE by a plain migrate file:
save() {
	local mem=$1 out=$2
	"$FAKE_BACKEND" --emit --state-size "$(bytes "$mem")" --seed 7 >"$TMP/ram.bin"
	mkdir -p "$TMP/share"
	"$R/usr/lib64/ld-linux-x86-64.so.2" --library-path "$R/usr/lib/x86_64-linux-gnu" "$R/usr/libexec/virtiofsd" \
		--socket-path="$SOCKS/vfs.sock" --shared-dir="$TMP/share" --sandbox=none --seccomp=none \
		>"$TMP/vfs.log" 2>&1 &
	PIDS="$PIDS $!"
	wait_listening "$SOCKS/vfs.sock" $!
	qemu-system-x86_64 -M q35 -accel tcg -nodefaults -display none -S -m "$mem" \
		-object memory-backend-file,id=mem,size="$mem",mem-path="$TMP/ram.bin",share=on \
		-machine memory-backend=mem \
		-chardev socket,id=vfs,path="$SOCKS/vfs.sock" -device vhost-user-fs-pci,chardev=vfs,tag=fs,addr=0x4 \
		-qmp unix:"$SOCKS/qmp",server=on,wait=off >"$TMP/qemu.log" 2>&1 &
	PIDS="$PIDS $!"
	wait_listening "$SOCKS/qmp" $!
	/usr/bin/python3 "$QMP" "$SOCKS/qmp" migrate "file:$out" >/dev/null
	/usr/bin/python3 "$QMP" "$SOCKS/qmp" quit >/dev/null || true
	wait
	PIDS=
	rm -f "$TMP/ram.bin"
}

# median FILE -> "median min max" in ms (time-run: "SECONDS RSS STATUS")
median() {
	awk '{ printf "%.1f\n", $1 * 1000 }' "$1" | sort -n | awk '
		{ t[NR] = $1 }
		END { m = NR % 2 ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2; print m, t[1], t[NR] }'
}

# row CASE SIZE VS BASE NOTE TARGET
row() {
	local v b
	read -r vm vlo vhi <<<"$(median "$3")"
	read -r bm blo bhi <<<"$(median "$4")"
	v=$vm b=$bm
	printf '| %s | %s | %s ms | %s ms | %s | %s-%s / %s-%s ms | %s |\n' "$1" "$2" "$v" "$b" \
		"$(awk -v b="$b" -v v="$v" -v t="$6" 'BEGIN { r = b / v; printf("%.2f %s", r, (r >= t) ? "met" : "NOT MET") }')" \
		"$vlo" "$vhi" "$blo" "$bhi" "$5"
}

printf '| case | guest RAM | vhost-state | baseline | ratio (target 0.90) | spread | baseline |\n'
printf '|---|---|---|---|---|---|---|\n'
for mem in ${BENCH_MIG_SIZES:-1G}; do
	f=$TMP/plain-$mem.mig
	save "$mem" "$f"
	# once, untimed: the state comes out and goes back byte for byte
	"$VHOST_STATE" -q extract "$f" -o "$TMP/state.vhs"
	"$VHOST_STATE" -q inject "$f" "$TMP/state.vhs" -o "$TMP/same.mig"
	cmp "$f" "$TMP/same.mig" || { echo "migfile bench: inject of the same state changed the file" >&2; exit 1; }
	rm -f "$TMP/same.mig"
	cat "$f" >/dev/null
	: >"$TMP/x-vs"
	: >"$TMP/x-base"
	: >"$TMP/i-vs"
	: >"$TMP/i-base"
	: >"$TMP/i-sync"
	for i in $(seq 0 "$RUNS"); do
		"$TIME_RUN" "$TMP/x-vs" "$VHOST_STATE" -q extract "$f" -o /dev/null
		"$TIME_RUN" "$TMP/x-base" sh -c 'cat "$1" >/dev/null' sh "$f"
		"$TIME_RUN" "$TMP/i-vs" "$VHOST_STATE" -q inject "$f" "$TMP/state.vhs" -o "$TMP/out.mig"
		rm -f "$TMP/out.mig"
		"$TIME_RUN" "$TMP/i-base" cp "$f" "$TMP/out.mig"
		rm -f "$TMP/out.mig"
		# what inject guarantees too: the copy on disk (fsync) before it
		# is there under its name
		"$TIME_RUN" "$TMP/i-sync" sh -c 'cp "$1" "$2" && sync "$2"' sh "$f" "$TMP/out.mig"
		rm -f "$TMP/out.mig"
		if [ "$i" = 0 ]; then
			: >"$TMP/x-vs"
			: >"$TMP/x-base"
			: >"$TMP/i-vs"
			: >"$TMP/i-base"
			: >"$TMP/i-sync"
		fi
	done
	row "extract -o /dev/null, plain stream" "$mem ($(stat -c %s "$f") bytes)" "$TMP/x-vs" "$TMP/x-base" \
		"cat FILE >/dev/null" 0.90
	row "inject -o OUT, plain stream" "$mem" "$TMP/i-vs" "$TMP/i-base" "cp FILE OUT" 0.90
	row "inject -o OUT, plain stream" "$mem" "$TMP/i-vs" "$TMP/i-sync" "cp FILE OUT && sync OUT (durable, as inject)" 0.90
	rm -f "$f"
done
