/*
 * snapctl.c — the daemon's side of the snapshot commands (ctl_snap.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "ctl_snap.h"
#include "mnt.h"

/* The name in a request, or NULL if it is not NUL-terminated in place. */
static const char *req_name(const void *in, size_t insz, struct mnt_snap_name *n)
{
    if (insz != sizeof *n)
        return NULL;
    memcpy(n, in, sizeof *n);
    return memchr(n->name, 0, sizeof n->name) ? n->name : NULL;
}

static int list_page(struct mnt_state *m, struct mnt_snap_page *p)
{
    lsm_snapshot_info *list;
    size_t n;
    int rc = fs_snapshot_list(m->fs, &list, &n);
    if (rc < 0)
        return rc;
    uint64_t *excl = NULL;
    if ((p->flags & MNT_SNAP_SPACE) && n > 0) {
        excl = calloc(n, sizeof *excl);
        rc = excl ? fs_snapshot_space(m->fs, list, n, excl) : -ENOMEM;
    }
    p->total = (uint32_t)n;
    p->count = 0;
    for (size_t i = p->cursor; rc == 0 && i < n && p->count < MNT_SNAP_PAGE; i++) {
        struct mnt_snap_entry *e = &p->e[p->count++];
        memcpy(e->name, list[i].name, sizeof e->name);
        e->id = list[i].id;
        e->ctime = list[i].ctime;
        e->exclusive = excl ? excl[i] : 0;
    }
    p->cursor = p->cursor < n ? p->cursor + p->count : (uint32_t)n;
    free(excl);
    lsm_free(list);
    return rc;
}

/* After a delete, before the reply: the view closes, the kernel forgets
 * the name, and a compaction gives the space back (so when the command
 * returns, df shows it). */
static void after_delete(struct mnt_state *m, const char *name)
{
    mnt_view_drop(m, name);
    if (m->se != NULL)
        fuse_lowlevel_notify_inval_entry(m->se, MNT_SNAPDIR_INO, name,
                                         strlen(name));
    int rc = fs_snapshot_reclaim(m->fs);
    if (rc < 0)
        mnt_log(LOG_WARNING, "compaction after deleting snapshot %s: %s",
                name, strerror(-rc));
}

void mnt_snap_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd,
                    const void *in_buf, size_t in_bufsz, size_t out_bufsz)
{
    struct mnt_state *m = fuse_req_userdata(req);
    if (ino != FUSE_ROOT_ID) {
        fuse_reply_err(req, ENOTTY);
        return;
    }
    if (cmd == MNT_IOC_SNAP_LIST) {
        struct mnt_snap_page p;
        if (in_bufsz != sizeof p || out_bufsz != sizeof p) {
            fuse_reply_err(req, EINVAL);
            return;
        }
        memcpy(&p, in_buf, sizeof p);
        int rc = list_page(m, &p);
        if (rc < 0)
            fuse_reply_err(req, -rc);
        else
            fuse_reply_ioctl(req, 0, &p, sizeof p);
        return;
    }
    if (cmd != MNT_IOC_SNAP_CREATE && cmd != MNT_IOC_SNAP_DELETE) {
        fuse_reply_err(req, ENOTTY);
        return;
    }
    if (!mnt_req_may_change(req)) {
        fuse_reply_err(req, EPERM);
        return;
    }
    struct mnt_snap_name n;
    const char *name = req_name(in_buf, in_bufsz, &n);
    int rc = name == NULL ? -EINVAL
             : cmd == MNT_IOC_SNAP_CREATE ? fs_snapshot_create(m->fs, name, NULL)
                                          : fs_snapshot_delete(m->fs, name);
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    mnt_log(LOG_INFO, "snapshot %s %s", name,
            cmd == MNT_IOC_SNAP_CREATE ? "created" : "deleted");
    if (cmd == MNT_IOC_SNAP_DELETE)
        after_delete(m, name);
    else if (m->se != NULL)   /* an absence the kernel may have cached */
        fuse_lowlevel_notify_inval_entry(m->se, MNT_SNAPDIR_INO, name,
                                         strlen(name));
    fuse_reply_ioctl(req, 0, NULL, 0);
}
