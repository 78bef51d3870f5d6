#!/bin/sh
# The main job against a real back-end, step by step: fresh virtiofsd
# instances are dumped, given a non-idle state, and verified.
set -eu

VS=${VHOST_STATE:-./vhost-state}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/peers/wait-socket.sh
. "$here/wait-socket.sh"
root=$("$here/fetch-trixie.sh" virtiofsd)/root
work=$(mktemp -d /tmp/vhost-state-demo.XXXXXX)
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

say() { printf '\n== %s\n' "$*"; }
show() { printf '   %s\n' "$*"; }

# start NAME [options]: a fresh virtiofsd on $work/NAME.sock sharing $work/share
start() {
	name=$1
	shift
	"$root/usr/lib64/ld-linux-x86-64.so.2" --library-path "$root/usr/lib/x86_64-linux-gnu" \
		"$root/usr/libexec/virtiofsd" --socket-path="$work/$name.sock" --shared-dir="$work/share" \
		--sandbox=none --seccomp=none "$@" >"$work/$name.log" 2>&1 &
	pids="$pids $!"
	wait_listening "$work/$name.sock" $! 5 ||
		{ echo "virtiofsd did not start; its log:" >&2; cat "$work/$name.log" >&2; exit 1; }
}

mkdir -p "$work/share"
echo "hello from the shared directory" >"$work/share/a.txt"
echo "vhost-state demo: $("$VS" --version | head -n1), virtiofsd $(cat "$root/../version")"

say "1. info: what a fresh virtiofsd offers (this connection consumes it)"
start info
"$VS" info "$work/info.sock" | sed 's/^/   /' | grep -v '^   peer:'

say "2. dump: the state of a fresh, idle virtiofsd"
start idle
"$VS" dump "$work/idle.sock" -o "$work/idle.vhs"
show "idle.vhs: $(xxd -p "$work/idle.vhs" | tr -d '\n')  (be32 length 10, the payload, be32 0)"

say "3. a non-idle state: one inode for a.txt, next inode 3"
# virtiofsd 1.13's encoding: V2 | 2 inodes | root (id 1, refcount 2) |
# id 2 refcount 1 Path{parent 1, "a.txt"} | next inode 3 | no handles | ...
payload=0102010200000201010105612e747874000300000000000000
{ printf '%08x' $((${#payload} / 2)); printf '%s' "$payload"; printf '00000000'; } | xxd -r -p >"$work/one.vhs"
show "one.vhs:  $(xxd -p "$work/one.vhs" | tr -d '\n')"

say "4. restore: load it into another fresh virtiofsd"
start restore
"$VS" restore "$work/restore.sock" -i "$work/one.vhs"

say "5. verify: load it into a third one, dump again on the same connection, compare"
start verify --migration-on-error=guest-error
"$VS" verify "$work/verify.sock" "$work/one.vhs"

say "6. the control: the same state on a host whose shared dir lacks a.txt"
rm "$work/share/a.txt"
start lost --migration-on-error=guest-error
set +e
"$VS" verify "$work/lost.sock" "$work/one.vhs"
rc=$?
set -e
[ $rc -eq 2 ] || { echo "demo: expected verify to exit 2 here, got $rc" >&2; exit 1; }
show "exit status 2: virtiofsd accepted the state (CHECK 0) but lost the inode; verify caught it"

say "demo complete: dump, restore and verify worked against real virtiofsd"
