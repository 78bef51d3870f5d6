#!/usr/bin/env bats
# The proxy under a running guest: the test guest (helpers/guest.bash, in
# vs.mode=soak) writes, re-reads and removes checksummed files on its
# virtio-fs share for SOAK_SECONDS, through QEMU <-> vhost-state proxy <->
# a real virtiofsd, while `snapshot --status` is called every 100 ms and
# SOAK_CYCLES stop/snapshot/cont cycles run (helpers/soak.bash).  The
# suite runs a short soak; `make check-soak` the ten-minute one (its last
# result is in tests/README.md).

load helpers/common
load helpers/peers
load helpers/qemu
load helpers/qemu-proxy
load helpers/guest
load helpers/soak

SOAK_SECONDS=${SOAK_SECONDS:-50}
SOAK_CYCLES=${SOAK_CYCLES:-5}
# Every how many cycles a migration is compared (besides the first and last).
SOAK_COMPARE_EVERY=${SOAK_COMPARE_EVERY:-1}
# shellcheck disable=SC2034 # read by guest_cmdline
GUEST_ARGS=vs.mode=soak

setup_file() {
	virtiofsd_fetch
	guest_fetch
}

setup() {
	VS_PIDS=
}

teardown() {
	vs_teardown
}

# say TEXT... — a line in the TAP output (and the .log make check keeps).
say() {
	printf '# %s\n' "$@" >&3
}

@test "soak: guest I/O through the proxy never fails under status polling and stop/snapshot/cont; snapshots equal migrations; fds and RSS hold" {
	require_virtiofsd
	require_qemu
	require_guest
	local t0=$SECONDS
	SOAK_DIR=$BATS_TEST_TMPDIR/soak
	mkdir -p "$SOAK_DIR"
	guest_share share
	start_virtiofsd vfs --cache=never
	start_proxy p "$VFS_SOCK"
	start_guest g "$PROXY_FRONT"
	wait_console "$GUEST_CONSOLE" "guest: ready tag=$GUEST_TAG file=a.txt" 120
	soak_wait_round "$GUEST_CONSOLE" 0 60
	say "guest ready and writing after $((SECONDS - t0)) s ($(guest_accel)); soak of $SOAK_SECONDS s, $SOAK_CYCLES cycles"

	if ! soak_run "$SOAK_SECONDS" "$SOAK_CYCLES" "$SOAK_COMPARE_EVERY"; then
		soak_stall_report
		console_lines "$GUEST_CONSOLE" | tail -n 20
		false
	fi
	run soak_summary
	say "${lines[@]}"
	[ -z "${SOAK_REPORT:-}" ] || { printf '%s\n' "${lines[@]}" && cat "$SOAK_DIR/cycles.log"; } >"$SOAK_REPORT"

	# the guest's loop saw no error, and still runs after the last cont
	run soak_failures "$GUEST_CONSOLE"
	assert_failure
	if ! soak_wait_round "$GUEST_CONSOLE" "$(soak_rounds "$GUEST_CONSOLE")" 60; then
		soak_stall_report
		false
	fi
	[ "$(soak_rounds "$GUEST_CONSOLE")" -ge "$SOAK_CYCLES" ]
	# every status call answered; at least two a second got through (each
	# is a process start and a 100 ms sleep; a wrapper makes starts slow)
	refute grep -v '^ok$' "$SOAK_DIR/status.log"
	[ ! -s "$SOAK_DIR/status.err" ]
	calls=$(wc -l <"$SOAK_DIR/status.log")
	[ -n "${VS_REAL_BINARY:-}" ] || [ "$calls" -ge $((2 * SOAK_SECONDS)) ]
	# all cycles ran, the compared ones equal their migrations (soak_cycle
	# fails otherwise: byte for byte, or but for the parent inodes
	# virtiofsd numbers afresh at each save, helpers/vfscompare.py), and
	# the states moved on between cycles: equality is not of constants,
	# and the equivalence tells consecutive cycles apart (its negative
	# control)
	[ "$(wc -l <"$SOAK_DIR/cycles.log")" -eq "$SOAK_CYCLES" ]
	[ "$(soak_distinct_states)" -ge 2 ]
	differ=$(soak_pairs_differ)
	say "vfscompare.py tells $differ of $((SOAK_CYCLES - 1)) consecutive snapshots apart"
	[ -z "${SOAK_REPORT:-}" ] || echo "vfscompare.py tells $differ of $((SOAK_CYCLES - 1)) consecutive snapshots apart" >>"$SOAK_REPORT"
	[ "$differ" -ge 1 ]
	# the proxy holds as many fds as after the first cycle, and its RSS
	# grew by no more than the allocator's slack (helpers/soak.bash); RSS
	# is not the tool's own under valgrind or ASan (VS_REAL_BINARY)
	assert_equal "$(cat "$SOAK_DIR/end.fds")" "$(cat "$SOAK_DIR/first.fds")"
	[ -n "${VS_REAL_BINARY:-}" ] ||
		[ "$(cat "$SOAK_DIR/end.rss")" -le $(($(cat "$SOAK_DIR/first.rss") + SOAK_RSS_SLACK_KB)) ]

	# negative control: bytes changed on the host under the guest are seen
	# by the share check and, after cont, by the guest's loop
	qmp stop >/dev/null || { soak_stall_report; false; }
	share_check "$VFS_SHARE/soak"
	for f in "$VFS_SHARE"/soak/f*.sum; do
		if [ -e "${f%.sum}" ]; then
			printf 'XXXXXXXX' | dd of="${f%.sum}" conv=notrunc status=none
		fi
	done
	run share_check "$VFS_SHARE/soak"
	assert_failure
	qmp cont >/dev/null || { soak_stall_report; false; }
	wait_console "$GUEST_CONSOLE" 'soak [0-9]+ FAIL old=f[0-9]+' 60
	run soak_failures "$GUEST_CONSOLE"
	assert_success
	say "total $((SECONDS - t0)) s"
}

# The comparison's own check, on states written here (the soak's run can
# only show the renumbering when the guest happens to let go of soak/).
@test "soak: vfscompare.py accepts a parent directory saved again under the next number, and nothing else" {
	a=$BATS_TEST_TMPDIR/a.json b=$BATS_TEST_TMPDIR/b.json
	jq -n '{format: "virtiofsd", version: 2, next_inode: 870, next_handle: 267,
		negotiated: {writeback: false}, mounts: [], handles: [{id: 0, inode: 2, flags: 32768}],
		inodes: [{id: 1, refcount: 4, status: "root", path: ".", file_handle: null},
			{id: 2, refcount: 1, status: "path", parent: 1, name: "a.txt", path: "a.txt", file_handle: null},
			{id: 868, refcount: 1, status: "path", parent: 869, name: "f60", path: "soak/f60", file_handle: null},
			{id: 869, refcount: 1, status: "path", parent: 1, name: "soak", path: "soak", file_handle: null}]}' >"$a"
	# the next save: soak/ as 870, next_inode one on
	variant() {
		jq "$1" "$a" >"$b"
		run python3 "$HELPERS/vfscompare.py" "$a" "$b"
	}
	renumber='.next_inode = 871 | .inodes[3].id = 870 | .inodes[2].parent = 870'
	variant "$renumber"
	assert_success
	assert_output "renumbered 1"
	variant '.'
	assert_success
	assert_output "renumbered 0"
	# anything else differs: a refcount, a lost inode, a counter, a handle,
	# an inode the guest holds under another number, a path
	for v in "$renumber | .inodes[2].refcount = 2" "$renumber | del(.inodes[2])" \
		"$renumber | .next_inode = 872" ".next_handle = 268" ".handles[0].flags = 32769" \
		".next_inode = 871 | .inodes[1].id = 870 | .handles[0].inode = 870" \
		".next_inode = 871 | .inodes[2].id = 870" \
		"$renumber | .inodes[3].path = \"other\" | .inodes[2].path = \"other/f60\""; do
		variant "$v"
		assert_failure 1
		assert_output --partial "differ: "
	done
}
