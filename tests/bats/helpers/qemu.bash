# QEMU 10 as a front-end (for migration files and behind the proxy), and
# passt as a net back-end.  Needs helpers/common and helpers/peers.  Every
# wait is bounded: QMP through tests/peers/qmp.py (QMP_TIMEOUT), process
# exits through wait_exit (helpers/common).

QEMU=${QEMU:-qemu-system-x86_64}
QMP_PY=$VS_SRCDIR/tests/peers/qmp.py

require_qemu() {
	command -v "$QEMU" >/dev/null || require_peer_failed "$QEMU"
	command -v python3 >/dev/null || require_peer_failed "python3 (the QMP client)"
}

# KVM when this machine can use it, else TCG.
qemu_accel() {
	if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
		echo "-accel kvm -accel tcg"
	else
		echo "-accel tcg"
	fi
}

# start_qemu NAME [--incoming] [--running] [--mem SIZE] [--accel ACCEL]
# ARGS... — a q35 machine with shared (memfd) memory, 128M unless --mem,
# stopped (-S) without firmware run unless --running (a guest that boots:
# helpers/guest), accelerated as qemu_accel says unless --accel; sets
# QEMU_QMP, QEMU_PID, QEMU_LOG.
start_qemu() {
	local name=$1 incoming='' paused=-S mem=128M accel
	accel=$(qemu_accel)
	shift
	while :; do
		case ${1:-} in
		--incoming) incoming="-incoming defer" ;;
		--running) paused= ;;
		--mem) mem=$2; shift ;;
		--accel) accel="-accel $2"; shift ;;
		*) break ;;
		esac
		shift
	done
	vs_sockdir
	QEMU_QMP=$VS_SOCKDIR/$name.qmp
	QEMU_LOG=$BATS_TEST_TMPDIR/$name.qemu.log
	# shellcheck disable=SC2086
	"$QEMU" -M q35 $accel -nodefaults -display none $paused -m "$mem" \
		-object memory-backend-memfd,id=mem,size="$mem",share=on -machine memory-backend=mem \
		-qmp unix:"$QEMU_QMP",server=on,wait=off $incoming "$@" >"$QEMU_LOG" 2>&1 &
	QEMU_PID=$!
	VS_PIDS="${VS_PIDS:-} $QEMU_PID"
	wait_for_socket "$QEMU_QMP" "$QEMU_PID"
}

# qmp ACTION [ARG] — tests/peers/qmp.py on the current QEMU.
qmp() {
	python3 "$QMP_PY" "$QEMU_QMP" "$@"
}

# qemu_save FILE — migrate the current QEMU to FILE, then quit it.
qemu_save() {
	qmp migrate "$1" || { cat "$QEMU_LOG" >&2; return 1; }
	qemu_quit
}

# qemu_load FILE — migrate-incoming FILE into the current (-incoming) QEMU;
# fails when the load fails (the QEMU stays up: exit-on-error is off).
qemu_load() {
	qmp incoming "$1"
}

# qemu_quit — QMP quit (unless QEMU is gone already), then wait for it.
qemu_quit() {
	if kill -0 "$QEMU_PID" 2>/dev/null; then
		qmp quit >/dev/null || return 1
	fi
	wait_exit "$QEMU_PID"
}

# vfs_dev N SOCK — QEMU arguments for a vhost-user-fs device at PCI slot
# N, so its section is "0000:00:0N.0/vhost-user-fs" in every run.
vfs_dev() {
	echo "-chardev socket,id=vfs$1,path=$2 -device vhost-user-fs-pci,chardev=vfs$1,tag=fs$1,addr=0x$1"
}

# net_dev N SOCK — a virtio-net device on a vhost-user netdev at slot N.
net_dev() {
	echo "-chardev socket,id=chr$1,path=$2 -netdev vhost-user,id=net$1,chardev=chr$1 -device virtio-net-pci,netdev=net$1,addr=0x$1,romfile="
}

# --- passt ------------------------------------------------------------------

passt_fetch() { trixie_fetch passt PASST_ROOT; }
require_passt() { require_trixie passt PASST_ROOT usr/bin/passt; }

# start_passt NAME — a fresh passt --vhost-user; sets PASST_SOCK, PASST_PID,
# PASST_LOG.  It exits after a successful SAVE; else the teardown kills it.
start_passt() {
	local r=$PASST_ROOT/root
	vs_sockdir
	PASST_SOCK=$VS_SOCKDIR/$1.sock
	PASST_LOG=$BATS_TEST_TMPDIR/$1.passt.log
	"$r/usr/lib64/ld-linux-x86-64.so.2" --library-path "$r/usr/lib/x86_64-linux-gnu" \
		"$r/usr/bin/passt" --vhost-user -f -s "$PASST_SOCK" --runas "$(id -u):$(id -g)" \
		>"$PASST_LOG" 2>&1 &
	PASST_PID=$!
	VS_PIDS="${VS_PIDS:-} $PASST_PID"
	wait_for_socket "$PASST_SOCK" "$PASST_PID"
}
