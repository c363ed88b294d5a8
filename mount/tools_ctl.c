/*
 * tools_ctl.c — the daemon's side of ctl_tools.h: statistics pages and
 * backups running in a daemon thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "ctl_tools.h"
#include "mnt.h"
#include "tools.h"

/* --- statistics ---------------------------------------------------------- */

static pthread_mutex_t mnt_stats_mu = PTHREAD_MUTEX_INITIALIZER;
static char *mnt_stats_text;        /* the last rendering (mnt_stats_mu) */
static size_t mnt_stats_len;
static uint64_t mnt_stats_gen;

static int mnt_stats_page(fs_t *fs, struct mnt_ctl_stats *s)
{
    int rc = 0;
    pthread_mutex_lock(&mnt_stats_mu);
    if (s->offset == 0) {
        struct statvfs sv;
        struct mnt_stats_view v;
        memset(&v, 0, sizeof v);
        lsm_get_stats(fs_engine(fs), &v.lsm);
        mnt_stats_snapshots(fs_engine(fs), &v);   /* absent on failure */
        v.have_inodes = fs_statfs(fs, &sv) == 0;
        v.inodes = v.have_inodes ? (uint64_t)(sv.f_files - sv.f_ffree) : 0;
        v.have_requests = 1;
        char *text = NULL;
        size_t len = 0;
        rc = mnt_stats_render(&v, s->format == MNT_STATS_JSON, &text, &len);
        if (rc == 0) {
            free(mnt_stats_text);
            mnt_stats_text = text;
            mnt_stats_len = len;
            mnt_stats_gen++;
        }
    } else if (s->gen != mnt_stats_gen || s->offset > mnt_stats_len) {
        rc = -EAGAIN;
    }
    if (rc == 0) {
        size_t n = mnt_stats_len - s->offset;
        if (n > sizeof s->data)
            n = sizeof s->data;
        memcpy(s->data, mnt_stats_text + s->offset, n);
        s->len = (uint32_t)n;
        s->total = mnt_stats_len;
        s->gen = mnt_stats_gen;
    }
    pthread_mutex_unlock(&mnt_stats_mu);
    return rc;
}

/* --- backups --------------------------------------------------------------- */

static struct {
    pthread_mutex_t mu;
    struct mnt_ctl_backup_status st;  /* (mu) */
    pthread_t thread;
    int joinable;                     /* a thread to join (mu) */
    lsm_checkpoint *cp;
    char dest[MNT_BACKUP_PATH];
} mnt_bk = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void mnt_backup_progress(void *ctx, uint64_t done, uint64_t total)
{
    (void)ctx;
    pthread_mutex_lock(&mnt_bk.mu);
    mnt_bk.st.done = done;
    mnt_bk.st.total = total;
    pthread_mutex_unlock(&mnt_bk.mu);
}

static void *mnt_backup_thread(void *arg)
{
    (void)arg;
    lsm_checkpoint_result r;
    int rc = lsm_checkpoint_write(mnt_bk.cp, mnt_bk.dest, mnt_backup_progress,
                                  NULL, &r);
    lsm_checkpoint_end(mnt_bk.cp);
    mnt_bk.cp = NULL;
    pthread_mutex_lock(&mnt_bk.mu);
    mnt_bk.st.tables = r.tables;
    mnt_bk.st.linked = r.linked;
    mnt_bk.st.bytes = r.bytes;
    mnt_bk.st.copied = r.copied_bytes;
    if (rc == LSM_OK) {
        mnt_bk.st.state = MNT_BACKUP_DONE;
        mnt_log(LOG_INFO, "backup %llu into %s done: %llu tables, %llu linked",
                (unsigned long long)mnt_bk.st.id, mnt_bk.dest,
                (unsigned long long)r.tables, (unsigned long long)r.linked);
    } else {
        mnt_bk.st.state = MNT_BACKUP_FAILED;
        snprintf(mnt_bk.st.error, sizeof mnt_bk.st.error, "%s",
                 lsm_last_error());
        mnt_log(LOG_WARNING, "backup into %s failed: %s", mnt_bk.dest,
                mnt_bk.st.error);
    }
    pthread_mutex_unlock(&mnt_bk.mu);
    return NULL;
}

static int mnt_backup_start(fs_t *fs, struct mnt_ctl_backup *b)
{
    if (memchr(b->dest, '\0', sizeof b->dest) == NULL || b->dest[0] != '/')
        return -EINVAL;
    pthread_mutex_lock(&mnt_bk.mu);
    int rc = 0;
    if (mnt_bk.st.state == MNT_BACKUP_RUNNING)
        rc = -EBUSY;
    if (rc == 0 && mnt_bk.joinable) {
        pthread_join(mnt_bk.thread, NULL);
        mnt_bk.joinable = 0;
    }
    if (rc == 0 && lsm_checkpoint_begin(fs_engine(fs), &mnt_bk.cp) != LSM_OK)
        rc = -ENOMEM;
    if (rc == 0) {
        snprintf(mnt_bk.dest, sizeof mnt_bk.dest, "%s", b->dest);
        uint64_t id = mnt_bk.st.id + 1;
        memset(&mnt_bk.st, 0, sizeof mnt_bk.st);
        mnt_bk.st.id = id;
        mnt_bk.st.state = MNT_BACKUP_RUNNING;
        mnt_bk.st.seq = lsm_checkpoint_seq(mnt_bk.cp);
        mnt_bk.st.total = lsm_checkpoint_bytes(mnt_bk.cp);
        if (pthread_create(&mnt_bk.thread, NULL, mnt_backup_thread, NULL) != 0) {
            lsm_checkpoint_end(mnt_bk.cp);
            mnt_bk.cp = NULL;
            mnt_bk.st.state = MNT_BACKUP_FAILED;
            snprintf(mnt_bk.st.error, sizeof mnt_bk.st.error,
                     "cannot start a thread");
            rc = -EAGAIN;
        } else {
            mnt_bk.joinable = 1;
        }
        b->id = id;
        b->seq = mnt_bk.st.seq;
        b->total = mnt_bk.st.total;
    }
    pthread_mutex_unlock(&mnt_bk.mu);
    return rc;
}

void mnt_tools_shutdown(void)
{
    pthread_mutex_lock(&mnt_bk.mu);
    int join = mnt_bk.joinable;
    mnt_bk.joinable = 0;
    pthread_mutex_unlock(&mnt_bk.mu);
    if (join)
        pthread_join(mnt_bk.thread, NULL);     /* a backup finishes first */
    pthread_mutex_lock(&mnt_stats_mu);
    free(mnt_stats_text);
    mnt_stats_text = NULL;
    pthread_mutex_unlock(&mnt_stats_mu);
}

/* --- dispatch -------------------------------------------------------------- */

int mnt_tools_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd,
                    const void *in, size_t insz, size_t outsz)
{
    if (cmd != MNT_IOC_STATS && cmd != MNT_IOC_BACKUP_START &&
        cmd != MNT_IOC_BACKUP_STATUS)
        return 0;
    if (ino != FUSE_ROOT_ID) {
        fuse_reply_err(req, ENOTTY);
        return 1;
    }
    fs_t *fs = ((struct mnt_state *)fuse_req_userdata(req))->fs;
    size_t size = _IOC_SIZE(cmd);
    int rc = 0;
    void *arg = calloc(1, size);
    if (!arg) {
        fuse_reply_err(req, ENOMEM);
        return 1;
    }
    if ((_IOC_DIR(cmd) & _IOC_WRITE) && insz < size)
        rc = -EINVAL;
    else if ((_IOC_DIR(cmd) & _IOC_READ) && outsz < size)
        rc = -EINVAL;
    else if (_IOC_DIR(cmd) & _IOC_WRITE)
        memcpy(arg, in, size);
    if (rc == 0 && cmd == MNT_IOC_STATS) {
        rc = mnt_stats_page(fs, arg);
    } else if (rc == 0 && cmd == MNT_IOC_BACKUP_START) {
        rc = mnt_req_may_change(req) ? mnt_backup_start(fs, arg) : -EPERM;
    } else if (rc == 0) {
        pthread_mutex_lock(&mnt_bk.mu);
        memcpy(arg, &mnt_bk.st, sizeof mnt_bk.st);
        pthread_mutex_unlock(&mnt_bk.mu);
    }
    if (rc == 0)
        fuse_reply_ioctl(req, 0, arg, size);
    else
        fuse_reply_err(req, -rc);
    free(arg);
    return 1;
}
