# Makefile fragment, included by Makefile.am (one non-recursive make).
# preflight: would a state load into a back-end here (offline model).
libvhoststate_a_SOURCES += src/stream/preflight.c src/stream/preflight.h
vhost_state_SOURCES += src/cmd-preflight.c
dist_schema_DATA += schema/preflight.schema.json
EXTRA_DIST += tests/bats/helpers/vfsstate.py
# Its tests, preflight.bats and preflight-guest.bats (on a real guest's
# state), are in Makefile.am's BATS_TESTS.
