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

expected() {  # prints the expected content of w W file I, or nothing if deleted
  local w=$1 i=$2
  [ $((i % 3)) -eq 0 ] && return 0
  content "$w" "$i"
  [ $((i % 5)) -eq 0 ] && echo "appendix $w $i"
  return 0
}

verify() {
  local d=$1 w i bad=0
  local n
  n=$(ls "$d" | wc -l)
  local want=$((WRITERS * (FILES - FILES / 3) + 2 * WRITERS))
  [ "$n" -eq "$want" ] || fail "$n entries in the directory, expected $want"
  ls "$d" >"$T_DIR/names"
  grep -q '\.tmp$' "$T_DIR/names" && fail "temporary names left behind"
  for w in $(seq "$WRITERS"); do
    for i in $(seq "$FILES"); do
      if [ $((i % 3)) -eq 0 ]; then
        [ ! -e "$d/w$w-f$i" ] || fail "deleted file w$w-f$i exists"
        continue
      fi
      expected "$w" "$i" | cmp -s - "$d/w$w-f$i" || { echo "bad: w$w-f$i" >&2; bad=1; }
    done
    [ "$(sha256sum "$d/big$w" | cut -d' ' -f1)" = "$(cat "$d/big$w.sha")" ] ||
      { echo "bad: big$w" >&2; bad=1; }
  done
  [ "$bad" -eq 0 ] || fail "file contents differ"
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
