#!/usr/bin/env python3
"""A tiny QMP client for the tests, every wait bounded.

  qmp.py SOCK COMMAND [ARGS-JSON]     run one command, print its "return" as JSON
  qmp.py SOCK migrate URI             migrate, wait until completed (exit 1 if failed)
  qmp.py SOCK migrate-incoming URI    the same for an incoming migration
  qmp.py SOCK wait-status STATUS      wait until query-status says STATUS

Environment: QMP_TIMEOUT (seconds, default 20) bounds the whole run.
"""
import json
import os
import socket
import sys
import time

DEADLINE = time.monotonic() + float(os.environ.get("QMP_TIMEOUT", "20"))


def left():
    t = DEADLINE - time.monotonic()
    if t <= 0:
        sys.exit("qmp: timed out")
    return t


class QMP:
    def __init__(self, path):
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.s.settimeout(left())
                self.s.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                self.s.close()
                left()
                time.sleep(0.05)
        self.buf = b""
        self.read()  # greeting
        self.cmd("qmp_capabilities")

    def read(self):
        while b"\n" not in self.buf:
            self.s.settimeout(left())
            data = self.s.recv(65536)
            if not data:
                sys.exit("qmp: QEMU closed the connection")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, args=None):
        msg = {"execute": name}
        if args is not None:
            msg["arguments"] = args
        self.s.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self.read()
            if "return" in r:
                return r["return"]
            if "error" in r:
                sys.exit("qmp: %s: %s" % (name, r["error"].get("desc", r["error"])))
            # an event: ignore


def wait_migration(q):
    while True:
        st = q.cmd("query-migrate")
        status = st.get("status")
        if status == "completed":
            print(json.dumps(st))
            return
        if status in ("failed", "cancelled"):
            sys.exit("qmp: migration %s: %s" % (status, st.get("error-desc", "")))
        left()
        time.sleep(0.05)


def main():
    path, name = sys.argv[1], sys.argv[2]
    q = QMP(path)
    if name == "migrate":
        q.cmd("migrate", {"uri": sys.argv[3]})
        wait_migration(q)
    elif name == "migrate-incoming":
        q.cmd("migrate-incoming", {"uri": sys.argv[3]})
        wait_migration(q)
    elif name == "wait-status":
        while q.cmd("query-status").get("status") != sys.argv[3]:
            left()
            time.sleep(0.05)
    else:
        args = json.loads(sys.argv[3]) if len(sys.argv) > 3 else None
        print(json.dumps(q.cmd(name, args)))


if __name__ == "__main__":
    main()
