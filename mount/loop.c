/*
 * loop.c — the request loop: one reader, a pool for slow requests.
 *
 * One thread receives every request from /dev/fuse.  Requests that only
 * touch the engine's memory (lookup, getattr, create, unlink, rename,
 * readdir, ...) it handles itself; requests that may wait on the disk
 * (file data, fsync, fallocate; with -o sync every change, since each one
 * waits for a WAL fsync) go to a fixed pool of worker threads, so one slow
 * request never holds up the others and concurrent fsyncs still share one
 * WAL fsync through the engine's group commit.  An fsync with nothing to
 * sync, or a small one while the workers are idle, the reader serves
 * itself (mnt_sync_is_slow).
 *
 * Cost model: a request handed to a sleeping thread costs a wake-up of
 * that thread, which on a busy 2-core machine is worth more than serving
 * a metadata request from the memtable (~2-5 us).  libfuse's own
 * multi-threaded loop pays it on every request: all its threads block in
 * read(2) on /dev/fuse and the kernel wakes the one that waited longest,
 * never the one that just replied.  Here the reader, having replied, reads
 * the next request at once and often finds it already queued.
 *
 * The reader must not wait behind bulk data, which the engine holds back
 * while flushes or compactions catch up:
 *  - large writes are bulk (FS_WRITE_BULK): in the engine, the small
 *    changes the reader makes go ahead of them and are not held by a
 *    write stall (lsm.h, LSM_BULK);
 *  - a request for an inode that has requests queued or running on the
 *    workers goes to the workers too: those hold the inode's lock (a file
 *    being written), and its setattr or getattr would wait for them;
 *  - half the workers (the bulk workers) serve bulk writes, the others
 *    never do, and other slow requests (reads, fsync, the above) go
 *    first, so a read of a cached file finds a worker while writers wait
 *    for the engine;
 *  - on the CPU too: the bulk workers run at a lower priority (unless
 *    there is only one worker, which serves everything) and the reader
 *    with a short time slice (prio.h), so on a busy machine it runs as
 *    soon as a request wakes it rather than after a writer's turn.
 *    Workers are named lsmfs-bulk and lsmfs-work; mnt_loop starts them
 *    one at a time, each set up before the next, so names and
 *    priorities are in place before the first request is read.
 * What remains: a memtable switch (a seal appended to the old WAL; the
 * new WAL's creation if no bulk writer made it ahead) holds every
 * writer, the reader too; a small fsync it serves holds it for one WAL
 * fdatasync (mnt_sync_is_slow); a metadata change that fills the
 * memtable past its slack while flushes are behind waits on the reader
 * (the engine's hard bound); and a lookup of a name whose inode a worker
 * holds (a file being written, looked up by name) waits for that write.
 *
 * Invariant: each fuse_buf is owned by exactly one thread at a time (the
 * reader while receiving, then the worker it was queued for); buffers are
 * recycled through a free list and freed when the loop ends.
 */
#include "mnt.h"
#include "histo.h"
#include "prio.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct mnt_queue {
    struct mnt_job *head, *tail;     /* oldest first */
};

/* Inodes with requests queued or running on the workers, with their
 * counts: a small open-addressed table (linear probing; an entry whose
 * count drops to 0 stays as a tombstone until the table is empty again).
 * Full: the reader stops handing out work by inode and serves it. */
#define MNT_BUSY_SLOTS 256
struct mnt_busy {
    uint64_t nodeid;
    uint32_t count;
};

struct mnt_pool {
    struct fuse_session *se;
    struct mnt_state *m;
    pthread_mutex_t mu;
    /* Fast workers wait on fast_cv and serve fast jobs only; the
     * bulk_max bulk workers wait on bulk_cv and serve fast jobs first,
     * then bulk ones.
     * Invariant (mu): fast_idle + fast_wakeups = the fast workers inside
     * mnt_worker_wait.  Whoever signals fast_cv claims one idle fast
     * worker at once (fast_idle - 1, fast_wakeups + 1) and the worker
     * that leaves the wait takes one fast_wakeups; a wakeup without one
     * (spurious) waits again.  So fast_idle never counts a worker already
     * woken for another job, and a second job queued before that worker
     * runs goes to another fast worker or a bulk one, not behind the
     * first. */
    pthread_cond_t fast_cv, bulk_cv;
    struct mnt_queue fast, bulk;     /* (mu) bulk: large writes */
    unsigned bulk_max;               /* bulk workers */
    int bulk_nice;                   /* their nice above the reader's */
    sem_t ready;                     /* a started worker is set up */
    unsigned bulk_started;           /* (mu) bulk workers that started */
    unsigned fast_idle;              /* (mu) fast workers waiting, unclaimed */
    unsigned fast_wakeups;           /* (mu) claimed, not yet awake */
    struct mnt_busy busy[MNT_BUSY_SLOTS];  /* (mu) */
    unsigned busy_jobs;              /* (mu) sum of the counts */
    unsigned jobs;                   /* (mu) queued or running on workers */
    struct mnt_job *free;            /* (mu) buffers to reuse */
    int stopping;                    /* (mu) no more jobs will come */
    int sync_writes;                 /* every change waits for an fsync */
    unsigned nworkers;
};

/* Requests that may wait for the disk or take long.  FORGET has no reply
 * and must not be delayed behind data; the rest are answered from
 * memory. */
static int mnt_is_slow(uint32_t opcode, uint32_t len, int sync_writes)
{
    switch (opcode) {
    case FUSE_WRITE:
        return sync_writes || len > MNT_INLINE_WRITE_MAX;
    case FUSE_READ:
    case FUSE_FSYNC:
    case FUSE_FSYNCDIR:
    case FUSE_FLUSH:
    case FUSE_FALLOCATE:
    case FUSE_COPY_FILE_RANGE:
    case FUSE_SYNCFS:
    case FUSE_IOCTL:                 /* a read-only remount flushes */
        return 1;
    case FUSE_CREATE:
    case FUSE_MKNOD:
    case FUSE_MKDIR:
    case FUSE_SYMLINK:
    case FUSE_LINK:
    case FUSE_UNLINK:
    case FUSE_RMDIR:
    case FUSE_RENAME:
    case FUSE_RENAME2:
    case FUSE_SETATTR:
    case FUSE_SETXATTR:
    case FUSE_REMOVEXATTR:
    case FUSE_RELEASE:
    case FUSE_TMPFILE:
        return sync_writes;
    default:
        return 0;
    }
}

/* An fsync or fsyncdir the reader serves itself, without a worker's
 * wake-up (the engine's check, mnt_sync_pending, takes its mutex briefly
 * and never waits for I/O):
 *  - one with nothing to sync (SQLite's fsyncdir right after its fsync
 *    of the journal, an fsync of an unchanged file) is answered from
 *    memory.  The kernel sends FSYNC after the writes it covers were
 *    acknowledged, so the check made here covers them all, and the
 *    reader replies without syncing (mnt_noop_sync, fs_fsync_nothing):
 *    a write acknowledged since is not this fsync's, and syncing it
 *    would put the reader behind the disk;
 *  - while no worker has a job, one whose sync is a single fdatasync
 *    writing at most MNT_READER_SYNC_MAX bytes of WAL (records, and the
 *    zeros the WAL writes ahead of them, which it counts): a client that
 *    writes and fsyncs in turn (a database's commits).  A hand-off costs
 *    the worker's wake-up and then the reader's, asleep by the time the
 *    client's next request comes; on this 2-vCPU VM that was ~90 us of a
 *    ~450 us SQLite commit.  The price: a request from another client
 *    arriving meanwhile waits for that fdatasync (~0.2 ms here, more
 *    while compactions keep the disk busy), and on io_uring the reader
 *    is that CPU's queue thread.  A busy worker (a large write), blob
 *    bytes to sync, an older WAL, a writer in line or a sync under way
 *    send it to the workers as before (the engine's answer is a hint:
 *    a writer coming first right after can still make it wait). */
_Thread_local int mnt_noop_sync;

#define MNT_READER_SYNC_MAX (256u << 10)

/* 1 if an FSYNC or FSYNCDIR goes to the workers, 0 if the reader serves
 * it (mnt_noop_sync set when there is nothing to sync).  The workers'
 * jobs are counted first: only the dispatchers add jobs, so idle then
 * still holds when the engine is asked. */
static int mnt_sync_is_slow(struct mnt_pool *p)
{
    pthread_mutex_lock(&p->mu);
    int idle = p->jobs == 0;
    pthread_mutex_unlock(&p->mu);
    uint64_t pending = mnt_sync_pending(p->m);
    mnt_noop_sync = pending == 0;
    return pending != 0 && !(idle && pending <= MNT_READER_SYNC_MAX);
}

/* The request's header; 0 if it is not ours to parse (handled inline). */
static int mnt_request_header(const struct fuse_buf *buf,
                              struct fuse_in_header *in)
{
    if ((buf->flags & FUSE_BUF_IS_FD) || buf->size < sizeof *in)
        return 0;
    memcpy(in, buf->mem, sizeof *in);
    return 1;
}

/* The busy-table slot of nodeid, or of the first free slot where it would
 * go; NULL if it is absent and the table is full (mu held). */
static struct mnt_busy *mnt_busy_slot(struct mnt_pool *p, uint64_t nodeid)
{
    unsigned i = (unsigned)((nodeid * 0x9e3779b97f4a7c15ull) >> 56);
    for (unsigned n = 0; n < MNT_BUSY_SLOTS; n++, i = (i + 1) % MNT_BUSY_SLOTS) {
        struct mnt_busy *b = &p->busy[i];
        if (b->nodeid == nodeid || b->nodeid == 0)
            return b;
    }
    return NULL;
}

/* Counts a job for its inode (mu held); 0 if the table is full. */
static int mnt_busy_add(struct mnt_pool *p, uint64_t nodeid)
{
    struct mnt_busy *b = mnt_busy_slot(p, nodeid);
    if (b == NULL)
        return 0;
    b->nodeid = nodeid;
    b->count++;
    p->busy_jobs++;
    return 1;
}

static void mnt_busy_done(struct mnt_pool *p, uint64_t nodeid)
{
    struct mnt_busy *b = mnt_busy_slot(p, nodeid);
    if (b == NULL || b->nodeid != nodeid || b->count == 0)
        return;
    b->count--;
    if (--p->busy_jobs == 0)         /* nothing queued: drop the tombstones */
        memset(p->busy, 0, sizeof p->busy);
}

/* Has nodeid jobs queued or running? (mu held) */
static int mnt_busy_has(struct mnt_pool *p, uint64_t nodeid)
{
    struct mnt_busy *b = mnt_busy_slot(p, nodeid);
    return b != NULL && b->nodeid == nodeid && b->count > 0;
}

/* Serves one request: the few libfuse cannot handle (mnt_raw_request),
 * then the rest through libfuse.  A ring request's reply goes back
 * through its ring entry (uring.c). */
static void mnt_process(struct mnt_pool *p, struct mnt_job *j)
{
    struct mnt_histo_mark hm = mnt_histo_begin(&j->buf);   /* histo.h */
    if (j->ent != NULL)
        mnt_ring_begin(j->ent);
    if (!mnt_raw_request(p->se, p->m, &j->buf))
        fuse_session_process_buf(p->se, &j->buf);
    if (j->ent != NULL)
        mnt_ring_end(j->ent);
    mnt_histo_end(&hm);
}

static struct mnt_job *mnt_job_get(struct mnt_pool *p)
{
    pthread_mutex_lock(&p->mu);
    struct mnt_job *j = p->free;
    if (j != NULL)
        p->free = j->next;
    pthread_mutex_unlock(&p->mu);
    if (j == NULL)
        j = calloc(1, sizeof *j);    /* buf.mem is allocated by libfuse */
    return j;
}

static void mnt_job_put_locked(struct mnt_pool *p, struct mnt_job *j)
{
    j->next = p->free;
    p->free = j;
}

static void mnt_queue_push(struct mnt_queue *q, struct mnt_job *j)
{
    j->next = NULL;
    if (q->tail != NULL)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
}

static struct mnt_job *mnt_queue_pop(struct mnt_queue *q)
{
    struct mnt_job *j = q->head;
    if (j != NULL && (q->head = j->next) == NULL)
        q->tail = NULL;
    return j;
}

/* The next job a worker may take (mu held): a fast one first, a bulk one
 * only for a bulk worker. */
static struct mnt_job *mnt_next_job(struct mnt_pool *p, int bulk_worker)
{
    struct mnt_job *j = mnt_queue_pop(&p->fast);
    if (j == NULL && bulk_worker)
        j = mnt_queue_pop(&p->bulk);
    return j;
}

/* Waits for work (mu held); a fast worker counts itself idle until it is
 * claimed (mnt_queue_locked) or the pool stops. */
static void mnt_worker_wait(struct mnt_pool *p, int bulk_worker)
{
    if (bulk_worker) {
        pthread_cond_wait(&p->bulk_cv, &p->mu);
        return;
    }
    p->fast_idle++;
    while (p->fast_wakeups == 0 && !p->stopping)
        pthread_cond_wait(&p->fast_cv, &p->mu);
    if (p->fast_wakeups > 0)
        p->fast_wakeups--;           /* claimed: fast_idle already taken */
    else
        p->fast_idle--;              /* stopping */
}

static void *mnt_worker(void *arg)
{
    struct mnt_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    int bulk_worker = p->bulk_started < p->bulk_max;
    p->bulk_started += bulk_worker;
    pthread_mutex_unlock(&p->mu);
    pthread_setname_np(pthread_self(), bulk_worker ? "lsmfs-bulk" : "lsmfs-work");
    if (bulk_worker && p->bulk_nice > 0)
        mnt_prio_note(mnt_prio_lower(p->bulk_nice), "a lower priority for bulk writes");
    sem_post(&p->ready);             /* mnt_loop goes on */
    pthread_mutex_lock(&p->mu);
    for (;;) {
        struct mnt_job *j;
        while ((j = mnt_next_job(p, bulk_worker)) == NULL && !p->stopping)
            mnt_worker_wait(p, bulk_worker);
        if (j == NULL)
            break;                   /* stopping and nothing left */
        /* A ring job's entry goes back to its ring when served
         * (mnt_ring_end) and may carry the next request at once: read
         * what the job was before serving it. */
        int ring = j->ent != NULL;
        uint64_t nodeid = j->nodeid;
        pthread_mutex_unlock(&p->mu);
        mnt_process(p, j);
        pthread_mutex_lock(&p->mu);
        mnt_busy_done(p, nodeid);
        p->jobs--;
        if (!ring)                   /* ring jobs live in their entry */
            mnt_job_put_locked(p, j);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Hands j to the workers, counted busy for its inode (mu held), and
 * wakes one that may take it: a fast job an idle fast worker if there is
 * one, else a bulk worker (a busy worker looks for more before waiting,
 * so a job nobody is woken for is taken when one is done). */
static void mnt_queue_locked(struct mnt_pool *p, struct mnt_job *j)
{
    if (j->nodeid != 0 && !mnt_busy_add(p, j->nodeid))
        j->nodeid = 0;               /* table full: not tracked */
    p->jobs++;
    mnt_queue_push(j->bulk ? &p->bulk : &p->fast, j);
    if (!j->bulk && p->fast_idle > 0) {
        p->fast_idle--;              /* claimed now, not when it runs */
        p->fast_wakeups++;
        pthread_cond_signal(&p->fast_cv);
    } else {
        pthread_cond_signal(&p->bulk_cv);
    }
}

/* Decides where the request in j goes: 1 if it was handed to the
 * workers, 0 if the reader serves it. */
static int mnt_dispatch(struct mnt_pool *p, struct mnt_job *j)
{
    struct fuse_in_header in;
    mnt_noop_sync = 0;
    if (p->nworkers == 0 || !mnt_request_header(&j->buf, &in))
        return 0;
    int slow = mnt_is_slow(in.opcode, in.len, p->sync_writes);
    if (slow && (in.opcode == FUSE_FSYNC || in.opcode == FUSE_FSYNCDIR))
        slow = mnt_sync_is_slow(p);
    int forget = in.opcode == FUSE_FORGET || in.opcode == FUSE_BATCH_FORGET;
    pthread_mutex_lock(&p->mu);
    if (!slow && !forget && p->busy_jobs > 0 && in.nodeid != 0)
        slow = mnt_busy_has(p, in.nodeid);
    if (slow) {
        j->nodeid = in.nodeid;
        j->bulk = in.opcode == FUSE_WRITE && in.len > MNT_INLINE_WRITE_MAX;
        mnt_queue_locked(p, j);
    }
    pthread_mutex_unlock(&p->mu);
    return slow;
}

/* The kernel queues requests in the order they come, metadata behind
 * the writeback WRITEs already queued, and the reader copies each 1 MiB
 * WRITE in (~0.1-0.3 ms here) before it reaches the next request; with
 * the kernel's default of 12 background requests a create waits behind
 * up to 12 of them whenever the reader falls behind.  As many as the bulk
 * workers serve at once (at least 4, for readahead READs) keeps them busy
 * and the queue short.  Measured, fsbench mixed with blob files, 2
 * rounds (load 6-7 from other work): 1 writer p99 6.7/4.5 ms -> 2.4/3.3
 * ms, 4 writers 10.0/5.0 -> 1.9/4.6 ms, the loop's rate 1.3-1.7x, the
 * writers' MiB/s the same within the noise; 6 fell in between. */
unsigned mnt_loop_max_background(unsigned nworkers)
{
    unsigned bulk = MNT_BULK_WORKERS(nworkers);
    return nworkers == 0 ? 0 : bulk > 4 ? bulk : 4;
}

void mnt_loop_dispatch(struct mnt_pool *p, struct mnt_job *j)
{
    if (!mnt_dispatch(p, j))
        mnt_process(p, j);
}

/* Spinning.  A request that finds the reader asleep must wake it, and on
 * a virtual machine waking an idle CPU costs ~10-20 us, more than serving
 * a metadata request.  So after a reply the reader keeps asking for the
 * next request (yielding the CPU to any runnable thread in between) for
 * up to MNT_SPIN_NSEC before it sleeps in poll(2) -- but only while it
 * pays:
 * - requests have been arriving in a tight loop: a moving average of how
 *   long the reader waited for each (longer waits count as
 *   MNT_SPIN_MAX_WAIT) under MNT_SPIN_AVG_NSEC.  A C loop (fsbench, cp,
 *   tar) waits ~5-10 us between requests; a python or shell loop, whose
 *   interpreter runs 20-100 us between system calls, would keep a CPU
 *   busy for little gain, and a trickle of requests costs no spinning.
 * - the CPU is not contended: a sched_yield() that returns after more
 *   than MNT_SPIN_BUSY_NSEC ran another thread (a build beside the
 *   mount, the client itself), so spinning only takes the CPU from the
 *   work that would send the next request; the reader sleeps instead and
 *   the average is set to MNT_SPIN_MAX_WAIT, so spinning resumes only
 *   after a run of quick requests.
 * Measured on 2 shared vCPUs (load 8-11 from other work; fsbench meta and
 * tests/tools/pyops.py, 3000 files, alone and beside 2 busy loops): the
 * daemon's CPU per file over meta 230-276 us -> 160 us, the python loop
 * no slower (and with less spread), no spinning at all 133-176 us.  The
 * earlier measure on an idle machine: never spinning 15-40% slower on
 * fsbench meta and small; libfuse's multi-threaded loop 30-80% slower. */
#define MNT_SPIN_NSEC 100000
#define MNT_SPIN_AVG_NSEC 20000
#define MNT_SPIN_BUSY_NSEC 20000
#define MNT_SPIN_MAX_WAIT (4 * MNT_SPIN_NSEC)  /* longer waits count as this */
#define MNT_EXIT_CHECK_MS 500      /* poll's bound: see mnt_receive */

struct mnt_spin {
    int64_t avg_wait;                /* nanoseconds, moving average */
};

static int64_t mnt_now_nsec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void mnt_spin_note(struct mnt_spin *sp, int64_t wait)
{
    sp->avg_wait += (wait - sp->avg_wait) / 8;
}

/* Receives the next request into buf (the session's descriptor is
 * non-blocking): n > 0 bytes, 0 when unmounted, or -errno. */
static int mnt_receive(struct fuse_session *se, struct fuse_buf *buf,
                       struct mnt_spin *sp)
{
    int64_t start = 0;
    int slept = 0;
    for (;;) {
        int n = fuse_session_receive_buf(se, buf);
        if (n != -EAGAIN) {
            if (n > 0 && !slept)
                mnt_spin_note(sp, start ? mnt_now_nsec() - start : 0);
            return n;
        }
        int64_t now = mnt_now_nsec();
        if (start == 0)
            start = now;
        if (sp->avg_wait < MNT_SPIN_AVG_NSEC && now - start < MNT_SPIN_NSEC) {
            sched_yield();           /* a runnable worker goes first */
            if (mnt_now_nsec() - now <= MNT_SPIN_BUSY_NSEC)
                continue;
            sp->avg_wait = MNT_SPIN_MAX_WAIT;  /* contended: sleep */
        }
        /* Bounded: a stop signal whose handler ran after the last
         * fuse_session_exited check (in fuse_session_receive_buf) but
         * before poll sleeps does not interrupt it, and the daemon would
         * stay mounted until the next request (which it then aborts). */
        struct pollfd pfd = { .fd = fuse_session_fd(se), .events = POLLIN };
        if (poll(&pfd, 1, MNT_EXIT_CHECK_MS) < 0 && errno != EINTR)
            return -errno;
        if (fuse_session_exited(se))
            return 0;
        int64_t waited = mnt_now_nsec() - start;
        mnt_spin_note(sp, waited < MNT_SPIN_MAX_WAIT ? waited : MNT_SPIN_MAX_WAIT);
        slept = 1;
    }
}

/* Receives and dispatches until unmount or a signal; 0 or -errno. */
static int mnt_read_requests(struct mnt_pool *p)
{
    struct mnt_job *j = NULL;
    struct mnt_spin spin = { 0 };
    int rc = 0;
    while (!fuse_session_exited(p->se)) {
        if (j == NULL && (j = mnt_job_get(p)) == NULL) {
            rc = -ENOMEM;
            break;
        }
        int n = mnt_receive(p->se, &j->buf, &spin);
        if (n == -EINTR)
            continue;
        if (n <= 0) {                /* 0: unmounted */
            rc = n;
            break;
        }
        if (mnt_dispatch(p, j))
            j = NULL;
        else
            mnt_process(p, j);
    }
    if (j != NULL) {
        pthread_mutex_lock(&p->mu);
        mnt_job_put_locked(p, j);
        pthread_mutex_unlock(&p->mu);
    }
    return rc;
}

static void mnt_pool_free_jobs(struct mnt_pool *p)
{
    while (p->free != NULL) {
        struct mnt_job *j = p->free;
        p->free = j->next;
        free(j->buf.mem);
        free(j);
    }
}

int mnt_loop(struct fuse_session *se, struct mnt_state *m, unsigned nworkers,
             int sync_writes)
{
    struct mnt_pool p = { .se = se, .m = m, .sync_writes = sync_writes,
                          .bulk_max = MNT_BULK_WORKERS(nworkers) };
    /* With one worker it serves reads and fsyncs too: not lowered. */
    p.bulk_nice = nworkers > p.bulk_max ? MNT_BULK_NICE : 0;
    pthread_mutex_init(&p.mu, NULL);
    sem_init(&p.ready, 0, 0);
    pthread_cond_init(&p.fast_cv, NULL);
    pthread_cond_init(&p.bulk_cv, NULL);
    pthread_t *tids = nworkers ? calloc(nworkers, sizeof *tids) : NULL;
    unsigned started = 0;
    int rc = 0;
    if (nworkers > 0 && tids == NULL)
        rc = -ENOMEM;
    /* Workers block the signals that end the loop (they inherit this
     * mask), so those always reach the reader and interrupt its poll. */
    sigset_t stop, old;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop, &old);
    while (rc == 0 && started < nworkers) {
        int err = pthread_create(&tids[started], NULL, mnt_worker, &p);
        if (err != 0) {
            rc = -err;
            break;
        }
        started++;
        /* Each worker has its name and priority before the next starts,
         * so they are all set once INIT (the first request) is answered. */
        while (sem_wait(&p.ready) != 0)
            ;                        /* EINTR */
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    int fd = fuse_session_fd(se);
    int fl = fcntl(fd, F_GETFL);
    if (rc == 0 && (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0))
        rc = -errno;
    p.nworkers = started;
    if (rc == 0) {
        /* After the workers started: a new thread inherits the slice. */
        mnt_prio_note(mnt_prio_slice(MNT_READER_SLICE_NS), "a short time slice for the reader");
        mnt_uring_attach(m->uring, &p);
        rc = mnt_read_requests(&p);
    }
    mnt_uring_stop(m->uring);        /* no ring request comes after this */
    pthread_mutex_lock(&p.mu);
    p.stopping = 1;
    pthread_cond_broadcast(&p.fast_cv);
    pthread_cond_broadcast(&p.bulk_cv);
    pthread_mutex_unlock(&p.mu);
    for (unsigned i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    free(tids);
    mnt_pool_free_jobs(&p);
    pthread_cond_destroy(&p.fast_cv);
    pthread_cond_destroy(&p.bulk_cv);
    sem_destroy(&p.ready);
    pthread_mutex_destroy(&p.mu);
    return rc;
}
