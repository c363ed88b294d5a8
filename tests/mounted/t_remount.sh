#!/usr/bin/env bash
# t_remount: everything written is there after an unmount and a remount
# (fusermount3 -u, SIGTERM, SIGINT, SIGHUP; detached and -f daemons), every
# file's sha256 and every entry's type, mode, size, link count and target
# unchanged.
. "$(dirname "$0")/lib.sh"
lib_init "$@"

populate() {  # populate DIR: small, inline-sized, large, sparse, links, xattrs
  local d=$1 i
  mkdir -p "$d/small" "$d/deep/a/b/c/d" "$d/empty"
  for i in $(seq 300); do echo "file $i" >"$d/small/f$i"; done
  head -c 3000 /dev/urandom >"$d/inline"
  head -c 5000 /dev/urandom >"$d/just-over-4k"
  head -c $((3 << 20)) /dev/urandom >"$d/large"
  head -c 65536 /dev/urandom >"$d/one-block"
  head -c 65537 /dev/urandom >"$d/block-plus-one"
  : >"$d/zero"
  dd if=/dev/urandom of="$d/sparse" bs=1k count=3 seek=10000 status=none
  echo deep >"$d/deep/a/b/c/d/leaf"
  ln "$d/inline" "$d/hardlink"
  ln -s inline "$d/symlink"
  ln -s /nowhere "$d/dangling"
  chmod 600 "$d/small/f1"
  chmod 4755 "$d/small/f2"
  chmod 1777 "$d/empty"
  mkfifo "$d/fifo"
  touch -d '1999-12-31 23:59:59.123456789' "$d/small/f3"
  setfattr -n user.k -v v "$d/inline"
}

digest() {  # includes mtimes to the nanosecond and xattrs
  lib_tree_digest "$MNT" >"$1"
  (cd "$MNT" && find . -printf '%p %T@\n' | sort) >>"$1"
  # (getfattr fails on the fifo, which cannot carry user.* attributes)
  { getfattr --absolute-names -d -R "$MNT" 2>/dev/null || true; } | sort >>"$1"
}

compare() {  # compare LABEL
  digest "$T_DIR/now"
  diff "$T_DIR/before" "$T_DIR/now" >"$T_DIR/diff" ||
    fail "$1: contents changed: $(head -10 "$T_DIR/diff")"
}

lib_mount
check "populate a tree"
lib_t 60 bash -c "$(declare -f populate); populate '$MNT/tree'"
digest "$T_DIR/before"
echo "$(wc -l <"$T_DIR/before") digest lines"

check "fusermount3 -u, remount: every sha256 and attribute unchanged"
lib_unmount
lib_mount_daemon
compare "after fusermount3 -u"

# SIGTERM goes to a foreground daemon (lib_daemon_done checks it exits 0);
# SIGINT and SIGHUP to detached ones (a background job of this shell
# inherits SIGINT ignored, and lsmfs, like libfuse, keeps an inherited
# SIG_IGN, as nohup expects for SIGHUP).
lib_unmount
lib_mount
for sig in TERM INT HUP; do
  check "SIG$sig unmounts cleanly and closes the store; remount unchanged"
  kill -"$sig" "$DAEMON_PID"
  lib_wait_unmounted "$MNT"
  lib_daemon_done
  if [ "$sig" = HUP ]; then lib_mount; else lib_mount_daemon; fi
  compare "after SIG$sig"
done

check "changes made after a remount persist too"
echo changed >"$MNT/tree/small/f10"
rm "$MNT/tree/small/f11"
mv "$MNT/tree/small/f12" "$MNT/tree/renamed"
lib_t 30 cp "$MNT/tree/large" "$MNT/tree/large.copy"
digest "$T_DIR/before"
lib_unmount
lib_mount
compare "after changes and remount"
lib_unmount

check "kill -9 (a crash): fsync'ed data survives, a file unlinked while open is reclaimed"
lib_mount -o auto_unmount
echo anchored >"$MNT/tree/anchor"
echo orphaned >"$MNT/tree/orphan"
exec 9<"$MNT/tree/orphan"
rm "$MNT/tree/orphan"
sync "$MNT/tree/anchor"        # fsync: everything before it is durable
kill -KILL "$DAEMON_PID"
wait "$LIB_FG_PID" 2>/dev/null || true
DAEMON_PID=
LIB_FG_PID=
exec 9<&-
check "auto_unmount removes the dead daemon's mount"
lib_wait_unmounted "$MNT"
lib_mount -o log_level=info       # the reclaim is logged at info level
[ "$(cat "$MNT/tree/anchor")" = anchored ] || fail "fsync'ed file lost in the crash"
[ ! -e "$MNT/tree/orphan" ] || fail "file unlinked before the crash is back"
grep -q orphan "$LIB_FG_LOG" ||
  fail "no orphan reclaimed at the mount after the crash: $(cat "$LIB_FG_LOG")"
lib_t 60 cmp "$MNT/tree/large" "$MNT/tree/large.copy" || fail "data changed by the crash"
lib_unmount

check "the -o sync mount sees the same data"
lib_mount
digest "$T_DIR/before"
lib_unmount
lib_mount -o sync
compare "sync mount"
echo durable >"$MNT/tree/durable"
lib_unmount
lib_mount
[ "$(cat "$MNT/tree/durable")" = durable ] || fail "write on a sync mount lost"

lib_unmount
lib_pass
