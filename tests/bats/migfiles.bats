#!/usr/bin/env bats
# The files users hold (doc/migration-files.md): QEMU's mapped-ram layout,
# with and without its VM description, and libvirt save images around
# real QEMU 10 streams.  QEMU writes and loads the files; libvirt's header
# is built by helpers/libvirt-image.py (the real `virsh save` is covered
# by the libvirt tests).

load helpers/common
load helpers/peers
load helpers/qemu
load helpers/fuse

IDLE=01000200000000000000
DEV4=0000:00:04.0/vhost-user-fs
LVIMG=$VS_SRCDIR/tests/bats/helpers/libvirt-image.py
TRICKY="a domain whose description says vhost-user-fs-backend and QEVM"

# mapped_ram [multifd] — turn the capability on in the current QEMU (both
# ends need it), with multifd too if asked (libvirt's parallel save)
mapped_ram() {
	local extra=
	[ "${1:-}" != multifd ] || extra=',{"capability":"multifd","state":true}'
	python3 "$QMP_PY" "$QEMU_QMP" migrate-set-capabilities \
		'{"capabilities":[{"capability":"mapped-ram","state":true}'"$extra"']}' >/dev/null
}

# save_vfs OUT URI-SUFFIX MAPPED [QEMU args] — a fresh virtiofsd on the
# share in VFS_SHARE_DIR (or an empty one), a stopped QEMU with it at slot
# 4, saved to file:OUT (plus ",offset=N" when given); MAPPED: 0, 1
# (mapped-ram) or multifd (mapped-ram and multifd).
save_vfs() {
	local out=$1 suffix=$2 mapped=$3
	shift 3
	start_virtiofsd "save$RANDOM"
	# shellcheck disable=SC2046
	start_qemu "save$RANDOM" $(vfs_dev 4 "$VFS_SOCK") "$@"
	case $mapped in
	1) mapped_ram ;;
	multifd) mapped_ram multifd ;;
	esac
	qemu_save "file:$out$suffix"
}

# load_vfs IN URI-SUFFIX SHARE [QEMU args] — a fresh virtiofsd on SHARE,
# a QEMU with mapped-ram that loads file:IN (fails when the load fails;
# the QEMU stays up).
load_vfs() {
	incoming_vfs "$3" "${@:4}"
	qemu_load "file:$1$2"
}

# incoming_vfs SHARE [QEMU args] — the same, up to the load
incoming_vfs() {
	local share=$1
	shift
	VFS_SHARE_DIR=$share start_virtiofsd "load$RANDOM"
	# shellcheck disable=SC2046
	start_qemu "load$RANDOM" --incoming $(vfs_dev 4 "$VFS_SOCK") "$@"
	mapped_ram
}

# sparse FILE — allocated bytes are well under its apparent size
sparse() {
	local used apparent
	used=$(($(stat -c %b "$1") * $(stat -c %B "$1")))
	apparent=$(stat -c %s "$1")
	echo "$1: $used bytes allocated of $apparent"
	[ "$used" -lt $((apparent / 8)) ]
}

setup_file() {
	virtiofsd_fetch
	export PLAIN=$BATS_FILE_TMPDIR/plain.mig MR=$BATS_FILE_TMPDIR/mr.mig MRN=$BATS_FILE_TMPDIR/mrn.mig
	export LV6=$BATS_FILE_TMPDIR/lv6.img MRM=$BATS_FILE_TMPDIR/mrm.mig
	if [ -n "$VIRTIOFSD_ROOT" ] && command -v qemu-system-x86_64 >/dev/null; then
		BATS_TEST_TMPDIR=$BATS_FILE_TMPDIR
		save_vfs "$PLAIN" "" 0 || rm -f "$PLAIN"
		save_vfs "$MR" "" 1 || rm -f "$MR"
		save_vfs "$MRM" "" multifd || rm -f "$MRM"
		# no VM description: the device sections are walked between footers
		save_vfs "$MRN" "" 1 -machine suppress-vmdesc=on || rm -f "$MRN"
		# a sparse libvirt image: the header first, QEMU writes behind it
		N=$(python3 "$LVIMG" header "$LV6" --format 6 --running --description "$TRICKY")
		echo "$N" >"$BATS_FILE_TMPDIR/lv6.offset"
		save_vfs "$LV6" ",offset=$N" 1 || rm -f "$LV6"
		vs_teardown
	fi
}

setup() {
	require_virtiofsd
	require_qemu
	for f in "$PLAIN" "$MR" "$MRM" "$MRN" "$LV6"; do
		[ -s "$f" ] || { cat "$BATS_FILE_TMPDIR"/*.qemu.log >&2; false; }
	done
}

teardown() {
	vs_teardown
}

@test "migfiles: mapped-ram (also with multifd) with and without a VM description: extract gives the state QEMU saved, as a plain save does" {
	for f in "$PLAIN" "$MR" "$MRM" "$MRN" "$LV6"; do
		run "$VHOST_STATE" extract --list "$f"
		assert_success
		assert_line --regexp "^1  $DEV4  fs  10 bytes in 1 chunk  at offset [0-9]+  sha256 [0-9a-f]{64}$"
		"$VHOST_STATE" -q extract -f "$f" -o "$BATS_TEST_TMPDIR/x.vhs"
		assert_equal "$(hexof "$BATS_TEST_TMPDIR/x.vhs")" "0000000a${IDLE}00000000"
	done
	sparse "$MR"
	run --separate-stderr "$VHOST_STATE" inspect --json "$MR"
	assert_schema inspect
	assert_success
	echo "$output" | jq -e '.layout == "mapped-ram" and .format == "qemu-migration" and .libvirt == null'
	echo "$output" | jq -e '.vm_description.length > 0 and .page_size == 4096 and .ram.blocks >= 1'
	run --separate-stderr "$VHOST_STATE" inspect --json "$MRN"
	assert_schema inspect
	echo "$output" | jq -e '.layout == "mapped-ram" and .vm_description == null and (.states | length) == 1'
	echo "$output" | jq -e '[.sections[] | select(.type == "device")] | length > 10'
	run "$VHOST_STATE" inspect "$MRN"
	assert_line --regexp '^format: +QEMU migration stream, version 3, mapped-ram layout \(machine pc-q35-[0-9.]+, page size 4096\)$'
	assert_line 'description: none (device sections walked between their footers)'
	# the same sections, found both ways
	json_result inspect inspect --json "$MR" | jq -c '[.sections[] | select(.type == "device") | [.name, .length]]' >"$BATS_TEST_TMPDIR/a"
	json_result inspect inspect --json "$MRN" | jq -c '[.sections[] | select(.type == "device") | [.name, .length]]' >"$BATS_TEST_TMPDIR/b"
	cmp "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b"
}

@test "migfiles: inject of an extracted state gives back each file byte for byte, and sparse" {
	for f in "$MR" "$MRN" "$LV6"; do
		"$VHOST_STATE" -q extract -f "$f" -o "$BATS_TEST_TMPDIR/s.vhsnap"
		"$VHOST_STATE" -q inject "$f" "$BATS_TEST_TMPDIR/s.vhsnap" -o "$BATS_TEST_TMPDIR/same"
		cmp "$f" "$BATS_TEST_TMPDIR/same"
		sparse "$BATS_TEST_TMPDIR/same"
		rm "$BATS_TEST_TMPDIR/same"
	done
}

@test "migfiles: a populated state injected into mapped-ram files, loaded by QEMU, saved again: the same payload" {
	[ -x "$(fuse_client_path)" ] || skip "tests/fuse-client not built (make check builds it)"
	populate pop "$BATS_TEST_TMPDIR/pop.vhs"
	local share=$VFS_SHARE_DIR size
	size=$(stat -c %s "$BATS_TEST_TMPDIR/pop.vhs")
	for f in "$MR" "$MRN"; do
		run "$VHOST_STATE" inject "$f" "$BATS_TEST_TMPDIR/pop.vhs" -o "$BATS_TEST_TMPDIR/pop.mig"
		assert_success
		assert_output --regexp "injected [0-9]+ bytes of fs state \(1 chunk\) into $DEV4, replacing 10 bytes"
		sparse "$BATS_TEST_TMPDIR/pop.mig"
		run --separate-stderr "$VHOST_STATE" extract --list --json "$BATS_TEST_TMPDIR/pop.mig"
		assert_schema extract
		echo "$output" | jq -e --argjson s "$size" '.states[0].stream_bytes == $s'
		load_vfs "$BATS_TEST_TMPDIR/pop.mig" "" "$share"
		rm -f "$BATS_TEST_TMPDIR/again.mig"
		mapped_ram
		qemu_save "$BATS_TEST_TMPDIR/again.mig"
		"$VHOST_STATE" -q extract "$BATS_TEST_TMPDIR/again.mig" -o "$BATS_TEST_TMPDIR/again.vhs"
		cmp "$BATS_TEST_TMPDIR/pop.vhs" "$BATS_TEST_TMPDIR/again.vhs"
		rm "$BATS_TEST_TMPDIR/pop.mig" "$BATS_TEST_TMPDIR/again.vhs"
	done
}

@test "migfiles: a corrupt state injected into a mapped-ram file makes QEMU's load fail (negative control)" {
	printf 'garb' >"$BATS_TEST_TMPDIR/garb.bin"
	raw_stream "$(xxd -p "$BATS_TEST_TMPDIR/garb.bin")" >"$BATS_TEST_TMPDIR/garb.vhs"
	"$VHOST_STATE" -q inject -f "$MRN" "$BATS_TEST_TMPDIR/garb.vhs" -o "$BATS_TEST_TMPDIR/bad.mig"
	mkdir -p "$BATS_TEST_TMPDIR/e"
	incoming_vfs "$BATS_TEST_TMPDIR/e"
	run qemu_load "file:$BATS_TEST_TMPDIR/bad.mig"
	assert_failure 1
	assert_output --partial "migration failed"
	grep -q "Failed to load state" "$VFS_LOG"
	qemu_quit
	# the unchanged file loads (the control is the state)
	load_vfs "$MRN" "" "$BATS_TEST_TMPDIR/e"
	qemu_quit
}

@test "migfiles: without a VM description, a footer lookalike in device data is refused as ambiguous, not guessed" {
	# a state whose payload holds 7e + the section's id + a device header
	id=$(json_result inspect inspect --json "$MRN" | jq '.sections[] | select(.backend_state) | .section_id')
	payload=$(printf '7e%08x04%08x03616263%08x%08x' "$id" 99 0 0)
	raw_stream "$payload" >"$BATS_TEST_TMPDIR/look.vhs"
	# inject walks what it wrote, finds it ambiguous, and writes nothing
	run "$VHOST_STATE" inject -f "$MRN" "$BATS_TEST_TMPDIR/look.vhs" -o "$BATS_TEST_TMPDIR/look.mig"
	assert_failure 65
	assert_output --partial "not supported"
	assert_output --partial "is ambiguous"
	[ ! -e "$BATS_TEST_TMPDIR/look.mig" ]
	# the same payload with a description is found by it, unambiguously
	run "$VHOST_STATE" inject -f "$MR" "$BATS_TEST_TMPDIR/look.vhs" -o "$BATS_TEST_TMPDIR/look.mig"
	assert_success
}

@test "migfiles: sparse libvirt image: inspect shows the domain; inject keeps header, XML and cookie; QEMU loads it" {
	run "$VHOST_STATE" inspect "$LV6"
	assert_success
	N=$(cat "$BATS_FILE_TMPDIR/lv6.offset")
	assert_line "container:   libvirt save image, version 2: QEMU stream at offset $N, sparse (format 6)"
	assert_line "domain:      vs-guest (uuid 6f1c7a52-3d9e-4b8f-a1c2-0d4e5f607182), was running: yes"
	assert_line --regexp "^state 1: +$DEV4 \(fs\): 10 bytes in 1 chunk"
	run --separate-stderr "$VHOST_STATE" inspect --json "$LV6"
	assert_schema inspect
	echo "$output" | jq -e '.format == "libvirt-save-image" and .layout == "mapped-ram"'
	echo "$output" | jq -e '.libvirt.domain.name == "vs-guest" and .libvirt.was_running == true'
	echo "$output" | jq -e '.libvirt.format == "sparse" and .libvirt.format_number == 6 and .libvirt.version == 2'
	echo "$output" | jq -e --argjson n "$N" '.libvirt.stream_offset == $n and .states[0].offset > $n'
	raw_stream "01000500070000000000" >"$BATS_TEST_TMPDIR/busy.vhs"
	"$VHOST_STATE" -q inject "$LV6" "$BATS_TEST_TMPDIR/busy.vhs" -o "$BATS_TEST_TMPDIR/new.img"
	assert_equal "$(python3 "$LVIMG" prefix "$BATS_TEST_TMPDIR/new.img")" "$(python3 "$LVIMG" prefix "$LV6")"
	sparse "$BATS_TEST_TMPDIR/new.img"
	"$VHOST_STATE" -q extract "$BATS_TEST_TMPDIR/new.img" -o "$BATS_TEST_TMPDIR/x.vhs"
	cmp "$BATS_TEST_TMPDIR/busy.vhs" "$BATS_TEST_TMPDIR/x.vhs"
	# QEMU reads the stream where libvirt would point it, and the state
	# reaches a fresh virtiofsd: its next save carries it
	mkdir -p "$BATS_TEST_TMPDIR/e"
	load_vfs "$BATS_TEST_TMPDIR/new.img" ",offset=$N" "$BATS_TEST_TMPDIR/e"
	mapped_ram
	qemu_save "$BATS_TEST_TMPDIR/again.mig"
	"$VHOST_STATE" -q extract "$BATS_TEST_TMPDIR/again.mig" -o "$BATS_TEST_TMPDIR/again.vhs"
	cmp "$BATS_TEST_TMPDIR/busy.vhs" "$BATS_TEST_TMPDIR/again.vhs"
}

@test "migfiles: libvirt images raw, gzip, bzip2, xz, zstd: extract, inspect, inject in the same format" {
	raw_stream "01000500070000000000" >"$BATS_TEST_TMPDIR/busy.vhs"
	"$VHOST_STATE" -q inject "$PLAIN" "$BATS_TEST_TMPDIR/busy.vhs" -o "$BATS_TEST_TMPDIR/plain-busy.mig"
	for fmt in 0:raw 1:gzip 2:bzip2 3:xz 5:zstd; do
		n=${fmt%%:*} name=${fmt#*:} img=$BATS_TEST_TMPDIR/lv$n.img new=$BATS_TEST_TMPDIR/lv$n-new.img
		python3 "$LVIMG" wrap "$PLAIN" "$img" --format "$n" --description "$TRICKY"
		run "$VHOST_STATE" extract --list "$img"
		assert_success
		assert_line --regexp "^1  $DEV4  fs  10 bytes in 1 chunk  at offset [0-9]+  sha256 [0-9a-f]{64}$"
		"$VHOST_STATE" -q extract -f "$img" -o "$BATS_TEST_TMPDIR/x.vhs"
		assert_equal "$(hexof "$BATS_TEST_TMPDIR/x.vhs")" "0000000a${IDLE}00000000"
		run "$VHOST_STATE" inspect "$img"
		assert_line --regexp "^container: +libvirt save image, version 2: QEMU stream at offset [0-9]+, $name \(format $n\)$"
		assert_line "domain:      vs-guest (uuid 6f1c7a52-3d9e-4b8f-a1c2-0d4e5f607182), was running: no"
		assert_line --regexp '^format: +QEMU migration stream, version 3 \(machine pc-q35-[0-9.]+, page size 4096\)$'
		run --separate-stderr "$VHOST_STATE" inspect --json "$img"
		assert_schema inspect
		echo "$output" | jq -e --arg f "$name" '.libvirt.format == $f and .layout == "plain" and .libvirt.was_running == false'
		run "$VHOST_STATE" inject "$img" "$BATS_TEST_TMPDIR/busy.vhs" -o "$new"
		assert_success
		# header, XML, cookie and padding unchanged; the stream in the same
		# format (decompressed by Python) is what inject writes into the bare
		# file, which QEMU loads (qemu.bats)
		assert_equal "$(python3 "$LVIMG" prefix "$new")" "$(python3 "$LVIMG" prefix "$img")"
		python3 "$LVIMG" stream "$new" "$BATS_TEST_TMPDIR/stream.mig"
		cmp "$BATS_TEST_TMPDIR/stream.mig" "$BATS_TEST_TMPDIR/plain-busy.mig"
		"$VHOST_STATE" -q extract -f "$new" -o "$BATS_TEST_TMPDIR/x.vhs"
		cmp "$BATS_TEST_TMPDIR/x.vhs" "$BATS_TEST_TMPDIR/busy.vhs"
	done
	# state readers refuse an image and point at extract
	run "$VHOST_STATE" restore /nonexistent.sock -i "$BATS_TEST_TMPDIR/lv0.img"
	assert_failure 65
	assert_output --partial "this is a libvirt save image, not a state stream: \`vhost-state extract IMAGE\` takes a back-end's state out of it"
	# a big-endian header (libvirt writes its host's order) reads the same
	python3 "$LVIMG" wrap "$PLAIN" "$BATS_TEST_TMPDIR/be.img" --format 5 --big-endian
	run "$VHOST_STATE" extract --list "$BATS_TEST_TMPDIR/be.img"
	assert_success
	assert_line --regexp "^1  $DEV4  fs  10 bytes in 1 chunk "
}

@test "migfiles: a zstd image's injected stream is loaded by QEMU and the next save carries the state" {
	raw_stream "01000500070000000000" >"$BATS_TEST_TMPDIR/busy.vhs"
	python3 "$LVIMG" wrap "$PLAIN" "$BATS_TEST_TMPDIR/lv5.img" --format 5 --running
	"$VHOST_STATE" -q inject "$BATS_TEST_TMPDIR/lv5.img" "$BATS_TEST_TMPDIR/busy.vhs" -o "$BATS_TEST_TMPDIR/new.img"
	python3 "$LVIMG" stream "$BATS_TEST_TMPDIR/new.img" "$BATS_TEST_TMPDIR/stream.mig"
	mkdir -p "$BATS_TEST_TMPDIR/e"
	VFS_SHARE_DIR=$BATS_TEST_TMPDIR/e start_virtiofsd l
	# shellcheck disable=SC2046
	start_qemu l --incoming $(vfs_dev 4 "$VFS_SOCK")
	qemu_load "$BATS_TEST_TMPDIR/stream.mig"
	qemu_save "$BATS_TEST_TMPDIR/again.mig"
	"$VHOST_STATE" -q extract "$BATS_TEST_TMPDIR/again.mig" -o "$BATS_TEST_TMPDIR/again.vhs"
	cmp "$BATS_TEST_TMPDIR/busy.vhs" "$BATS_TEST_TMPDIR/again.vhs"
}

@test "migfiles: a compressed image's RAM pages are neither held in memory nor spooled to disk, and inject keeps them" {
	command -v strace >/dev/null || skip "strace missing"
	raw_stream "01000500070000000000" >"$BATS_TEST_TMPDIR/busy.vhs"
	d=$BATS_TEST_TMPDIR
	# 48 MiB of random pages in the plain stream, zstd-compressed
	python3 "$LVIMG" fatten "$PLAIN" "$d/fat.mig" 48
	python3 "$LVIMG" wrap "$d/fat.mig" "$d/fat.img" --format 5
	run --separate-stderr "$VHOST_STATE" inspect --json "$d/fat.img"
	assert_schema inspect
	echo "$output" | jq -e '.ram.pages > 12288 and (.states | length) == 1'
	# everything written (the spool included) and the peak RSS stay small
	VS_UNDER_PTRACE=1 strace -f -e trace=write,pwrite64 -o "$d/st.log" "$VHOST_STATE" extract --list "$d/fat.img"
	written=$(awk -F'= ' '/write/ {s += $NF} END {print s + 0}' "$d/st.log")
	echo "written: $written bytes of a $(stat -c %s "$d/fat.mig")-byte stream"
	[ "$written" -lt $((2 << 20)) ]
	# peak RSS: of the tool itself; under valgrind or ASan (VS_REAL_BINARY
	# set) the process is the sanitizer's too, so only the plain pass
	# holds it to the limit
	rss=$(python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$VHOST_STATE" extract --list "$d/fat.img")
	echo "peak RSS: $rss KiB"
	[ -n "${VS_REAL_BINARY:-}" ] || [ "$rss" -lt $((32 << 10)) ]
	# inject: the pages come through the recompression unchanged
	"$VHOST_STATE" -q inject "$d/fat.img" "$d/busy.vhs" -o "$d/new.img"
	"$VHOST_STATE" -q inject "$d/fat.mig" "$d/busy.vhs" -o "$d/new.mig"
	python3 "$LVIMG" stream "$d/new.img" "$d/stream.mig"
	cmp "$d/stream.mig" "$d/new.mig"
}

# refused IMAGE MESSAGE — extract, inspect and inject all exit 65 saying
# MESSAGE, and inject writes nothing
refused() {
	local img=$1 msg=$2
	for verb in "extract --list" inspect; do
		# shellcheck disable=SC2086
		run "$VHOST_STATE" $verb "$img"
		assert_failure 65
		assert_output --partial "$msg"
	done
	run "$VHOST_STATE" inject "$img" "$BATS_TEST_TMPDIR/busy.vhs" -o "$BATS_TEST_TMPDIR/out.img"
	assert_failure 65
	assert_output --partial "$msg"
	[ ! -e "$BATS_TEST_TMPDIR/out.img" ]
	run "$VHOST_STATE" extract "$img" -o "$BATS_TEST_TMPDIR/out.vhs"
	assert_failure 65
	[ ! -e "$BATS_TEST_TMPDIR/out.vhs" ]
}

@test "migfiles: unfinished, truncated, garbled and lzop libvirt images exit 65 with a clear message and nothing written" {
	raw_stream "01000500070000000000" >"$BATS_TEST_TMPDIR/busy.vhs"
	d=$BATS_TEST_TMPDIR
	python3 "$LVIMG" wrap "$PLAIN" "$d/part.img" --magic LibvirtQemudPart
	refused "$d/part.img" "an unfinished libvirt save (magic LibvirtQemudPart"
	refused "$d/part.img" "not supported"
	python3 "$LVIMG" wrap "$PLAIN" "$d/lzop.img" --format 4
	refused "$d/lzop.img" "compressed with lzop (format 4): not supported by this build"
	python3 "$LVIMG" wrap "$PLAIN" "$d/v3.img" --version 3
	refused "$d/v3.img" "malformed libvirt save image: header version 3 (only version 2 is understood)"
	python3 "$LVIMG" wrap "$PLAIN" "$d/f9.img" --format 9
	refused "$d/f9.img" "malformed libvirt save image: format 9 (expected 0 raw"
	python3 "$LVIMG" wrap "$PLAIN" "$d/xml.img" --bad-xml
	refused "$d/xml.img" "malformed libvirt save image: the domain XML at offset 92 does not parse"
	python3 "$LVIMG" wrap "$PLAIN" "$d/ok.img" --format 0
	for cut in 16 50 91; do
		head -c $cut "$d/ok.img" >"$d/cut.img"
		refused "$d/cut.img" "less than the 92-byte header"
	done
	head -c 300 "$d/ok.img" >"$d/cut.img"
	refused "$d/cut.img" "reaches past the end of the file"
	# garbled header fields
	python3 - "$d/ok.img" "$d" <<'PY'
import struct, sys
a = bytearray(open(sys.argv[1], "rb").read())
def out(name, off, data):
    b = bytearray(a)
    b[off:off + len(data)] = data
    open(sys.argv[2] + "/" + name, "wb").write(b)
out("magic.img", 15, b"X")
out("running.img", 24, struct.pack("<I", 7))
out("cookie.img", 32, struct.pack("<I", 0xFFFF))
out("nonul.img", 92, b"<" * (struct.unpack("<I", a[32:36])[0]))
PY
	refused "$d/magic.img" "malformed"
	refused "$d/running.img" "malformed libvirt save image: was_running is 7"
	refused "$d/cookie.img" "malformed libvirt save image: cookieOffset 65535 is not inside"
	refused "$d/nonul.img" "malformed libvirt save image: the domain XML is not NUL-terminated"
	# a header that says gzip over a stream that is not
	python3 "$LVIMG" wrap "$PLAIN" "$d/liar.img" --format 1
	python3 "$LVIMG" wrap "$PLAIN" "$d/raw.img" --format 0
	python3 - "$d/liar.img" "$d/raw.img" "$d/liar2.img" <<'PY'
import sys
a = open(sys.argv[1], "rb").read()
b = open(sys.argv[2], "rb").read()
h = int.from_bytes(a[20:24], "little") + 92
open(sys.argv[3], "wb").write(a[:h] + b[h:])
PY
	refused "$d/liar2.img" "says format 1 (gzip), but the stream after it is not gzip-compressed"
	# compressed streams cut short or garbled
	for n in 1 2 3 5; do
		python3 "$LVIMG" wrap "$PLAIN" "$d/c.img" --format $n
		size=$(stat -c %s "$d/c.img")
		head -c $((size - 200)) "$d/c.img" >"$d/cut.img"
		refused "$d/cut.img" "malformed"
		python3 - "$d/c.img" "$d/bad.img" <<'PY'
import sys
a = bytearray(open(sys.argv[1], "rb").read())
for i in range(len(a) // 2, len(a) // 2 + 64):
    a[i] ^= 0x5a
open(sys.argv[2], "wb").write(a)
PY
		refused "$d/bad.img" "malformed"
	done
	# gzip's trailer is checked (libarchive's gzip filter skips it): a
	# wrong CRC-32 over an intact deflate stream is corruption
	python3 "$LVIMG" wrap "$PLAIN" "$d/g.img" --format 1
	python3 - "$d/g.img" "$d/crc.img" <<'PY'
import sys
a = bytearray(open(sys.argv[1], "rb").read())
a[-8] ^= 0x01
open(sys.argv[2], "wb").write(a)
PY
	refused "$d/crc.img" "its gzip stream is corrupt: the"
	# the plain stream cut inside the image is the QEMU reader's message
	python3 "$LVIMG" wrap <(head -c 400000 "$PLAIN") "$d/short.img" --format 0
	refused "$d/short.img" "malformed migration file at offset"
}

@test "migfiles: mapped-ram files and sparse images cut anywhere exit 65, and inject writes nothing" {
	raw_stream "01000500070000000000" >"$BATS_TEST_TMPDIR/busy.vhs"
	for f in "$MR" "$MRN" "$LV6"; do
		size=$(stat -c %s "$f")
		state_at=$(json_result inspect inspect --json "$f" | jq '.states[0].offset')
		for cut in 100 5000 $((size / 2)) $((state_at + 5)) $((size - 50)) $((size - 1)); do
			# a sparse copy, cut: no gigabytes of zeros written
			cp --sparse=always "$f" "$BATS_TEST_TMPDIR/cut"
			truncate -s "$cut" "$BATS_TEST_TMPDIR/cut"
			refused "$BATS_TEST_TMPDIR/cut" "malformed"
		done
	done
	run "$VHOST_STATE" inspect "$MR"
	assert_line --regexp '^ram: +[0-9]+ blocks, [0-9]+ bytes, pages at fixed offsets \(not read\)$'
}

@test "migfiles: a mapped-ram stream must be format 6, and format 6 must hold one" {
	raw_stream "01000500070000000000" >"$BATS_TEST_TMPDIR/busy.vhs"
	python3 "$LVIMG" wrap "$PLAIN" "$BATS_TEST_TMPDIR/p6.img" --format 6
	refused "$BATS_TEST_TMPDIR/p6.img" "its format is sparse but the QEMU stream in it is not mapped-ram"
}

@test "migfiles: unsupported layouts say not supported and name the capability or option" {
	raw_stream "01000500070000000000" >"$BATS_TEST_TMPDIR/busy.vhs"
	d=$BATS_TEST_TMPDIR
	# a postcopy advise command where the ram section starts
	at=$(json_result inspect inspect --json "$PLAIN" | jq '.sections[0].offset')
	{ head -c "$at" "$PLAIN"; printf '\x08\x00\x03\x00\x10'; head -c 16 /dev/zero; tail -c +$((at + 1)) "$PLAIN"; } >"$d/pc.mig"
	refused "$d/pc.mig" "not supported (at offset $at): command 3: a postcopy stream (capability postcopy-ram)"
	# a plain stream without a description (machine option suppress-vmdesc)
	at=$(json_result inspect inspect --json "$PLAIN" | jq '.vm_description.offset')
	head -c "$at" "$PLAIN" >"$d/nodesc.mig"
	refused "$d/nodesc.mig" "(suppress-vmdesc), which is not supported for a plain stream"
}
