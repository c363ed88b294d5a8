#!/usr/bin/env bash
# t_stress: bounded stress-ng runs in the mount, one stressor at a time
# (directories, dentries, rename, hard and symbolic links, xattrs, random
# seeks with hole punching, streaming file I/O), each with --verify where
# the stressor checks data; zero failures allowed, then a clean unmount.
. "$(dirname "$0")/lib.sh"
lib_init "$@"
command -v stress-ng >/dev/null || fail "stress-ng missing"

SECS=${STRESS_SECS:-4}
WORKERS=2

lib_mount
mkdir "$MNT/stress"

# run NAME ARGS...: one stress-ng run; fails on a non-zero exit or any
# reported failure.  Exit 3 (no resources) and 4 (not implemented) are
# failures too: every stressor here must run on lsmfs.
run() {
  local name=$1 rc=0
  shift
  check "stress-ng --$name ($SECS s, $WORKERS workers)"
  lib_t $((SECS + 60)) stress-ng --temp-path "$MNT/stress" --timeout "$SECS" \
    --verify --metrics-brief "$@" >"$T_DIR/$name.log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ] || grep -q -e '^stress-ng: fail:' -e 'failed: [1-9]' \
      -e 'skipped: [1-9]' -e 'skipping' -e 'untrustworthy' "$T_DIR/$name.log" ||
    ! grep -q 'successful run completed' "$T_DIR/$name.log"; then
    cat "$T_DIR/$name.log" >&2
    fail "stress-ng --$name: exit $rc or a reported failure"
  fi
  grep "metrc: .* $name " "$T_DIR/$name.log" || true
}

run dir --dir "$WORKERS" --dir-dirs 512
run dentry --dentry "$WORKERS" --dentries 1024
run rename --rename "$WORKERS"
run link --link "$WORKERS"
run symlink --symlink "$WORKERS"
run xattr --xattr "$WORKERS"
run seek --seek "$WORKERS" --seek-size 64M --seek-punch
run hdd --hdd "$WORKERS" --hdd-bytes 32M --hdd-write-size 65536

check "stress-ng left nothing behind, and the mount unmounts cleanly"
[ -z "$(ls -A "$MNT/stress")" ] || fail "leftovers: $(ls -A "$MNT/stress" | head)"
lib_unmount
lib_mount
[ -z "$(ls -A "$MNT/stress")" ] || fail "leftovers after remount"
lib_unmount
lib_pass
