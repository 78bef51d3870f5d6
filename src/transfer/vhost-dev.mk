# Makefile fragment, included by Makefile.am (one non-recursive make).
# The vhost_dev model (QEMU's vhost.h), the run verb, and the virtio-fs
# test client that gives virtiofsd real state.

libvhoststate_a_SOURCES += \
	src/transfer/vring.c src/transfer/vring.h \
	src/transfer/vhost-dev.c src/transfer/vhost-dev.h

# the logic of run (its steps) is the verb's, not the library's
vhost_state_SOURCES += src/cmd-run.c src/run-steps.c src/run-steps.h
# the back-end channel has its own thread (in libc since glibc 2.34)
vhost_state_LDADD += -lpthread

check_PROGRAMS += tests/fuse-client/fuse-client tests/unit/test-vring tests/unit/test-run-steps \
	tests/unit/test-backend-channel tests/unit/test-vu-frontend tests/unit/test-vu-describe
tests_fuse_client_fuse_client_SOURCES = tests/fuse-client/fuse-client.c
tests_fuse_client_fuse_client_LDADD = $(LIBS_ALL) -lpthread
tests_unit_test_vring_SOURCES = tests/unit/test-vring.c
tests_unit_test_vring_LDADD = $(LIBS_ALL)
tests_unit_test_run_steps_SOURCES = tests/unit/test-run-steps.c src/run-steps.c src/run-steps.h
tests_unit_test_run_steps_LDADD = $(LIBS_ALL)
tests_unit_test_backend_channel_SOURCES = tests/unit/test-backend-channel.c
tests_unit_test_backend_channel_LDADD = $(LIBS_ALL) -lpthread
# vu-frontend.c alone, against a back-end played over a socketpair
tests_unit_test_vu_frontend_SOURCES = tests/unit/test-vu-frontend.c tests/unit/tap.h
tests_unit_test_vu_frontend_LDADD = $(LIBS_ALL)
tests_unit_test_vu_describe_SOURCES = tests/unit/test-vu-describe.c tests/unit/tap.h
tests_unit_test_vu_describe_LDADD = $(LIBS_ALL)

# TESTS already lists $(UNIT_TESTS); vhost-dev.bats, run.bats and fuse.bats
# are in Makefile.am's BATS_TESTS.
UNIT_TESTS += tests/unit/test-vring tests/unit/test-run-steps tests/unit/test-backend-channel \
	tests/unit/test-vu-frontend tests/unit/test-vu-describe
EXTRA_DIST += tests/bats/helpers/fuse.bash
