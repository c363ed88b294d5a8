#!/usr/bin/env bash
# t_autounmount: -o auto_unmount removes the mount of a daemon killed
# with SIGKILL, every time (the kill comes from a process that has just
# written and fsync'ed a file on the mount, as in t_tmpfile; libfuse's
# fusermount3 left the dead mount about once in 10-20 kills); it never
# unmounts a mount made at the same path since; it leaves no process
# behind after a clean unmount; and it works for a detached daemon.
. "$(dirname "$0")/lib.sh"
lib_init "$@"
command -v python3 >/dev/null || fail "missing tool: python3"

KILLS=${T_AUTOUNMOUNT_KILLS:-20}

# crash.py DIR PID: an open O_TMPFILE with 2 MiB fsync'ed, then kill -9.
cat >"$T_DIR/crash.py" <<'EOF'
import os, signal, sys
fd = os.open(sys.argv[1], os.O_TMPFILE | os.O_RDWR, 0o600)
os.write(fd, os.urandom(2 << 20))
os.fsync(fd)
os.kill(int(sys.argv[2]), signal.SIGKILL)
EOF

# The watcher of daemon $1 (its process title), if still running.
watcher_of() {
  pgrep -f -- "^lsmfs: auto_unmount of pid $1\$" || true
}

# killed: the daemon is gone (reaped) and its mount removed.
killed() {
  wait "$LIB_FG_PID" 2>/dev/null || true
  DAEMON_PID=
  LIB_FG_PID=
  lib_wait_unmounted "$MNT"
}

mkdir "$STORE"
check "kill -9 of the daemon, $KILLS times: the dead mount is removed each time"
for i in $(seq "$KILLS"); do
  opts=auto_unmount
  [ $((i % 2)) -eq 0 ] && opts=auto_unmount,no_io_uring
  lib_mount -o "$opts"
  mkdir -p "$MNT/d"
  lib_t 60 python3 "$T_DIR/crash.py" "$MNT/d" "$DAEMON_PID" || fail "crash.py (kill $i)"
  killed
done

check "a clean unmount ends the watcher with the daemon"
lib_mount -o auto_unmount
pid=$DAEMON_PID
[ -n "$(watcher_of "$pid")" ] || fail "no watcher process for daemon $pid"
[ "$(lib_daemon_pids "$STORE")" = "$pid" ] ||
  fail "the watcher looks like a daemon of the store: $(lib_daemon_pids "$STORE")"
lib_unmount
[ -z "$(watcher_of "$pid")" ] || fail "watcher of daemon $pid still running"

check "a mount made at the same path since is never unmounted"
lib_mount -o auto_unmount
first=$DAEMON_PID
first_fg=$LIB_FG_PID
exec 9<"$MNT/d"                 # keeps the first mount's super block alive
umount -l "$MNT"
lib_wait_unmounted "$MNT"
STORE2=$T_DIR/store2
mkdir "$STORE2"
"$LSMFS" -f "${LIB_TRANSPORT_OPTS[@]}" "$STORE2" "$MNT" </dev/null >"$T_DIR/second.log" 2>&1 &
second=$!
for i in $(seq 600); do
  lib_is_mounted "$MNT" fuse.lsmfs && break
  lib_alive "$second" || fail "second mount failed: $(cat "$T_DIR/second.log")"
  sleep 0.1
done
lib_is_mounted "$MNT" fuse.lsmfs || fail "second mount did not come up"
kill -KILL "$first"
wait "$first_fg" 2>/dev/null || true
exec 9<&-
for i in $(seq 300); do         # the first daemon's watcher is done
  [ -z "$(watcher_of "$first")" ] && break
  sleep 0.1
done
[ -z "$(watcher_of "$first")" ] || fail "the first daemon's watcher still runs"
lib_is_mounted "$MNT" fuse.lsmfs || fail "the second mount was unmounted"
lib_t 30 touch "$MNT/alive" || fail "the second mount does not answer"
lib_t 30 fusermount3 -u "$MNT" || fail "fusermount3 -u of the second mount"
wait "$second" || fail "the second daemon exited $?: $(cat "$T_DIR/second.log")"
DAEMON_PID=
LIB_FG_PID=

check "a detached daemon (no -f): kill -9 removes its mount"
lib_mount_daemon -o auto_unmount
kill -KILL "$DAEMON_PID"
DAEMON_PID=
lib_wait_unmounted "$MNT"

lib_pass
