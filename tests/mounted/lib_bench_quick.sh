# lib_bench_quick.sh — sourced by t_bench_quick*.sh (after lib.sh and
# lib_init): runs `scripts/bench-fs --quick` on plain, bindfs and lsmfs
# for some workload families and checks that every cell was measured.
# The suite runs the families in two tests, so that each stays well
# inside ctest's 300 s and the two can run side by side.  No timing is
# asserted.

# bq_names TARGET KIND: the sorted workload names of TARGET's KIND lines
# (RESULT or CPU) in the results.
bq_names() {
  sed -n "s/^$2 target=$1 workload=\([a-z0-9.-]*\) .*/\1/p" "$T_DIR/results" | sort
}

# bq_same_cells KIND: every target has the same KIND cells (bindfs none of
# "many", which bench-fs spares it), and at least one per family in $1...
bq_same_cells() {
  local kind=$1 targets=$2 families=$3 t f ref names
  ref=$(bq_names lsmfs "$kind")
  for t in $targets; do
    names=$(bq_names "$t" "$kind")
    if [ "$t" = bindfs ]; then
      [ "$names" = "$(grep -v '^many\.' <<<"$ref" || true)" ] ||
        fail "$kind cells of bindfs differ from lsmfs's: $(diff <(echo "$names") <(echo "$ref") | tr '\n' ' ')"
    else
      [ "$names" = "$ref" ] ||
        fail "$kind cells of $t differ from lsmfs's: $(diff <(echo "$names") <(echo "$ref") | tr '\n' ' ')"
    fi
  done
  for f in $families; do
    grep -Eq "^$f(\.|$)" <<<"$ref" || fail "no $kind line of the $f workload"
  done
}

# bench_quick WORKLOADS: the run and its checks.
bench_quick() {
  local workloads=$1 top families cpu_families="" t n
  top=$(cd "$(dirname "$0")/../.." && pwd)
  families=$(tr ',' ' ' <<<"$workloads")
  check "bench-fs --quick --workloads=$workloads (bounded to 240 s)"
  # The three targets only: lsmfs-uring (in bench-fs's default list when
  # the kernel has FUSE over io_uring) would not fit in the time bound;
  # t_uring and scripts/test's io_uring pass cover that transport.
  lib_t 240 "$top/scripts/bench-fs" --quick --targets=plain,bindfs,lsmfs \
    --workloads="$workloads" --build "$(dirname "$LSMFS")" \
    --dir "$T_DIR" --out "$T_DIR/results" --png="$T_DIR/chart.png" \
    >"$T_DIR/bench.log" 2>&1 || fail "bench-fs --quick failed: $(tail -20 "$T_DIR/bench.log")"
  cat "$T_DIR/bench.log"
  grep -q "all workloads completed and verified" "$T_DIR/bench.log" ||
    fail "bench-fs did not report success"

  check "the same RESULT cells on every target, each family measured"
  grep -v '^RESULT target=[a-z-]* workload=[a-z0-9.-]* secs=[0-9.]*$' "$T_DIR/results" |
    grep '^RESULT' && fail "malformed RESULT lines"
  bq_same_cells RESULT "plain bindfs" "$(sed 's/\bmixed\b//' <<<"$families")"
  for f in meta py hog; do
    [[ " $families " != *" $f "* ]] || cpu_families="$cpu_families $f"
  done
  if [ -n "$cpu_families" ]; then
    check "daemon CPU per operation on each FUSE target ($cpu_families )"
    bq_same_cells CPU bindfs "$cpu_families"
  fi
  if [[ " $families " == *" mixed "* ]]; then
    check "three MIXED lines per target (alone, seq, par)"
    for t in plain bindfs lsmfs; do
      n=$(grep -c "^MIXED target=$t case=[a-z]* *count=[0-9]* rate=[0-9]* p50=[0-9.]* p99=[0-9.]* " "$T_DIR/results" || true)
      [ "$n" -eq 3 ] || fail "$n MIXED lines for $t, expected 3 (alone, seq, par)"
    done
  fi
  [ -s "$T_DIR/chart.png" ] || fail "no chart drawn"
}
