/*
 * test_fs_walk.c — walk.h: the store walker the tools share.
 *
 *   - a path resolves entry by entry; a missing component is named, a
 *     file in the middle of a path is ENOTDIR;
 *   - fs_walk_inode returns exactly one inode's keys (record, xattrs,
 *     data blocks; a directory's entries), decoded, and nothing of its
 *     neighbours (inode 2 vs 20, which share a key prefix byte-wise);
 *     a block's patch (a small write into a stored block) is a block
 *     key marked patch, not an undecodable one;
 *   - a key that does not decode is passed on with ok = 0, not dropped;
 *   - a non-zero callback return stops the walk and is returned;
 *   - fs_describe_key names keys, shortened ones too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_fixture.h"
#include "layout.h"
#include "walk.h"

struct seen {
    int inode, xattr, block, patch, dirent, bad, other_ino;
    uint64_t ino;
    uint64_t blocks[8];
    char names[4][32];
};

static int collect(void *ctx, const fs_record *r)
{
    struct seen *s = ctx;
    if (!r->ok) {
        s->bad++;
        return 0;
    }
    if (r->ino != s->ino)
        s->other_ino++;
    switch (r->kind) {
    case FS_KEY_INODE: s->inode++; break;
    case FS_KEY_XATTR: s->xattr++; break;
    case FS_KEY_BLOCK:
        if (r->patch) {
            s->patch++;
            break;
        }
        if (s->block < 8)
            s->blocks[s->block] = r->block;
        s->block++;
        break;
    case FS_KEY_DIRENT:
        if (s->dirent < 4)
            snprintf(s->names[s->dirent], sizeof s->names[0], "%.*s",
                     (int)r->name_len, r->name);
        s->dirent++;
        break;
    }
    return 0;
}

/* /d/f: 3 blocks of data, a patch of block 1 and an xattr; /d/g; then enough files that
 * inode numbers reach two digits. */
static void populate(T *t, uint64_t *d, uint64_t *f)
{
    *d = mkdir_(t, FS_ROOT_INO, "d");
    *f = mkfile(t, *d, "f");
    mkfile(t, *d, "g");
    uint32_t bs = t->o.block_bytes;
    char *buf = calloc(1, 3 * (size_t)bs);
    memset(buf, 'x', 3 * (size_t)bs);
    assert_int_equal(fs_write(t->fs, *f, buf, 3 * (size_t)bs, 0, 0), 3 * (ssize_t)bs);
    assert_int_equal(fs_write(t->fs, *f, "yy", 2, bs + 10, 0), 2);
    free(buf);
    assert_int_equal(fs_setxattr(t->fs, *f, "user.k", "v", 1, 0), 0);
    for (int i = 0; i < 20; i++) {
        char name[16];
        snprintf(name, sizeof name, "n%d", i);
        mkfile(t, FS_ROOT_INO, name);
    }
}

static lsm_db *open_ro(T *t)
{
    assert_int_equal(fs_close(t->fs), 0);
    t->fs = NULL;
    lsm_options o;
    lsm_options_init(&o);
    o.read_only = 1;
    lsm_db *db;
    assert_int_equal(lsm_open(t->store, &o, &db), LSM_OK);
    return db;
}

static void test_lookup_and_inode(void **state)
{
    T *t = *state;
    uint64_t d, f;
    populate(t, &d, &f);
    lsm_db *db = open_ro(t);

    uint64_t ino = 0;
    const char *missing = NULL;
    assert_int_equal(fs_walk_lookup(db, "/d/f", &ino, &missing), 0);
    assert_int_equal(ino, f);
    assert_int_equal(fs_walk_lookup(db, "d//f/", &ino, NULL), 0);
    assert_int_equal(ino, f);
    assert_int_equal(fs_walk_lookup(db, "/", &ino, NULL), 0);
    assert_int_equal(ino, FS_ROOT_INO);
    assert_int_equal(fs_walk_lookup(db, "/d/nope/x", &ino, &missing), -ENOENT);
    assert_string_equal(missing, "nope/x");
    assert_int_equal(fs_walk_lookup(db, "/d/f/x", &ino, NULL), -ENOTDIR);

    struct seen s = { .ino = f };
    assert_int_equal(fs_walk_inode(db, f, collect, &s), 0);
    assert_int_equal(s.inode, 1);
    assert_int_equal(s.xattr, 1);
    assert_int_equal(s.block, 3);
    assert_int_equal(s.patch, 1);
    assert_int_equal(s.blocks[0], 0);
    assert_int_equal(s.blocks[2], 2);
    assert_int_equal(s.dirent, 0);
    assert_int_equal(s.bad + s.other_ino, 0);

    struct seen sd = { .ino = d };
    assert_int_equal(fs_walk_inode(db, d, collect, &sd), 0);
    assert_int_equal(sd.inode, 1);
    assert_int_equal(sd.dirent, 2);
    assert_int_equal(sd.block + sd.patch + sd.xattr + sd.bad + sd.other_ino, 0);
    assert_true((!strcmp(sd.names[0], "f") && !strcmp(sd.names[1], "g")) ||
                (!strcmp(sd.names[0], "g") && !strcmp(sd.names[1], "f")));

    /* Inode 2 (d) and 20+ (n...) share leading key bytes: still apart. */
    struct seen sr = { .ino = FS_ROOT_INO };
    assert_int_equal(fs_walk_inode(db, FS_ROOT_INO, collect, &sr), 0);
    assert_int_equal(sr.dirent, 21);
    assert_int_equal(sr.inode, 1);
    assert_int_equal(sr.other_ino, 0);
    assert_int_equal(lsm_close(db), LSM_OK);
}

static int stop_at_third(void *ctx, const fs_record *r)
{
    (void)r;
    return ++*(int *)ctx == 3 ? 77 : 0;
}

static void test_bad_keys_and_stop(void **state)
{
    T *t = *state;
    uint64_t d, f;
    populate(t, &d, &f);
    assert_int_equal(fs_close(t->fs), 0);
    t->fs = NULL;
    /* A stray inode key of the wrong length and a dirent with a bad hash. */
    lsm_options o;
    lsm_options_init(&o);
    lsm_db *db;
    assert_int_equal(lsm_open(t->store, &o, &db), LSM_OK);
    char k[FS_KEY_MAX];
    size_t kl = fs_key_inode(k, f);
    assert_int_equal(lsm_put(db, k, kl - 1, "x", 1, 0), LSM_OK);
    kl = fs_key_dirent(k, d, "zz", 2);
    k[kl - 1] = 'y';                            /* name no longer hashes */
    char v[FS_DIRENT_VALUE_BYTES];
    fs_encode_dirent_value(v, f, 8);
    assert_int_equal(lsm_put(db, k, kl, v, sizeof v, 0), LSM_OK);

    struct seen sd = { .ino = d };
    assert_int_equal(fs_walk_inode(db, d, collect, &sd), 0);
    assert_int_equal(sd.dirent, 2);
    assert_int_equal(sd.bad, 1);
    fs_record r;
    fs_decode_record(k, kl, v, sizeof v, &r);
    assert_false(r.ok);
    assert_int_equal(r.kind, FS_KEY_DIRENT);

    int n = 0;
    assert_int_equal(fs_walk_range(db, NULL, 0, NULL, 0, stop_at_third, &n), 77);
    assert_int_equal(n, 3);
    assert_int_equal(lsm_close(db), LSM_OK);
}

static void test_describe(void **state)
{
    (void)state;
    char k[FS_KEY_MAX], out[128];
    size_t kl = fs_key_block(k, 12, 3);
    fs_describe_key(k, kl, out, sizeof out);
    assert_string_equal(out, "data block 3 of inode 12");
    kl = fs_key_patch(k, 12, 3);
    fs_describe_key(k, kl, out, sizeof out);
    assert_string_equal(out, "the patch of data block 3 of inode 12");
    fs_describe_key(k, 5, out, sizeof out);          /* shortened */
    assert_string_equal(out, "data of inode 0");
    kl = fs_key_super(k);
    fs_describe_key(k, kl, out, sizeof out);
    assert_string_equal(out, "the superblock");
    fs_describe_key("", 0, out, sizeof out);
    assert_string_equal(out, "the first key");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lookup_and_inode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_keys_and_stop, setup, teardown),
        cmocka_unit_test(test_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
