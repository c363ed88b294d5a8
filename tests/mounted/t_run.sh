#!/usr/bin/env bash
# t_run: `scripts/run STORE MOUNTPOINT` as a new user tries it, with a
# mountpoint (and its parent) that does not exist yet: it is created, the
# store mounted there, and the mount usable.  (scripts/run mounts with the
# tree's release build, build/, which it builds first.)
# It may build the release tree first (scripts/setup release): a longer
# limit than the default, still under ctest's 300 s.
LIB_LIMIT=${LIB_LIMIT:-290}
. "$(dirname "$0")/lib.sh"
lib_init "$@"
top=$(cd "$(dirname "$0")/../.." && pwd)
LSMFS=$top/build/lsmfs
LSMFS_REAL=$(readlink -f "$LSMFS")
MNT=$T_DIR/new/mnt

check "scripts/run STORE MOUNTPOINT creates the missing mountpoint and mounts"
[ ! -e "$T_DIR/new" ] || fail "setup"
lib_t 600 "$top/scripts/run" "$STORE" "$MNT" -o cache_mb=16 >"$T_DIR/run.log" 2>&1 ||
  fail "scripts/run failed: $(cat "$T_DIR/run.log")"
lib_is_mounted "$MNT" fuse.lsmfs || fail "$MNT is not an lsmfs mount after scripts/run"
DAEMON_PID=$(lib_daemon_pids "$STORE")
[ -n "$DAEMON_PID" ] || fail "no daemon serves $STORE"
echo run >"$MNT/f"
[ "$(cat "$MNT/f")" = run ] || fail "read back"
lib_unmount

lib_pass
