/*
 * walk.h — reading a store's keys as filesystem records, for the tools
 * that look at a store from outside the fs layer: inspect, offline stats,
 * and fsck (describing keys).  Works on any lsm_db, opened read-only or
 * live; every key is decoded with layout.h's decoders, never trusted.
 */
#ifndef FS_WALK_H
#define FS_WALK_H

#include <stddef.h>
#include <stdint.h>

#include "layout.h"
#include "lsm.h"

/* One key and its value, decoded.  ok = 0: the key's kind is known but
 * its key or value does not decode (or the kind is unknown: kind is the
 * raw first byte). */
typedef struct fs_record {
    char kind;                     /* FS_KEY_*; the key's first byte */
    int ok;
    uint64_t ino;                  /* the inode (a dirent: its parent) */
    uint64_t block;                /* FS_KEY_BLOCK: the block number */
    int patch;                     /* FS_KEY_BLOCK: the key is that block's
                                      patch (layout.h), not the block */
    const char *name;              /* FS_KEY_DIRENT, FS_KEY_XATTR (not NUL-ended) */
    size_t name_len;
    uint64_t child;                /* FS_KEY_DIRENT: the entry's inode */
    uint8_t dtype;                 /* FS_KEY_DIRENT: DT_* */
    fs_inode inode;                /* FS_KEY_INODE */
    size_t inline_len;             /* FS_KEY_INODE: inline bytes */
    fs_super super;                /* FS_KEY_SUPER */
    const void *key, *val;         /* the raw bytes (valid during the call) */
    size_t klen, vlen;
} fs_record;

/* Decodes one key/value into r (r->ok says whether it decoded). */
void fs_decode_record(const void *k, size_t klen, const void *v, size_t vlen,
                      fs_record *r);

/* Called per key; a non-zero return stops the walk and is returned. */
typedef int (*fs_walk_fn)(void *ctx, const fs_record *r);

/* Every key in [begin, end) in key order (begin NULL: from the first;
 * end NULL: to the last).  Returns 0, the callback's non-zero value, or
 * a negative lsm_status if reading failed (lsm_last_error says why). */
int fs_walk_range(lsm_db *db, const void *begin, size_t blen,
                  const void *end, size_t elen, fs_walk_fn fn, void *ctx);
/* Every key of inode ino: its record, orphan mark, xattrs, data blocks,
 * and (for a directory) its entries, kind by kind in key order. */
int fs_walk_inode(lsm_db *db, uint64_t ino, fs_walk_fn fn, void *ctx);

/* Resolves an absolute or store-relative path ("/a/b", "a/b", "/") by
 * looking its entries up: 0 and *ino, -ENOENT (the missing component in
 * *missing, a pointer into path), -ENOTDIR, or -EIO (lsm_last_error). */
int fs_walk_lookup(lsm_db *db, const char *path, uint64_t *ino,
                   const char **missing);

/* A key, for people: "data block 3 of inode 12", "the superblock"...
 * Works on shortened separator keys (missing bytes read as zero). */
void fs_describe_key(const void *key, size_t len, char *out, size_t cap);

#endif
