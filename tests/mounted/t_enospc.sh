#!/usr/bin/env bash
# t_enospc: a store on a small disk (a 64 MiB tmpfs) that fills up.
#   - the writer that fills it gets ENOSPC ("No space left on device"),
#     not EIO, and no request hangs;
#   - the mount keeps serving reads: everything fsynced before reads back;
#   - deleting files works on the full disk and gives their space back:
#     writes succeed again (the engine's space reserve and space pass,
#     lsm/space.c);
#   - the daemon unmounts cleanly (exit 0) on the full disk, and the store
#     mounts again while the disk is still full (the WAL is replayed
#     without writing a table);
#   - once the disk has room again (the tmpfs grows), the store reopens
#     with every fsynced file intact, deletes and writes work, it unmounts
#     cleanly, and `lsmfs fsck` (when built) finds it clean.
. "$(dirname "$0")/lib.sh"
lib_init "$@"
DISK=$T_DIR/disk
mkdir "$DISK"
mount -t tmpfs -o size=64m tmpfs "$DISK" || fail "cannot mount a tmpfs"
# (lib_cleanup unmounts everything under $T_DIR, deepest first: the FUSE
# mount, then this tmpfs.)
STORE=$DISK/store
SRC=$T_DIR/src
head -c $((4 << 20)) /dev/urandom >"$SRC"

lib_mount
check "fill the disk with fsynced 4 MiB files: the writer gets ENOSPC"
lib_fill "$SRC" "$MNT/f" 40
full=$LIB_FULL
[ "$full" -gt 0 ] || fail "160 MiB fit on a 64 MiB disk"
n=$((full - 1))
[ "$n" -ge 5 ] || fail "the disk was full after only $n files"
echo "$n files written and fsynced; f$full: $(head -1 "$T_DIR/dd.err")"

check "further writes fail with ENOSPC too, promptly"
rc=0
lib_t 60 bash -c "echo more >'$MNT/more' && sync '$MNT/more'" 2>"$T_DIR/w.err" || rc=$?
[ "$rc" -ne 0 ] && lib_enospc_or_fail "$rc" "$T_DIR/w.err" "a small write"
rc=0
lib_t 60 mkdir "$MNT/dir" 2>"$T_DIR/w.err" || rc=$?
[ "$rc" -ne 0 ] && lib_enospc_or_fail "$rc" "$T_DIR/w.err" "mkdir"

check "reads still work: every fsynced file reads back exactly"
for i in $(seq 1 "$n"); do
  lib_t 30 cmp "$SRC" "$MNT/f$i" || fail "f$i differs on the full disk"
done

check "delete files, then write again"
rc=0
lib_t 60 rm -f "$MNT/f1" "$MNT/f2" "$MNT/f3" 2>"$T_DIR/rm.err" || rc=$?
[ "$rc" -eq 0 ] ||
  fail "deleting files on a full disk failed (exit $rc): $(head -1 "$T_DIR/rm.err")"
rc=0
lib_t 60 dd if="$SRC" of="$MNT/after-delete" bs=1M count=1 conv=fsync \
  status=none 2>"$T_DIR/dd.err" || rc=$?
if [ "$rc" -ne 0 ]; then
  lib_enospc_or_fail "$rc" "$T_DIR/dd.err" "a write after deleting"
  fail "still ENOSPC after deleting 12 MiB"
fi

check "the deleted files' space is usable: fill the disk again"
lib_fill "$SRC" "$MNT/g" 10
g=10
if [ "$LIB_FULL" -gt 0 ]; then
  rm -f "$MNT/g$LIB_FULL"
  g=$((LIB_FULL - 1))
fi
[ "$g" -ge 1 ] || fail "after deleting 12 MiB not one 4 MiB file fits"
echo "$g more files written"

check "unmount on the full disk: the daemon closes the store and exits 0"
lib_unmount

check "remount while the disk is still full"
rc=0
lib_t 60 "$LSMFS" -f "$STORE" "$MNT" </dev/null >"$T_DIR/full-mount.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  lib_is_mounted "$MNT" fuse.lsmfs && break
  lib_alive "$pid" || break
  sleep 0.1
done
lib_is_mounted "$MNT" fuse.lsmfs || {
  wait "$pid" || rc=$?
  fail "the store cannot be opened on a full disk (exit $rc): $(cat "$T_DIR/full-mount.log")"
}
lib_t 30 fusermount3 -u "$MNT" || fail "fusermount3 -u failed"
lib_wait_unmounted "$MNT"
wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || fail "the daemon on the full disk exited $rc: $(tail -5 "$T_DIR/full-mount.log")"
! grep -Eq 'Sanitizer|runtime error:' "$T_DIR/full-mount.log" ||
  fail "sanitizer report from the daemon: $(cat "$T_DIR/full-mount.log")"

check "give the disk room; remount: every fsynced file intact"
mount -o remount,size=256m "$DISK" || fail "cannot grow the tmpfs"
lib_mount
for i in $(seq 4 "$n"); do
  lib_t 30 cmp "$SRC" "$MNT/f$i" || fail "f$i differs after the remount"
done
lib_t 30 cmp <(head -c $((1 << 20)) "$SRC") "$MNT/after-delete" ||
  fail "after-delete differs after the remount"
[ ! -e "$MNT/f1" ] || fail "f1, deleted, is back"
for j in $(seq 1 "$g"); do
  lib_t 30 cmp "$SRC" "$MNT/g$j" || fail "g$j differs after the remount"
done

check "deletes and writes work; unmount cleanly"
lib_t 30 rm -f "$MNT/f1" "$MNT/f2" "$MNT/f3" "$MNT/f$full" || fail "rm failed"
lib_t 60 dd if="$SRC" of="$MNT/new" bs=1M conv=fsync status=none || fail "write failed"
lib_t 30 cmp "$SRC" "$MNT/new" || fail "new differs"
lib_unmount
lib_mount
lib_t 30 cmp "$SRC" "$MNT/new" || fail "new differs after a remount"
[ ! -e "$MNT/f1" ] || fail "f1 is back"
lib_unmount

if lib_t 10 "$LSMFS" fsck --help 2>&1 | grep -i fsck >/dev/null; then
  check "lsmfs fsck: clean"
  rc=0
  lib_t 120 "$LSMFS" fsck "$STORE" >"$T_DIR/fsck.log" 2>&1 || rc=$?
  [ "$rc" -eq 0 ] || fail "lsmfs fsck exited $rc: $(tail -5 "$T_DIR/fsck.log")"
fi
lib_pass
