#!/usr/bin/env bash
# t_daemon_crash: what the daemon acknowledged survives kill -9 of it.
# Twenty small files written and closed, then a rename, an unlink, a mkdir
# and a chmod, none of them fsync'ed; kill -9 of the daemon, lazy unmount
# of the dead mount, remount: the tree is exactly as it was before the
# kill (names, types, modes, sizes, contents).  Only power loss may lose
# unsynced changes, not a crash of the daemon.
. "$(dirname "$0")/lib.sh"
lib_init "$@"

lib_mount
check "20 files, a rename, an unlink, a mkdir and a chmod, then kill -9"
lib_t 60 bash -c 'for i in $(seq 20); do echo line $i > "$1/f$i"; done' _ "$MNT" ||
  fail "writing the files failed"
lib_t 10 mv "$MNT/f1" "$MNT/renamed" || fail "rename failed"
lib_t 10 rm "$MNT/f2" || fail "unlink failed"
lib_t 10 mkdir "$MNT/d" || fail "mkdir failed"
lib_t 10 chmod 600 "$MNT/f3" || fail "chmod failed"
want=$(lib_t 30 bash -c 'cd "$1" && find . -printf "%y %m %s %p\n" | sort &&
                         find . -type f -print0 | sort -z | xargs -0 cat' _ "$MNT") ||
  fail "reading the tree failed"
[ "$(echo "$want" | grep -c '^f ')" -eq 19 ] || fail "expected 19 files: $want"

lib_kill_daemon

check "after remount the tree is exactly what was acknowledged"
lib_mount
got=$(lib_t 30 bash -c 'cd "$1" && find . -printf "%y %m %s %p\n" | sort &&
                        find . -type f -print0 | sort -z | xargs -0 cat' _ "$MNT") ||
  fail "reading the tree after the remount failed"
if [ "$got" != "$want" ]; then
  diff <(echo "$want") <(echo "$got") >&2 || true
  fail "the tree after kill -9 and remount differs (< before, > after)"
fi
[ "$(cat "$MNT/renamed")" = "line 1" ] || fail "renamed file's content is wrong"
[ "$(cat "$MNT/f20")" = "line 20" ] || fail "f20's content is wrong"

lib_unmount
lib_pass
