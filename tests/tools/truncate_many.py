#!/usr/bin/env python3
"""truncate_many.py FILE ROUNDS MODEL — truncates and rewrites FILE ROUNDS
times (like xfstests' truncfile): each round writes 1..8 KiB at a random
offset below 8 MiB, then truncates to a random size (to zero, to the
inline range, shorter or longer).  A copy of the expected bytes is kept;
every 1000 rounds the file is read back and compared, and at the end the
expected bytes are written to MODEL; the elapsed time is printed every
2000 rounds.  Deterministic (fixed seed).  Exit status 1 on a mismatch."""
import os
import random
import sys
import time

MAX = 8 << 20


def main():
    path, rounds, model_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rng = random.Random(4242)
    model = bytearray()
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    start = time.monotonic()
    for r in range(1, rounds + 1):
        off = rng.randrange(MAX)
        data = bytes([r % 251 + 1]) * rng.randrange(1024, 8193)
        os.pwrite(fd, data, off)
        if len(model) < off:
            model.extend(bytes(off - len(model)))
        model[off:off + len(data)] = data
        pick = rng.randrange(10)
        size = 0 if pick == 0 else rng.randrange(4097) if pick == 1 \
            else rng.randrange(MAX)
        os.ftruncate(fd, size)
        if size < len(model):
            del model[size:]
        else:
            model.extend(bytes(size - len(model)))
        if r % 1000 == 0 or r == rounds:
            got = os.pread(fd, len(model) + 1, 0)
            if got != bytes(model):
                print(f"round {r}: content differs (size {len(got)}, "
                      f"expected {len(model)})", file=sys.stderr)
                return 1
        if r % 2000 == 0:
            print(f"round {r}: {time.monotonic() - start:.1f} s", flush=True)
    os.close(fd)
    with open(model_path, "wb") as f:
        f.write(model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
