#!/usr/bin/env bash
# t_stats: `lsmfs stats` of a mount and of an unmounted store.
#   - the JSON parses and has every section; after creating, writing and
#     reading files the numbers move: CREATE and LOOKUP requests (with
#     p50 <= p99), user and WAL bytes, flushes (small memtable), inodes;
#   - the text form lists levels and the requests table;
#   - snapshots: none at first; after a snapshot and an overwrite of
#     64 KB it holds alone, the count is 1 and its bytes at least that,
#     mounted (JSON and text) and offline;
#   - any user may read the statistics (not only the owner);
#   - a mount that is not lsmfs, and a directory that is not a store, are
#     refused with exit 8 and one line;
#   - offline, the JSON parses, counts the inodes exactly and has no
#     request table (no daemon served any).
. "$(dirname "$0")/lib.sh"
lib_init "$@"
command -v python3 >/dev/null || lib_skip "python3 missing"
command -v setpriv >/dev/null || lib_skip "setpriv missing (package util-linux)"

# js FILE EXPR: a Python expression on the JSON in FILE (as d).
js() {
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}
stats_json() {  # stats_json TARGET OUT
  lib_t 30 "$LSMFS" stats --json "$1" >"$2" || fail "lsmfs stats --json $1 failed"
  python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$2" ||
    fail "stats JSON does not parse: $(cat "$2")"
}

lib_mount -o memtable_mb=1,allow_other
check "the JSON parses and has every section"
stats_json "$MNT" "$T_DIR/s0.json"
for k in levels memtables memtable_bytes pending_compaction_bytes write_amp \
         stall_micros block_cache bloom wal inodes requests snapshots reclaim; do
  [ "$(js "$T_DIR/s0.json" "'$k' in d")" = True ] || fail "no '$k' in the JSON"
done
[ "$(js "$T_DIR/s0.json" 'len(d["levels"])')" -eq 7 ] || fail "not 7 levels"

check "activity moves the numbers"
mkdir "$MNT/d"
for i in $(seq 150); do head -c 16000 /dev/urandom >"$MNT/d/f$i"; done
cat "$MNT"/d/f* >/dev/null
ls -l "$MNT/d" >/dev/null
stats_json "$MNT" "$T_DIR/s1.json"
moved() {  # moved EXPR: larger in s1 than in s0
  local a b
  a=$(js "$T_DIR/s0.json" "$1")
  b=$(js "$T_DIR/s1.json" "$1")
  echo "  $1: $a -> $b"
  python3 -c "import sys; sys.exit(0 if $b > $a else 1)" || fail "$1 did not grow"
}
moved 'd["requests"].get("CREATE", {}).get("count", 0)'
moved 'd["requests"].get("LOOKUP", {}).get("count", 0)'
moved 'd["user_bytes"]'
moved 'd["wal"]["bytes"]'
moved 'd["flushes"]'
moved 'd["inodes"]'
[ "$(js "$T_DIR/s1.json" 'all(v["p50_us"] <= v["p99_us"] and v["count"] > 0 for v in d["requests"].values())')" = True ] ||
  fail "a request line has p50 > p99 or no count"

check "snapshots: count and the bytes they alone hold"
[ "$(js "$T_DIR/s1.json" 'd["snapshots"]["count"]')" -eq 0 ] || fail "a snapshot before any"
head -c 65536 /dev/urandom >"$MNT/d/big"
lib_t 30 "$LSMFS" snapshot create "$MNT" s1 || fail "snapshot create"
head -c 65536 /dev/urandom >"$MNT/d/big"
sync
stats_json "$MNT" "$T_DIR/s2.json"
echo "  $(js "$T_DIR/s2.json" 'd["snapshots"]')"
[ "$(js "$T_DIR/s2.json" 'd["snapshots"]["count"] == 1 and d["snapshots"]["exclusive_bytes"] >= 65536')" = True ] ||
  fail "snapshots in the JSON: $(js "$T_DIR/s2.json" 'd["snapshots"]')"

check "the text form"
lib_t 30 "$LSMFS" stats "$MNT" >"$T_DIR/s.txt" || fail "lsmfs stats failed"
cat "$T_DIR/s.txt"
grep -q '^L0 ' "$T_DIR/s.txt" || fail "no level lines"
grep -Eq '^CREATE +[0-9]+' "$T_DIR/s.txt" || fail "no CREATE line"
grep -q '^write_amp: ' "$T_DIR/s.txt" || fail "no write_amp"
grep -Eq '^snapshots: 1 \(holding [0-9]+ bytes alone\)' "$T_DIR/s.txt" || fail "no snapshots line"

check "any user may read them"
chmod 755 "$T_DIR"
lib_t 30 setpriv --reuid=65534 --regid=65534 --clear-groups \
  "$LSMFS" stats --json "$MNT" >"$T_DIR/nobody.json" ||
  fail "another user cannot read the statistics"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T_DIR/nobody.json" ||
  fail "another user's JSON does not parse"

check "refusals"
refused() {
  local what=$1 rc=0
  shift
  lib_t 30 "$@" >/dev/null 2>"$T_DIR/r.err" || rc=$?
  echo "  $what: exit $rc: $(cat "$T_DIR/r.err")"
  [ "$rc" -eq 8 ] || fail "$what: exit $rc, expected 8"
  [ "$(wc -l <"$T_DIR/r.err")" -eq 1 ] || fail "$what: not one line"
}
mkdir "$T_DIR/tmpfs" "$T_DIR/plain"
mount -t tmpfs tmpfs "$T_DIR/tmpfs" || fail "cannot mount a tmpfs"
LIB_CLEANUP+=('umount "$T_DIR/tmpfs" 2>/dev/null')
refused "a tmpfs" "$LSMFS" stats "$T_DIR/tmpfs"
refused "not a store" "$LSMFS" stats "$T_DIR/plain"
umount "$T_DIR/tmpfs"

check "offline"
want=$(($(find "$MNT" | wc -l)))
lib_unmount
stats_json "$STORE" "$T_DIR/off.json"
[ "$(js "$T_DIR/off.json" 'd["inodes"]')" -eq "$want" ] ||
  fail "offline inodes $(js "$T_DIR/off.json" 'd["inodes"]'), expected $want"
[ "$(js "$T_DIR/off.json" 'd["snapshots"]["count"] == 1 and d["snapshots"]["exclusive_bytes"] >= 65536')" = True ] ||
  fail "offline snapshots: $(js "$T_DIR/off.json" 'd["snapshots"]')"
[ "$(js "$T_DIR/off.json" "'requests' in d")" = False ] ||
  fail "offline stats show requests"
[ "$(js "$T_DIR/off.json" 'sum(l["files"] for l in d["levels"])')" -gt 0 ] ||
  fail "offline stats show no tables"
lib_pass
