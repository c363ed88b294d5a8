#!/usr/bin/env bash
# t_quiet: a mount that succeeds prints nothing.  Tools that capture a
# mount's output (xfstests, scripts) take any output for a failure, so
# routine events -- obsolete files deleted at open, recovery after an
# unclean stop -- go to the log at info/debug level: to syslog once the
# daemon detaches, on the terminal only with -o log_level.  An invalid
# log_level is one clear error.
. "$(dirname "$0")/lib.sh"
lib_init "$@"

# quiet_mount [OPTS...]: lsmfs detaches; its stdout and stderr are empty.
quiet_mount() {
  local rc=0
  lib_t 60 "$LSMFS" "$@" "$STORE" "$MNT" >"$T_DIR/out" 2>"$T_DIR/err" || rc=$?
  [ "$rc" -eq 0 ] || fail "lsmfs $* exited $rc: $(cat "$T_DIR/err")"
  [ ! -s "$T_DIR/out" ] || fail "lsmfs $* printed on stdout: $(cat "$T_DIR/out")"
  [ ! -s "$T_DIR/err" ] || fail "lsmfs $* printed on stderr: $(cat "$T_DIR/err")"
  lib_is_mounted "$MNT" fuse.lsmfs || fail "not mounted"
  DAEMON_PID=$(lib_daemon_pids "$STORE")
  [ -n "$DAEMON_PID" ] || fail "no daemon for $STORE"
}

write_some() {  # write_some TAG: a few files, one of some MB
  mkdir -p "$MNT/$1"
  for i in $(seq 50); do echo "$1 $i" >"$MNT/$1/f$i"; done
  lib_t 60 dd if=/dev/urandom of="$MNT/$1/big" bs=1M count=4 status=none
}

check "mount of a fresh store prints nothing"
quiet_mount
write_some first
lib_unmount

check "mount of an existing store (obsolete WAL and manifest deleted) prints nothing"
quiet_mount
write_some second
[ "$(cat "$MNT/first/f7")" = "first 7" ] || fail "data of the first mount missing"

check "mount after kill -9 (not closed cleanly: inodes counted) prints nothing"
kill -KILL "$DAEMON_PID"
lib_wait_exit "$DAEMON_PID"
lib_t 30 fusermount3 -u "$MNT" || fail "cannot unmount the dead mount"
lib_wait_unmounted "$MNT"
quiet_mount
[ "$(cat "$MNT/second/f9")" = "second 9" ] || fail "data of the second mount missing"
kill -KILL "$DAEMON_PID"
lib_wait_exit "$DAEMON_PID"
lib_t 30 fusermount3 -u "$MNT" || fail "cannot unmount the dead mount"
lib_wait_unmounted "$MNT"

check "-f -o log_level=info shows the recovery; -f alone does not"
lib_mount -o log_level=info
lib_unmount
grep -q "was not closed cleanly: counting inodes" "$LIB_FG_LOG" ||
  fail "no recovery line with log_level=info: $(cat "$LIB_FG_LOG")"
grep -q "mounted $STORE at $MNT" "$LIB_FG_LOG" ||
  fail "no mount line with log_level=info: $(cat "$LIB_FG_LOG")"
grep -q "deleted obsolete" "$LIB_FG_LOG" &&
  fail "debug lines shown at log_level=info: $(cat "$LIB_FG_LOG")"
lib_mount
write_some third
lib_unmount
[ ! -s "$LIB_FG_LOG" ] || fail "lsmfs -f printed with the default level: $(cat "$LIB_FG_LOG")"

check "-f -o log_level=debug shows the housekeeping"
lib_mount -o log_level=debug
lib_unmount
grep -q "engine: deleted obsolete" "$LIB_FG_LOG" ||
  fail "no obsolete-file line with log_level=debug: $(cat "$LIB_FG_LOG")"

check "an invalid log_level is one clear error and no mount"
rc=0
lib_t 30 "$LSMFS" -o log_level=loud "$STORE" "$MNT" >"$T_DIR/out" 2>"$T_DIR/err" || rc=$?
[ "$rc" -ne 0 ] || fail "log_level=loud accepted"
[ "$(wc -l <"$T_DIR/err")" -eq 1 ] || fail "expected one error line, got: $(cat "$T_DIR/err")"
grep -q "log_level=loud.*debug, info, warning or error" "$T_DIR/err" ||
  fail "unclear error: $(cat "$T_DIR/err")"
lib_is_mounted "$MNT" && fail "mounted despite the bad log_level"

lib_pass
