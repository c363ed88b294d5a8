#!/usr/bin/env bash
# t_overlay: an lsmfs directory as overlayfs's upperdir and workdir over a
# read-only lower directory, with the default trusted.* xattrs.  The
# overlay mounts without a feature warning in the kernel log (it probes
# O_TMPFILE, RENAME_WHITEOUT and xattrs in the workdir); through it, lower
# files are read, changed (copy-up), deleted (a whiteout, char 0/0, in
# the upper dir), a lower directory renamed (redirect_dir=on: a real
# rename leaving a whiteout), new files made; the view is the same after
# unmounting and remounting both the overlay and lsmfs; the lower
# directory never changes.
. "$(dirname "$0")/lib.sh"
lib_init "$@"
grep -qw overlay /proc/filesystems || fail "this kernel has no overlayfs"
command -v getfattr >/dev/null || fail "getfattr missing (package attr)"

LOWER=$T_DIR/lower
OVL=$T_DIR/ovl
mkdir -p "$LOWER/dir/sub" "$LOWER/keep" "$OVL"
echo "lower a" >"$LOWER/a"
echo "lower b" >"$LOWER/b"
head -c $((1 << 20)) /dev/urandom >"$LOWER/big"
echo "in dir" >"$LOWER/dir/f"
echo "deep" >"$LOWER/dir/sub/g"
echo "kept" >"$LOWER/keep/k"
chmod -R a-w "$LOWER"
lower_digest=$(lib_tree_digest "$LOWER")
# Runs before lib.sh unmounts the test's mounts (it would try lsmfs's
# mount first, which the overlay keeps busy).
LIB_CLEANUP+=("umount '$OVL' 2>/dev/null; umount -l '$OVL' 2>/dev/null")

mount_overlay() {
  local marker="lsmfs-test-marker-$$-$RANDOM"
  echo "$marker" >/dev/kmsg
  lib_t 30 mount -t overlay overlay \
    -o "lowerdir=$LOWER,upperdir=$MNT/upper,workdir=$MNT/work,redirect_dir=on" \
    "$OVL" || fail "overlay mount failed: $(dmesg | tail -5)"
  dmesg | sed -n "/$marker/,\$p" | grep -i 'overlayfs:' >"$T_DIR/kmsg" || true
  [ ! -s "$T_DIR/kmsg" ] || fail "overlayfs complained at mount: $(cat "$T_DIR/kmsg")"
}

lib_mount
mkdir "$MNT/upper" "$MNT/work"
check "the overlay mounts on lsmfs with every feature it probes"
mount_overlay

check "lower files read through the overlay"
[ "$(cat "$OVL/a")" = "lower a" ] || fail "read of a lower file"
cmp "$OVL/big" "$LOWER/big" || fail "read of a 1 MiB lower file"

check "changing a lower file copies it up"
echo "more" >>"$OVL/a"
[ "$(cat "$OVL/a")" = "lower a
more" ] || fail "appended lower file"
[ -f "$MNT/upper/a" ] || fail "no copy-up of a in the upper dir"
printf 'X' | dd of="$OVL/big" bs=1 seek=1000 conv=notrunc status=none
[ "$(stat -c %s "$OVL/big")" -eq $((1 << 20)) ] || fail "size after copy-up write"

check "deleting a lower file leaves a whiteout (char 0/0) in the upper dir"
rm "$OVL/b"
[ ! -e "$OVL/b" ] || fail "deleted lower file still visible"
[ "$(stat -c '%F %t:%T' "$MNT/upper/b")" = "character special file 0:0" ] ||
  fail "upper b is not a whiteout: $(stat -c '%F %t:%T' "$MNT/upper/b")"
rm "$OVL/dir/sub/g"
rmdir "$OVL/dir/sub"
[ ! -e "$OVL/dir/sub" ] || fail "removed lower directory still visible"

check "renaming a lower directory"
mv "$OVL/dir" "$OVL/moved"
[ ! -e "$OVL/dir" ] && [ "$(cat "$OVL/moved/f")" = "in dir" ] ||
  fail "renamed lower directory"
[ "$(stat -c '%F %t:%T' "$MNT/upper/dir")" = "character special file 0:0" ] ||
  fail "no whiteout where the renamed directory was"
# overlayfs's own trusted.* xattr on lsmfs: where the directory came from.
[ "$(getfattr --only-values -n trusted.overlay.redirect "$MNT/upper/moved" 2>/dev/null)" = dir ] ||
  fail "no trusted.overlay.redirect on the moved directory"

check "new files, directories and a rename over a lower file"
mkdir "$OVL/new"
echo "fresh" >"$OVL/new/file"
echo "replacement" >"$OVL/tmp"
mv "$OVL/tmp" "$OVL/keep/k"
ln -s a "$OVL/link"
[ "$(cat "$OVL/keep/k")" = replacement ] || fail "rename over a lower file"

view() {
  lib_tree_digest "$OVL"
}
view >"$T_DIR/view1"
lib_t 30 umount "$OVL" || fail "overlay unmount"
[ "$(lib_tree_digest "$LOWER")" = "$lower_digest" ] || fail "the lower directory changed"

check "the same view after remounting the overlay, and lsmfs under it"
mount_overlay
view | cmp -s - "$T_DIR/view1" || fail "view differs after an overlay remount"
lib_t 30 umount "$OVL" || fail "overlay unmount"
lib_unmount
lib_mount
mount_overlay
view | cmp -s - "$T_DIR/view1" || fail "view differs after an lsmfs remount"
[ "$(cat "$OVL/a")" = "lower a
more" ] || fail "copied-up file after remount"
rm "$OVL/moved/f" "$OVL/a"
[ ! -e "$OVL/a" ] || fail "removed copied-up file"
lib_t 30 umount "$OVL" || fail "overlay unmount"
[ "$(lib_tree_digest "$LOWER")" = "$lower_digest" ] || fail "the lower directory changed"
lib_unmount
lib_t 60 "$LSMFS" fsck "$STORE" >"$T_DIR/fsck" 2>&1 ||
  fail "fsck after the overlay: $(cat "$T_DIR/fsck")"
lib_pass
