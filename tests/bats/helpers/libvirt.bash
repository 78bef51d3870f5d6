# libvirt 11 for tests: one private virtlogd + libvirtd per .bats file
# (tests/peers/libvirtd-ns.sh runs them in their own mount namespace, so
# /etc, /run and /var stay untouched), transient domains booting the test
# guest of helpers/guest.bash, and virsh with a deadline on every call.
# Needs helpers/common, helpers/peers, helpers/qemu and helpers/guest.

require_libvirt() {
	local p
	for p in /usr/sbin/libvirtd /usr/sbin/virtlogd; do
		[ -x "$p" ] || require_peer_failed "libvirt ($p)"
	done
	command -v virsh >/dev/null || require_peer_failed "libvirt (virsh)"
	[ "$(id -u)" = 0 ] || require_peer_failed "libvirt (its system instance needs root)"
	if [ -z "${LV_URI:-}" ] || ! kill -0 "${LV_PID:-0}" 2>/dev/null; then
		require_peer_failed "libvirt (libvirtd did not answer: $(cat "$BATS_FILE_TMPDIR/lv/ns.log" \
			"$BATS_FILE_TMPDIR/lv/virsh-wait.err" 2>/dev/null | tail -n2 | tr '\n' ' '))"
	fi
}

# lvsh ARGS — virsh on the file's libvirtd, 60 s at most.
lvsh() {
	timeout 60 virsh -q -c "$LV_URI" "$@"
}

# libvirt_start — from setup_file: start the daemons and wait (60 s at
# most) until libvirtd answers; export LV_URI, LV_PID, LV_DIR and
# LV_START_MS (how long that took).  On failure LV_URI stays empty and
# require_libvirt says why.
libvirt_start() {
	local t0 end
	LV_DIR=$BATS_FILE_TMPDIR/lv
	LV_URI=
	LV_PID=
	export LV_DIR LV_URI LV_PID LV_START_MS
	[ -x /usr/sbin/libvirtd ] && [ -x /usr/sbin/virtlogd ] && command -v virsh >/dev/null &&
		[ "$(id -u)" = 0 ] || return 0
	mkdir -p "$LV_DIR"
	t0=$(date +%s%3N)
	# fd 3 closed: bats waits for whatever holds it
	"$VS_SRCDIR/tests/peers/libvirtd-ns.sh" "$LV_DIR" >"$LV_DIR/ns.log" 2>&1 3>&- &
	LV_PID=$!
	end=$((SECONDS + 60))
	# The first call blocks until libvirtd has probed QEMU (most of the time).
	until timeout 60 virsh -q -c "qemu:///system?socket=$LV_DIR/run/libvirt/libvirt-sock" \
		version >/dev/null 2>>"$LV_DIR/virsh-wait.err"; do
		if [ "$SECONDS" -ge "$end" ] || ! kill -0 "$LV_PID" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	LV_URI="qemu:///system?socket=$LV_DIR/run/libvirt/libvirt-sock"
	LV_START_MS=$(($(date +%s%3N) - t0))
}

# lv_destroy_all — destroy every running domain of this libvirtd.
lv_destroy_all() {
	local d
	[ -n "${LV_URI:-}" ] || return 0
	for d in $(lvsh list --name 2>/dev/null); do
		lvsh destroy "$d" >/dev/null 2>&1 || true
	done
}

# kill_pid_of NAME PID — kill PID (a process we started, directly or
# through libvirtd) if it still runs NAME; wait up to 10 s for it.
kill_pid_of() {
	local n=200
	case $(tr '\0' ' ' <"/proc/$2/cmdline" 2>/dev/null) in
	*"$1"*) kill "$2" 2>/dev/null || return 0 ;;
	*) return 0 ;;
	esac
	while [ "$n" -gt 0 ] && kill -0 "$2" 2>/dev/null; do
		sleep 0.05
		n=$((n - 1))
	done
	kill -9 "$2" 2>/dev/null || true
}

# libvirt_stop — from teardown_file: destroy the domains, stop the
# daemons, and kill any QEMU libvirtd left behind (by its pid file).
libvirt_stop() {
	local p logd lvd
	[ -n "${LV_DIR:-}" ] || return 0
	lv_destroy_all
	[ -z "${LV_PID:-}" ] || kill_pid_of libvirtd-ns.sh "$LV_PID"
	if read -r logd lvd <"$LV_DIR/daemons.pid" 2>/dev/null; then
		kill_pid_of /usr/sbin/libvirtd "$lvd"
		kill_pid_of /usr/sbin/virtlogd "$logd"
	fi
	for p in "$LV_DIR"/run/libvirt/qemu/*.pid; do
		[ -f "$p" ] && kill_pid_of qemu-system "$(cat "$p")"
	done
	return 0
}

# lv_teardown — per test: no domain outlives the test, nor its peers.
lv_teardown() {
	lv_destroy_all
	vs_teardown
}

# lv_domain_xml NAME VFS-SOCK CONSOLE — a transient domain booting the test
# guest: 256 MiB of shared memfd memory, no disk, the virtio-fs share of
# an externally started virtiofsd, its serial console appended to CONSOLE.
lv_domain_xml() {
	local type=qemu
	[ "$(guest_accel)" = tcg ] || type=kvm
	cat <<EOF
<domain type='$type'>
  <name>$1</name>
  <memory unit='MiB'>${GUEST_MEM%M}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>$GUEST_KERNEL</kernel>
    <initrd>$GUEST_INITRD</initrd>
    <cmdline>$(guest_cmdline)</cmdline>
  </os>
  <memoryBacking>
    <source type='memfd'/>
    <access mode='shared'/>
  </memoryBacking>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>$(command -v qemu-system-x86_64)</emulator>
    <filesystem type='mount' accessmode='passthrough'>
      <driver type='virtiofs' queue='1024'/>
      <source socket='$2'/>
      <target dir='$GUEST_TAG'/>
    </filesystem>
    <serial type='file'>
      <source path='$3' append='on'/>
      <target port='0'/>
    </serial>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
}

# lv_start_guest NAME VFS-SOCK [--paused] — create (and boot, unless
# --paused) the domain; sets GUEST_CONSOLE.
lv_start_guest() {
	GUEST_CONSOLE=$BATS_TEST_TMPDIR/$1.console
	lv_domain_xml "$1" "$2" "$GUEST_CONSOLE" >"$BATS_TEST_TMPDIR/$1.xml"
	lvsh create "$BATS_TEST_TMPDIR/$1.xml" ${3:+"$3"} >/dev/null || { lv_qemu_log "$1" >&2; return 1; }
}

# lv_qemu_log NAME — QEMU's log for the domain (written through virtlogd).
lv_qemu_log() {
	cat "$LV_DIR/log/qemu/$1.log" 2>/dev/null
}

# start_proxy NAME FRONT-SOCK BACKEND-SOCK [proxy options] — a vhost-state
# proxy listening on FRONT-SOCK in front of a back-end; sets PROXY_PID,
# PROXY_LOG.
start_proxy() {
	local name=$1 front=$2 back=$3
	shift 3
	PROXY_LOG=$BATS_TEST_TMPDIR/$name.proxy.log
	"$VHOST_STATE" proxy --listen "$front" --connect "$back" --log "$PROXY_LOG" "$@" \
		2>"$BATS_TEST_TMPDIR/$name.proxy.err" &
	PROXY_PID=$!
	VS_PIDS="${VS_PIDS:-} $PROXY_PID"
	wait_for_socket "$front" "$PROXY_PID"
}
