#!/usr/bin/env bash
# t_tree: a real directory tree in and out of the mount: cp -a and diff -r,
# tar create / extract / compare, mv, hard and symbolic links, rm -r.
. "$(dirname "$0")/lib.sh"
lib_init "$@"

SRC=
for d in /usr/include/linux /usr/include /usr/share/doc /etc; do
  if [ -d "$d" ] && [ "$(find "$d" -type f 2>/dev/null | head -200 | wc -l)" -ge 200 ]; then
    SRC=$d
    break
  fi
done
[ -n "$SRC" ] || fail "no source tree with 200+ files found"
nfiles=$(find "$SRC" -type f | wc -l)
echo "source tree: $SRC ($nfiles files)"

lib_mount

check "cp -a of $SRC, then diff -r finds no difference"
lib_t 120 cp -a "$SRC" "$MNT/tree"
lib_t 60 diff -r --no-dereference "$SRC" "$MNT/tree" || fail "diff -r after cp -a"
[ "$(find "$MNT/tree" -type f | wc -l)" -eq "$nfiles" ] || fail "file count"

check "cp -a kept modes and modification times"
(cd "$SRC" && find . -printf '%p %y %m %TY%Tm%Td%TH%TM%TS\n' | sort) >"$T_DIR/src.meta"
(cd "$MNT/tree" && find . -printf '%p %y %m %TY%Tm%Td%TH%TM%TS\n' | sort) >"$T_DIR/mnt.meta"
diff "$T_DIR/src.meta" "$T_DIR/mnt.meta" >/dev/null ||
  fail "modes or mtimes differ: $(diff "$T_DIR/src.meta" "$T_DIR/mnt.meta" | head -5)"

check "tar -c from the mount lists what tar -c of the source lists"
lib_t 60 tar -C "$SRC" -cf "$T_DIR/src.tar" .
lib_t 60 tar -C "$MNT/tree" -cf "$T_DIR/mnt.tar" .
tar -tvf "$T_DIR/src.tar" | sort >"$T_DIR/src.lst"
tar -tvf "$T_DIR/mnt.tar" | sort >"$T_DIR/mnt.lst"
diff "$T_DIR/src.lst" "$T_DIR/mnt.lst" >/dev/null ||
  fail "tar listings differ: $(diff "$T_DIR/src.lst" "$T_DIR/mnt.lst" | head -5)"

check "tar -x into the mount, tar -d against the archive is clean"
mkdir "$MNT/untar"
lib_t 120 tar -C "$MNT/untar" -xpf "$T_DIR/src.tar"
lib_t 60 tar -C "$MNT/untar" -df "$T_DIR/src.tar" || fail "tar -d reports differences"
lib_t 60 diff -r --no-dereference "$SRC" "$MNT/untar" || fail "diff -r after tar -x"

check "mv of a whole tree, and of a file across directories"
lib_t 30 mv "$MNT/untar" "$MNT/moved"
[ ! -e "$MNT/untar" ] || fail "old name still present after mv"
lib_t 60 diff -r --no-dereference "$SRC" "$MNT/moved" || fail "diff -r after mv"
f=$(cd "$MNT/moved" && find . -type f -print -quit)
lib_t 10 mkdir "$MNT/other"
lib_t 10 mv "$MNT/moved/$f" "$MNT/other/x"
cmp "$SRC/$f" "$MNT/other/x" || fail "moved file content"
[ ! -e "$MNT/moved/$f" ] || fail "moved file still at its old name"
lib_t 10 mv "$MNT/other/x" "$MNT/moved/$f"

check "rename over an existing file replaces it"
echo one >"$MNT/other/a"
echo two >"$MNT/other/b"
lib_t 10 mv -f "$MNT/other/a" "$MNT/other/b"
[ "$(cat "$MNT/other/b")" = one ] && [ ! -e "$MNT/other/a" ] ||
  fail "rename over a file"

check "hard links share data and count links"
echo linked >"$MNT/other/orig"
lib_t 10 ln "$MNT/other/orig" "$MNT/other/hard1"
lib_t 10 ln "$MNT/other/orig" "$MNT/hard2"
[ "$(stat -c %h "$MNT/other/orig")" -eq 3 ] || fail "nlink after two links: $(stat -c %h "$MNT/other/orig")"
[ "$(stat -c %i "$MNT/other/orig")" = "$(stat -c %i "$MNT/hard2")" ] ||
  fail "hard link has another inode"
echo appended >>"$MNT/hard2"
[ "$(cat "$MNT/other/hard1")" = "$(printf 'linked\nappended')" ] ||
  fail "write through one link not seen through another"
lib_t 10 rm "$MNT/other/orig"
[ "$(stat -c %h "$MNT/hard2")" -eq 2 ] || fail "nlink after unlinking one name"
if lib_t 10 ln "$MNT/other" "$MNT/dirlink" 2>/dev/null; then
  fail "hard link to a directory was allowed"
fi

check "directory link counts follow subdirectories"
lib_t 10 mkdir -p "$MNT/nl/a" "$MNT/nl/b" "$MNT/nl/c"
[ "$(stat -c %h "$MNT/nl")" -eq 5 ] || fail "nlink of dir with 3 subdirs: $(stat -c %h "$MNT/nl")"
lib_t 10 rmdir "$MNT/nl/b"
[ "$(stat -c %h "$MNT/nl")" -eq 4 ] || fail "nlink after rmdir"
lib_t 10 mv "$MNT/nl/c" "$MNT/other/c"
[ "$(stat -c %h "$MNT/nl")" -eq 3 ] || fail "nlink of old parent after mv of a dir"

check "symbolic links: target, dangling, through a link"
lib_t 10 ln -s ../hard2 "$MNT/other/sym"
[ "$(readlink "$MNT/other/sym")" = ../hard2 ] || fail "readlink"
[ "$(cat "$MNT/other/sym" | head -1)" = linked ] || fail "read through symlink"
[ "$(stat -c %F "$MNT/other/sym")" = "symbolic link" ] || fail "symlink type"
lib_t 10 ln -s /does/not/exist "$MNT/dangling"
[ "$(readlink "$MNT/dangling")" = /does/not/exist ] || fail "dangling symlink"
long=$(printf 'x%.0s' $(seq 1000))
lib_t 10 ln -s "$long" "$MNT/longlink"
[ "$(readlink "$MNT/longlink")" = "$long" ] || fail "1000-byte symlink target"

check "rm -r of everything leaves an empty root"
lib_t 60 rm -rf "$MNT/tree" "$MNT/moved" "$MNT/other" "$MNT/nl" "$MNT/hard2" \
  "$MNT/dangling" "$MNT/longlink"
[ -z "$(ls -A "$MNT")" ] || fail "root not empty: $(ls -A "$MNT")"

lib_unmount
lib_pass
