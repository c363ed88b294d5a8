#!/usr/bin/env bash
# t_crash: up to 20 runs of scripts/crash-test (T_CRASH_RUNS: scripts/test
# asks 10, and 6 in its second, io_uring pass), bounded at 270 s; at least half
# must fit, which a loaded 2-CPU machine does with room to spare:
# kill -9 the daemon under a workload of several processes (creates,
# writes, appends, truncates, renames, links, unlinks, mkdirs; half the
# workers fsync each change, half only close their files); after a
# remount every change that returned (fsynced or merely closed) is there,
# exactly, and nothing else (see scripts/crash-test and
# tests/tools/crash_workload.py); `lsmfs fsck` finds the store clean.
# A failed run's store is kept under /tmp and its path printed.
LIB_LIMIT=${LIB_LIMIT:-295}   # under ctest's 300 s
. "$(dirname "$0")/lib.sh"
lib_init "$@"
top=$(cd "$(dirname "$0")/../.." && pwd)
command -v python3 >/dev/null || fail "missing tool: python3"

check "crash runs: every acknowledged operation survives kill -9"
# crash-test's runs live in their own directory under /tmp (not $T_DIR,
# which this test removes) so that a failed run's store stays there.
runs=${T_CRASH_RUNS:-20}
rc=0
lib_t 285 "$top/scripts/crash-test" --runs "$runs" --workers 3 --time-limit 270 \
  --build "$1" >"$T_DIR/crash.log" 2>&1 || rc=$?
cat "$T_DIR/crash.log"
[ "$rc" -eq 0 ] || fail "crash-test failed (exit $rc)"
last=$(tail -1 "$T_DIR/crash.log")
[[ $last =~ ^crash-test:\ ([0-9]+)\ runs,\ ([0-9]+)\ passed$ ]] ||
  fail "no summary line from crash-test"
[ "${BASH_REMATCH[1]}" -ge $((runs / 2)) ] || fail "only ${BASH_REMATCH[1]} runs in 270 s"
lib_pass
