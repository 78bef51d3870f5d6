#!/usr/bin/env python3
"""A scripted vhost-user front-end for the proxy tests, every wait bounded.

  vu-client.py SOCK STEP...

Steps, in order on one connection:
  hello          GET_FEATURES, GET/SET_PROTOCOL_FEATURES (as offered), SET_OWNER
  kick:N         SET_VRING_KICK(N) with an eventfd: ring N may start
  kick-set:N     the same with the eventfd already signalled, as QEMU's are
  enable:N       SET_VRING_ENABLE(N, 1) with NEED_REPLY; prints "enable N ACK"
  stop:N         GET_VRING_BASE(N): ring N stops; prints "base N M"
  sh:COMMAND     run COMMAND with sh; prints "sh EXIT-STATUS" and its output
  save-start     SET_DEVICE_STATE_FD (SAVE, stopped) with a pipe; prints "save-start REPLY"
  save-read:FILE read the pipe of save-start to its end into FILE
  check          CHECK_DEVICE_STATE; prints "check RESULT"
  oversize       a header announcing a 1 MiB payload (more than any peer takes)
  partial        the first 6 bytes of a header, then nothing
  sleep:SECONDS  wait
"""
import os
import select
import socket
import struct
import subprocess
import sys
import time

TIMEOUT = float(os.environ.get("VU_TIMEOUT", "10"))
REPLY = 0x4
NEED_REPLY = 0x8


class Conn:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(TIMEOUT)
        self.s.connect(path)

    def send(self, req, payload=b"", fds=(), flags=1):
        msg = struct.pack("=III", req, flags, len(payload)) + payload
        if fds:
            socket.send_fds(self.s, [msg], list(fds))
        else:
            self.s.sendall(msg)

    def recv_exact(self, n):
        b = b""
        while len(b) < n:
            d = self.s.recv(n - len(b))
            if not d:
                sys.exit("vu-client: the peer closed the connection")
            b += d
        return b

    def reply(self, req):
        code, flags, size = struct.unpack("=III", self.recv_exact(12))
        if code != req or not flags & REPLY:
            sys.exit("vu-client: unexpected reply %d flags %#x to %d" % (code, flags, req))
        return self.recv_exact(size)

    def u64(self, req):
        return struct.unpack("=Q", self.reply(req))[0]


def main():
    c = Conn(sys.argv[1])
    kicks = []
    for step in sys.argv[2:]:
        name, _, arg = step.partition(":")
        if name == "hello":
            c.send(1)
            features = c.u64(1)
            c.send(15)
            offered = c.u64(15)
            c.send(16, struct.pack("=Q", offered))
            c.send(3)
            c.send(1)
            c.u64(1)
            print("hello features %#x protocol %#x" % (features, offered))
        elif name in ("kick", "kick-set"):
            fd = os.eventfd(1 if name == "kick-set" else 0, os.EFD_CLOEXEC)
            kicks.append(fd)
            c.send(12, struct.pack("=Q", int(arg)), [fd])
            print("kick", arg)
        elif name == "enable":
            c.send(18, struct.pack("=II", int(arg), 1), flags=1 | NEED_REPLY)
            print("enable", arg, c.u64(18))
        elif name == "stop":
            c.send(11, struct.pack("=II", int(arg), 0))
            index, num = struct.unpack("=II", c.reply(11))
            print("base", index, num)
        elif name == "sh":
            p = subprocess.run(arg, shell=True, capture_output=True, text=True, timeout=TIMEOUT)
            print("sh", p.returncode)
            sys.stdout.write(p.stdout + p.stderr)
        elif name == "save-start":
            r, w = os.pipe()
            c.send(42, struct.pack("=II", 0, 0), [w])
            os.close(w)
            save_fd = r
            print("save-start", c.u64(42))
        elif name == "save-read":
            with open(arg, "wb") as out:
                while True:
                    ready, _, _ = select.select([save_fd], [], [], TIMEOUT)
                    if not ready:
                        sys.exit("vu-client: the state pipe stayed silent")
                    b = os.read(save_fd, 65536)
                    if not b:
                        break
                    out.write(b)
            os.close(save_fd)
            print("save-read", os.path.getsize(arg))
        elif name == "load-start":
            r, w = os.pipe()
            c.send(42, struct.pack("=II", 1, 0), [r])
            os.close(r)
            load_fd = w
            print("load-start", c.u64(42))
        elif name == "load-write":
            # a chunk that announces more than follows: a LOAD cut short
            n = int(arg)
            os.write(load_fd, struct.pack(">I", 2 * n))
            data = bytes(n)
            while data:
                data = data[os.write(load_fd, data):]
            print("load-write", n)
        elif name == "check":
            c.send(43)
            print("check", c.u64(43))
        elif name == "oversize":
            c.send(1, b"", flags=1)  # a good one first: the relay works
            c.u64(1)
            c.s.sendall(struct.pack("=III", 2, 1, 1 << 20))
            print("oversize sent")
        elif name == "partial":
            c.s.sendall(struct.pack("=III", 1, 1, 0)[:6])
            print("partial sent")
        elif name == "sleep":
            time.sleep(float(arg))
        else:
            sys.exit("vu-client: unknown step " + step)
        sys.stdout.flush()
    for fd in kicks:
        os.close(fd)


if __name__ == "__main__":
    main()
