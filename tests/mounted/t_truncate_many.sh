#!/usr/bin/env bash
# t_truncate_many: one file truncated and rewritten 20000 times (like
# xfstests' truncfile, tests/tools/truncate_many.py) finishes, and the file
# then holds exactly the expected bytes, also after a remount.  Each
# shrinking truncate of a large file is a range deletion; a read used to
# cost time proportional to those in the memtable, so the loop slowed down
# round after round (2000 rounds took 41 s, and 4000 did not finish in
# 120 s).  The 120 s bound is a hang guard, not a timing test: now 25-40 s
# with the release or the ASan build on a busy 2-core machine.
. "$(dirname "$0")/lib.sh"
lib_init "$@"
command -v python3 >/dev/null || fail "python3 missing"
tool=$(cd "$(dirname "$0")/../tools" && pwd)/truncate_many.py

lib_mount
check "20000 rounds of write + truncate on one file"
start=$(date +%s)
lib_t 120 python3 "$tool" "$MNT/f" 20000 "$T_DIR/expected" ||
  fail "truncate loop failed or did not finish within 120 s"
echo "[t_truncate_many] 20000 rounds in $(($(date +%s) - start)) s"
cmp "$MNT/f" "$T_DIR/expected" || fail "final content differs"

check "the content survives a remount"
lib_unmount
lib_mount
lib_t 60 cmp "$MNT/f" "$T_DIR/expected" || fail "content differs after remount"
lib_unmount
lib_pass
