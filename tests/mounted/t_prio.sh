#!/usr/bin/env bash
# t_prio: the daemon's threads run at the priorities mount/prio.h sets out.
# The thread reading requests keeps the nice value it was started with
# and (on Linux 6.12+, whose sched_setattr sets a fair task's slice) runs
# with the short slice of 100 us; the workers serving bulk writes
# (lsmfs-bulk, half of -o workers) and the engine's flush and compaction
# threads (lsm-flush, lsm-compact) run 5 nice levels lower; the other
# workers (lsmfs-work) are unchanged, and so is the one worker of
# -o workers=1, which serves reads and fsyncs too.  Then file data and
# reads (the page cache dropped, so READs reach the daemon) still flow
# with 1 and 2 workers.  The kernel lets as many background requests out
# as the bulk workers serve, at least 4 (INIT's max_background, read back
# from fusectl, mounted for the test if it is not; skipped if it cannot
# be), and -o max_background=N still overrides.  No timing is measured.
. "$(dirname "$0")/lib.sh"
lib_init "$@"

nice_of() { awk '{ sub(/.*\) /, ""); print $17 }' "$1/stat"; }  # field 19

# named_at NAME NICE: how many of the daemon's threads named NAME run at NICE.
named_at() {
  local t n=0
  for t in /proc/"$DAEMON_PID"/task/*; do
    [ "$(cat "$t/comm" 2>/dev/null)" = "$1" ] && [ "$(nice_of "$t")" = "$2" ] && n=$((n + 1))
  done
  echo "$n"
}

# expect_count NAME NICE N: N threads named NAME at NICE.
expect_count() {
  local got
  got=$(named_at "$1" "$2")
  [ "$got" -eq "$3" ] || fail "$got threads $1 at nice $2, expected $3"
}

# expect_prio WORKERS: the reader, bulk workers and engine threads as above.
# The daemon starts each worker and engine thread only once the one before
# has set its name and priority, and reads INIT after that: once a stat
# of the mount point is answered, all are in place (no waiting needed).
expect_prio() {
  local base low bulk fast slice
  lib_t 30 stat "$MNT" >/dev/null || fail "stat $MNT failed"
  base=$(nice_of "/proc/$DAEMON_PID/task/$DAEMON_PID")
  [ "$base" = "$(nice)" ] || fail "the reader runs at nice $base, not $(nice)"
  low=$((base + 5 > 19 ? 19 : base + 5))
  bulk=$(($1 > 1 ? $1 / 2 : 1))
  fast=$(($1 - bulk))
  # One worker serves reads and fsyncs too: it keeps the reader's nice.
  expect_count lsmfs-bulk "$([ "$fast" -gt 0 ] && echo "$low" || echo "$base")" "$bulk"
  expect_count lsmfs-work "$base" "$fast"
  expect_count lsm-flush "$low" 1
  expect_count lsm-compact "$low" 1
  slice=$(awk '$1 == "se.slice" { print $3 }' "/proc/$DAEMON_PID/task/$DAEMON_PID/sched")
  if [ -n "$slice" ] && [ "$(uname -r | awk -F. '{ print ($1 > 6 || ($1 == 6 && $2 >= 12)) }')" = 1 ]; then
    [ "$slice" = 100000 ] || fail "the reader's slice is $slice ns, expected 100000"
  fi
}

# data_flows: a 64 MiB file written in 1 MiB requests (bulk) while a small
# file is read back again and again (served by a worker), both verified.
data_flows() {
  head -c 300000 /dev/urandom >"$T_DIR/small"
  cp "$T_DIR/small" "$MNT/small"
  head -c $((64 << 20)) /dev/urandom >"$T_DIR/big"
  lib_t 60 dd if="$T_DIR/big" of="$MNT/big" bs=1M conv=fsync status=none &
  local dd_pid=$! i
  # Dropping the page cache each time (the mount keeps it across opens)
  # makes each cmp's READs reach the daemon's workers.
  for i in $(seq 20); do
    sync "$MNT/small"
    echo 3 >/proc/sys/vm/drop_caches
    lib_t 30 cmp -s "$T_DIR/small" "$MNT/small" || fail "reading small during the write failed"
  done
  wait "$dd_pid" || fail "the 64 MiB write failed"
  echo 3 >/proc/sys/vm/drop_caches
  lib_t 60 cmp -s "$T_DIR/big" "$MNT/big" || fail "big reads back wrong"
  rm -f "$MNT/big" "$MNT/small"
}

# expect_background N: the kernel's max_background for this mount is N.
fusectl=/sys/fs/fuse/connections
have_fusectl=1
if ! awk -v d="$fusectl" '$5 == d { f = 1 } END { exit !f }' /proc/self/mountinfo; then
  if mount -t fusectl fusectl "$fusectl" 2>/dev/null; then
    LIB_CLEANUP+=("umount $fusectl")
  else
    have_fusectl=0
  fi
fi
expect_background() {
  local got
  got=$(cat "$fusectl/$(stat -c %d "$MNT")/max_background") || fail "no fusectl entry for $MNT"
  [ "$got" = "$1" ] || fail "max_background is $got, expected $1"
}

if [ "$have_fusectl" = 1 ]; then
  check "max_background: 4 for 8 workers, 8 for 16, the kernel's 12 with -s, -o max_background=9 kept"
  lib_mount
  expect_background 4
  lib_unmount
  lib_mount -o workers=16
  expect_background 8
  lib_unmount
  lib_mount -s                     # no bulk workers: the kernel's default
  expect_background 12
  lib_unmount
  lib_mount -o max_background=9
  expect_background 9
  lib_unmount
else
  echo "  skipped: max_background checks (fusectl cannot be mounted on $fusectl)"
fi

for w in 8 2 1; do
  check "-o workers=$w: reader, bulk workers and engine threads at their priorities; data flows"
  lib_mount -o workers=$w
  expect_prio "$w"
  data_flows
  lib_unmount
done
lib_pass
