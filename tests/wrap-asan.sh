#!/bin/sh
# Run the AddressSanitizer + UBSan build of vhost-state for
# `make check-asan`.  Reports exit 124 (a status the tool never uses) and
# land in $VS_CHECK_LOGDIR, which the make rule rejects when non-empty.
ASAN_OPTIONS="exitcode=124:detect_leaks=1:log_path=$VS_CHECK_LOGDIR/asan"
LSAN_OPTIONS="exitcode=124:log_path=$VS_CHECK_LOGDIR/lsan"
UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=124:log_path=$VS_CHECK_LOGDIR/ubsan"
export ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS
exec "$VS_REAL_BINARY" "$@"
