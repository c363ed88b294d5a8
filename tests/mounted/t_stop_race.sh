#!/usr/bin/env bash
# t_stop_race: a stop signal that lands between the reader's last check of
# the exit flag and its poll(2) still ends the daemon.  gdb stops the
# reader at poll's entry after one request and sets the flag as libfuse's
# SIGTERM handler does (fuse_session_exit); the daemon must unmount and
# exit within 5 s with no further request.
. "$(dirname "$0")/lib.sh"
lib_init "$@"
command -v gdb >/dev/null || lib_skip "gdb is missing"

lib_mount
check "exit flag set just before poll: the daemon still exits"
lib_t 120 gdb -p "$DAEMON_PID" -batch -nx -ex 'set pagination off' \
  -ex 'thread 1' -ex 'break __interceptor_poll thread 1' -ex 'break poll thread 1' \
  -ex "shell (sleep 1; stat '$MNT/nosuch' >/dev/null 2>&1) &" \
  -ex 'continue' -ex 'frame 1' -ex 'call (void)fuse_session_exit(se)' \
  -ex 'delete' -ex 'detach' >"$T_DIR/gdb.log" 2>&1 ||
  fail "gdb failed: $(tail -5 "$T_DIR/gdb.log")"
grep -q 'fuse_session_exit\|mnt_receive' "$T_DIR/gdb.log" ||
  fail "gdb did not stop in mnt_receive: $(tail -5 "$T_DIR/gdb.log")"
for i in $(seq 50); do
  lib_is_mounted "$MNT" fuse.lsmfs || break
  sleep 0.1
done
lib_is_mounted "$MNT" fuse.lsmfs && fail "still mounted 5 s after the exit flag was set"
lib_daemon_done
lib_pass
