#!/usr/bin/env python3
"""vfscompare.py A.json B.json -- are two decoded virtiofsd states (the
"decoded" object of `vhost-state inspect --json`) the same but for the
inodes virtiofsd itself adds while serializing?

B must be saved after A with nothing from the guest in between (the VM
stopped).  virtiofsd's default migration mode (find-paths) looks up the
parent directory of every inode whose parent the guest no longer holds
and puts it into its inode store under a fresh ID for the time of the
save; the next save looks it up again under another ID.  So:

  - handles, next_handle, options and mounts are equal;
  - every inode of B below A's next_inode is in A, with the same ID,
    refcount, status, path and file handle;
  - A's other inodes (its own serialization's) and B's inodes from A's
    next_inode on (B's) match one to one by refcount, status, path and
    file handle, and B's next_inode is A's plus their number;
  - those are parents: each is the parent of an inode in its state, and
    A's have the numbers just below A's next_inode (the last ones taken).

Prints "renumbered N" (exit 0) or "differ: WHY" (exit 1).
"""
import json
import sys


def key(i):
    return (i.get("refcount"), i.get("status"), i.get("path"), json.dumps(i.get("file_handle")))


def compare(a, b):
    for f in ("format", "version", "next_handle", "negotiated", "handles", "mounts"):
        if a.get(f) != b.get(f):
            return "%s: %s -> %s" % (f, json.dumps(a.get(f)), json.dumps(b.get(f)))
    na = a["next_inode"]
    ia = {i["id"]: i for i in a["inodes"]}
    old = [i for i in b["inodes"] if i["id"] < na]
    new = [i for i in b["inodes"] if i["id"] >= na]
    for i in old:
        if i["id"] not in ia or key(ia[i["id"]]) != key(i):
            return "inode %d: %s -> %s" % (i["id"], json.dumps(ia.get(i["id"])), json.dumps(i))
    kept = {i["id"] for i in old}
    gone = [i for i in a["inodes"] if i["id"] not in kept]
    if sorted(key(i) for i in gone) != sorted(key(i) for i in new):
        return "inodes only in A %s, only in B %s" % (gone, new)
    if b["next_inode"] != na + len(new):
        return "next_inode %d -> %d with %d new inodes" % (na, b["next_inode"], len(new))
    if sorted(i["id"] for i in gone) != list(range(na - len(gone), na)):
        return "inodes only in A are not the last numbers below %d: %s" % (na, gone)
    for state, added in ((a, gone), (b, new)):
        parents = {i.get("parent") for i in state["inodes"]}
        for i in added:
            if i["id"] not in parents:
                return "inode %d (%s) is no parent" % (i["id"], i.get("path"))
    return None


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: vfscompare.py A.json B.json")
    with open(argv[0]) as fa, open(argv[1]) as fb:
        a, b = json.load(fa), json.load(fb)
    why = compare(a, b)
    if why:
        print("differ: " + why)
        sys.exit(1)
    print("renumbered %d" % (b["next_inode"] - a["next_inode"]))


if __name__ == "__main__":
    main(sys.argv[1:])
