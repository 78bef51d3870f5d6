#!/usr/bin/env bats
# The command-line contract: usage errors, help, version, man page.

load helpers/common

teardown() {
	vs_teardown
}

@test "cli: no command is a usage error (64)" {
	run "$VHOST_STATE"
	assert_failure 64
	assert_output --partial "a command is required (\`vhost-state --help\` lists them)"
}

@test "cli: an unknown command is a usage error (64)" {
	run "$VHOST_STATE" frobnicate x
	assert_failure 64
	assert_output --partial "unknown command 'frobnicate'"
}

@test "cli: a verb without its SOCKET is a usage error (64)" {
	for verb in info dump restore; do
		run "$VHOST_STATE" "$verb"
		assert_failure 64
		assert_output --partial "vhost-state: $verb: SOCKET is required"
	done
	run "$VHOST_STATE" verify /x
	assert_failure 64
	assert_output --partial "SOCKET and FILE are required"
}

@test "cli: an unknown option and an extra argument are usage errors (64)" {
	run "$VHOST_STATE" dump --bogus /x
	assert_failure 64
	run "$VHOST_STATE" dump /x /y
	assert_failure 64
	assert_output --partial "too many arguments: '/y'"
}

@test "cli: bad --timeout and --max-size values are usage errors (64)" {
	for t in 0 -1 abc 1e9; do
		run "$VHOST_STATE" -t "$t" info /x
		assert_failure 64
		assert_output --partial "--timeout takes seconds"
	done
	for m in 0 -5 12Q 99999999999T; do
		run "$VHOST_STATE" --max-size "$m" info /x
		assert_failure 64
		assert_output --partial "--max-size takes a positive byte count"
	done
}

@test "cli: common options work before and after the verb" {
	run "$VHOST_STATE" -t 0.2 info "$BATS_TEST_TMPDIR/none.sock"
	assert_failure 69
	run "$VHOST_STATE" info -t 0.2 "$BATS_TEST_TMPDIR/none.sock"
	assert_failure 69
}

@test "cli: --help lists every verb, the exit codes, and the one-shot back-end caveat" {
	run "$VHOST_STATE" --help
	assert_success
	for verb in info dump restore verify run; do
		assert_output --regexp "  $verb SOCKET"
	done
	for verb in inspect convert diff; do
		assert_output --regexp "  $verb [A-Z]"
	done
	assert_output --partial "consumes a one-shot back-end"
	assert_output --partial "75  timed out"
	run "$VHOST_STATE" dump --help
	assert_success
	assert_output --partial "Usage: vhost-state dump [OPTION...] SOCKET"
	assert_output --partial "--timeout=SECONDS"
}

@test "cli: --version names the tool and the library versions" {
	run "$VHOST_STATE" --version
	assert_success
	assert_line --index 0 --regexp '^vhost-state [0-9]+\.[0-9]+\.[0-9]+$'
	assert_output --regexp 'libarchive [0-9]'
	assert_output --regexp 'zstd [0-9]'
	assert_output --regexp 'json-c [0-9]'
}

@test "cli: dump refuses to write binary to a terminal without -f" {
	command -v script >/dev/null || skip "script(1) missing"
	start_fake a --state-size 4
	run script -qec "'$VHOST_STATE' dump '$FAKE_SOCK'" /dev/null
	assert_failure 64
	assert_output --partial "refusing to write binary state to a terminal"
	[ ! -s "$FAKE_LOG" ]
}

@test "cli: --json errors are one JSON document on stdout with the same exit code" {
	run --separate-stderr "$VHOST_STATE" info --json "$BATS_TEST_TMPDIR/none.sock"
	assert_failure 69
	echo "$output" | jq -e '.error.exit_code == 69 and (.error.message | test("no such socket"))'
	[[ "$stderr" == *"no such socket"* ]]
}

@test "cli: VHOST_STATE_DEBUG=1 logs messages like -v" {
	start_fake a --state-size 4
	VHOST_STATE_DEBUG=1 run "$VHOST_STATE" info "$FAKE_SOCK"
	assert_success
	assert_output --partial "vhost-state: -> GET_FEATURES flags=0x1 size=0 fds=0"
}

@test "cli: the man page passes mandoc -T lint and documents every verb and exit code" {
	command -v mandoc >/dev/null || skip "mandoc missing"
	run mandoc -T lint -W warning "$VS_MAN"
	assert_success
	assert_output ""
	for verb in info dump restore verify run inspect convert diff extract inject proxy snapshot preflight; do
		grep -q "^\\.B $verb" "$VS_MAN"
	done
	for opt in timeout verbose quiet force "max\\\\-size" progress format zstd threads output input json; do
		grep -q -- "-\\\\-$opt" "$VS_MAN"
	done
	# one EXIT STATUS table for every command
	sed -n '/^\.SH EXIT STATUS/,/^\.SH/p' "$VS_MAN" | grep -q '^\.TS$'
	for code in 0 1 2 64 65 69 70 75 76 128+N; do
		sed -n '/^\.SH EXIT STATUS/,/^\.SH/p' "$VS_MAN" | grep -q "^$code|T{\$"
	done
	grep -q -- 'info \\-\\-no\\-connect' "$VS_MAN"
	grep -q -- '^\.B vhost-state help$' "$VS_MAN"
	grep -q -- '^\.BR \\-h ", "' "$VS_MAN"
}

@test "cli: --json works before the command too" {
	run --separate-stderr "$VHOST_STATE" --json inspect "$BATS_TEST_TMPDIR/none.vhs"
	assert_failure 1
	echo "$output" | jq -e '.error.exit_code == 1'
}

@test "cli: every message starts with 'vhost-state: VERB: ', however the tool is started" {
	local dir=$BATS_TEST_TMPDIR/bin
	mkdir -p "$dir"
	ln -s "$VHOST_STATE" "$dir/vhost-state"
	for prog in "$dir/vhost-state" ./vhost-state; do
		cd "$dir"
		run "$prog" dump --bogus
		assert_failure 64
		assert_line --index 0 "vhost-state: dump: unrecognized option '--bogus'"
		assert_line --index 1 --partial "Try \`vhost-state dump --help'"
		run "$prog" convert -x a b
		assert_failure 64
		assert_line --index 0 "vhost-state: convert: invalid option -- 'x'"
		run "$prog" inspect
		assert_failure 64
		assert_line --index 0 "vhost-state: inspect: FILE is required (- for stdin)"
		run "$prog" run --queues=x s start
		assert_failure 64
		assert_line --index 0 --partial "vhost-state: run: --queues takes ring indexes"
		run "$prog" convert "$BATS_TEST_TMPDIR/none" "$BATS_TEST_TMPDIR/out"
		assert_failure 1
		assert_line --index 0 --partial "vhost-state: convert: $BATS_TEST_TMPDIR/none: No such file"
		run "$prog" --bogus
		assert_failure 64
		assert_line --index 0 "vhost-state: unrecognized option '--bogus'"
	done
}

@test "cli: -h and the help verb give the same help as --help; help COMMAND as COMMAND --help" {
	run "$VHOST_STATE" --help
	assert_success
	local top=$output
	run "$VHOST_STATE" -h
	assert_success
	[ "$output" = "$top" ]
	run "$VHOST_STATE" help
	assert_success
	[ "$output" = "$top" ]
	run "$VHOST_STATE" restore --help
	local verb=$output
	run "$VHOST_STATE" restore -h
	assert_success
	[ "$output" = "$verb" ]
	run "$VHOST_STATE" help restore
	assert_success
	[ "$output" = "$verb" ]
	run "$VHOST_STATE" help frobnicate
	assert_failure 64
	assert_output --partial "vhost-state: help: unknown command 'frobnicate'"
}

@test "cli: help that cannot be written fails (--help, -h, help, --version >/dev/full)" {
	[ -w /dev/full ] || skip "no /dev/full"
	for args in "--help" "-h" "help" "dump --help" "help dump" "--version" "--json --version"; do
		# shellcheck disable=SC2086
		run "$VHOST_STATE" $args
		assert_success
		# shellcheck disable=SC2086
		run bash -c '"$0" "$@" >/dev/full' "$VHOST_STATE" $args
		assert_failure 1
		assert_output --partial "stdout: No space left on device"
	done
}

@test "cli: an empty argument is refused before connecting (info '' exits 64)" {
	run "$VHOST_STATE" info ""
	assert_failure 64
	assert_output "vhost-state: info: argument 2 is empty: it names no socket, file or value"
	run "$VHOST_STATE" dump -o "" "$BATS_TEST_TMPDIR/none.sock"
	assert_failure 64
}

@test "cli: diff - - is refused (64) before stdin is read" {
	raw_stream 0102 >"$BATS_TEST_TMPDIR/s.vhs"
	run "$VHOST_STATE" diff - - <"$BATS_TEST_TMPDIR/s.vhs"
	assert_failure 64
	assert_output --partial "vhost-state: diff: A and B cannot both be - (stdin is read once)"
	run "$VHOST_STATE" diff - "$BATS_TEST_TMPDIR/s.vhs" <"$BATS_TEST_TMPDIR/s.vhs"
	assert_success
}

@test "cli: info --no-connect: no socket, not a socket, nothing listening exit 69; a fake back-end is named, kind unknown" {
	run "$VHOST_STATE" info --no-connect "$BATS_TEST_TMPDIR/none.sock"
	assert_failure 69
	: >"$BATS_TEST_TMPDIR/file"
	run "$VHOST_STATE" info --no-connect "$BATS_TEST_TMPDIR/file"
	assert_failure 69
	assert_output --partial "not a unix socket"
	vs_sockdir
	python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$VS_SOCKDIR/stale.sock"
	run "$VHOST_STATE" info --no-connect "$VS_SOCKDIR/stale.sock"
	assert_failure 69
	assert_output --partial "no listener found: /proc/net/unix lists none here"
	start_fake a --state-size 4
	run --separate-stderr "$VHOST_STATE" info --no-connect --json "$FAKE_SOCK"
	assert_success
	assert_schema info-no-connect
	echo "$output" | jq -e --argjson pid "$FAKE_PID" '.owner.pid == $pid and .owner.name == "fake-backend" and .kind == null'
	# nothing was said to it
	[ ! -s "$FAKE_LOG" ]
}

@test "cli: --progress=FD refuses stdin, a closed or read-only fd, and stdout when the output is there, before connecting" {
	start_fake a --state-size 4
	run "$VHOST_STATE" dump --progress=0 "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/o.vhs"
	assert_failure 64
	assert_output --partial "vhost-state: dump: --progress=FD: fd 0 is not open for writing (it is stdin)"
	run "$VHOST_STATE" dump --progress=9 "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/o.vhs"
	assert_failure 64
	run bash -c '"$0" dump --progress=3 "$1" -o "$2" 3</dev/null' "$VHOST_STATE" "$FAKE_SOCK" "$BATS_TEST_TMPDIR/o.vhs"
	assert_failure 64
	assert_output --partial "fd 3 is not open for writing"
	run bash -c '"$0" dump --progress=1 "$1" >"$2"' "$VHOST_STATE" "$FAKE_SOCK" "$BATS_TEST_TMPDIR/o.vhs"
	assert_failure 64
	assert_output --partial "--progress=1 would mix progress lines into the output on stdout"
	run "$VHOST_STATE" inspect --json --progress=1 "$BATS_TEST_TMPDIR/o.vhs"
	assert_failure 64
	# none of these said anything to the back-end
	[ ! -s "$FAKE_LOG" ]
	[ ! -s "$BATS_TEST_TMPDIR/o.vhs" ]
	rm -f "$BATS_TEST_TMPDIR/o.vhs"
	# a writable fd that is not the output's works
	run bash -c '"$0" dump --progress=3 "$1" -o "$2" 3>"$3"' "$VHOST_STATE" "$FAKE_SOCK" "$BATS_TEST_TMPDIR/o.vhs" \
		"$BATS_TEST_TMPDIR/progress"
	assert_success
	grep -q '^progress dump bytes=4 .* done$' "$BATS_TEST_TMPDIR/progress"
}

@test "cli: every usage line names the command's required arguments" {
	run "$VHOST_STATE" inject --help
	assert_line --index 0 "Usage: vhost-state inject [OPTION...] MIGFILE STATE -o OUT"
	run "$VHOST_STATE" proxy --help
	assert_line --index 0 "Usage: vhost-state proxy [OPTION...] --listen SOCK --connect SOCK"
	run "$VHOST_STATE" snapshot --help
	assert_line --index 1 "  or:  vhost-state snapshot [OPTION...] --status CONTROL-SOCKET"
	run "$VHOST_STATE" info --help
	assert_line --index 1 "  or:  vhost-state info [OPTION...] --no-connect SOCKET"
	local verb usage
	for verb in "info SOCKET" "dump SOCKET" "restore SOCKET" "verify SOCKET FILE" "run SOCKET STEP..." \
		"inspect FILE" "convert IN OUT" "diff A B" "extract MIGFILE"; do
		run "$VHOST_STATE" ${verb%% *} --help
		assert_success
		assert_line --index 0 "Usage: vhost-state ${verb%% *} [OPTION...] ${verb#* }"
	done
	run "$VHOST_STATE" --help
	assert_output --partial "help [COMMAND]"
	assert_output --partial "info --no-connect SOCKET"
}

@test "cli: one condition, one exit status, in every verb: a missing input 1, an output there 64, a missing directory 1" {
	local mig=$VS_SRCDIR/tests/fuzz/corpus/migfile/fs-idle t=$BATS_TEST_TMPDIR
	raw_stream 0102 >"$t/s.vhs"
	touch "$t/there"
	local -a missing=(
		"inspect $t/none" "diff $t/none $t/s.vhs" "convert $t/none $t/o" "extract $t/none --list"
		"inject $mig $t/none -o $t/o" "restore $t/x.sock -i $t/none" "verify $t/x.sock $t/none"
		"run $t/x.sock load $t/none" "preflight $t/none --shared-dir $t"
	)
	local -a there=(
		"convert $t/s.vhs $t/there" "extract $mig -o $t/there" "inject $mig $t/s.vhs -o $t/there"
		"run $t/x.sock save $t/there" "dump $t/x.sock -o $t/there"
	)
	local -a nodir=(
		"convert $t/s.vhs $t/none/o" "extract $mig -o $t/none/o" "inject $mig $t/s.vhs -o $t/none/o"
		"run $t/x.sock save $t/none/o" "dump $t/x.sock -o $t/none/o"
		"proxy --listen $t/none/l.sock --connect $t/x.sock" "proxy --listen $t/l.sock --connect $t/x.sock --log $t/none/log"
	)
	local args verb
	for args in "${missing[@]}"; do
		verb=${args%% *}
		# shellcheck disable=SC2086
		run "$VHOST_STATE" $args
		assert_failure 1
		assert_output --regexp "^vhost-state: $verb: .*$t/none: No such file or directory"
	done
	for args in "${there[@]}"; do
		# shellcheck disable=SC2086
		run "$VHOST_STATE" $args
		assert_failure 64
		assert_output --partial "$t/there: file exists (use -f to overwrite)"
	done
	for args in "${nodir[@]}"; do
		# shellcheck disable=SC2086
		run "$VHOST_STATE" $args
		assert_failure 1
		assert_output --partial "No such file or directory"
	done
}
