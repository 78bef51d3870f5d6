#!/usr/bin/env python3
"""Build and take apart libvirt save images for the tests, independently of
vhost-state (libvirt's src/qemu/qemu_saveimage.h: a 92-byte header, the
domain XML and the cookie, each NUL-terminated, zero padding up to
92 + data_len, then the QEMU stream, compressed by `format`).

  libvirt-image.py header OUT [OPTS]        OUT = the header + XML + cookie
                                            alone (for QEMU to write the
                                            stream after, file:OUT,offset=N);
                                            prints N
  libvirt-image.py wrap STREAM OUT [OPTS]   OUT = the header + STREAM,
                                            compressed as --format says
  libvirt-image.py stream IMAGE OUT         OUT = IMAGE's QEMU stream,
                                            decompressed
  libvirt-image.py prefix IMAGE             print the hex of the header, XML,
                                            cookie and padding
  libvirt-image.py fatten STREAM OUT MIB    OUT = the plain QEMU stream STREAM
                                            with MIB MiB of random pages of its
                                            first RAM block added (one ram
                                            QEMU_VM_SECTION_PART after the
                                            start), for memory and disk bounds

OPTS: --format N (0 raw, 1 gzip, 2 bzip2, 3 xz, 5 zstd, 6 sparse),
--running, --name NAME, --uuid UUID, --description TEXT, --magic MAGIC,
--version V, --big-endian, --pad N (bytes of zeros after the cookie),
--arch ARCH, --bad-xml (an XML that does not parse).  Format 4 (lzop) and
unknown numbers get the stream uncompressed (for refusals).
"""
import argparse
import bz2
import gzip
import lzma
import struct
import subprocess
import sys

MAGIC = b"LibvirtQemudSave"


def compress(fmt, data):
    if fmt in (0, 6):
        return data
    if fmt == 1:
        return gzip.compress(data)
    if fmt == 2:
        return bz2.compress(data)
    if fmt == 3:
        return lzma.compress(data, format=lzma.FORMAT_XZ)
    if fmt == 5:
        return subprocess.run(["zstd", "-q", "-c"], input=data, stdout=subprocess.PIPE, check=True).stdout
    # 4 (lzop) and unknown numbers: the stream as it is, for refusals
    return data


def decompress(fmt, data):
    if fmt in (0, 6):
        return data
    if fmt == 1:
        return gzip.decompress(data)
    if fmt == 2:
        return bz2.decompress(data)
    if fmt == 3:
        return lzma.decompress(data)
    if fmt == 5:
        return subprocess.run(["zstd", "-q", "-d", "-c"], input=data, stdout=subprocess.PIPE, check=True).stdout
    sys.exit("libvirt-image: no decompressor for format %d" % fmt)


def prefix(o):
    desc = o.description.replace("&", "&amp;").replace("<", "&lt;")
    xml = ("<domain type='qemu'>\n  <name>%s</name>\n  <uuid>%s</uuid>\n  <os><type arch='%s' machine='q35'>hvm</type></os>\n"
           "  <description>%s</description>\n  <memory unit='KiB'>131072</memory>\n"
           "</domain>\n" % (o.name, o.uuid, o.arch, desc)).encode() + b"\0"
    if o.bad_xml:
        xml = b"<domain><name>cut</na\0"
    cookie = b"<qemuDomainSaveCookie>\n  <cpu mode='custom'/>\n</qemuDomainSaveCookie>\n\0"
    data = xml + cookie + b"\0" * o.pad
    end = ">" if o.big_endian else "<"
    head = o.magic.encode() + struct.pack(end + "5I", o.version, len(data), 1 if o.running else 0, o.format,
                                          len(xml)) + b"\0" * 56
    assert len(head) == 92
    return head + data


def fatten(stream, mib):
    """Insert a ram PART section of random pages after the START one."""
    import os
    o = 8
    assert stream[:8] == b"QEVM\0\0\0\3" and stream[o] == 0x07
    o += 1
    (n,) = struct.unpack(">I", stream[o:o + 4])
    o += 4 + n
    while stream[o] == 0x05:  # configuration subsections: capabilities only here
        o += 1
        o += 1 + stream[o] + 4
        (count,) = struct.unpack(">I", stream[o:o + 4])
        o += 4
        for _ in range(count):
            o += 1 + stream[o]
    assert stream[o] == 0x01, "no ram section start"
    (sid,) = struct.unpack(">I", stream[o + 1:o + 5])
    o += 5 + 1 + stream[o + 5] + 8
    (total,) = struct.unpack(">Q", stream[o:o + 8])
    o += 8
    first = None
    left = total & ~0xfff
    while left:
        name = stream[o + 1:o + 1 + stream[o]]
        o += 1 + stream[o]
        (ln,) = struct.unpack(">Q", stream[o:o + 8])
        o += 8
        first = first or (name, ln)
        left -= ln
    assert stream[o:o + 8] == struct.pack(">Q", 0x10) and stream[o + 8] == 0x7e
    o += 13
    name, ln = first
    pages = min(mib << 8, ln >> 12)
    part = bytearray(b"\x02" + struct.pack(">I", sid))
    for i in range(pages):
        part += struct.pack(">Q", (i << 12) | 0x08 | (0x20 if i else 0))
        if i == 0:
            part += bytes([len(name)]) + name
        part += os.urandom(4096)
    part += struct.pack(">Q", 0x10) + b"\x7e" + struct.pack(">I", sid)
    return stream[:o] + bytes(part) + stream[o:]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("action")
    p.add_argument("args", nargs="*")
    p.add_argument("--format", type=int, default=0)
    p.add_argument("--running", action="store_true")
    p.add_argument("--name", default="vs-guest")
    p.add_argument("--uuid", default="6f1c7a52-3d9e-4b8f-a1c2-0d4e5f607182")
    p.add_argument("--description", default="")
    p.add_argument("--arch", default="x86_64")
    p.add_argument("--bad-xml", action="store_true")
    p.add_argument("--magic", default=MAGIC.decode())
    p.add_argument("--version", type=int, default=2)
    p.add_argument("--big-endian", action="store_true")
    p.add_argument("--pad", type=int, default=1000)
    o = p.parse_args()
    if o.action == "header":
        pre = prefix(o)
        open(o.args[0], "wb").write(pre)
        print(len(pre))
    elif o.action == "wrap":
        stream = open(o.args[0], "rb").read()
        open(o.args[1], "wb").write(prefix(o) + compress(o.format, stream))
    elif o.action == "fatten":
        open(o.args[1], "wb").write(fatten(open(o.args[0], "rb").read(), int(o.args[2])))
    elif o.action in ("stream", "prefix"):
        img = open(o.args[0], "rb").read()
        version, data_len, _, fmt = struct.unpack("<4I", img[16:32])
        if version != 2:
            version, data_len, _, fmt = struct.unpack(">4I", img[16:32])
        if o.action == "prefix":
            print(img[:92 + data_len].hex())
        else:
            open(o.args[1], "wb").write(decompress(fmt, img[92 + data_len:]))
    else:
        sys.exit("libvirt-image: header, wrap, stream or prefix")


if __name__ == "__main__":
    main()
