#!/usr/bin/env bash
# t_space_back: deleting gives the space back (issue 16).  On a mount with
# default options, mounted and otherwise idle, within 60 s:
#   1. a generated tree of ~400 MiB (~300 MiB stored) removed by rm -rf;
#   2. a 200 MiB file truncated to 1 MiB;
#   3. a tree of 128 MiB overwritten in place by a newer copy (O_TRUNC of
#      every file, as cp -r over it does);
# each leaves the store (its bytes allocated on disk, du) at most 10 % of
# what the removed data took, plus SLACK, and df on the mount agrees.
# The 60 s poll is the issue's bound, not a timing claim: a store that
# gets there sooner passes sooner.
#
# SLACK (42 MiB): what a store holds whatever was deleted: the WAL of the
# writes not yet in a table (up to one memtable, 32 MiB by default: the
# deletions themselves land there), the space reserve (8 MiB, allocated
# by fallocate) and 2 MiB for the manifest, CURRENT, LOCK and a new log's
# first block.
. "$(dirname "$0")/lib.sh"
LIB_LIMIT=280
lib_init "$@"
command -v python3 >/dev/null || fail "python3 missing"
gen=$(cd "$(dirname "$0")/../tools" && pwd)/gen_tree.py
SLACK=$((42 << 20))
MIB=$((1 << 20))

# The store's bytes on disk.  A compaction may delete a table while du
# walks the directory (du then fails: "cannot access"), so it is retried.
store_bytes() {
  local out i
  for i in 1 2 3 4 5 6 7 8 9 10; do
    if out=$(du -s --block-size=1 "$STORE" 2>/dev/null); then
      echo "${out%%[[:space:]]*}"
      return 0
    fi
    sleep 0.2
  done
  du -s --block-size=1 "$STORE" | cut -f1
}
df_used() { df -B1 --output=used "$MNT" | tail -1 | tr -d ' '; }

# settle: waits (up to 30 s) for the store's bytes to stay the same for
# 3 s: the compactions a workload started are done and their inputs
# deleted, so what the store holds is measured, not a transient peak.
settle() {
  local last=-1 same=0 i s
  for i in $(seq 30); do
    s=$(store_bytes)
    if [ "$s" -eq "$last" ]; then
      same=$((same + 1))
      [ "$same" -lt 3 ] || return 0
    else
      same=0
      last=$s
    fi
    sleep 1
  done
}

# wait_shrunk WHAT LIMIT: polls once a second, up to 60 s, until both the
# store and df's used bytes are at most LIMIT; fails with the figures if
# they are not.
wait_shrunk() {
  local what=$1 limit=$2 i s d
  for i in $(seq 0 60); do
    s=$(store_bytes)
    d=$(lib_t 10 df -B1 --output=used "$MNT" | tail -1 | tr -d ' ')
    if [ "$s" -le "$limit" ] && [ "$d" -le "$limit" ]; then
      echo "[t_space_back] $what: store $((s / MIB)) MiB, df used $((d / MIB)) MiB" \
           "(limit $((limit / MIB)) MiB) after ${i} s"
      return 0
    fi
    [ "$i" -eq 60 ] || sleep 1
  done
  ls -l "$STORE" >&2
  fail "$what: after 60 s idle the store holds $((s / MIB)) MiB and df says" \
       "$((d / MIB)) MiB used; at most $((limit / MIB)) MiB expected"
}

lib_mount

check "a ~400 MiB tree copied in, then removed by rm -rf"
lib_t 120 python3 "$gen" "$MNT/tree" 400 1 || fail "writing the tree failed"
lib_t 60 sync -f "$MNT" || fail "sync failed"
settle
full=$(store_bytes)
echo "[t_space_back] tree written: store $((full / MIB)) MiB, df used $(($(df_used) / MIB)) MiB"
[ "$full" -ge $((250 * MIB)) ] ||
  fail "the tree took only $((full / MIB)) MiB in the store: too little to measure"
lib_t 120 rm -rf "$MNT/tree" || fail "rm -rf failed"
wait_shrunk "after rm -rf" $((full / 10 + SLACK))

check "a 200 MiB file truncated to 1 MiB"
settle
base=$(store_bytes)
lib_t 60 python3 "$gen" --file "$MNT/big" 200 2 || fail "writing the file failed"
lib_t 60 sync -f "$MNT" || fail "sync failed"
settle
full=$(store_bytes)
echo "[t_space_back] file written: store $((full / MIB)) MiB"
[ "$full" -ge $((base + 120 * MIB)) ] || fail "the file took only $(((full - base) / MIB)) MiB"
lib_t 60 truncate -s 1M "$MNT/big" || fail "truncate failed"
wait_shrunk "after truncate" $((base + (full - base) / 10 + SLACK))
[ "$(stat -c %s "$MNT/big")" -eq "$MIB" ] || fail "size after truncate"
rm -f "$MNT/big"

check "a 128 MiB tree replaced by a newer copy written over it"
settle
base=$(store_bytes)
lib_t 60 python3 "$gen" "$MNT/tree2" 128 3 >/dev/null || fail "writing tree2 failed"
lib_t 60 sync -f "$MNT" || fail "sync failed"
settle
live=$(($(store_bytes) - base))
lib_t 60 python3 "$gen" "$MNT/tree2" 128 4 >/dev/null || fail "rewriting tree2 failed"
lib_t 60 sync -f "$MNT" || fail "sync failed"
echo "[t_space_back] tree2 written twice: store $(($(store_bytes) / MIB)) MiB, one copy $((live / MIB)) MiB"
[ "$live" -ge $((80 * MIB)) ] || fail "tree2 took only $((live / MIB)) MiB"
wait_shrunk "after the newer copy" $((base + live + live / 10 + SLACK))

lib_unmount
lib_pass
