#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets (corpus/<target>/).

The generated files are checked in; run this again after changing a
target's input format:  python3 tests/fuzz/gen-seeds.py
"""
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

# The idle virtiofsd 1.13 payload (next inode 2).
IDLE = bytes([0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00])


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- chunk: raw state streams (be32 length + payload, be32 0 at the end)

def stream(*chunks, end=True):
    out = b"".join(struct.pack(">I", len(c)) + c for c in chunks)
    return out + (struct.pack(">I", 0) if end else b"")


def chunk_seeds():
    write("chunk", "idle-virtiofsd", stream(IDLE))
    write("chunk", "empty-state", stream())
    write("chunk", "one-byte-chunks", stream(*[IDLE[i:i + 1] for i in range(10)]))
    write("chunk", "split-3-7", stream(IDLE[:3], IDLE[3:]))
    # next inode 5, next handle 7: the non-idle state of the tests
    write("chunk", "inode5-handle7", stream(bytes([1, 0, 5, 0, 7, 0, 0, 0, 0, 0])))
    big = bytes((i * 7 + (i >> 5)) & 0xFF for i in range(3000))
    write("chunk", "one-3000-byte-chunk", stream(big))
    write("chunk", "over-tight-limits", stream(big[:65], big[65:200], big[200:300]))
    write("chunk", "trailing-byte", stream(IDLE) + b"\x42")
    write("chunk", "no-terminator", stream(IDLE, end=False))
    write("chunk", "cut-in-length", stream(IDLE)[:16])
    write("chunk", "huge-length", b"\xff\xff\xff\xff\x01\x02\x03")
    # What vs_state_input_open hands to other readers.
    write("chunk", "qemu-migration-magic", b"QEVM\x00\x00\x00\x03")
    if shutil.which("zstd"):
        z = subprocess.run(["zstd", "-q", "-c", "--no-check"], input=stream(IDLE),
                           stdout=subprocess.PIPE, check=True).stdout
        write("chunk", "idle-virtiofsd.zst", z)
    else:
        print("gen-seeds: zstd not found, idle-virtiofsd.zst not written", file=sys.stderr)


# ---- reply: plan byte + one segment per request (see fuzz-reply.c)

CANNED = 0x80
FD_PIPE_READ, FD_PIPE_WRITE, FD_SOCKET, FD_MEMFD, FD_DEVNULL = 1, 2, 3, 4, 5

GET_FEATURES, SET_OWNER, GET_PROTOCOL_FEATURES = 1, 3, 15
SET_PROTOCOL_FEATURES, GET_QUEUE_NUM, GET_MAX_MEM_SLOTS = 16, 17, 36
SET_DEVICE_STATE_FD, CHECK_DEVICE_STATE = 42, 43


def reply(code, value, flags=0x5, size=8):
    """A reply as virtiofsd writes it: native-endian header + u64."""
    return struct.pack("=III", code, flags, size) + struct.pack("=Q", value)


def seg(data=b"", fd=0, copies=1):
    return bytes([fd | ((copies - 1) << 3), len(data)]) + data


def canned(n):
    return bytes([CANNED]) * n


def handshake(features=0x174000000, protocol=0x8a42b):
    """virtiofsd 1.13's answers, one segment per request of vs_vu_open."""
    return (seg(reply(GET_FEATURES, features)) +
            seg(reply(GET_PROTOCOL_FEATURES, protocol)) +
            seg() +  # SET_PROTOCOL_FEATURES: no reply before REPLY_ACK
            seg(reply(GET_QUEUE_NUM, 2)) +
            seg(reply(GET_MAX_MEM_SLOTS, 509)) +
            seg(reply(SET_OWNER, 0)))  # NEED_REPLY: REPLY_ACK was acked


def reply_seeds():
    save, load, verify, save2 = 0, 1, 2, 3
    # 6 handshake requests, then SET_DEVICE_STATE_FD and CHECK per operation
    write("reply", "save-canned", bytes([save]) + canned(8))
    write("reply", "load-canned", bytes([load]) + canned(8))
    write("reply", "verify-canned", bytes([verify]) + canned(10))
    write("reply", "save-twice-canned", bytes([save2]) + canned(10))
    write("reply", "save-small-max-size", bytes([save | 0x04]) + canned(8))
    write("reply", "load-producer-fails", bytes([load | 0x08]) + canned(8))
    write("reply", "load-backend-closes-pipe", bytes([load | 0x10]) + canned(8))
    # the back-end hangs up while the front-end waits on the transfer pipe
    write("reply", "save-stall", bytes([save | 0x20]) + canned(8))
    write("reply", "load-stall", bytes([load | 0x20]) + canned(8))
    # loads from a raw stream file through a chunk reader (splice)
    write("reply", "load-chunks-canned", bytes([load | 0x40]) + canned(8))
    write("reply", "load-chunks-stall", bytes([load | 0x60]) + canned(8))
    write("reply", "verify-chunks-canned", bytes([verify | 0x40]) + canned(10))
    ok_transfer = (seg(reply(SET_DEVICE_STATE_FD, 0x100)) +
                   seg(reply(CHECK_DEVICE_STATE, 0)))
    write("reply", "save-virtiofsd", bytes([save]) + handshake() + ok_transfer)
    write("reply", "load-virtiofsd", bytes([load]) + handshake() + ok_transfer)
    # the back-end's own channel: a pipe attached to the reply (value 0)
    write("reply", "save-reply-fd", bytes([save]) + handshake() +
          seg(reply(SET_DEVICE_STATE_FD, 0), fd=FD_PIPE_READ) +
          seg(reply(CHECK_DEVICE_STATE, 0)))
    write("reply", "load-reply-fd", bytes([load]) + handshake() +
          seg(reply(SET_DEVICE_STATE_FD, 0), fd=FD_PIPE_WRITE) +
          seg(reply(CHECK_DEVICE_STATE, 0)))
    write("reply", "save-reply-socket", bytes([save]) + handshake() +
          seg(reply(SET_DEVICE_STATE_FD, 0), fd=FD_SOCKET) +
          seg(reply(CHECK_DEVICE_STATE, 0)))
    # splice cannot write into a socket: the copy path takes over
    write("reply", "load-chunks-reply-socket", bytes([load | 0x40]) + handshake() +
          seg(reply(SET_DEVICE_STATE_FD, 0), fd=FD_SOCKET) +
          seg(reply(CHECK_DEVICE_STATE, 0)))
    write("reply", "load-chunks-reply-fd", bytes([load | 0x40]) + handshake() +
          seg(reply(SET_DEVICE_STATE_FD, 0), fd=FD_PIPE_WRITE) +
          seg(reply(CHECK_DEVICE_STATE, 0)))
    write("reply", "save-reply-memfd", bytes([save]) + handshake() +
          seg(reply(SET_DEVICE_STATE_FD, 0), fd=FD_MEMFD))
    write("reply", "check-fails", bytes([save]) + handshake() +
          seg(reply(SET_DEVICE_STATE_FD, 0x100)) + seg(reply(CHECK_DEVICE_STATE, 1)))
    write("reply", "set-device-state-fd-refused", bytes([load]) + handshake() +
          seg(reply(SET_DEVICE_STATE_FD, 0x101)))
    # no PROTOCOL_FEATURES: SET_OWNER goes unanswered, request 42 is never sent
    write("reply", "no-protocol-features", bytes([save]) +
          seg(reply(GET_FEATURES, 0x100000000)) + seg())
    # DEVICE_STATE not offered
    write("reply", "no-device-state", bytes([save]) + handshake(protocol=0x0a42b))
    write("reply", "unexpected-fd", bytes([save]) +
          seg(reply(GET_FEATURES, 0x174000000), fd=FD_MEMFD))
    write("reply", "too-many-fds", bytes([save]) +
          seg(reply(GET_FEATURES, 0x174000000), fd=FD_DEVNULL, copies=12))
    write("reply", "wrong-reply-code", bytes([save]) + seg(reply(GET_PROTOCOL_FEATURES, 0)))
    write("reply", "wrong-flags", bytes([save]) + seg(reply(GET_FEATURES, 0, flags=0xd)))
    write("reply", "wrong-size", bytes([save]) + seg(reply(GET_FEATURES, 0, size=4)))
    write("reply", "header-only", bytes([save]) + seg(reply(GET_FEATURES, 0)[:12]))
    write("reply", "hang-up-at-once", bytes([save]))
    write("reply", "set-owner-rejected", bytes([save]) + canned(5) + seg(reply(SET_OWNER, 1)))


# ---- container: .vhsnap archives (pax tar, optionally zstd) and manifests

SHA_IDLE = "6c52470213bc347952f56bc8a73b687443e71a86a8d120018e6bb2dd292072dd"


def manifest(**over):
    """manifest.json as the tool writes it (JSON_C_TO_STRING_PRETTY)."""
    m = {"format": "vhost-state-snapshot", "version": "1.0", "tool": "vhost-state 0.1.0",
         "created": "2023-11-14T22:13:20Z", "backend": None,
         "payload": {"kind": "fs", "size": 10, "chunks": 1, "sha256": SHA_IDLE}}
    for k, v in over.items():
        if v is DROP:
            m.pop(k, None)
        else:
            m[k] = v
    return (json.dumps(m, indent=2) + "\n").encode()


DROP = object()


def tar(*members):
    """A pax tar as Python writes it: libarchive reads it like the tool's."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1700000000
            info.mode = 0o644
            t.addfile(info, io.BytesIO(data))
    # the end-of-archive blocks without the 10 KiB record padding, as the
    # tool writes it (archive_write_set_bytes_in_last_block 1)
    out = buf.getvalue()
    end = len(out)
    while end >= 512 and not any(out[end - 512:end]):
        end -= 512
    return out[:end] + bytes(1024)


def zstd(data):
    return subprocess.run(["zstd", "-q", "-c", "--no-check"], input=data,
                          stdout=subprocess.PIPE, check=True).stdout


def tool():
    """The built vhost-state (VHOST_STATE, else the build tree's top)."""
    t = os.environ.get("VHOST_STATE") or os.path.join(HERE, "..", "..", "vhost-state")
    return t if os.access(t, os.X_OK) else None


def convert(raw, out_name, *opts):
    """`vhost-state convert` of a raw stream, reproducibly."""
    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "in.vhs"), os.path.join(d, out_name)
        with open(src, "wb") as f:
            f.write(raw)
        env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000")
        subprocess.run([tool(), "convert", "-q", *opts, src, dst], env=env, check=True)
        with open(dst, "rb") as f:
            return f.read()


def container_seeds():
    busy = stream(bytes([1, 0, 5, 0, 7, 0, 0, 0, 0, 0]))
    three = stream(IDLE[:3], IDLE[3:5], IDLE[5:])
    if tool() and shutil.which("zstd"):
        write("container", "idle.vhsnap", convert(stream(IDLE), "o.vhsnap"))
        write("container", "idle.vhsnap.zst", convert(stream(IDLE), "o.vhsnap.zst"))
        write("container", "busy.vhsnap", convert(busy, "o.vhsnap"))
        write("container", "three-chunks.vhsnap.zst", convert(three, "o.vhsnap.zst"))
        write("container", "empty-state.vhsnap", convert(stream(), "o.vhsnap"))
        write("container", "idle.vhs.zst", convert(stream(IDLE), "o.vhs.zst"))
    else:
        print("gen-seeds: vhost-state or zstd not found, container archives not written",
              file=sys.stderr)
    # hand-made archives: what the tool never writes
    ok = manifest()
    backend = manifest(backend={"source": "qemu-migration-file", "device": "0000:00:04.0/vhost-user-fs",
                                "instance_id": 0, "machine": "pc-q35-10.0"})
    write("container", "backend.vhsnap", tar(("manifest.json", backend), ("state.vhs", stream(IDLE))))
    write("container", "digest-mismatch.vhsnap", tar(("manifest.json", ok), ("state.vhs", busy)))
    write("container", "count-mismatch.vhsnap",
          tar(("manifest.json", ok), ("state.vhs", stream(IDLE[:5], IDLE[5:]))))
    write("container", "state-first.vhsnap", tar(("state.vhs", stream(IDLE)), ("manifest.json", ok)))
    write("container", "extra-member.vhsnap",
          tar(("manifest.json", ok), ("state.vhs", stream(IDLE)), ("extra", b"x")))
    write("container", "no-state.vhsnap", tar(("manifest.json", ok)))
    write("container", "bad-state.vhsnap", tar(("manifest.json", ok), ("state.vhs", stream(IDLE)[:-2])))
    write("container", "version-2.vhsnap",
          tar(("manifest.json", manifest(version="2.0")), ("state.vhs", stream(IDLE))))
    write("container", "truncated.vhsnap",
          tar(("manifest.json", ok), ("state.vhs", stream(IDLE)))[:1200])
    if shutil.which("zstd"):
        write("container", "backend.vhsnap.zst",
              zstd(tar(("manifest.json", backend), ("state.vhs", stream(IDLE)))))
        write("container", "trailing.vhs.zst", zstd(stream(IDLE) + b"\x00"))
    # bare manifest.json texts, for vs_manifest_parse
    write("container", "manifest.json", ok)
    write("container", "manifest-backend.json", backend)
    write("container", "manifest-minor-7.json", manifest(version="1.7", tool="x" * 80))
    write("container", "manifest-no-payload.json", manifest(payload=DROP))
    write("container", "manifest-bad-sha.json",
          manifest(payload={"kind": "net", "size": 10, "chunks": 1, "sha256": SHA_IDLE.upper()}))
    write("container", "manifest-negative-size.json",
          manifest(payload={"kind": "fs", "size": -1, "chunks": 1, "sha256": SHA_IDLE}))
    write("container", "manifest-bad-created.json", manifest(created="2023-11-14 22:13:20"))
    write("container", "manifest-array.json", b"[1, 2, 3]\n")
    write("container", "manifest-trailing.json", ok + b"{}")


# ---- migfile: QEMU migration files (precopy, QEMU 10 layout), minimal

def be16(v):
    return struct.pack(">H", v)


def be32(v):
    return struct.pack(">I", v)


def be64(v):
    return struct.pack(">Q", v)


def idstr(s):
    return bytes([len(s)]) + s.encode()


MACHINE = "pc-q35-10.0"
PAGE = 4096


def field(name, typ, size):
    return {"name": name, "type": typ, "size": size}


class Mig:
    """A migration file as QEMU 10 writes one: header, configuration, the
    iterative ram section, device sections, EOF, the VM description."""

    def __init__(self, footers=True, caps=(), page_bits=False, base=0):
        """base: bytes before the stream (a libvirt header), for the
        absolute offsets of mapped-ram."""
        self.footers = footers
        self.base = base
        self.mapped = "mapped-ram" in caps
        self.out = b"QEVM" + be32(3)
        self.devices = []
        self.next_id = 0
        conf = {"vmsd_name": "configuration", "version": 1,
                "fields": [field("len", "uint32", 4), field("name", "buffer", len(MACHINE))]}
        self.out += b"\x07" + be32(len(MACHINE)) + MACHINE.encode()
        subs = []
        if caps:
            body = be32(len(caps)) + b"".join(idstr(c) for c in caps)
            self.out += b"\x05" + idstr("configuration/capabilities") + be32(1) + body
            subs.append({"vmsd_name": "configuration/capabilities", "version": 1,
                         "fields": [field("caps_count", "uint32", 4),
                                    field("capabilities", "capability", len(body) - 4)]})
        if page_bits:
            self.out += b"\x05" + idstr("configuration/target-page-bits") + be32(1) + be32(12)
            subs.append({"vmsd_name": "configuration/target-page-bits", "version": 1,
                         "fields": [field("target_page_bits", "uint32", 4)]})
        if subs:
            conf["subsections"] = subs
        self.conf = conf
        self.ignore_shared = "x-ignore-shared" in caps

    def footer(self, sid):
        return b"\x7e" + be32(sid) if self.footers else b""

    def ram(self, blocks, parts=()):
        """blocks: [(name, length)]; parts: lists of records for
        QEMU_VM_SECTION_PART, each ended by EOS; then an empty END."""
        sid = self.next_id = self.next_id + 1
        rec = be64(sum(n for _, n in blocks) | 0x04)
        if self.mapped:
            # mapped-ram: after each block, MappedRamHeader and a seek over
            # the bitmap and pages (small blocks, no 1 MiB alignment, so the
            # seeds stay small; the reader does not require it)
            self.out += b"\x01" + be32(sid) + idstr("ram") + be32(0) + be32(4) + rec
            for name, n in blocks:
                self.out += idstr(name) + be64(n)
                here = self.base + len(self.out) + 28
                bitmap = here
                pages = bitmap + (n // PAGE + 7) // 8
                self.out += be32(1) + be64(PAGE) + be64(bitmap) + be64(pages)
                self.out += b"\xff" * (pages - bitmap) + bytes((i * 11) & 0xff for i in range(n))
            self.out += be64(0x10) + self.footer(sid)
            for p in parts:
                self.out += b"\x02" + be32(sid) + p + be64(0x10) + self.footer(sid)
            self.out += b"\x03" + be32(sid) + be64(0x10) + self.footer(sid)
            self.out += b"\x08" + be16(11) + be16(0)
            return
        for name, n in blocks:
            rec += idstr(name) + be64(n) + (be64(0) if self.ignore_shared else b"")
        self.out += (b"\x01" + be32(sid) + idstr("ram") + be32(0) + be32(4) + rec + be64(0x10) +
                     self.footer(sid))
        for p in parts:
            self.out += b"\x02" + be32(sid) + p + be64(0x10) + self.footer(sid)
        self.out += b"\x03" + be32(sid) + be64(0x10) + self.footer(sid)
        self.out += b"\x08" + be16(11) + be16(0)  # MIG_CMD_SWITCHOVER_START

    def device(self, name, vmsd, version, fields, subs=(), instance=0):
        """fields: [(name, type, bytes)]; subs: [(vmsd, version, fields)]."""
        sid = self.next_id = self.next_id + 1
        d = {"name": name, "instance_id": instance, "vmsd_name": vmsd, "version": version,
             "fields": [field(n, t, len(b)) for n, t, b in fields]}
        body = b"".join(b for _, _, b in fields)
        if subs:
            d["subsections"] = []
            for sv, sver, sf in subs:
                body += b"\x05" + idstr(sv) + be32(sver) + b"".join(b for _, _, b in sf)
                d["subsections"].append({"vmsd_name": sv, "version": sver,
                                         "fields": [field(n, t, len(b)) for n, t, b in sf]})
        self.devices.append(d)
        self.out += (b"\x04" + be32(sid) + idstr(name) + be32(instance) + be32(version) + body +
                     self.footer(sid))

    def timer(self):
        self.device("timer", "timer", 2, [("cpu_ticks_offset", "int64", be64(0)),
                                          ("unused", "unused_buffer", bytes(8)),
                                          ("cpu_clock_offset", "int64", be64(0x12345))])

    def globalstate(self):
        self.device("globalstate", "globalstate", 1,
                    [("size", "uint32", be32(10)), ("runstate", "buffer", b"prelaunch".ljust(32, b"\0")),
                     ("has_vm_was_suspended", "uint8", b"\x01"), ("vm_was_suspended", "uint8", b"\x00"),
                     ("unused", "buffer", bytes(66))])

    def fs(self, slot, state, virtio=None):
        virtio = virtio if virtio is not None else bytes((i * 13) & 0xff for i in range(64))
        self.device("0000:00:%02x.0/vhost-user-fs" % slot, "vhost-user-fs", 0,
                    [("virtio", "virtio", virtio)],
                    [("vhost-user-fs-backend", 0, [("back-end", "virtio-fs back-end state", state)])])

    def net(self, slot, virtio):
        self.device("0000:00:%02x.0/virtio-net" % slot, "virtio-net", 11, [("virtio", "virtio", virtio)])

    def bytes(self, desc_cut=None, desc=True):
        if not desc:
            return self.out + b"\x00"
        desc = {"configuration": self.conf, "page_size": PAGE, "devices": self.devices}
        js = json.dumps(desc).encode()  # QEMU's style: ", " and ": "
        if desc_cut:
            js = js[:desc_cut]
        return self.out + b"\x00" + b"\x06" + be32(len(js)) + js


def zero_pages(block, *addrs):
    """ZERO records: the first names the block, the rest CONTINUE it."""
    out = b""
    for i, a in enumerate(addrs):
        out += be64(a | 0x02 | (0x20 if i else 0)) + (b"" if i else idstr(block)) + b"\x00"
    return out


NET_SUB = b"\x05" + idstr("virtio-net-device/backend") + be32(0)


def migfile_seeds():
    blocks = [("mem", 16 << 20), ("pc.bios", 256 << 10), ("/rom@etc/acpi/tables", 128 << 10)]
    zp = [zero_pages("mem", 0, 0x1000, 0x2000), zero_pages("pc.bios", 0x3f000)]

    m = Mig()
    m.ram(blocks, zp)
    m.timer()
    m.fs(4, stream(IDLE))
    m.globalstate()
    write("migfile", "fs-idle", m.bytes())

    m = Mig()
    m.ram(blocks, zp)
    m.fs(4, stream(bytes([1, 0, 5, 0, 7, 0, 0, 0, 0, 0])))
    m.fs(5, stream(IDLE[:4], IDLE[4:]), virtio=b"")
    write("migfile", "fs-two", m.bytes())

    m = Mig()
    m.ram(blocks, zp)
    m.fs(4, stream())
    write("migfile", "fs-empty-state", m.bytes())

    # a real page, an XBZRLE page and a multifd flush; capabilities
    m = Mig(caps=("x-ignore-shared", "events"), page_bits=True)
    page = bytes((i * 7) & 0xff for i in range(PAGE))
    m.ram(blocks, [be64(0x5000 | 0x08) + idstr("mem") + page +
                   be64(0x6000 | 0x40 | 0x20) + b"\x01" + be16(3) + b"\x01\x02\x03" +
                   be64(0x200), zp[1]])
    m.fs(4, stream(IDLE))
    write("migfile", "ram-page-xbzrle-caps", m.bytes())

    m = Mig(footers=False)
    m.ram(blocks, zp)
    m.timer()
    m.fs(4, stream(IDLE))
    write("migfile", "no-footers", m.bytes())

    # virtio-net: the state is a subsection inside the opaque virtio field
    pre = bytes((i * 29) & 0xff for i in range(40))
    m = Mig()
    m.ram(blocks, zp)
    m.net(3, pre + NET_SUB + stream(b"passt-state-bytes") +
          b"\x05" + idstr("virtio/64bit_features") + be32(1) + be64(0x130000000))
    m.fs(4, stream(IDLE))
    write("migfile", "net-and-fs", m.bytes())

    m = Mig()
    m.ram(blocks, zp)
    m.net(3, pre + NET_SUB[:-1] + b"\x01" + stream(b"xx") + NET_SUB + stream(b"abc", b"def"))
    write("migfile", "net-lookalike", m.bytes())

    m = Mig()
    m.ram(blocks, zp)
    m.net(3, NET_SUB + stream(b"one") + b"\x05" + idstr("virtio/a") + be32(1) + NET_SUB + stream(b"two"))
    write("migfile", "net-ambiguous", m.bytes())

    m = Mig()
    m.ram(blocks, zp)
    m.timer()
    m.globalstate()
    write("migfile", "no-state", m.bytes())

    # malformed: the description disagrees, or the file is cut
    m = Mig()
    m.ram(blocks, zp)
    m.fs(4, stream(IDLE))
    good = m.bytes()
    m.devices[-1]["subsections"][0]["fields"][0]["size"] = 17
    # 518 bytes of description: its be32 length ends in 0x06, the marker's byte
    write("migfile", "fs-size-disagrees", m.bytes())
    write("migfile", "desc-cut", m.bytes(desc_cut=100))
    write("migfile", "truncated", good[:len(good) // 2])
    write("migfile", "header-only", b"QEVM" + be32(3))
    mapped_seeds()
    libvirt_seeds()


def mapped_seeds():
    blocks = [("mem", 16 << 10), ("pc.bios", 4 << 10)]
    for desc in (True, False):
        m = Mig(caps=("mapped-ram",))
        m.ram(blocks, [be64(0x200)])
        m.timer()
        m.fs(4, stream(IDLE))
        m.globalstate()
        write("migfile", "mapped-ram" + ("" if desc else "-no-desc"), m.bytes(desc=desc))
    # without a description: a footer lookalike in device data (ambiguous)
    m = Mig(caps=("mapped-ram",))
    m.ram(blocks)
    m.fs(4, stream(b"\x7e" + be32(2) + b"\x04" + be32(9) + idstr("abc") + be32(0) + be32(0)))
    m.globalstate()
    write("migfile", "mapped-ram-no-desc-lookalike", m.bytes(desc=False))
    # a MappedRamHeader whose pages run past the end
    m = Mig(caps=("mapped-ram",))
    m.ram([("mem", 16 << 10)])
    m.fs(4, stream(IDLE))
    b = bytearray(m.bytes(desc=False))
    at = b.find(b"\x03mem") + 4 + 8 + 4 + 8 + 8
    b[at:at + 8] = be64(1 << 40)
    write("migfile", "mapped-ram-pages-past-end", bytes(b))


# libvirt save images (libvirt's src/qemu/qemu_saveimage.h): a 92-byte
# header, the XML and cookie, then the stream (compressed per format)

def lv_prefix(fmt, magic=b"LibvirtQemudSave", version=2, pad=64, desc="QEVM vhost-user-fs-backend"):
    xml = ("<domain type='qemu'><name>seed</name><uuid>6f1c7a52-3d9e-4b8f-a1c2-0d4e5f607182</uuid>"
           "<os><type arch='x86_64'>hvm</type></os><description>%s</description></domain>" % desc).encode() + b"\0"
    cookie = b"<qemuDomainSaveCookie/>\0"
    data = xml + cookie + bytes(pad)
    return magic + struct.pack("<5I", version, len(data), 1, fmt, len(xml)) + bytes(56) + data


def libvirt_seeds():
    import bz2
    import gzip
    import lzma
    blocks = [("mem", 16 << 20)]
    zp = [zero_pages("mem", 0, 0x1000)]
    m = Mig()
    m.ram(blocks, zp)
    m.fs(4, stream(IDLE))
    plain = m.bytes()
    write("migfile", "libvirt-raw", lv_prefix(0) + plain)
    write("migfile", "libvirt-gzip", lv_prefix(1) + gzip.compress(plain, mtime=0))
    write("migfile", "libvirt-bzip2", lv_prefix(2) + bz2.compress(plain))
    write("migfile", "libvirt-xz", lv_prefix(3) + lzma.compress(plain))
    if shutil.which("zstd"):
        z = subprocess.run(["zstd", "-q", "-c"], input=plain, stdout=subprocess.PIPE, check=True).stdout
        write("migfile", "libvirt-zstd", lv_prefix(5) + z)
    write("migfile", "libvirt-lzop", lv_prefix(4) + plain)
    write("migfile", "libvirt-gzip-cut", (lv_prefix(1) + gzip.compress(plain, mtime=0))[:-40])
    write("migfile", "libvirt-partial", lv_prefix(0, magic=b"LibvirtQemudPart") + plain)
    write("migfile", "libvirt-version-3", lv_prefix(0, version=3) + plain)
    write("migfile", "libvirt-header-cut", lv_prefix(0)[:60])
    pre = lv_prefix(6)
    m = Mig(caps=("mapped-ram",), base=len(pre))
    m.ram([("mem", 16 << 10)])
    m.fs(4, stream(IDLE))
    write("migfile", "libvirt-sparse", pre + m.bytes())


if __name__ == "__main__":
    chunk_seeds()
    reply_seeds()
    container_seeds()
    migfile_seeds()
