#!/bin/sh
# preflight.sh — `vhost-state preflight` of a 100,000-inode virtiofsd state
# (a root, 1,000 directories of 99-100 files, a read handle on every 10th
# file) against a shared directory holding all of it, beside baselines on
# the same tree in the same run:
#   find DIR -printf '%m'   reads every directory and stats every file
#   find DIR                reads every directory (no per-file stat)
# Wall and CPU (user + system) time, medians of BENCH_PREFLIGHT_RUNS
# (default 11) alternating runs after one warm-up, with min-max.  The
# target is a wall median under 50 ms.  The destination is taken to run
# with --rlimit-nofile=1000000: 100,000 inodes need more descriptors than
# many default limits leave (preflight says so without it).
#
# Environment: VHOST_STATE, VS_SRCDIR, BENCH_TMPDIR (default /var/tmp),
# BENCH_PREFLIGHT_RUNS, BENCH_PREFLIGHT_INODES (default 100000).
set -eu

VS=${VHOST_STATE:?}
SRC=${VS_SRCDIR:?}
RUNS=${BENCH_PREFLIGHT_RUNS:-11}
INODES=${BENCH_PREFLIGHT_INODES:-100000}
work=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/vs-bench-preflight.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

mkdir "$work/share"
/usr/bin/python3 "$SRC/tests/bats/helpers/vfsstate.py" --mkdir "$work/share" --tree "$INODES" >"$work/state.vhs"
"$VS" -q preflight "$work/state.vhs" --shared-dir "$work/share" --rlimit-nofile 1000000 ||
	{ echo "preflight: the generated state does not restore ($?)" >&2; exit 1; }

/usr/bin/python3 - "$RUNS" "$VS" "$work" "$INODES" <<'PY'
import os, resource, statistics, subprocess, sys, time

runs, vs, work, inodes = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
share = work + "/share"
cases = [
    ("vhost-state preflight", [vs, "-q", "preflight", work + "/state.vhs", "--shared-dir", share,
                               "--rlimit-nofile", "1000000"]),
    ("find DIR -printf '%m'", ["find", share, "-printf", "%m\n"]),
    ("find DIR", ["find", share]),
]
res = {name: ([], []) for name, _ in cases}

def once(argv):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
    t1 = time.monotonic()
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return (t1 - t0) * 1000, cpu * 1000

for _, argv in cases:
    once(argv)  # warm-up: page cache, dentries
for _ in range(runs):
    for name, argv in cases:
        wall, cpu = once(argv)
        res[name][0].append(wall)
        res[name][1].append(cpu)

def fmt(v):
    return "%7.1f ms (%.1f-%.1f)" % (statistics.median(v), min(v), max(v))

print("preflight of a %d-inode state (%d runs; wall and CPU medians, min-max):" % (inodes, runs))
print("  %-24s %-28s %s" % ("case", "wall", "cpu (user+sys)"))
for name, _ in cases:
    print("  %-24s %-28s %s" % (name, fmt(res[name][0]), fmt(res[name][1])))
pf = statistics.median(res["vhost-state preflight"][0])
pc = statistics.median(res["vhost-state preflight"][1])
for name in ("find DIR -printf '%m'", "find DIR"):
    print("  ratio %-18s wall %.2f, cpu %.2f" % (
        name + ":", statistics.median(res[name][0]) / pf, statistics.median(res[name][1]) / pc))
print("  target: wall median under 50 ms: %s (%.1f ms; cpu %.1f ms)" % ("met" if pf < 50 else "NOT MET", pf, pc))
print("  load average at the end: %s (wall above cpu means waiting for a core)" %
      " ".join(open("/proc/loadavg").read().split()[:3]))
PY
