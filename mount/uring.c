/*
 * uring.c — FUSE over io_uring, a transport beside loop.c's reader.
 *
 * Protocol (Linux >= 6.14, Documentation/filesystems/fuse-io-uring.rst,
 * FUSE ABI 7.42):
 *   - When the fuse module's enable_uring parameter is on, the kernel
 *     offers FUSE_OVER_IO_URING in the INIT request; the daemon accepts
 *     it in its INIT reply (flags2).
 *   - After INIT the daemon registers ring entries: an IORING_OP_URING_CMD
 *     SQE (128-byte SQEs: the command sits in the SQE) on the /dev/fuse
 *     descriptor, command FUSE_IO_URING_CMD_REGISTER, pointing at two
 *     buffers: a header (struct mnt_ring_header) and a payload.  There is
 *     one queue per possible CPU; once every queue has an entry, the
 *     kernel sends each request to the queue of the CPU its caller runs
 *     on, as the completion of one of that queue's commands.
 *   - The reply goes back in the same entry with COMMIT_AND_FETCH, which
 *     also leaves the entry waiting for the next request: no read(2) or
 *     write(2) per request.  The kernel accepts a ring request's reply
 *     only that way.
 *   - FORGET and INTERRUPT still come through read(2) on /dev/fuse, so
 *     loop.c's reader keeps reading it (it then mostly sleeps in poll).
 *
 * Layout of a ring request: the fuse_in_header in the header's in_out,
 * the request's first argument (its fixed struct) in op_in, the other
 * arguments in the payload.  in.len still counts all of them, so the
 * first argument is in.len - header - payload_sz bytes.  Each entry's
 * payload buffer is preceded by MNT_RING_PREFIX spare bytes where the
 * header and first argument are copied, making the request contiguous
 * as libfuse expects it from read(2) (a copy of at most 168 bytes).
 * A reply: its fuse_out_header in in_out, the rest in the payload.
 *
 * libfuse 3.14 predates all this.  It still decodes every request and
 * builds every reply; the transport hooks into it with the public
 * fuse_session_custom_io (installed after mounting, on the same fd):
 *   - read: read(2), noting whether the INIT request offers io_uring.
 *   - writev: the INIT reply (the first reply, to the unique noted) gets
 *     FUSE_HANDLE_KILLPRIV_V2 when offered (libfuse 3.14 cannot ask for
 *     it; what it means for the daemon: ops.c, mnt_init), and
 *     FUSE_INIT_EXT and FUSE_OVER_IO_URING added before it reaches the
 *     kernel, if io_uring is offered, wanted and the rings could be
 *     created beforehand (once announced, the entries must follow: the
 *     kernel goes back to /dev/fuse only when a registration fails).
 *     Right after the reply the queue
 *     threads start and register.  A reply whose unique is that of the
 *     ring entry the calling thread serves (mnt_ring_cur, set around
 *     each request by loop.c) is copied into that entry and committed;
 *     any other goes to writev(2).  mnt_send_reply does the same for the
 *     replies ops.c writes itself (mnt_raw_reply).
 *
 * Threads: one per queue, pinned to the queue's CPU (the caller sleeps
 * on that CPU, so its thread runs there without a cross-CPU wake-up,
 * as the kernel's design intends; unpinned was not better in two noisy
 * runs here), each with its own io_uring; it serves requests inline or hands them to loop.c's workers
 * (the same routing as the reader's, mnt_loop_dispatch).  A worker's
 * reply is copied into the entry by the worker, then the entry is passed
 * back to the queue's thread (a list and an eventfd it always has a read
 * pending on), since only that thread submits to its ring.
 *
 * Cost: MNT_RING_DEPTH entries per queue, each with a payload buffer as
 * large as the largest request (max_write, 1 MiB by default); pages are
 * only touched by requests that large.
 */
#include "mnt.h"
#include "prio.h"

#include <errno.h>
#include <liburing.h>
#include <linux/fuse.h>
#include <linux/limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/sysinfo.h>
#include <sys/uio.h>
#include <syslog.h>
#include <unistd.h>

/* From the kernel's include/uapi/linux/fuse.h (7.42); Debian 12's copy
 * is older. */
#define MNT_FUSE_OVER_IO_URING (1ULL << 41)
#define MNT_URING_CMD_REGISTER 1u
#define MNT_URING_CMD_COMMIT_AND_FETCH 2u
#define MNT_URING_HDR_SZ 128
#define MNT_URING_OP_SZ 128

struct mnt_ring_ent_in_out {
    uint64_t flags;
    uint64_t commit_id;          /* the request's unique */
    uint32_t payload_sz;         /* bytes used in the payload buffer */
    uint32_t padding;
    uint64_t reserved;
};

struct mnt_ring_header {
    char in_out[MNT_URING_HDR_SZ];   /* fuse_in_header / fuse_out_header */
    char op_in[MNT_URING_OP_SZ];     /* the request's first argument */
    struct mnt_ring_ent_in_out ent;
};

/* In the SQE's command area (80 bytes with 128-byte SQEs). */
struct mnt_ring_cmd {
    uint64_t flags;
    uint64_t commit_id;
    uint16_t qid;
    uint8_t padding[6];
};

#define MNT_RING_DEPTH 8     /* entries per queue: requests in flight */
#define MNT_RING_PREFIX 256  /* >= sizeof(fuse_in_header) + MNT_URING_OP_SZ */
#define MNT_RING_MAX_QUEUES 256

struct mnt_ring_queue;

struct mnt_ring_ent {
    struct mnt_ring_header hdr;
    struct mnt_ring_queue *q;
    struct iovec iov[2];         /* header, payload: read at REGISTER */
    char *mem;                   /* MNT_RING_PREFIX + payload bytes */
    uint64_t unique;             /* request being served */
    int retried;                 /* registered again after a failed commit */
    struct mnt_ring_ent *next;   /* (q->mu) on q->done */
    struct mnt_job job;          /* the request, as loop.c serves it */
};

struct mnt_ring_queue {
    struct mnt_uring *u;
    unsigned qid;
    struct io_uring ring;
    int ring_ok;
    int efd;                     /* wakes the thread: q->done, stopping */
    uint64_t efd_val;
    pthread_t tid;
    int started;
    int reg_err;                 /* 0 or -errno of registration */
    unsigned live;               /* entries the kernel has not ended */
    pthread_mutex_t mu;
    struct mnt_ring_ent *done;   /* (mu) replied by workers, to commit */
    int stopping;                /* (mu) */
    struct mnt_ring_ent *ents;
};

struct mnt_uring {
    struct mnt_state *m;
    struct mnt_pool *pool;       /* loop.c's, NULL: not served by mnt_loop */
    int want;                    /* MNT_URING_AUTO/ON/OFF */
    int fd;
    int init_seen;               /* INIT request read, reply not yet sent */
    uint64_t init_unique;
    int offered;                 /* the INIT request offered io_uring */
    int killpriv_v2;             /* ... and FUSE_HANDLE_KILLPRIV_V2 */
    int active;                  /* the rings serve requests */
    size_t payload;
    unsigned nqueues;
    struct mnt_ring_queue *qs;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned reported;           /* (mu) queues done registering */
};

/* The ring entry whose request the calling thread serves and has not
 * answered yet, if any.  Once committed, the entry may carry the next
 * request at once, so only this thread-local says it was answered. */
static _Thread_local struct mnt_ring_ent *mnt_ring_cur;
/* The queue whose ring the calling thread owns (NULL: not a queue thread). */
static _Thread_local struct mnt_ring_queue *mnt_ring_self;

static char *mnt_ring_payload(struct mnt_ring_ent *e)
{
    return e->mem + MNT_RING_PREFIX;
}

/* --- submissions (queue thread only) ------------------------------------ */

static struct io_uring_sqe *mnt_ring_sqe(struct mnt_ring_queue *q)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);
    if (sqe == NULL) {           /* full: the ring has 2x what can queue */
        io_uring_submit(&q->ring);
        sqe = io_uring_get_sqe(&q->ring);
    }
    return sqe;
}

static void mnt_ring_prep_cmd(struct mnt_ring_queue *q, struct mnt_ring_ent *e,
                              uint32_t op)
{
    struct io_uring_sqe *sqe = mnt_ring_sqe(q);
    if (sqe == NULL) {
        q->live--;               /* cannot happen: see mnt_ring_sqe */
        return;
    }
    memset(sqe, 0, 2 * sizeof *sqe);     /* 128-byte SQE */
    sqe->opcode = IORING_OP_URING_CMD;
    sqe->fd = q->u->fd;
    sqe->cmd_op = op;
    if (op == MNT_URING_CMD_REGISTER) {
        sqe->addr = (uintptr_t)e->iov;
        sqe->len = 2;
    }
    struct mnt_ring_cmd *c = (struct mnt_ring_cmd *)sqe->cmd;
    c->commit_id = e->unique;
    c->qid = (uint16_t)q->qid;
    io_uring_sqe_set_data(sqe, e);
}

static void mnt_ring_prep_wake(struct mnt_ring_queue *q)
{
    struct io_uring_sqe *sqe = mnt_ring_sqe(q);
    if (sqe == NULL)
        return;
    io_uring_prep_read(sqe, q->efd, &q->efd_val, sizeof q->efd_val, 0);
    io_uring_sqe_set_data(sqe, q);
}

/* --- replies ------------------------------------------------------------ */

/* The entry's reply is in its buffers: commit it from the queue's
 * thread.  The entry is not the caller's any more. */
static void mnt_ring_commit(struct mnt_ring_ent *e)
{
    struct mnt_ring_queue *q = e->q;
    if (mnt_ring_cur == e)
        mnt_ring_cur = NULL;
    if (mnt_ring_self == q) {
        mnt_ring_prep_cmd(q, e, MNT_URING_CMD_COMMIT_AND_FETCH);
        return;
    }
    pthread_mutex_lock(&q->mu);
    int wake = q->done == NULL && !q->stopping;
    if (!q->stopping) {          /* else the ring is gone with the mount */
        e->next = q->done;
        q->done = e;
    }
    pthread_mutex_unlock(&q->mu);
    uint64_t one = 1;
    if (wake && write(q->efd, &one, sizeof one) < 0)
        mnt_log(LOG_ERR, "io_uring: cannot wake queue %u: %s", q->qid,
                strerror(errno));
}

/* Copies a reply (iov[0] starting with its fuse_out_header) into the
 * entry and commits it.  A reply larger than the payload buffer (the
 * kernel never asks for one) is answered EIO. */
static ssize_t mnt_ring_reply(struct mnt_ring_ent *e, const struct iovec *iov,
                              int count)
{
    size_t total = 0;
    for (int i = 0; i < count; i++)
        total += iov[i].iov_len;
    struct fuse_out_header oh;
    size_t hlen = sizeof oh;
    if (total < hlen || total - hlen > e->q->u->payload) {
        memset(&oh, 0, sizeof oh);
        oh.unique = e->unique;
        oh.error = -EIO;
        oh.len = sizeof oh;
        memcpy(e->hdr.in_out, &oh, sizeof oh);
        e->hdr.ent.payload_sz = 0;
        mnt_ring_commit(e);
        errno = EIO;
        return -1;
    }
    char *dst = mnt_ring_payload(e);
    size_t pos = 0;                      /* bytes of the reply consumed */
    for (int i = 0; i < count; i++) {
        const char *src = iov[i].iov_base;
        size_t len = iov[i].iov_len;
        if (pos < hlen) {                /* header bytes go to in_out */
            size_t h = hlen - pos < len ? hlen - pos : len;
            memcpy(e->hdr.in_out + pos, src, h);
            pos += h;
            src += h;
            len -= h;
        }
        /* The reply may point into the request, which shares the buffer. */
        memmove(dst + (pos - hlen), src, len);
        pos += len;
    }
    e->hdr.ent.payload_sz = (uint32_t)(total - hlen);
    mnt_ring_commit(e);
    return (ssize_t)total;
}

ssize_t mnt_send_reply(int fd, struct iovec *iov, int count)
{
    struct mnt_ring_ent *e = mnt_ring_cur;
    if (e != NULL && count > 0 &&
        iov[0].iov_len >= sizeof(struct fuse_out_header)) {
        struct fuse_out_header oh;
        memcpy(&oh, iov[0].iov_base, sizeof oh);
        if (oh.unique == e->unique)
            return mnt_ring_reply(e, iov, count);
    }
    return writev(fd, iov, count);
}

void mnt_ring_begin(struct mnt_ring_ent *e)
{
    mnt_ring_cur = e;
}

/* Every ring request needs a reply, or its entry would never come back:
 * one the handlers left unanswered gets EIO (none is known to). */
void mnt_ring_end(struct mnt_ring_ent *e)
{
    if (mnt_ring_cur != e)
        return;                  /* answered */
    mnt_log(LOG_ERR, "io_uring: request %llu got no reply; answering EIO",
            (unsigned long long)e->unique);
    struct fuse_out_header oh = { .len = sizeof oh, .error = -EIO,
                                  .unique = e->unique };
    struct iovec iov = { &oh, sizeof oh };
    mnt_ring_reply(e, &iov, 1);
}

/* --- the queue threads -------------------------------------------------- */

/* Makes the entry's request contiguous before its payload; 0, or -EIO if
 * the kernel's sizes do not add up. */
static int mnt_ring_request(struct mnt_ring_ent *e)
{
    struct fuse_in_header in;
    memcpy(&in, e->hdr.in_out, sizeof in);
    size_t payload = e->hdr.ent.payload_sz;
    if (payload > e->q->u->payload || in.len < sizeof in + payload ||
        in.len - sizeof in - payload > MNT_URING_OP_SZ)
        return -EIO;
    size_t op = in.len - sizeof in - payload;
    char *start = mnt_ring_payload(e) - op - sizeof in;
    memcpy(start, &in, sizeof in);
    memcpy(start + sizeof in, e->hdr.op_in, op);
    e->unique = in.unique;
    memset(&e->job.buf, 0, sizeof e->job.buf);
    e->job.buf.mem = start;
    e->job.buf.size = in.len;
    return 0;
}

static void mnt_ring_completion(struct mnt_ring_queue *q,
                                struct mnt_ring_ent *e, int res)
{
    if (res == -ENOENT && !e->retried) {
        /* The kernel no longer had the request committed (it ended it,
         * e.g. aborted): the entry is stuck there, so its buffers come
         * back as a new entry (once; a second failure ends it). */
        e->retried = 1;
        mnt_ring_prep_cmd(q, e, MNT_URING_CMD_REGISTER);
        return;
    }
    if (res < 0) {               /* -ENOTCONN: unmounted; ends the entry */
        if (res != -ENOTCONN && res != -ECANCELED)
            mnt_log(LOG_ERR, "io_uring: queue %u: %s", q->qid,
                    strerror(-res));
        q->live--;
        return;
    }
    e->retried = 0;
    if (mnt_ring_request(e) != 0) {
        mnt_log(LOG_ERR, "io_uring: queue %u: malformed request", q->qid);
        e->unique = e->hdr.ent.commit_id;
        mnt_ring_begin(e);
        mnt_ring_end(e);
        return;
    }
    mnt_loop_dispatch(q->u->pool, &e->job);
}

/* Commits what workers replied; 1 once the queue must stop. */
static int mnt_ring_woken(struct mnt_ring_queue *q)
{
    pthread_mutex_lock(&q->mu);
    struct mnt_ring_ent *e = q->done;
    q->done = NULL;
    int stop = q->stopping;
    pthread_mutex_unlock(&q->mu);
    for (; e != NULL; e = e->next)
        mnt_ring_prep_cmd(q, e, MNT_URING_CMD_COMMIT_AND_FETCH);
    if (!stop)
        mnt_ring_prep_wake(q);
    return stop;
}

/* Registration result: an error the kernel reported while registering
 * is already among the completions when io_uring_submit returns. */
static int mnt_ring_register(struct mnt_ring_queue *q)
{
    for (unsigned i = 0; i < MNT_RING_DEPTH; i++)
        mnt_ring_prep_cmd(q, &q->ents[i], MNT_URING_CMD_REGISTER);
    mnt_ring_prep_wake(q);
    int n = io_uring_submit(&q->ring);
    if (n < 0)
        return n;
    struct io_uring_cqe *cqe;
    unsigned head;
    io_uring_for_each_cqe(&q->ring, head, cqe) {
        if (cqe->user_data != (uintptr_t)q && cqe->res < 0)
            return cqe->res;
    }
    return 0;
}

static void mnt_ring_report(struct mnt_ring_queue *q, int err)
{
    struct mnt_uring *u = q->u;
    pthread_mutex_lock(&u->mu);
    q->reg_err = err;
    u->reported++;
    pthread_cond_broadcast(&u->cv);
    pthread_mutex_unlock(&u->mu);
}

static void *mnt_ring_thread(void *arg)
{
    struct mnt_ring_queue *q = arg;
    mnt_ring_self = q;
    cpu_set_t cpus;              /* the kernel queues by the caller's CPU */
    CPU_ZERO(&cpus);
    CPU_SET(q->qid, &cpus);
    pthread_setaffinity_np(pthread_self(), sizeof cpus, &cpus);
    /* This thread reads requests as loop.c's reader does (prio.h). */
    mnt_prio_note(mnt_prio_slice(MNT_READER_SLICE_NS), "a short time slice for the reader");
    q->live = MNT_RING_DEPTH;
    int err = mnt_ring_register(q);
    mnt_ring_report(q, err);
    if (err != 0)
        return NULL;
    int stop = 0;
    while (!stop && q->live > 0) {
        int rc = io_uring_submit_and_wait(&q->ring, 1);
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
            mnt_log(LOG_ERR, "io_uring: queue %u: %s", q->qid, strerror(-rc));
            break;
        }
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&q->ring, head, cqe) {
            seen++;
            if (cqe->user_data == (uintptr_t)q)
                stop |= mnt_ring_woken(q);
            else
                mnt_ring_completion(q, io_uring_cqe_get_data(cqe), cqe->res);
        }
        io_uring_cq_advance(&q->ring, seen);
    }
    io_uring_submit(&q->ring);   /* last commits */
    return NULL;
}

/* --- setup ---------------------------------------------------------------- */

/* Queues the kernel creates: one per possible CPU. */
static unsigned mnt_possible_cpus(void)
{
    FILE *f = fopen("/sys/devices/system/cpu/possible", "r");
    unsigned lo = 0, hi = 0;
    int n = f != NULL ? fscanf(f, "%u-%u", &lo, &hi) : 0;
    if (f != NULL)
        fclose(f);
    if (n == 2)
        return hi + 1;
    if (n == 1)
        return lo + 1;
    return (unsigned)get_nprocs_conf();
}

static void mnt_ring_queue_free(struct mnt_ring_queue *q)
{
    if (q->ring_ok)
        io_uring_queue_exit(&q->ring);
    q->ring_ok = 0;
    if (q->efd >= 0)
        close(q->efd);
    q->efd = -1;
    if (q->ents != NULL)
        for (unsigned i = 0; i < MNT_RING_DEPTH; i++)
            free(q->ents[i].mem);
    free(q->ents);
    q->ents = NULL;
    pthread_mutex_destroy(&q->mu);
}

static int mnt_ring_queue_init(struct mnt_uring *u, struct mnt_ring_queue *q,
                               unsigned qid)
{
    q->u = u;
    q->qid = qid;
    q->efd = -1;
    pthread_mutex_init(&q->mu, NULL);
    q->ents = calloc(MNT_RING_DEPTH, sizeof *q->ents);
    if (q->ents == NULL)
        return -ENOMEM;
    for (unsigned i = 0; i < MNT_RING_DEPTH; i++) {
        struct mnt_ring_ent *e = &q->ents[i];
        e->q = q;
        e->job.ent = e;
        e->mem = malloc(MNT_RING_PREFIX + u->payload);
        if (e->mem == NULL)
            return -ENOMEM;
        e->iov[0] = (struct iovec){ &e->hdr, sizeof e->hdr };
        e->iov[1] = (struct iovec){ mnt_ring_payload(e), u->payload };
    }
    q->efd = eventfd(0, EFD_CLOEXEC);
    if (q->efd < 0)
        return -errno;
    int rc = io_uring_queue_init(2 * MNT_RING_DEPTH + 2, &q->ring,
                                 IORING_SETUP_SQE128);
    if (rc < 0)
        return rc;
    q->ring_ok = 1;
    return 0;
}

/* The least ring payload lsmfs serves io_uring with: an xattr value of
 * XATTR_SIZE_MAX and its name.  The kernel sizes each ring entry's
 * payload from the INIT reply (below) and, given a SETXATTR larger than
 * that, does not fail it with E2BIG as over /dev/fuse: Linux 6.18 hit a
 * BUG() in fuse_copy_fill and left the caller and the connection hung
 * (max_write=4096 and a 20000-byte value).  libfuse derives max_pages
 * from max_write, so a small -o max_write keeps the mount on /dev/fuse. */
#define MNT_RING_MIN_PAYLOAD (XATTR_SIZE_MAX + 4096)

/* The largest request payload the kernel may send (its max_payload_sz:
 * max_write, max_pages pages, at least FUSE_MIN_READ_BUFFER). */
static size_t mnt_ring_payload_size(const struct fuse_init_out *o)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t pages = (o->flags & FUSE_MAX_PAGES) ? o->max_pages : 32;
    size_t n = pages * page;
    if (n < o->max_write)
        n = o->max_write;
    return n < 8192 ? 8192 : n;
}

static void mnt_uring_free_queues(struct mnt_uring *u)
{
    for (unsigned i = 0; i < u->nqueues; i++)
        mnt_ring_queue_free(&u->qs[i]);
    free(u->qs);
    u->qs = NULL;
    u->nqueues = 0;
}

static int mnt_uring_create(struct mnt_uring *u, const struct fuse_init_out *o)
{
    unsigned n = mnt_possible_cpus();
    if (n == 0 || n > MNT_RING_MAX_QUEUES)
        return -ERANGE;
    u->payload = mnt_ring_payload_size(o);
    u->qs = calloc(n, sizeof *u->qs);
    if (u->qs == NULL)
        return -ENOMEM;
    u->nqueues = n;
    for (unsigned i = 0; i < n; i++) {
        int rc = mnt_ring_queue_init(u, &u->qs[i], i);
        if (rc != 0) {
            mnt_uring_free_queues(u);
            return rc;
        }
    }
    return 0;
}

/* Stops the queue threads that started (the kernel ends the entries of
 * a ring whose io_uring closes). */
static void mnt_uring_join(struct mnt_uring *u)
{
    for (unsigned i = 0; i < u->nqueues; i++) {
        struct mnt_ring_queue *q = &u->qs[i];
        if (!q->started)
            continue;
        pthread_mutex_lock(&q->mu);
        q->stopping = 1;
        pthread_mutex_unlock(&q->mu);
        uint64_t one = 1;
        if (write(q->efd, &one, sizeof one) < 0)
            mnt_log(LOG_ERR, "io_uring: cannot stop queue %u: %s", i,
                    strerror(errno));
        pthread_join(q->tid, NULL);
        q->started = 0;
    }
}

/* Starts one thread per queue and waits until each has registered its
 * entries: 0, or the first error.  The threads block the signals that
 * end the daemon, like loop.c's workers. */
static int mnt_uring_start(struct mnt_uring *u)
{
    sigset_t stop, old;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop, &old);
    unsigned started = 0;
    int rc = 0;
    for (unsigned i = 0; i < u->nqueues && rc == 0; i++) {
        int err = pthread_create(&u->qs[i].tid, NULL, mnt_ring_thread,
                                 &u->qs[i]);
        if (err != 0)
            rc = -err;
        else
            u->qs[i].started = 1, started++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_mutex_lock(&u->mu);
    while (u->reported < started)
        pthread_cond_wait(&u->cv, &u->mu);
    pthread_mutex_unlock(&u->mu);
    for (unsigned i = 0; i < u->nqueues && rc == 0; i++)
        rc = u->qs[i].reg_err;
    return rc;
}

static const char *mnt_uring_param = "/sys/module/fuse/parameters/enable_uring";

/* Why the kernel did not offer io_uring, for the log. */
static const char *mnt_uring_not_offered(void)
{
    FILE *f = fopen(mnt_uring_param, "r");
    if (f == NULL)
        return "this kernel has no FUSE over io_uring";
    int c = fgetc(f);
    fclose(f);
    return c == 'N' ? "the kernel does not offer it: " "fuse module parameter "
                      "enable_uring is N"
                    : "the kernel did not offer it";
}

static void mnt_uring_log(struct mnt_uring *u, const char *why, int err)
{
    if (u->active) {
        mnt_log(LOG_INFO, "transport: io_uring (%u queues x %u requests)",
                u->nqueues, MNT_RING_DEPTH);
        return;
    }
    if (err == -ENOTCONN || err == -ECONNABORTED) {
        mnt_log(LOG_INFO, "transport: none (unmounted before the rings "
                "were registered)");
        return;
    }
    mnt_log(u->want == MNT_URING_ON ? LOG_WARNING : LOG_INFO,
            "transport: /dev/fuse (io_uring not used: %s%s%s)", why,
            err ? ": " : "", err ? strerror(-err) : "");
}

/* The INIT reply (iov[1] = fuse_init_out): announces io_uring when it
 * can be used, sends the reply, then registers the rings. */
static ssize_t mnt_uring_init_reply(struct mnt_uring *u, int fd,
                                    struct iovec *iov, int count)
{
    u->init_seen = 0;
    const char *why = NULL;
    int err = 0;
    struct fuse_init_out *o = count >= 2 ? iov[1].iov_base : NULL;
    if (u->want == MNT_URING_OFF)
        why = "-o no_io_uring";
    else if (u->pool == NULL)
        why = "not with libfuse's multi-threaded loop (clone_fd)";
    else if (!u->offered)
        why = mnt_uring_not_offered();
    else if (o == NULL || iov[1].iov_len < offsetof(struct fuse_init_out,
                                                    flags2) + 4)
        why = "INIT reply too short";
    else if (mnt_ring_payload_size(o) < MNT_RING_MIN_PAYLOAD)
        why = "max_write below 68 KiB: a large xattr would not fit a ring entry";
    else if ((err = mnt_uring_create(u, o)) != 0)
        why = "cannot set up the rings";
    if (o != NULL && u->killpriv_v2 &&
        iov[1].iov_len >= offsetof(struct fuse_init_out, flags) + 4)
        o->flags |= FUSE_HANDLE_KILLPRIV_V2;
    if (why == NULL) {
        o->flags |= FUSE_INIT_EXT;
        o->flags2 |= (uint32_t)(MNT_FUSE_OVER_IO_URING >> 32);
    }
    ssize_t n = writev(fd, iov, count);
    if (why == NULL && n >= 0) {
        err = mnt_uring_start(u);
        if (err != 0) {          /* the kernel went back to /dev/fuse */
            why = "registering the ring entries failed";
            mnt_uring_join(u);
        } else {
            u->active = 1;
        }
    }
    if (why != NULL || n < 0)
        mnt_uring_free_queues(u);
    if (n >= 0)
        mnt_uring_log(u, why, err);
    return n;
}

static ssize_t mnt_uring_writev(int fd, struct iovec *iov, int count,
                                void *userdata)
{
    struct mnt_uring *u = ((struct mnt_state *)userdata)->uring;
    if (u->init_seen && count > 0 &&
        iov[0].iov_len >= sizeof(struct fuse_out_header)) {
        struct fuse_out_header oh;
        memcpy(&oh, iov[0].iov_base, sizeof oh);
        if (oh.unique == u->init_unique && oh.error == 0)
            return mnt_uring_init_reply(u, fd, iov, count);
    }
    return mnt_send_reply(fd, iov, count);
}

static ssize_t mnt_uring_read(int fd, void *buf, size_t len, void *userdata)
{
    ssize_t n = read(fd, buf, len);
    struct mnt_uring *u = ((struct mnt_state *)userdata)->uring;
    struct fuse_in_header in;
    struct fuse_init_in ii;
    if (n < (ssize_t)(sizeof in + offsetof(struct fuse_init_in, unused)))
        return n;
    memcpy(&in, buf, sizeof in);
    if (in.opcode != FUSE_INIT)
        return n;
    memcpy(&ii, (char *)buf + sizeof in, offsetof(struct fuse_init_in, unused));
    u->init_seen = 1;
    u->init_unique = in.unique;
    u->killpriv_v2 = (ii.flags & FUSE_HANDLE_KILLPRIV_V2) != 0;
    u->offered = (ii.flags & FUSE_INIT_EXT) &&
                 (ii.flags2 & (uint32_t)(MNT_FUSE_OVER_IO_URING >> 32));
    return n;
}

int mnt_uring_setup(struct fuse_session *se, struct mnt_state *m, int want)
{
    struct mnt_uring *u = calloc(1, sizeof *u);
    if (u == NULL)
        return -ENOMEM;
    u->m = m;
    u->want = want;
    u->fd = fuse_session_fd(se);
    pthread_mutex_init(&u->mu, NULL);
    pthread_cond_init(&u->cv, NULL);
    const struct fuse_custom_io io = { .read = mnt_uring_read,
                                       .writev = mnt_uring_writev };
    m->uring = u;
    int rc = fuse_session_custom_io(se, &io, u->fd);
    if (rc != 0) {
        m->uring = NULL;
        mnt_uring_free(u);
        return rc < 0 ? rc : -EINVAL;
    }
    return 0;
}

void mnt_uring_attach(struct mnt_uring *u, struct mnt_pool *pool)
{
    if (u != NULL)
        u->pool = pool;
}

void mnt_uring_stop(struct mnt_uring *u)
{
    if (u != NULL)
        mnt_uring_join(u);
}

void mnt_uring_free(struct mnt_uring *u)
{
    if (u == NULL)
        return;
    mnt_uring_join(u);
    mnt_uring_free_queues(u);
    pthread_cond_destroy(&u->cv);
    pthread_mutex_destroy(&u->mu);
    free(u);
}
