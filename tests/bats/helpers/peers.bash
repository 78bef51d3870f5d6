# Real back-ends for tests.  A missing peer skips the test, unless
# VHOST_STATE_REQUIRE_PEERS is set (CI): then it fails.

require_peer_failed() {
	if [ -n "${VHOST_STATE_REQUIRE_PEERS:-}" ]; then
		echo "required peer unavailable: $1 (VHOST_STATE_REQUIRE_PEERS is set)" >&2
		return 1
	fi
	skip "$1 unavailable"
}

# trixie_fetch PKG VAR — fetch (or find in the cache) a peer from trixie;
# set and export VAR to its directory, "" when it cannot be had.  Call from
# setup_file so the lookup happens once per file.
trixie_fetch() {
	local root
	root=$("$VS_SRCDIR/tests/peers/fetch-trixie.sh" "$1" 2>"${BATS_FILE_TMPDIR:-/tmp}/fetch-$1.err") || root=
	printf -v "$2" '%s' "$root"
	export "${2?}"
}

# require_trixie PKG VAR BIN — skip (or fail, see above) unless the peer
# that trixie_fetch put in VAR has its program BIN.
require_trixie() {
	local root=${!2:-}
	if [ -z "$root" ] || [ ! -x "$root/root/$3" ]; then
		require_peer_failed "$1 ($(tail -n1 "${BATS_FILE_TMPDIR:-/tmp}/fetch-$1.err" 2>/dev/null))"
	fi
}

virtiofsd_fetch() { trixie_fetch virtiofsd VIRTIOFSD_ROOT; }
require_virtiofsd() { require_trixie virtiofsd VIRTIOFSD_ROOT usr/libexec/virtiofsd; }

virtiofsd_version() {
	cat "$VIRTIOFSD_ROOT/version"
}

# start_virtiofsd NAME [virtiofsd options] — a fresh instance sharing
# $BATS_TEST_TMPDIR/NAME.share; sets VFS_SOCK, VFS_LOG, VFS_PID, VFS_SHARE.
# VFS_EXEC (a command that execs its arguments, e.g. unshare) runs it.
start_virtiofsd() {
	local name=$1 r=$VIRTIOFSD_ROOT/root
	shift
	vs_sockdir
	VFS_SOCK=$VS_SOCKDIR/$name.sock
	VFS_LOG=$BATS_TEST_TMPDIR/$name.virtiofsd.log
	VFS_SHARE=${VFS_SHARE_DIR:-$BATS_TEST_TMPDIR/$name.share}
	mkdir -p "$VFS_SHARE"
	# shellcheck disable=SC2086
	${VFS_EXEC-} "$r/usr/lib64/ld-linux-x86-64.so.2" --library-path "$r/usr/lib/x86_64-linux-gnu" \
		"$r/usr/libexec/virtiofsd" --socket-path="$VFS_SOCK" --shared-dir="$VFS_SHARE" \
		--sandbox=none --seccomp=none "$@" >"$VFS_LOG" 2>&1 &
	VFS_PID=$!
	VS_PIDS="${VS_PIDS:-} $VFS_PID"
	wait_for_socket "$VFS_SOCK" "$VFS_PID"
}

require_qsd() {
	command -v qemu-storage-daemon >/dev/null || require_peer_failed "qemu-storage-daemon"
}

# start_qsd NAME — a vhost-user-blk export on a null device; sets QSD_SOCK,
# QSD_LOG, QSD_PID.
start_qsd() {
	vs_sockdir
	QSD_SOCK=$VS_SOCKDIR/$1.sock
	QSD_LOG=$BATS_TEST_TMPDIR/$1.qsd.log
	qemu-storage-daemon --blockdev driver=null-co,node-name=null0,size=67108864 \
		--export type=vhost-user-blk,id=exp0,node-name=null0,addr.type=unix,addr.path="$QSD_SOCK",writable=on,num-queues=1 \
		>"$QSD_LOG" 2>&1 &
	QSD_PID=$!
	VS_PIDS="${VS_PIDS:-} $QSD_PID"
	wait_for_socket "$QSD_SOCK" "$QSD_PID"
}
