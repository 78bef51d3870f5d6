# Makefile fragment, included by Makefile.am (one non-recursive make).
# A real Linux guest on virtio-fs (Debian 12 cloud kernel, busybox
# initramfs) under plain QEMU, and under a private libvirtd.  The kernel is
# fetched into the peer cache outside the tree; the initramfs and the
# daemons' state live in each test file's temporary directory.
# preflight-guest.bats (src/preflight.mk distributes it) uses the guest too.
BATS_TESTS += tests/bats/guest.bats tests/bats/libvirt.bats tests/bats/preflight-guest.bats
EXTRA_DIST += tests/bats/guest.mk tests/bats/helpers/guest.bash tests/bats/helpers/libvirt.bash \
	tests/peers/fetch-kernel.sh tests/peers/make-initramfs.sh tests/peers/guest-init.sh \
	tests/peers/libvirtd-ns.sh
