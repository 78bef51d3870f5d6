#!/usr/bin/env python3
"""The vhost-user-fs back-end state inside a QEMU migration file, found
independently of vhost-state (doc/migration-files.md): the chunk list right
after the subsection header 05 15 'vhost-user-fs-backend' be32 0.

  migfile.py payload MIGFILE           print the de-chunked payload as hex
  migfile.py replace MIGFILE HEX OUT   OUT = MIGFILE with the payload replaced
                                       by HEX of the same length (one chunk)
"""
import struct
import sys

HEADER = b"\x05\x15vhost-user-fs-backend\x00\x00\x00\x00"


def chunks(data):
    at = data.find(HEADER)
    if at < 0 or data.find(HEADER, at + 1) >= 0:
        sys.exit("migfile: not exactly one vhost-user-fs-backend subsection")
    pos = at + len(HEADER)
    out = []
    while True:
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        if n == 0:
            return out
        out.append((pos + 4, n))
        pos += 4 + n
        if pos > len(data):
            sys.exit("migfile: chunk list runs past the end")


def main():
    data = open(sys.argv[2], "rb").read()
    cl = chunks(data)
    if sys.argv[1] == "payload":
        print(b"".join(data[p:p + n] for p, n in cl).hex())
    elif sys.argv[1] == "replace":
        new = bytes.fromhex(sys.argv[3])
        if len(cl) != 1 or cl[0][1] != len(new):
            sys.exit("migfile: can only replace one chunk by as many bytes")
        p, n = cl[0]
        open(sys.argv[4], "wb").write(data[:p] + new + data[p + n:])
    else:
        sys.exit("migfile: payload or replace")


if __name__ == "__main__":
    main()
