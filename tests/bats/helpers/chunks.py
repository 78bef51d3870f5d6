#!/usr/bin/env python3
"""An independent model of QEMU's raw stream, to check vhost-state against.

chunks.py frame [SIZE]  stdin payload -> stdout stream, SIZE-byte chunks (default 1 MiB)
chunks.py payload       stdin stream  -> stdout payload (strict)
chunks.py sizes         stdin stream  -> chunk lengths, one per line, terminator included
"""
import struct
import sys


def read_chunks(data):
    off = 0
    while True:
        if off + 4 > len(data):
            sys.exit(f"truncated length at offset {off}")
        (n,) = struct.unpack_from(">I", data, off)
        off += 4
        if n == 0:
            if off != len(data):
                sys.exit(f"trailing bytes at offset {off}")
            yield 0, b""
            return
        if off + n > len(data):
            sys.exit(f"truncated chunk at offset {off}")
        yield n, data[off:off + n]
        off += n


def main():
    mode = sys.argv[1]
    data = sys.stdin.buffer.read()
    out = sys.stdout.buffer
    if mode == "frame":
        size = int(sys.argv[2]) if len(sys.argv) > 2 else 1 << 20
        for i in range(0, len(data), size):
            piece = data[i:i + size]
            out.write(struct.pack(">I", len(piece)) + piece)
        out.write(b"\0\0\0\0")
    elif mode == "payload":
        for _, piece in read_chunks(data):
            out.write(piece)
    elif mode == "sizes":
        for n, _ in read_chunks(data):
            out.write(f"{n}\n".encode())
    else:
        sys.exit(__doc__)


main()
