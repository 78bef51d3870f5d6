#!/bin/sh
# libvirtd-ns.sh DIR — run a private virtlogd and libvirtd for the tests,
# until SIGTERM; then stop both and exit.
#
# The daemons run in their own mount namespace, where DIR's subdirectories
# are bind-mounted over the places a system libvirt uses:
#
#   DIR/etc   over /etc/libvirt      (a copy, with the qemu.conf below)
#   DIR/run   over /run              (sockets and pid files)
#   DIR/lib   over /var/lib/libvirt
#   DIR/cache over /var/cache/libvirt
#   DIR/log   over /var/log/libvirt  (QEMU's own log: DIR/log/qemu/NAME.log)
#
# so nothing on the host changes, and several test files (or a system
# libvirtd) can run at once.  Clients reach it from outside with
#   virsh -c 'qemu:///system?socket=DIR/run/libvirt/libvirt-sock'
# Run as root (libvirt's system instance; QEMU runs as root too).
#
# libvirtd spends about 8 s probing QEMU's capabilities before it answers a
# client.  Its cache of the result is kept between runs in the peer cache
# ($VHOST_STATE_PEER_CACHE, else ~/.cache/vhost-state/peers, never the
# source tree): DIR/cache is seeded from it and it is updated on exit.
# libvirtd checks every cached entry (QEMU's and its own ctime, the kernel,
# /dev/kvm) and probes again when one is stale.
set -eu

dir=${1:?usage: libvirtd-ns.sh DIR}
if [ "${VS_LIBVIRT_NS:-}" != "$dir" ]; then
	# unshare without --fork execs us in place: the caller's $! stays ours
	VS_LIBVIRT_NS=$dir exec unshare --mount --propagation private "$0" "$@"
fi

caps=${VHOST_STATE_PEER_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/vhost-state/peers}/libvirt-qemu-caps
mkdir -p "$dir/etc" "$dir/run" "$dir/lib" "$dir/cache/qemu/capabilities" "$dir/log" "$caps"
cp "$caps"/*.xml "$dir/cache/qemu/capabilities/" 2>/dev/null || true
cp -a /etc/libvirt/. "$dir/etc/"
# A root daemon in a container: no cgroups, namespaces, seccomp, security
# driver or ownership changes (none of them is what the tests look at).
cat >"$dir/etc/qemu.conf" <<'EOF'
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
seccomp_sandbox = 0
EOF
mount --bind "$dir/etc" /etc/libvirt
mount --bind "$dir/run" /run
mount --bind "$dir/lib" /var/lib/libvirt
mount --bind "$dir/cache" /var/cache/libvirt
mount --bind "$dir/log" /var/log/libvirt

/usr/sbin/virtlogd >"$dir/virtlogd.log" 2>&1 &
logd=$!
/usr/sbin/libvirtd >"$dir/libvirtd.log" 2>&1 &
lvd=$!
echo "$logd $lvd" >"$dir/daemons.pid"

stop() {
	kill "$lvd" "$logd" 2>/dev/null || true
	wait "$lvd" 2>/dev/null || true
	wait "$logd" 2>/dev/null || true
	# each file replaced whole, so a concurrent seed never reads half of one
	for f in "$dir"/cache/qemu/capabilities/*.xml; do
		[ -f "$f" ] || continue
		if cp "$f" "$caps/.${f##*/}.$$"; then
			mv "$caps/.${f##*/}.$$" "$caps/${f##*/}" || rm -f "$caps/.${f##*/}.$$"
		fi
	done
	exit 0
}
trap stop TERM INT HUP
# Either daemon dying ends the wait too: then stop the other one.
while kill -0 "$lvd" 2>/dev/null && kill -0 "$logd" 2>/dev/null; do
	wait "$lvd" 2>/dev/null || true
done
stop
