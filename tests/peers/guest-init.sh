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
# (default a.txt).  Anything that goes wrong before the loop prints a
# "guest: FAIL" line and powers off.
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
for arg in $(cat /proc/cmdline); do
	case $arg in
	vs.tag=*) tag=${arg#vs.tag=} ;;
	vs.file=*) file=${arg#vs.file=} ;;
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
