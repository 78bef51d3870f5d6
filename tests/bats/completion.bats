#!/usr/bin/env bats
# The bash completion (VS_COMPLETION: the source file, or the installed one
# under make installcheck), driven as bash-completion drives it on TAB.

load helpers/common

BASH_COMPLETION=/usr/share/bash-completion/bash_completion

setup() {
	[ -r "$BASH_COMPLETION" ] || fail "bash-completion is not installed ($BASH_COMPLETION)"
	[ -r "${VS_COMPLETION:?}" ] || fail "no completion file at $VS_COMPLETION"
}

# complete_line WORD... — what TAB offers for the last WORD of
# "vhost-state WORD...", one candidate a line, sorted.  Calls the function
# that the completion file registered for vhost-state.
complete_line() {
	bash --norc --noprofile -c '
		source "$1" && source "$2" || exit 99
		shift 2
		fn=$(complete -p vhost-state | sed -n "s/.* -F \([^ ]*\) .*/\1/p")
		[ -n "$fn" ] || { echo "no completion registered for vhost-state" >&2; exit 98; }
		COMP_WORDS=(vhost-state "$@")
		COMP_CWORD=$#
		COMP_LINE="${COMP_WORDS[*]}"
		COMP_POINT=${#COMP_LINE}
		"$fn" vhost-state "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}" | sort' _ "$BASH_COMPLETION" "$VS_COMPLETION" "$@"
}

@test "completion: a verb from its first letter" {
	run complete_line d
	assert_success
	assert_output "$(printf 'diff\ndump')"
}

@test "completion: every verb of --help, and nothing more" {
	# the verbs the binary under test lists in --help
	run "$VHOST_STATE" --help
	assert_success
	expected=$(printf '%s\n' "$output" | sed -n '/^Commands:/,$s/^  \([a-z][a-z]*\) .*/\1/p' | sort)
	[ "$(printf '%s\n' "$expected" | wc -l)" -ge 10 ]
	run complete_line ''
	assert_success
	assert_output "$expected"
}

@test "completion: a verb's own options, not another verb's" {
	run complete_line dump --f
	assert_success
	assert_output "$(printf -- '--force\n--format')"
	# --zstd belongs to dump, not to info (negative control)
	run complete_line info --z
	assert_success
	assert_output ""
}

@test "completion: --format offers the formats" {
	run complete_line dump --format ''
	assert_success
	assert_output "$(printf 'archive\nraw')"
}

@test "completion: an unknown word completes to nothing" {
	run complete_line frob
	assert_success
	assert_output ""
}
