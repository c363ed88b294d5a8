#!/usr/bin/env bash
# t_badinput: bad invocations fail with exactly one line on stderr, a
# non-zero exit status, no mount, and nothing touched: missing mountpoint,
# a directory that is not an lsmfs store, a store already mounted by
# another daemon (the message names its pid), unknown or malformed
# options, missing arguments.
. "$(dirname "$0")/lib.sh"
lib_init "$@"

# expect_fail LABEL CMD...: CMD exits non-zero, prints nothing on stdout
# and exactly one line on stderr (kept in $T_DIR/err).
expect_fail() {
  local label=$1 rc=0
  shift
  check "$label"
  lib_t 60 "$@" >"$T_DIR/out" 2>"$T_DIR/err" || rc=$?
  echo "  exit $rc: $(cat "$T_DIR/err")"
  [ "$rc" -ne 0 ] || fail "$label: exit status 0"
  [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || fail "$label: timed out"
  [ ! -s "$T_DIR/out" ] || fail "$label: wrote to stdout: $(cat "$T_DIR/out")"
  [ "$(wc -l <"$T_DIR/err")" -eq 1 ] ||
    fail "$label: $(wc -l <"$T_DIR/err") lines on stderr, expected 1"
  return 0
}

expect_not_mounted() {
  lib_is_mounted "$1" && fail "$1 got mounted"
  [ -z "$(lib_daemon_pids "$T_DIR")" ] || [ -n "${2:-}" ] ||
    fail "a daemon is left running: $(lib_daemon_pids "$T_DIR")"
  return 0
}

S2=$T_DIR/store2
expect_fail "missing mountpoint" "$LSMFS" "$S2" "$T_DIR/no-such-dir"
[ ! -e "$S2" ] || fail "store created although the mountpoint is missing"
expect_not_mounted "$T_DIR/no-such-dir"

touch "$T_DIR/plainfile"
expect_fail "mountpoint is a file" "$LSMFS" "$S2" "$T_DIR/plainfile"
[ ! -e "$S2" ] || fail "store created although the mountpoint is a file"

expect_fail "unknown option" "$LSMFS" -o no_such_option "$S2" "$MNT"
grep -q no_such_option "$T_DIR/err" || fail "message does not name the option"
[ ! -e "$S2" ] || fail "store created despite an unknown option"
expect_not_mounted "$MNT"

expect_fail "unknown flag" "$LSMFS" --no-such-flag "$S2" "$MNT"
[ ! -e "$S2" ] || fail "store created despite an unknown flag"

expect_fail "malformed value" "$LSMFS" -o cache_mb=12abc "$S2" "$MNT"
grep -q cache_mb "$T_DIR/err" || fail "message does not name the option"
expect_fail "bad compression" "$LSMFS" -o compression=lz4 "$S2" "$MNT"
expect_fail "max_write out of range" "$LSMFS" -o max_write=100 "$S2" "$MNT"
expect_fail "negative timeout" "$LSMFS" -o attr_timeout=-1 "$S2" "$MNT"
expect_fail "too many workers" "$LSMFS" -o workers=100000 "$S2" "$MNT"
grep -q workers "$T_DIR/err" || fail "message does not name the option"
[ ! -e "$S2" ] || fail "store created despite bad option values"

expect_fail "store is the mountpoint" "$LSMFS" "$MNT" "$MNT"
expect_fail "store inside the mountpoint" "$LSMFS" "$MNT/store" "$MNT"
[ -z "$(ls -A "$MNT")" ] || fail "something was created in the mountpoint"
expect_not_mounted "$MNT"

expect_fail "no arguments" "$LSMFS"
expect_fail "no mountpoint" "$LSMFS" "$S2"
expect_fail "three positional arguments" "$LSMFS" "$S2" "$MNT" "$T_DIR/extra"
[ ! -e "$S2" ] || fail "store created by an incomplete command line"

check "a directory holding something else is not taken for a store"
NOT=$T_DIR/not-a-store
mkdir "$NOT"
head -c 10000 /dev/urandom >"$NOT/precious.bin"
echo notes >"$NOT/notes.txt"
(cd "$NOT" && find . -printf '%p %s %m %T@\n' | sort && sha256sum ./*) >"$T_DIR/not.before"
for mode in "" -f; do
  expect_fail "not an lsmfs store (${mode:-daemon})" "$LSMFS" $mode "$NOT" "$MNT"
  expect_not_mounted "$MNT"
  (cd "$NOT" && find . -printf '%p %s %m %T@\n' | sort && sha256sum ./*) >"$T_DIR/not.after"
  diff "$T_DIR/not.before" "$T_DIR/not.after" ||
    fail "the directory was modified by a failed mount"
done

check "a store already mounted by another daemon"
lib_mount_daemon
echo data >"$MNT/file"
mkdir "$T_DIR/mnt2"
for mode in "" -f; do
  expect_fail "second daemon on the same store (${mode:-daemon})" \
    "$LSMFS" $mode "$STORE" "$T_DIR/mnt2"
  grep -q "\b$DAEMON_PID\b" "$T_DIR/err" ||
    fail "message does not name the running daemon's pid $DAEMON_PID"
  lib_is_mounted "$T_DIR/mnt2" && fail "second mount happened"
  [ "$(lib_daemon_pids "$STORE")" = "$DAEMON_PID" ] || fail "daemons: $(lib_daemon_pids "$STORE")"
done
[ "$(cat "$MNT/file")" = data ] || fail "first mount disturbed"

lib_unmount
lib_pass
