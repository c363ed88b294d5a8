#!/usr/bin/env bash
# t_bench_quick2: scripts/bench-fs --quick for the workloads t_bench_quick
# leaves out (overwrite, many, py, hog, mixed): completes on plain, bindfs and
# lsmfs, everything verified, the same cells measured on each target.
# No timing is asserted.
LIB_LIMIT=${LIB_LIMIT:-270}
. "$(dirname "$0")/lib.sh"
lib_init "$@"
. "$(dirname "$0")/lib_bench_quick.sh"
bench_quick overwrite,many,py,hog,mixed
lib_pass
