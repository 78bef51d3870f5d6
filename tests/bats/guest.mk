# Makefile fragment, included by Makefile.am (one non-recursive make).
# A real Linux guest on virtio-fs (Debian 12 cloud kernel, busybox
# initramfs) under plain QEMU, and under a private libvirtd.  The kernel is
# fetched into the peer cache outside the tree; the initramfs and the
# daemons' state live in each test file's temporary directory.
# guest.bats, libvirt.bats and preflight-guest.bats use it (Makefile.am's
# BATS_TESTS lists them).
EXTRA_DIST += tests/bats/guest.mk tests/bats/helpers/guest.bash tests/bats/helpers/libvirt.bash \
	tests/peers/fetch-kernel.sh tests/peers/make-initramfs.sh tests/peers/guest-init.sh \
	tests/peers/libvirtd-ns.sh
