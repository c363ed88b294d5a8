/*
 * snapshot.c — named snapshots (lsm.h): durable snapshots recorded in the
 * manifest (record format in version_edit.c), and the sequence-number
 * points compaction keeps versions for.
 *
 * Each named snapshot the version set holds has a pin: an entry in the
 * DB's in-memory snapshot list at its sequence number, so flushes and
 * compactions treat it like any lsm_snapshot_get.  The list is kept
 * sorted by sequence number (oldest first), which lsm_db_oldest_snapshot
 * relies on.
 *
 * Creating: the pin is taken first (nothing it sees can be dropped from
 * then on), the WAL is fsync'ed through the writer queue (lsm_sync: every
 * write up to the pin's sequence number is then durable, the memtable
 * switch syncs older WALs), and the edit naming it is logged and fsync'ed
 * with the manifest's last_seq at least that number.  Writers are held up
 * by neither fsync beyond their usual group commit.  create and delete
 * are serialised by snap_mu (never held with mu while waiting on I/O
 * other than the manifest write lsm_db_apply_edit does).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "error.h"
#include "ikey.h"
#include "range_del.h"

/* A new snapshot at seq in the sorted list (mu held). */
static lsm_snapshot *pin_at(lsm_db *db, uint64_t seq)
{
    lsm_snapshot *s = malloc(sizeof *s);
    if (!s) {
        lsm_fail(LSM_NO_MEMORY, "out of memory");
        return NULL;
    }
    lsm_snapshot *after = db->snapshots.prev;   /* newest first, backwards */
    while (after != &db->snapshots && after->seq > seq)
        after = after->prev;
    s->seq = seq;
    s->prev = after;
    s->next = after->next;
    s->prev->next = s;
    s->next->prev = s;
    return s;
}

static void unpin(lsm_snapshot *s)
{
    s->prev->next = s->next;
    s->next->prev = s->prev;
    free(s);
}

int lsm_db_pin_named(lsm_db *db)
{
    pthread_mutex_lock(&db->mu);
    int rc = LSM_OK;
    for (size_t i = 0; rc == LSM_OK && i < db->vs.nnamed; i++)
        if (!db->vs.pins[i] && !(db->vs.pins[i] = pin_at(db, db->vs.named[i].seq)))
            rc = LSM_NO_MEMORY;
    pthread_mutex_unlock(&db->mu);
    return rc;
}

void lsm_db_unpin_named(lsm_db *db)
{
    for (size_t i = 0; i < db->vs.nnamed; i++)
        if (db->vs.pins[i]) {
            unpin(db->vs.pins[i]);
            db->vs.pins[i] = NULL;
        }
}

int lsm_db_snapshot_points(lsm_db *db, uint64_t **out, size_t *n)
{
    size_t cnt = 1;
    for (lsm_snapshot *s = db->snapshots.next; s != &db->snapshots; s = s->next)
        cnt++;
    uint64_t *p = malloc(cnt * sizeof *p);
    if (!p)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    size_t k = 0;
    for (lsm_snapshot *s = db->snapshots.next; s != &db->snapshots; s = s->next)
        if (k == 0 || p[k - 1] != s->seq)
            p[k++] = s->seq;
    p[k++] = LSM_MAX_SEQ;
    *out = p;
    *n = k;
    return LSM_OK;
}

uint64_t lsm_db_next_point(const uint64_t *points, size_t n, uint64_t seq)
{
    size_t i = lsm_lower_bound(points, n, seq);
    return i < n ? points[i] : LSM_MAX_SEQ;
}

static int check_writable(lsm_db *db, const char *name)
{
    if (db->opt.read_only)
        return lsm_fail(LSM_INVALID, "%s was opened read-only", db->dir);
    if (!lsm_snapshot_name_ok(name))
        return lsm_fail(LSM_INVALID, "bad snapshot name (1-%d bytes, no '/', "
                        "not '.' or '..')", LSM_SNAPSHOT_NAME_MAX);
    return LSM_OK;
}

/* Logs the edit holding r (mu held); on success r's pin is `pin`. */
static int log_created(lsm_db *db, lsm_snap_record *r, lsm_snapshot *pin)
{
    lsm_version_edit e;
    lsm_edit_init(&e);
    int rc = lsm_edit_add_snapshot(&e, r);
    if (rc == LSM_OK)
        rc = lsm_db_apply_edit(db, &e);
    lsm_edit_free(&e);
    if (rc == LSM_OK)
        db->vs.pins[lsm_vset_find_snapshot(&db->vs, r->name)] = pin;
    return rc;
}

int lsm_snapshot_create(lsm_db *db, const char *name, lsm_snapshot_info *info)
{
    int rc = check_writable(db, name);
    if (rc)
        return rc;
    pthread_mutex_lock(&db->snap_mu);
    pthread_mutex_lock(&db->mu);
    lsm_snap_record r = { 0 };
    lsm_snapshot *pin = NULL;
    if (lsm_vset_find_snapshot(&db->vs, name) >= 0)
        rc = lsm_fail(LSM_EXISTS, "snapshot '%s' exists", name);
    else if (db->vs.next_snap_id > LSM_SNAPSHOT_ID_MAX)
        rc = lsm_fail(LSM_INVALID, "%s: snapshot ids exhausted", db->dir);
    else if (!(pin = pin_at(db, db->vs.last_seq)))
        rc = LSM_NO_MEMORY;
    pthread_mutex_unlock(&db->mu);
    if (rc == LSM_OK)
        rc = lsm_sync(db);
    pthread_mutex_lock(&db->mu);
    if (rc == LSM_OK) {
        r.id = db->vs.next_snap_id;
        r.seq = pin->seq;
        r.ctime = (uint64_t)time(NULL);
        snprintf(r.name, sizeof r.name, "%s", name);
        rc = log_created(db, &r, pin);
    }
    if (rc && pin)
        unpin(pin);
    pthread_mutex_unlock(&db->mu);
    pthread_mutex_unlock(&db->snap_mu);
    if (rc == LSM_OK) {
        lsm_db_log(db, LSM_LOG_INFO, "created snapshot '%s' (id %u) at sequence %llu",
                   r.name, r.id, (unsigned long long)r.seq);
        if (info)
            *info = r;
    }
    return rc;
}

int lsm_snapshot_delete(lsm_db *db, const char *name)
{
    int rc = check_writable(db, name);
    if (rc)
        return rc;
    pthread_mutex_lock(&db->snap_mu);
    pthread_mutex_lock(&db->mu);
    ssize_t i = lsm_vset_find_snapshot(&db->vs, name);
    lsm_version_edit e;
    lsm_edit_init(&e);
    lsm_snapshot *pin = i >= 0 ? db->vs.pins[i] : NULL;
    uint32_t id = i >= 0 ? db->vs.named[i].id : 0;
    if (i < 0)
        rc = lsm_fail(LSM_NOT_FOUND, "no snapshot '%s'", name);
    else
        rc = lsm_edit_drop_snapshot(&e, id);
    if (rc == LSM_OK)
        rc = lsm_db_apply_edit(db, &e);
    if (rc == LSM_OK && pin) {
        unpin(pin);
        db->snapshot_dropped = 1;
        pthread_cond_broadcast(&db->work_cv);   /* compactions may drop more */
    }
    lsm_edit_free(&e);
    pthread_mutex_unlock(&db->mu);
    pthread_mutex_unlock(&db->snap_mu);
    if (rc == LSM_OK)
        lsm_db_log(db, LSM_LOG_INFO, "deleted snapshot '%s' (id %u)", name, id);
    return rc;
}

int lsm_snapshot_list(lsm_db *db, lsm_snapshot_info **out, size_t *n)
{
    pthread_mutex_lock(&db->mu);
    size_t cnt = db->vs.nnamed;
    lsm_snapshot_info *p = cnt ? malloc(cnt * sizeof *p) : NULL;
    if (p)
        memcpy(p, db->vs.named, cnt * sizeof *p);
    pthread_mutex_unlock(&db->mu);
    if (cnt && !p)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    *out = p;
    *n = cnt;
    return LSM_OK;
}

int lsm_snapshot_open(lsm_db *db, const char *name, const lsm_snapshot **out,
                      lsm_snapshot_info *info)
{
    pthread_mutex_lock(&db->mu);
    ssize_t i = name ? lsm_vset_find_snapshot(&db->vs, name) : -1;
    lsm_snapshot *s = i >= 0 ? pin_at(db, db->vs.named[i].seq) : NULL;
    if (s && info)
        *info = db->vs.named[i];
    pthread_mutex_unlock(&db->mu);
    if (i < 0)
        return lsm_fail(LSM_NOT_FOUND, "no snapshot '%s'", name ? name : "");
    if (!s)
        return LSM_NO_MEMORY;
    *out = s;
    return LSM_OK;
}

/* --- space held ------------------------------------------------------------
 * One pass over every entry of every version (the merged internal
 * iterator under a user iterator).  A version of a key at seq s whose
 * next newer version is at p is the newest one every snapshot point in
 * [s, p) sees; of those, the ones that see no covering range deletion
 * newer than s (a prefix of them: a larger point sees more deletions)
 * see it as data.  If that is exactly one point and it is a named
 * snapshot's, the entry is that snapshot's alone. */

typedef struct space_scan {
    uint64_t *points;          /* sorted, the last LSM_MAX_SEQ (the latest state) */
    size_t npoints;
    const lsm_snapshot_info *snaps;
    size_t nsnaps;
    uint64_t *exclusive;
    lsm_range_dels *rd;
} space_scan;

/* The only point that sees the entry as data, or LSM_MAX_SEQ if none or
 * several do (or the latest state does). */
static uint64_t sole_viewer(const space_scan *sc, lsm_slice user, uint64_t s,
                            uint64_t p)
{
    size_t lo = lsm_lower_bound(sc->points, sc->npoints, s);
    size_t seen = 0;
    uint64_t who = LSM_MAX_SEQ;
    for (size_t j = lo; j < sc->npoints && sc->points[j] < p && seen < 2; j++) {
        if (lsm_range_dels_max_seq(sc->rd, user, sc->points[j]) > s)
            break;
        who = sc->points[j];
        seen++;
    }
    return seen == 1 ? who : LSM_MAX_SEQ;
}

static void add_to_owner(space_scan *sc, uint64_t seq, uint64_t bytes)
{
    size_t owners = 0, k = 0;
    for (size_t i = 0; i < sc->nsnaps; i++)
        if (sc->snaps[i].seq == seq) {
            owners++;
            k = i;
        }
    if (owners == 1)
        sc->exclusive[k] += bytes;
}

/* The length of an entry's value: a blob reference counts its value. */
static uint64_t value_len(const lsm_ikey *k, lsm_slice v)
{
    lsm_blob_ref r;
    if (k->kind == LSM_KIND_BLOB && lsm_blob_ref_decode(v, &r))
        return r.len;
    return v.len;
}

static int scan_entries(space_scan *sc, lsm_iiter *in)
{
    lsm_buf user = { 0 };
    uint64_t newer = LSM_MAX_SEQ + 1;   /* seq of the previous version of `user` */
    int rc = LSM_OK;
    for (lsm_iiter_first(in); rc == LSM_OK && lsm_iiter_valid(in); lsm_iiter_next(in)) {
        lsm_ikey k;
        if (!lsm_ikey_parse(lsm_iiter_key(in), &k)) {
            rc = lsm_fail(LSM_CORRUPTION, "malformed key in the store");
            break;
        }
        if (user.len != k.user.len || lsm_slice_cmp(lsm_buf_slice(&user), k.user)) {
            lsm_buf_clear(&user);
            if (lsm_buf_append(&user, k.user.data, k.user.len))
                rc = lsm_fail(LSM_NO_MEMORY, "out of memory");
            newer = LSM_MAX_SEQ + 1;
        }
        if (lsm_kind_is_put(k.kind)) {
            uint64_t who = sole_viewer(sc, k.user, k.seq, newer);
            if (who != LSM_MAX_SEQ)
                add_to_owner(sc, who, k.user.len + value_len(&k, lsm_iiter_value(in)));
        }
        newer = k.seq;
    }
    lsm_buf_free(&user);
    return rc ? rc : lsm_iiter_status(in);
}

int lsm_snapshot_space(lsm_db *db, const lsm_snapshot_info *snaps, size_t n,
                       uint64_t *exclusive)
{
    memset(exclusive, 0, n * sizeof *exclusive);
    lsm_read_options ro = { NULL, 1 };
    lsm_iter *it = lsm_iter_new(db, &ro);
    if (!it)
        return LSM_NO_MEMORY;
    space_scan sc = { .snaps = snaps, .nsnaps = n, .exclusive = exclusive };
    pthread_mutex_lock(&db->mu);
    int rc = lsm_db_snapshot_points(db, &sc.points, &sc.npoints);
    pthread_mutex_unlock(&db->mu);
    if (rc == LSM_OK)
        rc = lsm_iter_range_dels(it, &sc.rd);
    if (rc == LSM_OK)
        rc = scan_entries(&sc, lsm_iter_entries(it));
    lsm_range_dels_free(sc.rd);
    free(sc.points);
    lsm_iter_free(it);
    return rc;
}
