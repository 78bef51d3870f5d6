#!/bin/sh
# make-initramfs.sh KERNEL-ROOT OUT — build the test guest's initramfs:
# busybox-static, the virtio-fs modules of the kernel fetch-kernel.sh
# unpacked under KERNEL-ROOT, and guest-init.sh as /init.  OUT (a gzipped
# newc cpio) appears complete or not at all.
set -eu

kroot=${1:?usage: make-initramfs.sh KERNEL-ROOT OUT}
out=${2:?usage: make-initramfs.sh KERNEL-ROOT OUT}
here=$(cd "$(dirname "$0")" && pwd)
busybox=${BUSYBOX:-/bin/busybox}

die() {
	echo "make-initramfs.sh: $*" >&2
	exit 1
}

[ -x "$busybox" ] || die "no $busybox (install busybox-static)"
# The dynamic busybox package installs the same path; it would not run
# without a libc in the initramfs.
if command -v readelf >/dev/null && LC_ALL=C readelf -l "$busybox" | grep -q 'program interpreter'; then
	die "$busybox is dynamically linked (install busybox-static)"
fi
set -- "$kroot"/root/lib/modules/*/kernel
[ -d "$1" ] || die "no kernel modules under $kroot/root/lib/modules"
mods=$1

stage=$(mktemp -d "${TMPDIR:-/tmp}/initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib/modules" "$stage/dev"
cp "$busybox" "$stage/bin/busybox"
cp "$here/guest-init.sh" "$stage/init"
chmod 755 "$stage/init"

# Load order matters (insmod does no dependency resolution); guest-init.sh
# uses the same list.  Debian 12 ships them uncompressed; later kernels
# compress with xz or zstd, which busybox insmod may not read.
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci fuse virtiofs; do
	f=$(find "$mods" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" | head -n1)
	case $f in
	*.ko) cp "$f" "$stage/lib/modules/$m.ko" ;;
	*.ko.xz) xz -dc "$f" >"$stage/lib/modules/$m.ko" ;;
	*.ko.zst) zstd -qdc "$f" >"$stage/lib/modules/$m.ko" ;;
	*) die "module $m not found under $mods" ;;
	esac
done

tmp=$out.tmp.$$
(cd "$stage" && find . | LC_ALL=C sort | "$busybox" cpio -o -H newc -R 0:0 2>/dev/null) | gzip -1 >"$tmp" ||
	{ rm -f "$tmp"; die "cpio failed"; }
mv "$tmp" "$out"
