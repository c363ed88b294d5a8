#!/usr/bin/env bash
# t_inspect: `lsmfs inspect` and `lsmfs compact` on a small store.
#   - inspect STORE PATH names the keys behind a file (inode record, xattr,
#     data blocks) and a directory (its entries), and refuses a missing
#     path with exit 8 naming the missing component;
#   - inspect --manifest lists the named snapshot records (name, id,
#     sequence number, creation time);
#   - compact: exit 0, level 0 empty afterwards (inspect --manifest), the
#     tree unchanged, fsck clean, nothing on stderr through a pipe and a
#     progress bar on a terminal (script(1));
#   - inspect --table: properties, key range and "verified" for a good
#     table (exit 0); a flipped byte in a data block is one problem line
#     naming the block's offset and the failed checksum (exit 4);
#   - the same damage in the store: inspect of a path it holds exits 4
#     saying what failed; with a table missing, inspect --manifest exits 4,
#     says which and lists the directory, and inspect of a path exits 4.
. "$(dirname "$0")/lib.sh"
lib_init "$@"
command -v script >/dev/null || lib_skip "script(1) missing (package util-linux)"
command -v setfattr >/dev/null || lib_skip "setfattr missing (package attr)"

run() {  # run EXPECTED CMD...: output in $T_DIR/out, errors in $T_DIR/err
  local want=$1 rc=0
  shift
  lib_t 120 "$@" >"$T_DIR/out" 2>"$T_DIR/err" || rc=$?
  [ "$rc" -eq "$want" ] ||
    fail "$*: exit $rc, expected $want: $(cat "$T_DIR/out" "$T_DIR/err")"
}
has() {  # has PATTERN: in $T_DIR/out
  grep -Eq -- "$1" "$T_DIR/out" || fail "no '$1' in: $(cat "$T_DIR/out")"
}

lib_mount -o memtable_mb=1
mkdir -p "$MNT/d/sub"
head -c 100000 /dev/urandom >"$MNT/d/f"          # 7 blocks of 16 KiB
setfattr -n user.color -v blue "$MNT/d/f"
echo tiny >"$MNT/d/tiny"
# 4 MB: past a 1 MiB memtable and its write slack, so tables are flushed.
for i in $(seq 500); do head -c 8000 /dev/urandom >"$MNT/d/sub/g$i"; done
sig=$(cd "$MNT" && find . -type f -print0 | sort -z | xargs -0 md5sum)
lib_t 30 "$LSMFS" snapshot create "$MNT" kept || fail "snapshot create"
lib_unmount

check "inspect STORE PATH names the keys"
run 0 "$LSMFS" inspect "$STORE" /d/f
cat "$T_DIR/out"
has '^/d/f: inode [0-9]+'
has '^inode .* file mode 644 nlink 1 .* size 100000 '
has '^xattr .* user\.color \(4 bytes\)'
has '^block .* block 0 \(16384 bytes\)'
has '^block .* block 6 '
[ "$(grep -c '^block ' "$T_DIR/out")" -eq 7 ] || fail "not 7 blocks"
run 0 "$LSMFS" inspect "$STORE" /d
has '^entry .* f -> ino [0-9]+'
has '^entry .* tiny -> ino [0-9]+'
has '^entry .* sub -> ino [0-9]+'
has '^inode .* directory '
run 0 "$LSMFS" inspect "$STORE" /d/tiny
has 'inline \(5 bytes\)'
run 8 "$LSMFS" inspect "$STORE" /d/nope/x
grep -q 'at "nope/x"' "$T_DIR/err" || fail "missing component not named"

check "compact: level 0 empties, tree unchanged, bar only on a terminal"
run 0 "$LSMFS" inspect --manifest "$STORE"
# Idle compaction (1 s after the last write) may already have moved
# level 0 down; the store holds tables somewhere either way.
grep -Eq '^L[0-6] [1-9]' "$T_DIR/out" || fail "no table before compacting: $(cat "$T_DIR/out")"
has '^snapshots: 1$'
has '^snapshot kept id 1 seq [1-9][0-9]* created 20[0-9-]+T'
run 0 "$LSMFS" compact "$STORE"
cat "$T_DIR/out"
[ ! -s "$T_DIR/err" ] || fail "compact wrote to stderr through a pipe"
has 'compacted: '
run 0 "$LSMFS" inspect --manifest "$STORE"
cat "$T_DIR/out"
has '^L0 0 0 '
has '^L1 [0-9]+\.sst|^L[1-6] [0-9]{6}\.sst'
lib_t 60 script -qec "$LSMFS compact $STORE" "$T_DIR/tty.out" >/dev/null ||
  fail "compact on a terminal failed"
grep -q 'compact *\[[#.]*\] *[0-9]*%' "$T_DIR/tty.out" || fail "no bar on a terminal"
run 0 "$LSMFS" fsck "$STORE"
lib_mount
[ "$(cd "$MNT" && find . -type f -print0 | sort -z | xargs -0 md5sum)" = "$sig" ] ||
  fail "the tree changed"
lib_unmount

check "inspect --table: a good table, then a flipped byte"
table=$(ls "$STORE"/*.sst | head -1)
run 0 "$LSMFS" inspect --table "$table"
cat "$T_DIR/out"
has '^data blocks: [0-9]+, bad: 0'
has '^smallest key: [0-9a-f]+ '
has 'verified'
cp "$table" "$T_DIR/bad.sst"
python3 - "$T_DIR/bad.sst" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
b[100] ^= 0x40                  # inside data block 0
open(p, 'wb').write(bytes(b))
PY
run 4 "$LSMFS" inspect --table "$T_DIR/bad.sst"
cat "$T_DIR/out"
[ "$(grep -c '^problem: ' "$T_DIR/out")" -eq 1 ] || fail "not one problem line"
has '^problem: .*offset 0.*checksum|^problem: .*checksum.*offset 0'
has '^data blocks: [0-9]+, bad: 1'

check "the damage in the store"
cp "$table" "$T_DIR/good.sst"
cp "$T_DIR/bad.sst" "$table"
rc=0
lib_t 60 "$LSMFS" inspect "$STORE" /d/f >"$T_DIR/out" 2>&1 || rc=$?
cat "$T_DIR/out"
[ "$rc" -eq 4 ] || fail "inspect of a path in a damaged table: exit $rc"
grep -qi 'checksum' "$T_DIR/out" || fail "the failed check is not named"
cp "$T_DIR/good.sst" "$table"
mv "$table" "$T_DIR/away.sst"
run 4 "$LSMFS" inspect --manifest "$STORE"
cat "$T_DIR/out"
has "^problem: .*$(basename "$table") named by the manifest is missing"
has '^  CURRENT '
run 4 "$LSMFS" inspect "$STORE" /d
grep -q "$(basename "$table") named by the manifest is missing" "$T_DIR/err" ||
  fail "inspect of a path in a store missing a table: $(cat "$T_DIR/err")"
mv "$T_DIR/away.sst" "$table"
run 0 "$LSMFS" fsck "$STORE"
lib_pass
