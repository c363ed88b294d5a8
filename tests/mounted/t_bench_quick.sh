#!/usr/bin/env bash
# t_bench_quick: scripts/bench-fs --quick completes on all three targets
# (plain, bindfs, lsmfs) with every workload verified, prints one RESULT
# line per cell and three MIXED lines per target, and draws the chart.
# No timing is asserted.
LIB_LIMIT=${LIB_LIMIT:-270}
. "$(dirname "$0")/lib.sh"
lib_init "$@"
top=$(cd "$(dirname "$0")/../.." && pwd)

check "bench-fs --quick (bounded to 240 s)"
lib_t 240 "$top/scripts/bench-fs" --quick --build "$(dirname "$LSMFS")" \
  --dir "$T_DIR" --out "$T_DIR/results" --png="$T_DIR/chart.png" \
  >"$T_DIR/bench.log" 2>&1 || fail "bench-fs --quick failed: $(tail -20 "$T_DIR/bench.log")"
cat "$T_DIR/bench.log"
grep -q "all workloads completed and verified" "$T_DIR/bench.log" ||
  fail "bench-fs did not report success"

check "one RESULT line per target and workload"
for t in plain bindfs lsmfs; do
  n=$(grep -c "^RESULT target=$t workload=[a-z0-9.-]* secs=[0-9.]*$" "$T_DIR/results" || true)
  want=24; [ "$t" != bindfs ] || want=21     # bench-fs skips "many" on bindfs
  [ "$n" -eq "$want" ] || fail "$n RESULT lines for $t, expected $want"
  n=$(grep -c "^MIXED target=$t case=[a-z]* *count=[0-9]* rate=[0-9]* p50=[0-9.]* p99=[0-9.]* " "$T_DIR/results" || true)
  [ "$n" -eq 3 ] || fail "$n MIXED lines for $t, expected 3 (alone, seq, par)"
done
[ -s "$T_DIR/chart.png" ] || fail "no chart drawn"
lib_pass
