#!/usr/bin/env bash
# t_lock_wait: `umount MNT && lsmfs STORE MNT` works every time.  umount
# returns once the kernel has detached the mount, while the old daemon
# may still be closing the store (its lock held); a new mount waits for
# such a daemon (bounded).  A store whose mount is live is refused at
# once, naming the daemon's pid and mountpoint.  A 1 MiB memtable keeps
# flushes and compactions under way when umount returns, so the old
# daemon holds the lock a while (without the wait, about half of the
# mounts failed).
. "$(dirname "$0")/lib.sh"
lib_init "$@"

lib_mount_daemon -o memtable_mb=1
check "20 x (write 4 MB, umount, mount again at once)"
for i in $(seq 20); do
  lib_t 60 dd if=/dev/urandom of="$MNT/f$i" bs=1M count=4 status=none
  old=$DAEMON_PID
  lib_t 30 umount "$MNT" || fail "umount $i failed"
  rc=0
  lib_t 60 "$LSMFS" -o memtable_mb=1 "$STORE" "$MNT" 2>"$T_DIR/err" || rc=$?
  [ "$rc" -eq 0 ] || fail "mount $i right after umount exited $rc: $(cat "$T_DIR/err")"
  [ ! -s "$T_DIR/err" ] || fail "mount $i printed: $(cat "$T_DIR/err")"
  lib_is_mounted "$MNT" fuse.lsmfs || fail "mount $i: not mounted"
  lib_wait_exit "$old"
  DAEMON_PID=$(lib_daemon_pids "$STORE")
  [ "$(echo "$DAEMON_PID" | wc -l)" -eq 1 ] || fail "daemons for the store: $DAEMON_PID"
done
for i in 1 10 20; do
  [ "$(stat -c %s "$MNT/f$i")" -eq $((4 << 20)) ] || fail "f$i lost data"
done

check "a second mount of a live mount is refused, naming pid and mountpoint"
mkdir "$T_DIR/mnt2"
rc=0
# Bounded well under the 30 s a closing daemon is waited for.
lib_t 20 "$LSMFS" "$STORE" "$T_DIR/mnt2" 2>"$T_DIR/err" || rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "second mount exited $rc"
grep -q "store $STORE is in use: mounted at $MNT by process $DAEMON_PID" "$T_DIR/err" ||
  fail "unexpected message: $(cat "$T_DIR/err")"
lib_is_mounted "$T_DIR/mnt2" && fail "second mount mounted"

check "lsmfs fsck of the mounted store names the mount too"
rc=0
lib_t 20 "$LSMFS" fsck "$STORE" >"$T_DIR/out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "fsck of a mounted store succeeded"
grep -q "locked by process $DAEMON_PID (mounted at $MNT)" "$T_DIR/out" ||
  fail "fsck message: $(cat "$T_DIR/out")"

check "a mountpoint with a space (escaped in mountinfo) is recognised too"
lib_t 30 umount "$MNT" || fail "umount failed"
lib_wait_unmounted "$MNT"
SP="$T_DIR/with space"
mkdir "$SP"
# (the generic cleanup reads mountinfo's escaped form of this path)
LIB_CLEANUP+=('timeout 10 fusermount3 -u "$SP" 2>/dev/null || umount -l "$SP" 2>/dev/null')
lib_t 60 "$LSMFS" "$STORE" "$SP" || fail "mount at '$SP' failed"
lib_wait_exit "$DAEMON_PID"
DAEMON_PID=$(lib_daemon_pids "$STORE")
rc=0
lib_t 20 "$LSMFS" "$STORE" "$MNT" 2>"$T_DIR/err" || rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "mount of a store live at '$SP' exited $rc"
grep -q "mounted at $SP by process $DAEMON_PID" "$T_DIR/err" ||
  fail "unexpected message: $(cat "$T_DIR/err")"
lib_t 30 umount "$SP" || fail "umount failed"
lib_wait_unmounted "$SP"
lib_wait_exit "$DAEMON_PID"
lib_pass
