#!/usr/bin/env bash
# t_remount_ro: `mount -o remount,ro MOUNTPOINT` (backup scripts, shutdown
# sequences) and back with remount,rw, through mount(8) and mount.fuse3 and
# directly as `lsmfs -o remount,...`.  While read-only every change fails
# with EROFS, reads work, findmnt says ro, the daemon itself refuses
# changes, and everything written before is durable: a daemon killed -9
# while read-only leaves a store that mounts without recovery, all there.
. "$(dirname "$0")/lib.sh"
lib_init "$@"
lib_install_mount_helper
command -v python3 >/dev/null || fail "missing tool: python3"
command -v findmnt >/dev/null || fail "missing tool: findmnt"

# daemon_ro: the daemon's own view, from its MNT_IOC_GET_RO ioctl on the
# root: 1 read-only, 0 read-write.
daemon_ro() {
  lib_t 30 python3 -c '
import fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
# _IOR("L", 0xe0, uint32_t)
print(struct.unpack("I", fcntl.ioctl(fd, 0x80044ce0, bytes(4)))[0])' "$MNT"
}

mount_opts() { findmnt -no OPTIONS "$MNT"; }

# expect_erofs CMD...: CMD fails with "Read-only file system".
expect_erofs() {
  if lib_t 30 "$@" 2>"$T_DIR/err"; then
    fail "'$*' succeeded on a read-only mount"
  fi
  grep -q "Read-only file system" "$T_DIR/err" ||
    fail "'$*' failed otherwise: $(cat "$T_DIR/err")"
}

check_read_only() {  # check_read_only LABEL
  case "$(mount_opts)" in ro,*) ;; *) fail "$1: findmnt shows $(mount_opts)" ;; esac
  [ "$(daemon_ro)" = 1 ] || fail "$1: the daemon does not see itself read-only"
  expect_erofs sh -c "echo new >'$MNT/new'"
  expect_erofs sh -c "echo more >>'$MNT/small/f1'"
  expect_erofs mkdir "$MNT/newdir"
  expect_erofs rm "$MNT/small/f2"
  expect_erofs touch "$MNT/small/f3"
  expect_erofs setfattr -n user.x -v y "$MNT/small/f3"
  lib_tree_digest "$MNT" >"$T_DIR/now"
  diff -q "$T_DIR/before" "$T_DIR/now" >/dev/null || fail "$1: contents differ"
}

check_read_write() {  # check_read_write LABEL
  case "$(mount_opts)" in rw,*) ;; *) fail "$1: findmnt shows $(mount_opts)" ;; esac
  [ "$(daemon_ro)" = 0 ] || fail "$1: the daemon still sees itself read-only"
  echo "$1" >"$MNT/after-$2" || fail "$1: write failed"
  mkdir "$MNT/dir-$2" || fail "$1: mkdir failed"
}

# quiet CMD...: CMD succeeds and prints nothing.
quiet() {
  local rc=0
  lib_t 60 "$@" >"$T_DIR/out" 2>&1 || rc=$?
  [ "$rc" -eq 0 ] || fail "'$*' exited $rc: $(cat "$T_DIR/out")"
  [ ! -s "$T_DIR/out" ] || fail "'$*' printed: $(cat "$T_DIR/out")"
}

check "mount -t fuse.lsmfs, write"
quiet mount -t fuse.lsmfs "$STORE" "$MNT"
DAEMON_PID=$(lib_daemon_pids "$STORE")
mkdir "$MNT/small"
for i in $(seq 100); do echo "file $i" >"$MNT/small/f$i"; done
lib_t 60 dd if=/dev/urandom of="$MNT/big" bs=1M count=8 status=none
lib_tree_digest "$MNT" >"$T_DIR/before"

check "mount -o remount,ro: changes fail with EROFS, reads work"
quiet mount -o remount,ro "$MNT"
check_read_only "mount -o remount,ro"

check "mount -o remount,rw: changes work again"
quiet mount -o remount,rw "$MNT"
check_read_write "mount -o remount,rw" 1

check "remount,ro refused while a file is open for writing"
exec 3>>"$MNT/small/f5"
rc=0
lib_t 30 mount -o remount,ro "$MNT" 2>"$T_DIR/err" || rc=$?
exec 3>&-
[ "$rc" -ne 0 ] || fail "remount,ro with a file open for writing succeeded"
grep -q "open for writing" "$T_DIR/err" || fail "unclear message: $(cat "$T_DIR/err")"
[ "$(daemon_ro)" = 0 ] || fail "the daemon went read-only although the remount failed"

check "kill -9 while read-only: all data there, no recovery needed"
lib_t 60 dd if=/dev/urandom of="$MNT/big2" bs=1M count=8 status=none
lib_tree_digest "$MNT" >"$T_DIR/before"
quiet mount -o remount,ro "$MNT"
kill -KILL "$DAEMON_PID"
lib_wait_exit "$DAEMON_PID"
lib_t 30 fusermount3 -u "$MNT" || fail "cannot unmount the dead mount"
lib_wait_unmounted "$MNT"
lib_mount -o log_level=info
lib_tree_digest "$MNT" >"$T_DIR/now"
diff "$T_DIR/before" "$T_DIR/now" >"$T_DIR/diff" ||
  fail "data lost after kill -9 while read-only: $(head "$T_DIR/diff")"
grep -q "not closed cleanly" "$LIB_FG_LOG" &&
  fail "the store was not marked clean when read-only: $(cat "$LIB_FG_LOG")"

check "lsmfs -o remount,ro STORE MOUNTPOINT directly, and remount,rw MOUNTPOINT"
quiet "$LSMFS" -o remount,ro "$STORE" "$MNT"
check_read_only "lsmfs -o remount,ro"
grep -q "now read-only" "$LIB_FG_LOG" || fail "no log line: $(cat "$LIB_FG_LOG")"
quiet "$LSMFS" -o remount,rw "$MNT"
check_read_write "lsmfs -o remount,rw" 2
lib_unmount

check "-o ro at mount: the daemon is read-only too; remount,rw works"
lib_mount -o ro
lib_tree_digest "$MNT" >"$T_DIR/before"
check_read_only "-o ro"
quiet "$LSMFS" -o remount,rw "$MNT"
check_read_write "-o ro, then remount,rw" 3
lib_unmount

check "remount of something that is not an lsmfs mount is refused"
rc=0
lib_t 30 "$LSMFS" -o remount,ro "$T_DIR" 2>"$T_DIR/err" || rc=$?
[ "$rc" -ne 0 ] || fail "remount of a plain directory succeeded"
grep -q "not a FUSE mount" "$T_DIR/err" || fail "unclear message: $(cat "$T_DIR/err")"

lib_pass
