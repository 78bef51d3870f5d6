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
	for code in 0 1 2 64 65 69 75 76; do
		grep -q "^\\.B $code\$" "$VS_MAN"
	done
}

@test "cli: --json works before the command too" {
	run --separate-stderr "$VHOST_STATE" --json inspect "$BATS_TEST_TMPDIR/none.vhs"
	assert_failure 1
	echo "$output" | jq -e '.error.exit_code == 1'
}
