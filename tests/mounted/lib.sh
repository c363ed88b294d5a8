# tests/mounted/lib.sh — helpers shared by the mounted tests (t_*.sh).
#
# Usage, at the top of a test:
#   . "$(dirname "$0")/lib.sh"
#   lib_init "$@"          # $1 = build directory holding lsmfs
#   lib_mount [OPTS]       # mounts $STORE at $MNT: lsmfs -f as a child
#                          # (or lib_mount_daemon [OPTS]: lsmfs detaches)
#   ...checks...           # use `check "what"` and `fail "why"`
#   lib_unmount            # fusermount3 -u; the daemon must exit cleanly
#   lib_pass               # (or lib_skip "why": a tool it drives is missing)
#
# Guarantees, on every exit path (success, failure, signal, watchdog):
#   - everything mounted under the test's temporary directory is
#     unmounted (fusermount3 -u, else umount -l), every lsmfs daemon
#     serving a store under it is stopped (SIGTERM, then SIGKILL), the
#     test's extra cleanup steps run, and the temporary directory goes;
#   - the whole test is bounded by LIB_LIMIT seconds (default 240, under
#     ctest's 300): a watchdog kills the daemons first (which fails any
#     request stuck on the mount) and then the test itself.
# Steps that touch the mount run under `timeout` (see lib_t), so a dead
# mount fails the test instead of hanging it.

# LSMFS_TRANSPORT=io_uring (scripts/test's second pass): every mount gets
# -o io_uring, and a foreground daemon that fell back to /dev/fuse (its
# log says so) fails the test.  The caller turns the fuse module's
# enable_uring on.  Unset or "dev": the daemon's default.

set -euo pipefail

LIB_LIMIT=${LIB_LIMIT:-240}
LIB_TRANSPORT_OPTS=()
case "${LSMFS_TRANSPORT:-}" in
  io_uring) LIB_TRANSPORT_OPTS=(-o io_uring) ;;
  ''|dev) ;;
  *) echo "lib.sh: LSMFS_TRANSPORT must be io_uring or dev" >&2; exit 2 ;;
esac
LIB_NAME=$(basename "$0" .sh)
LIB_CLEANUP=()          # extra shell commands run by lib_cleanup
LIB_WATCHDOG=
LIB_PASSED=0
T_DIR=
DAEMON_PID=
LIB_FG_PID=             # the foreground daemon (a child of this shell)
LIB_FG_LOG=
LIB_NMOUNT=0

fail() {
  echo "FAIL [$LIB_NAME]: $*" >&2
  exit 1
}

check() {
  echo "check: $*"
}

# lib_t SECONDS CMD...: runs CMD bounded in time (killed 5 s after TERM).
lib_t() {
  local secs=$1
  shift
  timeout -k 5 "$secs" "$@"
}

lib_init() {
  local build=${1:-}
  [ -n "$build" ] || fail "usage: bash $0 BUILD_DIR"
  [ "$(id -u)" -eq 0 ] ||
    fail "mounted tests must run as root (they mount FUSE filesystems)"
  [ -c /dev/fuse ] ||
    fail "/dev/fuse is missing: this machine (or container) cannot mount FUSE"
  [ -r /dev/fuse ] && [ -w /dev/fuse ] || fail "/dev/fuse is not usable"
  [ -d "$build" ] || fail "build directory $build does not exist"
  LIB_BUILD=$(cd "$build" && pwd)
  LSMFS=$LIB_BUILD/lsmfs
  [ -x "$LSMFS" ] || fail "$build/lsmfs is not built"
  LSMFS_REAL=$(readlink -f "$LSMFS")
  local tool
  for tool in fusermount3 timeout pgrep ps; do
    command -v "$tool" >/dev/null || fail "missing tool: $tool"
  done

  T_DIR=$(mktemp -d /tmp/lsmfs-"$LIB_NAME".XXXXXX)
  STORE=$T_DIR/store
  MNT=$T_DIR/mnt
  mkdir "$MNT"
  trap lib_cleanup EXIT
  trap 'echo "[$LIB_NAME] interrupted" >&2; exit 130' INT TERM HUP
  lib_start_watchdog
  echo "[$LIB_NAME] lsmfs=$LSMFS tmp=$T_DIR"
}

# The watchdog is a separate process: it outlives a test stuck in the
# kernel on a dead mount, unsticks it by killing the daemons (the kernel
# then fails pending requests with ENOTCONN), then ends the test.
lib_start_watchdog() {
  local me=$$ dir=$T_DIR real=$LSMFS_REAL limit=$LIB_LIMIT name=$LIB_NAME
  # Only the watchdog shell itself holds the test's stderr (for its
  # message); its sleeps do not, so killing it releases the output pipe.
  (
    trap - EXIT INT TERM HUP
    sleep "$limit" </dev/null >/dev/null 2>&1
    echo "FAIL [$name]: time limit of $limit s reached; killing the daemons" >&2
    for p in $(pgrep -f -- "$dir" || true); do
      [ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$real" ] &&
        kill -KILL "$p" 2>/dev/null
    done
    kill -TERM "$me" 2>/dev/null
    sleep 10 </dev/null >/dev/null 2>&1
    kill -KILL "$me" 2>/dev/null
  ) </dev/null >/dev/null &
  LIB_WATCHDOG=$!
}

# Prints the pids of lsmfs daemons whose command line mentions $1 (a
# path under this test's unique temporary directory).
lib_daemon_pids() {
  local p
  for p in $(pgrep -f -- "$1" || true); do
    [ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$LSMFS_REAL" ] && echo "$p"
  done
  return 0
}

# True while a process exists and is not a zombie (daemons are reparented
# to a PID 1 that may never reap them).
lib_alive() {
  local s
  s=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  case "$s" in Z*) return 1 ;; esac
  return 0
}

# lib_is_mounted DIR [FSTYPE]: DIR is a mount point (read from
# /proc/self/mountinfo, never by touching DIR: a dead FUSE mount hangs
# or fails stat).
lib_is_mounted() {
  local dir=$1 type=${2:-}
  awk -v d="$dir" -v t="$type" '
    { for (i = 7; i <= NF; i++) if ($i == "-") break
      if ($5 == d && (t == "" || $(i + 1) == t)) found = 1 }
    END { exit !found }' /proc/self/mountinfo
}

lib_wait_mounted() {
  local dir=${1:-$MNT} i
  for i in $(seq 100); do
    lib_is_mounted "$dir" fuse.lsmfs && return 0
    sleep 0.1
  done
  fail "$dir is not an lsmfs mount 10 s after lsmfs returned"
}

lib_wait_unmounted() {
  local dir=${1:-$MNT} i
  for i in $(seq 300); do
    lib_is_mounted "$dir" || return 0
    sleep 0.1
  done
  fail "$dir still mounted after 30 s"
}

# lib_wait_exit PID: the daemon exits (store closed, lock released).
lib_wait_exit() {
  local pid=$1 i
  for i in $(seq 600); do
    lib_alive "$pid" || return 0
    sleep 0.1
  done
  fail "daemon $pid still running 60 s after unmount"
}

# lib_mount [OPTIONS...]: mounts $STORE at $MNT with a foreground daemon
# (-f) that is this shell's child, logging to $T_DIR/daemon.N.log; sets
# DAEMON_PID.  lib_daemon_done later checks that it exited 0 without a
# sanitizer report.
lib_mount() {
  local i
  LIB_NMOUNT=$((LIB_NMOUNT + 1))
  LIB_FG_LOG=$T_DIR/daemon.$LIB_NMOUNT.log
  "$LSMFS" -f "${LIB_TRANSPORT_OPTS[@]}" "$@" "$STORE" "$MNT" </dev/null >"$LIB_FG_LOG" 2>&1 &
  DAEMON_PID=$!
  LIB_FG_PID=$!
  for i in $(seq 600); do
    lib_is_mounted "$MNT" fuse.lsmfs && return 0
    lib_alive "$DAEMON_PID" ||
      fail "lsmfs -f $* exited before mounting: $(cat "$LIB_FG_LOG")"
    sleep 0.1
  done
  fail "lsmfs -f $* did not mount within 60 s"
}

# lib_mount_daemon [OPTIONS...]: mounts with lsmfs detaching itself; its
# parent must exit 0 only once the mount is ready.  Sets DAEMON_PID.
lib_mount_daemon() {
  local rc=0
  lib_t 60 "$LSMFS" "${LIB_TRANSPORT_OPTS[@]}" "$@" "$STORE" "$MNT" || rc=$?
  [ "$rc" -eq 0 ] || fail "lsmfs $* $STORE $MNT exited $rc"
  lib_is_mounted "$MNT" fuse.lsmfs ||
    fail "lsmfs returned 0 but $MNT is not mounted yet"
  DAEMON_PID=$(lib_daemon_pids "$STORE")
  LIB_FG_PID=
  [ -n "$DAEMON_PID" ] || fail "no lsmfs daemon found for $STORE"
  [ "$(echo "$DAEMON_PID" | wc -l)" -eq 1 ] ||
    fail "more than one daemon serves $STORE: $DAEMON_PID"
}

# lib_daemon_done: after an unmount or a signal, the daemon exits (store
# closed, lock released); a foreground one with status 0 and no sanitizer
# report in its log.
lib_daemon_done() {
  [ -n "$DAEMON_PID" ] || return 0
  lib_wait_exit "$DAEMON_PID"
  if [ -n "$LIB_FG_PID" ]; then
    local rc=0
    wait "$LIB_FG_PID" || rc=$?
    [ "$rc" -eq 0 ] || fail "daemon $LIB_FG_PID exited $rc: $(tail -20 "$LIB_FG_LOG")"
    if grep -Eq 'Sanitizer|runtime error:' "$LIB_FG_LOG"; then
      fail "sanitizer report from the daemon: $(cat "$LIB_FG_LOG")"
    fi
    # (libfuse's multi-threaded loop, -o clone_fd, has no ring.)
    if [ "${LSMFS_TRANSPORT:-}" = io_uring ] &&
       grep 'transport: /dev/fuse' "$LIB_FG_LOG" | grep -v clone_fd >/dev/null; then
      fail "LSMFS_TRANSPORT=io_uring but the daemon used /dev/fuse: $(grep transport: "$LIB_FG_LOG")"
    fi
  fi
  DAEMON_PID=
  LIB_FG_PID=
}

# lib_kill_daemon: kill -9 of the mount's daemon, then a lazy unmount of
# the dead mount (the store is left as a crash leaves it).
lib_kill_daemon() {
  kill -KILL "$DAEMON_PID"
  wait "$DAEMON_PID" 2>/dev/null || true
  DAEMON_PID=
  LIB_FG_PID=
  lib_t 30 fusermount3 -u -z "$MNT" || fail "lazy unmount of the dead mount failed"
  lib_wait_unmounted "$MNT"
}

# lib_unmount: fusermount3 -u, then wait for the daemon to close the store.
lib_unmount() {
  lib_t 30 fusermount3 -u "$MNT" || fail "fusermount3 -u $MNT failed"
  lib_wait_unmounted "$MNT"
  lib_daemon_done
}

# Mount points at or under the temporary directory, deepest first.
lib_mounts_under() {
  awk -v d="$T_DIR" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo |
    sort -r
}

lib_cleanup() {
  local rc=$? m p i pids
  set +e
  trap - INT TERM HUP
  [ -n "$LIB_WATCHDOG" ] && kill "$LIB_WATCHDOG" 2>/dev/null
  [ "$rc" -eq 0 ] && [ "$LIB_PASSED" -ne 1 ] && rc=1
  [ "$rc" -eq 77 ] && [ "$LIB_PASSED" -ne 2 ] && rc=1
  if [ "$rc" -ne 0 ] && [ -n "$LIB_FG_LOG" ] && [ -s "$LIB_FG_LOG" ]; then
    echo "[$LIB_NAME] last daemon log ($LIB_FG_LOG):" >&2
    tail -20 "$LIB_FG_LOG" >&2
  fi
  # Jobs the test left running may hold files open on the mount (a
  # foreground daemon among them unmounts on SIGTERM).
  for p in $(jobs -p); do kill -TERM "$p" 2>/dev/null; done
  for i in "${!LIB_CLEANUP[@]}"; do
    eval "${LIB_CLEANUP[$i]}"
  done
  if [ -n "$T_DIR" ] && [ -d "$T_DIR" ]; then
    for m in $(lib_mounts_under); do
      timeout -k 2 10 fusermount3 -u "$m" 2>/dev/null ||
        timeout -k 2 10 umount "$m" 2>/dev/null
    done
    pids=$(lib_daemon_pids "$T_DIR")
    [ -n "$pids" ] && kill -TERM $pids 2>/dev/null
    for i in $(seq 50); do
      pids=$(for p in $pids; do lib_alive "$p" && echo "$p"; done)
      [ -z "$pids" ] && break
      sleep 0.1
    done
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
    for m in $(lib_mounts_under); do
      umount -l "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null
    done
    if [ -z "$(lib_mounts_under)" ]; then
      rm -rf --one-file-system "$T_DIR"
    else
      echo "[$LIB_NAME] leaving $T_DIR: still mounted" >&2
    fi
  fi
  if [ "$rc" -eq 0 ]; then
    echo "PASS [$LIB_NAME]"
  elif [ "$rc" -eq 77 ]; then
    echo "SKIP [$LIB_NAME]"
  else
    echo "FAIL [$LIB_NAME] (exit $rc)" >&2
  fi
  exit "$rc"
}

lib_pass() {
  LIB_PASSED=1
  exit 0
}

# lib_skip REASON: the test cannot run on this machine (a package it
# drives is missing, or it would have to touch an lsmfs installed on the
# machine); exit 77, which ctest reports as skipped.
lib_skip() {
  echo "SKIP [$LIB_NAME]: $*"
  LIB_PASSED=2
  exit 77
}

# lib_release_build: sets LIB_RELEASE to a build directory without
# sanitizers, for what is installed or linked outside the tree (a program
# built without ASan cannot load an ASan-instrumented liblsm.so): the
# test's build directory if it is one, else the tree's build/, which
# scripts/setup release brings up to date (under scripts/test it already
# is).
lib_release_build() {
  LIB_RELEASE=$LIB_BUILD
  grep -Eq '^LSMFS_(TEST|TSAN):BOOL=ON' "$LIB_BUILD/CMakeCache.txt" || return 0
  local top
  top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  lib_t 600 "$top/scripts/setup" release >&2 || fail "scripts/setup release failed"
  LIB_RELEASE=$top/build
}

# lib_system_lock: tests that change what is installed on the system
# (lib_install_mount_helper, t_package) take this lock first, so that two
# of them (from other ctest runs, other worktrees) never overlap; it is
# held until the test's shell exits.
lib_system_lock() {
  [ -z "${LIB_LOCK_FD:-}" ] || return 0
  local dir=/run/lock
  [ -d "$dir" ] || dir=/tmp
  exec {LIB_LOCK_FD}>"$dir/lsmfs-system-tests.lock"
  lib_t 130 flock -w 120 "$LIB_LOCK_FD" ||
    fail "another test changing the system held $dir/lsmfs-system-tests.lock for 120 s"
}

# lib_install_mount_helper: makes `mount -t fuse.lsmfs` (and `mount -o
# remount` of an lsmfs mount) run this build's lsmfs.  mount(8) runs
# /sbin/mount.fuse.lsmfs if present, else mount.fuse3 (as mount.fuse),
# which runs `lsmfs STORE MOUNTPOINT -o OPTIONS` through /bin/sh.  mount(8)
# clears PATH for its helpers, so /bin/sh searches its default path
# (/usr/local/sbin first): the built lsmfs is linked in as
# /usr/local/sbin/lsmfs for the test's duration (refusing to touch an
# lsmfs that is already installed there) and the link is removed on every
# exit path.  An installed lsmfs (package, cmake --install) makes the test
# skip, saying so.  Tests using it take lib_system_lock.
lib_install_mount_helper() {
  lib_system_lock
  [ -x /sbin/mount.fuse3 ] || [ -x /usr/sbin/mount.fuse3 ] ||
    fail "mount.fuse3 missing (package fuse3)"
  local h
  for h in /sbin/mount.fuse.lsmfs /usr/sbin/mount.fuse.lsmfs; do
    [ ! -e "$h" ] || lib_skip "$h is installed: mount(8) would use it, not mount.fuse3"
  done
  LIB_HELPER_LINK=/usr/local/sbin/lsmfs
  if [ -e "$LIB_HELPER_LINK" ] || [ -L "$LIB_HELPER_LINK" ]; then
    [ "$(readlink "$LIB_HELPER_LINK")" = "$LSMFS" ] ||
      lib_skip "$LIB_HELPER_LINK exists and is not this build's lsmfs (a cmake --install?); not touching it"
    rm -f "$LIB_HELPER_LINK"    # left over from an interrupted run
  fi
  [ "$(env -i /bin/sh -c 'command -v lsmfs' || true)" = "" ] ||
    lib_skip "an lsmfs on /bin/sh's default path ($(env -i /bin/sh -c 'command -v lsmfs'), installed?) would run instead of the test's"
  LIB_HELPER_MADE_DIR=
  if [ ! -d /usr/local/sbin ]; then
    mkdir -p /usr/local/sbin
    LIB_HELPER_MADE_DIR=1
  fi
  ln -s "$LSMFS" "$LIB_HELPER_LINK"
  LIB_CLEANUP+=('[ "$(readlink "$LIB_HELPER_LINK")" = "$LSMFS" ] && rm -f "$LIB_HELPER_LINK"; [ -n "$LIB_HELPER_MADE_DIR" ] && rmdir /usr/local/sbin')
  [ "$(env -i /bin/sh -c 'command -v lsmfs')" = "$LIB_HELPER_LINK" ] ||
    fail "link setup"
}

# lib_evict: syncs, then makes the kernel forget every unused inode (and
# cached page) through /proc/sys/vm/drop_caches; notes it when that is not
# writable (an unprivileged container) and nothing is evicted.
lib_evict() {
  sync
  if [ -w /proc/sys/vm/drop_caches ]; then
    echo 3 >/proc/sys/vm/drop_caches
  else
    echo "note: /proc/sys/vm/drop_caches not writable: nothing evicted"
  fi
}

# lib_enospc_or_fail RC ERRFILE WHAT: a failure that says ENOSPC (not EIO,
# not a timeout), or fail the test.
lib_enospc_or_fail() {
  local rc=$1 err=$2 what=$3
  [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || fail "$what hung (timeout)"
  if grep -q "Input/output error" "$err"; then
    fail "$what failed with EIO instead of ENOSPC: $(cat "$err")"
  fi
  grep -q "No space left on device" "$err" ||
    fail "$what failed (exit $rc) without ENOSPC: $(cat "$err")"
}

# lib_fill SRC PREFIX MAX: copies SRC, fsynced, to PREFIX1, PREFIX2, ...
# until a copy fails, which must be with ENOSPC (lib_enospc_or_fail; its
# message in $T_DIR/dd.err).  Sets LIB_FULL to the number of that copy, 0
# when all MAX fit.  (A variable, not output: fail must end the test.)
lib_fill() {
  local src=$1 prefix=$2 max=$3 i rc
  LIB_FULL=0
  for i in $(seq 1 "$max"); do
    rc=0
    lib_t 60 dd if="$src" of="$prefix$i" bs=1M conv=fsync status=none \
      2>"$T_DIR/dd.err" || rc=$?
    if [ "$rc" -ne 0 ]; then
      lib_enospc_or_fail "$rc" "$T_DIR/dd.err" "writing $(basename "$prefix$i")"
      LIB_FULL=$i
      return
    fi
  done
}

# lib_tree_digest DIR: one line per entry (type, mode, size, link count,
# link target, sha256 of regular files), sorted; equal digests mean equal
# trees.
lib_tree_digest() {
  local dir=$1
  (
    cd "$dir" &&
      find . -printf '%y %m %s %n %p -> %l\n' | sort &&
      find . -type f -print0 | sort -z | xargs -0 -r sha256sum
  )
}
