/*
 * loop.c — the request loop: one reader, a pool for slow requests.
 *
 * One thread receives every request from /dev/fuse.  Requests that only
 * touch the engine's memory (lookup, getattr, create, unlink, rename,
 * readdir, ...) it handles itself; requests that may wait on the disk
 * (file data, fsync, fallocate; with -o sync every change, since each one
 * waits for a WAL fsync) go to a fixed pool of worker threads, so one slow
 * request never holds up the others and concurrent fsyncs still share one
 * WAL fsync through the engine's group commit.
 *
 * Cost model: a request handed to a sleeping thread costs a wake-up of
 * that thread, which on a busy 2-core machine is worth more than serving
 * a metadata request from the memtable (~2-5 us).  libfuse's own
 * multi-threaded loop pays it on every request: all its threads block in
 * read(2) on /dev/fuse and the kernel wakes the one that waited longest,
 * never the one that just replied.  Here the reader, having replied, reads
 * the next request at once and often finds it already queued.
 *
 * Cost of the choice: a metadata change served by the reader waits like
 * any writer when the engine stalls writes (level 0 at its stop trigger,
 * memtables waiting to be flushed), and requests behind it wait too;
 * libfuse's loop would go on serving reads meanwhile.  Stalls last as
 * long as a flush.
 *
 * Invariant: each fuse_buf is owned by exactly one thread at a time (the
 * reader while receiving, then the worker it was queued for); buffers are
 * recycled through a free list and freed when the loop ends.
 */
#include "mnt.h"
#include "histo.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct mnt_pool {
    struct fuse_session *se;
    struct mnt_state *m;
    pthread_mutex_t mu;
    pthread_cond_t work_cv;
    struct mnt_job *head, *tail;     /* (mu) queued, oldest first */
    struct mnt_job *free;            /* (mu) buffers to reuse */
    int stopping;                    /* (mu) no more jobs will come */
    int sync_writes;                 /* every change waits for an fsync */
    unsigned nworkers;
};

/* Writes up to this size (request bytes) are served by the reader: going
 * into the memtable they cost less than handing them over, and with the
 * writeback cache a small file's data arrives as one such WRITE while
 * the writer waits in close(2). */
#define MNT_INLINE_WRITE_MAX (64u << 10)

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

static int mnt_request_is_slow(const struct fuse_buf *buf, int sync_writes)
{
    struct fuse_in_header in;
    if ((buf->flags & FUSE_BUF_IS_FD) || buf->size < sizeof in)
        return 0;                    /* not ours to parse: handle inline */
    memcpy(&in, buf->mem, sizeof in);
    return mnt_is_slow(in.opcode, in.len, sync_writes);
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

static void *mnt_worker(void *arg)
{
    struct mnt_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->head == NULL && !p->stopping)
            pthread_cond_wait(&p->work_cv, &p->mu);
        struct mnt_job *j = p->head;
        if (j == NULL)
            break;                   /* stopping and nothing left */
        p->head = j->next;
        if (p->head == NULL)
            p->tail = NULL;
        pthread_mutex_unlock(&p->mu);
        mnt_process(p, j);
        pthread_mutex_lock(&p->mu);
        if (j->ent == NULL)          /* ring jobs live in their entry */
            mnt_job_put_locked(p, j);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void mnt_queue(struct mnt_pool *p, struct mnt_job *j)
{
    pthread_mutex_lock(&p->mu);
    j->next = NULL;
    if (p->tail != NULL)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    pthread_cond_signal(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
}

/* Serves j inline or queues it for a worker: 1 if queued. */
static int mnt_dispatch(struct mnt_pool *p, struct mnt_job *j)
{
    if (p->nworkers > 0 && mnt_request_is_slow(&j->buf, p->sync_writes)) {
        mnt_queue(p, j);
        return 1;
    }
    mnt_process(p, j);
    return 0;
}

void mnt_loop_dispatch(struct mnt_pool *p, struct mnt_job *j)
{
    mnt_dispatch(p, j);
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
        struct pollfd pfd = { .fd = fuse_session_fd(se), .events = POLLIN };
        if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
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
    struct mnt_pool p = { .se = se, .m = m, .sync_writes = sync_writes };
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.work_cv, NULL);
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
        if (err != 0)
            rc = -err;
        else
            started++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    int fd = fuse_session_fd(se);
    int fl = fcntl(fd, F_GETFL);
    if (rc == 0 && (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0))
        rc = -errno;
    p.nworkers = started;
    if (rc == 0) {
        mnt_uring_attach(m->uring, &p);
        rc = mnt_read_requests(&p);
    }
    mnt_uring_stop(m->uring);        /* no ring request comes after this */
    pthread_mutex_lock(&p.mu);
    p.stopping = 1;
    pthread_cond_broadcast(&p.work_cv);
    pthread_mutex_unlock(&p.mu);
    for (unsigned i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    free(tids);
    mnt_pool_free_jobs(&p);
    pthread_cond_destroy(&p.work_cv);
    pthread_mutex_destroy(&p.mu);
    return rc;
}
