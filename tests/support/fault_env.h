/*
 * fault_env.h — a fault-injecting, crash-simulating lsm_env for tests.
 *
 * An in-memory file system.  Each file remembers what a crash would leave
 * of it (its durable bytes) besides what reads see now; each directory
 * entry (create, rename, unlink) becomes durable only when its directory
 * is synced.  fault_env_crash() simulates power loss: unsynced appends are
 * thrown away (all of them, a random prefix of them, or a prefix followed
 * by garbage or zeros) and the namespace reverts to the last synced one;
 * or, with FAULT_CRASH_PROCESS, a crash of the process: only the appends
 * still held in user space (not flushed) are lost.
 * Chosen operations can be made to fail with LSM_IO_ERROR or LSM_NO_SPACE.
 *
 * Model, precisely:
 *   - append adds to the current bytes, held in user space until the
 *     handle's flush, sync or close (or a failed append) hands them to the
 *     kernel; sync (fdatasync) makes the current bytes durable, and
 *     sync_written the bytes handed to the kernel (the appends still held
 *     stay as they are: another thread may be appending).  Truncating an
 *     existing file (open_write on it) is durable only at the next sync of
 *     the file.
 *   - prefill writes zeros past the appended bytes (reads see them, size
 *     of a handle open for writing does not); appends go over them.  A
 *     sync makes them durable: power loss then leaves the file's data as
 *     above, padded with zeros up to the synced prefill.  A crash of the
 *     process keeps them all; open_append appends after them.
 *   - open_overwrite takes a file's bytes (and zeros past them) as such
 *     zeros, except that they are those bytes: reads see them past the
 *     bytes written over them, and power loss leaves them wherever it
 *     would leave zeros (a page written over them but lost, the part of
 *     the file past what survives).  They are taken as durable.
 *   - open_write of a new name, rename, unlink and lock's creation of its
 *     file change the current namespace; sync_dir(d) makes the current
 *     entries of d (files directly in d) the durable ones.  A rename
 *     across directories needs both synced.
 *   - mkdir is durable at once (directories are not modelled further);
 *     paths must name an existing parent directory; "/" and "." always
 *     exist.  Paths are compared after collapsing repeated and trailing
 *     slashes.
 *   - crash: the env goes down; every call fails with LSM_IO_ERROR (exists
 *     returns 0) until fault_env_restart(), so an engine shut down after
 *     the "power loss" cannot change what is on "disk".  Handles opened
 *     before the crash stay dead after the restart (every call fails,
 *     close frees them).  Locks are released.
 *   - capacity: appends that would make the total current bytes exceed it
 *     fail with LSM_NO_SPACE; free_space reports what is left.
 *
 * Thread-safe (one mutex), deterministic for a given seed.
 */
#ifndef FAULT_ENV_H
#define FAULT_ENV_H

#include <stddef.h>
#include <stdint.h>

#include "env.h"

typedef struct fault_env fault_env;

/* Operations, for counting and for fault injection. */
enum fault_op {
    FAULT_OP_OPEN = 0,     /* open_write, open_append, open_read, lock */
    FAULT_OP_WRITE,        /* file append */
    FAULT_OP_READ,         /* file pread */
    FAULT_OP_SYNC,         /* file sync */
    FAULT_OP_SYNC_DIR,
    FAULT_OP_RENAME,
    FAULT_OP_UNLINK,
    FAULT_OP_MKDIR,
    FAULT_OP_COUNT
};
#define FAULT_MASK(op) (1u << (op))
#define FAULT_MASK_ALL ((1u << FAULT_OP_COUNT) - 1)

/* What a crash does to appends made since a file's last sync. */
enum fault_crash_mode {
    FAULT_CRASH_DROP_ALL = 0,      /* all lost */
    FAULT_CRASH_RANDOM_PREFIX,     /* a random prefix (maybe none, maybe all) survives */
    FAULT_CRASH_PREFIX_GARBAGE,    /* a random prefix, then random bytes */
    FAULT_CRASH_PREFIX_ZEROS,      /* a random prefix, then zero bytes */
    /* Appends over synced prefilled zeros reach the disk a 4 KiB page at
     * a time in any order: each such page keeps its new bytes or its
     * durable ones (zeros past the synced bytes); past the zeros, a
     * random prefix.  Zeros prefilled since the last sync count as synced
     * half of the time (their size reached the disk, the pages over them
     * as above).  Appends that extend a file stay in order. */
    FAULT_CRASH_PAGES,
    /* Not power loss: a crash of the process.  Every byte flushed to the
     * kernel survives, synced or not, and so does the current namespace;
     * appends not flushed are lost. */
    FAULT_CRASH_PROCESS,
};

fault_env *fault_env_new(uint64_t seed);
void fault_env_free(fault_env *fe);     /* handles must be closed first */
lsm_env *fault_env_base(fault_env *fe);

/* Power loss as described above; the env is down until restart. */
void fault_env_crash(fault_env *fe, int mode);
void fault_env_restart(fault_env *fe);

/* After `countdown` more matching operations succeed, the next one fails
 * with `status` (LSM_IO_ERROR or LSM_NO_SPACE); just once, or with
 * `forever` set, every matching one from then on.  A failing append
 * writes a random prefix (possibly empty) of its bytes first, as a write
 * that failed part way would.  Other failing operations change nothing.
 * A new call replaces the previous rule. */
void fault_env_fail_after(fault_env *fe, unsigned op_mask, int countdown,
                          int status, int forever);
void fault_env_clear_faults(fault_env *fe);
/* Number of failures injected so far. */
uint64_t fault_env_faults_fired(fault_env *fe);

/* Calls of op so far (failed ones included). */
uint64_t fault_env_op_count(fault_env *fe, enum fault_op op);
/* sync_written calls (a WAL's presync) that synced, so far. */
uint64_t fault_env_syncs_written(fault_env *fe);

void fault_env_set_capacity(fault_env *fe, uint64_t bytes);

/* Damage applied to both the current and the durable bytes, as if the
 * medium changed.  Return 0, or -1 if the file or offset does not exist. */
int fault_env_flip_bit(fault_env *fe, const char *path, uint64_t offset,
                       int bit);
int fault_env_truncate(fault_env *fe, const char *path, uint64_t size);
/* Current size of path, or -1 if it does not exist. */
int64_t fault_env_file_size(fault_env *fe, const char *path);

#endif
