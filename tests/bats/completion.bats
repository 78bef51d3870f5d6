#!/usr/bin/env bats
# bash-completion/vhost-state, driven as bash drives it: COMP_WORDS split
# at COMP_WORDBREAKS, COMP_CWORD, COMP_LINE, COMP_POINT; then COMPREPLY.

load helpers/common

setup() {
	[ -r /usr/share/bash-completion/bash_completion ] ||
		fail "bash-completion missing (build-aux/install-deps.sh installs it)"
	# shellcheck disable=SC1091
	source /usr/share/bash-completion/bash_completion
	# VS_COMPLETION: the source file, or the installed one under make
	# installcheck
	[ -r "${VS_COMPLETION:?}" ] || fail "no completion file at $VS_COMPLETION"
	# shellcheck source=../../bash-completion/vhost-state
	source "$VS_COMPLETION"
	cd "$BATS_TEST_TMPDIR"
	touch a.vhs b.vhs
	mkdir -p d
}

# compopt only works inside a real completion: record what was asked
compopt() {
	COMPOPT="${COMPOPT-} $*"
}

# complete_at LINE — complete at the end of LINE (the program is $VHOST_STATE);
# the candidates are in $reply, one per line, sorted.
complete_at() {
	local line="$VHOST_STATE $1" w
	COMP_LINE=$line
	COMP_POINT=${#line}
	COMP_WORDS=()
	# bash breaks words at blanks and at = and : (COMP_WORDBREAKS)
	for w in $line; do
		while [[ $w =~ ^([=:]+|[^=:]+)(.*)$ ]]; do
			COMP_WORDS+=("${BASH_REMATCH[1]}")
			w=${BASH_REMATCH[2]}
		done
	done
	[[ $line == *" " ]] && COMP_WORDS+=("")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	COMPOPT=
	# bash ignores a completion function's status, and so its code (and
	# bash-completion's) is not written for set -e
	_vhost_state "$VHOST_STATE" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}" || :
	reply=$(printf '%s\n' "${COMPREPLY[@]}" | sort)
}

has() {
	local w
	for w in "$@"; do
		grep -qxF -- "$w" <<<"$reply" || fail "'$w' not offered; offered: $(echo $reply)"
	done
}

lacks() {
	local w
	for w in "$@"; do
		! grep -qxF -- "$w" <<<"$reply" || fail "'$w' offered; offered: $(echo $reply)"
	done
}

@test "completion: the verbs, help's verbs, and an option's value not taken for the verb" {
	complete_at ""
	has info dump restore verify run inspect convert diff extract inject proxy snapshot preflight help
	lacks a.vhs
	complete_at "-t 5 "
	has dump restore help
	lacks a.vhs 5
	complete_at "--max-size 1G -t 5 di"
	[ "$reply" = diff ]
	complete_at "help "
	has dump proxy
	lacks help a.vhs
	complete_at "help dump "
	[ -z "$reply" ]
}

@test "completion: options come from the binary's own --help, per verb, = forms without a space" {
	complete_at "--"
	has --timeout= --max-size= --progress --help
	complete_at "dump --"
	has --output= --format= --zstd --threads= --timeout= --force
	lacks --input= --listen=
	[[ $COMPOPT == *nospace* ]]
	complete_at "proxy --"
	has --listen= --connect= --log= --tee= --control= --json
	complete_at "info --no"
	[ "$reply" = --no-connect ]
	complete_at "run --q"
	has --queues= --queue-size=
	complete_at "extract --l"
	[ "$reply" = --list ]
	complete_at "inject -"
	has --output= --device=
	complete_at "restore -"
	has -h --input=
}

@test "completion: option values: --format in both forms, paths, directories, none for numbers" {
	complete_at "dump --format "
	[ "$(echo $reply)" = "archive raw" ]
	complete_at "dump --format=a"
	[ "$reply" = archive ]
	complete_at "convert a.vhs --format=r"
	[ "$reply" = raw ]
	complete_at "dump s.sock -o "
	has a.vhs b.vhs d
	complete_at "dump s.sock --output="
	has a.vhs b.vhs
	complete_at "proxy --tee "
	[ "$reply" = d ]
	complete_at "-t "
	[ -z "$reply" ]
	complete_at "run --queues "
	[ -z "$reply" ]
	complete_at "dump --zstd="
	[ -z "$reply" ]
	# --zstd without = takes no value: what follows is the socket
	complete_at "dump --zstd "
	has a.vhs
}

@test "completion: run offers its steps after the socket, and files after save, load and verify" {
	complete_at "run "
	has a.vhs d
	lacks start
	complete_at "run s.sock "
	has start stop save load verify info reset log-start log-stop
	lacks a.vhs
	complete_at "run --queues 0,1 s.sock start stop s"
	[ "$(echo $reply)" = "save start stop" ]
	complete_at "run s.sock start stop save "
	has a.vhs b.vhs
	lacks start
	complete_at "run s.sock load a.vhs "
	has verify info
	lacks a.vhs
}

@test "completion: --device offers the states of the MIGFILE given (extract --list --json)" {
	local mig=$VS_SRCDIR/tests/fuzz/corpus/migfile/net-and-fs
	[ -r "$mig" ] || fail "missing $mig"
	complete_at "extract $mig --device "
	[ "$(echo $reply)" = "0000:00:03.0/virtio-net 0000:00:04.0/vhost-user-fs" ]
	complete_at "extract $mig -o out.vhs --device 0000:00:04"
	# bash broke the word at ':': what remains after the last ':' is offered
	[ "$reply" = "04.0/vhost-user-fs" ]
	complete_at "inject $mig a.vhs -o out.mig --device=0000:00:03"
	[ "$reply" = "03.0/virtio-net" ]
	# no MIGFILE yet, or a file that is not one: nothing
	complete_at "extract --device "
	[ -z "$reply" ]
	complete_at "extract a.vhs --device "
	[ -z "$reply" ]
}

@test "completion: every verb of --help, and nothing more" {
	# the verbs the binary under test lists in --help
	run "$VHOST_STATE" --help
	assert_success
	expected=$(printf '%s\n' "$output" | sed -n '/^Commands:/,$s/^  \([a-z][a-z-]*\) .*/\1/p' | sort -u)
	[ "$(printf '%s\n' "$expected" | wc -l)" -ge 10 ]
	complete_at ""
	[ "$reply" = "$expected" ] || fail "offered: $(echo $reply); --help lists: $(echo $expected)"
}

@test "completion: preflight's options and their values: a directory, the on-error and migration modes, users" {
	complete_at "preflight a.vhs --mig"
	has --migration-on-error= --migration-mode=
	complete_at "preflight a.vhs --migration-on-error "
	has abort guest-error
	lacks a.vhs
	complete_at "preflight a.vhs --migration-mode "
	has find-paths file-handles
	complete_at "preflight a.vhs --shared-dir "
	has d
	lacks a.vhs
	complete_at "preflight a.vhs --as-user "
	has root
	# the value is not taken for SOURCE: files are offered after it
	complete_at "preflight --shared-dir d "
	has a.vhs
	# control: another verb has none of them
	complete_at "inspect a.vhs --mig"
	lacks --migration-on-error= --migration-mode=
}
