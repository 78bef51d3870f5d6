#!/bin/busybox sh
# shellcheck shell=dash disable=SC2013
# /init of the test guest (make-initramfs.sh puts it into the initramfs).
#
# It mounts the virtio-fs share, keeps FILE open on fd 3 and then prints,
# once a second on the console, one line the tests check:
#
#   guest: ready tag=TAG file=FILE
#   tick N fd=R path=R
#
# where R is OK (the expected record came back), BAD (other bytes), EOF,
# EIO, ENOENT or ERR (any other failure).  Record k of FILE is the 11 bytes
# "line %05d\n" (k = 0..999).  Each tick reads the next record through the
# descriptor opened at boot (sequentially: the first successful read gives
# record 0) and record N mod 1000 by opening the path again, so "fd=OK"
# after a restore proves the back-end still knows the open handle.  Kernel parameters: vs.tag= (default myfs), vs.file=
# (default a.txt), vs.mode=soak (the loop below instead of the ticks).
# Anything that goes wrong before the loop prints a "guest: FAIL" line
# and powers off.
#
# In soak mode (tests/bats/soak.bats) the guest reads and writes the share
# as fast as it can, each round N printing one line:
#
#   soak N ok               or   soak N FAIL WHAT...
#
# Round N writes soak/fN (1 to 64 KiB of random bytes) and soak/fN.sum
# (its sha256, taken from the guest's own copy before writing), reads fN
# back through a new open, re-checks soak/f(N-16) against its .sum, reads
# the next record of FILE through the descriptor held open since boot
# (reopened after the last record), and removes soak/f(N-32): new inodes,
# handles and forgets all the time, files that must survive, one long-lived
# handle.  Errors are printed, never fatal: the loop goes on.
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /mnt /tmp
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

fail() {
	echo "guest: FAIL $*"
	poweroff -f
}

mount -t proc proc /proc || fail "mount /proc"
mount -t sysfs sysfs /sys || fail "mount /sys"
mount -t devtmpfs devtmpfs /dev || fail "mount /dev"

tag=myfs
file=a.txt
mode=tick
for arg in $(cat /proc/cmdline); do
	case $arg in
	vs.tag=*) tag=${arg#vs.tag=} ;;
	vs.file=*) file=${arg#vs.file=} ;;
	vs.mode=*) mode=${arg#vs.mode=} ;;
	esac
done

for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci fuse virtiofs; do
	insmod "/lib/modules/$m.ko" || fail "insmod $m"
done

# The device may appear a little after virtio_pci binds: retry for 10 s.
n=0
until mount -t virtiofs "$tag" /mnt 2>/tmp/mount.err; do
	n=$((n + 1))
	[ "$n" -lt 100 ] || fail "mount -t virtiofs $tag: $(cat /tmp/mount.err)"
	sleep 0.1
done
exec 3<"/mnt/$file" || fail "open /mnt/$file"
echo "guest: ready tag=$tag file=$file"

# classify EXPECTED [DD-ARGS]: read one record (from stdin unless DD-ARGS
# say if=), print what came back.
classify() {
	want=$1
	shift
	got=$(dd bs=11 count=1 "$@" 2>/tmp/dd.err) || {
		case $(cat /tmp/dd.err) in
		*"Input/output error"*) echo EIO ;;
		*"No such file"*) echo ENOENT ;;
		*) echo ERR ;;
		esac
		return
	}
	if [ "$got" = "$want" ]; then
		echo OK
	elif [ -z "$got" ]; then
		echo EOF
	else
		echo BAD
	fi
}

# sum FILE — its sha256 (nothing on error: a read error fails the check).
sum() {
	sha256sum "$1" 2>/dev/null | cut -d' ' -f1
}

soak() {
	d=/mnt/soak
	mkdir -p "$d" || fail "mkdir $d"
	n=0
	fdrec=0
	while :; do
		n=$((n + 1))
		bad=
		head -c $((1024 * (1 + n % 64))) /dev/urandom >/tmp/src
		want=$(sum /tmp/src)
		cp /tmp/src "$d/f$n" 2>/dev/null || bad="$bad write"
		echo "$want" >"$d/f$n.sum" 2>/dev/null || bad="$bad write-sum"
		[ "$(sum "$d/f$n")" = "$want" ] || bad="$bad reread=f$n"
		o=$((n - 16))
		if [ "$o" -ge 1 ]; then
			[ "$(sum "$d/f$o")" = "$(cat "$d/f$o.sum" 2>/dev/null)" ] || bad="$bad old=f$o"
		fi
		r=$(classify "$(printf 'line %05d' "$fdrec")" <&3)
		if [ "$r" = OK ]; then
			fdrec=$((fdrec + 1))
		else
			bad="$bad fd=$r"
		fi
		if [ "$fdrec" -ge 1000 ]; then
			# command: a failed redirection must not end /init
			command exec 3<"/mnt/$file" 2>/dev/null || bad="$bad reopen"
			fdrec=0
		fi
		o=$((n - 32))
		[ "$o" -lt 1 ] || rm -f "$d/f$o" "$d/f$o.sum" || bad="$bad rm=f$o"
		if [ -z "$bad" ]; then
			echo "soak $n ok"
		else
			echo "soak $n FAIL$bad"
		fi
	done
}

[ "$mode" != soak ] || soak

tick=0
fdrec=0
while :; do
	tick=$((tick + 1))
	fd=$(classify "$(printf 'line %05d' "$fdrec")" <&3)
	[ "$fd" != OK ] || fdrec=$((fdrec + 1))
	rec=$((tick % 1000))
	path=$(classify "$(printf 'line %05d' "$rec")" if="/mnt/$file" skip="$rec")
	echo "tick $tick fd=$fd path=$path"
	sleep 1
done
