#!/usr/bin/env bash
# t_dio_race: a buffered read right after an O_DIRECT write returns the
# new data while other threads keep reading the same range buffered
# (xfstests generic/451), for AIO writes and for plain pwrite, with and
# without the writeback cache.  Drives tests/tools/dio_race.c.
#
# The kernel's FUSE asynchronous direct I/O (FUSE_CAP_ASYNC_DIO) completes
# an AIO write without invalidating the pages readers filled meanwhile, so
# lsmfs leaves it off (see mnt_init): with it on, dozens to hundreds of the
# writes below read back old data (a libfuse passthrough mount too).
. "$(dirname "$0")/lib.sh"
lib_init "$@"
RACE=$(dirname "$LSMFS")/dio_race
[ -x "$RACE" ] || fail "$RACE is not built (cmake builds it next to lsmfs)"

# race MODE ROUNDS: ROUNDS rewrites of every chunk, 4 buffered readers.
race() {
  local out rc=0
  out=$(lib_t 150 "$RACE" "$MNT/file-$1" "$1" "$2" 4 2>&1) || rc=$?
  echo "$1: $out" | tail -n 1
  [ "$rc" -eq 0 ] || fail "$1 O_DIRECT writes then buffered reads: $out"
}

check "writeback cache (the default): AIO and synchronous O_DIRECT writes"
lib_mount
race sync 10
race aio 60
lib_unmount

check "without the writeback cache"
lib_mount -o no_writeback
race aio 30
lib_unmount
lib_pass
