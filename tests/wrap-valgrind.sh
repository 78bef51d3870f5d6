#!/bin/sh
# Run vhost-state under valgrind memcheck for `make check-valgrind`.  Any
# error or definite leak exits 125 (a status the tool never uses) and
# leaves a non-empty log in $VS_CHECK_LOGDIR, which the make rule rejects.
exec valgrind -q --error-exitcode=125 --leak-check=full \
	--errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
	--log-file="$VS_CHECK_LOGDIR/valgrind.%p.log" "$VS_REAL_BINARY" "$@"
