#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets (corpus/<target>/).

The generated files are checked in; run this again after changing a
target's input format:  python3 tests/fuzz/gen-seeds.py
"""
import os
import shutil
import struct
import subprocess
import sys

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


if __name__ == "__main__":
    chunk_seeds()
    reply_seeds()
