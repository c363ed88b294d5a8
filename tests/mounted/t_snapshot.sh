#!/usr/bin/env bash
# t_snapshot: named snapshots of a mounted filesystem.
#  - `lsmfs snapshot create` freezes the tree: after files are changed,
#    overwritten, renamed and deleted, MOUNTPOINT/.snapshots/NAME still
#    equals a copy made at snapshot time (diff -r; cp -a, tar and rsync of
#    it too), its inode numbers are outside the live range, and every
#    change inside fails with EROFS;
#  - it survives kill -9 of the daemon and remount, and a clean remount;
#  - the CLI's errors: duplicate or unknown name, bad name, a directory
#    that is no mountpoint, a FUSE mount that is not lsmfs (bindfs), and
#    a user other than root or the owner: one line, exit 8 (cli.h's
#    codes, as every lsmfs COMMAND; usage errors 16);
#  - space: SNAP_MB (default 64) MiB written, snapshot, overwritten: the
#    old data stays (df), list shows it as the snapshot's own; deleting a
#    later snapshot keeps it, deleting this one gives it back (df).
. "$(dirname "$0")/lib.sh"
lib_init "$@"
for tool in rsync tar setfattr getfattr setpriv df; do
  command -v "$tool" >/dev/null || lib_skip "missing tool: $tool"
done
MB=${SNAP_MB:-64}
SNAP=$MNT/.snapshots
REF=$T_DIR/ref
chmod 755 "$T_DIR"        # the unprivileged checks below reach $MNT

snap() { lib_t 60 "$LSMFS" snapshot "$@"; }
used() { df --output=used -B1 "$MNT" | tail -1 | tr -d ' '; }
same_tree() {  # same_tree A B WHAT
  lib_t 120 diff -r --no-dereference "$1" "$2" >&2 || fail "$3 differs from the copy made at snapshot time"
}

lib_mount -o allow_other
check "a tree, a copy of it, a snapshot"
lib_t 60 bash -c '
  set -e
  cd "$1"
  mkdir -p a/b/c empty
  for i in $(seq 30); do echo "file $i" > a/f$i; done
  head -c 300000 /dev/urandom > a/b/big
  head -c 5000 /dev/urandom > a/b/c/small
  ln -s ../a/f1 a/b/link
  ln a/f2 a/hard
  setfattr -n user.color -v blue a/f3
  chmod 640 a/f4' _ "$MNT" || fail "building the tree failed"
lib_t 60 cp -a "$MNT/." "$REF" || fail "copying the tree failed"
snap create "$MNT" one || fail "snapshot create failed"
[ -d "$SNAP/one" ] || fail "$SNAP/one is not there"
ls -a "$MNT" | grep -x .snapshots >/dev/null && fail "the snapshot directory shows in the root's listing"
snap list "$MNT" | grep '^one ' >/dev/null || fail "list does not show 'one': $(snap list "$MNT")"

check "the live tree changes; the snapshot does not"
lib_t 60 bash -c '
  set -e
  cd "$1"
  echo changed > a/f1
  head -c 300000 /dev/urandom > a/b/big
  rm a/f5 a/b/c/small
  mv a/f6 a/renamed
  rmdir empty
  echo new > a/new
  setfattr -n user.color -v red a/f3
  chmod 600 a/f2' _ "$MNT" || fail "changing the live tree failed"
same_tree "$REF" "$SNAP/one" "the snapshot"
[ "$(getfattr --only-values -n user.color "$SNAP/one/a/f3")" = blue ] ||
  fail "the snapshot's xattr changed"
lib_t 60 cp -a "$SNAP/one" "$T_DIR/cp" || fail "cp -a of the snapshot failed"
same_tree "$REF" "$T_DIR/cp" "cp -a of the snapshot"
mkdir "$T_DIR/untar"
lib_t 60 tar -C "$SNAP/one" -cf - . | tar -C "$T_DIR/untar" -xf - || fail "tar of the snapshot failed"
same_tree "$REF" "$T_DIR/untar" "tar of the snapshot"
lib_t 60 rsync -aHX "$SNAP/one/" "$T_DIR/rsync/" || fail "rsync of the snapshot failed"
same_tree "$REF" "$T_DIR/rsync" "rsync of the snapshot"
[ "$(lib_t 60 find "$SNAP/one" | wc -l)" -eq "$(find "$REF" | wc -l)" ] || fail "find counts differ"

check "inode numbers: the snapshot's are above 2^40, the live tree's below"
live_max=$(lib_t 60 find "$MNT" -path "$SNAP" -prune -o -printf '%i\n' | sort -n | tail -1)
snap_min=$(lib_t 60 find "$SNAP/one" -printf '%i\n' | sort -n | head -1)
python3 -c "import sys; a,b=int(sys.argv[1]),int(sys.argv[2]); sys.exit(not (a < 2**40 <= b))" \
  "$live_max" "$snap_min" || fail "inode numbers overlap: live max $live_max, snapshot min $snap_min"
[ "$(stat -c %i "$SNAP/one/a/f2")" = "$(stat -c %i "$SNAP/one/a/hard")" ] ||
  fail "a hard link in the snapshot has another inode number"

check "every change inside the snapshot fails with EROFS"
erofs() {  # erofs WHAT CMD...
  local out
  if out=$(lib_t 20 "${@:2}" 2>&1); then fail "$1 inside the snapshot succeeded"; fi
  grep -q "Read-only file system" <<<"$out" || fail "$1: not EROFS: $out"
}
erofs "write" bash -c "echo x > '$SNAP/one/a/f1'"
erofs "append" bash -c "echo x >> '$SNAP/one/a/f1'"
erofs "create" bash -c "echo x > '$SNAP/one/a/brandnew'"
erofs "truncate" truncate -s 0 "$SNAP/one/a/f1"
erofs "mkdir" mkdir "$SNAP/one/a/d2"
erofs "rm" rm -f "$SNAP/one/a/f1"
erofs "rmdir" rmdir "$SNAP/one/a/b/c"
erofs "mv" mv "$SNAP/one/a/f1" "$SNAP/one/a/f1x"
erofs "chmod" chmod 777 "$SNAP/one/a/f1"
erofs "touch" touch "$SNAP/one/a/f1"
erofs "ln" ln "$SNAP/one/a/f1" "$SNAP/one/a/f1l"
erofs "setfattr" setfattr -n user.x -v 1 "$SNAP/one/a/f1"
erofs "mkdir in the snapshot directory" mkdir "$SNAP/two"
erofs "rmdir of a snapshot" rmdir "$SNAP/one"
same_tree "$REF" "$SNAP/one" "the snapshot after the refused changes"

check "CLI errors: one line, exit 8 (usage: 16)"
cli_fails() {  # cli_fails PATTERN ARGS...
  local out rc=0
  out=$(snap "${@:2}" 2>&1) || rc=$?
  [ "$rc" -eq 8 ] || fail "lsmfs snapshot ${*:2}: exit $rc, want 8 ($out)"
  [ "$(echo "$out" | wc -l)" -eq 1 ] || fail "lsmfs snapshot ${*:2}: not one line: $out"
  grep -q "$1" <<<"$out" || fail "lsmfs snapshot ${*:2}: '$out' does not say '$1'"
}
cli_fails "exists" create "$MNT" one
cli_fails "no snapshot of that name" delete "$MNT" nothere
cli_fails "bad name" create "$MNT" "a/b"
cli_fails "bad name" create "$MNT" ".."
cli_fails "bad name" create "$MNT" "$(printf 'x%.0s' $(seq 256))"
cli_fails "not the mountpoint" list "$MNT/a"
cli_fails "not the mountpoint" list "$T_DIR"
cli_fails "No such file" list "$T_DIR/missing"
mkdir "$T_DIR/bind"
if lib_t 20 bindfs "$T_DIR/ref" "$T_DIR/bind" 2>/dev/null; then
  LIB_CLEANUP+=("fusermount3 -u '$T_DIR/bind' 2>/dev/null")
  cli_fails "not served by an lsmfs daemon" list "$T_DIR/bind"
  lib_t 20 fusermount3 -u "$T_DIR/bind"
fi
nobody() { lib_t 30 setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
rc=0
out=$(nobody "$LSMFS" snapshot create "$MNT" theirs 2>&1) || rc=$?
[ "$rc" -eq 8 ] && grep -q "only root or the mount's owner" <<<"$out" ||
  fail "an unprivileged create: exit $rc, '$out'"
nobody "$LSMFS" snapshot list --no-space "$MNT" | grep '^one ' >/dev/null ||
  fail "an unprivileged list does not show 'one'"
rc=0
out=$(snap bogus "$MNT" 2>&1) || rc=$?
[ "$rc" -eq 16 ] || fail "a bad subcommand: exit $rc, want 16"
snap create --help | grep "usage: lsmfs snapshot create" >/dev/null || fail "create --help"

check "kill -9 of the daemon, remount: the snapshot is intact"
lib_kill_daemon
lib_mount -o snapdir=.snap
SNAP=$MNT/.snap
same_tree "$REF" "$SNAP/one" "the snapshot after kill -9 and remount (-o snapdir=.snap)"
[ "$(cat "$MNT/a/f1")" = changed ] || fail "the live tree lost a change"
lib_unmount
lib_mount
SNAP=$MNT/.snapshots
same_tree "$REF" "$SNAP/one" "the snapshot after a clean remount"

check "space: $MB MiB written, snapshot, overwritten; deleting the snapshot gives it back"
lib_t 120 dd if=/dev/urandom of="$MNT/data" bs=1M count="$MB" status=none || fail "writing $MB MiB failed"
sync "$MNT/data"
# Deleting a snapshot compacts the store: df then shows the data once, in
# tables (not partly in logs and memtables being flushed).
snap create "$MNT" settle && snap delete "$MNT" settle || fail "create/delete settle failed"
u0=$(used)
snap create "$MNT" space || fail "snapshot create failed"
lib_t 120 dd if=/dev/urandom of="$MNT/data" bs=1M count="$MB" conv=notrunc status=none ||
  fail "overwriting failed"
sync "$MNT/data"
excl=$(snap list "$MNT" | awk '$1 == "space" { print $4, $5 }')
case "$excl" in
  *MiB) python3 -c "import sys; sys.exit(not float(sys.argv[1]) >= 0.9 * int(sys.argv[2]))" \
          "${excl% MiB}" "$MB" || fail "list shows $excl held by 'space', want ~$MB MiB" ;;
  *GiB) ;;
  *) fail "list shows $excl held by 'space', want ~$MB MiB" ;;
esac
# Another snapshot's deletion compacts the store: 'space' keeps its data.
snap create "$MNT" later || fail "snapshot create failed"
snap delete "$MNT" later || fail "snapshot delete failed"
u1=$(used)
[ "$u1" -ge $((u0 + MB * 1024 * 1024 * 9 / 10)) ] ||
  fail "with the snapshot held, df shows $u1 bytes used, want >= $u0 + ~$MB MiB"
cmp <(head -c 1000 "$SNAP/space/data") <(head -c 1000 "$MNT/data") >/dev/null &&
  fail "the snapshot shows the overwritten data"
snap delete "$MNT" space || fail "snapshot delete failed"
u2=$(used)
echo "df used: $u0 after writing, $u1 with the snapshot held, $u2 after deleting it"
[ "$u2" -le $((u0 + MB * 1024 * 1024 / 4)) ] ||
  fail "after deleting the snapshot df shows $u2 bytes used, want about $u0"
[ -e "$SNAP/space" ] && fail "$SNAP/space still there after delete"
same_tree "$REF" "$SNAP/one" "the first snapshot after the others came and went"

lib_unmount
lib_pass
