# shellcheck shell=sh
# Sourced, not run: waiting for a freshly started server's unix socket,
# shared by the demo, the benches and the bats helpers (POSIX sh).
#
# The socket file appears at bind(); a connect() before listen() is
# refused, and the tool's look at /proc/net/unix for the socket's owner
# does not count it as listening yet.  So existing is not enough: wait
# until the kernel lists the socket with __SO_ACCEPTCON (flags 00010000).

# sock_bound_only PATH: PATH is listed in /proc/net/unix, not listening.
# A socket not listed at all (another network namespace's) is not waited
# for.
sock_bound_only() {
	awk -v p="$1" '$NF == p && substr($4, length($4) - 4, 1) != "1" { found = 1 }
		END { exit !found }' /proc/net/unix
}

# wait_listening PATH [PID [SECONDS]]: until something listens on PATH
# (default 10 s).  Fails with a line on stderr when the time is up or
# when PID, the server, has exited first.
wait_listening() {
	_wl_n=$((${3:-10} * 50))
	while [ "$_wl_n" -gt 0 ]; do
		# a dead server's socket file is not a listener
		if [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null; then
			echo "the server (pid $2) exited before listening on $1" >&2
			return 1
		fi
		[ -S "$1" ] && ! sock_bound_only "$1" && return 0
		sleep 0.02
		_wl_n=$((_wl_n - 1))
	done
	echo "nothing listens on $1 after ${3:-10} s" >&2
	return 1
}
