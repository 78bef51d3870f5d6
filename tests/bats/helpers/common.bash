# Shared by every .bats file: assertions, paths, small helpers.
bats_require_minimum_version 1.5.0

# vs_load_library NAME: bats_load_library without its cost.  Every test
# sources this file, and the libraries' load.bash find their own files
# with one `$(dirname ...)` each: 15 forks per test, ~0.2 s of CPU on
# the CI's machine, busy (tests/README.md).  A
# load.bash of only such lines is read here and its files sourced
# directly; any other shape goes to bats_load_library itself.
vs_load_library() {
	local load line files=()
	local re='^source "\$\(dirname "\$\{BASH_SOURCE\[0\]\}"\)/([A-Za-z0-9_/.-]+\.bash)"$'
	declare -F find_in_bats_lib_path >/dev/null && find_in_bats_lib_path load "$1" &&
		[[ $load == */load.bash ]] || {
		bats_load_library "$1"
		return
	}
	while IFS= read -r line || [[ -n $line ]]; do
		if [[ $line =~ $re ]]; then
			files+=("${load%/load.bash}/${BASH_REMATCH[1]}")
		elif ! [[ $line =~ ^[[:space:]]*(#.*)?$ ]]; then
			bats_load_library "$1"
			return
		fi
	done <"$load"
	for line in "${files[@]}"; do
		# shellcheck disable=SC1090
		source "$line" || exit 1
	done
}
vs_load_library bats-support
vs_load_library bats-assert

: "${VHOST_STATE:?run the tests through make check (VHOST_STATE unset)}"
: "${FAKE_BACKEND:?run the tests through make check (FAKE_BACKEND unset)}"
: "${VS_SRCDIR:?run the tests through make check (VS_SRCDIR unset)}"

# Socket paths must fit sun_path (108 bytes): keep them short and private.
# Sets VS_SOCKDIR (call it directly, not in $(...), or it is forgotten).
vs_sockdir() {
	if [ -z "${VS_SOCKDIR:-}" ]; then
		VS_SOCKDIR=$(mktemp -d /tmp/vst.XXXXXX)
	fi
}

# raw_stream HEX... — write QEMU's framing around each hex chunk, then the
# terminator, to stdout.
raw_stream() {
	local chunk len
	for chunk in "$@"; do
		len=$((${#chunk} / 2))
		printf '%08x%s' "$len" "$chunk" | xxd -r -p
	done
	printf '00000000' | xxd -r -p
}

hexof() {
	xxd -p "$1" | tr -d '\n'
}

# The waits for a freshly started server's socket (sock_bound_only,
# wait_listening) are shared with the demo and the benches.
# shellcheck source=tests/peers/wait-socket.sh
source "$VS_SRCDIR/tests/peers/wait-socket.sh"

# wait_for_socket PATH [PID]: a back-end started by a test listens on
# PATH within 5 s.
wait_for_socket() {
	wait_listening "$1" "${2:-}" 5
}

# wait_gone PID [SECONDS] — a process that should end by itself does so
# within SECONDS (default 10).
wait_gone() {
	local pid=$1 n=$((${2:-10} * 20))
	while [ "$n" -gt 0 ] && kill -0 "$pid" 2>/dev/null; do
		sleep 0.05
		n=$((n - 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "process $pid still running after ${2:-10} s" >&2
		return 1
	fi
}

# wait_exit PID [SECONDS] — the same for a process this shell started,
# which is then reaped.
wait_exit() {
	wait_gone "$@" || return 1
	wait "$1" 2>/dev/null || true
}

# start_fake NAME [fake-backend options] — sets FAKE_SOCK, FAKE_LOG, FAKE_PID.
start_fake() {
	local name=$1
	shift
	vs_sockdir
	FAKE_SOCK=$VS_SOCKDIR/$name.sock
	FAKE_LOG=$BATS_TEST_TMPDIR/$name.requests
	: >"$FAKE_LOG"
	"$FAKE_BACKEND" --socket "$FAKE_SOCK" --log "$FAKE_LOG" "$@" 2>"$BATS_TEST_TMPDIR/$name.stderr" &
	FAKE_PID=$!
	VS_PIDS="${VS_PIDS:-} $FAKE_PID"
	wait_for_socket "$FAKE_SOCK" "$FAKE_PID"
}

# Kill whatever a test started; remove its sockets.
vs_teardown() {
	local pid
	for pid in ${VS_PIDS:-}; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in ${VS_PIDS:-}; do
		wait "$pid" 2>/dev/null || true
	done
	VS_PIDS=
	if [ -n "${VS_SOCKDIR:-}" ]; then
		rm -rf "$VS_SOCKDIR"
		VS_SOCKDIR=
	fi
}

# Run a command and record how long it took: whole seconds in $elapsed,
# milliseconds in $elapsed_ms.
timed_run() {
	local t0=$SECONDS ms0
	ms0=$(date +%s%3N)
	run "$@"
	elapsed=$((SECONDS - t0))
	elapsed_ms=$(($(date +%s%3N) - ms0))
}

# assert_within S — the last timed_run took at most S seconds beyond twice
# what starting the program costs here, measured now: a wrapper (valgrind)
# or a loaded machine stretches start-up and the run alike, while a missed
# deadline still shows.
assert_within() {
	local t0 startup
	t0=$(date +%s%3N)
	"$VHOST_STATE" --version >/dev/null 2>&1
	startup=$(($(date +%s%3N) - t0))
	if [ "$elapsed_ms" -gt $(($1 * 1000 + 2 * startup)) ]; then
		echo "took $elapsed_ms ms: more than $1 s + 2 x $startup ms (start-up here)" >&2
		return 1
	fi
}

# wait_for_temp DIR NAME — until the temp file an output NAME is written
# through (.NAME.XXXXXX) exists in DIR and has data; 10 s at most.
wait_for_temp() {
	local i
	for i in $(seq 1 200); do
		[ -n "$(find "$1" -maxdepth 1 -name ".$2.*" -size +0)" ] && return 0
		sleep 0.05
	done
	echo "no temp file .$2.* in $1 after 10 s" >&2
	return 1
}

# no_output DIR NAME — neither NAME nor a temp file for it exists in DIR.
no_output() {
	[ ! -e "$1/$2" ] && [ -z "$(find "$1" -maxdepth 1 -name ".$2.*")" ]
}

# signal_status PID SIGNAL — send it, wait for PID; the exit status in $rc.
signal_status() {
	kill -"$2" "$1"
	rc=0
	wait "$1" || rc=$?
}

# assert_schema NAME [FILE] — the JSON document in FILE (default: $output)
# is valid against schema/NAME.schema.json (draft 2020-12).
assert_schema() {
	local name=$1 file=${2:-}
	if [ -z "$file" ]; then
		file=$BATS_TEST_TMPDIR/schema-input.json
		printf '%s' "$output" >"$file"
	fi
	/usr/bin/python3 "$VS_SRCDIR/tests/bats/helpers/schema.py" "$name" "$file" ||
		fail "output does not match schema/$name.schema.json"
}

# json_result NAME ARG... — run vhost-state ARG... (which must succeed),
# check its output against schema/NAME.schema.json, and print it: for
# $(...) that pick a value out of a --json result
json_result() {
	local name=$1 f
	shift
	f=$(mktemp "$BATS_TEST_TMPDIR/json-result.XXXXXX")
	"$VHOST_STATE" "$@" >"$f" || return
	assert_schema "$name" "$f" >&2 || return
	cat "$f"
}

# assert_schema_lines NAME FILE — every line of FILE is a JSON document
# valid against schema/NAME.schema.json (the proxy's --json log)
assert_schema_lines() {
	/usr/bin/python3 "$VS_SRCDIR/tests/bats/helpers/schema.py" --lines "$1" "$2" ||
		fail "a line of $2 does not match schema/$1.schema.json"
}
