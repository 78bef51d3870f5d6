# Makefile fragment, included by Makefile.am (one non-recursive make).
# preflight: would a state load into a back-end here (offline model).
libvhoststate_a_SOURCES += src/stream/preflight.c src/stream/preflight.h
vhost_state_SOURCES += src/cmd-preflight.c
BATS_TESTS += tests/bats/preflight.bats
dist_schema_DATA += schema/preflight.schema.json
EXTRA_DIST += tests/bats/helpers/vfsstate.py
# tests/bats/preflight-guest.bats (preflight on a real guest's state) needs
# tests/bats/helpers/guest.bash, so it is listed with the guest tests
# (tests/bats/guest.mk).
