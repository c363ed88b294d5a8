#!/usr/bin/env python3
"""crash_workload.py — the workload and the checker of scripts/crash-test.

  crash_workload.py run    DIR LOG SEED [nosync]   # mutate DIR until killed
  crash_workload.py verify DIR LOG        # DIR matches what LOG says is durable
  crash_workload.py cut-wal FILE BYTES    # zero a WAL's last BYTES of records

One `run` process owns one directory DIR on the mount; several run side by
side.  Each operation is logged to LOG (a file OUTSIDE the mount, so it
survives the daemon's death) in two steps:

    I <op> <args...>     before the operation starts   (intent)
    D                    after every fsync it needs has returned   (done)

Every operation ends with the fsyncs that make it durable by POSIX rules:
the file itself after writing or truncating it, and each directory whose
entries changed.  So after a crash:
  - every operation with a D record must be visible, exactly;
  - the one operation with an I and no D (there is at most one, the log is
    sequential) may be visible or not, as a whole (see `pending` below);
  - nothing else may be there: no lost file, no resurrected name, no extra
    name, no wrong byte.

File contents are a pure function of (seed, offset) (`content`), half
random and half compressible, so the checker regenerates them instead of
storing hashes and can check any prefix.

Operations (paths relative to DIR; "." is DIR itself):
    mkdir P            mkdir, fsync parent
    rmdir P            rmdir of an empty directory, fsync parent
    create P SEED N    create, write N bytes, fsync file, fsync parent
    append N           append to the append-only log file "alog" (created by
                       the first append) so that its size becomes N; fsync
    trunc P N          ftruncate to N (down or up), fsync file
    rename P Q         rename (Q may be an existing file: replaced
                       atomically; P may be a directory), fsync both parents
    link P Q           hard link, fsync parent of Q
    unlink P           unlink, fsync parent

With `nosync` no fsync is made at all: an operation is done once its
calls have returned and its files are closed.  That is what the crash of
scripts/crash-test (kill -9 of the daemon, not power loss) must keep
just the same: the kernel hands a closed file's cached data to the daemon
at close(2), and the daemon acknowledges nothing it has not written to
the kernel.  The checker is the same for both.

The pending operation's alternatives the checker accepts: the state
without it, or with it applied; for `create`, a file at P with any
content (the data was not fsynced); for `append`, an alog whose size is
anywhere from the old to the new size, the old bytes intact and each new
byte either written or zero (writeback may reach the store out of order,
leaving a hole).
"""
import errno
import hashlib
import os
import random
import stat
import sys

ALOG = "alog"
ALOG_SEED = 7
BLOCK = 4096


def block_bytes(seed, b):
    """Block b of the stream for seed: random or a repeated 16-byte pattern."""
    h = hashlib.shake_128(b"%d:%d" % (seed, b))
    if (seed + b) % 2:
        return h.digest(16) * (BLOCK // 16)
    return h.digest(BLOCK)


def content(seed, off, n):
    """Bytes [off, off + n) of the stream for seed."""
    out = bytearray()
    b = off // BLOCK
    skip = off % BLOCK
    while len(out) < n + skip:
        out += block_bytes(seed, b)
        b += 1
    return bytes(out[skip:skip + n])


def parent(p):
    d = os.path.dirname(p)
    return d if d else "."


class Model:
    """The tree one worker expects: names -> ("d",) or ("f", fid);
    files[fid] = [seed, clen, size]: bytes [0, clen) are content(seed),
    bytes [clen, size) are zeros."""

    def __init__(self):
        self.names = {".": ("d",)}
        self.files = {}
        self.next_fid = 0

    def copy(self):
        m = Model()
        m.names = dict(self.names)
        m.files = {k: list(v) for k, v in self.files.items()}
        m.next_fid = self.next_fid
        return m

    def fid(self, p):
        e = self.names.get(p)
        return e[1] if e and e[0] == "f" else None

    def nlink(self, fid):
        return sum(1 for e in self.names.values() if e == ("f", fid))

    def drop_name(self, p):
        e = self.names.pop(p)
        if e[0] == "f" and self.nlink(e[1]) == 0:
            del self.files[e[1]]

    def apply(self, op):
        kind, a = op[0], op[1:]
        if kind == "mkdir":
            self.names[a[0]] = ("d",)
        elif kind == "rmdir":
            del self.names[a[0]]
        elif kind == "create":
            fid = self.next_fid
            self.next_fid += 1
            n = int(a[2])
            self.files[fid] = [int(a[1]), n, n]
            self.names[a[0]] = ("f", fid)
        elif kind == "append":
            fid = self.fid(ALOG)
            if fid is None:
                fid = self.next_fid
                self.next_fid += 1
                self.files[fid] = [ALOG_SEED, 0, 0]
                self.names[ALOG] = ("f", fid)
            n = int(a[0])
            self.files[fid][1] = self.files[fid][2] = n
        elif kind == "trunc":
            f = self.files[self.fid(a[0])]
            n = int(a[1])
            f[1] = min(f[1], n)
            f[2] = n
        elif kind == "rename":
            src, dst = a
            e = self.names[src]
            if src == dst or (e[0] == "f" and self.names.get(dst) == e):
                return               # same file: rename(2) does nothing
            if dst in self.names:
                self.drop_name(dst)
            del self.names[src]
            self.names[dst] = e
            if e[0] == "d":
                pre = src + "/"
                for p in [p for p in self.names if p.startswith(pre)]:
                    self.names[dst + "/" + p[len(pre):]] = self.names.pop(p)
        elif kind == "link":
            self.names[a[1]] = self.names[a[0]]
        elif kind == "unlink":
            self.drop_name(a[0])
        else:
            raise ValueError("unknown operation %r" % (op,))

    def dirs(self):
        return [p for p, e in self.names.items() if e[0] == "d"]

    def regular(self):
        return [p for p, e in self.names.items() if e[0] == "f" and p != ALOG]

    def children(self, d):
        pre = "" if d == "." else d + "/"
        return [p for p in self.names
                if p != "." and p.startswith(pre) and "/" not in p[len(pre):]]


# --- the workload -----------------------------------------------------------

class Worker:
    def __init__(self, top, log, seed, nosync=False):
        self.top = top
        self.nosync = nosync
        self.rng = random.Random(seed)
        self.log_fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.model = Model()
        self.serial = 0

    def path(self, p):
        return self.top if p == "." else os.path.join(self.top, p)

    def record(self, line):
        os.write(self.log_fd, (line + "\n").encode())

    def fsync(self, fd):
        if not self.nosync:
            os.fsync(fd)

    def fsync_dir(self, p):
        if self.nosync:
            return
        fd = os.open(self.path(p), os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def new_name(self, prefix):
        self.serial += 1
        d = self.rng.choice(self.model.dirs())
        name = "%s%d" % (prefix, self.serial)
        return name if d == "." else d + "/" + name

    def write_all(self, fd, data):
        view = memoryview(data)
        while view:
            n = os.write(fd, view[:1 << 20])
            view = view[n:]

    def choose(self):
        """Picks the next operation valid in the current model."""
        m, r = self.model, self.rng
        files = m.regular()
        roll = r.random()
        if roll < 0.30 or not files:
            size = r.choice([0, 1, 100, 3000, 4096, 5000, 65536, 65537,
                             r.randrange(1, 300000)])
            return ("create", self.new_name("f"), str(r.randrange(1 << 30)),
                    str(size))
        if roll < 0.45:
            fid = m.fid(ALOG)
            old = m.files[fid][2] if fid is not None else 0
            return ("append", str(old + r.randrange(1, 20000)))
        if roll < 0.58:
            src = r.choice(files)
            if r.random() < 0.3 and len(files) > 1:
                dst = r.choice([f for f in files if f != src])
            else:
                dst = self.new_name("r")
            return ("rename", src, dst)
        if roll < 0.65:
            return ("link", r.choice(files), self.new_name("l"))
        if roll < 0.77:
            return ("unlink", r.choice(files))
        if roll < 0.86:
            p = r.choice(files)
            size = m.files[m.fid(p)][2]
            return ("trunc", p, str(r.randrange(0, size + 70000)))
        if roll < 0.93:
            return ("mkdir", self.new_name("d"))
        empty = [d for d in m.dirs() if d != "." and not m.children(d)]
        if empty and roll < 0.97:
            return ("rmdir", r.choice(empty))
        subdirs = [d for d in m.dirs() if d != "."]
        if subdirs:
            d = r.choice(subdirs)
            dst = self.new_name("d")
            if not (dst + "/").startswith(d + "/"):
                return ("rename", d, dst)
        return ("mkdir", self.new_name("d"))

    def perform(self, op):
        kind, a = op[0], op[1:]
        if kind == "mkdir":
            os.mkdir(self.path(a[0]))
            self.fsync_dir(parent(a[0]))
        elif kind == "rmdir":
            os.rmdir(self.path(a[0]))
            self.fsync_dir(parent(a[0]))
        elif kind == "create":
            fd = os.open(self.path(a[0]), os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                         0o644)
            try:
                self.write_all(fd, content(int(a[1]), 0, int(a[2])))
                self.fsync(fd)
            finally:
                os.close(fd)
            self.fsync_dir(parent(a[0]))
        elif kind == "append":
            fid = self.model.fid(ALOG)
            old = self.model.files[fid][2] if fid is not None else 0
            new = int(a[0])
            fd = os.open(self.path(ALOG),
                         os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                self.write_all(fd, content(ALOG_SEED, old, new - old))
                self.fsync(fd)
            finally:
                os.close(fd)
            if fid is None:
                self.fsync_dir(".")
        elif kind == "trunc":
            fd = os.open(self.path(a[0]), os.O_WRONLY)
            try:
                os.ftruncate(fd, int(a[1]))
                self.fsync(fd)
            finally:
                os.close(fd)
        elif kind == "rename":
            os.rename(self.path(a[0]), self.path(a[1]))
            self.fsync_dir(parent(a[0]))
            if parent(a[1]) != parent(a[0]):
                self.fsync_dir(parent(a[1]))
        elif kind == "link":
            os.link(self.path(a[0]), self.path(a[1]))
            self.fsync_dir(parent(a[1]))
        elif kind == "unlink":
            os.unlink(self.path(a[0]))
            self.fsync_dir(parent(a[0]))

    def run(self):
        """Until killed or the mount fails (the daemon was killed)."""
        while True:
            op = self.choose()
            self.record("I " + " ".join(op))
            self.perform(op)
            self.record("D")
            self.model.apply(op)


def cmd_run(top, log, seed, nosync=False):
    w = Worker(top, log, seed, nosync)
    try:
        w.run()
    except OSError as e:
        # The expected end: the daemon died under us.  Its mount then fails
        # every request (ENOTCONN); an error while it still answers is a bug.
        # Over FUSE io_uring the kernel fails the requests it was handing
        # to the dead daemon's rings with ECANCELED until it has torn them
        # down (asynchronously, after the process is gone).
        try:
            os.statvfs(top)      # statfs is never answered from a cache
        except OSError as e2:
            if e2.errno in (errno.ENOTCONN, errno.ECONNABORTED,
                            errno.ECANCELED):
                return 0
        print("crash_workload: %s: %s while the mount still works"
              % (top, e), file=sys.stderr)
        return 1
    return 0


# --- the checker ------------------------------------------------------------

def read_log(log):
    """(the model of every done operation, the pending operation or None)."""
    m = Model()
    pending = None
    with open(log) as f:
        for lineno, line in enumerate(f, 1):
            if not line.endswith("\n"):
                break                # torn last line: the writer died in it
            line = line.rstrip("\n")
            if line.startswith("I "):
                if pending is not None:
                    raise ValueError("%s:%d: intent after an unfinished one"
                                     % (log, lineno))
                pending = tuple(line[2:].split(" "))
            elif line == "D":
                if pending is None:
                    raise ValueError("%s:%d: done without intent" % (log, lineno))
                m.apply(pending)
                pending = None
            else:
                raise ValueError("%s:%d: bad record %r" % (log, lineno, line))
    return m, pending


def scan(top):
    """The actual tree: relpath -> ("d",) or ("f", ino, nlink, bytes)
    (or ("other", mode))."""
    out = {}
    st = os.lstat(top)
    if not stat.S_ISDIR(st.st_mode):
        raise OSError(errno.ENOTDIR, "not a directory", top)
    out["."] = ("d",)
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, top)
            st = os.lstat(full)
            if stat.S_ISDIR(st.st_mode):
                out[rel] = ("d",)
            elif stat.S_ISREG(st.st_mode):
                with open(full, "rb") as f:
                    data = f.read()
                if len(data) != st.st_size:
                    raise ValueError("%s: read %d bytes, size %d"
                                     % (rel, len(data), st.st_size))
                out[rel] = ("f", st.st_ino, st.st_nlink, data)
            else:
                out[rel] = ("other", st.st_mode)
    return out


def first_diff(a, b):
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def match(actual, m, loose_create=None, loose_append=None):
    """None if `actual` is the tree of model m, else why not.
    loose_create: a path that may hold a regular file with any content.
    loose_append: (old, new): alog's size may be anywhere in [old, new],
    bytes past old each written or zero."""
    want = set(m.names)
    if loose_create is not None:
        want.add(loose_create)
    have = set(actual)
    if want != have:
        missing = sorted(want - have)
        extra = sorted(have - want)
        return "missing %s, unexpected %s" % (missing[:5], extra[:5])
    ino_of_fid = {}
    for p in sorted(want):
        a = actual[p]
        if p == loose_create:
            if a[0] != "f" or a[2] != 1:
                return "%s: expected a regular file with 1 link, got %r" % (p, a[:3])
            continue
        e = m.names[p]
        if e[0] == "d":
            if a[0] != "d":
                return "%s: expected a directory" % p
            continue
        if a[0] != "f":
            return "%s: expected a regular file, got %r" % (p, a[:2])
        fid = e[1]
        _, ino, nlink, data = a
        if ino_of_fid.setdefault(fid, ino) != ino:
            return "%s: should be a hard link of the same inode" % p
        if nlink != m.nlink(fid):
            return "%s: link count %d, expected %d" % (p, nlink, m.nlink(fid))
        seed, clen, size = m.files[fid]
        if p == ALOG and loose_append is not None:
            old, new = loose_append
            if not old <= len(data) <= new:
                return "%s: size %d not in [%d, %d]" % (p, len(data), old, new)
            want_data = content(seed, 0, len(data))
            if data[:old] != want_data[:old]:
                i = first_diff(data, want_data)
                return "%s: fsynced byte %d differs" % (p, i)
            for i in range(old, len(data)):
                if data[i] != want_data[i] and data[i] != 0:
                    return "%s: unsynced byte %d is neither written nor 0" % (p, i)
            continue
        if len(data) != size:
            return "%s: size %d, expected %d" % (p, len(data), size)
        want_data = content(seed, 0, clen) + bytes(size - clen)
        if data != want_data:
            return "%s: byte %d differs (size %d, content %d)" % (
                p, first_diff(data, want_data), size, clen)
    if len(set(ino_of_fid.values())) != len(ino_of_fid):
        return "two different files share an inode"
    return None


def cmd_verify(top, log):
    done, pending = read_log(log)
    try:
        actual = scan(top)
    except FileNotFoundError:
        actual = None
    if actual is None:
        # The worker's directory itself: only its own pending mkdir of "."
        # could explain its absence, and the worker never logs one.
        print("%s: missing" % top)
        return 1
    worlds = [("done", done, {})]
    if pending is not None:
        after = done.copy()
        if pending[0] == "create":
            worlds.append(("pending create", done, {"loose_create": pending[1]}))
        elif pending[0] == "append":
            # alog holds anything from its old to its new size; if this
            # append was to create it, it may also be absent ("done").
            fid = done.fid(ALOG)
            old = done.files[fid][2] if fid is not None else 0
            after.apply(pending)
            loose = ("pending append", after,
                     {"loose_append": (old, int(pending[1]))})
            worlds = [loose] if fid is not None else worlds + [loose]
        else:
            after.apply(pending)
            worlds.append(("pending " + pending[0], after, {}))
    reasons = []
    for name, m, kw in worlds:
        why = match(actual, m, **kw)
        if why is None:
            ndone = len(m.names) - 1
            print("%s: ok (%d names, %s%s)" % (
                top, ndone, name,
                "" if pending is None else ": " + " ".join(pending)))
            return 0
        reasons.append("%s: %s" % (name, why))
    print("%s: MISMATCH\n  %s" % (top, "\n  ".join(reasons)))
    return 1


def cmd_cut_wal(path, drop):
    """Zeroes the last `drop` bytes of a WAL's records (scripts/crash-test
    --drop-wal-tail): the records end at its last non-zero byte, since a
    WAL's file is zeros past them (written ahead).  Prints what it did."""
    with open(path, "r+b") as f:
        data = f.read()
        end = len(data.rstrip(b"\0"))
        start = max(0, end - drop)
        f.seek(start)
        f.write(bytes(end - start))
        f.flush()
        os.fsync(f.fileno())
    print("zeroed %d bytes at %d (records ended at %d of %d)" %
          (end - start, start, end, len(data)))
    return 0


def main(argv):
    if len(argv) in (5, 6) and argv[1] == "run":
        if len(argv) == 6 and argv[5] != "nosync":
            print(__doc__, file=sys.stderr)
            return 2
        return cmd_run(argv[2], argv[3], int(argv[4]), len(argv) == 6)
    if len(argv) == 4 and argv[1] == "verify":
        return cmd_verify(argv[2], argv[3])
    if len(argv) == 4 and argv[1] == "cut-wal" and argv[3].isdigit():
        return cmd_cut_wal(argv[2], int(argv[3]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
