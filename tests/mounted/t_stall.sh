#!/usr/bin/env bash
# t_stall: metadata requests complete while a large writer is held in a
# write stall.  The daemon runs with 1 MiB memtables and no compactions
# (LSMFS_TEST_HOLD_COMPACTIONS, a hook for tests only), so a large write
# fills level 0 up to its stop trigger and the engine then holds the
# writer for good (its debug log says so).  While it is held: creates,
# stats, renames, listings, unlinks, a mkdir and a chmod in another
# directory, and reads of a file written before, must all complete (each
# bounded by `timeout`; no timing is measured).  Then kill -9 of the
# daemon and a remount without the hook: the changes made during the stall
# were acknowledged, so they are there.
#
# File data goes through the memtable here (-o blob_min=0): with blob
# files only 40-byte references would reach it, and the write would end
# long before level 0 filled.  The stall, and the reader not waiting
# behind it, are the same with blob files.
#
# Before bulk writes yielded (lsm.h, LSM_BULK) the thread that serves
# metadata waited behind the held writer, and the first create hung.
#
# The read of small/cached is served from the page cache.  Uncached (the
# caches dropped just before it, by hand, 2026-12-05) it did not complete
# within its 20 s during the stall: an open problem, not yet broken down
# (perhaps the kernel's background FUSE requests, readahead among them,
# queued behind the held writeback).  So ctest never runs this test
# beside one that drops the caches (CMakeLists.txt, MOUNTED_KEEP_CACHES).
. "$(dirname "$0")/lib.sh"
lib_init "$@"
command -v dd >/dev/null || lib_skip "dd is missing"

LSMFS_TEST_HOLD_COMPACTIONS=1 lib_mount -o memtable_mb=1,log_level=debug,blob_min=0
mkdir "$MNT/small"
head -c 20000 /dev/urandom >"$T_DIR/cached"
lib_t 20 cp "$T_DIR/cached" "$MNT/small/cached" || fail "writing small/cached failed"
lib_t 20 cmp -s "$T_DIR/cached" "$MNT/small/cached" || fail "small/cached reads back wrong"

check "a 512 MiB writer is held once level 0 reaches its stop trigger"
timeout -k 5 "$LIB_LIMIT" dd if=/dev/urandom of="$MNT/big" bs=1M count=512 conv=fsync \
  status=none 2>/dev/null &
dd_pid=$!
LIB_CLEANUP+=("kill -KILL $dd_pid 2>/dev/null")
held=0
for _ in $(seq 1200); do
  if grep -q "writes held: level 0 is at its stop trigger" "$LIB_FG_LOG"; then
    held=1
    break
  fi
  lib_alive "$dd_pid" || fail "the writer ended before it was held"
  sleep 0.1
done
[ "$held" -eq 1 ] || fail "the writer was not held within 120 s: $(tail -5 "$LIB_FG_LOG")"

check "while it is held: create, stat, rename, list, unlink, mkdir, chmod, read"
m=$MNT/small
for i in $(seq 20); do
  lib_t 20 touch "$m/f$i" || fail "create of f$i did not complete during the stall"
  lib_t 20 stat "$m/f$i" >/dev/null || fail "stat of f$i did not complete"
  lib_t 20 mv "$m/f$i" "$m/r$i" || fail "rename of f$i did not complete"
  n=$(lib_t 20 ls "$m" | wc -l) || fail "listing small/ did not complete"
  want=$((1 + (i < 6 ? i : 6)))     # cached, r1..r5 kept, the newest
  [ "$n" -eq "$want" ] || fail "small/ lists $n entries, expected $want"
  if [ "$i" -gt 5 ]; then
    lib_t 20 rm "$m/r$i" || fail "unlink of r$i did not complete"
  fi
done
lib_t 20 mkdir "$m/sub" || fail "mkdir did not complete during the stall"
lib_t 20 chmod 700 "$m/sub" || fail "chmod did not complete during the stall"
lib_t 20 cmp -s "$T_DIR/cached" "$m/cached" || fail "reading small/cached failed during the stall"
lib_alive "$dd_pid" || fail "the writer was released: the stall did not last"

check "kill -9 of the daemon, remount: the changes made during the stall are there"
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
LIB_FG_PID=
kill -KILL "$dd_pid" 2>/dev/null || true
wait "$dd_pid" 2>/dev/null || true
lib_t 30 fusermount3 -u -z "$MNT" || fail "lazy unmount of the dead mount failed"
lib_wait_unmounted "$MNT"
lib_mount
got=$(lib_t 30 bash -c 'cd "$1/small" && ls | sort | tr "\n" " "' _ "$MNT") ||
  fail "listing small/ after the remount failed"
[ "$got" = "cached r1 r2 r3 r4 r5 sub " ] || fail "small/ after the remount: '$got'"
[ "$(stat -c %a "$MNT/small/sub")" = 700 ] || fail "sub lost its chmod"
lib_t 20 cmp -s "$T_DIR/cached" "$MNT/small/cached" || fail "small/cached differs after the remount"

lib_unmount
lib_pass
