#!/usr/bin/env python3
"""gen_tree.py DIR MIB [SEED] — writes a tree of about MIB MiB under DIR
(created if missing; files already there are overwritten in place with
O_TRUNC, as `cp -r` over an older copy does), deterministic for a seed.
The names and sizes depend on MIB (and --small) only, the bytes on SEED:
a run with another seed writes a newer copy of the same tree.
gen_tree.py --small DIR MIB [SEED] — the same with small files only.
gen_tree.py --file PATH MIB [SEED] — one file of MIB MiB, same content,
written over the file in place (no truncation) if it exists.

Shaped like a system directory: 32 subdirectories; per file a size drawn
from small (1-16 KiB, many), medium (64 KiB-1 MiB) and large (2-8 MiB,
few) ranges.  Content compresses about like binaries and documents do
(zstd to ~0.8 of the size): every 4 KiB holds 3 KiB of random bytes and
1 KiB of repeated text, so small files compress as well as large ones.  Prints the file count and bytes written."""
import os
import random
import sys

TEXT = (b"The quick brown fox jumps over the lazy dog; lsmfs space test. " * 16)[:1024]


def file_size(rng, small):
    pick = 0 if small else rng.randrange(100)
    if pick < 60:
        return rng.randrange(1024, 16385)
    if pick < 95:
        return rng.randrange(64 << 10, (1 << 20) + 1)
    return rng.randrange(2 << 20, (8 << 20) + 1)


def write_file(path, size, rng, in_place=False):
    flags = os.O_WRONLY | os.O_CREAT | (0 if in_place else os.O_TRUNC)
    with os.fdopen(os.open(path, flags, 0o644), "wb") as f:
        left = size
        while left > 0:
            rnd = rng.randbytes(49152)
            chunk = b"".join(rnd[i:i + 3072] + TEXT for i in range(0, 49152, 3072))
            f.write(chunk[:left])
            left -= len(chunk)


def main():
    args = sys.argv[1:]
    one = args[0] == "--file"
    small = args[0] == "--small"
    if one or small:
        args = args[1:]
    top, mib = args[0], int(args[1])
    rng = random.Random(int(args[2]) if len(args) > 2 else 16)
    if one:
        write_file(top, mib << 20, rng, in_place=True)
        return
    shape = random.Random(mib)   # names and sizes: the same for every seed
    total, n, goal = 0, 0, mib << 20
    while total < goal:
        d = os.path.join(top, "d%02d" % (n % 32))
        os.makedirs(d, exist_ok=True)
        size = min(file_size(shape, small), goal - total)
        write_file(os.path.join(d, "f%05d" % n), size, rng)
        total += size
        n += 1
    print("%d files, %d bytes" % (n, total))


if __name__ == "__main__":
    main()
