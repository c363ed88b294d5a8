#!/usr/bin/env bash
# t_uring: FUSE over io_uring (mount/uring.c).  With the fuse module's
# enable_uring on, -o io_uring serves the mount over io_uring (its log
# line says so) and a create/write/read/rename/unlink/readdir workload
# works, including data large enough for the worker threads and a file
# opened with O_TMPFILE (whose reply ops.c writes itself); kill -9 of the
# daemon loses nothing it acknowledged, and the store mounts again over
# io_uring.  With enable_uring off, the same option falls back to
# /dev/fuse and the log says why, as does a max_write too small for a
# large xattr to fit a ring entry.  The parameter is restored on exit.
. "$(dirname "$0")/lib.sh"
lib_init "$@"

param=/sys/module/fuse/parameters/enable_uring
[ -w "$param" ] || lib_skip "this kernel has no FUSE over io_uring ($param)"
old=$(cat "$param")
LIB_CLEANUP+=("echo '$old' >'$param'")
command -v python3 >/dev/null || lib_skip "python3 is missing"

# transport_is WHAT: the current daemon's log names the transport WHAT.
transport_is() {
  local i
  for i in $(seq 100); do     # the line follows INIT, just after mounting
    grep -q "transport: $1" "$LIB_FG_LOG" && return 0
    sleep 0.1
  done
  fail "the log does not say 'transport: $1': $(cat "$LIB_FG_LOG")"
}

echo Y >"$param"
lib_mount -o io_uring,log_level=info
check "the log says io_uring serves the mount"
transport_is "io_uring"

check "create, write, read, rename, unlink, readdir over the ring"
lib_t 60 bash -c '
  set -e
  cd "$1"
  mkdir d
  for i in $(seq 200); do echo "line $i" > "d/f$i"; done
  for i in $(seq 200); do [ "$(cat "d/f$i")" = "line $i" ]; done
  for i in $(seq 1 2 200); do mv "d/f$i" "d/g$i"; done
  for i in $(seq 2 4 200); do rm "d/f$i"; done
  [ "$(ls d | wc -l)" -eq 150 ]
  [ "$(ls d | grep -c "^g")" -eq 100 ]
  head -c 3000000 /dev/urandom > big
  cp big big2
  cmp big big2
  sync big2
' _ "$MNT" || fail "the workload over io_uring failed"
check "O_TMPFILE written and read back (a reply ops.c writes itself)"
lib_t 30 python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_TMPFILE | os.O_RDWR, 0o644)
os.write(fd, b"tmp data")
assert os.pread(fd, 100, 0) == b"tmp data"
os.close(fd)
' "$MNT" || fail "O_TMPFILE over io_uring failed"

want=$(lib_t 30 bash -c 'cd "$1" && find . -printf "%y %m %s %p\n" | sort &&
                         find . -type f -print0 | sort -z | xargs -0 cat | md5sum' _ "$MNT") ||
  fail "reading the tree failed"

check "kill -9 of the daemon, then remount: nothing acknowledged is lost"
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
LIB_FG_PID=
lib_t 30 fusermount3 -u -z "$MNT" || fail "lazy unmount of the dead mount failed"
lib_wait_unmounted "$MNT"
lib_mount -o io_uring,log_level=info
transport_is "io_uring"
got=$(lib_t 30 bash -c 'cd "$1" && find . -printf "%y %m %s %p\n" | sort &&
                        find . -type f -print0 | sort -z | xargs -0 cat | md5sum' _ "$MNT") ||
  fail "reading the tree after the remount failed"
[ "$got" = "$want" ] || fail "the tree after kill -9 and remount differs"
lib_t 30 bash -c 'cd "$1" && rm -r d big big2 && [ -z "$(ls)" ]' _ "$MNT" ||
  fail "removing the tree failed"
lib_unmount

check "enable_uring off: -o io_uring falls back to /dev/fuse and says why"
echo N >"$param"
lib_mount -o io_uring
transport_is "/dev/fuse (io_uring not used: .*enable_uring is N)"
lib_t 10 bash -c 'echo x > "$1/f" && [ "$(cat "$1/f")" = x ]' _ "$MNT" ||
  fail "the fallback mount does not work"
lib_unmount

check "-o no_io_uring keeps /dev/fuse even when io_uring is offered"
echo Y >"$param"
lib_mount -o no_io_uring,log_level=info
transport_is "/dev/fuse (io_uring not used: -o no_io_uring)"
lib_unmount

# A SETXATTR larger than a ring entry's payload (sized from max_write)
# made the kernel BUG() and hang the caller (uring.c,
# MNT_RING_MIN_PAYLOAD): such a mount must stay on /dev/fuse.  The
# xattr is set only once the log says so.
check "io_uring with -o max_write=4096 keeps /dev/fuse; a 20000-byte xattr works"
lib_mount -o io_uring,max_write=4096,log_level=info
transport_is "/dev/fuse (io_uring not used: max_write below 68 KiB"
lib_t 30 python3 -c '
import errno, os, sys
f = os.path.join(sys.argv[1], "x")
open(f, "w").close()
v = os.urandom(20000)
try:
    os.setxattr(f, "user.big", v)
except OSError as e:
    sys.exit(0 if e.errno == errno.E2BIG else 1)
assert os.getxattr(f, "user.big") == v
' "$MNT" || fail "a 20000-byte xattr over /dev/fuse with max_write=4096 failed"
lib_unmount
lib_pass
