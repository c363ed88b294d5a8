#!/usr/bin/env bash
# lsm_bench_smoke LSM_BENCH: a quick run of lsm-bench's db_bench workloads
# on every engine compiled into LSM_BENCH (lsm always; RocksDB and LevelDB
# when their libraries were found at build time), 2000 keys each.  Checks
# that every RESULT line is well-formed (figures numeric, p50 <= p99 <=
# p99.9 <= max) and that the counts follow from the workload:
#   after fillseq of every key, seekrandom lands on its key every time,
#   readwhilewriting's and updaterandom's reads all hit (and the writer
#   of readwhilewriting wrote), and
#   readrandomwriterandom does exactly 90 gets and 10 puts per 100
#   operations of a thread, all gets hitting;
#   deleterange (one thread, same seed) misses some reads, and the engines
#   with range deletion agree on its hits and on the keys left after it;
#   LevelDB, which has no range deletion, refuses deleterange with an
#   error line.
# Then lsm alone with --compaction_style=tiered, and its
# --memory_sample_ms lines (see the end).
# Prints what it checked; exits 1 on the first failure.
set -euo pipefail
bench=${1:?usage: lsm_bench_smoke.sh LSM_BENCH}
work=$(mktemp -d "${TMPDIR:-/tmp}/lsm-bench-smoke.XXXXXX")
trap 'rm -rf "$work"' EXIT
num=2000

fail() { echo "FAIL: $*" >&2; exit 1; }

# field LINE NAME: the value of NAME= on LINE (empty if absent).
field() { local f; for f in $1; do [ "${f%%=*}" = "$2" ] && echo "${f#*=}"; done; return 0; }

# result ENGINE BENCH LOG: the RESULT line of BENCH, checked for form.
result() {
  local line n
  line=$(grep "^RESULT engine=$1 bench=$2 " "$3") || fail "$1 $2: no RESULT line in $3"
  for n in ops secs ops_per_sec mb_per_sec p50_us p99_us p999_us max_us; do
    [[ "$(field "$line" $n)" =~ ^[0-9]+(\.[0-9]+)?$ ]] || fail "$1 $2: bad $n in: $line"
  done
  awk -v a="$(field "$line" p50_us)" -v b="$(field "$line" p99_us)" \
      -v c="$(field "$line" p999_us)" -v d="$(field "$line" max_us)" \
      'BEGIN { exit !(a <= b && b <= c && c <= d && d > 0) }' ||
    fail "$1 $2: percentiles out of order: $line"
  echo "$line"
}

# expect ENGINE BENCH LINE NAME VALUE
expect() {
  [ "$(field "$3" "$4")" = "$5" ] || fail "$1 $2: $4 is $(field "$3" "$4"), expected $5: $3"
}

engines=()
for e in lsm rocksdb leveldb; do
  if "$bench" --engine=$e --db="$work/probe" --benchmarks=stats >"$work/probe.out" 2>&1; then
    engines+=("$e")
  elif grep -q "is not compiled in" "$work/probe.out"; then
    echo "== $e: not compiled into lsm-bench, skipped"
  else
    cat "$work/probe.out"; fail "$e: lsm-bench cannot open a store"
  fi
done

declare -A rd_found left
for e in "${engines[@]}"; do
  echo "== $e"
  log="$work/$e.mixed"
  "$bench" --engine=$e --db="$work/$e" --num=$num --threads=2 --seek_nexts=5 \
    --benchmarks=fillseq,seekrandom,readwhilewriting,readrandomwriterandom,updaterandom \
    >"$log" 2>"$log.err" || { cat "$log" "$log.err"; fail "$e: lsm-bench failed"; }
  result $e fillseq "$log" >/dev/null
  for b in seekrandom readwhilewriting updaterandom; do
    line=$(result $e $b "$log")
    expect $e $b "$line" ops $num
    expect $e $b "$line" found $num
  done
  line=$(result $e readwhilewriting "$log")
  [[ "$(field "$line" write_ops)" =~ ^[1-9][0-9]*$ ]] || fail "$e: the writer wrote nothing: $line"
  awk -v m="$(field "$line" write_max_us)" 'BEGIN { exit !(m > 0) }' ||
    fail "$e: no write_max_us: $line"
  line=$(result $e readrandomwriterandom "$log")
  expect $e readrandomwriterandom "$line" ops $num
  expect $e readrandomwriterandom "$line" write_ops $((num / 10))
  expect $e readrandomwriterandom "$line" found $((num * 9 / 10))
  grep '^RESULT' "$log"

  log="$work/$e.rd"
  if [ $e = leveldb ]; then
    if "$bench" --engine=$e --db="$work/$e" --num=$num \
         --benchmarks=fillseq,deleterange >"$log" 2>"$log.err"; then
      fail "leveldb: deleterange did not fail"
    fi
    grep -q "deleterange: leveldb has no range deletion" "$log.err" ||
      fail "leveldb: deleterange: no error line: $(cat "$log.err")"
    echo "leveldb: deleterange refused: $(cat "$log.err")"
    continue
  fi
  "$bench" --engine=$e --db="$work/$e" --num=$num --benchmarks=fillseq,deleterange,readseq \
    >"$log" 2>"$log.err" || { cat "$log" "$log.err"; fail "$e: deleterange failed"; }
  line=$(result $e deleterange "$log")
  echo "$line"
  expect $e deleterange "$line" ops $num
  expect $e deleterange "$line" write_ops $((num / 10))
  rd_found[$e]=$(field "$line" found)
  [ "${rd_found[$e]}" -lt $((num * 9 / 10)) ] || fail "$e: deleterange reads all hit: $line"
  left[$e]=$(field "$(result $e readseq "$log")" found)
  [ "${left[$e]}" -lt $num ] || fail "$e: deleterange deleted nothing"
done

if [ -n "${rd_found[rocksdb]:-}" ]; then
  [ "${rd_found[lsm]}" = "${rd_found[rocksdb]}" ] ||
    fail "deleterange hits differ: lsm ${rd_found[lsm]}, rocksdb ${rd_found[rocksdb]}"
  [ "${left[lsm]}" = "${left[rocksdb]}" ] ||
    fail "keys left after deleterange differ: lsm ${left[lsm]}, rocksdb ${left[rocksdb]}"
  echo "lsm and rocksdb agree: deleterange found ${rd_found[lsm]}, ${left[lsm]} keys left"
fi
# lsm's write controller and sub-compaction options (--delayed_write_kb,
# --max_subcompactions) are taken: a fill through 1 MiB memtables and a
# full compaction with them, every key read back.
log="$work/lsm.wctl"
"$bench" --engine=lsm --db="$work/wctl" --num=$num --value_size=1000 \
  --memtable_mb=1 --delayed_write_kb=1024 --max_subcompactions=2 \
  --benchmarks=fillseq,compact,readseq >"$log" 2>"$log.err" ||
  { cat "$log" "$log.err"; fail "lsm: lsm-bench with write controller options failed"; }
line=$(result lsm readseq "$log")
expect lsm readseq "$line" found $num
echo "$line"
# lsm with --compaction_style=tiered: 1 MiB memtables, so the load makes
# runs to merge; every read hits, and the merges filled the last level
# (leveled compaction would have stopped at level 1).
echo "== lsm tiered"
log="$work/tiered"
"$bench" --db="$work/tiered.db" --num=30000 --memtable_mb=1 --compaction_style=tiered \
  --benchmarks=fillrandom,overwrite,readrandom,stats >"$log" 2>"$log.err" ||
  { cat "$log" "$log.err"; fail "lsm tiered failed"; }
line=$(result lsm readrandom "$log")
expect lsm tiered "$line" found 30000
l6=$(awk '$1 == "L6" { print $2 }' "$log")
[ "${l6:-0}" -gt 0 ] || fail "lsm tiered: no run in level 6: $(cat "$log")"
compactions=$(awk '$1 == "compactions:" { print $2 }' "$log")
[ "${compactions:-0}" -gt 0 ] || fail "lsm tiered: no merge ran"
echo "$line; L6 files $l6, $compactions merges"
if "$bench" --db="$work/bad" --compaction_style=universal --benchmarks=stats \
     >"$work/bad.out" 2>&1; then
  fail "--compaction_style=universal accepted"
fi
grep -q "not leveled or tiered" "$work/bad.out" || fail "bad style: $(cat "$work/bad.out")"

# --memory_sample_ms: MEMSAMPLE lines while a benchmark runs, naming it,
# with the resident size at most its peak so far.
echo "== lsm memory samples"
log="$work/samples"
"$bench" --db="$work/samples.db" --num=2000 --idle_secs=1 --memory_sample_ms=100 \
  --benchmarks=fillrandom,idle >"$log" 2>"$log.err" ||
  { cat "$log" "$log.err"; fail "lsm --memory_sample_ms failed"; }
line=$(grep -m1 '^MEMSAMPLE engine=lsm .* bench=idle ' "$log") ||
  fail "no MEMSAMPLE line during idle: $(cat "$log")"
rss=$(field "$line" rss_kb); hwm=$(field "$line" hwm_kb)
[ "${rss:-0}" -gt 0 ] && [ "$rss" -le "$hwm" ] || fail "bad sample: $line"
echo "$line"

echo "PASS: ${engines[*]}"
