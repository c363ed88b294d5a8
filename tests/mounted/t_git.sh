#!/usr/bin/env bash
# t_git: a git repository on the mount: init, add, commit (several), gc
# (packs, renames, unlinks), clone within the mount, and git fsck --full
# clean throughout and after a remount.
. "$(dirname "$0")/lib.sh"
lib_init "$@"
command -v git >/dev/null || fail "git missing"

# Keep git away from the user's configuration.
export HOME=$T_DIR/home GIT_CONFIG_NOSYSTEM=1
mkdir -p "$HOME"
git config --global user.name "lsmfs test"
git config --global user.email "test@lsmfs.invalid"
git config --global init.defaultBranch main
git config --global safe.directory '*'
git config --global gc.auto 0

SRC=/usr/include/linux
[ -d "$SRC" ] || SRC=/etc

lib_mount
R=$MNT/repo

check "git init, add and commit a tree of $(find "$SRC" -type f | wc -l) files"
lib_t 30 git init -q "$R"
lib_t 60 cp -r "$SRC" "$R/src"
lib_t 60 git -C "$R" add -A
lib_t 60 git -C "$R" commit -q -m "initial import"

check "more commits: edits, renames, deletions"
for i in $(seq 5); do
  echo "change $i" >>"$R/README"
  f=$(cd "$R" && git ls-files src | sed -n "$((i * 7))p")
  git -C "$R" mv "$f" "$f.renamed$i"
  g=$(cd "$R" && git ls-files src | sed -n "$((i * 11))p")
  git -C "$R" rm -q "$g"
  lib_t 30 git -C "$R" add -A
  lib_t 30 git -C "$R" commit -q -m "change $i"
done
[ "$(git -C "$R" rev-list --count HEAD)" -eq 6 ] || fail "expected 6 commits"

check "git fsck --full is clean"
lib_t 60 git -C "$R" fsck --full --strict --no-progress || fail "git fsck"

check "git gc (pack, prune) and fsck again"
lib_t 120 git -C "$R" gc -q --prune=now || fail "git gc"
lib_t 60 git -C "$R" fsck --full --strict --no-progress || fail "git fsck after gc"
[ -n "$(ls "$R/.git/objects/pack/"*.pack 2>/dev/null)" ] || fail "gc wrote no pack"

check "clone within the mount, checkout matches, status clean"
lib_t 60 git clone -q "$R" "$MNT/clone"
lib_t 60 diff -r -x .git "$R" "$MNT/clone" || fail "clone differs from the original"
[ -z "$(git -C "$R" status --porcelain)" ] || fail "working tree not clean"
lib_t 60 git -C "$MNT/clone" fsck --full --no-progress || fail "git fsck of the clone"

check "after a remount: fsck clean, log intact, status clean"
head=$(git -C "$R" rev-parse HEAD)
lib_unmount
lib_mount
lib_t 60 git -C "$R" fsck --full --strict --no-progress || fail "git fsck after remount"
[ "$(git -C "$R" rev-parse HEAD)" = "$head" ] || fail "HEAD changed across remount"
[ -z "$(git -C "$R" status --porcelain)" ] || fail "working tree changed across remount"

lib_unmount
lib_pass
