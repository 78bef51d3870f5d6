# Makefile fragment, included by Makefile.am (one non-recursive make).
# Proxy mode: the relay engine, the proxy and snapshot verbs, and their
# tests against a real QEMU and virtiofsd.

libvhoststate_a_SOURCES += src/transfer/proxy.c src/transfer/proxy.h \
	src/transfer/proxy-int.h src/transfer/proxy-peer.c src/transfer/proxy-log.c \
	src/transfer/proxy-track.c src/transfer/proxy-tee.c src/transfer/proxy-ctl.c

vhost_state_SOURCES += src/cmd-proxy.c src/cmd-snapshot.c

# proxy.bats, proxy-access.bats and proxy-faults.bats are in Makefile.am's
# BATS_TESTS.
EXTRA_DIST += tests/bats/helpers/qemu-proxy.bash tests/bats/helpers/flood.py \
	tests/bats/helpers/vu-client.py tests/bats/helpers/migfile.py
