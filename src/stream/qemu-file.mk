# Makefile fragment, included by Makefile.am (one non-recursive make).
# QEMU migration files: extract, inject, and inspect's migration view.
libvhoststate_a_SOURCES += src/stream/qemu-file.c src/stream/qemu-file.h \
	src/stream/libvirt-image.c src/stream/libvirt-image.h \
	src/stream/qemu-compressed.c src/stream/qemu-compressed.h \
	src/stream/qemu-walk.h src/stream/qemu-ram.c src/stream/qemu-nodesc.c \
	src/stream/qemu-states.c src/stream/qemu-inject.c src/stream/qemu-json.c
vhost_state_SOURCES += src/cmd-extract.c src/cmd-inject.c
EXTRA_DIST += tests/bats/helpers/qemu.bash tests/peers/qmp.py tests/bats/helpers/libvirt-image.py
nobase_dist_doc_DATA += doc/migration-files.md
