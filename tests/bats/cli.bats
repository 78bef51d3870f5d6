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
		assert_output --partial "vhost-state $verb: SOCKET is required"
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
	assert_schema error
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
	for verb in info dump restore verify run inspect convert diff extract inject proxy snapshot; do
		grep -q "^\\.B $verb" "$VS_MAN"
	done
	for opt in timeout verbose quiet force "max\\\\-size" progress format zstd threads output input json; do
		grep -q -- "-\\\\-$opt" "$VS_MAN"
	done
	for code in 0 1 2 64 65 69 75 76; do
		grep -q "^\\.B $code\$" "$VS_MAN"
	done
	# the JSON contract: its section, the schemas' place
	grep -q '^\.SH JSON$' "$VS_MAN"
	grep -q 'vhost-state/schema/' "$VS_MAN"
}

@test "cli: every schema is valid draft 2020-12, installed (dist_schema_DATA), and named in the man page" {
	for f in "$VS_SRCDIR"/schema/*.schema.json; do
		name=${f##*/}
		/usr/bin/python3 -c 'import json, sys; from jsonschema import Draft202012Validator as V; V.check_schema(json.load(open(sys.argv[1])))' "$f"
		grep -q "schema/$name" "$VS_SRCDIR/Makefile.am" || fail "$name is not in dist_schema_DATA"
		grep -q "${name%%.*}" "$VS_MAN" || fail "${name%%.*} is not in the man page"
	done
	# a document of the wrong shape is refused (negative control)
	echo '{"error": {"message": "x", "exit_code": "64"}}' >"$BATS_TEST_TMPDIR/bad.json"
	run /usr/bin/python3 "$VS_SRCDIR/tests/bats/helpers/schema.py" error "$BATS_TEST_TMPDIR/bad.json"
	assert_failure 1
	assert_output --partial "is not one of"
}

@test "cli: --json works before the command too" {
	run --separate-stderr "$VHOST_STATE" --json inspect "$BATS_TEST_TMPDIR/none.vhs"
	assert_failure 1
	assert_schema error
	echo "$output" | jq -e '.error.exit_code == 1'
}

# verb_args VERB — arguments that reach the verb's work and fail there (no
# such socket or file): enough to see where --json is accepted
verb_args() {
	local t=$BATS_TEST_TMPDIR
	case $1 in
	info) echo "$t/none.sock" ;;
	dump) echo "$t/none.sock -o $t/out.vhs" ;;
	restore) echo "$t/none.sock -i $t/none.vhs" ;;
	verify) echo "$t/none.sock $t/none.vhs" ;;
	run) echo "$t/none.sock info" ;;
	inspect) echo "$t/none.vhs" ;;
	convert) echo "$t/none.vhs $t/out.vhs" ;;
	diff) echo "$t/none.vhs $t/none2.vhs" ;;
	extract) echo "$t/none.mig -o $t/out.vhs" ;;
	inject) echo "$t/none.mig $t/none.vhs -o $t/out.mig" ;;
	snapshot) echo "$t/none.ctl -o $t/out.vhs" ;;
	proxy) echo "--listen $t/l.sock --connect $t/none.sock" ;;
	esac
}

@test "cli: --json is accepted before and after the command, by every verb, and failures are one error document" {
	for verb in info dump restore verify run inspect convert diff extract inject snapshot proxy; do
		# shellcheck disable=SC2046
		run --separate-stderr "$VHOST_STATE" $verb --json $(verb_args $verb)
		[ "$status" -ne 64 ] || fail "$verb --json: usage error: $stderr"
		[ "$status" -ne 0 ]
		assert_schema error
		after=$status
		# shellcheck disable=SC2046
		run --separate-stderr "$VHOST_STATE" --json $verb $(verb_args $verb)
		assert_equal "$status" "$after"
		assert_schema error
		echo "$output" | jq -e ".error.exit_code == $after"
	done
}

@test "cli: --json with the state on stdout is a usage error (64), before anything is contacted or written" {
	start_fake a --state-size 10
	raw_stream 0a0b >"$BATS_TEST_TMPDIR/s.vhs"
	for args in "dump $FAKE_SOCK" "dump $FAKE_SOCK -o -" "convert $BATS_TEST_TMPDIR/s.vhs -" \
		"run $FAKE_SOCK start stop save -" "verify $FAKE_SOCK $BATS_TEST_TMPDIR/s.vhs --save -" \
		"extract $BATS_TEST_TMPDIR/none.mig -o -" "inject $BATS_TEST_TMPDIR/none.mig $BATS_TEST_TMPDIR/s.vhs -o -" \
		"snapshot $BATS_TEST_TMPDIR/none.ctl"; do
		# shellcheck disable=SC2086
		run --separate-stderr "$VHOST_STATE" --json $args
		assert_failure 64
		# never mixed: nothing on stdout at all
		assert_output ""
		[[ "$stderr" == *"--json prints its result on stdout, where the state goes"* ]] || fail "$args: $stderr"
	done
	[ ! -s "$FAKE_LOG" ]
	# the same without --json works (negative control)
	run bash -c "'$VHOST_STATE' -q dump '$FAKE_SOCK' | od -An -tx1 | tr -d ' \n'"
	assert_success
	assert_output --partial "0000000a"
}

@test "cli: --progress=1 cannot write progress lines into the state or the JSON on stdout" {
	raw_stream 0a0b >"$BATS_TEST_TMPDIR/s.vhs"
	run --separate-stderr "$VHOST_STATE" --progress=1 convert "$BATS_TEST_TMPDIR/s.vhs" -
	assert_failure 64
	assert_output ""
	[[ "$stderr" == *"--progress=1 would write progress lines into the state on stdout"* ]]
	run --separate-stderr "$VHOST_STATE" --progress=1 --json convert "$BATS_TEST_TMPDIR/s.vhs" "$BATS_TEST_TMPDIR/o.vhs"
	assert_failure 64
	[ ! -e "$BATS_TEST_TMPDIR/o.vhs" ]
	# to a file, or to another fd, it works
	run --separate-stderr "$VHOST_STATE" --progress=2 convert "$BATS_TEST_TMPDIR/s.vhs" - 
	assert_success
	[[ "$stderr" == *"progress convert"* ]]
}

@test "cli: text results give sizes for humans beside the exact count, and no '1 chunks'" {
	start_fake a --state-size $((3 * 1048576 + 5))
	run "$VHOST_STATE" dump "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/big.vhs"
	assert_success
	assert_output --partial "dumped 3145733 bytes of state (3.0 MiB, 4 chunks)"
	start_fake b --state-size 10
	run "$VHOST_STATE" dump "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/small.vhs"
	assert_output --partial "dumped 10 bytes of state (1 chunk) from"
	run "$VHOST_STATE" convert "$BATS_TEST_TMPDIR/big.vhs" "$BATS_TEST_TMPDIR/big.vhsnap"
	assert_output --partial "3145733 bytes of state (3.0 MiB, 4 chunks)"
	run "$VHOST_STATE" inspect "$BATS_TEST_TMPDIR/big.vhsnap"
	assert_line --regexp '^chunks: +4 .*payload 3145733 bytes \(3\.0 MiB\), stream 3145753 bytes \(3\.0 MiB\)$'
}
