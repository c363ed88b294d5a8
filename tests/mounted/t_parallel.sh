#!/usr/bin/env bash
# t_parallel: 8 processes create, write, rename and delete files in one
# directory at the same time (the daemon serves them on several threads);
# afterwards, and after a remount, every surviving file has exactly the
# content its writer gave it and no deleted file remains.
. "$(dirname "$0")/lib.sh"
lib_init "$@"

WRITERS=8
FILES=150

# content W I: deterministic, size varying from a few bytes to ~200 KiB so
# both inline and block-stored files occur.
content() {
  local w=$1 i=$2
  local size=$(( (w * 7919 + i * 104729) % 200000 + 1 ))
  head -c "$size" < <(yes "writer $w file $i")
}

writer() {
  local w=$1 d=$2 i
  for i in $(seq "$FILES"); do
    content "$w" "$i" >"$d/w$w-f$i.tmp"
    mv "$d/w$w-f$i.tmp" "$d/w$w-f$i"
    # Every third file is deleted again; every fifth gets an appendix.
    if [ $((i % 3)) -eq 0 ]; then rm "$d/w$w-f$i"; fi
    if [ $((i % 5)) -eq 0 ] && [ -e "$d/w$w-f$i" ]; then
      echo "appendix $w $i" >>"$d/w$w-f$i"
    fi
  done
  # A large file per writer, written in odd-sized pieces.
  dd if=/dev/urandom of="$d/big$w" bs=333333 count=12 status=none
  sha256sum "$d/big$w" | cut -d' ' -f1 >"$d/big$w.sha"
}

# verify DIR: the names and contents above, checked in one process (a
# shell loop spent most of the test's time starting processes).
verify() {
  python3 - "$1" "$WRITERS" "$FILES" <<'PY' || fail "file contents differ"
import hashlib, os, sys
d, writers, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def content(w, i):  # as content() above: yes "writer W file I" | head -c SIZE
    size = (w * 7919 + i * 104729) % 200000 + 1
    line = b"writer %d file %d\n" % (w, i)
    return (line * (size // len(line) + 1))[:size]
names = os.listdir(d)
want = writers * (files - files // 3) + 2 * writers
bad = []
if len(names) != want:
    bad.append("%d entries in the directory, expected %d" % (len(names), want))
bad += ["temporary name left behind: " + n for n in names if n.endswith(".tmp")]
for w in range(1, writers + 1):
    for i in range(1, files + 1):
        p = os.path.join(d, "w%d-f%d" % (w, i))
        if i % 3 == 0:
            if os.path.lexists(p):
                bad.append("deleted file w%d-f%d exists" % (w, i))
            continue
        exp = content(w, i)
        if i % 5 == 0:
            exp += b"appendix %d %d\n" % (w, i)
        try:
            with open(p, "rb") as f:
                got = f.read()
        except OSError as e:
            got = str(e)
        if got != exp:
            bad.append("bad: w%d-f%d" % (w, i))
    with open(os.path.join(d, "big%d" % w), "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    with open(os.path.join(d, "big%d.sha" % w)) as f:
        if digest != f.read().strip():
            bad.append("bad: big%d" % w)
for b in bad[:20]:
    print(b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
}

lib_mount
mkdir "$MNT/shared"

check "$WRITERS writers, $FILES files each, into one directory at once"
export -f content writer
export FILES
pids=()
for w in $(seq "$WRITERS"); do
  lib_t 180 bash -c "set -e; writer $w '$MNT/shared'" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a writer failed"; done

check "every file has its writer's content"
verify "$MNT/shared"

check "parallel readers of the same files all see the same data"
lib_t 60 bash -c "
  for r in 1 2 3 4 5 6 7 8; do
    (cat '$MNT'/shared/big* | sha256sum >'$T_DIR/read.'\$r) &
  done
  wait"
[ "$(cat "$T_DIR"/read.* | sort -u | wc -l)" -eq 1 ] || fail "parallel readers disagree"

check "the same after a remount"
lib_unmount
lib_mount
verify "$MNT/shared"

lib_unmount
lib_pass
