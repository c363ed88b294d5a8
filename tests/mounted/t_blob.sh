#!/usr/bin/env bash
# t_blob: with -o blob_min=4096, file data blocks go to blob files (out of
# the tree): the tables stay small, every file reads back exactly before
# and after a remount, and a byte flipped in a blob file makes the file
# holding it fail with EIO while every file that reads back is exact
# (damage is never data).  Garbage collection: after the files written
# first are removed, their blob files are deleted (blob_file_mb=1); after
# every other file is removed, relocation by garbage gives the space back.
. "$(dirname "$0")/lib.sh"
lib_init "$@"
ORIG=$T_DIR/orig
mkdir "$ORIG"

check "write 24 files of 100 KiB..3 MiB with blob_min=4096"
for i in $(seq 24); do
  head -c $(( (i * 131 % 3000 + 100) * 1024 )) /dev/urandom >"$ORIG/f$i"
done
echo "small, inline" >"$ORIG/small"
lib_mount -o blob_min=4096,memtable_mb=1
lib_t 120 cp -r "$ORIG/." "$MNT/"
lib_t 30 sync -f "$MNT"
lib_unmount

blob_bytes=$(find "$STORE" -maxdepth 1 -name '*.blob' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
sst_bytes=$(find "$STORE" -maxdepth 1 -name '*.sst' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
user_bytes=$(du -sb "$ORIG" | cut -f1)
echo "user data $user_bytes bytes; blob files $blob_bytes, tables $sst_bytes"
[ "$blob_bytes" -ge $((user_bytes * 9 / 10)) ] ||
  fail "blob files hold $blob_bytes bytes of $user_bytes written: $(ls -l "$STORE")"
[ "$sst_bytes" -le $((user_bytes / 20)) ] ||
  fail "tables hold $sst_bytes bytes: the data went through the tree"

check "remount: every file reads back exactly"
lib_mount
lib_t 60 diff -r "$ORIG" "$MNT" || fail "contents differ after a remount"
lib_unmount

# Garbage collection: with 1 MiB blob files, removing the files written
# first (their values fill whole blob files of their own) gives their
# blob files back once compaction drops the references; the files left
# read back exactly.  Polled up to 60 s (the idle compaction's bound, as
# in t_space_back), no timing claim.
# The bytes the blob files take on disk: their blocks (holes punched over
# dead values are not counted).  Garbage collection deletes blob files
# while find walks the store: one gone between its readdir and its stat
# takes no space any more, so find's complaint about it is dropped.
blob_sum() {
  { find "$STORE" -maxdepth 1 -name '*.blob' -printf '%b\n' 2>/dev/null || true; } |
    awk '{s+=$1} END {print s*512}'
}
check "garbage collection: rm the 12 files written first, blob space comes back"
lib_mount -o blob_min=4096,memtable_mb=1,blob_file_mb=1
mkdir "$MNT/gc"
for i in $(seq 24); do lib_t 30 cp "$ORIG/f$i" "$MNT/gc/f$i"; done
lib_t 30 sync -f "$MNT"
full=$(blob_sum)
removed=0
for i in $(seq 12); do
  removed=$((removed + $(stat -c %s "$ORIG/f$i")))
  rm "$MNT/gc/f$i"
done
# At most what was there less 7/8 of what was removed, plus 2 MiB: the
# blob files shared by removed and kept values (not collected: values are
# never moved) and the one being written.
limit=$(( full - removed + removed / 8 + (2 << 20) ))
for i in $(seq 0 60); do
  now=$(blob_sum)
  [ "$now" -gt "$limit" ] || break
  [ "$i" -eq 60 ] || sleep 1
done
echo "blob files: $full bytes before rm, $now after; removed $removed (limit $limit)"
[ "$now" -le "$limit" ] || fail "blob files hold $now bytes, at most $limit expected: $(ls -l "$STORE")"
lib_unmount
check "remount: the files left read back exactly"
lib_mount
for i in $(seq 24); do
  if [ "$i" -le 12 ]; then
    [ ! -e "$MNT/gc/f$i" ] || fail "gc/f$i came back"
  else
    lib_t 30 cmp "$ORIG/f$i" "$MNT/gc/f$i" || fail "gc/f$i differs after garbage collection"
  fi
done
lib_t 30 rm -r "$MNT/gc"
lib_unmount

# Every other file removed: 16 files of 2 MiB written one after another
# fill 4 MiB blob files 2 at a time; removing every other one leaves each
# blob file half garbage.  Holes punched over the dead values give their
# space back in place (where the file system cannot punch holes,
# relocation by garbage, over blob_gc_garbage's 40 % default, moves the
# live halves out and the files go).  Without either the blob files keep
# everything (2x the live bytes).  Polled up to 90 s.
check "rm every other file: blob files shrink to about the live data"
lib_mount -o blob_min=4096,memtable_mb=1,blob_file_mb=4
mkdir "$MNT/eo"
for i in $(seq 16); do
  head -c $((2 << 20)) /dev/urandom >"$T_DIR/eo$i"
  lib_t 30 cp "$T_DIR/eo$i" "$MNT/eo/f$i"
done
lib_t 30 sync -f "$MNT"
base=$(blob_sum)
for i in $(seq 1 2 16); do rm "$MNT/eo/f$i"; done
removed=$((8 * (2 << 20)))
# Less than half of what was removed may stay (one 4 MiB blob file: the
# one being written); without relocation nothing would go.
limit=$(( base - removed / 2 ))
for i in $(seq 0 90); do
  now=$(blob_sum)
  [ "$now" -gt "$limit" ] || break
  [ "$i" -eq 90 ] || sleep 1
done
echo "blob files: $base bytes before rm, $now after; $removed removed (limit $limit)"
[ "$now" -le "$limit" ] || fail "blob files hold $now bytes, at most $limit expected: $(ls -l "$STORE")"
for i in $(seq 2 2 16); do
  lib_t 30 cmp "$T_DIR/eo$i" "$MNT/eo/f$i" || fail "eo/f$i differs after relocation"
done
lib_t 30 rm -r "$MNT/eo"
lib_unmount

blob=$(find "$STORE" -maxdepth 1 -name '*.blob' -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2)
off=$(( $(stat -c %s "$blob") / 2 ))
check "flip the byte at offset $off of $(basename "$blob")"
old=$(od -An -tu1 -j "$off" -N1 "$blob" | tr -d ' ')
printf "\\$(printf %03o $((old ^ 0xff)))" |
  dd of="$blob" bs=1 seek="$off" conv=notrunc status=none

check "the file holding it fails with EIO; every other file is exact"
lib_mount
eio=0
for f in "$ORIG"/*; do
  n=$(basename "$f")
  if lib_t 30 cat "$MNT/$n" >"$T_DIR/read" 2>"$T_DIR/err"; then
    cmp -s "$f" "$T_DIR/read" || fail "$n read back different bytes"
  else
    grep -q 'Input/output error' "$T_DIR/err" || fail "$n: $(cat "$T_DIR/err")"
    eio=$((eio + 1))
  fi
done
[ "$eio" -eq 1 ] || fail "$eio files failed with EIO, expected exactly 1"
echo new >"$MNT/new" && lib_t 30 sync -f "$MNT" || fail "store not writable"
lib_unmount
lib_pass
