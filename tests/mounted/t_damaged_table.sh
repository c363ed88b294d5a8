#!/usr/bin/env bash
# t_damaged_table: a byte flipped in a data block of an SSTable makes the
# file whose data it holds fail with EIO, never return wrong bytes; the
# daemon logs the table and the block's offset; every other file still
# reads back exactly and new files can be written, also while compactions
# meet the damaged table (they leave it alone; the store stays writable).
# lsmfs fsck then reports the table and the file (exit 4), --repair drops
# the block and says so (exit 1), a second check is clean (exit 0), and
# after a remount the file reads without EIO: the lost 16 KiB blocks as
# zeros, everything else exactly.
. "$(dirname "$0")/lib.sh"
lib_init "$@"
command -v python3 >/dev/null || fail "missing tool: python3"
ORIG=$T_DIR/orig
mkdir "$ORIG"

# make_big FILE: 6 MiB of 64 KiB pieces, alternately random and a
# repeated text line (so some table blocks are stored compressed, some raw).
make_big() {
  local i
  for i in $(seq 96); do
    if [ $((i % 2)) -eq 0 ]; then
      head -c 65536 /dev/urandom
    else
      { yes "piece $i of the big file" || true; } | head -c 65536
    fi
  done >"$1"
}

# footer_filter_offset SST: the footer's first field, the offset of the
# filter block, which is where the data blocks end (table_builder.c).
footer_filter_offset() {
  python3 - "$1" <<'EOF'
import struct, sys
with open(sys.argv[1], "rb") as f:
    f.seek(-80, 2)
    footer = f.read(80)
(magic,) = struct.unpack_from("<Q", footer, 72)
if magic != 0x4C534D4654424C31:
    sys.exit("%s: bad table magic %#x" % (sys.argv[1], magic))
print(struct.unpack_from("<Q", footer, 0)[0])
EOF
}

check "write files with a 1 MiB memtable, so the data lands in tables"
make_big "$ORIG/big"
head -c 300000 /dev/urandom >"$ORIG/medium"
echo "small and inline" >"$ORIG/small"
# blob_min=0: the data in the tables themselves (t_blob and test_fs_fsck
# damage blob files).
lib_mount -o memtable_mb=1,blob_min=0
lib_t 30 cp "$ORIG/medium" "$MNT/medium"
lib_t 30 cp "$ORIG/small" "$MNT/small"
lib_t 60 cp "$ORIG/big" "$MNT/big"
lib_t 30 sync -f "$MNT"
lib_unmount

# The largest table holds most of the big file (written last, highest
# inode, the bulk of the data); its middle data block is one of the big
# file's 64 KiB pieces.
sst=$(find "$STORE" -maxdepth 1 -name '*.sst' -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2)
[ -n "$sst" ] || fail "no table in $STORE after unmount: $(ls -l "$STORE")"
size=$(stat -c %s "$sst")
data_end=$(footer_filter_offset "$sst") || fail "cannot read the footer of $sst"
[ "$data_end" -gt 65536 ] && [ "$data_end" -lt "$size" ] ||
  fail "$sst: implausible data size $data_end of $size bytes"
off=$((data_end / 2))
name=$(basename "$sst")
check "flip the byte at offset $off of $name ($size bytes, data blocks end at $data_end)"
old=$(od -An -tu1 -j "$off" -N1 "$sst" | tr -d ' ')
printf "\\$(printf %03o $((old ^ 0xff)))" |
  dd of="$sst" bs=1 seek="$off" conv=notrunc status=none
[ "$(od -An -tu1 -j "$off" -N1 "$sst" | tr -d ' ')" -eq $((old ^ 0xff)) ] ||
  fail "the byte at $off of $sst did not change"

if lib_t 10 "$LSMFS" fsck --help 2>&1 | grep -i fsck >/dev/null; then
  check "lsmfs fsck (check only) finds the damage: exit 4, naming $name"
  rc=0
  lib_t 120 "$LSMFS" fsck "$STORE" >"$T_DIR/fsck.log" 2>&1 || rc=$?
  [ "$rc" -eq 4 ] || fail "lsmfs fsck exited $rc, not 4: $(tail -5 "$T_DIR/fsck.log")"
  grep -q "$name" "$T_DIR/fsck.log" ||
    fail "lsmfs fsck does not name $name: $(cat "$T_DIR/fsck.log")"
fi

check "reading the damaged file fails with EIO"
lib_mount
rc=0
lib_t 60 cat "$MNT/big" >/dev/null 2>"$T_DIR/cat.err" || rc=$?
[ "$rc" -ne 0 ] || fail "cat of the damaged file succeeded"
grep -q "Input/output error" "$T_DIR/cat.err" ||
  fail "cat failed without EIO: $(cat "$T_DIR/cat.err")"

check "piece by piece: each 64 KiB either EIO or exactly the bytes written"
bad=0
for i in $(seq 0 95); do
  rc=0
  lib_t 30 dd if="$MNT/big" of="$T_DIR/piece" bs=65536 skip="$i" count=1 \
    iflag=fullblock status=none 2>"$T_DIR/dd.err" || rc=$?
  if [ "$rc" -ne 0 ]; then
    grep -q "Input/output error" "$T_DIR/dd.err" ||
      fail "piece $i: read failed without EIO: $(cat "$T_DIR/dd.err")"
    bad=$((bad + 1))
    continue
  fi
  dd if="$ORIG/big" bs=65536 skip="$i" count=1 status=none | cmp -s - "$T_DIR/piece" ||
    fail "piece $i of the damaged file read back WRONG bytes"
done
[ "$bad" -ge 1 ] || fail "no piece of the damaged file failed"
# The kernel reads ahead, so a failing request may cover a few pieces.
[ "$bad" -le 8 ] || fail "$bad of 96 pieces fail: more than the damaged block"
echo "$bad piece(s) fail with EIO, the other $((96 - bad)) read back exactly"

check "the daemon's log names the table and the block's offset"
grep -q "$name.*offset" "$LIB_FG_LOG" ||
  fail "no log line naming $name and an offset: $(cat "$LIB_FG_LOG")"
grep "$name" "$LIB_FG_LOG" | head -3

check "the other files still read back exactly"
lib_t 30 cmp "$ORIG/medium" "$MNT/medium" || fail "medium differs"
lib_t 30 cmp "$ORIG/small" "$MNT/small" || fail "small differs"
[ "$(lib_t 10 ls "$MNT" | sort | tr '\n' ' ')" = "big medium small " ] ||
  fail "the directory listing changed: $(ls "$MNT")"

check "new files can be written, synced and read back"
head -c 2000000 /dev/urandom >"$ORIG/new"
lib_t 30 cp "$ORIG/new" "$MNT/new"
lib_t 30 sync "$MNT/new" || fail "fsync of a new file failed"
lib_t 30 cmp "$ORIG/new" "$MNT/new" || fail "new file differs"
echo after >"$MNT/small2"
lib_unmount

check "after a remount: the new files are there, the damaged file still EIO"
lib_mount
lib_t 30 cmp "$ORIG/new" "$MNT/new" || fail "new file differs after remount"
[ "$(cat "$MNT/small2")" = after ] || fail "small2 lost"
rc=0
lib_t 60 cat "$MNT/big" >/dev/null 2>"$T_DIR/cat.err" || rc=$?
[ "$rc" -ne 0 ] && grep -q "Input/output error" "$T_DIR/cat.err" ||
  fail "the damaged file reads without EIO after a remount"

lib_unmount

# With a 1 MiB memtable every few files are a flush; the level-0 tables
# overlap the damaged one, so a compaction soon has to read its bad block.
# That compaction gives up on the table (logged once), and the store stays
# writable.
check "writes go on while compactions meet the damaged table"
lib_mount -o memtable_mb=1,blob_min=0
met=0
for i in $(seq 1 40); do
  head -c 500000 /dev/urandom >"$ORIG/more$i"
  lib_t 30 cp "$ORIG/more$i" "$MNT/more$i"
  lib_t 30 sync "$MNT/more$i" || fail "fsync of more$i failed"
  if grep -q "table $name is damaged" "$LIB_FG_LOG"; then
    met=1
    [ "$i" -ge 10 ] && break
  fi
done
[ "$met" -eq 1 ] || fail "no compaction reported $name as damaged: $(tail -20 "$LIB_FG_LOG")"
grep "table $name is damaged" "$LIB_FG_LOG" | head -1
! grep -q "read-only after" "$LIB_FG_LOG" ||
  fail "the store went read-only: $(grep "read-only" "$LIB_FG_LOG")"
for f in "$ORIG"/more*; do
  lib_t 30 cmp "$f" "$MNT/$(basename "$f")" || fail "$(basename "$f") differs"
done
lib_unmount

check "lsmfs fsck: exit 4, naming $name and the damaged file"
rc=0
lib_t 120 "$LSMFS" fsck "$STORE" >"$T_DIR/fsck1.log" 2>&1 || rc=$?
[ "$rc" -eq 4 ] || fail "lsmfs fsck exited $rc, not 4: $(tail -5 "$T_DIR/fsck1.log")"
grep -q "^problem: $name: data block at offset" "$T_DIR/fsck1.log" ||
  fail "lsmfs fsck does not name $name: $(cat "$T_DIR/fsck1.log")"
grep -q "^problem: file /big " "$T_DIR/fsck1.log" ||
  fail "lsmfs fsck does not name /big: $(cat "$T_DIR/fsck1.log")"
grep "^problem" "$T_DIR/fsck1.log"

check "lsmfs fsck --repair: exit 1, saying what it did"
rc=0
lib_t 120 "$LSMFS" fsck --repair "$STORE" >"$T_DIR/fsck2.log" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "lsmfs fsck --repair exited $rc, not 1: $(cat "$T_DIR/fsck2.log")"
grep -q "^fixed: $name: data block at offset .*: dropped" "$T_DIR/fsck2.log" ||
  fail "the repair does not say it dropped the block: $(cat "$T_DIR/fsck2.log")"
grep -q "^fixed: file /big .*now read as zeros" "$T_DIR/fsck2.log" ||
  fail "the repair does not name /big: $(cat "$T_DIR/fsck2.log")"
! grep -q "^problem" "$T_DIR/fsck2.log" || fail "problems left: $(cat "$T_DIR/fsck2.log")"
grep "^fixed" "$T_DIR/fsck2.log"

check "lsmfs fsck again: clean"
rc=0
lib_t 120 "$LSMFS" fsck "$STORE" >"$T_DIR/fsck3.log" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || fail "lsmfs fsck after the repair exited $rc: $(cat "$T_DIR/fsck3.log")"

check "after the repair: other files exact, /big reads without EIO, lost blocks as zeros"
lib_mount
for f in "$ORIG"/*; do
  b=$(basename "$f")
  [ "$b" = big ] && continue
  lib_t 30 cmp "$f" "$MNT/$b" || fail "$b differs after the repair"
done
[ "$(cat "$MNT/small2")" = after ] || fail "small2 lost"
lib_t 60 cat "$MNT/big" >"$T_DIR/big.now" || fail "reading /big fails after the repair"
[ "$(stat -c %s "$T_DIR/big.now")" -eq "$(stat -c %s "$ORIG/big")" ] ||
  fail "/big changed size"
head -c 16384 /dev/zero >"$T_DIR/zeros"
zeroed=0
for i in $(seq 0 $(( $(stat -c %s "$ORIG/big") / 16384 - 1 ))); do
  dd if="$T_DIR/big.now" of="$T_DIR/piece" bs=16384 skip="$i" count=1 status=none
  dd if="$ORIG/big" bs=16384 skip="$i" count=1 status=none | cmp -s - "$T_DIR/piece" &&
    continue
  cmp -s "$T_DIR/zeros" "$T_DIR/piece" ||
    fail "16 KiB block $i of /big is neither its old bytes nor zeros"
  zeroed=$((zeroed + 1))
done
[ "$zeroed" -ge 1 ] && [ "$zeroed" -le 8 ] || fail "$zeroed blocks of /big read as zeros"
echo "$zeroed block(s) of /big read as zeros, the rest exactly as written"
echo fourth >"$MNT/fourth"
lib_t 30 sync "$MNT/fourth" || fail "fsync after the repair failed"
lib_unmount
lib_pass
