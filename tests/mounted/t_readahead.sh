#!/usr/bin/env bash
# t_readahead: the mount's kernel readahead (its bdi's read_ahead_kb) is
# what lsmfs says it set: 8 MiB by default, -o max_readahead=N (bytes)
# raising or lowering it; a cold sequential read of a file then arrives
# as 1 MiB READs (not the kernel's default 128 KiB ones) and reads back
# exactly what was written.  Where /sys is read-only the daemon keeps
# 128 KiB, logs why at debug level and serves as usual.
. "$(dirname "$0")/lib.sh"
lib_init "$@"

# expect_kb KB: the bdi serving $MNT (named by its st_dev) reads ahead KB
# KiB, and the daemon's log says so.
expect_kb() {
  local dev kb
  dev=$(lib_t 10 stat -c %d "$MNT") || fail "stat $MNT"
  BDI=$((dev >> 8)):$((dev & 255))
  kb=$(cat "/sys/class/bdi/$BDI/read_ahead_kb")
  [ "$kb" = "$1" ] || fail "read_ahead_kb of $BDI is $kb, expected $1"
  grep -q "readahead $1 KiB (bdi $BDI)" "$LIB_FG_LOG" ||
    fail "the daemon did not log readahead $1 KiB (bdi $BDI): $(cat "$LIB_FG_LOG")"
}

check "default: 8 MiB readahead"
lib_mount -o log_level=info
expect_kb 8192
lib_t 60 dd if=/dev/urandom of="$T_DIR/src" bs=1M count=48 status=none
# Not a multiple of the block size or of 1 MiB: the last READ ends mid-block.
lib_t 60 dd if=/dev/urandom of="$T_DIR/src" bs=1000 count=7 seek=50331 \
  conv=notrunc status=none
lib_t 60 cp "$T_DIR/src" "$MNT/big"
lib_t 60 sync "$MNT/big"
lib_unmount

check "a cold sequential read comes as 1 MiB READs and reads back exactly"
lib_mount -o log_level=info
expect_kb 8192
lib_t 60 dd if="$MNT/big" of="$T_DIR/back" bs=1M status=none
cmp "$T_DIR/src" "$T_DIR/back" || fail "the file read back differs"
reads=$(lib_t 30 "$LSMFS" stats "$MNT" | awk '$1 == "READ" { print $2 }')
size_mib=$(( ($(stat -c %s "$T_DIR/src") + 1048575) >> 20 ))
# 128 KiB readahead would take 8 READs per MiB; 1 MiB READs take one (a
# few more where a window starts or ends mid-MiB).
[ -n "$reads" ] && [ "$reads" -le $((size_mib * 3 / 2)) ] ||
  fail "$size_mib MiB read in ${reads:-no} READs (want at most $((size_mib * 3 / 2)))"
lib_unmount

check "-o max_readahead lowers it"
lib_mount -o log_level=info -o max_readahead=65536
expect_kb 64
lib_t 60 cmp "$T_DIR/src" "$MNT/big" || fail "read back with 64 KiB readahead differs"
lib_unmount

check "-o max_readahead raises it further"
lib_mount -o log_level=info -o max_readahead=16777216
expect_kb 16384
lib_unmount

check "a daemon that may not set the bdi keeps 128 KiB and mounts all the same"
# In a mount namespace of its own where /sys is read-only (the host's /sys
# stays as it is); the daemon is a child of that namespace's shell.
mkdir "$T_DIR/mnt2"
lib_t 60 unshare -m bash -c '
  set -e
  mount -o remount,bind,ro /sys
  "$1" -f -o log_level=debug "$2/store2" "$2/mnt2" >"$2/ro.log" 2>&1 &
  for i in $(seq 100); do
    grep -q " $2/mnt2 " /proc/self/mountinfo && break
    sleep 0.1
  done
  dev=$(stat -c %d "$2/mnt2")
  cat "/sys/class/bdi/$((dev >> 8)):$((dev & 255))/read_ahead_kb" >"$2/ro.kb"
  echo data >"$2/mnt2/f"
  cat "$2/mnt2/f" >"$2/ro.data"
  fusermount3 -u "$2/mnt2"
  wait' _ "$LSMFS" "$T_DIR" || fail "read-only /sys run failed: $(cat "$T_DIR/ro.log")"
[ "$(cat "$T_DIR/ro.kb")" = 128 ] || fail "read_ahead_kb $(cat "$T_DIR/ro.kb"), expected 128"
[ "$(cat "$T_DIR/ro.data")" = data ] || fail "the mount did not work"
grep -q "readahead: cannot set .*read_ahead_kb to 8192" "$T_DIR/ro.log" &&
  grep -q "readahead 128 KiB" "$T_DIR/ro.log" ||
  fail "no debug line for the refused write: $(cat "$T_DIR/ro.log")"

lib_pass
