# A real Linux guest on virtio-fs: Debian 12's cloud kernel
# (tests/peers/fetch-kernel.sh) and a busybox initramfs whose /init
# (tests/peers/guest-init.sh) keeps a.txt open and prints one line a second
# on its serial console:
#
#   guest: ready tag=fs4 file=a.txt
#   tick N fd=OK path=OK        (or EIO, ENOENT, EOF, BAD, ERR)
#
# Needs helpers/common, helpers/peers and helpers/qemu.  Every wait has a
# deadline; nothing sleeps and hopes.

# shellcheck disable=SC2034 # used by the .bats files
GUEST_MEM=256M
GUEST_TAG=fs4
GUEST_SLOT=4
GUEST_DEV=0000:00:04.0/vhost-user-fs

# guest_fetch — from setup_file: fetch (or find in the cache) the kernel and
# build the initramfs into $BATS_FILE_TMPDIR; export GUEST_KERNEL and
# GUEST_INITRD, "" when they cannot be had (require_guest says why).
guest_fetch() {
	local root err=$BATS_FILE_TMPDIR/fetch-guest.err
	GUEST_KERNEL=
	GUEST_INITRD=
	if root=$("$VS_SRCDIR/tests/peers/fetch-kernel.sh" 2>"$err") &&
		"$VS_SRCDIR/tests/peers/make-initramfs.sh" "$root" "$BATS_FILE_TMPDIR/initrd.gz" 2>>"$err"; then
		GUEST_KERNEL=$(echo "$root"/root/boot/vmlinuz-*)
		GUEST_INITRD=$BATS_FILE_TMPDIR/initrd.gz
	fi
	export GUEST_KERNEL GUEST_INITRD
}

require_guest() {
	if [ -z "${GUEST_KERNEL:-}" ] || [ ! -r "$GUEST_KERNEL" ] || [ ! -s "${GUEST_INITRD:-}" ]; then
		require_peer_failed "guest kernel/initramfs ($(tail -n1 "$BATS_FILE_TMPDIR/fetch-guest.err" 2>/dev/null))"
	fi
}

# KVM only when the CPU shows VMX or SVM: a paravirtual /dev/kvm without
# them runs paused guests but stops a running one with an internal error.
guest_accel() {
	if [ -r /dev/kvm ] && [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then
		echo kvm
	else
		echo tcg
	fi
}

# init_on_free=1: freed guest pages are zeroed, and QEMU sends zero pages as
# a flag: a saved guest is 56 MB instead of 96.
# no_timer_check: the kernel's boot-time check that the IO-APIC timer
# ticks is for broken boards; under TCG on a loaded host the ticks come
# late, the check fails and the boot panics ("IO-APIC + timer doesn't
# work!", seen once in make check-stress).
# GUEST_ARGS: more kernel parameters (e.g. vs.mode=soak).
guest_cmdline() {
	echo "console=ttyS0 panic=-1 quiet init_on_free=1 no_timer_check vs.tag=$GUEST_TAG${GUEST_ARGS:+ $GUEST_ARGS}"
}

# guest_share NAME — a shared dir holding a.txt: 1000 records "line %05d\n";
# sets VFS_SHARE_DIR for the next start_virtiofsd.
guest_share() {
	VFS_SHARE_DIR=$BATS_TEST_TMPDIR/$1
	mkdir -p "$VFS_SHARE_DIR"
	awk 'BEGIN { for (i = 0; i < 1000; i++) printf "line %05d\n", i }' >"$VFS_SHARE_DIR/a.txt"
}

# start_guest NAME [--incoming] VFS-SOCK — QEMU booting the test guest
# (or, with --incoming, waiting for migrate-incoming) with the share of
# VFS-SOCK at slot 4; sets QEMU_QMP, QEMU_PID, QEMU_LOG and GUEST_CONSOLE
# (the serial console, a file).
start_guest() {
	local name=$1 incoming=
	shift
	if [ "$1" = --incoming ]; then
		incoming=--incoming
		shift
	fi
	GUEST_CONSOLE=$BATS_TEST_TMPDIR/$name.console
	# shellcheck disable=SC2086
	start_qemu "$name" $incoming --running --mem "$GUEST_MEM" --accel "$(guest_accel)" -no-reboot \
		-kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" -append "$(guest_cmdline)" \
		-chardev file,id=ser0,path="$GUEST_CONSOLE" -serial chardev:ser0 \
		-chardev socket,id=vfs,path="$1" \
		-device vhost-user-fs-pci,chardev=vfs,tag="$GUEST_TAG",addr=0x$GUEST_SLOT
}

# console_lines FILE — the console without the tty's carriage returns.
console_lines() {
	tr -d '\r' <"$1" 2>/dev/null
}

# wait_console FILE ERE SECONDS — until a whole console line matches ERE
# (anchored at both ends); prints the console on timeout and fails.
# The match is in $console_match.
wait_console() {
	local file=$1 re=$2 end=$((SECONDS + $3))
	while :; do
		console_match=$(console_lines "$file" | grep -E -x -- "$re" | head -n1)
		[ -z "$console_match" ] || return 0
		if [ "$SECONDS" -ge "$end" ]; then
			echo "no console line matching '$re' after $3 s; console $file:" >&2
			console_lines "$file" | tail -n 20 >&2
			return 1
		fi
		sleep 0.1
	done
}

# last_tick FILE — the number of the last complete tick line, 0 if none.
last_tick() {
	console_lines "$1" | sed -n 's/^tick \([0-9][0-9]*\) fd=[A-Z]* path=[A-Z]*$/\1/p' | tail -n1 | grep . || echo 0
}

# wait_tick FILE AFTER FD PATH SECONDS — until a tick numbered above AFTER
# reports fd=FD path=PATH (each may be an ERE); sets tick_no.
# shellcheck disable=SC2034
wait_tick() {
	local file=$1 after=$2 fd=$3 path=$4 secs=$5 end=$((SECONDS + $5)) n
	while :; do
		n=$(console_lines "$file" | sed -n -E "s/^tick ([0-9]+) fd=($fd) path=($path)\$/\\1/p" |
			awk -v a="$after" '$1 > a { print; exit }')
		if [ -n "$n" ]; then
			tick_no=$n
			return 0
		fi
		if [ "$SECONDS" -ge "$end" ]; then
			echo "no tick after $after with fd=$fd path=$path within $secs s; console $file:" >&2
			console_lines "$file" | tail -n 20 >&2
			return 1
		fi
		sleep 0.1
	done
}

# guest_save FILE — stop the running guest, migrate it to FILE, quit QEMU.
guest_save() {
	python3 "$QMP_PY" "$QEMU_QMP" stop >/dev/null || return 1
	qemu_save "$1"
}

# guest_load FILE — migrate-incoming FILE into the current --incoming QEMU
# and let the guest run (it was stopped when saved).
guest_load() {
	python3 "$QMP_PY" "$QEMU_QMP" incoming "$1" || { cat "$QEMU_LOG" >&2; return 1; }
	python3 "$QMP_PY" "$QEMU_QMP" cont >/dev/null
}
