#!/usr/bin/env bash
# t_backup: `lsmfs backup` of a mounted store under write load.
#   - three writers create files without pause, logging each file's number
#     before they start it and after they close it; the backup runs while
#     they write.  Mounted elsewhere, the backup holds every file that was
#     complete before the command started, byte for byte, and none that
#     was started after it returned; a tree no writer touches (data,
#     xattrs, symlink, hard link, sparse file) is identical; it passes
#     fsck.  The tables were hard-linked (same filesystem), and nothing
#     went to stderr (not a terminal: no progress bar).  A named snapshot
#     taken before the writers (and the files it sees changed since) is
#     in the backup too: listed, and its tree the same as in the source;
#   - onto another filesystem (a tmpfs) the tables are copied, and on a
#     terminal (script(1)) a progress bar is drawn;
#   - a non-empty DEST, a directory that is neither a mount nor a store, and
#     a user who is neither root nor the mount's owner are refused with
#     exit 8 and one line, leaving DEST alone;
#   - `lsmfs backup STORE DEST` of the unmounted store gives the same tree.
. "$(dirname "$0")/lib.sh"
lib_init "$@"
command -v script >/dev/null || lib_skip "script(1) missing (package util-linux)"
command -v setpriv >/dev/null || lib_skip "setpriv missing (package util-linux)"
command -v getfattr >/dev/null || lib_skip "getfattr missing (package attr)"

MNT2=$T_DIR/mnt2
mkdir "$MNT2"
head -c 70000 /dev/urandom >"$T_DIR/pattern"

# content W I: the bytes writer W puts in its file I.
content() {
  printf 'writer %d file %d\n' "$1" "$2"
  head -c $((($2 * 7919 + $1 * 131) % 60000 + 1)) "$T_DIR/pattern"
}

writer() {  # writer W: until $T_DIR/stop exists
  local w=$1 i=0
  mkdir -p "$MNT/w$w"
  : >"$T_DIR/w$w.done"
  while [ ! -e "$T_DIR/stop" ]; do
    i=$((i + 1))
    echo "$i" >>"$T_DIR/w$w.started"
    content "$w" "$i" >"$MNT/w$w/f$i" || return 1
    echo "$i" >>"$T_DIR/w$w.done"
  done
}

count() { wc -l <"$1" 2>/dev/null || echo 0; }

# wait_done N: every writer has finished at least N more files than now.
wait_done() {
  local w want
  for w in 1 2 3; do
    want=$(($(count "$T_DIR/w$w.done") + $1))
    lib_t 60 bash -c "while [ \$(wc -l <'$T_DIR/w$w.done') -lt $want ]; do sleep 0.05; done" ||
      fail "writer $w stalled"
  done
}

mount2() {  # mount2 STORE: mounts a backup at $MNT2
  "$LSMFS" -f "$1" "$MNT2" </dev/null >"$T_DIR/mnt2.log" 2>&1 &
  MNT2_PID=$!
  lib_t 30 bash -c "until grep -q ' ${MNT2//\//\\/} ' /proc/self/mountinfo; do sleep 0.1; done" ||
    fail "backup $1 did not mount: $(cat "$T_DIR/mnt2.log")"
}
unmount2() {
  lib_t 30 fusermount3 -u "$MNT2" || fail "unmounting $MNT2"
  wait "$MNT2_PID" || fail "the backup's daemon exited non-zero: $(cat "$T_DIR/mnt2.log")"
}

# tree_sig DIR: names, types, sizes, modes, contents and xattrs.
tree_sig() {
  (cd "$1" && find . -printf '%p %y %s %m %l\n' | sort &&
     find . -type f -print0 | sort -z | xargs -0 md5sum &&
     getfattr -R -d -h . 2>/dev/null | sort)
}

# A small memtable, so the store has tables to link.
lib_mount -o memtable_mb=1,allow_other
check "a fixed tree, then writers; backup while they write"
mkdir -p "$MNT/fixed/sub"
head -c 3000000 /dev/urandom >"$MNT/fixed/large"
echo small >"$MNT/fixed/sub/small"
setfattr -n user.color -v blue "$MNT/fixed/sub/small"
ln -s sub/small "$MNT/fixed/link"
ln "$MNT/fixed/large" "$MNT/fixed/sub/hard"
truncate -s 10M "$MNT/fixed/sparse"
echo tail >>"$MNT/fixed/sparse"
mkdir "$MNT/snapped"
head -c 200000 /dev/urandom >"$MNT/snapped/a"
echo b >"$MNT/snapped/b"
lib_t 30 "$LSMFS" snapshot create "$MNT" pre || fail "snapshot create"
head -c 200000 /dev/urandom >"$MNT/snapped/a"
rm "$MNT/snapped/b"
writer 1 & W1=$!
writer 2 & W2=$!
writer 3 & W3=$!
wait_done 20
for w in 1 2 3; do cp "$T_DIR/w$w.done" "$T_DIR/w$w.before"; done
rc=0
lib_t 120 "$LSMFS" backup "$MNT" "$T_DIR/bk" >"$T_DIR/bk.out" 2>"$T_DIR/bk.err" || rc=$?
for w in 1 2 3; do cp "$T_DIR/w$w.started" "$T_DIR/w$w.after"; done
cat "$T_DIR/bk.out" "$T_DIR/bk.err"
[ "$rc" -eq 0 ] || fail "lsmfs backup exited $rc"
[ ! -s "$T_DIR/bk.err" ] || fail "stderr not empty on a pipe"
grep -Eq ' [1-9][0-9]* hard-linked' "$T_DIR/bk.out" ||
  fail "no table was hard-linked: $(cat "$T_DIR/bk.out")"
wait_done 20
touch "$T_DIR/stop"
wait "$W1" "$W2" "$W3" || fail "a writer failed"
for w in 1 2 3; do
  echo "  writer $w: $(count "$T_DIR/w$w.before") done before, $(count "$T_DIR/w$w.after") started by the end, $(count "$T_DIR/w$w.done") in all"
done

check "the backup mounts: files complete before it are exact, later ones absent"
mount2 "$T_DIR/bk"
for w in 1 2 3; do
  before=$(count "$T_DIR/w$w.before")
  after=$(count "$T_DIR/w$w.after")
  total=$(count "$T_DIR/w$w.done")
  [ "$total" -gt "$after" ] || fail "writer $w wrote nothing after the backup"
  for i in $(seq 1 "$before"); do
    cmp -s <(content "$w" "$i") "$MNT2/w$w/f$i" ||
      fail "w$w/f$i, complete before the backup, is missing or differs"
  done
  for i in $(seq $((after + 1)) "$total"); do
    [ ! -e "$MNT2/w$w/f$i" ] || fail "w$w/f$i, started after the backup, is in it"
  done
done
[ "$(tree_sig "$MNT/fixed")" = "$(tree_sig "$MNT2/fixed")" ] ||
  fail "the fixed tree differs in the backup"
lib_t 30 "$LSMFS" snapshot list "$MNT2" | grep '^pre ' >/dev/null ||
  fail "the snapshot is not listed in the backup"
[ "$(tree_sig "$MNT/.snapshots/pre")" = "$(tree_sig "$MNT2/.snapshots/pre")" ] ||
  fail "the snapshot's tree differs in the backup"
[ -e "$MNT2/.snapshots/pre/snapped/b" ] && [ ! -e "$MNT2/snapped/b" ] ||
  fail "the backup's snapshot or live tree is wrong about snapped/b"
unmount2
rc=0
lib_t 120 "$LSMFS" fsck "$T_DIR/bk" >"$T_DIR/fsck.out" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || fail "fsck of the backup: exit $rc: $(cat "$T_DIR/fsck.out")"

check "onto another filesystem: copied; a bar on a terminal"
mkdir "$T_DIR/tmpfs"
mount -t tmpfs -o size=256m tmpfs "$T_DIR/tmpfs" || fail "cannot mount a tmpfs"
LIB_CLEANUP+=('umount "$T_DIR/tmpfs" 2>/dev/null')
lib_t 120 script -qec "$LSMFS backup $MNT $T_DIR/tmpfs/bk" "$T_DIR/tty.out" >/dev/null ||
  fail "backup onto tmpfs failed: $(cat "$T_DIR/tty.out")"
grep -q ' 0 hard-linked' "$T_DIR/tty.out" || fail "tables linked across filesystems?"
grep -q '\[#*\.*\] *[0-9]*%' "$T_DIR/tty.out" || fail "no progress bar on a terminal"
mount2 "$T_DIR/tmpfs/bk"
[ "$(tree_sig "$MNT/fixed")" = "$(tree_sig "$MNT2/fixed")" ] ||
  fail "the fixed tree differs in the copied backup"
unmount2

check "refusals: non-empty DEST, not lsmfs, not the owner"
mkdir "$T_DIR/full"
echo keep >"$T_DIR/full/precious"
refused() {  # refused WHAT CMD...: exit 8 and one line on stderr
  local what=$1 rc=0
  shift
  lib_t 60 "$@" >"$T_DIR/r.out" 2>"$T_DIR/r.err" || rc=$?
  echo "  $what: exit $rc: $(cat "$T_DIR/r.err")"
  [ "$rc" -eq 8 ] || fail "$what: exit $rc, expected 8"
  [ "$(wc -l <"$T_DIR/r.err")" -eq 1 ] || fail "$what: not one line"
}
refused "non-empty dest" "$LSMFS" backup "$MNT" "$T_DIR/full"
[ "$(ls "$T_DIR/full")" = precious ] || fail "the non-empty DEST was changed"
mkdir "$T_DIR/plain"
refused "not a store" "$LSMFS" backup "$T_DIR/plain" "$T_DIR/nope"
[ ! -e "$T_DIR/nope" ] || fail "DEST made for a source that is not a store"
chmod 755 "$T_DIR"
refused "not the owner" setpriv --reuid=65534 --regid=65534 --clear-groups \
  "$LSMFS" backup "$MNT" /tmp/lsmfs-t_backup-never
grep -q "root or the mount's owner" "$T_DIR/r.err" || fail "EPERM not explained"
[ ! -e /tmp/lsmfs-t_backup-never ] || fail "a non-owner's backup was written"

check "an unmounted store: the same tree"
lib_unmount
lib_t 120 "$LSMFS" backup "$STORE" "$T_DIR/bk2" >"$T_DIR/bk2.out" 2>&1 ||
  fail "offline backup: $(cat "$T_DIR/bk2.out")"
cat "$T_DIR/bk2.out"
lib_mount
mount2 "$T_DIR/bk2"
[ "$(tree_sig "$MNT")" = "$(tree_sig "$MNT2")" ] ||
  fail "the offline backup differs from the store"
unmount2
lib_unmount
lib_pass
