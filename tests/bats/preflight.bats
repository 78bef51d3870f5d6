#!/usr/bin/env bats
# preflight against the real back-end: for every case, preflight's verdict
# is compared with what a fresh virtiofsd 1.13 does with the same state on
# the same directory (restore: CHECK 0 or not), and in guest-error mode
# with what the guest then finds broken (the test client's GETATTR and
# READ after the load).  A disagreement fails the test.  Each case also
# states the verdict it expects, so two wrong answers cannot agree.

load helpers/common
load helpers/peers
load helpers/fuse
load helpers/qemu

GEN=$VS_SRCDIR/tests/bats/helpers/vfsstate.py

setup_file() {
	virtiofsd_fetch
	passt_fetch
}

setup() {
	require_virtiofsd
	# a directory every user can reach (the bats tree may not be)
	PF_TOP=$(mktemp -d /tmp/vspf.XXXXXX)
	chmod 755 "$PF_TOP"
	N=0
}

teardown() {
	vs_teardown
	rm -rf "${PF_TOP:?}"
}

# gen STATE WORD... — a state written by vfsstate.py.
gen() {
	local out=$1
	shift
	python3 "$GEN" "$@" >"$out"
}

# share NAME — $PF_TOP/NAME with a.txt and b.txt (as two_file_share).
share() {
	SHARE=$PF_TOP/$1
	mkdir -p "$SHARE"
	printf 'hello\n' >"$SHARE/a.txt"
	printf 'second file\n' >"$SHARE/b.txt"
	chmod 755 "$SHARE"
}

# real_populate STATE [virtiofsd options] — the two-file state saved by a
# real virtiofsd (inodes 2 a.txt and 3 b.txt, handles 0 and 1, read-only).
real_populate() {
	local state=$1
	shift
	share src$((++N))
	VFS_SHARE_DIR=$SHARE start_virtiofsd "src$N" "$@"
	fuse_client -t 10 --save "$state" "$VFS_SOCK" init lookup a.txt lookup b.txt open 2 open 3 >/dev/null
}

# pf STATE DIR [preflight options] — preflight --json, checked against
# its schema; PF_RC and PF_JSON.
pf() {
	local state=$1 dir=$2
	shift 2
	run --separate-stderr "$VHOST_STATE" preflight "$state" --shared-dir "$dir" --json "$@"
	PF_RC=$status
	PF_JSON=$output
	if jq -e 'has("error")' <<<"$PF_JSON" >/dev/null; then
		# a state that does not decode: the error document
		jq -e --argjson rc "$PF_RC" '.error.exit_code == $rc and $rc == 65' <<<"$PF_JSON" >/dev/null
		return
	fi
	assert_schema preflight
	jq -e --argjson rc "$PF_RC" '.exit_code == $rc' <<<"$PF_JSON" >/dev/null
}

# real_restore STATE DIR [virtiofsd options] — a fresh virtiofsd on DIR
# loads STATE; REAL_RC: 0 (CHECK 0) or 1.
real_restore() {
	local state=$1 dir=$2
	shift 2
	VFS_SHARE_DIR=$dir start_virtiofsd "dst$((++N))" "$@"
	run "$VHOST_STATE" restore "$VFS_SOCK" -i "$state"
	REAL_RC=$status
	[ "$REAL_RC" -le 1 ] || fail "restore exited $REAL_RC: $output"
}

# agree EXPECTED STATE DIR [preflight options] [-- virtiofsd options] —
# abort mode: preflight exits EXPECTED (0 or 2), and virtiofsd's CHECK is
# 0 exactly when preflight says 0.
agree() {
	local expected=$1 state=$2 dir=$3 pfopts=() vopts=()
	shift 3
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		pfopts+=("$1")
		shift
	done
	[ $# -gt 0 ] && shift
	vopts=("$@")
	pf "$state" "$dir" "${pfopts[@]}"
	real_restore "$state" "$dir" "${vopts[@]}"
	echo "preflight: $PF_RC, virtiofsd restore: $REAL_RC" >&2
	if [ "$REAL_RC" -eq 0 ]; then
		assert_equal "$PF_RC" 0
	else
		assert_equal "$PF_RC" 2
		# and virtiofsd stopped at the same first failure
		local obj id st
		read -r obj id st < <(jq -r '.problems[0] | "\(.object) \(.id) \(.status)"' <<<"$PF_JSON")
		if [ "$obj $st" = "handle no-descriptor" ]; then
			# virtiofsd names no handle for this one (an unwrapped ENFILE)
			grep -q "No more file descriptors available to the guest" "$VFS_LOG" ||
				fail "virtiofsd did not run out of descriptors: $(cat "$VFS_LOG")"
		elif [ "$obj" = inode ]; then
			grep -q "Inode $id\b" "$VFS_LOG" || fail "virtiofsd's log does not name inode $id: $(cat "$VFS_LOG")"
		else
			grep -q "as handle $id:" "$VFS_LOG" || fail "virtiofsd's log does not name handle $id: $(cat "$VFS_LOG")"
		fi
	fi
	assert_equal "$PF_RC" "$expected"
}

# guest_agree STATE DIR "INODE..." "INODE:HANDLE..." [preflight options] —
# guest-error mode: virtiofsd loads STATE; the inodes whose GETATTR fails
# and the handles whose READ fails are exactly those preflight lists.
guest_agree() {
	local state=$1 dir=$2 inodes=$3 handles=$4 req=() i real_i='' real_h='' pf_i pf_h
	shift 4
	pf "$state" "$dir" --migration-on-error guest-error "$@"
	assert_equal "$PF_RC" 0
	for i in $inodes; do req+=(getattr "$i"); done
	for i in $handles; do req+=(read "${i%:*}" "${i#*:}"); done
	# shellcheck disable=SC2086
	VFS_SHARE_DIR=$dir start_virtiofsd "g$((++N))" --migration-on-error=guest-error ${VFS_CAPS:-} ${VFS_NOFILE:-}
	run fuse_client -t 10 --load "$state" "$VFS_SOCK" "${req[@]}"
	assert_line --regexp '^loaded: '
	for i in $inodes; do
		if grep -q "^getattr $i: error" <<<"$output"; then real_i+="${real_i:+ }$i"; fi
	done
	for i in $handles; do
		if grep -q "^read ${i%:*} ${i#*:}: error" <<<"$output"; then real_h+="${real_h:+ }${i#*:}"; fi
	done
	pf_i=$(jq -r '[.problems[] | select(.object == "inode") | .id] | sort | map(tostring) | join(" ")' <<<"$PF_JSON")
	pf_h=$(jq -r '[.problems[] | select(.object == "handle") | .id] | sort | map(tostring) | join(" ")' <<<"$PF_JSON")
	echo "broken inodes: virtiofsd '$real_i' preflight '$pf_i'; handles: virtiofsd '$real_h' preflight '$pf_h'" >&2
	assert_equal "$pf_i" "$real_i"
	assert_equal "$pf_h" "$real_h"
}

first_problem() {
	jq -r '.problems[0] | "\(.object) \(.id) \(.path // "-") \(.status) \(.first)"' <<<"$PF_JSON"
}

@test "preflight: all files present: a real state restores, and preflight says so" {
	real_populate "$PF_TOP/s.vhs"
	share dst
	agree 0 "$PF_TOP/s.vhs" "$SHARE"
	jq -e '.verdict == "restores" and .inodes.total == 3 and .handles.total == 2 and (.problems | length) == 0' <<<"$PF_JSON"
	# text: one summary line
	run "$VHOST_STATE" preflight "$PF_TOP/s.vhs" --shared-dir "$SHARE"
	assert_success
	assert_output --regexp '^restores: virtiofsd state V2, 3 inodes, 2 handles'
}

@test "preflight: one file missing: the load fails at its inode, first; guest-error breaks it and its handle" {
	real_populate "$PF_TOP/s.vhs"
	share dst
	rm "$SHARE/b.txt"
	agree 2 "$PF_TOP/s.vhs" "$SHARE"
	assert_equal "$(first_problem)" "inode 3 b.txt missing true"
	grep -q "b.txt: No such file or directory" "$VFS_LOG"
	run "$VHOST_STATE" preflight "$PF_TOP/s.vhs" --shared-dir "$SHARE"
	assert_failure 2
	assert_line 'inode 3 b.txt: missing: b.txt: No such file or directory [ENOENT] (first failure)'
	guest_agree "$PF_TOP/s.vhs" "$SHARE" "1 2 3" "2:0 3:1"
	jq -e '.verdict == "restores-with-errors" and .problems[0].effect == "guest-error"' <<<"$PF_JSON"
}

@test "preflight: a file renamed: its old name is missing, the load fails" {
	real_populate "$PF_TOP/s.vhs"
	share dst
	mv "$SHARE/a.txt" "$SHARE/renamed.txt"
	agree 2 "$PF_TOP/s.vhs" "$SHARE"
	assert_equal "$(first_problem)" "inode 2 a.txt missing true"
	guest_agree "$PF_TOP/s.vhs" "$SHARE" "2 3" "2:0 3:1"
}

@test "preflight: a file replaced by a directory: a read handle reopens it, a write handle does not" {
	real_populate "$PF_TOP/s.vhs"
	share dst
	rm "$SHARE/b.txt" && mkdir "$SHARE/b.txt"
	# the real state's handles are read-only: a directory opens that way
	agree 0 "$PF_TOP/s.vhs" "$SHARE"
	# the same inodes with a write handle (O_WRONLY) on b.txt
	gen "$PF_TOP/w.vhs" root path:2:1:a.txt path:3:1:b.txt handle:0:2:0 handle:1:3:1
	agree 2 "$PF_TOP/w.vhs" "$SHARE"
	assert_equal "$(first_problem)" "handle 1 b.txt is-a-directory true"
	# and O_DIRECTORY on what is a file again
	rmdir "$SHARE/b.txt" && echo x >"$SHARE/b.txt"
	gen "$PF_TOP/d.vhs" root path:2:1:a.txt path:3:1:b.txt handle:0:3:0x10000
	agree 2 "$PF_TOP/d.vhs" "$SHARE"
	assert_equal "$(first_problem)" "handle 0 b.txt not-a-directory true"
}

@test "preflight: a file replaced by a symlink out of the shared dir: the inode loads as the link, its handle cannot" {
	real_populate "$PF_TOP/s.vhs"
	share dst
	echo secret >"$PF_TOP/outside"
	rm "$SHARE/b.txt" && ln -s "$PF_TOP/outside" "$SHARE/b.txt"
	agree 2 "$PF_TOP/s.vhs" "$SHARE"
	assert_equal "$(first_problem)" "handle 1 b.txt not-openable true"
	# without a handle on it, virtiofsd takes the link itself (O_NOFOLLOW)
	gen "$PF_TOP/nohandle.vhs" root path:2:1:a.txt path:3:1:b.txt handle:0:2:0
	agree 0 "$PF_TOP/nohandle.vhs" "$SHARE"
	run "$VHOST_STATE" preflight "$PF_TOP/nohandle.vhs" --shared-dir "$SHARE" -v
	assert_success
	assert_line '  inode 3 ok b.txt (symlink)'
	refute_output --partial secret
	refute_output --partial "$PF_TOP/outside"
}

@test "preflight: a directory path under a file replaced by a symlink to an outside directory is not followed" {
	share dst
	mkdir -p "$PF_TOP/outdir/sub" "$SHARE/d"
	echo x >"$PF_TOP/outdir/sub/f"
	echo y >"$SHARE/d/f"
	gen "$PF_TOP/s.vhs" root path:2:1:d path:3:2:f handle:0:3:0
	agree 0 "$PF_TOP/s.vhs" "$SHARE"
	rm -r "$SHARE/d" && ln -s "$PF_TOP/outdir/sub" "$SHARE/d"
	agree 2 "$PF_TOP/s.vhs" "$SHARE"
	assert_equal "$(first_problem)" "inode 3 d/f not-a-directory true"
}

@test "preflight: a file unreadable to a non-root virtiofsd: its read handle fails for that user, not for root" {
	real_populate "$PF_TOP/s.vhs"
	share dst
	chmod 600 "$SHARE/b.txt"
	vs_sockdir
	chmod 1777 "$VS_SOCKDIR"
	# the peer's files where that user can run them
	mkdir "$PF_TOP/peer" && cp -a "$VIRTIOFSD_ROOT/root" "$PF_TOP/peer/"
	local VIRTIOFSD_ROOT=$PF_TOP/peer
	VFS_EXEC="setpriv --reuid 65534 --regid 65534 --clear-groups" agree 2 "$PF_TOP/s.vhs" "$SHARE" --as-user 65534:65534
	assert_equal "$(first_problem)" "handle 1 b.txt permission true"
	jq -e '.user.uid == 65534 and .user.privileged == false' <<<"$PF_JSON"
	VFS_EXEC="setpriv --reuid 65534 --regid 65534 --clear-groups" guest_agree "$PF_TOP/s.vhs" "$SHARE" "2 3" "2:0 3:1" --as-user 65534:65534
	# control: root keeps CAP_DAC_OVERRIDE and opens it
	agree 0 "$PF_TOP/s.vhs" "$SHARE"
	# a directory the user cannot search hides its files from it
	gen "$PF_TOP/d.vhs" root path:2:1:d path:3:2:f
	mkdir -m 700 "$SHARE/d" && touch "$SHARE/d/f"
	VFS_EXEC="setpriv --reuid 65534 --regid 65534 --clear-groups" agree 2 "$PF_TOP/d.vhs" "$SHARE" --as-user 65534:65534
	assert_equal "$(first_problem)" "inode 3 d/f permission true"
}

@test "preflight: a state saved with --migration-verify-handles, b.txt replaced by another file of that name: the handle check fails" {
	real_populate "$PF_TOP/s.vhs" --migration-verify-handles
	run "$VHOST_STATE" inspect --json "$PF_TOP/s.vhs"
	share dst
	# control first: the very files the state was saved from
	agree 0 "$PF_TOP/s.vhs" "$PF_TOP/src1"
	echo "another file" >"$PF_TOP/src1/new" && mv "$PF_TOP/src1/new" "$PF_TOP/src1/b.txt"
	agree 2 "$PF_TOP/s.vhs" "$PF_TOP/src1"
	assert_equal "$(first_problem)" "inode 3 b.txt replaced true"
	guest_agree "$PF_TOP/s.vhs" "$PF_TOP/src1" "2 3" "2:0 3:1"
	# a fresh directory with the same names is other files too, and the
	# root itself differs: that is fatal in any mode
	agree 2 "$PF_TOP/s.vhs" "$SHARE"
	assert_equal "$(first_problem)" "inode 1 . replaced true"
	pf "$PF_TOP/s.vhs" "$SHARE" --migration-on-error guest-error
	assert_equal "$PF_RC" 2
	real_restore "$PF_TOP/s.vhs" "$SHARE" --migration-on-error=guest-error
	assert_equal "$REAL_RC" 1
}

@test "preflight: Invalid inodes from a guest-error restore: lost in abort mode, broken for the guest in guest-error mode" {
	real_populate "$PF_TOP/s.vhs"
	share mid
	rm "$SHARE/b.txt"
	VFS_SHARE_DIR=$SHARE start_virtiofsd mid --migration-on-error=guest-error
	run "$VHOST_STATE" run "$VFS_SOCK" load "$PF_TOP/s.vhs" start stop save "$PF_TOP/s2.vhs"
	assert_success
	# virtiofsd saved inode 3 as Invalid
	run "$VHOST_STATE" inspect --json "$PF_TOP/s2.vhs"
	assert_success
	jq -e '.hints.inodes[] | select(.id == 3) | .location == "invalid"' <<<"$output"
	# even with b.txt back, the inode stays lost
	share dst
	agree 2 "$PF_TOP/s2.vhs" "$SHARE"
	assert_equal "$(first_problem)" "inode 3 - lost true"
	guest_agree "$PF_TOP/s2.vhs" "$SHARE" "1 2 3" "2:0 3:1"
}

@test "preflight: nested paths, a V1 state, full paths and the load order: the first failure is the one virtiofsd reports" {
	share dst
	mkdir -p "$SHARE/d/e"
	echo z >"$SHARE/d/e/f"
	# children listed before their parents: virtiofsd defers them
	gen "$PF_TOP/s.vhs" path:5:4:f path:4:3:e path:3:1:d root path:2:1:a.txt handle:0:5:2
	agree 0 "$PF_TOP/s.vhs" "$SHARE"
	gen "$PF_TOP/v1.vhs" --v1 path:5:4:f path:4:3:e path:3:1:d root path:2:1:a.txt handle:0:5:2
	agree 0 "$PF_TOP/v1.vhs" "$SHARE"
	jq -e '.state_version == "V1"' <<<"$PF_JSON"
	# two missing: a.txt (first pass) is reached before f (third pass)
	gen "$PF_TOP/two.vhs" path:5:4:f path:4:3:e path:3:1:d root path:2:1:gone handle:0:5:2
	rm "$SHARE/d/e/f"
	agree 2 "$PF_TOP/two.vhs" "$SHARE"
	assert_equal "$(first_problem)" "inode 2 gone missing true"
	grep -q "Inode 2" "$VFS_LOG"
	# a full path
	echo z >"$SHARE/d/e/f"
	gen "$PF_TOP/full.vhs" root full:2:d/e/f handle:0:2:0
	agree 0 "$PF_TOP/full.vhs" "$SHARE"
	rm "$SHARE/d/e/f"
	agree 2 "$PF_TOP/full.vhs" "$SHARE"
	assert_equal "$(first_problem)" "inode 2 d/e/f missing true"
}

@test "preflight: bad states: no back-end takes them, whatever the directory (65)" {
	share dst
	# a parent that never appears
	gen "$PF_TOP/orphan.vhs" root path:2:9:a.txt
	pf "$PF_TOP/orphan.vhs" "$SHARE"
	assert_equal "$PF_RC" 65
	real_restore "$PF_TOP/orphan.vhs" "$SHARE" --migration-on-error=guest-error
	assert_equal "$REAL_RC" 1
	# a handle on an inode the state does not hold
	gen "$PF_TOP/nohandle.vhs" root path:2:1:a.txt handle:0:7:0
	pf "$PF_TOP/nohandle.vhs" "$SHARE" --migration-on-error guest-error
	assert_equal "$PF_RC" 65
	real_restore "$PF_TOP/nohandle.vhs" "$SHARE" --migration-on-error=guest-error
	assert_equal "$REAL_RC" 1
	# an inode id used twice
	gen "$PF_TOP/twice.vhs" root path:2:1:a.txt path:2:1:b.txt
	pf "$PF_TOP/twice.vhs" "$SHARE"
	assert_equal "$PF_RC" 65
	real_restore "$PF_TOP/twice.vhs" "$SHARE"
	assert_equal "$REAL_RC" 1
	# a refcount that does not count the inodes under it: virtiofsd drops
	# the parent after its first child, so the second never finds it
	mkdir "$SHARE/d" && touch "$SHARE/d/x" "$SHARE/d/y"
	gen "$PF_TOP/refs.vhs" root path:2:1:d+ref=1 path:3:2:x path:4:2:y
	pf "$PF_TOP/refs.vhs" "$SHARE" --migration-on-error guest-error
	assert_equal "$PF_RC" 65
	jq -e '.problems[0].message | test("refcount ran out")' <<<"$PF_JSON"
	real_restore "$PF_TOP/refs.vhs" "$SHARE" --migration-on-error=guest-error
	assert_equal "$REAL_RC" 1
	# ... and with one more reference it loads
	gen "$PF_TOP/refs2.vhs" root path:2:1:d+ref=2 path:3:2:x path:4:2:y
	agree 0 "$PF_TOP/refs2.vhs" "$SHARE"
	# not a state at all (the bytes end early)
	raw_stream 0103 >"$PF_TOP/short.vhs"
	run "$VHOST_STATE" preflight "$PF_TOP/short.vhs" --shared-dir "$SHARE"
	assert_failure 65
	assert_output --partial "not a state virtiofsd would read"
	real_restore "$PF_TOP/short.vhs" "$SHARE"
	assert_equal "$REAL_RC" 1
	# a name that is not UTF-8: postcard refuses it as a Rust String
	gen "$PF_TOP/utf8.vhs" root path:2:1:a.txt pathhex:3:1:ff41
	pf "$PF_TOP/utf8.vhs" "$SHARE"
	assert_equal "$PF_RC" 65
	real_restore "$PF_TOP/utf8.vhs" "$SHARE" --migration-on-error=guest-error
	assert_equal "$REAL_RC" 1
	# bytes after the state are ignored by virtiofsd, and noted here
	gen "$PF_TOP/trail.vhs" --trailing 00ff00 root path:2:1:a.txt handle:0:2:0
	agree 0 "$PF_TOP/trail.vhs" "$SHARE"
	jq -e '.notes[0] | test("3 bytes after the state")' <<<"$PF_JSON"
	# control: the same words, well formed, load
	gen "$PF_TOP/good.vhs" root path:2:1:a.txt path:3:1:b.txt handle:0:3:0
	agree 0 "$PF_TOP/good.vhs" "$SHARE"
}

@test "preflight: a .vhsnap+zstd archive is read like the raw stream" {
	real_populate "$PF_TOP/s.vhs"
	"$VHOST_STATE" convert "$PF_TOP/s.vhs" "$PF_TOP/s.vhsnap.zst"
	share dst
	rm "$SHARE/b.txt"
	pf "$PF_TOP/s.vhsnap.zst" "$SHARE"
	assert_equal "$PF_RC" 2
	assert_equal "$(first_problem)" "inode 3 b.txt missing true"
}

@test "preflight: usage: --shared-dir is required and must be a directory, refused before SOURCE is read (64)" {
	run "$VHOST_STATE" preflight /nonexistent
	assert_failure 64
	assert_output --partial -- "--shared-dir is required"
	touch "$PF_TOP/file"
	run "$VHOST_STATE" preflight /nonexistent --shared-dir "$PF_TOP/file"
	assert_failure 64
	assert_output --partial "Not a directory"
	run "$VHOST_STATE" preflight /nonexistent --shared-dir "$PF_TOP" --migration-on-error maybe
	assert_failure 64
	run "$VHOST_STATE" preflight /nonexistent --shared-dir "$PF_TOP" --as-user no-such-user-here
	assert_failure 64
	# control: a good directory gets as far as reading SOURCE
	run "$VHOST_STATE" preflight /nonexistent --shared-dir "$PF_TOP"
	assert_failure 1
	assert_output --partial /nonexistent
}

@test "preflight: passt: the version is checked offline as a real passt checks it; flows are left to passt-repair" {
	require_passt
	start_passt a
	"$VHOST_STATE" -q dump "$PASST_SOCK" -o "$PF_TOP/net.vhs"
	run --separate-stderr "$VHOST_STATE" preflight "$PF_TOP/net.vhs" --shared-dir "$PF_TOP" --json
	assert_success
	assert_schema preflight
	jq -e '.backend == "passt" and .verdict == "unverified" and .state_version == 2 and (.notes[0] | test("passt-repair"))' <<<"$output"
	start_passt b
	run "$VHOST_STATE" restore "$PASST_SOCK" -i "$PF_TOP/net.vhs"
	assert_success
	# the same state claiming version 9: this passt does not read it
	hex=$(xxd -p "$PF_TOP/net.vhs" | tr -d '\n')
	hex=${hex:8:${#hex}-16}
	raw_stream "${hex:0:16}0000000900000009${hex:32}" >"$PF_TOP/net9.vhs"
	run --separate-stderr "$VHOST_STATE" preflight "$PF_TOP/net9.vhs" --shared-dir "$PF_TOP" --json
	assert_failure 2
	assert_schema preflight
	jq -e '.verdict == "fails" and .problems[0].status == "version" and .problems[0].errno == "EOPNOTSUPP"' <<<"$output"
	start_passt c
	run "$VHOST_STATE" restore "$PASST_SOCK" -i "$PF_TOP/net9.vhs"
	assert_failure 1
	assert_output --partial "returned 95"
}

@test "preflight: a directory with many files (read once, not stat'ed each): one missing among 30 is found, as virtiofsd finds it" {
	share dst
	mkdir "$SHARE/many"
	words=(root path:2:1:many)
	for i in $(seq 0 29); do
		touch "$SHARE/many/f$i"
		words+=("path:$((i + 3)):2:f$i")
	done
	gen "$PF_TOP/s.vhs" "${words[@]}" handle:0:3:0
	agree 0 "$PF_TOP/s.vhs" "$SHARE"
	rm "$SHARE/many/f17"
	rm "$SHARE/many/f20" && ln -s /etc "$SHARE/many/f20" && rm "$SHARE/many/f21" && mkdir "$SHARE/many/f21"
	agree 2 "$PF_TOP/s.vhs" "$SHARE"
	assert_equal "$(first_problem)" "inode 20 many/f17 missing true"
	jq -e '(.problems | length) == 1' <<<"$PF_JSON"
	# a read handle on the link (known from the listing alone) cannot reopen
	gen "$PF_TOP/l.vhs" "${words[@]//path:20:2:f17/path:20:2:f18}" handle:0:3:0 handle:1:23:0
	agree 2 "$PF_TOP/l.vhs" "$SHARE"
	assert_equal "$(first_problem)" "handle 1 many/f20 not-openable true"
	run "$VHOST_STATE" preflight "$PF_TOP/s.vhs" --shared-dir "$SHARE" -v
	assert_line '  inode 23 ok many/f20 (symlink)'
	assert_line '  inode 24 ok many/f21 (directory)'
}

@test "preflight: a state saved in file-handles mode: inodes reopen by handle only where CAP_DAC_READ_SEARCH is kept; a deleted file's handle is stale" {
	real_populate "$PF_TOP/s.vhs" --migration-mode=file-handles
	run "$VHOST_STATE" inspect --json "$PF_TOP/s.vhs"
	jq -e '[.hints.inodes[] | select(.location == "file-handle")] | length == 2' <<<"$output"
	# virtiofsd drops CAP_DAC_READ_SEARCH unless told to keep it
	agree 2 "$PF_TOP/s.vhs" "$PF_TOP/src1"
	# with mount paths the root goes first, and Vec::swap_remove puts b.txt
	# (inode 3) before a.txt: virtiofsd names inode 3 too
	assert_equal "$(first_problem)" "inode 3 - permission true"
	agree 0 "$PF_TOP/s.vhs" "$PF_TOP/src1" --migration-mode file-handles -- --modcaps=+dac_read_search
	jq -e '.migration_mode == "file-handles"' <<<"$PF_JSON"
	run "$VHOST_STATE" preflight "$PF_TOP/s.vhs" --shared-dir "$PF_TOP/src1" --migration-mode file-handles -v
	assert_line '  inode 2 ok a.txt (file)'
	rm "$PF_TOP/src1/b.txt"
	agree 2 "$PF_TOP/s.vhs" "$PF_TOP/src1" --migration-mode file-handles -- --modcaps=+dac_read_search
	assert_equal "$(first_problem)" "inode 3 - missing true"
	VFS_CAPS=--modcaps=+dac_read_search guest_agree "$PF_TOP/s.vhs" "$PF_TOP/src1" "2 3" "2:0 3:1" --migration-mode file-handles
	# the same names in another directory are other files
	share dst
	agree 2 "$PF_TOP/s.vhs" "$SHARE" --migration-mode file-handles -- --modcaps=+dac_read_search
}

# qemu_agree EXPECTED MIG DIR — preflight on the migration file, and a
# real QEMU loading it with a fresh virtiofsd on DIR: the load completes
# exactly when preflight says 0.
qemu_agree() {
	local expected=$1 mig=$2 dir=$3 real
	pf "$mig" "$dir" --device 0000:00:04.0
	VFS_SHARE_DIR=$dir start_virtiofsd "q$((++N))"
	# shellcheck disable=SC2046
	start_qemu "q$N" --incoming $(vfs_dev 4 "$VFS_SOCK")
	if qemu_load "$mig" >"$PF_TOP/qemu.out" 2>&1; then real=0; else real=1; fi
	qemu_quit || true
	echo "preflight: $PF_RC, QEMU load: $real ($(cat "$PF_TOP/qemu.out"))" >&2
	if [ "$real" -eq 0 ]; then assert_equal "$PF_RC" 0; else assert_equal "$PF_RC" 2; fi
	assert_equal "$PF_RC" "$expected"
}

@test "preflight: a QEMU migration file (--device): QEMU's own load of it succeeds or fails as preflight says" {
	require_qemu
	# a QEMU with one vhost-user-fs device saves the file; a real state
	# goes in with inject
	share base
	VFS_SHARE_DIR=$SHARE start_virtiofsd base
	# shellcheck disable=SC2046
	start_qemu base $(vfs_dev 4 "$VFS_SOCK")
	qemu_save "$PF_TOP/base.mig"
	real_populate "$PF_TOP/s.vhs"
	"$VHOST_STATE" -q inject "$PF_TOP/base.mig" "$PF_TOP/s.vhs" --device 0000:00:04.0 -o "$PF_TOP/pop.mig"
	share dst
	qemu_agree 0 "$PF_TOP/pop.mig" "$SHARE"
	jq -e '.inodes.total == 3 and .handles.total == 2' <<<"$PF_JSON"
	rm "$SHARE/b.txt"
	qemu_agree 2 "$PF_TOP/pop.mig" "$SHARE"
	assert_equal "$(first_problem)" "inode 3 b.txt missing true"
	grep -q "Failed to load vhost-user-fs-backend:back-end\|load of migration failed\|Input/output error" "$PF_TOP/qemu.out"
	# --device names one of the file's back-ends; a raw state takes none
	run "$VHOST_STATE" preflight "$PF_TOP/pop.mig" --shared-dir "$SHARE" --device 0000:00:09.0
	assert_failure 64
	run "$VHOST_STATE" preflight "$PF_TOP/s.vhs" --shared-dir "$SHARE" --device 1
	assert_failure 64
}

@test "preflight: options the source negotiated are requirements on the destination: virtiofsd refuses the state without them" {
	share dst
	gen "$PF_TOP/wb.vhs" --writeback root path:2:1:a.txt handle:0:2:1
	# the destination as required: both say it loads
	agree 0 "$PF_TOP/wb.vhs" "$SHARE" -- --writeback
	jq -e '.requires == ["writeback"]' <<<"$PF_JSON"
	run "$VHOST_STATE" preflight "$PF_TOP/wb.vhs" --shared-dir "$SHARE"
	assert_line 'requires: the destination must have writeback enabled'
	# without it virtiofsd refuses, as the requirement says
	real_restore "$PF_TOP/wb.vhs" "$SHARE"
	assert_equal "$REAL_RC" 1
	grep -q "writeback enabled, but it is disabled on the destination" "$VFS_LOG"
	# control: a state without the option requires nothing
	gen "$PF_TOP/plain.vhs" root path:2:1:a.txt handle:0:2:1
	agree 0 "$PF_TOP/plain.vhs" "$SHARE"
	jq -e '.requires == []' <<<"$PF_JSON"
}

@test "preflight: more inodes and handles than the back-end's open-file limit leaves: descriptors run out where virtiofsd runs out" {
	share dst
	mkdir "$SHARE/m"
	words=(root path:2:1:m)
	for i in $(seq 0 99); do
		touch "$SHARE/m/f$i"
		words+=("path:$((i + 3)):2:f$i")
	done
	gen "$PF_TOP/s.vhs" "${words[@]}" handle:0:3:0 handle:1:50:0
	# 700 leaves 700 - 610 = 90 for the guest: fewer than 102 inodes
	agree 2 "$PF_TOP/s.vhs" "$SHARE" --rlimit-nofile 700 -- --rlimit-nofile=700
	jq -e '.problems[0].status == "no-descriptor" and .problems[0].errno == "ENFILE"' <<<"$PF_JSON"
	grep -q "No more file descriptors available to the guest" "$VFS_LOG"
	all=$(seq -s ' ' 1 102)
	VFS_NOFILE=--rlimit-nofile=700 guest_agree "$PF_TOP/s.vhs" "$SHARE" "$all" "3:0 50:1" --rlimit-nofile 700
	# 800 leaves 190: enough for all of them and both handles
	agree 0 "$PF_TOP/s.vhs" "$SHARE" --rlimit-nofile 800 -- --rlimit-nofile=800
	# 714 leaves 104 = 102 inodes + 2 handles exactly; 713 is one short,
	# and it is the last handle that fails
	agree 0 "$PF_TOP/s.vhs" "$SHARE" --rlimit-nofile 714 -- --rlimit-nofile=714
	agree 2 "$PF_TOP/s.vhs" "$SHARE" --rlimit-nofile 713 -- --rlimit-nofile=713
	assert_equal "$(first_problem)" "handle 1 m/f47 no-descriptor true"
}
