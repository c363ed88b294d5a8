/*
 * prio.h — CPU priorities of the daemon's threads.
 *
 * On a machine with few cores the thread that reads requests, the
 * workers writing file data, the engine's flush and compaction and the
 * clients themselves take turns on the CPU, and a metadata request waits
 * for whichever ran first.  Measured with `perf sched` during fsbench
 * mixed (2 vCPUs): the metadata loop and the reader spent 30-40 % of the
 * run runnable but off the CPU, a tenth to a quarter of it behind the
 * daemon's own workers and the writer.  So, where the kernel lets us:
 *  - workers serving bulk writes run at MNT_BULK_NICE (a quarter to a
 *    third of the weight of a nice-0 thread: they use the CPU nobody
 *    else wants; a lone copy runs as fast as before), unless the one
 *    worker of -o workers=1 serves reads and fsyncs as well;
 *  - the engine's background threads likewise (lsm_options
 *    background_nice = MNT_BG_NICE);
 *  - the reader (and each io_uring queue's thread) asks the EEVDF
 *    scheduler (Linux 6.12+) for a short time slice, MNT_READER_SLICE_NS:
 *    a short slice gives an early virtual deadline, so on waking it runs
 *    before threads with the default slice (~3 ms here) instead of
 *    waiting for theirs to end.  Its share of the CPU is unchanged.
 * A nice value orders threads within the daemon's scheduling group only
 * (autogroup, cgroup): the reader and fast workers go before the daemon's
 * own bulk work, not before other programs.
 * Lowering a thread's priority needs no privilege; a kernel or sandbox
 * refusing either call leaves the thread as it was, logged once.
 */
#ifndef MNT_PRIO_H
#define MNT_PRIO_H

#include <stdint.h>

#define MNT_BULK_NICE 5
#define MNT_BG_NICE 5
#define MNT_READER_SLICE_NS 100000ull   /* the kernel's least slice */

/* Adds n (> 0) to the calling thread's nice value: 0 or -errno. */
int mnt_prio_lower(int n);
/* Sets the calling thread's time slice to ns (a SCHED_OTHER thread; its
 * nice value is kept): 0, or -errno (-ENOTSUP for another policy). */
int mnt_prio_slice(uint64_t ns);
/* Logs the first failure of either (err < 0) in the process, at info
 * level, naming what was asked; later failures are not logged. */
void mnt_prio_note(int err, const char *what);

#endif
