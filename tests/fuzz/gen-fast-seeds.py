#!/usr/bin/env python3
"""Seeds of the fast targets (tests/fuzz/corpus/NAME-fast/), derived from
the differential targets' seeds: the same files with the fast target's
leading mode byte where it has one.  Run from the source tree's top; it
only adds files (fuzz-long keeps the directories minimised).  With
--normalise-zstd it rewrites corpus/container-zstd-fast/ instead, each
frame asking for a window over 2^14 bytes compressed again with that
window (needs the zstd command, as the zstd seeds do).

  chunk-fast      mode byte (bit 7: the source hands out 1..128 bytes at a
                  time) + a stream
  container-fast  mode byte (even: a manifest; odd: a container, bit 7:
                  512-byte reads) + the bytes; zstd-compressed ones go to
  container-zstd-fast  mode byte (bit 7: 512-byte reads) + the zstd frame
                  without its magic
  migfile-fast    a migration file, as is
  payload-fast    a de-chunked payload (virtiofsd and passt states)
  decode-fast     a payload, as fuzz-decode's seeds
  reply-fast      a back-end's byte stream, native-endian (x86) messages
"""
import hashlib
import os
import struct
import subprocess
import sys

C = "tests/fuzz/corpus"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


# fuzz-container-zstd-fast clamps a frame's window to 2^14 bytes (see
# WINDOW_LOG_CAP there): its seeds are written with that window, so the
# clamp changes nothing for them.
ZSTD_WINDOW_LOG = 14


def zstd_window(frame):
    """The window a frame's header asks for; None for a single-segment
    frame (its content size is the window) or a short one."""
    if len(frame) < 6 or frame[4] & 0x20:
        return None
    base = 1 << (10 + (frame[5] >> 3))
    return base + (base >> 3) * (frame[5] & 7)


def small_window(frame):
    """frame (magic first) with a window of at most 2^ZSTD_WINDOW_LOG and
    the same content: a frame that decodes whole is compressed again with
    the zstd command and that window (checksum flag kept); one that does
    not (a cut input) becomes what it decodes to in raw blocks of at most
    the window, none of them the last, so that it is about as long and
    again ends where the decoder wants more."""
    w = zstd_window(frame)
    if w is None or w <= 1 << ZSTD_WINDOW_LOG or w > 1 << 27:
        return frame
    d = subprocess.run(["zstd", "-dcq"], input=frame, capture_output=True)
    if d.returncode == 0:
        return subprocess.run(["zstd", "-cq", "--no-content-size", "--zstd=wlog=%d" % ZSTD_WINDOW_LOG] +
                              ([] if frame[4] & 0x04 else ["--no-check"]), input=d.stdout,
                              capture_output=True, check=True).stdout
    out = bytearray(ZSTD_MAGIC + bytes([frame[4] & 0x04, (ZSTD_WINDOW_LOG - 10) << 3]))
    content = d.stdout
    for off in range(0, len(content), 1 << ZSTD_WINDOW_LOG):
        block = content[off:off + (1 << ZSTD_WINDOW_LOG)]
        out += (len(block) << 3).to_bytes(3, "little") + block
    return bytes(out)


def normalise_zstd_corpus():
    """Rewrite corpus/container-zstd-fast/ in place with small_window
    (files named by their SHA-1, as libFuzzer names them)."""
    d = os.path.join(C, "container-zstd-fast")
    for name in sorted(os.listdir(d)):
        data = open(os.path.join(d, name), "rb").read()
        if not data:
            continue
        new = data[:1] + small_window(ZSTD_MAGIC + data[1:])[4:]
        if new == data:
            continue
        os.unlink(os.path.join(d, name))
        with open(os.path.join(d, hashlib.sha1(new).hexdigest()), "wb") as f:
            f.write(new)


def put(target, name, data):
    d = os.path.join(C, target + "-fast")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def payload(stream):
    out, off = b"", 0
    while off + 4 <= len(stream):
        n = struct.unpack(">I", stream[off:off + 4])[0]
        off += 4
        if n == 0:
            break
        out += stream[off:off + n]
        off += n
    return out


def reply(code, value):
    return struct.pack("<IIIQ", code, 5, 8, value)


def main():
    for name in sorted(os.listdir(os.path.join(C, "chunk"))):
        data = open(os.path.join(C, "chunk", name), "rb").read()
        put("chunk", name, b"\x00" + data)
        put("chunk", name + ".step3", b"\x82" + data)
        if not name.endswith(".zst"):
            put("payload", name, payload(data))
    for name in sorted(os.listdir(os.path.join(C, "container"))):
        data = open(os.path.join(C, "container", name), "rb").read()
        if name.endswith(".json"):
            put("container", name, b"\x00" + data)
        elif data[:4] == ZSTD_MAGIC:
            data = small_window(data)
            put("container-zstd", name, b"\x01" + data[4:])
            put("container-zstd", name + ".step512", b"\x81" + data[4:])
        else:
            put("container", name, b"\x01" + data)
            put("container", name + ".step512", b"\x81" + data)
    for name in sorted(os.listdir(os.path.join(C, "decode"))):
        put("decode", name, open(os.path.join(C, "decode", name), "rb").read())
    for name in sorted(os.listdir(os.path.join(C, "migfile"))):
        put("migfile", name, open(os.path.join(C, "migfile", name), "rb").read())
    # passt's idle state (header, observed addresses, no flows)
    put("payload", "passt-idle", bytes.fromhex(
        "b1bb1d1b0bb1d1b00000000200000002fd000000000000000000000000000002"
        "00000000000000000000000000000000c0000202ffffffffffff000000000000"
        "0000"))
    # no protocol features: the handshake ends at SET_OWNER
    put("reply", "no-protocol-features", reply(1, 1 << 32))
    # PROTOCOL_FEATURES and DEVICE_STATE only (no REPLY_ACK, no MQ): the
    # back-end keeps its own fd (bit 8) and CHECK returns 0
    put("reply", "device-state", reply(1, 1 << 32 | 1 << 30) + reply(15, 1 << 19) +
        reply(42, 1 << 8) + reply(43, 0))
    # with REPLY_ACK: every request that has no reply of its own is acked
    put("reply", "reply-ack", reply(1, 1 << 32 | 1 << 30) + reply(15, 1 << 19 | 1 << 3) +
        reply(16, 0) + reply(3, 0) + reply(42, 1 << 8) + reply(43, 0))


if __name__ == "__main__":
    if sys.argv[1:] == ["--normalise-zstd"]:
        normalise_zstd_corpus()
    else:
        main()
