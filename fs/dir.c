/*
 * dir.c — readdir.
 *
 * Entries of directory d are the keys ('D', d, hash, name), walked in
 * (hash, name) order by one engine iterator.  Cookies:
 *   0            start: ".", then "..", then the entries
 *   1, 2         resume after "." / after ".."
 *   (h + 1) << 8 | k
 *                resume after the k-th entry (k >= 1) whose name hashes
 *                to h; entries of one hash sort by name.  (h < 2^55, so
 *                cookies stay positive as an off_t and above 255.)
 * Since an entry's position depends only on its own name, a listing
 * resumed after inserts and deletes neither repeats nor skips entries
 * that stayed.  The exceptions need two names whose 55-bit hashes
 * collide: removing an earlier one of them between calls skips the next,
 * and more than 255 of one hash would repeat entries.
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <syslog.h>

#define COOKIE_DOT 1
#define COOKIE_DOTDOT 2
#define COOKIE_SHIFT 8
#define COOKIE_INDEX_MAX 255

/* Fills st for an entry: full attributes (plus) or just ino and type. */
static int entry_stat(fs_t *fs, uint64_t ino, uint8_t type, int plus,
                      struct stat *st, struct inode **held)
{
    *held = NULL;
    if (!plus) {
        memset(st, 0, sizeof *st);
        st->st_ino = (ino_t)ino;
        st->st_mode = DTTOIF(type);
        return 0;
    }
    int rc = inode_get(fs, ino, IG_GONE, held);
    if (rc < 0)
        return rc;
    fs_fill_stat(fs, ino, &(*held)->rec, st);
    return 0;
}

static int emit_dot(fs_t *fs, uint64_t ino, const char *name, int plus,
                    uint64_t next, fs_dirent_fn emit, void *ctx)
{
    struct stat st;
    struct inode *held;
    int rc = entry_stat(fs, ino, DT_DIR, plus, &st, &held);
    if (rc < 0)
        return rc;
    rc = emit(ctx, name, &st, next);
    if (held != NULL)
        inode_put(fs, held);
    return rc != 0 ? 1 : 0;
}

/* Emits the entries from (hash, skip) on; returns 1 when emit stopped. */
static int emit_entries(fs_t *fs, uint64_t dir, uint64_t hash, unsigned skip,
                        int plus, fs_dirent_fn emit, void *ctx)
{
    char key[FS_KEY_MAX], prefix[16];
    size_t klen = fs_key_dirent_hash(key, dir, hash);
    size_t plen = fs_key_ino_prefix(prefix, FS_KEY_DIRENT, dir);
    lsm_iter *it = lsm_iter_new(fs->db, &fs->ro);
    if (it == NULL)
        return -ENOMEM;
    uint64_t group = hash;       /* hash of the current same-hash run */
    unsigned index = 0;          /* entries of that run seen so far */
    int rc = 0;
    for (lsm_iter_seek(it, key, klen); lsm_iter_valid(it); lsm_iter_next(it)) {
        size_t kl, vl, nlen;
        const void *k = lsm_iter_key(it, &kl);
        if (kl < plen || memcmp(k, prefix, plen) != 0)
            break;
        const void *v = lsm_iter_value(it, &vl);
        uint64_t parent, h, ino;
        const char *name;
        uint8_t type;
        if (fs_decode_dirent_key(k, kl, &parent, &h, &name, &nlen) != 0 ||
            fs_decode_dirent_value(v, vl, &ino, &type) != 0) {
            fs_log(fs, LOG_ERR, "directory %llu: malformed entry (%zu-byte key)",
                   (unsigned long long)dir, kl);
            rc = -EIO;
            break;
        }
        if (h != group) {
            group = h;
            index = 0;
        }
        index++;
        if (h == hash && index <= skip)
            continue;            /* emitted by an earlier call */
        char cname[FS_NAME_MAX + 1];
        memcpy(cname, name, nlen);
        cname[nlen] = '\0';
        struct stat st;
        struct inode *held;
        rc = entry_stat(fs, ino, type, plus, &st, &held);
        if (rc == -ENOENT) {
            fs_log(fs, LOG_ERR, "directory %llu: entry \"%s\" names missing inode %llu",
                   (unsigned long long)dir, cname, (unsigned long long)ino);
            rc = -EIO;
        }
        if (rc < 0)
            break;
        unsigned k_index = index > COOKIE_INDEX_MAX ? COOKIE_INDEX_MAX : index;
        uint64_t next = (h + 1) << COOKIE_SHIFT | k_index;
        int stop = emit(ctx, cname, &st, next);
        if (held != NULL) {
            if (!stop)
                icache_ref(fs, held, 1, 0);
            inode_put(fs, held);
        }
        if (stop) {
            rc = 1;
            break;
        }
    }
    int st = lsm_iter_status(it);
    lsm_iter_free(it);
    if (st != LSM_OK)
        return fs_engine_error(fs, st, "readdir");
    return rc;
}

int fs_readdir(fs_t *fs, uint64_t ino, uint64_t cookie, int plus,
               fs_dirent_fn emit, void *ctx)
{
    pthread_rwlock_rdlock(&fs->ns_lock);
    struct inode *dp;
    int rc = inode_get(fs, ino, IG_GONE, &dp);
    if (rc < 0)
        goto out;
    int isdir = S_ISDIR(dp->rec.mode), gone = dp->gone;
    uint64_t parent = dp->rec.parent;
    inode_put(fs, dp);
    if (!isdir) {
        rc = -ENOTDIR;
        goto out;
    }
    if (gone)                    /* a removed directory lists nothing */
        goto out;
    if (cookie < COOKIE_DOT &&
        (rc = emit_dot(fs, ino, ".", plus, COOKIE_DOT, emit, ctx)) != 0)
        goto out;
    if (cookie < COOKIE_DOTDOT &&
        (rc = emit_dot(fs, parent, "..", plus, COOKIE_DOTDOT, emit, ctx)) != 0)
        goto out;
    uint64_t hash = 0;
    unsigned skip = 0;
    if (cookie >> COOKIE_SHIFT) {
        hash = (cookie >> COOKIE_SHIFT) - 1;
        skip = (unsigned)(cookie & COOKIE_INDEX_MAX);
    }
    rc = emit_entries(fs, ino, hash, skip, plus, emit, ctx);
out:
    pthread_rwlock_unlock(&fs->ns_lock);
    return rc > 0 ? 0 : rc;
}
