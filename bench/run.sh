#!/bin/bash
# bench/run.sh — the driver behind `make bench` (see bench/README.md).
#
# Every figure is a median over several runs, shown with its min and max,
# beside a baseline measured in the same run on the same bytes:
#   dump     vhost-state dump of a fake back-end's seeded state to
#            /dev/null, against "the back-end emits the same bytes into a
#            pipe, cat copies them to /dev/null";
#   restore  vhost-state restore of a raw stream file (in the page cache)
#            into a back-end that checks every byte, against "cat of that
#            file into the back-end checking it from a pipe";
#   archive  vhost-state dump --format archive --zstd=1 of incompressible
#            and --compressible state, --threads 0, 1 and -1, to
#            /dev/null, against "the back-end emits the same raw stream,
#            zstd -1 --single-thread (-T1, -T0) compresses it to
#            /dev/null", with the time of SHA-256 alone as a floor;
#   virtiofsd  dump of an idle real virtiofsd, process start to exit,
#            against the smallest possible front-end (bench/mini-frontend),
#            with the time split into phases (from strace);
#   preflight  a 100,000-inode state checked against its directory, beside
#            find(1) over the same tree (bench/preflight.sh).
# ratio = baseline median / vhost-state median: 1.00 is as fast as the
# baseline, above is faster.  Peak RSS is vhost-state's own (wait4).
#
# Environment (make bench sets the first six):
#   VHOST_STATE FAKE_BACKEND TIME_RUN MINI_FRONTEND SHA256 VS_SRCDIR
#   BENCH_QUICK=1     smaller sizes, fewer runs (a quick look, not a record)
#   BENCH_RUNS=N      runs per throughput figure (default 7; quick 5)
#   BENCH_VFS_RUNS=N  runs per virtiofsd figure (default 20)
#   BENCH_TMPDIR=DIR  where stream files go (default /var/tmp: disk, not tmpfs)
#   BENCH_SETTLE=S    seconds a fresh virtiofsd is left to settle before it
#                     is timed (default 0.05: its start-up is not ours)
#   BENCH_CFLAGS      shown in the header (the build's CFLAGS)
set -eu

: "${VHOST_STATE:?run through make bench}" "${FAKE_BACKEND:?run through make bench}"
: "${TIME_RUN:?run through make bench}" "${MINI_FRONTEND:?run through make bench}"
: "${VS_SRCDIR:?run through make bench}" "${SHA256:?run through make bench}"
. "$VS_SRCDIR/tests/peers/wait-socket.sh"
QUICK=${BENCH_QUICK:-0}
[ "$QUICK" = 0 ] || [ "$QUICK" = 1 ] || { echo "bench: BENCH_QUICK must be 0 or 1" >&2; exit 2; }
if [ "$QUICK" = 1 ]; then
	RUNS=${BENCH_RUNS:-5}
	SIZES="1048576 16777216 268435456"
else
	RUNS=${BENCH_RUNS:-7}
	SIZES="1048576 67108864 1073741824 4294967296"
fi
VFS_RUNS=${BENCH_VFS_RUNS:-20}
SETTLE=${BENCH_SETTLE:-0.05}
TMPBASE=${BENCH_TMPDIR:-/var/tmp}
SEED=20240917
# The size whose ratios are held against the targets: the largest below 4 GiB.
TARGET_SIZE=1073741824
[ "$QUICK" = 0 ] || TARGET_SIZE=268435456
RSS_LIMIT_KIB=8192

die() {
	echo "bench: $*" >&2
	exit 1
}

# One back-end at a time: the one started last, until reaped.
BACKEND_PID=
WORK=
SOCKDIR=
cleanup() {
	if [ -n "$BACKEND_PID" ]; then
		kill "$BACKEND_PID" 2>/dev/null || true
		wait "$BACKEND_PID" 2>/dev/null || true
	fi
	[ -z "$WORK" ] || rm -rf "$WORK"
	[ -z "$SOCKDIR" ] || rm -rf "$SOCKDIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$TMPBASE"
WORK=$(mktemp -d "$TMPBASE/vs-bench.XXXXXX")
# sun_path is 108 bytes: sockets go in a short private directory.
SOCKDIR=$(mktemp -d /tmp/vsb.XXXXXX)
ROWS=$WORK/rows
: >"$ROWS"

human() {
	awk -v n="$1" 'BEGIN {
		if (n >= 1073741824) printf "%g GiB", n / 1073741824
		else if (n >= 1048576) printf "%g MiB", n / 1048576
		else printf "%d B", n }'
}

# wait_socket PATH PID — until a back-end listens on PATH.
wait_socket() {
	wait_listening "$1" "$2" || die "no back-end on $1"
}

# start_fake SOCKET [fake-backend options] — sets BACKEND_PID.
start_fake() {
	local sock=$1
	shift
	rm -f "$sock"
	"$FAKE_BACKEND" --socket "$sock" "$@" 2>>"$WORK/fake-backend.log" &
	BACKEND_PID=$!
	wait_socket "$sock" "$BACKEND_PID"
}

# reap — the back-end must have exited cleanly.
reap() {
	local rc=0
	wait "$BACKEND_PID" || rc=$?
	BACKEND_PID=
	[ "$rc" = 0 ] || die "the back-end exited with status $rc (log: $(tail -n 3 "$WORK"/*.log 2>/dev/null))"
}

# timed RESULT CMD... — one run through time-run; a failure ends the bench.
timed() {
	local res=$1
	shift
	"$TIME_RUN" "$res" "$@" || die "failed (status $?): $*"
}

# stats RESULT — "median min max peak_rss_kib" over the runs in RESULT.
stats() {
	sort -n -k1,1 "$1" | awk '
		{ t[NR] = $1; if ($2 > rss) rss = $2 }
		END {
			if (NR == 0) exit 1
			m = NR % 2 ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
			printf "%.6f %.6f %.6f %d\n", m, t[1], t[NR], rss
		}'
}

# row CASE SIZE VS_RESULT BASE_RESULT [NOTE [FLOOR]] — one line of the
# table; FLOOR (seconds) is a time no vhost-state run can go below.
row() {
	local vs base
	vs=$(stats "$3")
	base=$(stats "$4")
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$vs" "$base" "${5:-}" "${6:-}" >>"$ROWS"
}

# --- dump: back-end SAVE -> vhost-state -> /dev/null ------------------------
# bench_dump SIZE [PIECE] — PIECE: the write size of the back-end's SAVE
# and of the baseline's emitter (same bytes, same writes); 0 (default):
# whole 1 MiB blocks into a 1 MiB pipe; otherwise PIECE-byte writes and
# an emitter that leaves its pipe at the default size — the simplest
# emitter there is, so that no figure rests on one emitter's habits.
bench_dump() {
	local n=$1 piece=${2:-0} sock=$SOCKDIR/d.sock vs=$WORK/dump-vs.$1.$2 base=$WORK/dump-base.$1.$2 i
	local pflag=() name="dump raw -> /dev/null" note="baseline: back-end --emit | cat >/dev/null"
	if [ "$piece" != 0 ]; then
		pflag=(--piece "$piece")
		name="dump raw -> /dev/null, $((piece / 1024)) KiB writes"
		note="baseline: back-end --emit --piece $piece (64 KiB pipe) | cat >/dev/null"
	fi
	: >"$vs"
	: >"$base"
	# Once, untimed: the dump carries exactly the seeded state.
	start_fake "$sock" --state-size "$n" --seed "$SEED" "${pflag[@]}"
	"$VHOST_STATE" -q dump "$sock" | "$FAKE_BACKEND" --absorb --framed --state-size "$n" --seed "$SEED" ||
		die "dump of $(human "$n"): the stream is not the back-end's state"
	reap
	# Run 0 warms up and is dropped; the two sides alternate.
	for i in $(seq 0 "$RUNS"); do
		start_fake "$sock" --state-size "$n" --seed "$SEED" "${pflag[@]}"
		timed "$vs" "$VHOST_STATE" -q dump "$sock" >/dev/null
		reap
		# shellcheck disable=SC2016 # the inner shell expands them
		timed "$base" sh -c '"$1" --emit --state-size "$2" --seed "$3" $4 | cat' sh \
			"$FAKE_BACKEND" "$n" "$SEED" "${pflag[*]}" >/dev/null
		if [ "$i" = 0 ]; then
			: >"$vs"
			: >"$base"
		fi
	done
	row "$name" "$n" "$vs" "$base" "$note"
}

# bench_dump_pipe SIZE — the same into a pipe consumer: vhost-state dump |
# cat >/dev/null against back-end --emit | cat | cat >/dev/null (one more
# copy each side).  Both are timed as whole pipelines, so the peak RSS
# shown is the largest process of the pipeline.
bench_dump_pipe() {
	local n=$1 sock=$SOCKDIR/p.sock vs=$WORK/pipe-vs.$1 base=$WORK/pipe-base.$1 i
	: >"$vs"
	: >"$base"
	for i in $(seq 0 "$RUNS"); do
		start_fake "$sock" --state-size "$n" --seed "$SEED"
		# shellcheck disable=SC2016 # the inner shell expands them
		timed "$vs" sh -c '"$1" -q dump "$2" | cat >/dev/null' sh "$VHOST_STATE" "$sock"
		reap
		# shellcheck disable=SC2016
		timed "$base" sh -c '"$1" --emit --state-size "$2" --seed "$3" | cat | cat >/dev/null' sh \
			"$FAKE_BACKEND" "$n" "$SEED"
		if [ "$i" = 0 ]; then
			: >"$vs"
			: >"$base"
		fi
	done
	row "dump raw | cat (pipeline)" "$n" "$vs" "$base" "baseline: back-end --emit | cat | cat >/dev/null"
}

# --- restore: file -> vhost-state -> back-end LOAD (checked) ----------------
bench_restore() {
	local n=$1 sock=$SOCKDIR/r.sock vs=$WORK/restore-vs.$1 base=$WORK/restore-base.$1 i
	local file=$WORK/state-$1.vhs need avail
	: >"$vs"
	: >"$base"
	# KiB: the stream (payload + a 4-byte length per MiB) and 1 GiB to spare
	need=$(((n + n / 262144 + 8) / 1024 + 1048576))
	avail=$(df -Pk "$WORK" | awk 'NR == 2 { print $4 }')
	if [ "$avail" -lt "$need" ]; then
		printf '%s\t%s\t-\t-\t%s\n' "restore raw <- file" "$n" \
			"not measured: $((avail / 1024)) MiB free in $TMPBASE, $((need / 1024)) MiB needed" >>"$ROWS"
		return 0
	fi
	"$FAKE_BACKEND" --emit --framed --state-size "$n" --seed "$SEED" >"$file"
	# In the page cache and on disk: no writeback during the runs.
	sync "$file"
	cat "$file" >/dev/null
	for i in $(seq 0 "$RUNS"); do
		# --check-load: CHECK_DEVICE_STATE fails unless every byte matches.
		start_fake "$sock" --state-size "$n" --seed "$SEED" --check-load
		timed "$vs" "$VHOST_STATE" -q restore "$sock" -i "$file"
		reap
		# shellcheck disable=SC2016 # the inner shell expands them
		timed "$base" sh -c 'cat "$1" | "$2" --absorb --framed --state-size "$3" --seed "$4"' sh \
			"$file" "$FAKE_BACKEND" "$n" "$SEED"
		if [ "$i" = 0 ]; then
			: >"$vs"
			: >"$base"
		fi
	done
	rm -f "$file"
	row "restore raw <- file" "$n" "$vs" "$base" "baseline: cat FILE | back-end --absorb"
}

# --- archive + zstd dump: back-end SAVE -> vhost-state (compress, spool, tar)
# bench_archive SIZE incompressible|compressible THREADS — vhost-state
# --format archive --zstd=1 --threads THREADS -o /dev/null, against the
# back-end emitting the same raw stream (--emit --framed: byte for byte
# the state member) into zstd -1 with the same threading: --threads 0
# (compress in the receiving thread) against --single-thread, 1 (one
# compression thread) against -T1, -1 (one per core) against -T0.
# Also timed, for the notes: SHA-256 alone over the same bytes, which no
# archive dump can beat (the manifest carries the payload's digest).
bench_archive() {
	local n=$1 kind=$2 thr=$3 sock=$SOCKDIR/a.sock i zt label
	local vs=$WORK/arch-vs.$1.$2.$3 base=$WORK/arch-base.$1.$2.$3 sha=$WORK/arch-sha.$1.$2.$3
	local pipe=$WORK/arch-pipe.$1.$2.$3 file=$WORK/arch.tar.zst vs_size base_size sha_median pipe_median
	local zstd_median notes
	local -a cflag=()
	[ "$kind" = compressible ] && cflag=(--compressible)
	case $thr in
	0) zt=--single-thread label="1 thread for I/O and compression" ;;
	1) zt=-T1 label="1 compression thread" ;;
	*) zt=-T0 label="one compression thread per core" ;;
	esac
	: >"$vs"
	: >"$base"
	: >"$sha"
	: >"$pipe"
	# Once, untimed: the archive's state member is exactly the seeded
	# stream, and both sides' compressed sizes.
	start_fake "$sock" --state-size "$n" --seed "$SEED" "${cflag[@]}"
	rm -f "$file"
	TMPDIR=$WORK "$VHOST_STATE" -q dump "$sock" --format archive --zstd=1 --threads "$thr" -o "$file" ||
		die "archive dump of $(human "$n") failed"
	reap
	zstd -q -d -c "$file" | tar -xOf - state.vhs |
		"$FAKE_BACKEND" --absorb --framed --state-size "$n" --seed "$SEED" "${cflag[@]}" ||
		die "archive dump of $(human "$n"): the state member is not the back-end's state"
	vs_size=$(stat -c %s "$file")
	rm -f "$file"
	base_size=$("$FAKE_BACKEND" --emit --framed --state-size "$n" --seed "$SEED" "${cflag[@]}" |
		zstd -q -1 "$zt" | wc -c)
	for i in $(seq 0 "$RUNS"); do
		start_fake "$sock" --state-size "$n" --seed "$SEED" "${cflag[@]}"
		timed "$vs" env TMPDIR="$WORK" "$VHOST_STATE" -q dump "$sock" --format archive --zstd=1 \
			--threads "$thr" -o /dev/null
		reap
		# shellcheck disable=SC2016 # the inner shell expands them
		timed "$base" sh -c '"$1" --emit --framed --state-size "$2" --seed "$3" $4 | zstd -q -1 "$5"' sh \
			"$FAKE_BACKEND" "$n" "$SEED" "${cflag[*]}" "$zt" >/dev/null
		# shellcheck disable=SC2016
		timed "$sha" sh -c '"$1" --emit --framed --state-size "$2" --seed "$3" $4 | "$5"' sh \
			"$FAKE_BACKEND" "$n" "$SEED" "${cflag[*]}" "$SHA256" >/dev/null
		# What a user runs for the same two results, a compressed copy
		# and its SHA-256; the digest's reader is waited for too.
		# shellcheck disable=SC2016
		timed "$pipe" sh -c 'rm -f "$6"; mkfifo "$6"; openssl dgst -sha256 <"$6" >/dev/null & d=$!
			"$1" --emit --framed --state-size "$2" --seed "$3" $4 | tee "$6" | zstd -q -1 "$5" >/dev/null
			wait $d' sh "$FAKE_BACKEND" "$n" "$SEED" "${cflag[*]}" "$zt" "$WORK/digest.fifo"
		if [ "$i" = 0 ]; then
			: >"$vs"
			: >"$base"
			: >"$sha"
			: >"$pipe"
		fi
	done
	sha_median=$(stats "$sha" | cut -d' ' -f1)
	pipe_median=$(stats "$pipe" | cut -d' ' -f1)
	zstd_median=$(stats "$base" | cut -d' ' -f1)
	notes="compressed $(awk -v a="$vs_size" -v b="$base_size" -v n="$n" 'BEGIN { printf "%.2fx / %.2fx", n / a, n / b }')"
	notes="$notes; SHA-256 alone $(awk -v s="$sha_median" 'BEGIN { printf "%.1f ms", s * 1000 }')"
	if [ "$kind" = incompressible ]; then
		# held against the pipeline; zstd alone in the notes
		notes="baseline: --emit --framed | tee >(openssl dgst -sha256) | zstd -1 $zt ($label); $notes"
		notes="$notes; zstd -1 $zt alone $(awk -v z="$zstd_median" -v v="$(stats "$vs" | cut -d' ' -f1)" \
			'BEGIN { printf "%.1f ms, ratio %.2f", z * 1000, z / v }')"
		row "dump archive+zstd-1, $kind, --threads $thr" "$n" "$vs" "$pipe" "$notes" "$sha_median"
	else
		notes="baseline: --emit --framed | zstd -1 $zt ($label); $notes"
		row "dump archive+zstd-1, $kind, --threads $thr" "$n" "$vs" "$base" "$notes" "$sha_median"
	fi
}

# --- virtiofsd: an idle real back-end, start to exit ------------------------
VFS_ROOT=
start_vfs() {
	local sock=$1 r=$VFS_ROOT/root
	rm -f "$sock"
	"$r/usr/lib64/ld-linux-x86-64.so.2" --library-path "$r/usr/lib/x86_64-linux-gnu" \
		"$r/usr/libexec/virtiofsd" --socket-path="$sock" --shared-dir="$WORK/share" \
		--sandbox=none --seccomp=none >>"$WORK/virtiofsd.log" 2>&1 &
	BACKEND_PID=$!
	wait_socket "$sock" "$BACKEND_PID"
	sleep "$SETTLE"
}

# phases STRACE_OUT — "start connect handshake transfer output" in seconds:
# exec -> socket(), socket() -> connected, -> SET_DEVICE_STATE_FD sent,
# -> CHECK_DEVICE_STATE's reply read, -> process gone.
phases() {
	awk '
		function tend(line) { return $2 + substr(line, match(line, /<[0-9.]+>$/) + 1, RLENGTH - 2) }
		/ execve\(/ && !t0 { t0 = $2 }
		/ socket\(/ && !ts { ts = $2 }
		/ connect\(/ && / = 0 </ && !tc { tc = tend($0) }
		/ sendmsg\(/ && /SCM_RIGHTS/ && !tf { tf = $2 }
		/ recvmsg\(/ { tr = tend($0) }
		/\+\+\+ exited with 0 \+\+\+/ { te = $2 }
		END {
			if (!t0 || !ts || !tc || !tf || !tr || !te) exit 1
			printf "%.6f %.6f %.6f %.6f %.6f\n", ts - t0, tc - ts, tf - tc, tr - tf, te - tr
		}' "$1"
}

bench_virtiofsd() {
	local sock=$SOCKDIR/v.sock vs=$WORK/vfs-vs base=$WORK/vfs-base i p who a b c d e
	local phase_names="start connect handshake transfer output"
	VFS_ROOT=$("$VS_SRCDIR/tests/peers/fetch-trixie.sh" virtiofsd 2>"$WORK/fetch.err") || VFS_ROOT=
	if [ -z "$VFS_ROOT" ] || [ ! -x "$VFS_ROOT/root/usr/libexec/virtiofsd" ]; then
		printf '%s\t%s\t-\t-\t%s\n' "virtiofsd idle dump, start->exit" 0 \
			"not measured: virtiofsd unavailable ($(tail -n 1 "$WORK/fetch.err"))" >>"$ROWS"
		return 0
	fi
	mkdir -p "$WORK/share"
	: >"$vs"
	: >"$base"
	# Once: both front-ends carry the same payload.
	start_vfs "$sock"
	"$VHOST_STATE" -q dump "$sock" >"$WORK/idle.vhs"
	reap
	start_vfs "$sock"
	"$MINI_FRONTEND" "$sock" >"$WORK/idle.bin"
	reap
	/usr/bin/python3 "$VS_SRCDIR/tests/bats/helpers/chunks.py" payload <"$WORK/idle.vhs" | cmp -s - "$WORK/idle.bin" ||
		die "virtiofsd: vhost-state and mini-frontend dumped different states"
	for i in $(seq 0 "$VFS_RUNS"); do
		start_vfs "$sock"
		timed "$vs" "$VHOST_STATE" -q dump "$sock" >/dev/null
		reap
		start_vfs "$sock"
		timed "$base" "$MINI_FRONTEND" "$sock" >/dev/null
		reap
		if [ "$i" = 0 ]; then
			: >"$vs"
			: >"$base"
		fi
	done
	row "virtiofsd idle dump, start->exit" "$(stat -c %s "$WORK/idle.bin")" "$vs" "$base" \
		"baseline: mini-frontend (connect, SET_DEVICE_STATE_FD, read, CHECK)"

	if ! command -v strace >/dev/null; then
		printf '%s\t%s\t-\t-\t%s\n' "  phases" 0 "not measured: strace is not installed" >>"$ROWS"
		return 0
	fi
	# Phases: separate runs under strace (only the few traced calls stop;
	# each stop still costs tens of microseconds, so these medians are
	# above the untraced ones: read them as shares).
	for who in vs base; do
		for p in $phase_names total; do
			: >"$WORK/ph-$who-$p"
		done
	done
	for i in $(seq 1 "$VFS_RUNS"); do
		for who in vs base; do
			start_vfs "$sock"
			if [ "$who" = vs ]; then
				set -- "$VHOST_STATE" -q dump "$sock"
			else
				set -- "$MINI_FRONTEND" "$sock"
			fi
			strace -f --seccomp-bpf -ttt -T -o "$WORK/strace.out" \
				-e trace=execve,socket,connect,sendmsg,recvmsg,exit_group "$@" >/dev/null ||
				die "under strace: $*"
			reap
			phases "$WORK/strace.out" >"$WORK/ph.one" || die "cannot read the phases from $WORK/strace.out"
			# time-run's format (seconds, rss, status), one file per phase
			read -r a b c d e <"$WORK/ph.one"
			set -- "$a" "$b" "$c" "$d" "$e"
			for p in $phase_names; do
				echo "$1 0 0" >>"$WORK/ph-$who-$p"
				shift
			done
			awk '{ print $1 + $2 + $3 + $4 + $5, 0, 0 }' "$WORK/ph.one" >>"$WORK/ph-$who-total"
		done
	done
	local sum_vs sum_base share
	row "  under strace: total" 0 "$WORK/ph-vs-total" "$WORK/ph-base-total" \
		"phases below: medians; share = of the sum of the phase medians"
	sum_vs=$(for p in $phase_names; do stats "$WORK/ph-vs-$p"; done | awk '{ t += $1 } END { print t }')
	sum_base=$(for p in $phase_names; do stats "$WORK/ph-base-$p"; done | awk '{ t += $1 } END { print t }')
	for p in $phase_names; do
		share=$(awk -v a="$(stats "$WORK/ph-vs-$p" | cut -d' ' -f1)" -v t="$sum_vs" \
			-v b="$(stats "$WORK/ph-base-$p" | cut -d' ' -f1)" -v u="$sum_base" \
			'BEGIN { printf "share %.0f%% / %.0f%%", 100 * a / t, 100 * b / u }')
		row "  . $p" 0 "$WORK/ph-vs-$p" "$WORK/ph-base-$p" "$share"
	done
}

# CPU time the whole machine spent busy, in clock ticks (USER_HZ).
machine_busy() {
	awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}

# CPU seconds this script and everything it waited for used, from bash's
# times (run in this shell: a $(...) subshell would count only itself).
our_cpu() {
	awk '{ for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] } }
		END { print t }' "$1"
}

# --- the run ----------------------------------------------------------------
BUSY0=$(machine_busy)
echo "vhost-state bench: $(date -u '+%Y-%m-%d %H:%M UTC')$([ "$QUICK" = 1 ] && echo ' (BENCH_QUICK: indicative only)')"
echo "machine: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) cores," \
	"$(awk '/^MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r)"
COMMIT=$(git -C "$VS_SRCDIR" describe --always --dirty 2>/dev/null) || COMMIT="not a git checkout"
echo "build: $("$VHOST_STATE" --version 2>/dev/null | head -n 1) ($COMMIT), CFLAGS=${BENCH_CFLAGS:-?}"
echo "load average at start: $(cut -d" " -f1-3 /proc/loadavg)"
if [ "$RUNS" -lt 5 ] || [ "$VFS_RUNS" -lt 20 ]; then
	echo "NOTE: fewer runs than the targets ask for (5 per throughput figure, 20 for virtiofsd)"
fi
echo "files in $TMPBASE ($(df -PT "$TMPBASE" | awk 'NR == 2 { print $2 }')); $RUNS runs per figure + 1 warm-up" \
	"dropped; virtiofsd: $VFS_RUNS runs"
echo

for n in $SIZES; do
	echo "bench: dump $(human "$n") ..." >&2
	bench_dump "$n" 0
	bench_dump "$n" 65536
	bench_dump_pipe "$n"
done
for n in $SIZES; do
	echo "bench: restore $(human "$n") ..." >&2
	bench_restore "$n"
done
for kind in incompressible compressible; do
	for thr in 0 1 -1; do
		echo "bench: archive+zstd dump $(human "$TARGET_SIZE") $kind --threads $thr ..." >&2
		bench_archive "$TARGET_SIZE" "$kind" "$thr"
	done
done
echo "bench: virtiofsd ..." >&2
bench_virtiofsd

# Other work on the machine while we ran makes every figure noisier.
times >"$WORK/times"
OTHER=$(awk -v b0="$BUSY0" -v b1="$(machine_busy)" -v ours="$(our_cpu "$WORK/times")" -v wall="$SECONDS" \
	-v cores="$(nproc)" -v hz="$(getconf CLK_TCK)" \
	'BEGIN { o = (b1 - b0) / hz - ours; if (o < 0) o = 0
		printf "%.0f CPU-s over %d s wall = %.0f%% of %d cores", o, wall, wall ? 100 * o / (wall * cores) : 0, cores
		if (wall && o / (wall * cores) > 0.1) printf "  (WARNING: the machine was not idle; figures are noisy)" }')

# --- the table --------------------------------------------------------------
awk -F'\t' -v limit="$RSS_LIMIT_KIB" -v target="$TARGET_SIZE" '
	function human(n) {
		if (n == 0) return "-"
		if (n >= 1073741824) return sprintf("%g GiB", n / 1073741824)
		if (n >= 1048576) return sprintf("%g MiB", n / 1048576)
		return sprintf("%d B", n)
	}
	function ms(s) { return s < 0.1 ? sprintf("%.2f ms", s * 1000) : sprintf("%.1f ms", s * 1000) }
	function range(lo, hi) { return s(lo) "-" s(hi) }
	function s(x) { return x < 0.1 ? sprintf("%.2f", x * 1000) : sprintf("%.0f", x * 1000) }
	{
		c[NR] = $1; z[NR] = human($2)
		if ($3 == "-") { v[NR] = "-"; b[NR] = "-"; r[NR] = "-"; sp[NR] = "-"; m[NR] = "-"; n[NR] = $5; next }
		split($3, V, " "); split($4, B, " ")
		v[NR] = ms(V[1]); b[NR] = ms(B[1])
		r[NR] = V[1] > 0 ? sprintf("%.2f", B[1] / V[1]) : "-"
		sp[NR] = range(V[2], V[3]) " / " range(B[2], B[3]) " ms"
		m[NR] = V[4] > 0 ? sprintf("%.1f MiB", V[4] / 1024) : "-"
		n[NR] = $5
		if ($1 ~ /^dump raw/ && ($2 == target || $2 == 4294967296)) {
			ndump++; dump_r[ndump] = B[1] / V[1]; dump_n[ndump] = $1 " at " human($2)
		}
		if ($1 ~ /^restore raw/ && $2 == target) restore_ratio = B[1] / V[1]
		if ($1 ~ /^(dump|restore) raw/ && $1 !~ /pipeline/) {
			if (V[4] > maxrss) maxrss = V[4]
			if (minrss == "" || V[4] < minrss) minrss = V[4]
		}
		if ($1 ~ /^virtiofsd/) { vfs_vs = V[1]; vfs_base = B[1] }
		if ($1 ~ /^dump archive/ && $2 == target) {
			narch++; arch_r[narch] = B[1] / V[1]; arch_n[narch] = substr($1, 22)
			arch_best[narch] = $6 > 0 ? B[1] / $6 : 0
		}
	}
	END {
		h[1] = "case"; h[2] = "size"; h[3] = "vhost-state"; h[4] = "baseline"; h[5] = "ratio"
		h[6] = "spread (min-max: vhost-state / baseline)"; h[7] = "peak RSS"; h[8] = "notes"
		for (i = 1; i <= NR; i++) {
			col[1, i] = c[i]; col[2, i] = z[i]; col[3, i] = v[i]; col[4, i] = b[i]
			col[5, i] = r[i]; col[6, i] = sp[i]; col[7, i] = m[i]; col[8, i] = n[i]
		}
		for (k = 1; k <= 7; k++) {
			w[k] = length(h[k])
			for (i = 1; i <= NR; i++) if (length(col[k, i]) > w[k]) w[k] = length(col[k, i])
		}
		line = ""
		for (k = 1; k <= 7; k++) line = line sprintf("%-" w[k] "s  ", h[k])
		print line h[8]
		line = ""
		for (k = 1; k <= 7; k++) { d = sprintf("%" w[k] "s", ""); gsub(/ /, "-", d); line = line d "  " }
		print line "-----"
		for (i = 1; i <= NR; i++) {
			line = ""
			for (k = 1; k <= 7; k++)
				line = line sprintf(k >= 3 && k <= 5 || k == 7 ? "%" w[k] "s  " : "%-" w[k] "s  ", col[k, i])
			print line col[8, i]
		}
		print ""
		print "targets (ratios at " human(target) "; ratio = baseline / vhost-state):"
		if (ndump == 0)
			print "  dump ratio >= 1.20:      not measured"
		for (i = 1; i <= ndump; i++)
			printf("  dump ratio >= 1.20:      %.2f  %s  (%s)\n", dump_r[i], \
				dump_r[i] >= 1.20 ? "met" : "NOT MET", dump_n[i])
		printf "  restore ratio >= 1.40:   %s\n", restore_ratio == "" ? "not measured" : \
			sprintf("%.2f  %s", restore_ratio, restore_ratio >= 1.40 ? "met" : "NOT MET")
		printf "  raw peak RSS < 8 MiB:    %s\n", maxrss == "" ? "not measured" : \
			sprintf("%.1f-%.1f MiB over all sizes  %s", minrss / 1024, maxrss / 1024, \
				maxrss < limit ? "met" : "NOT MET")
		if (narch == 0)
			print "  archive+zstd dump within 10% (ratio >= 0.90): not measured"
		for (i = 1; i <= narch; i++) {
			# incompressible: against zstd + SHA-256 as a user would
			# run them (>= 1.00); compressible: against zstd (>= 0.95);
			# --threads 0 has no target (shown for the record)
			goal = arch_n[i] ~ /incompressible/ ? 1.00 : 0.95
			if (arch_n[i] ~ /--threads 0$/) {
				printf "  archive+zstd:            %.2f  (no target)  (%s)\n", arch_r[i], arch_n[i]
				continue
			}
			printf "  archive+zstd >= %.2f:    %s\n", goal, sprintf("%.2f  %s  (%s)%s", arch_r[i], \
				arch_r[i] >= goal ? "met" : "NOT MET", arch_n[i], \
				arch_best[i] > 0 && arch_best[i] < goal ? \
				sprintf("  out of reach: SHA-256 alone gives at most %.2f", arch_best[i]) : "")
		}
		printf "  virtiofsd idle dump:     %s\n", vfs_vs == "" ? "not measured" : \
			sprintf("%.2f ms, %.2f ms over the smallest front-end (no target set)", \
				vfs_vs * 1000, (vfs_vs - vfs_base) * 1000)
	}' "$ROWS"
echo "other work on the machine during the run: $OTHER"
echo
echo "proxy overhead (QEMU migration of an idle virtio-fs device, TCG; ratio = direct / proxy):"
sh "$VS_SRCDIR/bench/proxy-overhead.sh"
echo
echo "migration files (a plain QEMU stream of a guest whose RAM is all non-zero; ratio = baseline / vhost-state):"
BENCH_MIG_SIZES=${BENCH_MIG_SIZES:-$([ "$QUICK" = 1 ] && echo 256M || echo 1G)} \
	BENCH_RUNS=$RUNS bash "$VS_SRCDIR/bench/migfile.sh"
echo
sh "$VS_SRCDIR/bench/preflight.sh"
