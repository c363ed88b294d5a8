#!/usr/bin/env bash
# t_mount_helper: lsmfs through mount(8) (lib_install_mount_helper makes
# mount.fuse3 find this build's lsmfs).  The fstab case uses an
# fstab-format file of the test's own via `mount -T FILE MOUNTPOINT` (the
# code path of /etc/fstab, left alone).
. "$(dirname "$0")/lib.sh"
lib_init "$@"
lib_install_mount_helper

daemon_for_store() {
  DAEMON_PID=$(lib_daemon_pids "$STORE")
  [ -n "$DAEMON_PID" ] || fail "no daemon serves $STORE"
}

source_of() {  # the source (fsname) of the mount at $1
  awk -v d="$1" '$5 == d { for (i = 7; $i != "-"; i++); print $(i + 2) }' \
    /proc/self/mountinfo
}

check "mount -t fuse.lsmfs STORE MOUNTPOINT -o lsmfs and generic options"
lib_t 60 mount -t fuse.lsmfs "$STORE" "$MNT" \
  -o rw,nosuid,nodev,noatime,cache_mb=16,attr_timeout=5,allow_other ||
  fail "mount -t fuse.lsmfs failed"
lib_is_mounted "$MNT" fuse.lsmfs || fail "not mounted as fuse.lsmfs after mount returned"
daemon_for_store
[ "$(source_of "$MNT")" = "$STORE" ] || fail "mount source is $(source_of "$MNT"), not $STORE"
grep -q " $MNT fuse.lsmfs .*allow_other" /proc/mounts || fail "allow_other not applied"
grep " $MNT " /proc/self/mountinfo | grep noatime >/dev/null || fail "noatime not applied"
echo via-mount >"$MNT/file"
[ "$(cat "$MNT/file")" = via-mount ] || fail "read back through mount -t"

check "umount MOUNTPOINT stops the daemon cleanly"
lib_t 30 umount "$MNT" || fail "umount failed"
lib_wait_unmounted "$MNT"
lib_wait_exit "$DAEMON_PID"

check "an fstab line and 'mount MOUNTPOINT'"
printf '# lsmfs test fstab\n%s %s fuse.lsmfs rw,nodev,nosuid,noauto,nofail,_netdev,memtable_mb=8,compression=none 0 0\n' \
  "$STORE" "$MNT" >"$T_DIR/fstab"
lib_t 60 mount -T "$T_DIR/fstab" "$MNT" || fail "mount -T fstab MOUNTPOINT failed"
lib_is_mounted "$MNT" fuse.lsmfs || fail "fstab mount not mounted"
daemon_for_store
[ "$(cat "$MNT/file")" = via-mount ] || fail "data from the first mount missing"
echo via-fstab >"$MNT/file2"

check "umount, then mount again from the fstab line: data kept"
lib_t 30 umount "$MNT" || fail "umount failed"
lib_wait_unmounted "$MNT"
lib_wait_exit "$DAEMON_PID"
lib_t 60 mount -T "$T_DIR/fstab" "$MNT" || fail "second fstab mount failed"
daemon_for_store
[ "$(cat "$MNT/file2")" = via-fstab ] || fail "data lost across fstab remounts"

check "umount && mount -t fuse.lsmfs at once, 5 times, quietly"
for i in $(seq 5); do
  lib_t 60 dd if=/dev/urandom of="$MNT/big$i" bs=1M count=4 status=none
  lib_t 30 umount "$MNT" || fail "umount $i failed"
  lib_t 60 mount -t fuse.lsmfs "$STORE" "$MNT" >"$T_DIR/out" 2>&1 ||
    fail "mount $i right after umount failed: $(cat "$T_DIR/out")"
  [ ! -s "$T_DIR/out" ] || fail "mount $i printed: $(cat "$T_DIR/out")"
  lib_wait_exit "$DAEMON_PID"
  daemon_for_store
done

check "a bad option through mount(8) fails with a message and no mount"
lib_t 30 umount "$MNT"
lib_wait_unmounted "$MNT"
lib_wait_exit "$DAEMON_PID"
if lib_t 60 mount -t fuse.lsmfs "$STORE" "$MNT" -o cache_mb=lots 2>"$T_DIR/err"; then
  fail "mount with a bad option succeeded"
fi
grep -q cache_mb "$T_DIR/err" || fail "no message naming the bad option: $(cat "$T_DIR/err")"
lib_is_mounted "$MNT" && fail "mounted despite the bad option"

lib_pass
