#!/usr/bin/env bats
# Who may use the proxy, and what its tee copies may touch: the control
# socket's mode and SO_PEERCRED check (a proxy and clients under other
# uids, through setpriv), and the tee directory and file rules.

load helpers/common
load helpers/qemu-proxy

setup() {
	VS_PIDS=
	command -v setpriv >/dev/null || skip "setpriv (util-linux) is missing"
	[ "$(id -u)" = 0 ] || skip "switching uids needs root"
	# a wrapper (valgrind, ASan) logs there under the uid it runs as
	if [ -n "${VS_CHECK_LOGDIR:-}" ]; then
		chmod 1777 "$VS_CHECK_LOGDIR"
		setpriv --reuid=1000 --regid=1000 --clear-groups test -w "$VS_CHECK_LOGDIR" ||
			fail "uid 1000 cannot write the wrapper's logs in $VS_CHECK_LOGDIR (a directory above it is closed to other users)"
	fi
}

teardown() {
	vs_teardown
}

as_uid() {
	local uid=$1
	shift
	setpriv --reuid="$uid" --regid="$uid" --clear-groups "$@"
}

@test "proxy: the control socket is 0600 under umask 000; another uid is refused and logged; the proxy's uid and root are served" {
	VS_SOCKDIR=$(mktemp -d /tmp/vsa.XXXXXX)
	d=$VS_SOCKDIR
	chmod 1777 "$d"
	# not through as_uid: $! must be the back-end itself (setpriv execs
	# it), or teardown would miss it and its open stdout hold bats forever
	setpriv --reuid=1000 --regid=1000 --clear-groups "$FAKE_BACKEND" --socket "$d/be.sock" 2>"$d/fake.err" &
	FAKE_PID=$!
	VS_PIDS="$VS_PIDS $FAKE_PID"
	wait_for_socket "$d/be.sock" "$FAKE_PID"
	(
		umask 000
		exec setpriv --reuid=1000 --regid=1000 --clear-groups "$VHOST_STATE" proxy --listen "$d/front.sock" \
			--connect "$d/be.sock" --control "$d/ctl.sock" --log "$d/proxy.log" 2>"$d/proxy.err"
	) &
	PROXY_PID=$!
	VS_PIDS="$VS_PIDS $PROXY_PID"
	wait_for_socket "$d/front.sock" "$PROXY_PID" && wait_for_socket "$d/ctl.sock" "$PROXY_PID"
	# the umask was 000 indeed: the front-end's socket follows it
	assert_equal "$(stat -c %a "$d/front.sock")" 777
	assert_equal "$(stat -c '%a %u' "$d/ctl.sock")" "600 1000"
	# another uid cannot connect at all
	run as_uid 1001 "$VHOST_STATE" snapshot --status "$d/ctl.sock"
	assert_failure 69
	assert_output --partial "Permission denied"
	# with the socket's mode opened up, SO_PEERCRED still refuses it
	chmod 666 "$d/ctl.sock"
	run as_uid 1001 "$VHOST_STATE" snapshot -o "$d/stolen.vhs" "$d/ctl.sock"
	assert_failure 69
	assert_output --partial "permission denied: the proxy serves only its own uid and root"
	[ ! -e "$d/stolen.vhs" ]
	run as_uid 1001 "$VHOST_STATE" snapshot --status "$d/ctl.sock"
	assert_failure 69
	grep -q "control: refused a client of uid 1001 (pid [0-9]*): only uid 1000 and root may use $d/ctl.sock" "$d/proxy.log"
	assert_equal "$(grep -c "refused a client" "$d/proxy.log")" 2
	# the proxy's own uid and root are served
	run as_uid 1000 "$VHOST_STATE" snapshot --status "$d/ctl.sock"
	assert_success
	assert_output --partial "snapshot"
	run "$VHOST_STATE" snapshot --status "$d/ctl.sock"
	assert_success
	assert_equal "$(grep -c "refused a client" "$d/proxy.log")" 2
	kill -0 "$PROXY_PID"
}

# A shell step for vu-client.py: a symlink to $2 at the final name of
# the copy being written in $1 (its temp file is .NAME.XXXXXX).
plant_at_temp() {
	printf 'sh:t=$(cd %s && ls -A | grep "^\\.") && n=${t#.} && ln -s %s %s/${n%%.*}' "$1" "$2" "$1"
}

@test "proxy: tee copies are 0600 under umask 000 and never written through a symlink planted at their name" {
	tee=$BATS_TEST_TMPDIR/tee
	mkdir -m 0755 "$tee"
	echo original >"$BATS_TEST_TMPDIR/victim"
	umask 000
	# 3 MB: the pipes fill, so the copy stays open until the client reads
	start_fake a --state-size 3000000
	start_proxy a "$FAKE_SOCK" --tee "$tee"
	run python3 "$HELPERS/vu-client.py" "$PROXY_FRONT" hello save-start \
		"$(plant_at_temp "$tee" "$BATS_TEST_TMPDIR/victim")" "save-read:$BATS_TEST_TMPDIR/a.raw" \
		"sh:n=\$(cd $tee && ls *.vhs) && ln -s $BATS_TEST_TMPDIR/victim $tee/\${n%.vhs}.check" check
	assert_success
	assert_equal "$(grep -c '^sh 0$' <<<"$output")" 2
	assert_line "save-read 3000000"
	assert_line "check 0"
	wait_proxy
	# the copy and its CHECK result were refused, and the proxy says so
	assert_equal "$PROXY_RC" 1
	grep -q "cannot write the copy: .*: cannot rename the temporary file into place: File exists" "$PROXY_LOG"
	grep -q "cannot record CHECK_DEVICE_STATE: .*\.check: not replaced: File exists" "$PROXY_LOG"
	grep -q "2 tee copies could not be written" "$PROXY_ERR"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/victim")" original
	assert_equal "$(find "$tee" -type f | wc -l)" 0
	assert_equal "$(find "$tee" -type l | wc -l)" 2
	# without planted names: both files, 0600 although the umask is 000
	rm "$tee"/*
	start_fake b
	start_proxy b "$FAKE_SOCK" --tee "$tee"
	run python3 "$HELPERS/vu-client.py" "$PROXY_FRONT" hello save-start "save-read:$BATS_TEST_TMPDIR/b.raw" check
	assert_success
	wait_proxy
	assert_equal "$PROXY_RC" 0
	[ -s "$BATS_TEST_TMPDIR/b.raw" ]
	assert_equal "$(stat -c %a "$tee"/*.vhs "$tee"/*.check | sort -u)" 600
	assert_equal "$(python3 "$HELPERS/chunks.py" payload <"$tee"/*.vhs | cmp - "$BATS_TEST_TMPDIR/b.raw" && echo same)" same
}

@test "proxy: a tee directory another user owns or others can write is refused (64) before any socket exists" {
	tee=$BATS_TEST_TMPDIR/tee
	mkdir "$tee"
	start_fake a
	vs_sockdir
	for mode in 0777 0770 1777; do
		chmod "$mode" "$tee"
		run timeout 10 "$VHOST_STATE" proxy --listen "$VS_SOCKDIR/f.sock" --connect "$FAKE_SOCK" --tee "$tee"
		assert_failure 64
		assert_output --regexp "--tee $tee: writable by (others|its group) \\(mode $mode\\); the copies hold guest state"
	done
	chmod 0755 "$tee"
	chown 1000 "$tee"
	run timeout 10 "$VHOST_STATE" proxy --listen "$VS_SOCKDIR/f.sock" --connect "$FAKE_SOCK" --tee "$tee"
	assert_failure 64
	assert_output --partial "--tee $tee: owned by uid 1000, not by this user (uid 0) or root"
	[ ! -e "$VS_SOCKDIR/f.sock" ]
	# the same directory, ours and 0700: accepted
	chown 0 "$tee"
	chmod 0700 "$tee"
	start_proxy ok "$FAKE_SOCK" --tee "$tee"
	kill -0 "$PROXY_PID"
}
