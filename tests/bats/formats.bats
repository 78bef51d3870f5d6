#!/usr/bin/env bats
# Formats at rest: raw, raw+zstd, archive, archive+zstd; inspect, convert,
# diff; manifests, digests, reproducibility.

load helpers/common

CHUNKS=$BATS_TEST_DIRNAME/helpers/chunks.py
# virtiofsd 1.13 states (see virtiofsd.bats): idle, and one inode for a.txt
IDLE=01000200000000000000
ONE_FILE=0102010200000201010105612e747874000300000000000000
# ... and a.txt open (handle 1, O_RDWR), next handle 2
ONE_OPEN=0102010200000201010105612e74787400030101020004020000000000

setup() {
	export SOURCE_DATE_EPOCH=1700000000
}

teardown() {
	vs_teardown
}

# make_all BASE — BASE.vhs (raw, 3 chunks) and its three other forms
make_all() {
	"$FAKE_BACKEND" --emit --state-size 2500000 --seed 11 | "$CHUNKS" frame 1000000 >"$1.vhs"
	"$VHOST_STATE" -q convert "$1.vhs" "$1.vhs.zst"
	"$VHOST_STATE" -q convert "$1.vhs" "$1.vhsnap"
	"$VHOST_STATE" -q convert "$1.vhs" "$1.vhsnap.zst"
}

@test "formats: every format converts to every other and back, byte for byte" {
	b=$BATS_TEST_TMPDIR/s
	make_all "$b"
	for from in vhs vhs.zst vhsnap vhsnap.zst; do
		for to in vhs vhs.zst vhsnap vhsnap.zst; do
			[ "$from" = "$to" ] && continue
			"$VHOST_STATE" -q convert "$b.$from" "$BATS_TEST_TMPDIR/mid.$to"
			"$VHOST_STATE" -q convert "$BATS_TEST_TMPDIR/mid.$to" "$BATS_TEST_TMPDIR/back.$from"
			cmp "$b.$from" "$BATS_TEST_TMPDIR/back.$from"
			rm "$BATS_TEST_TMPDIR/mid.$to" "$BATS_TEST_TMPDIR/back.$from"
		done
	done
}

@test "formats: convert --json reports what it wrote: formats, sizes, chunks, the payload's digest" {
	raw_stream "${ONE_FILE:0:10}" "${ONE_FILE:10}" >"$BATS_TEST_TMPDIR/a.vhs"
	run --separate-stderr "$VHOST_STATE" convert --json "$BATS_TEST_TMPDIR/a.vhs" "$BATS_TEST_TMPDIR/a.vhsnap.zst"
	assert_success
	assert_schema convert
	assert_equal "$stderr" ""
	sum=$(printf '%s' "$ONE_FILE" | xxd -r -p | sha256sum | cut -d' ' -f1)
	echo "$output" | jq -e --arg s "$sum" '.sha256 == $s and .payload_bytes == 25 and .chunks == 2 and .stream_bytes == 37 and .kind == "fs"'
	echo "$output" | jq -e --arg o "$BATS_TEST_TMPDIR/a.vhsnap.zst" '.input_format == "raw" and .output == $o and .format == "archive" and .zstd'
	# and back: the archive's digest, the raw output
	run --separate-stderr "$VHOST_STATE" --json convert "$BATS_TEST_TMPDIR/a.vhsnap.zst" "$BATS_TEST_TMPDIR/b.vhs"
	assert_success
	assert_schema convert
	echo "$output" | jq -e --arg s "$sum" '.sha256 == $s and .input_format == "archive+zstd" and .format == "raw" and (.zstd | not)'
	cmp "$BATS_TEST_TMPDIR/a.vhs" "$BATS_TEST_TMPDIR/b.vhs"
}

@test "formats: the forms really differ on disk and all hold the same payload" {
	b=$BATS_TEST_TMPDIR/s
	make_all "$b"
	run cmp -s "$b.vhs" "$b.vhsnap"
	assert_failure
	for f in vhs.zst vhsnap vhsnap.zst; do
		run --separate-stderr "$VHOST_STATE" diff --json "$b.vhs" "$b.$f"
		assert_success
		assert_schema diff
		echo "$output" | jq -e '.same and .a.payload_bytes == 2500000 and .b.payload_bytes == 2500000'
	done
	# the text says it too, with the size for humans
	run "$VHOST_STATE" diff "$b.vhs" "$b.vhsnap"
	assert_output --partial "hold the same 2500000-byte payload (2.4 MiB)"
	# the container is a tar with the manifest first and the raw stream unchanged
	run tar tf "$b.vhsnap"
	assert_output "manifest.json
state.vhs"
	tar xOf "$b.vhsnap" state.vhs | cmp - "$b.vhs"
	zstd -t -q "$b.vhs.zst"
}

@test "formats: raw -> archive -> raw keeps an odd chunking exactly" {
	raw_stream 01 0002 000000 >"$BATS_TEST_TMPDIR/odd.vhs"
	"$VHOST_STATE" -q convert "$BATS_TEST_TMPDIR/odd.vhs" "$BATS_TEST_TMPDIR/odd.vhsnap"
	"$VHOST_STATE" -q convert --format raw "$BATS_TEST_TMPDIR/odd.vhsnap" - >"$BATS_TEST_TMPDIR/back.vhs"
	cmp "$BATS_TEST_TMPDIR/odd.vhs" "$BATS_TEST_TMPDIR/back.vhs"
}

@test "formats: the manifest carries format, version, sizes, chunk count and the payload's SHA-256" {
	raw_stream "$ONE_FILE" >"$BATS_TEST_TMPDIR/one.vhs"
	"$VHOST_STATE" -q convert "$BATS_TEST_TMPDIR/one.vhs" "$BATS_TEST_TMPDIR/one.vhsnap"
	m=$(tar xOf "$BATS_TEST_TMPDIR/one.vhsnap" manifest.json)
	echo "$m" | jq -e '.format == "vhost-state-snapshot" and .version == "1.0"'
	echo "$m" | jq -e '.created == "2023-11-14T22:13:20Z" and .backend == null'
	echo "$m" | jq -e '.payload.kind == "fs" and .payload.size == 25 and .payload.chunks == 1'
	sha=$(echo "$ONE_FILE" | xxd -r -p | sha256sum | cut -d' ' -f1)
	echo "$m" | jq -e --arg s "$sha" '.payload.sha256 == $s'
}

@test "formats: an archive whose manifest digest is wrong exits 65 naming both digests; nothing is sent" {
	raw_stream "$ONE_FILE" >"$BATS_TEST_TMPDIR/one.vhs"
	"$VHOST_STATE" -q convert "$BATS_TEST_TMPDIR/one.vhs" "$BATS_TEST_TMPDIR/one.vhsnap"
	sha=$(echo "$ONE_FILE" | xxd -r -p | sha256sum | cut -d' ' -f1)
	bad=$(printf '0%.0s' $(seq 1 64))
	python3 -c 'import sys; p=sys.argv[1]; d=open(p,"rb").read(); open(p,"wb").write(d.replace(sys.argv[2].encode(), sys.argv[3].encode()))' \
		"$BATS_TEST_TMPDIR/one.vhsnap" "$sha" "$bad"
	start_fake a --state-size 4
	run "$VHOST_STATE" restore "$FAKE_SOCK" -i "$BATS_TEST_TMPDIR/one.vhsnap"
	assert_failure 65
	assert_output --partial "digest mismatch: the manifest says sha256 $bad, the payload is $sha"
	[ ! -s "$FAKE_LOG" ]
}

@test "formats: an unknown major manifest version is refused (65)" {
	raw_stream "$ONE_FILE" >"$BATS_TEST_TMPDIR/one.vhs"
	"$VHOST_STATE" -q convert "$BATS_TEST_TMPDIR/one.vhs" "$BATS_TEST_TMPDIR/one.vhsnap"
	python3 -c 'import sys; p=sys.argv[1]; d=open(p,"rb").read(); open(p,"wb").write(d.replace(b"\"version\":\"1.0\"", b"\"version\":\"2.0\""))' \
		"$BATS_TEST_TMPDIR/one.vhsnap"
	run "$VHOST_STATE" inspect "$BATS_TEST_TMPDIR/one.vhsnap"
	assert_failure 65
	assert_output --partial "snapshot format version 2.0 is not supported (this tool reads 1.x)"
}

@test "formats: an archive corrupted in the middle exits 65 and writes nothing" {
	b=$BATS_TEST_TMPDIR/s
	make_all "$b"
	for f in vhsnap vhsnap.zst vhs.zst; do
		cp "$b.$f" "$BATS_TEST_TMPDIR/bad.$f"
		size=$(stat -c %s "$BATS_TEST_TMPDIR/bad.$f")
		printf '\xff\x00\xff' | dd of="$BATS_TEST_TMPDIR/bad.$f" bs=1 seek=$((size / 2)) conv=notrunc status=none
		run "$VHOST_STATE" convert "$BATS_TEST_TMPDIR/bad.$f" "$BATS_TEST_TMPDIR/out.vhs"
		assert_failure 65
		[ ! -e "$BATS_TEST_TMPDIR/out.vhs" ]
		[ -z "$(find "$BATS_TEST_TMPDIR" -name '.out.vhs.*')" ]
	done
}

@test "formats: a truncated archive exits 65 and says where it was cut; one cut right after its state (no end blocks) still reads" {
	b=$BATS_TEST_TMPDIR/s
	t=$BATS_TEST_TMPDIR
	make_all "$b"
	head -c 3000 "$b.vhsnap" >"$t/cut.vhsnap"
	run "$VHOST_STATE" inspect "$t/cut.vhsnap"
	assert_failure 65
	# where the state member's header is, and where its data ends
	read -r hdr end < <(python3 -c '
import sys
d = open(sys.argv[1], "rb").read()
h = next(o for o in range(0, len(d), 512) if d[o:o + 10] == b"state.vhs\0")
size = int(d[h + 124:h + 136].rstrip(b"\0 "), 8)
print(h, h + 512 + (size + 511) // 512 * 512)' "$b.vhsnap")
	# inside the first header (libarchive would take it for raw data)
	head -c 300 "$b.vhsnap" >"$t/h.vhsnap"
	zstd -q -c "$t/h.vhsnap" >"$t/h.vhsnap.zst"
	run "$VHOST_STATE" inspect "$t/h.vhsnap"
	assert_failure 65
	assert_output "vhost-state: inspect: $t/h.vhsnap: the archive ends inside its first header, at byte 300 (a tar header is 512 bytes: the file is cut short)"
	run "$VHOST_STATE" inspect "$t/h.vhsnap.zst"
	assert_failure 65
	assert_output --partial "h.vhsnap.zst: the archive ends inside its first header, at byte 300 of the decoded tar"
	# right after the manifest
	head -c "$hdr" "$b.vhsnap" >"$t/m.vhsnap"
	run "$VHOST_STATE" convert "$t/m.vhsnap" "$t/out.vhs"
	assert_failure 65
	assert_output --partial "m.vhsnap: the archive ends after manifest.json: its state.vhs member is missing"
	[ ! -e "$t/out.vhs" ]
	# after the state's last block, without the two end blocks: nothing
	# of the state is missing, and its digest in the manifest proves it
	head -c "$end" "$b.vhsnap" >"$t/e.vhsnap"
	"$VHOST_STATE" -q convert "$t/e.vhsnap" "$t/out.vhs"
	cmp "$b.vhs" "$t/out.vhs"
	# and one byte short of that is a cut state
	head -c $((end - 1)) "$b.vhsnap" >"$t/s.vhsnap"
	run "$VHOST_STATE" convert "$t/s.vhsnap" "$t/out2.vhs"
	assert_failure 65
	[ ! -e "$t/out2.vhs" ]
}

@test "formats: zstd from other writers is read: pzstd (a skippable frame first), frames that end anywhere" {
	b=$BATS_TEST_TMPDIR/s
	make_all "$b"
	pzstd -q -p 2 -c "$b.vhsnap" >"$BATS_TEST_TMPDIR/p.vhsnap.zst"
	pzstd -q -p 2 -c "$b.vhs" >"$BATS_TEST_TMPDIR/p.vhs.zst"
	# frames ending inside tar headers and chunk headers: 700-byte pieces, then the rest
	: >"$BATS_TEST_TMPDIR/m.vhsnap.zst"
	for skip in 0 1 2 3; do
		dd if="$b.vhsnap" bs=700 skip=$skip count=1 status=none | zstd -q -c >>"$BATS_TEST_TMPDIR/m.vhsnap.zst"
	done
	tail -c +2801 "$b.vhsnap" | zstd -q -c >>"$BATS_TEST_TMPDIR/m.vhsnap.zst"
	for f in p.vhsnap.zst p.vhs.zst m.vhsnap.zst; do
		run --separate-stderr "$VHOST_STATE" convert --json "$BATS_TEST_TMPDIR/$f" "$BATS_TEST_TMPDIR/out.vhs"
		assert_success
		cmp "$b.vhs" "$BATS_TEST_TMPDIR/out.vhs"
		echo "$output" | jq -e --arg f "$f" '.input_format == if ($f | startswith("p.vhs.")) then "raw+zstd" else "archive+zstd" end'
		rm "$BATS_TEST_TMPDIR/out.vhs"
	done
}

@test "formats: a zstd file cut inside a frame, asking for a window over 128 MiB, or holding nothing exits 65 and writes nothing" {
	b=$BATS_TEST_TMPDIR/s
	make_all "$b"
	head -c 5000 "$b.vhsnap.zst" >"$BATS_TEST_TMPDIR/cut.vhsnap.zst"
	run "$VHOST_STATE" convert "$BATS_TEST_TMPDIR/cut.vhsnap.zst" "$BATS_TEST_TMPDIR/out.vhs"
	assert_failure 65
	assert_output --partial "cut.vhsnap.zst: archive is corrupt: zstd: the input ends inside a frame"
	[ ! -e "$BATS_TEST_TMPDIR/out.vhs" ]
	# a frame header asking for a 256 MiB window (Window_Descriptor
	# 0x90), then an empty last block: zstd -d refuses it as well
	printf '\x28\xb5\x2f\xfd\x00\x90\x01\x00\x00' >"$BATS_TEST_TMPDIR/w.vhs.zst"
	run zstd -dcq "$BATS_TEST_TMPDIR/w.vhs.zst"
	assert_failure
	run "$VHOST_STATE" convert "$BATS_TEST_TMPDIR/w.vhs.zst" "$BATS_TEST_TMPDIR/out.vhs"
	assert_failure 65
	assert_output --partial "w.vhs.zst: zstd stream cannot be opened: zstd: a frame asks for a window over 128 MiB, the most read here"
	[ ! -e "$BATS_TEST_TMPDIR/out.vhs" ]
	# an empty frame, and a skippable frame alone
	printf '' | zstd -q -c >"$BATS_TEST_TMPDIR/e.vhs.zst"
	printf '\x50\x2a\x4d\x18\x00\x00\x00\x00' >"$BATS_TEST_TMPDIR/s.vhs.zst"
	for f in e s; do
		run "$VHOST_STATE" convert "$BATS_TEST_TMPDIR/$f.vhs.zst" "$BATS_TEST_TMPDIR/out.vhs"
		assert_failure 65
		assert_output --partial "$f.vhs.zst: the zstd data decodes to nothing (expected a state stream or a .vhsnap archive inside)"
		[ ! -e "$BATS_TEST_TMPDIR/out.vhs" ]
	done
	[ -z "$(find "$BATS_TEST_TMPDIR" -name '.out.vhs.*')" ]
}

@test "formats: after a tar's end only zero padding may follow (GNU tar's 10 KiB record, up to 1 MiB): a second archive or appended bytes exit 65 and write nothing" {
	b=$BATS_TEST_TMPDIR/s
	make_all "$b"
	t=$BATS_TEST_TMPDIR
	# repacked with GNU tar (padded to its record) and padded by hand
	mkdir "$t/x"
	tar -C "$t/x" -xf "$b.vhsnap"
	tar -C "$t/x" -cf "$t/gnu.vhsnap" manifest.json state.vhs
	[ $(($(stat -c %s "$t/gnu.vhsnap") % 10240)) -eq 0 ]
	{ cat "$b.vhsnap"; head -c 1048576 /dev/zero; } >"$t/pad.vhsnap"
	zstd -q -c "$t/pad.vhsnap" >"$t/pad.vhsnap.zst"
	for f in gnu.vhsnap pad.vhsnap pad.vhsnap.zst; do
		"$VHOST_STATE" -q convert "$t/$f" "$t/ok.vhs"
		cmp "$b.vhs" "$t/ok.vhs"
		rm "$t/ok.vhs"
	done
	# two archives one after the other; bytes appended; a nonzero byte
	# deep in the padding; the same under zstd
	size=$(stat -c %s "$b.vhsnap")
	cat "$b.vhsnap" "$b.vhsnap" >"$t/two.vhsnap"
	{ cat "$b.vhsnap"; printf 'appended'; } >"$t/app.vhsnap"
	{ cat "$b.vhsnap"; head -c 70000 /dev/zero; printf '\001'; head -c 100 /dev/zero; } >"$t/deep.vhsnap"
	zstd -q -c "$t/two.vhsnap" >"$t/two.vhsnap.zst"
	for f in two.vhsnap:$size app.vhsnap:$size deep.vhsnap:$((size + 70000)) "two.vhsnap.zst:$size of the decoded tar"; do
		run "$VHOST_STATE" convert "$t/${f%%:*}" "$t/out.vhs"
		assert_failure 65
		assert_output --partial "${f%%:*}: data after the archive's end, at byte ${f#*:} (expected only zero padding: one archive per file)"
		[ ! -e "$t/out.vhs" ]
	done
	# the same through a pipe, read in whatever pieces it comes
	run bash -c "cat '$t/two.vhsnap' | '$VHOST_STATE' inspect -"
	assert_failure 65
	assert_output --partial "stdin: data after the archive's end, at byte $size"
	# padding past any tar record: a small zstd file of many zeros
	{ cat "$b.vhsnap"; head -c 1048577 /dev/zero; } | zstd -q -c >"$t/bomb.vhsnap.zst"
	run "$VHOST_STATE" convert "$t/bomb.vhsnap.zst" "$t/out.vhs"
	assert_failure 65
	assert_output --partial "bomb.vhsnap.zst: more than 1 MiB of zeros after the archive's end (a tar pads to its record size, 10 KiB by default)"
	[ ! -e "$t/out.vhs" ]
	[ -z "$(find "$t" -name '.out.vhs.*')" ]
}

@test "formats: a QEMU migration file goes to the migration-file reader; a truncated one is 65, and state readers point at extract" {
	# a header and nothing else: inspect walks it as a migration file
	printf 'QEVM\x00\x00\x00\x03' >"$BATS_TEST_TMPDIR/mig.bin"
	run "$VHOST_STATE" inspect "$BATS_TEST_TMPDIR/mig.bin"
	assert_failure 65
	assert_output --partial "mig.bin: malformed migration file at offset 8: no VM description at the end of the file"
	printf 'QEVM\x00' >"$BATS_TEST_TMPDIR/cut.bin"
	run "$VHOST_STATE" inspect "$BATS_TEST_TMPDIR/cut.bin"
	assert_failure 65
	assert_output --partial "cut.bin: malformed migration file at offset 4: the file version needs 4 bytes, but only 1 are left before the end of the file"
	# readers of state streams refuse it, naming the verb that takes a state out
	run "$VHOST_STATE" convert "$BATS_TEST_TMPDIR/mig.bin" "$BATS_TEST_TMPDIR/out.vhs"
	assert_failure 65
	assert_output --partial "this is a QEMU migration stream, not a state stream: \`vhost-state extract MIGFILE\`"
	[ ! -e "$BATS_TEST_TMPDIR/out.vhs" ]
}

@test "formats: inspect shows format, chunk table (offsets with -v), digest and the decoded fs state" {
	# ONE_OPEN split into two chunks: 4 bytes, then the rest
	raw_stream "${ONE_OPEN:0:8}" "${ONE_OPEN:8}" >"$BATS_TEST_TMPDIR/open.vhs"
	run "$VHOST_STATE" -v inspect "$BATS_TEST_TMPDIR/open.vhs"
	assert_success
	assert_line "format:      raw"
	assert_line --regexp '^chunks: +2 \(smallest 4, largest 25\), payload 29 bytes, stream 41 bytes$'
	assert_line "  chunk at offset 0: 4 bytes"
	assert_line "  chunk at offset 8: 25 bytes"
	assert_line "  chunk at offset 37: 0 bytes (terminator)"
	assert_line "kind:        fs (sniffed from the payload)"
	assert_line --partial "virtiofsd state V2: 2 inodes, 1 handle, next inode 3, next handle 2"
	assert_line "  inode 2: a.txt (refcount 1)"
	assert_line "  handle 1: inode 2, open flags 02"
}

@test "formats: inspect --json is one document, typed: chunks a count, paths and status apart" {
	raw_stream b1bb1d1b0bb1d1b0000000020000000200000000 >"$BATS_TEST_TMPDIR/net.vhs"
	run --separate-stderr "$VHOST_STATE" inspect --json "$BATS_TEST_TMPDIR/net.vhs"
	assert_success
	assert_schema inspect
	echo "$output" | jq -e '.format == "raw" and .kind == "net" and .chunks == 1 and .payload_bytes == 20'
	# the header only: the addresses are missing, said as such
	echo "$output" | jq -e '.decoded.format == "passt" and .decoded.version == 2 and (.decoded.error | test("addresses end early"))'
	raw_stream "$ONE_OPEN" >"$BATS_TEST_TMPDIR/open.vhs"
	run --separate-stderr "$VHOST_STATE" inspect --json "$BATS_TEST_TMPDIR/open.vhs"
	assert_schema inspect
	echo "$output" | jq -e '.decoded.format == "virtiofsd" and .decoded.version == 2'
	echo "$output" | jq -e '.decoded.inodes[0] == {"id": 1, "refcount": 2, "status": "root", "path": ".", "file_handle": null}'
	echo "$output" | jq -e '.decoded.inodes[1].path == "a.txt" and .decoded.inodes[1].status == "path" and .decoded.inodes[1].parent == 1'
	echo "$output" | jq -e '.decoded.handles[0] == {"id": 1, "inode": 2, "flags": 2}'
	# JSON_C_TO_STRING_NOSLASHESCAPE: a path is written as is
	mkdir -p "$BATS_TEST_TMPDIR/d"
	cp "$BATS_TEST_TMPDIR/open.vhs" "$BATS_TEST_TMPDIR/d/o.vhs"
	run --separate-stderr "$VHOST_STATE" inspect --json "$BATS_TEST_TMPDIR/d/o.vhs"
	assert_schema inspect
	assert_output --partial "\"file\":\"$BATS_TEST_TMPDIR/d/o.vhs\""
	refute_output --partial '\/'
}

# V1 | 5 inodes: root; 2 Invalid; 3 FullPath "d/x" with a file handle (mount
# 7, type 1, bytes abcd); 4 FileHandle(mount 7, type -1, bytes 01); 5 Path
# under 3 "y" | next inode 6 | handle 1 on inode 5, flags O_RDONLY (0) |
# next handle 2 | writeback on, the others off
V1_ALL=0005010200000201020003010303642f7801070202abcd0401040701010100050101030179000601010500000201000000
# the same as V2 with one mount path: 7 -> "/srv"
V2_ALL=0105010200000201020003010303642f7801070202abcd04010407010101000501010301790006010105000002010000000107042f737276

@test "formats: a crafted chain of 20000 nested inodes decodes in bounded work: deep paths are null, not an error" {
	/usr/bin/python3 - "$BATS_TEST_TMPDIR/chain.vhs" <<-'PY'
		import struct, sys
		def varint(n):
		    out = b""
		    while True:
		        b, n = n & 0x7f, n >> 7
		        if not n:
		            return out + bytes([b])
		        out += bytes([b | 0x80])
		# V2, N inodes: the root, then k under k-1, each named "a"
		N = 20000
		p = b"\x01" + varint(N) + b"\x01\x02\x00\x00"
		for k in range(2, N + 1):
		    p += varint(k) + b"\x01\x01" + varint(k - 1) + b"\x01a\x00"
		p += varint(N + 1) + b"\x00\x00" + bytes(4) + b"\x00"
		open(sys.argv[1], "wb").write(struct.pack(">I", len(p)) + p + struct.pack(">I", 0))
	PY
	run --separate-stderr timeout 60 "$VHOST_STATE" inspect --json "$BATS_TEST_TMPDIR/chain.vhs"
	assert_success
	assert_schema inspect
	# 4096 bytes of path hold 2048 levels: "a/a/.../a"
	echo "$output" | jq -e '.decoded.inodes[2048].path | length == 4095'
	echo "$output" | jq -e '.decoded.inodes[2049].path == null and .decoded.inodes[19999].path == null and (.decoded | has("error") | not)'
}

@test "formats: inode paths: through Path and FullPath parents; null for a loop, what leads into one, a missing parent, an empty name" {
	gen=$VS_SRCDIR/tests/bats/helpers/vfsstate.py
	/usr/bin/python3 "$gen" root path:2:1:a path:3:2:b path:4:5:l path:5:4:m path:6:4:n path:7:99:x \
		full:8:/abs path:9:8:c pathhex:10:1: path:11:10:d path:12:3:e >"$BATS_TEST_TMPDIR/p.vhs"
	run --separate-stderr "$VHOST_STATE" inspect --json "$BATS_TEST_TMPDIR/p.vhs"
	assert_success
	assert_schema inspect
	echo "$output" | jq -ce '[.decoded.inodes[] | [.id, .path]]'
	echo "$output" | jq -e '[.decoded.inodes[] | [.id, .path]] ==
		[[1, "."], [2, "a"], [3, "a/b"], [4, null], [5, null], [6, null], [7, null],
		 [8, "/abs"], [9, "/abs/c"], [10, null], [11, null], [12, "a/b/e"]]'
	echo "$output" | jq -e '.decoded | has("paths_incomplete") | not'
	# 20000 inodes under a two-inode loop: each is found to lead into it
	# once, not by following the loop to the path limit (2048 steps
	# each, which used up the old walk's bound: paths_incomplete)
	/usr/bin/python3 - "$gen" "$BATS_TEST_TMPDIR/loop.vhs" <<-'PY'
		import subprocess, sys
		words = ["root", "path:2:3:a", "path:3:2:b"] + [f"path:{k}:{2 + k % 2}:f{k}" for k in range(4, 20004)]
		with open(sys.argv[2], "wb") as f:
		    subprocess.run(["/usr/bin/python3", sys.argv[1]] + words, stdout=f, check=True)
	PY
	run --separate-stderr "$VHOST_STATE" inspect --json "$BATS_TEST_TMPDIR/loop.vhs"
	assert_success
	echo "$output" | jq -e '(.decoded.inodes | length) == 20003 and ([.decoded.inodes[1:][] | .path] | unique) == [null]'
	echo "$output" | jq -e '.decoded | has("paths_incomplete") | not'
}

@test "formats: virtiofsd states decode whole: V1 and V2, Invalid, FullPath and file-handle inodes, mount paths" {
	raw_stream "$V1_ALL" >"$BATS_TEST_TMPDIR/v1.vhs"
	run --separate-stderr "$VHOST_STATE" inspect --json "$BATS_TEST_TMPDIR/v1.vhs"
	assert_success
	assert_schema inspect
	echo "$output" | jq -e '.kind == "fs" and .decoded.version == 1 and (.decoded | has("mounts") | not)'
	echo "$output" | jq -e '.decoded.inodes[1] == {"id": 2, "refcount": 1, "status": "invalid", "path": null, "file_handle": null}'
	echo "$output" | jq -e '.decoded.inodes[2].status == "full-path" and .decoded.inodes[2].path == "d/x"'
	echo "$output" | jq -e '.decoded.inodes[2].file_handle == {"mount_id": 7, "handle_type": 1, "handle": "abcd"}'
	echo "$output" | jq -e '.decoded.inodes[3].status == "file-handle" and .decoded.inodes[3].path == null'
	echo "$output" | jq -e '.decoded.inodes[3].location_handle == {"mount_id": 7, "handle_type": -1, "handle": "01"}'
	# a Path under a FullPath resolves through it
	echo "$output" | jq -e '.decoded.inodes[4].path == "d/x/y" and .decoded.inodes[4].name == "y"'
	echo "$output" | jq -e '.decoded.negotiated.writeback and (.decoded.negotiated.posix_acl | not)'
	raw_stream "$V2_ALL" >"$BATS_TEST_TMPDIR/v2.vhs"
	run --separate-stderr "$VHOST_STATE" inspect --json "$BATS_TEST_TMPDIR/v2.vhs"
	assert_schema inspect
	echo "$output" | jq -e '.decoded.version == 2 and .decoded.mounts == [{"id": 7, "path": "/srv"}]'
	run "$VHOST_STATE" inspect "$BATS_TEST_TMPDIR/v2.vhs"
	assert_line "  inode 2: (invalid) (refcount 1)"
	assert_line "  inode 4: (file handle) (refcount 1)"
	assert_line "  inode 5: d/x/y (refcount 1)"
	assert_line "  mount 7: /srv"
	# diff: V1 -> V2 is the version and the mount
	run --separate-stderr "$VHOST_STATE" diff --json "$BATS_TEST_TMPDIR/v1.vhs" "$BATS_TEST_TMPDIR/v2.vhs"
	assert_failure 2
	assert_schema diff
	echo "$output" | jq -ce '.differences == [{"what": "version", "a": 1, "b": 2}, {"what": "mount", "id": 7, "a": null, "b": {"id": 7, "path": "/srv"}}]'
}

@test "formats: inspect of malformed input exits 65 with the offset, also as JSON" {
	raw_stream 0102 | head -c 5 >"$BATS_TEST_TMPDIR/cut.vhs"
	run --separate-stderr "$VHOST_STATE" inspect --json "$BATS_TEST_TMPDIR/cut.vhs"
	assert_failure 65
	assert_schema error
	echo "$output" | jq -e '.error.exit_code == 65 and (.error.message | test("offset 5"))'
}

@test "formats: diff lists the differing inodes and handles of two virtiofsd states" {
	raw_stream "$ONE_FILE" >"$BATS_TEST_TMPDIR/a.vhs"
	raw_stream "$ONE_OPEN" >"$BATS_TEST_TMPDIR/b.vhs"
	run "$VHOST_STATE" diff "$BATS_TEST_TMPDIR/a.vhs" "$BATS_TEST_TMPDIR/b.vhs"
	assert_failure 2
	assert_line --partial "differ at offset 18"
	assert_line "  next_handle: 0 -> 2"
	assert_line "  handle 1: (absent) -> inode 2, flags 02"
	run --separate-stderr "$VHOST_STATE" diff --json "$BATS_TEST_TMPDIR/a.vhs" "$BATS_TEST_TMPDIR/b.vhs"
	assert_failure 2
	assert_schema diff
	echo "$output" | jq -e '.same == false and .status == "different" and .first_difference == 18 and .kind == "fs" and .decoded'
	# numbers as numbers, items as objects, absent as null
	echo "$output" | jq -ce '.differences == [{"what": "next_handle", "a": 0, "b": 2}, {"what": "handle", "id": 1, "a": null, "b": {"id": 1, "inode": 2, "flags": 2}}]'
	# an inode that became Invalid: its status, not a path named "(invalid)"
	raw_stream "${ONE_FILE/0201010105612e74787400/02010200}" >"$BATS_TEST_TMPDIR/c.vhs"
	run --separate-stderr "$VHOST_STATE" diff --json "$BATS_TEST_TMPDIR/a.vhs" "$BATS_TEST_TMPDIR/c.vhs"
	assert_failure 2
	assert_schema diff
	echo "$output" | jq -e '.differences[0].what == "inode" and .differences[0].id == 2'
	echo "$output" | jq -e '.differences[0].a.path == "a.txt" and .differences[0].b.status == "invalid" and .differences[0].b.path == null'
	run "$VHOST_STATE" diff "$BATS_TEST_TMPDIR/a.vhs" "$BATS_TEST_TMPDIR/c.vhs"
	assert_line "  inode 2: a.txt (refcount 1) -> (invalid) (refcount 1)"
}

@test "formats: diff of the same payload in different framings and containers exits 0" {
	raw_stream "$ONE_FILE" >"$BATS_TEST_TMPDIR/a.vhs"
	raw_stream "${ONE_FILE:0:2}" "${ONE_FILE:2}" | zstd -q >"$BATS_TEST_TMPDIR/b.vhs.zst"
	run "$VHOST_STATE" diff "$BATS_TEST_TMPDIR/a.vhs" "$BATS_TEST_TMPDIR/b.vhs.zst"
	assert_success
	run --separate-stderr "$VHOST_STATE" diff --json "$BATS_TEST_TMPDIR/a.vhs" "$BATS_TEST_TMPDIR/b.vhs.zst"
	assert_schema diff
	# kind is there whether or not they differ
	echo "$output" | jq -e '.same == true and .status == "same" and .first_difference == null and .kind == "fs"'
	echo "$output" | jq -e '.b.format == "raw+zstd" and .differences == [] and (.decoded | not)'
}

@test "formats: diff of unknown payloads names the first differing offset" {
	raw_stream 00112233 >"$BATS_TEST_TMPDIR/a.vhs"
	raw_stream 0011ff33aa >"$BATS_TEST_TMPDIR/b.vhs"
	run "$VHOST_STATE" diff "$BATS_TEST_TMPDIR/a.vhs" "$BATS_TEST_TMPDIR/b.vhs"
	assert_failure 2
	assert_output --partial "differ at offset 2 ("
	run --separate-stderr "$VHOST_STATE" diff --json "$BATS_TEST_TMPDIR/a.vhs" "$BATS_TEST_TMPDIR/b.vhs"
	assert_failure 2
	assert_schema diff
	echo "$output" | jq -e '.first_difference == 2 and .kind == "unknown" and (.decoded | not) and .differences == []'
}

@test "formats: stdin and stdout work like files for inspect, convert and diff" {
	raw_stream "$ONE_FILE" >"$BATS_TEST_TMPDIR/a.vhs"
	"$VHOST_STATE" inspect "$BATS_TEST_TMPDIR/a.vhs" | sed 1d >"$BATS_TEST_TMPDIR/file.txt"
	"$VHOST_STATE" inspect - <"$BATS_TEST_TMPDIR/a.vhs" | sed 1d >"$BATS_TEST_TMPDIR/stdin.txt"
	cmp "$BATS_TEST_TMPDIR/file.txt" "$BATS_TEST_TMPDIR/stdin.txt"
	cat "$BATS_TEST_TMPDIR/a.vhs" | "$VHOST_STATE" -q convert --format archive --zstd - - >"$BATS_TEST_TMPDIR/a.vhsnap.zst"
	"$VHOST_STATE" -q convert "$BATS_TEST_TMPDIR/a.vhs" "$BATS_TEST_TMPDIR/b.vhsnap.zst"
	cmp "$BATS_TEST_TMPDIR/a.vhsnap.zst" "$BATS_TEST_TMPDIR/b.vhsnap.zst"
	run bash -c "'$VHOST_STATE' diff - '$BATS_TEST_TMPDIR/a.vhsnap.zst' <'$BATS_TEST_TMPDIR/a.vhs'"
	assert_success
}

@test "formats: SOURCE_DATE_EPOCH makes the same state give byte-identical archives" {
	for i in 1 2; do
		start_fake same --state-size 300000 --seed 4
		"$VHOST_STATE" -q dump "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/$i.vhsnap.zst"
		wait "$FAKE_PID" || true
	done
	cmp "$BATS_TEST_TMPDIR/1.vhsnap.zst" "$BATS_TEST_TMPDIR/2.vhsnap.zst"
	# and the creation time is the one given
	zstd -dcq "$BATS_TEST_TMPDIR/1.vhsnap.zst" | tar xOf - manifest.json | jq -e '.created == "2023-11-14T22:13:20Z"'
}

# tar_is_exact TAR PAYLOAD — TAR holds manifest.json, then state.vhs (the
# stream of a PAYLOAD-byte state in 1 MiB chunks), padded to 512, then
# exactly two zero blocks: nothing more or less, whatever tar tolerates.
tar_is_exact() {
	local tar=$1 member man total
	member=$(($2 + 4 * (($2 + 1048575) / 1048576) + 4))
	man=$(tar xOf "$tar" manifest.json | wc -c)
	total=$(stat -c %s "$tar")
	run tar tvf "$tar"
	assert_success
	[ "$(echo "$output" | awk '{ print $3, $6 }')" = "$(printf '%s manifest.json\n%s state.vhs' "$man" "$member")" ]
	[ "$total" -eq $((512 + (man + 511) / 512 * 512 + 512 + (member + 511) / 512 * 512 + 1024)) ]
	[ "$(tail -c 1024 "$tar" | tr -d '\0' | wc -c)" -eq 0 ]
}

@test "formats: an archive+zstd dump is three zstd frames (head, state compressed as received, tail) that zstd and GNU tar read" {
	# payloads whose member (payload + 4 per chunk + 4) ends mid-block,
	# and 504 and 1048568, whose member is whole blocks: no padding
	for size in 0 1 504 513 1048568 3000000; do
		for threads in 0 1 2; do
			f=$BATS_TEST_TMPDIR/s.$threads.$size.vhsnap.zst
			start_fake "a$threads-$size" --state-size "$size" --seed 5 --compressible
			"$VHOST_STATE" -q dump "$FAKE_SOCK" -o "$f" --threads "$threads"
			wait "$FAKE_PID"
			# zstd -l: the second line starts with the frame count
			run sh -c "zstd -l '$f' | awk 'NR == 2 { print \$1 }'"
			assert_output 3
			zstd -dcq "$f" >"$BATS_TEST_TMPDIR/t.tar"
			tar_is_exact "$BATS_TEST_TMPDIR/t.tar" "$size"
			tar xOf "$BATS_TEST_TMPDIR/t.tar" state.vhs |
				"$FAKE_BACKEND" --absorb --framed --state-size "$size" --seed 5 --compressible
			sha=$("$FAKE_BACKEND" --emit --state-size "$size" --seed 5 --compressible | sha256sum | cut -d' ' -f1)
			tar xOf "$BATS_TEST_TMPDIR/t.tar" manifest.json | jq -e --arg s "$sha" '.payload.sha256 == $s'
			"$VHOST_STATE" -q inspect "$f" >/dev/null
		done
		# and the same without compression
		start_fake "u-$size" --state-size "$size" --seed 5 --compressible
		"$VHOST_STATE" -q dump "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/u.vhsnap" -f
		wait "$FAKE_PID"
		tar_is_exact "$BATS_TEST_TMPDIR/u.vhsnap" "$size"
		"$VHOST_STATE" -q inspect "$BATS_TEST_TMPDIR/u.vhsnap" >/dev/null
	done
}

@test "formats: a negative (fast) zstd level compresses; it is not 'no compression'" {
	make_all "$BATS_TEST_TMPDIR/s"
	"$VHOST_STATE" -q convert "$BATS_TEST_TMPDIR/s.vhs" "$BATS_TEST_TMPDIR/fast.bin" --zstd=-5
	zstd -t -q "$BATS_TEST_TMPDIR/fast.bin"
	"$VHOST_STATE" -q convert "$BATS_TEST_TMPDIR/s.vhs" "$BATS_TEST_TMPDIR/fast.vhsnap" --zstd=-5
	zstd -dcq "$BATS_TEST_TMPDIR/fast.vhsnap" | tar xOf - state.vhs | cmp - "$BATS_TEST_TMPDIR/s.vhs"
	run "$VHOST_STATE" inspect "$BATS_TEST_TMPDIR/fast.vhsnap"
	assert_output --partial "archive+zstd"
}

@test "formats: an archive to an O_APPEND stdout (no sendfile there) lands whole after what was there" {
	make_all "$BATS_TEST_TMPDIR/s"
	printf 'HEAD' >"$BATS_TEST_TMPDIR/app"
	"$VHOST_STATE" -q convert "$BATS_TEST_TMPDIR/s.vhs" - --format archive --zstd >>"$BATS_TEST_TMPDIR/app"
	[ "$(head -c 4 "$BATS_TEST_TMPDIR/app")" = HEAD ]
	tail -c +5 "$BATS_TEST_TMPDIR/app" | zstd -dcq | tar xOf - state.vhs | cmp - "$BATS_TEST_TMPDIR/s.vhs"
}

@test "formats: an archive to a non-blocking stdout pipe with a slow reader arrives whole" {
	make_all "$BATS_TEST_TMPDIR/s"
	python3 - "$VHOST_STATE" "$BATS_TEST_TMPDIR/s.vhs" "$BATS_TEST_TMPDIR/got" <<-'PY'
		import fcntl, os, subprocess, sys, time
		r, w = os.pipe()
		fcntl.fcntl(w, fcntl.F_SETFL, fcntl.fcntl(w, fcntl.F_GETFL) | os.O_NONBLOCK)
		p = subprocess.Popen([sys.argv[1], "-q", "convert", sys.argv[2], "-", "--format", "archive"], stdout=w)
		os.close(w)
		with open(sys.argv[3], "wb") as out:
		    while True:
		        time.sleep(0.002)
		        b = os.read(r, 65536)
		        if not b:
		            break
		        out.write(b)
		sys.exit(p.wait())
	PY
	tar xOf "$BATS_TEST_TMPDIR/got" state.vhs | cmp - "$BATS_TEST_TMPDIR/s.vhs"
}

@test "formats: a dump to an archive records the back-end's identity" {
	start_fake ident --state-size 100
	"$VHOST_STATE" -q dump "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/s.vhsnap"
	m=$(tar xOf "$BATS_TEST_TMPDIR/s.vhsnap" manifest.json)
	echo "$m" | jq -e --arg s "$FAKE_SOCK" '.backend.socket == $s and .backend.peer.name == "fake-backend"'
	echo "$m" | jq -e '.backend.features.names | index("PROTOCOL_FEATURES")'
	echo "$m" | jq -e '.backend.protocol_features.acked.names | index("DEVICE_STATE")'
	echo "$m" | jq -e '.backend.queues == 1 and .payload.size == 100 and (.backend.peer | has("pid") | not)'
}

@test "formats: --format and --zstd override the output name; bad values are usage errors" {
	raw_stream "$ONE_FILE" >"$BATS_TEST_TMPDIR/a.vhs"
	"$VHOST_STATE" -q convert --format archive "$BATS_TEST_TMPDIR/a.vhs" "$BATS_TEST_TMPDIR/a.bin"
	run tar tf "$BATS_TEST_TMPDIR/a.bin"
	assert_success
	"$VHOST_STATE" -q convert --zstd=19 "$BATS_TEST_TMPDIR/a.vhs" "$BATS_TEST_TMPDIR/a.z"
	zstd -dcq "$BATS_TEST_TMPDIR/a.z" | cmp - "$BATS_TEST_TMPDIR/a.vhs"
	run "$VHOST_STATE" convert --format tar "$BATS_TEST_TMPDIR/a.vhs" "$BATS_TEST_TMPDIR/x"
	assert_failure 64
	run "$VHOST_STATE" convert --zstd=99 "$BATS_TEST_TMPDIR/a.vhs" "$BATS_TEST_TMPDIR/x"
	assert_failure 64
	run "$VHOST_STATE" convert "$BATS_TEST_TMPDIR/a.vhs"
	assert_failure 64
}

@test "formats: --progress=FD writes machine-readable progress lines; none by default off a terminal" {
	start_fake p --state-size 3000000
	run bash -c "'$VHOST_STATE' -q --progress=5 dump '$FAKE_SOCK' -o '$BATS_TEST_TMPDIR/s.vhs' 5>'$BATS_TEST_TMPDIR/progress'"
	assert_success
	run tail -n1 "$BATS_TEST_TMPDIR/progress"
	assert_output --regexp '^progress dump bytes=3000000 total=0 elapsed_ms=[0-9]+ done$'
	start_fake q --state-size 3000000
	run --separate-stderr "$VHOST_STATE" -q dump "$FAKE_SOCK" -o "$BATS_TEST_TMPDIR/t.vhs"
	assert_success
	[ -z "$stderr" ]
}

@test "formats: --version --json is one JSON document with every library version" {
	run "$VHOST_STATE" --version --json
	assert_success
	assert_schema version
	echo "$output" | jq -e '.["vhost-state"] and .libarchive and .zstd and .["json-c"] and .nettle'
}

@test "formats: SIGTERM during a slow convert leaves no output and no temp file (143)" {
	head -c 40000000 /dev/urandom | "$CHUNKS" frame >"$BATS_TEST_TMPDIR/big.vhs"
	"$VHOST_STATE" -q convert --zstd=19 "$BATS_TEST_TMPDIR/big.vhs" "$BATS_TEST_TMPDIR/out.vhsnap" &
	pid=$!
	# The temp file is made at the start but gets its bytes only at the
	# end (the state is compressed into the spool first): wait for it,
	# then catch the compression in the middle.
	for _ in $(seq 1 200); do
		[ -n "$(find "$BATS_TEST_TMPDIR" -maxdepth 1 -name '.out.vhsnap.*')" ] && break
		sleep 0.05
	done
	[ -n "$(find "$BATS_TEST_TMPDIR" -maxdepth 1 -name '.out.vhsnap.*')" ]
	sleep 0.5
	kill -0 "$pid"
	signal_status "$pid" TERM
	assert_equal "$rc" 143
	no_output "$BATS_TEST_TMPDIR" out.vhsnap
}

@test "formats: an out-of-range SOURCE_DATE_EPOCH is a usage error, not a crash" {
	raw_stream "$ONE_FILE" >"$BATS_TEST_TMPDIR/a.vhs"
	SOURCE_DATE_EPOCH=999999999999999999 run "$VHOST_STATE" convert "$BATS_TEST_TMPDIR/a.vhs" "$BATS_TEST_TMPDIR/a.vhsnap"
	assert_failure 64
	assert_output --partial "SOURCE_DATE_EPOCH must be a count of seconds from 0 to 253402300799"
	no_output "$BATS_TEST_TMPDIR" a.vhsnap
}

# passt_payload ARGS... — a passt v2 payload built from passt's documented
# layout (helpers/passt-state.py), as a raw stream
passt_payload() {
	local hex
	hex=$(/usr/bin/python3 "$BATS_TEST_DIRNAME/helpers/passt-state.py" "$@" | xxd -p | tr -d '\n')
	raw_stream "$hex"
}

@test "formats: passt v2 states decode: header, observed addresses, flow count, each TCP flow" {
	passt_payload --flows 2 --sndq 5 >"$BATS_TEST_TMPDIR/p.vhs"
	run --separate-stderr "$VHOST_STATE" inspect --json "$BATS_TEST_TMPDIR/p.vhs"
	assert_success
	assert_schema inspect
	echo "$output" | jq -e '.kind == "net" and .decoded.format == "passt" and .decoded.version == 2 and .decoded.compat_version == 2'
	echo "$output" | jq -ce '.decoded.addresses == {"addr6": "2001:db8::2", "addr6_ll": "fe80::1", "addr4": "10.0.2.15", "mac": "52:55:c0:a8:02:02"}'
	echo "$output" | jq -e '.decoded.flow_count == 2 and (.decoded.flows | length) == 2'
	echo "$output" | jq -ce '.decoded.flows[1].sides == [{"pif": "tap", "our_address": "93.184.216.34", "our_port": 80, "endpoint_address": "10.0.2.15", "endpoint_port": 40001}, {"pif": "host", "our_address": "10.0.2.15", "our_port": 40001, "endpoint_address": "93.184.216.34", "endpoint_port": 80}]'
	echo "$output" | jq -e '.decoded.flows[1].sequence.to_tap == 1001 and .decoded.flows[1].sequence.init_from_tap == 4001'
	echo "$output" | jq -e '.decoded.flows[1].sequence.socket_send == 7001 and .decoded.flows[0].windows.to_tap == 64240'
	echo "$output" | jq -e '.decoded.flows[0].queues == {"send": 5, "not_sent": 0, "receive": 2} and .decoded.flows[0].tap_mss == 65536'
	echo "$output" | jq -e '.decoded.flows[0].socket.tcpi_state == 1 and (.decoded.flows[0].skipped | not)'
	run "$VHOST_STATE" inspect "$BATS_TEST_TMPDIR/p.vhs"
	assert_line "decoded:     passt migration data, version 2 (compatible with 2), 2 TCP flows"
	assert_line "  flow 0: tap 10.0.2.15:40000 <-> host 93.184.216.34:80, seq to tap 1000, from tap 5000, queues 5+2 bytes"
	# a flow the source skipped (tcpi_state 0) has no queues after it
	passt_payload --flows 2 --skip 0 >"$BATS_TEST_TMPDIR/s.vhs"
	run --separate-stderr "$VHOST_STATE" inspect --json "$BATS_TEST_TMPDIR/s.vhs"
	assert_schema inspect
	echo "$output" | jq -e '.decoded.flows[0].skipped and (.decoded.flows[1].skipped | not) and (has("error") | not)'
}

@test "formats: passt states that do not add up are said so, never read past their end" {
	# a flow count far beyond the bytes there
	passt_payload --flows 1 --count 100000 >"$BATS_TEST_TMPDIR/count.vhs"
	run --separate-stderr "$VHOST_STATE" inspect --json "$BATS_TEST_TMPDIR/count.vhs"
	assert_success
	assert_schema inspect
	echo "$output" | jq -e '.decoded.error | test("100000 flows do not fit")'
	# queues longer than what follows
	passt_payload --flows 1 >"$BATS_TEST_TMPDIR/q.vhs"
	hex=$(xxd -p "$BATS_TEST_TMPDIR/q.vhs" | tr -d '\n')
	hex=${hex:8:${#hex}-16}
	# the ext record's sndq (3) becomes 0x7fffffff
	[[ $hex == *00001b5800001f4000000003* ]]
	raw_stream "${hex/00001b5800001f4000000003/00001b5800001f407fffffff}" >"$BATS_TEST_TMPDIR/q.vhs"
	run --separate-stderr "$VHOST_STATE" inspect --json "$BATS_TEST_TMPDIR/q.vhs"
	assert_schema inspect
	echo "$output" | jq -e '.decoded.error | test("queues \\(2147483647 \\+ 2 bytes\\) end early")'
	# trailing bytes
	hex=$(/usr/bin/python3 "$BATS_TEST_DIRNAME/helpers/passt-state.py" | xxd -p | tr -d '\n')
	raw_stream "${hex}00" >"$BATS_TEST_TMPDIR/t.vhs"
	run --separate-stderr "$VHOST_STATE" inspect --json "$BATS_TEST_TMPDIR/t.vhs"
	assert_schema inspect
	echo "$output" | jq -e '.decoded.error | test("1 trailing bytes after the state at payload offset 62")'
	# an unknown version: the header only
	raw_stream b1bb1d1b0bb1d1b0000000090000000900000000 >"$BATS_TEST_TMPDIR/v9.vhs"
	run --separate-stderr "$VHOST_STATE" inspect --json "$BATS_TEST_TMPDIR/v9.vhs"
	assert_schema inspect
	echo "$output" | jq -e '.decoded.version == 9 and (.decoded.error | test("version 9 is not decoded"))'
}

@test "formats: diff of passt states names the address and the flow that changed, nothing else" {
	passt_payload --flows 3 >"$BATS_TEST_TMPDIR/a.vhs"
	passt_payload --flows 3 --addr4 10.0.2.16 >"$BATS_TEST_TMPDIR/b.vhs"
	run --separate-stderr "$VHOST_STATE" diff --json "$BATS_TEST_TMPDIR/a.vhs" "$BATS_TEST_TMPDIR/b.vhs"
	assert_failure 2
	assert_schema diff
	echo "$output" | jq -ce '.kind == "net" and .decoded and .differences == [{"what": "addresses.addr4", "a": "10.0.2.15", "b": "10.0.2.16"}]'
	# flow 1 skipped on one side: only that flow differs
	passt_payload --flows 3 --skip 1 >"$BATS_TEST_TMPDIR/c.vhs"
	run --separate-stderr "$VHOST_STATE" diff --json "$BATS_TEST_TMPDIR/a.vhs" "$BATS_TEST_TMPDIR/c.vhs"
	assert_failure 2
	assert_schema diff
	echo "$output" | jq -e '[.differences[] | [.what, .id]] == [["flow", 1]] and .differences[0].b.skipped'
	run "$VHOST_STATE" diff "$BATS_TEST_TMPDIR/a.vhs" "$BATS_TEST_TMPDIR/c.vhs"
	assert_line --regexp '^  flow 1: tap 10.0.2.15:40001 <-> .* -> .*\(skipped by the source\)$'
	# one flow fewer
	passt_payload --flows 2 >"$BATS_TEST_TMPDIR/d.vhs"
	run --separate-stderr "$VHOST_STATE" diff --json "$BATS_TEST_TMPDIR/a.vhs" "$BATS_TEST_TMPDIR/d.vhs"
	assert_schema diff
	echo "$output" | jq -ce '[.differences[] | [.what, .id, .b]] == [["flow_count", null, 2], ["flow", 2, null]]'
}
