#!/usr/bin/env python3
"""qmp.py SOCKET ACTION [ARG] -- drive a QEMU through QMP, every wait bounded.

Actions:
  migrate FILE|URI    save the VM to file:FILE (or URI), wait until completed
  incoming FILE|URI   migrate-incoming from it (exit-on-error off), wait
  migrate-incoming    the same as incoming
  wait-status STATUS  wait until query-status says STATUS
  quit                ask QEMU to quit
  status              print the run state
  COMMAND [ARGS-JSON] any other QMP command: print its "return" as JSON

Exit 0 when the migration completed; 1 when it failed (QEMU's error is
printed); 2 on a QMP or timeout problem.  QMP_TIMEOUT (seconds, default 20)
bounds the whole action.
"""
import json
import os
import socket
import sys
import time

DEADLINE = time.monotonic() + float(os.environ.get("QMP_TIMEOUT", "20"))


def die(msg):
    print("qmp.py: " + msg, file=sys.stderr)
    sys.exit(2)


class QMP:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        while True:
            try:
                self.sock.settimeout(max(0.1, DEADLINE - time.monotonic()))
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > DEADLINE:
                    die("no QMP socket at %s" % path)
                time.sleep(0.05)
        self.buf = b""
        self.events = []
        greeting = self.read()
        if "QMP" not in greeting:
            die("no QMP greeting: %r" % greeting)
        self.execute("qmp_capabilities")

    def read(self):
        while b"\n" not in self.buf:
            left = DEADLINE - time.monotonic()
            if left <= 0:
                die("timed out waiting for QMP")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                die("timed out waiting for QMP")
            if not data:
                die("QEMU closed the QMP connection")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def execute(self, cmd, args=None):
        msg = {"execute": cmd}
        if args is not None:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self.read()
            if "event" in r:
                self.events.append(r)
                continue
            if "error" in r:
                return r
            return r

    def wait_migration(self):
        while True:
            r = self.execute("query-migrate")
            st = r.get("return", {}).get("status")
            if st == "completed":
                return 0
            if st == "failed":
                print("migration failed: %s" % r["return"].get("error-desc", "?"), file=sys.stderr)
                return 1
            if time.monotonic() > DEADLINE:
                die("timed out: migration still %s" % st)
            time.sleep(0.05)


def as_uri(arg):
    # "file:/x", "exec:..." pass through; a plain path becomes file:PATH
    if arg.split("/", 1)[0].endswith(":") or ":" in arg.split("/", 1)[0]:
        return arg
    return "file:" + os.path.abspath(arg)


def main():
    if len(sys.argv) < 3:
        die("usage: qmp.py SOCKET ACTION [ARG] (see the top of qmp.py)")
    q = QMP(sys.argv[1])
    action = sys.argv[2]
    if action == "migrate-incoming":
        action = "incoming"
    if action in ("migrate", "incoming"):
        uri = as_uri(sys.argv[3])
        if action == "migrate":
            r = q.execute("migrate", {"uri": uri})
        else:
            r = q.execute("migrate-incoming", {"uri": uri, "exit-on-error": False})
        if "error" in r:
            print("%s refused: %s" % (action, r["error"].get("desc")), file=sys.stderr)
            sys.exit(1)
        sys.exit(q.wait_migration())
    elif action == "quit":
        q.execute("quit")
    elif action == "status":
        print(q.execute("query-status")["return"]["status"])
    elif action == "wait-status":
        while q.execute("query-status").get("return", {}).get("status") != sys.argv[3]:
            if time.monotonic() > DEADLINE:
                die("timed out waiting for run state %s" % sys.argv[3])
            time.sleep(0.05)
    else:
        args = json.loads(sys.argv[3]) if len(sys.argv) > 3 else None
        r = q.execute(action, args)
        if "error" in r:
            print("%s: %s" % (action, r["error"].get("desc")), file=sys.stderr)
            sys.exit(1)
        print(json.dumps(r.get("return")))


main()
