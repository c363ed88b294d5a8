#!/usr/bin/env python3
"""pyops.py DIR N [DAEMON_PID] -- small-file work as a script does it.

The python workload of scripts/bench-fs: a client that issues requests
slower than tests/tools/fsbench.c (the interpreter runs between system
calls), like the shell tools and scripts people run.  In DIR (created
here), one file at a time through os.open/os.write/os.close:

  write   N files of 100..4096 bytes (O_CREAT|O_TRUNC, one write each)
  stat    os.stat of each, in order, size checked
  read    read back each and compare
  rename  each to a new name
  unlink  each

Prints "PHASE py.<name> <seconds>" per phase and, with DAEMON_PID, also
"CPU py.<name> <microseconds of the daemon's CPU time per file>" (user +
system from /proc/PID/stat, in clock ticks, so 10 ms granularity: use N
of a few thousand).  Any mismatch or failed call ends it with exit 1.
"""
import os
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def daemon_cpu(pid):
    """User + system seconds the process has used so far."""
    if pid is None:
        return 0.0
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK   # utime, stime


BASE = bytes(range(256)) * 17


def content(i):
    size = 100 + (i * 7919) % 3997
    return b"%08d" % i + BASE[i % 256:i % 256 + size - 8]


def run(d, n, pid):
    os.mkdir(d)
    names = [os.path.join(d, "f%06d" % i) for i in range(n)]
    moved = [os.path.join(d, "g%06d" % i) for i in range(n)]

    def write():
        for i, p in enumerate(names):
            fd = os.open(p, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
            os.write(fd, content(i))
            os.close(fd)

    def stat():
        for i, p in enumerate(names):
            if os.stat(p).st_size != len(content(i)):
                sys.exit("pyops: size of %s is wrong" % p)

    def read():
        for i, p in enumerate(names):
            fd = os.open(p, os.O_RDONLY)
            data = os.read(fd, 8192)
            os.close(fd)
            if data != content(i):
                sys.exit("pyops: content of %s differs" % p)

    def rename():
        for p, q in zip(names, moved):
            os.rename(p, q)

    def unlink():
        for q in moved:
            os.unlink(q)
        if os.listdir(d):
            sys.exit("pyops: %s not empty after unlink" % d)

    for name, fn in (("write", write), ("stat", stat), ("read", read),
                     ("rename", rename), ("unlink", unlink)):
        c0 = daemon_cpu(pid)
        t0 = time.monotonic()
        fn()
        secs = time.monotonic() - t0
        print("PHASE py.%s %.6f" % (name, secs), flush=True)
        if pid is not None:
            print("CPU py.%s %.2f" % (name, (daemon_cpu(pid) - c0) * 1e6 / n),
                  flush=True)
    os.rmdir(d)


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: pyops.py DIR N [DAEMON_PID]")
    pid = int(sys.argv[3]) if len(sys.argv) == 4 else None
    run(sys.argv[1], int(sys.argv[2]), pid)


if __name__ == "__main__":
    main()
