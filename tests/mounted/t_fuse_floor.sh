#!/usr/bin/env bash
# t_fuse_floor: tests/tools/fuse_floor, the in-memory FUSE filesystem that
# scripts/bench-fs --targets=floor sets lsmfs against, still serves what
# the benchmark asks of it: fsbench's meta and small workloads (200 files,
# everything read back and compared), a tarball extracted and found
# identical by tar -d, mkdir/rename/rmdir of directories, then a clean
# unmount with the daemon exiting 0 (and no sanitizer report).  Through
# /dev/fuse (-o no_io_uring, whatever the fuse module's enable_uring
# says), and also over io_uring under LSMFS_TRANSPORT=io_uring (scripts/
# test's io_uring pass, which holds enable_uring on: switching it here
# would race with t_uring, which switches it too).  No timing is asserted.
. "$(dirname "$0")/lib.sh"
lib_init "$@"

FLOOR=$LIB_BUILD/fuse_floor
[ -x "$FLOOR" ] || fail "$FLOOR is not built (cmake builds it next to lsmfs)"
command -v gcc >/dev/null || fail "gcc is missing (scripts/setup installs it)"
top=$(cd "$(dirname "$0")/../.." && pwd)
FSBENCH=$T_DIR/fsbench
gcc -std=c11 -O2 -Wall -Wextra "$top/tests/tools/fsbench.c" -o "$FSBENCH" ||
  fail "cannot build fsbench"
FMNT=$T_DIR/floor
mkdir "$FMNT"
tar -C "$top" -cf "$T_DIR/src.tar" tests mount
FLOOR_PID=
FLOOR_LOG=
NMOUNT=0

# floor_mount OPTS...: fuse_floor -f in the background, until it is mounted
# and has answered INIT.
floor_mount() {
  local i
  NMOUNT=$((NMOUNT + 1))
  FLOOR_LOG=$T_DIR/floor.$NMOUNT.log
  "$FLOOR" -f "$@" "$FMNT" </dev/null >"$FLOOR_LOG" 2>&1 &
  FLOOR_PID=$!
  for i in $(seq 300); do
    if lib_is_mounted "$FMNT" fuse.fuse_floor; then
      lib_t 10 stat "$FMNT" >/dev/null || fail "stat of the fuse_floor mount failed"
      return 0
    fi
    lib_alive "$FLOOR_PID" || fail "fuse_floor $* exited before mounting: $(cat "$FLOOR_LOG")"
    sleep 0.1
  done
  fail "fuse_floor $* did not mount within 30 s"
}

floor_unmount() {
  local rc=0
  lib_t 30 fusermount3 -u "$FMNT" || fail "fusermount3 -u $FMNT failed"
  lib_wait_unmounted "$FMNT"
  lib_wait_exit "$FLOOR_PID"
  wait "$FLOOR_PID" || rc=$?
  [ "$rc" -eq 0 ] || fail "fuse_floor exited $rc: $(cat "$FLOOR_LOG")"
  ! grep -Eq 'Sanitizer|runtime error:' "$FLOOR_LOG" ||
    fail "sanitizer report from fuse_floor: $(cat "$FLOOR_LOG")"
  FLOOR_PID=
}

# workload TRANSPORT: what bench-fs's meta, small, tree and large
# workloads do.
workload() {
  check "$1: fsbench seqwrite, seqread and randwrite of 16 MiB, verified"
  lib_t 60 "$FSBENCH" seqwrite "$FMNT/large" 16 >/dev/null || fail "$1: fsbench seqwrite failed"
  lib_t 60 "$FSBENCH" seqread "$FMNT/large" 16 >/dev/null || fail "$1: fsbench seqread failed"
  lib_t 60 "$FSBENCH" randwrite "$FMNT/large" 16 200 3 >/dev/null || fail "$1: fsbench randwrite failed"
  rm -f "$FMNT/large" || fail "$1: rm of the large file failed"
  check "$1: fsbench meta and small, 200 files, verified"
  lib_t 120 "$FSBENCH" meta "$FMNT/meta" 200 1 >/dev/null || fail "$1: fsbench meta failed"
  lib_t 120 "$FSBENCH" small "$FMNT/small" 200 2 >/dev/null || fail "$1: fsbench small failed"
  lib_t 60 rm -rf "$FMNT/small" || fail "$1: rm -rf of the small files failed"
  check "$1: a tarball extracted, compared by tar -d, listed and removed"
  mkdir "$FMNT/tree"
  lib_t 60 tar -C "$FMNT/tree" -xf "$T_DIR/src.tar" || fail "$1: tar -x failed"
  lib_t 60 tar -C "$FMNT/tree" -df "$T_DIR/src.tar" || fail "$1: tar -d found differences"
  [ "$(find "$FMNT/tree" -type f | wc -l)" -eq "$(tar -tf "$T_DIR/src.tar" | grep -vc '/$')" ] ||
    fail "$1: find does not list every extracted file"
  check "$1: directories renamed over an empty one, not over a full one"
  mkdir -p "$FMNT/tree/a/x" "$FMNT/tree/b"
  mv -T "$FMNT/tree/a" "$FMNT/tree/b" || fail "$1: rename over an empty directory failed"
  [ -d "$FMNT/tree/b/x" ] && [ ! -e "$FMNT/tree/a" ] || fail "$1: the renamed directory is wrong"
  ! mv -T "$FMNT/tree/tests" "$FMNT/tree/b" 2>/dev/null || fail "$1: rename over a full directory worked"
  ! rmdir "$FMNT/tree/b" 2>/dev/null || fail "$1: rmdir of a full directory worked"
  lib_t 60 rm -rf "$FMNT/tree" || fail "$1: rm -rf of the tree failed"
  [ -z "$(ls -A "$FMNT")" ] || fail "$1: the mount is not empty at the end: $(ls -A "$FMNT")"
}

floor_mount -o no_io_uring
grep -q 'transport: /dev/fuse' "$FLOOR_LOG" || fail "no transport line: $(cat "$FLOOR_LOG")"
workload /dev/fuse
floor_unmount

if [ "${LSMFS_TRANSPORT:-}" = io_uring ]; then
  floor_mount -o io_uring
  grep -q 'transport: io_uring' "$FLOOR_LOG" || fail "not served over io_uring: $(cat "$FLOOR_LOG")"
  workload io_uring
  floor_unmount
else
  check "io_uring: not asked for (LSMFS_TRANSPORT=io_uring with enable_uring on)"
fi
lib_pass
