#!/bin/sh
# Run the AddressSanitizer + UBSan build of vhost-state for
# `make check-asan`.  Reports exit 124 (a status the tool never uses) and
# land in $VS_CHECK_LOGDIR, which the make rule rejects when non-empty.
# LeakSanitizer cannot run under ptrace: a test that straces the tool says
# so with VS_UNDER_PTRACE=1, and that one run goes without the leak check.
leaks=1
[ -z "${VS_UNDER_PTRACE:-}" ] || leaks=0
ASAN_OPTIONS="exitcode=124:detect_leaks=$leaks:log_path=$VS_CHECK_LOGDIR/asan"
LSAN_OPTIONS="exitcode=124:log_path=$VS_CHECK_LOGDIR/lsan"
UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=124:log_path=$VS_CHECK_LOGDIR/ubsan"
export ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS
exec "$VS_REAL_BINARY" "$@"
