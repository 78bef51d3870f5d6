#!/usr/bin/env bats
# Real state in a real virtiofsd: the virtio-fs test client
# (tests/fuse-client/) starts the device through the library, sends FUSE
# requests on the request queue (ring 1), and saves or loads the state on
# the same connection.  Every test starts fresh virtiofsd instances.

load helpers/common
load helpers/peers
load helpers/fuse

setup_file() {
	virtiofsd_fetch
}

setup() {
	require_virtiofsd
}

teardown() {
	vs_teardown
}

# What virtiofsd 1.13.x saves after populate (postcard): V2 | 3 inodes:
# root, a.txt and b.txt by path under it | next inode 4 | 2 handles: 0 on
# inode 2, 1 on inode 3 | next handle 2 | four false options | no mount
# paths.
POPULATED_PAYLOAD=0103010400000201010105612e747874000301010105622e7478740004020002000001030000020000000000

@test "fuse: INIT, LOOKUP and OPEN of two files, then stop and save: the state holds both inodes and both handles" {
	# not through `run`: populate's virtiofsd must stay known to teardown
	populate a "$BATS_TEST_TMPDIR/s.vhs" >"$BATS_TEST_TMPDIR/out" 2>&1
	run cat "$BATS_TEST_TMPDIR/out"
	assert_line 'init: ok: 7.38 max_write 1048576'
	assert_line 'lookup a.txt: ok: nodeid 2 size 6 mode 0100644'
	assert_line 'lookup b.txt: ok: nodeid 3 size 12 mode 0100644'
	assert_line 'open 2: ok: fh 0'
	assert_line 'open 3: ok: fh 1'
	# five requests consumed on the request queue, none on hiprio
	assert_line 'stopped: ring bases 0:0 1:5'
	assert_line --regexp '^saved: [0-9]+ bytes$'
	# not the idle state: both paths are in it, and it is much longer
	payload=$(tail -c +5 "$BATS_TEST_TMPDIR/s.vhs" | head -c -4 | xxd -p | tr -d '\n')
	[[ $payload == *"$(printf a.txt | xxd -p)"* ]]
	[[ $payload == *"$(printf b.txt | xxd -p)"* ]]
	[ "${#payload}" -gt 40 ]
	case $(virtiofsd_version) in
	1.13.*) assert_equal "$payload" "$POPULATED_PAYLOAD" ;;
	esac
}

@test "fuse: the populated state restored into a fresh virtiofsd serves GETATTR and READ through the restored ids and handles, without INIT, LOOKUP or OPEN" {
	populate src "$BATS_TEST_TMPDIR/s.vhs" >/dev/null
	two_file_share dst.share
	start_virtiofsd dst --log-level debug
	run fuse_client -t 10 --load "$BATS_TEST_TMPDIR/s.vhs" "$VFS_SOCK" getattr 2 getattr 3 1 read 2 0 read 3 1
	assert_success
	assert_line --regexp '^loaded: [0-9]+ bytes$'
	assert_line 'getattr 2: ok: size 6 mode 0100644'
	assert_line 'getattr 3 1: ok: size 12 mode 0100644'
	assert_line 'read 2 0: ok: 6 bytes: hello\n'
	assert_line 'read 3 1: ok: 12 bytes: second file\n'
	# virtiofsd saw only these four requests
	run grep -o 'opcode=[A-Za-z]*' "$VFS_LOG"
	assert_output "opcode=Getattr
opcode=Getattr
opcode=Read
opcode=Read"
}

@test "fuse: control: the same GETATTR and READ on a virtiofsd that did not load the state fail with EBADF" {
	two_file_share
	start_virtiofsd fresh
	run fuse_client -t 10 "$VFS_SOCK" getattr 2 getattr 3 1 read 2 0 read 3 1
	assert_failure 1
	assert_line 'getattr 2: error: EBADF (Bad file descriptor)'
	assert_line 'getattr 3 1: error: EBADF (Bad file descriptor)'
	assert_line 'read 2 0: error: EBADF (Bad file descriptor)'
	assert_line 'read 3 1: error: EBADF (Bad file descriptor)'
	refute_output --partial 'hello'
}

@test "fuse: run SOCK load S start stop save S2 on a fresh instance gives S2 byte-identical to S" {
	populate src "$BATS_TEST_TMPDIR/s.vhs" >/dev/null
	two_file_share dst.share
	start_virtiofsd dst
	run "$VHOST_STATE" run "$VFS_SOCK" load "$BATS_TEST_TMPDIR/s.vhs" start stop save "$BATS_TEST_TMPDIR/s2.vhs"
	assert_success
	cmp "$BATS_TEST_TMPDIR/s.vhs" "$BATS_TEST_TMPDIR/s2.vhs"
	# and it is not just any state: the idle one differs
	start_virtiofsd idle
	run "$VHOST_STATE" run "$VFS_SOCK" start stop save "$BATS_TEST_TMPDIR/idle.vhs"
	assert_success
	run cmp -s "$BATS_TEST_TMPDIR/s.vhs" "$BATS_TEST_TMPDIR/idle.vhs"
	assert_failure
}

@test "fuse: a state naming a file missing on the destination: restore exits 1 with CHECK's value, virtiofsd's log says why" {
	populate src "$BATS_TEST_TMPDIR/s.vhs" >/dev/null
	two_file_share dst.share
	rm "$VFS_SHARE_DIR/b.txt"
	start_virtiofsd dst
	run "$VHOST_STATE" restore "$VFS_SOCK" -i "$BATS_TEST_TMPDIR/s.vhs"
	assert_failure 1
	assert_output --partial "CHECK_DEVICE_STATE returned 1 after LOAD"
	grep -q "b.txt: No such file or directory" "$VFS_LOG"
	# control: a.txt alone was not the problem
	run grep -q "a.txt: No such file" "$VFS_LOG"
	assert_failure
}

@test "fuse: GET_VRING_BASE returns the requests consumed; a restart resumes the request ring from there" {
	two_file_share
	start_virtiofsd a
	run fuse_client -v -t 10 "$VFS_SOCK" init lookup a.txt restart open 2 read 2 0
	assert_success
	assert_line 'fuse-client: <- GET_VRING_BASE flags=0x5 size=8 fds=0 index=1 base=2'
	assert_line 'restart: ring bases 0:0 1:2'
	# the restart hands the base back, and the traffic goes on
	assert_line 'fuse-client: -> SET_VRING_BASE flags=0x9 size=8 fds=0 index=1 base=2'
	assert_line 'read 2 0: ok: 6 bytes: hello\n'
	assert_line 'fuse-client: <- GET_VRING_BASE flags=0x5 size=8 fds=0 index=1 base=4'
	assert_line 'stopped: ring bases 0:0 1:4'
}

@test "fuse: FUSE traffic works with the memory in one SET_MEM_TABLE (--mem-table) as with ADD_MEM_REG" {
	two_file_share
	start_virtiofsd a
	run fuse_client -v -t 10 --mem-table "$VFS_SOCK" init lookup a.txt open 2 read 2 0
	assert_success
	assert_line 'read 2 0: ok: 6 bytes: hello\n'
	assert_line --regexp '^fuse-client: -> SET_MEM_TABLE flags=0x9 size=40 fds=1 nregions=1 regions=\{gpa=0x0 size=0x[0-9a-f]+ uaddr=0x[0-9a-f]+ offset=0x0\}$'
	refute_output --partial ADD_MEM_REG
	refute_output --partial GET_MAX_MEM_SLOTS
	start_virtiofsd b
	run fuse_client -v -t 10 "$VFS_SOCK" init lookup a.txt open 2 read 2 0
	assert_success
	assert_line 'read 2 0: ok: 6 bytes: hello\n'
	assert_line --regexp '^fuse-client: -> ADD_MEM_REG flags=0x9 size=40 fds=1 region=\{gpa=0x0 '
	refute_output --partial SET_MEM_TABLE
}

@test "fuse: dirty logging on before the stop (SET_LOG_BASE + LOG_ALL): virtiofsd prepares the migration, no 'did not announce' warning" {
	populate logged "$BATS_TEST_TMPDIR/logged.vhs" --dirty-log -v >"$BATS_TEST_TMPDIR/out" 2>&1
	[ -s "$VFS_LOG" ]
	run cat "$BATS_TEST_TMPDIR/out"
	assert_line --regexp '^fuse-client: -> SET_LOG_BASE flags=0x1 size=16 fds=1 mmap_size=0x'
	assert_line 'fuse-client: -> SET_FEATURES flags=0x9 size=8 fds=0 features=0x144000000 names=LOG_ALL,PROTOCOL_FEATURES,VERSION_1'
	run grep -q "did not announce migration" "$VFS_LOG"
	assert_failure
	# control: without logging virtiofsd collects the data in the SAVE
	populate plain "$BATS_TEST_TMPDIR/plain.vhs" >/dev/null
	grep -q "did not announce migration" "$VFS_LOG"
	# the state is the same either way
	cmp "$BATS_TEST_TMPDIR/logged.vhs" "$BATS_TEST_TMPDIR/plain.vhs"
}
