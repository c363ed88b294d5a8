#!/usr/bin/env bash
# t_unlink_open: a file unlinked (or renamed over) while a process still
# has it open stays readable and writable through that descriptor, is gone
# from the namespace, and does not come back after the last close.
. "$(dirname "$0")/lib.sh"
lib_init "$@"

lib_mount
head -c $((2 << 20)) /dev/urandom >"$T_DIR/data"

check "a reader that opened the file before the unlink reads all of it"
cp "$T_DIR/data" "$MNT/victim"
# The reader opens the file, signals, then waits before reading.
rm -f "$T_DIR/opened" "$T_DIR/go"
lib_t 60 bash -c "
  exec 3<'$MNT/victim'
  touch '$T_DIR/opened'
  while [ ! -e '$T_DIR/go' ]; do sleep 0.05; done
  cat <&3 >'$T_DIR/read-back'
" &
reader=$!
for i in $(seq 200); do [ -e "$T_DIR/opened" ] && break; sleep 0.05; done
[ -e "$T_DIR/opened" ] || fail "reader did not open the file"
rm "$MNT/victim"
[ ! -e "$MNT/victim" ] || fail "name still there after rm"
ls "$MNT" >"$T_DIR/ls"
grep -qx victim "$T_DIR/ls" && fail "ls still lists the unlinked file"
touch "$T_DIR/go"
wait "$reader" || fail "reader failed"
cmp "$T_DIR/data" "$T_DIR/read-back" || fail "data read after unlink differs"

check "read, write and stat through descriptors of an unlinked file"
cp "$T_DIR/data" "$MNT/rw"
exec 4<>"$MNT/rw"
rm "$MNT/rw"
echo tail-data >>/dev/fd/4
[ "$(stat -L -c %h /dev/fd/4)" -eq 0 ] || fail "link count of an unlinked open file: $(stat -L -c %h /dev/fd/4)"
lib_t 10 tail -c 10 "/proc/$$/fd/4" >"$T_DIR/tail" || fail "reopen through /proc failed"
[ "$(cat "$T_DIR/tail")" = tail-data ] || fail "write after unlink not readable"
lib_t 10 head -c $((2 << 20)) "/proc/$$/fd/4" | cmp -s - "$T_DIR/data" ||
  fail "original data of the unlinked file changed"
lib_t 10 truncate -s 100 "/proc/$$/fd/4"
[ "$(stat -L -c %s /dev/fd/4)" -eq 100 ] || fail "ftruncate of an unlinked file"
exec 4>&-

check "rename over a file that is open keeps the old data for its reader"
echo old-contents >"$MNT/target"
echo new-contents >"$MNT/incoming"
exec 5<"$MNT/target"
mv "$MNT/incoming" "$MNT/target"
[ "$(cat "$MNT/target")" = new-contents ] || fail "new name content"
[ "$(cat <&5)" = old-contents ] || fail "open descriptor lost the replaced file"
exec 5<&-

check "a name reused while the old file is open is a new, independent file"
echo first >"$MNT/reuse"
exec 6<"$MNT/reuse"
rm "$MNT/reuse"
echo second >"$MNT/reuse"
[ "$(cat <&6)" = first ] && [ "$(cat "$MNT/reuse")" = second ] ||
  fail "old and new file mixed up"
exec 6<&-

check "large files unlinked while open are gone after the last close and a remount"
for i in 1 2 3 4; do head -c $((8 << 20)) /dev/urandom >"$MNT/space$i"; done
exec 7<"$MNT/space1"
rm "$MNT"/space*
head -c 1000 <&7 >/dev/null || fail "read of an unlinked 8 MiB file"
exec 7<&-
lib_unmount
lib_mount
ls "$MNT" >"$T_DIR/ls"
grep -q '^space' "$T_DIR/ls" && fail "unlinked files came back"

check "an unlinked-but-open file does not reappear after unmount and remount"
echo ghost >"$MNT/ghost"
exec 8<"$MNT/ghost"
rm "$MNT/ghost"
exec 8<&-
lib_unmount
lib_mount
[ ! -e "$MNT/ghost" ] || fail "ghost came back"
ls -A "$MNT" >"$T_DIR/ls"
grep -qx -e ghost -e victim -e rw "$T_DIR/ls" && fail "unlinked names listed after remount"

lib_unmount
lib_pass
