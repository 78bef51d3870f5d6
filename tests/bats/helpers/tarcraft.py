#!/usr/bin/env python3
"""Hand-made .vhsnap archives for the safety tests (Python's tarfile, not
vhost-state's writer).

  tarcraft.py members GOOD.vhsnap VARIANT OUT
      GOOD's manifest.json and state.vhs rewritten as VARIANT:
      same          the same two members (a control: must be accepted)
      dotdot        manifest.json named ../manifest.json
      absolute      manifest.json named /tmp/manifest.json
      state-dotdot  state.vhs named ../state.vhs
      dup-manifest  manifest.json twice, then state.vhs
      extra         a third member, ../x, after state.vhs
      state-symlink state.vhs a symlink to manifest.json
      state-hardlink state.vhs a hard link to manifest.json
      manifest-symlink manifest.json a symlink to /etc/passwd
      state-dir     state.vhs a directory
      state-fifo    state.vhs a FIFO
  tarcraft.py bomb MANIFEST-FROM CHUNK COUNT OUT
      an uncompressed tar (pipe it through zstd) whose state.vhs is COUNT
      chunks of CHUNK zero bytes and the terminator, with GOOD's manifest
"""
import io
import sys
import tarfile


def member(name, data=b"", kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mtime = 1700000000
    info.mode = 0o644
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, (io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def members(good, variant, out):
    with tarfile.open(good) as t:
        manifest = t.extractfile("manifest.json").read()
        state = t.extractfile("state.vhs").read()
    m = member("manifest.json", manifest)
    s = member("state.vhs", state)
    plans = {
        "same": [m, s],
        "dotdot": [member("../manifest.json", manifest), s],
        "absolute": [member("/tmp/manifest.json", manifest), s],
        "state-dotdot": [m, member("../state.vhs", state)],
        "dup-manifest": [m, member("manifest.json", manifest), s],
        "extra": [m, s, member("../x", b"x")],
        "state-symlink": [m, member("state.vhs", kind=tarfile.SYMTYPE, link="manifest.json")],
        "state-hardlink": [m, member("state.vhs", kind=tarfile.LNKTYPE, link="manifest.json")],
        "manifest-symlink": [member("manifest.json", kind=tarfile.SYMTYPE, link="/etc/passwd"), s],
        "state-dir": [m, member("state.vhs", kind=tarfile.DIRTYPE)],
        "state-fifo": [m, member("state.vhs", kind=tarfile.FIFOTYPE)],
    }
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
        for info, data in plans[variant]:
            # seek back: a member may be listed twice
            if data:
                data.seek(0)
            t.addfile(info, data)


class Repeat:
    """COUNT chunks of CHUNK zero bytes, framed, then the terminator."""

    def __init__(self, chunk, count):
        self.unit = len(chunk.to_bytes(4, "big")) + chunk
        self.pat = (chunk.to_bytes(4, "big") + bytes(chunk)) * (65536 // self.unit + 2)
        self.body = count * self.unit
        self.pos = 0

    def read(self, n):
        """n bytes or up to the end (tarfile wants full reads)."""
        parts = []
        while n > 0 and self.pos < self.body + 4:
            if self.pos < self.body:
                off = self.pos % self.unit
                k = min(n, self.body - self.pos, len(self.pat) - off)
                out = self.pat[off:off + k]
            else:
                out = bytes(min(n, self.body + 4 - self.pos))
            self.pos += len(out)
            n -= len(out)
            parts.append(out)
        return b"".join(parts)


def bomb(good, chunk, count, out):
    with tarfile.open(good) as t:
        manifest = t.extractfile("manifest.json").read()
    unit = 4 + chunk
    size = count * unit + 4
    info, data = member("manifest.json", manifest)
    sink = sys.stdout.buffer if out == "-" else open(out, "wb")
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as t:
        t.addfile(info, data)
        s = tarfile.TarInfo("state.vhs")
        s.size = size
        s.mtime = 1700000000
        t.addfile(s, Repeat(chunk, count))


def main():
    if sys.argv[1] == "members":
        members(sys.argv[2], sys.argv[3], sys.argv[4])
    elif sys.argv[1] == "bomb":
        bomb(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    else:
        sys.exit("tarcraft.py: members or bomb")


if __name__ == "__main__":
    main()
