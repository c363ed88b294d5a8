#!/usr/bin/env bash
# t_enospc: a store on a small disk (a 64 MiB tmpfs) that fills up.
#   - the writer that fills it gets ENOSPC ("No space left on device"),
#     not EIO, and no request hangs;
#   - the mount keeps serving reads: everything fsynced before reads back;
#   - deleting files: works and lets writes succeed again (required with
#     T_ENOSPC_STRICT=1; today's engine refuses every write, deletes
#     included, after a failed WAL append until the store is reopened, and
#     cannot reopen while the disk is full: recovery flushes the WAL into
#     a new table first; without T_ENOSPC_STRICT those two are reported,
#     not failed);
#   - once the disk has room again (the tmpfs grows), the store reopens
#     with every fsynced file intact, deletes and writes work, it unmounts
#     cleanly, and `lsmfs fsck` (when built) finds it clean.
. "$(dirname "$0")/lib.sh"
lib_init "$@"
strict=${T_ENOSPC_STRICT:-0}
DISK=$T_DIR/disk
mkdir "$DISK"
mount -t tmpfs -o size=64m tmpfs "$DISK" || fail "cannot mount a tmpfs"
# (lib_cleanup unmounts everything under $T_DIR, deepest first: the FUSE
# mount, then this tmpfs.)
STORE=$DISK/store
SRC=$T_DIR/src
head -c $((4 << 20)) /dev/urandom >"$SRC"

# enospc_or_ok RC ERRFILE WHAT: RC 0, or a failure that says ENOSPC.
enospc_or_fail() {
  local rc=$1 err=$2 what=$3
  [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || fail "$what hung (timeout)"
  if grep -q "Input/output error" "$err"; then
    fail "$what failed with EIO instead of ENOSPC: $(cat "$err")"
  fi
  grep -q "No space left on device" "$err" ||
    fail "$what failed (exit $rc) without ENOSPC: $(cat "$err")"
}

lib_mount
check "fill the disk with fsynced 4 MiB files: the writer gets ENOSPC"
n=0
full=0
for i in $(seq 1 40); do
  rc=0
  lib_t 60 dd if="$SRC" of="$MNT/f$i" bs=1M conv=fsync status=none \
    2>"$T_DIR/dd.err" || rc=$?
  if [ "$rc" -ne 0 ]; then
    enospc_or_fail "$rc" "$T_DIR/dd.err" "writing f$i"
    full=$i
    break
  fi
  n=$i
done
[ "$full" -gt 0 ] || fail "160 MiB fit on a 64 MiB disk"
[ "$n" -ge 5 ] || fail "the disk was full after only $n files"
echo "$n files written and fsynced; f$full: $(head -1 "$T_DIR/dd.err")"

check "further writes fail with ENOSPC too, promptly"
rc=0
lib_t 60 bash -c "echo more >'$MNT/more' && sync '$MNT/more'" 2>"$T_DIR/w.err" || rc=$?
[ "$rc" -ne 0 ] && enospc_or_fail "$rc" "$T_DIR/w.err" "a small write"
rc=0
lib_t 60 mkdir "$MNT/dir" 2>"$T_DIR/w.err" || rc=$?
[ "$rc" -ne 0 ] && enospc_or_fail "$rc" "$T_DIR/w.err" "mkdir"

check "reads still work: every fsynced file reads back exactly"
for i in $(seq 1 "$n"); do
  lib_t 30 cmp "$SRC" "$MNT/f$i" || fail "f$i differs on the full disk"
done

check "delete files, then write again"
rc=0
lib_t 60 rm -f "$MNT/f1" "$MNT/f2" "$MNT/f3" 2>"$T_DIR/rm.err" || rc=$?
deleted=0
if [ "$rc" -eq 0 ]; then
  deleted=1
  rc=0
  lib_t 60 dd if="$SRC" of="$MNT/after-delete" bs=1M count=1 conv=fsync \
    status=none 2>"$T_DIR/dd.err" || rc=$?
  if [ "$rc" -ne 0 ]; then
    enospc_or_fail "$rc" "$T_DIR/dd.err" "a write after deleting"
    [ "$strict" -eq 0 ] || fail "still ENOSPC after deleting 12 MiB"
    echo "NOTE: deleting worked, but writing still fails with ENOSPC"
  fi
else
  enospc_or_fail "$rc" "$T_DIR/rm.err" "rm"
  [ "$strict" -eq 0 ] ||
    fail "deleting files on a full disk fails: $(head -1 "$T_DIR/rm.err")"
  echo "NOTE: on the full disk deleting fails too: $(head -1 "$T_DIR/rm.err")"
fi

check "unmount: the daemon exits (1 only if the full disk kept it from closing the store)"
lib_t 30 fusermount3 -u "$MNT" || fail "fusermount3 -u $MNT failed"
lib_wait_unmounted "$MNT"
lib_wait_exit "$DAEMON_PID"
rc=0
wait "$LIB_FG_PID" || rc=$?
DAEMON_PID=
LIB_FG_PID=
if [ "$rc" -ne 0 ]; then
  [ "$rc" -eq 1 ] && grep -q "closing the store.*No space left on device" "$LIB_FG_LOG" ||
    fail "daemon exited $rc: $(tail -5 "$LIB_FG_LOG")"
  [ "$strict" -eq 0 ] || fail "the store could not be closed: $(tail -1 "$LIB_FG_LOG")"
  echo "NOTE: the daemon exited 1: $(tail -1 "$LIB_FG_LOG")"
fi
! grep -Eq 'Sanitizer|runtime error:' "$LIB_FG_LOG" ||
  fail "sanitizer report from the daemon: $(cat "$LIB_FG_LOG")"

check "remount while the disk is still full"
rc=0
lib_t 60 "$LSMFS" -f "$STORE" "$MNT" </dev/null >"$T_DIR/full-mount.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  lib_is_mounted "$MNT" fuse.lsmfs && break
  lib_alive "$pid" || break
  sleep 0.1
done
if lib_is_mounted "$MNT" fuse.lsmfs; then
  echo "mounted on the full disk"
  lib_t 30 fusermount3 -u "$MNT" || fail "fusermount3 -u failed"
  lib_wait_unmounted "$MNT"
  wait "$pid" || true
else
  wait "$pid" || rc=$?
  grep -q "No space left on device" "$T_DIR/full-mount.log" ||
    fail "mount on the full disk failed (exit $rc) without ENOSPC: $(cat "$T_DIR/full-mount.log")"
  [ "$strict" -eq 0 ] ||
    fail "the store cannot be opened on a full disk: $(cat "$T_DIR/full-mount.log")"
  echo "NOTE: the store cannot be opened on the full disk: $(head -1 "$T_DIR/full-mount.log")"
fi

check "give the disk room; remount: every fsynced file intact"
mount -o remount,size=256m "$DISK" || fail "cannot grow the tmpfs"
lib_mount
first=1
[ "$deleted" -eq 1 ] && first=4
for i in $(seq "$first" "$n"); do
  lib_t 30 cmp "$SRC" "$MNT/f$i" || fail "f$i differs after the remount"
done
if [ "$deleted" -eq 1 ]; then
  [ ! -e "$MNT/f1" ] || fail "f1, deleted, is back"
fi

check "deletes and writes work; unmount cleanly"
lib_t 30 rm -f "$MNT/f1" "$MNT/f2" "$MNT/f3" "$MNT/f$full" || fail "rm failed"
lib_t 60 dd if="$SRC" of="$MNT/new" bs=1M conv=fsync status=none || fail "write failed"
lib_t 30 cmp "$SRC" "$MNT/new" || fail "new differs"
lib_unmount
lib_mount
lib_t 30 cmp "$SRC" "$MNT/new" || fail "new differs after a remount"
[ ! -e "$MNT/f1" ] || fail "f1 is back"
lib_unmount

if lib_t 10 "$LSMFS" fsck --help 2>&1 | grep -qi fsck; then
  check "lsmfs fsck: clean"
  rc=0
  lib_t 120 "$LSMFS" fsck "$STORE" >"$T_DIR/fsck.log" 2>&1 || rc=$?
  [ "$rc" -eq 0 ] || fail "lsmfs fsck exited $rc: $(tail -5 "$T_DIR/fsck.log")"
fi
lib_pass
