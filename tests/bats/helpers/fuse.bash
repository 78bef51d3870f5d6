# The virtio-fs test client (tests/fuse-client/), and shared directories
# with known files.  Under check-valgrind / check-asan the client runs
# through the same wrapper as vhost-state.

fuse_client_path() {
	if [ -n "${FUSE_CLIENT:-}" ]; then
		echo "$FUSE_CLIENT"
	elif [ -n "${VS_REAL_BINARY:-}" ]; then
		echo "$(dirname "$VS_REAL_BINARY")/tests/fuse-client/fuse-client"
	else
		echo "$(dirname "$VHOST_STATE")/tests/fuse-client/fuse-client"
	fi
}

fuse_client() {
	local bin
	bin=$(fuse_client_path)
	if [ -n "${VS_REAL_BINARY:-}" ]; then
		VS_REAL_BINARY=$bin "$VHOST_STATE" "$@"
	else
		"$bin" "$@"
	fi
}

# A shared dir with a.txt ("hello\n") and b.txt ("second file\n"); sets
# VFS_SHARE_DIR so the next start_virtiofsd uses it.
two_file_share() {
	VFS_SHARE_DIR=$BATS_TEST_TMPDIR/${1:-share}
	mkdir -p "$VFS_SHARE_DIR"
	printf 'hello\n' >"$VFS_SHARE_DIR/a.txt"
	printf 'second file\n' >"$VFS_SHARE_DIR/b.txt"
}

# populate NAME STATE [fuse-client options]: a fresh virtiofsd on the
# two-file share gets INIT, LOOKUP a.txt and b.txt, OPEN of both, then
# the client stops the device and saves its state to STATE.  Node ids 2
# (a.txt) and 3 (b.txt), handles 0 and 1.
populate() {
	local name=$1 state=$2
	shift 2
	two_file_share "$name.share"
	start_virtiofsd "$name"
	fuse_client -t 10 --save "$state" "$@" "$VFS_SOCK" init lookup a.txt lookup b.txt open 2 open 3
}
