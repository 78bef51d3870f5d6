#!/usr/bin/env bats
# Hostile files at rest: archives whose members are not the format's two
# plain files, and small compressed inputs that expand past --max-size.
# The archives are written by tarcraft.py (Python's tarfile), not by us.

load helpers/common

CRAFT=$VS_SRCDIR/tests/bats/helpers/tarcraft.py

setup() {
	VS_PIDS=
	GOOD=$BATS_TEST_TMPDIR/good.vhsnap
	raw_stream 01000200000000000000 >"$BATS_TEST_TMPDIR/one.vhs"
	SOURCE_DATE_EPOCH=1700000000 "$VHOST_STATE" -q convert "$BATS_TEST_TMPDIR/one.vhs" "$GOOD"
}

teardown() {
	vs_teardown
}

@test "safety: archive members named ../x or absolute, duplicated, extra, links or special files are refused (65); nothing is written anywhere" {
	mkdir -p "$BATS_TEST_TMPDIR/work/in"
	cd "$BATS_TEST_TMPDIR/work/in"
	# the control: the same two members written by tarfile are accepted
	python3 "$CRAFT" members "$GOOD" same same.vhsnap
	run "$VHOST_STATE" -q convert same.vhsnap same.vhs
	assert_success
	cmp same.vhs "$BATS_TEST_TMPDIR/one.vhs"
	rm same.vhs same.vhsnap
	start_fake a
	while read -r variant message; do
		python3 "$CRAFT" members "$GOOD" "$variant" "$variant.vhsnap"
		for verb in inspect "convert --format raw" "convert --format archive" restore; do
			case $verb in
			restore) run "$VHOST_STATE" restore "$FAKE_SOCK" -i "$variant.vhsnap" ;;
			convert*) run "$VHOST_STATE" $verb "$variant.vhsnap" "out-$variant" ;;
			*) run "$VHOST_STATE" $verb "$variant.vhsnap" ;;
			esac
			echo "$variant, $verb: $output"
			assert_failure 65
			assert_output --partial "$message"
		done
	done <<-'EOF'
		dotdot the archive's first member is '../manifest.json', expected manifest.json
		absolute the archive's first member is '/tmp/manifest.json', expected manifest.json
		state-dotdot the archive's second member is '../state.vhs', expected state.vhs
		dup-manifest the archive's second member is 'manifest.json', expected state.vhs
		extra unexpected archive member '../x' after state.vhs
		state-symlink state.vhs is a symlink, expected a plain file
		state-hardlink state.vhs is a hard link to 'manifest.json', expected a plain file
		manifest-symlink manifest.json is a symlink, expected a plain file
		state-fifo state.vhs is a special file, expected a plain file
		state-dir the archive's second member is 'state.vhs/', expected state.vhs
	EOF
	# nothing reached the back-end, and only the crafted files exist
	[ ! -s "$FAKE_LOG" ]
	assert_equal "$(cd "$BATS_TEST_TMPDIR/work" && find . -mindepth 1 ! -name '*.vhsnap' | sort | tr '\n' ' ')" "./in "
	[ ! -e /tmp/manifest.json ] || [ /tmp/manifest.json -ot "$GOOD" ]
}

# bomb CHUNK COUNT OUT — an archive+zstd whose state is COUNT chunks of
# CHUNK zero bytes (its manifest is GOOD's: the limit must stop it first).
bomb() {
	python3 "$CRAFT" bomb "$GOOD" "$1" "$2" - | zstd -19 -q -c >"$3"
}

# bounded_run TMPDIR CMD... — CMD under RLIMIT_FSIZE = 1 MiB: any file
# written past 1 MiB (the spool in TMPDIR included) kills it (SIGXFSZ).
bounded_run() {
	local dir=$1
	shift
	run bash -c 'ulimit -f 1024 && TMPDIR=$0 exec "$@"' "$dir" "$@"
}

@test "safety: a 1 KiB .vhsnap.zst expanding past --max-size stops at the limit with 65, never writing more than the limit to TMPDIR" {
	tmp=$BATS_TEST_TMPDIR/spool
	mkdir "$tmp"
	# 1 MiB of 1-byte chunks: 5 MiB of stream from a few hundred bytes
	bomb 1 1048576 "$BATS_TEST_TMPDIR/framing.vhsnap.zst"
	# 64 MiB of 64 KiB chunks
	bomb 65536 1024 "$BATS_TEST_TMPDIR/payload.vhsnap.zst"
	# the same 5 MiB stream as a zstd raw stream, and from a pipe
	python3 "$CRAFT" bomb "$GOOD" 1 1048576 - | tar xOf - state.vhs >"$BATS_TEST_TMPDIR/framing.vhs"
	zstd -19 -q "$BATS_TEST_TMPDIR/framing.vhs" -o "$BATS_TEST_TMPDIR/framing.vhs.zst"
	[ "$(stat -c %s "$BATS_TEST_TMPDIR/framing.vhsnap.zst")" -le 1024 ]
	[ "$(stat -c %s "$BATS_TEST_TMPDIR/framing.vhs.zst")" -le 1024 ]
	start_fake a
	for f in framing.vhsnap.zst payload.vhsnap.zst framing.vhs.zst; do
		for verb in inspect restore; do
			if [ $verb = restore ]; then
				bounded_run "$tmp" "$VHOST_STATE" --max-size=1M restore "$FAKE_SOCK" -i "$BATS_TEST_TMPDIR/$f"
			else
				bounded_run "$tmp" "$VHOST_STATE" --max-size=1M inspect "$BATS_TEST_TMPDIR/$f"
			fi
			echo "$f $verb: $status $output"
			assert_failure 65
			assert_output --regexp "exceeds the limit of 1048576 bytes \\(--max-size\\)"
		done
	done
	bounded_run "$tmp" sh -c 'cat "$1" | "$0" --max-size=1M inspect -' "$VHOST_STATE" "$BATS_TEST_TMPDIR/framing.vhs"
	assert_failure 65
	assert_output --partial "stopped reading: the state stream, lengths included, exceeds the limit of 1048576 bytes (--max-size)"
	[ ! -s "$FAKE_LOG" ]
	# the spool is gone, and nothing else was left in TMPDIR
	assert_equal "$(find "$tmp" -mindepth 1 | wc -l)" 0
	# the control: a state just under the limit, lengths included, passes
	# through the same spool under the same file-size limit
	python3 "$CRAFT" bomb "$GOOD" 1048000 1 - | tar xOf - state.vhs | zstd -q -c >"$BATS_TEST_TMPDIR/under.vhs.zst"
	bounded_run "$tmp" "$VHOST_STATE" --max-size=1M inspect "$BATS_TEST_TMPDIR/under.vhs.zst"
	assert_success
	assert_output --partial "1048000"
}
