#!/usr/bin/env bash
# t_basic: create, read, write, mkdir, ls, stat, rm, df on a fresh mount.
. "$(dirname "$0")/lib.sh"
lib_init "$@"

check "a new store is created and mounted as fuse.lsmfs"
lib_mount
lib_is_mounted "$MNT" fuse.lsmfs || fail "not mounted"
[ -d "$STORE" ] || fail "store directory was not created"
[ "$(lib_t 10 ls -A "$MNT")" = "" ] || fail "new filesystem is not empty"

check "write and read back a small file"
lib_t 10 sh -c "echo hello > '$MNT/hello'"
[ "$(lib_t 10 cat "$MNT/hello")" = hello ] || fail "small file content"
[ "$(stat -c %s "$MNT/hello")" -eq 6 ] || fail "small file size"
[ "$(stat -c %F "$MNT/hello")" = "regular file" ] || fail "file type"

check "overwrite in place keeps the rest of the file"
printf 'abcdefgh' >"$T_DIR/expect"
lib_t 10 cp "$T_DIR/expect" "$MNT/over"
printf 'XY' | lib_t 10 dd of="$MNT/over" bs=1 seek=3 conv=notrunc status=none
[ "$(lib_t 10 cat "$MNT/over")" = abcXYfgh ] || fail "overwrite in place"

check "a 5 MiB random file round-trips byte for byte"
head -c $((5 << 20)) /dev/urandom >"$T_DIR/big"
lib_t 30 cp "$T_DIR/big" "$MNT/big"
lib_t 30 cmp "$T_DIR/big" "$MNT/big" || fail "big file differs"
[ "$(stat -c %s "$MNT/big")" -eq $((5 << 20)) ] || fail "big file size"
# Reads that start and end inside blocks.
lib_t 10 dd if="$MNT/big" of="$T_DIR/mid" bs=1000 skip=777 count=99 status=none
dd if="$T_DIR/big" of="$T_DIR/mid.expect" bs=1000 skip=777 count=99 status=none
cmp "$T_DIR/mid" "$T_DIR/mid.expect" || fail "unaligned read differs"

check "mkdir, nested files, ls"
lib_t 10 mkdir -p "$MNT/d/e/f"
for i in 1 2 3; do echo "$i" >"$MNT/d/file$i"; done
[ "$(lib_t 10 ls "$MNT/d" | tr '\n' ' ')" = "e file1 file2 file3 " ] ||
  fail "ls of d: $(ls "$MNT/d")"
[ "$(stat -c %F "$MNT/d/e")" = directory ] || fail "d/e is not a directory"
[ "$(lib_t 10 ls -a "$MNT/d/e/f" | tr '\n' ' ')" = ". .. " ] ||
  fail "empty dir lists more than . and .."

check "stat: mode, owner, times, link counts"
lib_t 10 chmod 640 "$MNT/hello"
[ "$(stat -c %a "$MNT/hello")" = 640 ] || fail "chmod"
lib_t 10 chown 1234:5678 "$MNT/hello"
[ "$(stat -c %u:%g "$MNT/hello")" = 1234:5678 ] || fail "chown"
lib_t 10 touch -d '2001-02-03 04:05:06' "$MNT/hello"
[ "$(stat -c %Y "$MNT/hello")" = "$(date -d '2001-02-03 04:05:06' +%s)" ] ||
  fail "touch -d (mtime)"
[ "$(stat -c %h "$MNT/hello")" -eq 1 ] || fail "file link count"
[ "$(stat -c %h "$MNT/d")" -eq 3 ] || fail "dir with one subdir: nlink $(stat -c %h "$MNT/d")"
[ "$(stat -c %i "$MNT")" -eq 1 ] || fail "root inode is not 1"
umask 022
lib_t 10 sh -c "umask 027; mkdir '$MNT/masked'; touch '$MNT/masked/f'"
[ "$(stat -c %a "$MNT/masked")" = 750 ] || fail "mkdir ignores umask"
[ "$(stat -c %a "$MNT/masked/f")" = 640 ] || fail "create ignores umask"

check "missing names fail with ENOENT, also right after a negative lookup"
if lib_t 10 stat "$MNT/nope" 2>/dev/null; then fail "stat of a missing name"; fi
echo now >"$MNT/nope"
[ "$(cat "$MNT/nope")" = now ] || fail "name created after a negative lookup"

check "rm and rmdir"
lib_t 10 rm "$MNT/hello" "$MNT/nope"
[ ! -e "$MNT/hello" ] || fail "hello still there after rm"
if lib_t 10 rmdir "$MNT/d" 2>/dev/null; then fail "rmdir of a non-empty dir"; fi
lib_t 10 rm -r "$MNT/d"
[ ! -e "$MNT/d" ] || fail "d still there after rm -r"
[ "$(lib_t 10 ls "$MNT" | tr '\n' ' ')" = "big masked over " ] ||
  fail "root listing: $(ls "$MNT")"

check "df reports the mount with sane numbers"
lib_t 10 df -P "$MNT" >"$T_DIR/df" || fail "df failed"
cat "$T_DIR/df"
awk 'NR == 2 && $2 > 0 && $4 > 0 { ok = 1 } END { exit !ok }' "$T_DIR/df" ||
  fail "df shows no size or no free space"
lib_t 10 stat -f "$MNT" >/dev/null || fail "statfs failed"
[ "$(lib_t 10 stat -f -c %l "$MNT")" -ge 255 ] || fail "name length limit < 255"

check "clean unmount: the daemon exits 0"
lib_unmount

check "daemonized, single-threaded (-s) mount: ready when lsmfs returns, data intact"
lib_mount_daemon -s
[ "$(lib_t 10 cat "$MNT/over")" = abcXYfgh ] || fail "data after remount"
lib_t 30 cmp "$T_DIR/big" "$MNT/big" || fail "big file after remount"
lib_unmount

# The request loops: lsmfs's own with workers for disk-bound requests
# (default, and -o sync, where every change goes to a worker), and
# libfuse's multi-threaded loop (-o clone_fd).
for opts in "-o sync" "-o clone_fd" "-o workers=1"; do
  check "request loop with $opts: parallel writers, fsync, reads"
  lib_mount $opts
  pids=()
  for i in 1 2 3 4; do
    lib_t 60 dd if="$T_DIR/big" of="$MNT/loop$i" bs=64k conv=fsync status=none &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do
    wait "$pid" || fail "a writer failed ($opts)"
  done
  for i in 1 2 3 4; do
    lib_t 30 cmp "$T_DIR/big" "$MNT/loop$i" || fail "loop$i differs ($opts)"
    lib_t 10 rm "$MNT/loop$i"
  done
  lib_unmount
done
lib_pass
