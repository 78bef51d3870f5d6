#!/usr/bin/env python3
"""Write a virtiofsd 1.13 state (postcard, PassthroughFs V1/V2) as QEMU's
raw chunk stream, from a list of words:

  root                      inode 1, the root node
  path:ID:PARENT:NAME       inode ID at NAME under inode PARENT
  pathhex:ID:PARENT:HEX     the same with the name's bytes in hex
  full:ID:NAME              inode ID at NAME under the shared directory
  invalid:ID                inode ID, already lost on the source
  fh:ID:MNT:TYPE:HEX        inode ID by file handle on mount id MNT
  ...+rec=MNT:TYPE:HEX      (suffix to any inode) a recorded file handle
  ...+ref=N                 (suffix) refcount N; by default one lookup
                            (two for the root) plus one per inode under
                            it by path, as virtiofsd counts
  handle:ID:INODE:FLAGS     handle ID open on INODE with open(2) FLAGS
  mount:ID:PATH             a mount path (V2 only)
  --v1 | --writeback        version 1 / the writeback option on
  --trailing HEX            bytes after the state (virtiofsd ignores them)
  --tree N                  N inodes: 1 root, directories d0..d{N/100},
                            100 files in each (names f0..f99), one
                            read handle per 10th file; with --mkdir DIR
                            the files are created too

Usage: vfsstate.py WORD... > STATE
"""
import os
import struct
import sys


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def zigzag(v):
    return (v << 1) ^ (v >> 31)


def string(s):
    b = s.encode()
    return varint(len(b)) + b


def fhandle(spec):
    mnt, typ, hexbytes = spec.split(":", 2)
    b = bytes.fromhex(hexbytes)
    return varint(int(mnt)) + varint(zigzag(int(typ, 0))) + varint(len(b)) + b


def inode(word):
    """(id, parent or None, refcount or None, location bytes, recorded)"""
    rec = ref = None
    if "+ref=" in word:
        word, ref = word.split("+ref=", 1)
        ref = int(ref)
    if "+rec=" in word:
        word, rec = word.split("+rec=", 1)
    kind, _, rest = word.partition(":")
    parent = None
    if kind == "root":
        iid, loc = 1, varint(0)
    elif kind == "path":
        iid, parent, name = rest.split(":", 2)
        parent = int(parent)
        loc = varint(1) + varint(parent) + string(name)
    elif kind == "pathhex":
        iid, parent, name = rest.split(":", 2)
        parent = int(parent)
        b = bytes.fromhex(name)
        loc = varint(1) + varint(parent) + varint(len(b)) + b
    elif kind == "invalid":
        iid, loc = rest, varint(2)
    elif kind == "full":
        iid, name = rest.split(":", 1)
        loc = varint(3) + string(name)
    elif kind == "fh":
        iid, spec = rest.split(":", 1)
        loc = varint(4) + fhandle(spec)
    else:
        sys.exit(f"vfsstate.py: unknown word '{word}'")
    tail = varint(1) + fhandle(rec) if rec else varint(0)
    return (int(iid), parent, ref, loc, tail)


def encode(inodes):
    children = {}
    for iid, parent, _, _, _ in inodes:
        if parent is not None:
            children[parent] = children.get(parent, 0) + 1
    out = b""
    for iid, parent, ref, loc, tail in inodes:
        if ref is None:
            ref = (2 if iid == 1 else 1) + children.get(iid, 0)
        out += varint(iid) + varint(ref) + loc + tail
    return out


def main(argv):
    v1 = writeback = False
    inodes, handles, mounts = [], [], []
    mkdir = None
    trailing = b""
    i = 0
    while i < len(argv):
        w = argv[i]
        if w == "--v1":
            v1 = True
        elif w == "--writeback":
            writeback = True
        elif w == "--trailing":
            i += 1
            trailing = bytes.fromhex(argv[i])
        elif w == "--mkdir":
            i += 1
            mkdir = argv[i]
        elif w == "--tree":
            i += 1
            n = int(argv[i])
            inodes.append(inode("root"))
            nid, ndirs = 2, max(1, -(-(n - 1) // 101))
            made = 1
            for d in range(ndirs):
                if made >= n:
                    break
                did = nid
                nid += 1
                inodes.append(inode(f"path:{did}:1:d{d}"))
                made += 1
                if mkdir:
                    os.makedirs(f"{mkdir}/d{d}", exist_ok=True)
                for f in range(100):
                    if made >= n:
                        break
                    inodes.append(inode(f"path:{nid}:{did}:f{f}"))
                    if mkdir:
                        open(f"{mkdir}/d{d}/f{f}", "w").close()
                    if f % 10 == 0:
                        handles.append((len(handles), nid, 0))
                    nid += 1
                    made += 1
        elif w.startswith("handle:"):
            _, hid, ino, flags = w.split(":")
            handles.append((int(hid), int(ino), int(flags, 0)))
        elif w.startswith("mount:"):
            _, mid, path = w.split(":", 2)
            mounts.append((int(mid), path))
        else:
            inodes.append(inode(w))
        i += 1
    body = varint(len(inodes)) + encode(inodes) + varint(10**6)
    body += varint(len(handles))
    for hid, ino, flags in handles:
        body += varint(hid) + varint(ino) + varint(0) + varint(zigzag(flags))
    body += varint(len(handles) + 10) + bytes([1 if writeback else 0, 0, 0, 0])
    if v1:
        payload = varint(0) + body
    else:
        payload = varint(1) + body + varint(len(mounts))
        for mid, path in mounts:
            payload += varint(mid) + string(path)
    payload += trailing
    out = bytearray()
    for off in range(0, len(payload), 65536):
        chunk = payload[off:off + 65536]
        out += struct.pack(">I", len(chunk)) + chunk
    out += struct.pack(">I", 0)
    sys.stdout.buffer.write(out)


if __name__ == "__main__":
    main(sys.argv[1:])
