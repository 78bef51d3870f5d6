#!/usr/bin/env python3
"""flood.py VHOST_STATE DIR SECONDS -- a back-end that floods replies at a
proxy whose front-end never reads; prints the proxy's peak RSS in KiB.

Without backpressure the proxy would queue everything it reads."""
import socket
import struct
import subprocess
import sys
import time

vs, d, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
be_path, fe_path = d + "/flood-be.sock", d + "/flood-fe.sock"
ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
ls.bind(be_path)
ls.listen(1)
ls.settimeout(10)
px = subprocess.Popen([vs, "proxy", "--listen", fe_path, "--connect", be_path, "--log", "/dev/null"],
                      stderr=subprocess.DEVNULL)
try:
    be, _ = ls.accept()
    # the socket file appears at bind(), before listen(): a connect in
    # between is refused (seen under check-stress's load), so retry it
    deadline = time.monotonic() + 10
    while True:
        fe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        fe.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        try:
            fe.connect(fe_path)
            break
        except (FileNotFoundError, ConnectionRefusedError):
            fe.close()
            if time.monotonic() > deadline:
                sys.exit("flood.py: the proxy did not listen")
            time.sleep(0.01)
    # 60000-byte replies, sent as fast as the proxy takes them
    msg = struct.pack("<III", 24, 0x5, 60000) + b"\0" * 60000
    be.setblocking(False)
    buf, peak = b"", 0
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        if not buf:
            buf = msg * 16
        try:
            buf = buf[be.send(buf):]
        except BlockingIOError:
            time.sleep(0.001)
        for line in open("/proc/%d/status" % px.pid):
            if line.startswith("VmRSS"):
                peak = max(peak, int(line.split()[1]))
    print(peak)
finally:
    px.kill()
    px.wait()
