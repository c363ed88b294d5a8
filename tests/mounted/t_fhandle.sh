#!/usr/bin/env bash
# t_fhandle: file handles (name_to_handle_at / open_by_handle_at: what an
# NFS server hands its clients) keep working once the kernel has evicted
# the inode (caches dropped) and across a remount: a file's handle reads
# its exact bytes, a directory's handle lists it and is reconnected to
# where the directory is now (after a move too), and a deleted file's
# handle is ESTALE, never another file.  Drives tests/tools/fhandle.c.
. "$(dirname "$0")/lib.sh"
lib_init "$@"
FH=$(dirname "$LSMFS")/fhandle
[ -x "$FH" ] || fail "$FH is not built (cmake builds it next to lsmfs)"

# verify DIR: every handle resolves; d/sub is now at $MNT/DIR.
verify() {
  lib_t 20 "$FH" cat "$MNT" "${H[big]}" | cmp -s - "$T_DIR/big" ||
    fail "large file by handle differs"
  [ "$(lib_t 10 "$FH" cat "$MNT" "${H[small]}")" = small ] ||
    fail "small file by handle"
  [ "$(lib_t 10 "$FH" cat "$MNT" "${H[link]}")" = small ] ||
    fail "second hard link by handle"
  [ "$(lib_t 10 "$FH" ls "$MNT" "${H[sub]}")" = big ] ||
    fail "directory listing by handle"
  [ "$(lib_t 10 "$FH" ls "$MNT" "${H[root]}" | tr '\n' ' ')" = "d e " ] ||
    fail "root listing by handle"
  local at
  at=$(lib_t 10 "$FH" path "$MNT" "${H[sub]}") || fail "directory path by handle"
  [ "$at" = "$MNT/$1" ] || fail "directory handle reconnected at $at, not $MNT/$1"
  local rc=0
  lib_t 10 "$FH" cat "$MNT" "${H[doomed]}" >/dev/null 2>"$T_DIR/stale" || rc=$?
  [ "$rc" -eq 3 ] ||
    fail "deleted file's handle: exit $rc ($(cat "$T_DIR/stale")), not ESTALE"
}

lib_mount
mkdir -p "$MNT/d/sub" "$MNT/e"
head -c 300000 /dev/urandom >"$T_DIR/big"
cp "$T_DIR/big" "$MNT/d/sub/big"
echo small >"$MNT/d/small"
ln "$MNT/d/small" "$MNT/e/link"
echo doomed >"$MNT/d/doomed"
declare -A H
for p in root: sub:d/sub big:d/sub/big small:d/small link:e/link doomed:d/doomed; do
  H[${p%%:*}]=$(lib_t 10 "$FH" encode "$MNT/${p#*:}") ||
    fail "name_to_handle_at ${p#*:}"
done
rm "$MNT/d/doomed"

check "handles resolve after the kernel dropped its inodes"
lib_evict
verify d/sub

check "handles resolve after a remount (a new daemon, nothing cached)"
lib_unmount
lib_mount
verify d/sub

check "a moved directory's handle is reconnected at its new place"
mv "$MNT/d/sub" "$MNT/e/moved"
lib_evict
verify e/moved
lib_unmount
lib_mount
verify e/moved

check "a deleted file's handle stays ESTALE when its name is reused"
echo first >"$MNT/reused"
old=$(lib_t 10 "$FH" encode "$MNT/reused") || fail "name_to_handle_at reused"
rm "$MNT/reused"
echo second >"$MNT/reused"
lib_evict
rc=0
lib_t 10 "$FH" cat "$MNT" "$old" >"$T_DIR/out" 2>&1 || rc=$?
[ "$rc" -eq 3 ] || fail "old handle of a reused name: exit $rc, read $(cat "$T_DIR/out")"
[ "$(cat "$MNT/reused")" = second ] || fail "new file under the reused name"
lib_unmount
lib_pass
