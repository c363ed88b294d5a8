#!/usr/bin/env bash
# t_mount_helper: lsmfs through mount(8).  `mount -t fuse.lsmfs` runs
# /sbin/mount.fuse.lsmfs if present, else mount.fuse3 (as mount.fuse),
# which runs `lsmfs STORE MOUNTPOINT -o OPTIONS` through /bin/sh.  mount(8)
# clears PATH for its helpers, so /bin/sh searches its default path
# (/usr/local/sbin first): the test links the built lsmfs in as
# /usr/local/sbin/lsmfs for its duration (refusing to touch an lsmfs that
# is already installed there) and removes the link on every exit path.
# The fstab case uses an fstab-format file of the test's own via
# `mount -T FILE MOUNTPOINT` (the code path of /etc/fstab, left alone).
. "$(dirname "$0")/lib.sh"
lib_init "$@"
[ -x /sbin/mount.fuse3 ] || [ -x /usr/sbin/mount.fuse3 ] ||
  fail "mount.fuse3 missing (package fuse3)"
for h in /sbin/mount.fuse.lsmfs /usr/sbin/mount.fuse.lsmfs; do
  [ ! -e "$h" ] || fail "$h is installed: mount(8) would use it, not mount.fuse3"
done

LINK=/usr/local/sbin/lsmfs
if [ -e "$LINK" ] || [ -L "$LINK" ]; then
  [ "$(readlink "$LINK")" = "$LSMFS" ] ||
    fail "$LINK exists and is not this build's lsmfs; not touching it"
  rm -f "$LINK"             # left over from an interrupted run of this test
fi
[ "$(env -i /bin/sh -c 'command -v lsmfs' || true)" = "" ] ||
  fail "an lsmfs on /bin/sh's default path ($(env -i /bin/sh -c 'command -v lsmfs')) would shadow the test's"
# MADE_DIR is read by the cleanup step below.
MADE_DIR=
if [ ! -d /usr/local/sbin ]; then
  mkdir -p /usr/local/sbin
  # shellcheck disable=SC2034
  MADE_DIR=1
fi
ln -s "$LSMFS" "$LINK"
LIB_CLEANUP+=('[ "$(readlink "$LINK")" = "$LSMFS" ] && rm -f "$LINK"; [ -n "$MADE_DIR" ] && rmdir /usr/local/sbin')
[ "$(env -i /bin/sh -c 'command -v lsmfs')" = "$LINK" ] || fail "link setup"

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
grep " $MNT " /proc/self/mountinfo | grep -q noatime || fail "noatime not applied"
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
