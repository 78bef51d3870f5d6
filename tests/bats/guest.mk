# Makefile fragment, included by Makefile.am (one non-recursive make).
# A real Linux guest on virtio-fs (Debian 12 cloud kernel, busybox
# initramfs) under plain QEMU, and under a private libvirtd.  The kernel is
# fetched into the peer cache outside the tree; the initramfs and the
# daemons' state live in each test file's temporary directory.
# guest.bats, libvirt.bats, preflight-guest.bats and soak.bats use it
# (Makefile.am's BATS_TESTS lists them).
EXTRA_DIST += tests/bats/guest.mk tests/bats/helpers/guest.bash tests/bats/helpers/libvirt.bash \
	tests/bats/helpers/soak.bash tests/bats/helpers/vfscompare.py \
	tests/peers/fetch-kernel.sh tests/peers/make-initramfs.sh tests/peers/guest-init.sh \
	tests/peers/libvirtd-ns.sh

# make check-soak [SOAK_SECONDS=600 SOAK_CYCLES=50 SOAK_COMPARE_EVERY=1]:
# soak.bats for ten minutes instead of the suite's short run; the summary
# goes to check-soak.txt (and tests/bats/soak.log).  Not part of check-all.
SOAK_SECONDS = 600
SOAK_CYCLES = 50
SOAK_COMPARE_EVERY = 1
check-soak: all
	$(MAKE) $(AM_MAKEFLAGS) check-TESTS TESTS=tests/bats/soak.bats check_PROGRAMS= check_SCRIPTS= \
	  TEST_SUITE_LOG=check-soak.log SOAK_SECONDS='$(SOAK_SECONDS)' SOAK_CYCLES='$(SOAK_CYCLES)' \
	  SOAK_COMPARE_EVERY='$(SOAK_COMPARE_EVERY)' SOAK_REPORT='$(abs_top_builddir)/check-soak.txt'
MOSTLYCLEANFILES += check-soak.log check-soak.txt
.PHONY: check-soak
