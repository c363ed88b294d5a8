#!/usr/bin/env bash
# t_bench_quick: scripts/bench-fs --quick completes on all three targets
# (plain, bindfs, lsmfs) for the everyday workloads (meta, small, tree,
# large, sqlite, fsync) with every workload verified, the same cells
# measured on each target, and draws the chart.  t_bench_quick2 runs the
# others.  No timing is asserted.
LIB_LIMIT=${LIB_LIMIT:-270}
. "$(dirname "$0")/lib.sh"
lib_init "$@"
. "$(dirname "$0")/lib_bench_quick.sh"
bench_quick meta,small,tree,large,sqlite,fsync
lib_pass
