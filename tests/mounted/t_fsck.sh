#!/usr/bin/env bash
# t_fsck: `lsmfs fsck` on a real store: refused with exit 8 while the
# store is mounted (the message names the daemon's pid), clean (exit 0)
# after the tree written through the mount is unmounted, a --repair of a
# clean store changes nothing (the tree reads back identical), progress
# goes to stderr as plain lines when stderr is not a terminal, after a
# kill -9 a file unlinked while open is a note (exit 0) that --repair
# reclaims (exit 1, one line saying so) leaving a clean store, and a
# directory that is not a store or a bad command line are refused
# without touching anything.
. "$(dirname "$0")/lib.sh"
lib_init "$@"

populate() {  # populate DIR
  local d=$1 i
  mkdir -p "$d/small" "$d/deep/a/b/c" "$d/empty"
  for i in $(seq 200); do echo "file $i" >"$d/small/f$i"; done
  head -c 3000 /dev/urandom >"$d/inline"
  head -c $((1 << 20)) /dev/urandom >"$d/large"
  dd if=/dev/urandom of="$d/sparse" bs=1k count=3 seek=5000 status=none
  echo leaf >"$d/deep/a/b/c/leaf"
  ln "$d/inline" "$d/hardlink"
  ln -s inline "$d/symlink"
  mkfifo "$d/fifo"
  setfattr -n user.k -v v "$d/inline"
  mv "$d/deep/a/b" "$d/moved"
  rm "$d/small/f7" "$d/small/f8"
  truncate -s 100000 "$d/large"
}

# run_fsck EXPECTED ARGS...: lsmfs fsck ARGS exits EXPECTED; output in
# $T_DIR/fsck.out and fsck.err.
run_fsck() {
  local want=$1 rc=0
  shift
  lib_t 120 "$LSMFS" fsck "$@" >"$T_DIR/fsck.out" 2>"$T_DIR/fsck.err" || rc=$?
  echo "  lsmfs fsck $*: exit $rc"
  sed 's/^/    out: /' "$T_DIR/fsck.out" | tail -5
  sed 's/^/    err: /' "$T_DIR/fsck.err" | tail -5
  [ "$rc" -eq "$want" ] || fail "lsmfs fsck $*: exit $rc, expected $want"
  if grep -Eq 'Sanitizer|runtime error:' "$T_DIR/fsck.err"; then
    fail "sanitizer report from lsmfs fsck: $(cat "$T_DIR/fsck.err")"
  fi
}

lib_mount
check "write a tree through the mount"
lib_t 60 bash -c "$(declare -f populate); populate '$MNT/tree'"
lib_tree_digest "$MNT" >"$T_DIR/before"

check "fsck while mounted: exit 8, the message names the daemon's pid"
run_fsck 8 "$STORE"
grep -q "$DAEMON_PID" "$T_DIR/fsck.err" ||
  fail "the message does not name pid $DAEMON_PID: $(cat "$T_DIR/fsck.err")"
run_fsck 8 --repair "$STORE"
grep -q "$DAEMON_PID" "$T_DIR/fsck.err" || fail "--repair: pid not named"
[ ! -s "$T_DIR/fsck.out" ] || fail "a refused fsck printed a report"
lib_t 10 cat "$MNT/tree/small/f1" >/dev/null || fail "the mount broke"

lib_unmount

check "fsck of the unmounted store: clean"
run_fsck 0 "$STORE"
grep -q "clean" "$T_DIR/fsck.out" || fail "no 'clean' summary"
grep -Eq "problem:|fixed:" "$T_DIR/fsck.out" && fail "problems reported"
grep -q "phase scan" "$T_DIR/fsck.err" ||
  fail "no plain progress lines on a non-terminal stderr"
grep -q $'\r' "$T_DIR/fsck.err" && fail "a progress bar on a non-terminal"

check "fsck --repair of a clean store: clean, and nothing changes"
run_fsck 0 --repair "$STORE"
run_fsck 0 -q "$STORE"
lib_mount
lib_tree_digest "$MNT" >"$T_DIR/after"
diff "$T_DIR/before" "$T_DIR/after" >"$T_DIR/diff" ||
  fail "the tree changed: $(head -10 "$T_DIR/diff")"
lib_unmount
run_fsck 0 "$STORE"

check "after a crash: an orphan is a note (0), --repair reclaims it (1), then clean"
lib_mount -o auto_unmount
echo orphaned >"$MNT/tree/orphan"
exec 9<"$MNT/tree/orphan"
rm "$MNT/tree/orphan"
sync "$MNT/tree/inline"        # fsync: the unlink before it is durable
kill -KILL "$DAEMON_PID"
wait "$LIB_FG_PID" 2>/dev/null || true
DAEMON_PID=
LIB_FG_PID=
exec 9<&-
lib_wait_unmounted "$MNT"
run_fsck 0 "$STORE"
grep -q "note: inode .*: orphan" "$T_DIR/fsck.out" || fail "no note about the orphan"
run_fsck 1 --repair "$STORE"
grep -q "fixed: inode .*: orphan (unlinked while open): reclaimed" "$T_DIR/fsck.out" ||
  fail "the repair did not say it reclaimed the orphan"
run_fsck 0 "$STORE"
grep -q "orphan" "$T_DIR/fsck.out" && fail "the orphan is still there"
lib_mount
lib_tree_digest "$MNT" >"$T_DIR/after"
diff "$T_DIR/before" "$T_DIR/after" >"$T_DIR/diff" ||
  fail "the tree changed: $(head -10 "$T_DIR/diff")"
lib_unmount

check "not a store: exit 8, nothing touched"
NOT=$T_DIR/not-a-store
mkdir "$NOT"
echo precious >"$NOT/notes.txt"
(cd "$NOT" && find . -printf '%p %s %m %T@\n' | sort && sha256sum ./*) >"$T_DIR/not.before"
run_fsck 8 "$NOT"
run_fsck 8 --repair "$NOT"
(cd "$NOT" && find . -printf '%p %s %m %T@\n' | sort && sha256sum ./*) >"$T_DIR/not.after"
diff "$T_DIR/not.before" "$T_DIR/not.after" || fail "fsck modified $NOT"
run_fsck 8 "$T_DIR/no-such-store"
[ ! -e "$T_DIR/no-such-store" ] || fail "fsck created a store"

check "bad command lines: exit 16"
run_fsck 16
run_fsck 16 --no-such-flag "$STORE"
run_fsck 16 "$STORE" "$NOT"
run_fsck 0 --help
grep -q "usage: lsmfs fsck" "$T_DIR/fsck.out" || fail "--help printed no usage"

lib_pass
