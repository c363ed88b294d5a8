/*
 * walk.c — see walk.h.  Cost: one engine iterator per walk (per kind for
 * fs_walk_inode); memory: one key at a time.
 */
#include "walk.h"

#include <dirent.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"

void fs_decode_record(const void *k, size_t klen, const void *v, size_t vlen,
                      fs_record *r)
{
    memset(r, 0, sizeof *r);
    r->key = k;
    r->klen = klen;
    r->val = v;
    r->vlen = vlen;
    r->kind = klen ? ((const char *)k)[0] : 0;
    uint64_t hash;
    const char *data;
    switch (r->kind) {
    case FS_KEY_BLOCK:
        r->ok = fs_decode_block_key(k, klen, &r->ino, &r->block) == 0;
        if (!r->ok) {
            r->patch = 1;
            r->ok = fs_decode_patch_key(k, klen, &r->ino, &r->block) == 0;
        }
        break;
    case FS_KEY_DIRENT:
        r->ok = fs_decode_dirent_key(k, klen, &r->ino, &hash, &r->name,
                                     &r->name_len) == 0 &&
                fs_decode_dirent_value(v, vlen, &r->child, &r->dtype) == 0;
        break;
    case FS_KEY_INODE:
        r->ok = fs_decode_inode_key(k, klen, &r->ino) == 0 &&
                fs_decode_inode(v, vlen, &r->inode, &data, &r->inline_len) == 0;
        break;
    case FS_KEY_ORPHAN:
        r->ok = fs_decode_orphan_key(k, klen, &r->ino) == 0;
        break;
    case FS_KEY_SUPER:
        r->ok = klen == 1 && fs_decode_super(v, vlen, &r->super) == 0;
        break;
    case FS_KEY_XATTR:
        r->ok = fs_decode_xattr_key(k, klen, &r->ino, &r->name,
                                    &r->name_len) == 0;
        break;
    default:
        r->ok = 0;
        break;
    }
}

int fs_walk_range(lsm_db *db, const void *begin, size_t blen,
                  const void *end, size_t elen, fs_walk_fn fn, void *ctx)
{
    lsm_read_options ro = { .snapshot = NULL, .no_fill_cache = 1 };
    lsm_iter *it = lsm_iter_new(db, &ro);
    if (!it)
        return LSM_NO_MEMORY;
    if (begin)
        lsm_iter_seek(it, begin, blen);
    else
        lsm_iter_first(it);
    int rc = 0;
    for (; rc == 0 && lsm_iter_valid(it); lsm_iter_next(it)) {
        size_t kl, vl;
        const void *k = lsm_iter_key(it, &kl);
        const void *v = lsm_iter_value(it, &vl);
        if (end) {
            int c = memcmp(k, end, kl < elen ? kl : elen);
            if (c > 0 || (c == 0 && kl >= elen))
                break;
        }
        fs_record r;
        fs_decode_record(k, kl, v, vl, &r);
        rc = fn(ctx, &r);
    }
    if (rc == 0)
        rc = lsm_iter_status(it);
    lsm_iter_free(it);
    return rc;
}

int fs_walk_inode(lsm_db *db, uint64_t ino, fs_walk_fn fn, void *ctx)
{
    static const char kinds[] = { FS_KEY_INODE, FS_KEY_ORPHAN, FS_KEY_XATTR,
                                  FS_KEY_BLOCK, FS_KEY_DIRENT };
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof kinds; i++) {
        char b[FS_KEY_MAX], e[FS_KEY_MAX];
        size_t bl = fs_key_ino_prefix(b, kinds[i], ino);
        size_t el = fs_key_ino_end(e, kinds[i], ino);
        rc = fs_walk_range(db, b, bl, e, el, fn, ctx);
    }
    return rc;
}

/* The directory entry `name` of parent: 0 and *child, else -errno. */
static int lookup_one(lsm_db *db, uint64_t parent, const char *name,
                      size_t len, uint64_t *child, uint8_t *type)
{
    char key[FS_KEY_MAX];
    size_t kl = fs_key_dirent(key, parent, name, len);
    void *val;
    size_t vl;
    int st = lsm_get(db, NULL, key, kl, &val, &vl);
    if (st == LSM_NOT_FOUND)
        return -ENOENT;
    if (st != LSM_OK)
        return -EIO;
    int bad = fs_decode_dirent_value(val, vl, child, type) != 0;
    lsm_free(val);
    return bad ? -EIO : 0;
}

int fs_walk_lookup(lsm_db *db, const char *path, uint64_t *ino,
                   const char **missing)
{
    uint64_t cur = FS_ROOT_INO;
    uint8_t type = DT_DIR;
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        size_t len = strcspn(p, "/");
        if (len == 0)
            break;
        if (len > FS_NAME_MAX)
            return -ENAMETOOLONG;
        if (type != DT_DIR)
            return -ENOTDIR;
        int rc = lookup_one(db, cur, p, len, &cur, &type);
        if (rc) {
            if (missing)
                *missing = p;
            return rc;
        }
        p += len;
    }
    *ino = cur;
    return 0;
}

/* Big-endian integer in key bytes [off, off + 8); bytes past the key's
 * end read as zero (a range bound may be a shortened separator key). */
static uint64_t key_u64(const unsigned char *k, size_t len, size_t off)
{
    uint64_t v = 0;
    for (size_t i = off; i < off + 8; i++)
        v = v << 8 | (i < len ? k[i] : 0);
    return v;
}

void fs_describe_key(const void *key, size_t len, char *out, size_t cap)
{
    const unsigned char *k = key;
    unsigned long long ino = key_u64(k, len, 1);
    switch (len ? k[0] : 0) {
    case FS_KEY_BLOCK:
        if (len >= 17)
            snprintf(out, cap, "%sdata block %llu of inode %llu",
                     len == 18 && k[17] == FS_KEY_PATCH_SUFFIX ? "the patch of " : "",
                     (unsigned long long)key_u64(k, len, 9), ino);
        else
            snprintf(out, cap, "data of inode %llu", ino);
        break;
    case FS_KEY_DIRENT: snprintf(out, cap, "entries of directory %llu", ino); break;
    case FS_KEY_INODE: snprintf(out, cap, "the record of inode %llu", ino); break;
    case FS_KEY_ORPHAN: snprintf(out, cap, "orphan %llu", ino); break;
    case FS_KEY_SUPER: snprintf(out, cap, "the superblock"); break;
    case FS_KEY_XATTR: snprintf(out, cap, "xattrs of inode %llu", ino); break;
    case 0: snprintf(out, cap, "the first key"); break;
    default: snprintf(out, cap, "a key of kind 0x%02x", k[0]); break;
    }
}
