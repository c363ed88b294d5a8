/*
 * test_fs_store.c — the store as a whole: fs_open's refusals (not a
 * store, unknown format version, in use, bad options), persistence over
 * reopens, orphans (unlinked while open, or O_TMPFILE files; reclaimed at
 * release, at close, and after a crash), linking an O_TMPFILE, inode numbers after a power loss, damaged records
 * read back as -EIO, and the record decoders fed damaged bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fs.h"
#include "testutil.h"

#include "fs_fixture.h"

#include <dirent.h>

#include "fault_env.h"
#include "layout.h"

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

/* Counts the engine keys of `kind` for ino (the fs must be closed). */
static int raw_keys(const char *store, char kind, uint64_t ino)
{
    lsm_db *db;
    assert_int_equal(lsm_open(store, NULL, &db), LSM_OK);
    char prefix[16];
    size_t plen = fs_key_ino_prefix(prefix, kind, ino);
    lsm_iter *it = lsm_iter_new(db, NULL);
    int n = 0;
    for (lsm_iter_seek(it, prefix, plen); lsm_iter_valid(it); lsm_iter_next(it)) {
        size_t kl;
        const void *k = lsm_iter_key(it, &kl);
        if (kl < plen || memcmp(k, prefix, plen) != 0)
            break;
        n++;
    }
    assert_int_equal(lsm_iter_status(it), LSM_OK);
    lsm_iter_free(it);
    assert_int_equal(lsm_close(db), LSM_OK);
    return n;
}

static void raw_put(const char *store, const void *k, size_t kl, const void *v, size_t vl)
{
    lsm_db *db;
    assert_int_equal(lsm_open(store, NULL, &db), LSM_OK);
    assert_int_equal(lsm_put(db, k, kl, v, vl, LSM_SYNC), LSM_OK);
    assert_int_equal(lsm_close(db), LSM_OK);
}

static void close_fs(T *t)
{
    assert_int_equal(fs_close(t->fs), 0);
    t->fs = NULL;
}

static void open_fs(T *t)
{
    assert_int_equal(fs_open(t->store, &t->o, &t->fs), 0);
}

/* --- fs_open refusals -------------------------------------------------------- */

static void test_refuses_foreign_dir(void **state)
{
    T *t = *state;
    char *junk;
    assert_true(asprintf(&junk, "%s/junk", t->tmp) > 0);
    assert_int_equal(mkdir(junk, 0755), 0);
    char *file;
    assert_true(asprintf(&file, "%s/notes.txt", junk) > 0);
    FILE *fp = fopen(file, "w");
    fputs("hello", fp);
    fclose(fp);
    fs_t *fs = NULL;
    assert_true(fs_open(junk, &t->o, &fs) < 0);
    assert_null(fs);
    assert_non_null(strstr(fs_last_error(), "is not an lsmfs store"));
    assert_non_null(strstr(fs_last_error(), junk));
    assert_int_equal(count_entries(junk), 1);        /* nothing written */
    /* Missing or empty directories without create. */
    fs_options o = t->o;
    o.create = 0;
    char *missing;
    assert_true(asprintf(&missing, "%s/missing", t->tmp) > 0);
    assert_true(fs_open(missing, &o, &fs) < 0);
    assert_int_equal(count_entries(missing), -1);
    char *empty;
    assert_true(asprintf(&empty, "%s/empty", t->tmp) > 0);
    assert_int_equal(mkdir(empty, 0755), 0);
    assert_true(fs_open(empty, &o, &fs) < 0);
    assert_int_equal(count_entries(empty), 0);
    /* With create, the missing one is made. */
    assert_int_equal(fs_open(missing, &t->o, &fs), 0);
    assert_int_equal(fs_close(fs), 0);
    assert_int_equal(fs_open(missing, &o, &fs), 0);
    assert_int_equal(fs_close(fs), 0);
    /* A plain file is not a directory. */
    assert_true(fs_open(file, &t->o, &fs) < 0);
    free(junk);
    free(file);
    free(missing);
    free(empty);
}

static void test_refuses_plain_lsm_store(void **state)
{
    T *t = *state;
    char *dir;
    assert_true(asprintf(&dir, "%s/plain", t->tmp) > 0);
    lsm_db *db;
    assert_int_equal(lsm_open(dir, NULL, &db), LSM_OK);
    assert_int_equal(lsm_put(db, "k", 1, "v", 1, LSM_SYNC), LSM_OK);
    assert_int_equal(lsm_close(db), LSM_OK);
    fs_t *fs = NULL;
    assert_true(fs_open(dir, &t->o, &fs) < 0);
    assert_non_null(strstr(fs_last_error(), "not an lsmfs store"));
    free(dir);
}

static void test_refuses_unknown_version_and_bad_superblock(void **state)
{
    T *t = *state;
    close_fs(t);
    char key[4], sb[FS_SUPER_BYTES];
    size_t klen = fs_key_super(key);
    fs_super s = { 99, 65536, 4096, 0, 100, 1, 0 };
    fs_encode_super(sb, &s);
    raw_put(t->store, key, klen, sb, sizeof sb);
    assert_true(fs_open(t->store, &t->o, &t->fs) < 0);
    assert_null(t->fs);
    assert_non_null(strstr(fs_last_error(), "version 99"));
    s.version = FS_FORMAT_VERSION;
    fs_encode_super(sb, &s);
    sb[30] ^= 1;                 /* checksum no longer matches */
    raw_put(t->store, key, klen, sb, sizeof sb);
    assert_true(fs_open(t->store, &t->o, &t->fs) < 0);
    assert_non_null(strstr(fs_last_error(), "not an lsmfs store"));
    t->fs = NULL;
}

static void test_refuses_store_in_use(void **state)
{
    T *t = *state;
    fs_t *second = NULL;
    int rc = fs_open(t->store, &t->o, &second);
    assert_int_equal(rc, -EBUSY);
    assert_null(second);
    assert_non_null(strstr(fs_last_error(), "locked"));
    /* The first opener is unaffected. */
    mkfile(t, FS_ROOT_INO, "still-works");
}

static void test_bad_options(void **state)
{
    T *t = *state;
    fs_options o = t->o;
    fs_t *fs = NULL;
    char *dir;
    assert_true(asprintf(&dir, "%s/opts", t->tmp) > 0);
    o.block_bytes = 3000;
    assert_int_equal(fs_open(dir, &o, &fs), -EINVAL);
    o.block_bytes = 4096;
    o.inline_max = 8192;
    assert_int_equal(fs_open(dir, &o, &fs), -EINVAL);
    assert_int_equal(count_entries(dir), -1);
    assert_int_equal(fs_open(NULL, &o, &fs), -EINVAL);
    /* An existing store keeps its block size whatever the options say. */
    close_fs(t);
    t->o.block_bytes = 4096;
    t->o.inline_max = 100;
    open_fs(t);
    assert_int_equal(attr(t, FS_ROOT_INO).st_blksize, 65536);
    free(dir);
}

/* --- persistence ------------------------------------------------------------------ */

static void test_persistence_rounds(void **state)
{
    T *t = *state;
    char *blob = malloc(300000);
    for (size_t i = 0; i < 300000; i++)
        blob[i] = (char)(i * 131 + 7);
    uint64_t d = mkdir_(t, FS_ROOT_INO, "d");
    uint64_t big = mkfile(t, d, "big");
    assert_int_equal(fs_write(t->fs, big, blob, 300000, 0, 0), 300000);
    for (int i = 0; i < 300; i++) {
        char n[32];
        snprintf(n, sizeof n, "small%d", i);
        uint64_t f = mkfile(t, d, n);
        assert_int_equal(fs_write(t->fs, f, n, strlen(n), 0, 0), (ssize_t)strlen(n));
        if (i % 3 == 0)
            assert_int_equal(fs_unlink(t->fs, d, n), 0);
    }
    /* Round r starts with the names of class r % 3 missing. */
    for (int round = 0; round < 3; round++) {
        close_fs(t);
        open_fs(t);
        struct stat st;
        char buf[64];
        for (int i = 0; i < 300; i++) {
            char n[32];
            snprintf(n, sizeof n, "small%d", i);
            if (i % 3 == round) {
                assert_int_equal(fs_unlink(t->fs, d, n), -ENOENT);
                continue;
            }
            assert_int_equal(fs_lookup(t->fs, d, n, &st), 0);
            assert_int_equal(fs_read(t->fs, st.st_ino, buf, sizeof buf, 0), (ssize_t)strlen(n));
            assert_memory_equal(buf, n, strlen(n));
        }
        char *r = malloc(300000);
        assert_int_equal(fs_read(t->fs, big, r, 300000, 0), 300000);
        assert_memory_equal(r, blob, 300000);
        free(r);
        /* Change things for the next round. */
        for (int i = 0; i < 300; i++) {
            char n[32];
            snprintf(n, sizeof n, "small%d", i);
            if (i % 3 == (round + 1) % 3)
                assert_int_equal(fs_unlink(t->fs, d, n), 0);
            else if (i % 3 == round) {
                uint64_t f = mkfile(t, d, n);
                assert_int_equal(fs_write(t->fs, f, n, strlen(n), 0, 0), (ssize_t)strlen(n));
            }
        }
        assert_int_equal(fs_write(t->fs, big, "X", 1, 1000 * round, 0), 1);
        blob[1000 * round] = 'X';
    }
    free(blob);
}

/* --- orphans --------------------------------------------------------------------- */

static void test_unlink_while_open(void **state)
{
    T *t = *state;
    uint64_t f = mkfile(t, FS_ROOT_INO, "f");
    char buf[200000];
    memset(buf, 'q', sizeof buf);
    assert_int_equal(fs_write(t->fs, f, buf, sizeof buf, 0, 0), (ssize_t)sizeof buf);
    assert_int_equal(fs_open_file(t->fs, &t->c, f, O_RDWR), 0);
    assert_int_equal(fs_open_file(t->fs, &t->c, f, O_RDONLY), 0);
    assert_int_equal(fs_unlink(t->fs, FS_ROOT_INO, "f"), 0);
    struct stat st = attr(t, f);
    assert_int_equal(st.st_nlink, 0);
    assert_int_equal(fs_lookup(t->fs, FS_ROOT_INO, "f", &st), -ENOENT);
    char r[16];
    assert_int_equal(fs_read(t->fs, f, r, 16, 100000), 16);
    assert_int_equal(r[0], 'q');
    assert_int_equal(fs_write(t->fs, f, "new", 3, 200000, 0), 3);
    assert_int_equal(attr(t, f).st_size, 200003);
    assert_int_equal(fs_setxattr(t->fs, f, "user.x", "1", 1, 0), 0);
    assert_int_equal(fs_link(t->fs, f, FS_ROOT_INO, "back", &st), -ENOENT);
    assert_int_equal(fs_release(t->fs, f), 0);
    assert_int_equal(fs_read(t->fs, f, r, 3, 200000), 3);   /* one handle left */
    assert_int_equal(fs_release(t->fs, f), 0);
    assert_int_equal(fs_open_file(t->fs, &t->c, f, O_RDONLY), -ENOENT);
    close_fs(t);
    assert_int_equal(raw_keys(t->store, FS_KEY_INODE, f), 0);
    assert_int_equal(raw_keys(t->store, FS_KEY_BLOCK, f), 0);
    assert_int_equal(raw_keys(t->store, FS_KEY_XATTR, f), 0);
    assert_int_equal(raw_keys(t->store, FS_KEY_ORPHAN, f), 0);
    open_fs(t);
}

static void test_orphan_reclaimed_at_close(void **state)
{
    T *t = *state;
    struct stat st;
    assert_int_equal(fs_create(t->fs, &t->c, FS_ROOT_INO, "f", 0600,
                               O_CREAT | O_EXCL | O_RDWR, &st), 0);
    uint64_t f = st.st_ino;
    char buf[100000];
    memset(buf, 'z', sizeof buf);
    assert_int_equal(fs_write(t->fs, f, buf, sizeof buf, 0, 0), (ssize_t)sizeof buf);
    assert_int_equal(fs_unlink(t->fs, FS_ROOT_INO, "f"), 0);
    close_fs(t);                                /* no release */
    assert_int_equal(raw_keys(t->store, FS_KEY_INODE, f), 0);
    assert_int_equal(raw_keys(t->store, FS_KEY_BLOCK, f), 0);
    assert_int_equal(raw_keys(t->store, FS_KEY_ORPHAN, f), 0);
    open_fs(t);
    assert_int_equal(fs_getattr(t->fs, f, &st), -ENOENT);
}

/* Makes, in a child process's fs, an orphan with data blocks and an
 * xattr; returns its inode number (0 on failure). */
typedef uint64_t (*make_orphan_fn)(fs_t *fs, const fs_cred *c);

static uint64_t unlinked_open_file(fs_t *fs, const fs_cred *c)
{
    struct stat st;
    char buf[150000];
    memset(buf, 'c', sizeof buf);
    if (fs_create(fs, c, FS_ROOT_INO, "doomed", 0600, O_CREAT | O_EXCL | O_RDWR,
                  &st) == 0 &&
        fs_write(fs, st.st_ino, buf, sizeof buf, 0, 0) == (ssize_t)sizeof buf &&
        fs_setxattr(fs, st.st_ino, "user.a", "b", 1, 0) == 0 &&
        fs_unlink(fs, FS_ROOT_INO, "doomed") == 0)
        return st.st_ino;
    return 0;
}

static uint64_t unlinked_tmpfile(fs_t *fs, const fs_cred *c)
{
    struct stat st;
    char buf[150000];
    memset(buf, 't', sizeof buf);
    if (fs_tmpfile(fs, c, FS_ROOT_INO, 0600, O_RDWR, &st) == 0 &&
        fs_write(fs, st.st_ino, buf, sizeof buf, 0, 0) == (ssize_t)sizeof buf &&
        fs_setxattr(fs, st.st_ino, "user.a", "b", 1, 0) == 0)
        return st.st_ino;
    return 0;
}

/* A daemon that dies holding an orphan made by `make`: the next open
 * reclaims it. */
static void orphan_reclaimed_after_crash(T *t, make_orphan_fn make)
{
    uint64_t ino = crash_after(t, make);
    assert_int_equal(raw_keys(t->store, FS_KEY_ORPHAN, ino), 1);
    assert_int_equal(raw_keys(t->store, FS_KEY_INODE, ino), 1);
    assert_true(raw_keys(t->store, FS_KEY_BLOCK, ino) > 0);
    open_fs(t);
    struct stat st;
    assert_int_equal(fs_getattr(t->fs, ino, &st), -ENOENT);
    struct statvfs sv;
    assert_int_equal(fs_statfs(t->fs, &sv), 0);
    assert_int_equal(sv.f_files - sv.f_ffree, 1);      /* just the root */
    /* New inode numbers are past the dead process's. */
    assert_true(mkfile(t, FS_ROOT_INO, "after") > ino);
    close_fs(t);
    assert_int_equal(raw_keys(t->store, FS_KEY_ORPHAN, ino), 0);
    assert_int_equal(raw_keys(t->store, FS_KEY_INODE, ino), 0);
    assert_int_equal(raw_keys(t->store, FS_KEY_BLOCK, ino), 0);
    assert_int_equal(raw_keys(t->store, FS_KEY_XATTR, ino), 0);
    open_fs(t);
}

static void test_orphan_reclaimed_after_crash(void **state)
{
    orphan_reclaimed_after_crash(*state, unlinked_open_file);
}

/* --- O_TMPFILE ------------------------------------------------------------------ */

/* Written, linked by linkat (the orphan key goes in the same batch),
 * and kept like any file. */
static void test_tmpfile_linked(void **state)
{
    T *t = *state;
    uint64_t d = mkdir_(t, FS_ROOT_INO, "d");
    assert_int_equal(fs_setattr(t->fs, &t->c, d, &(struct stat){ .st_mode = 02775 },
                                FS_SET_MODE | FS_SET_GID,
                                NULL), 0);
    age(t, d);
    struct stat st;
    fs_cred c = { .uid = 1234, .gid = 5678, .umask = 022 };
    assert_int_equal(fs_tmpfile(t->fs, &c, d, 0666, O_RDWR, &st), 0);
    uint64_t f = st.st_ino;
    assert_int_equal(st.st_nlink, 0);
    assert_int_equal(st.st_mode, S_IFREG | 0644);
    assert_int_equal(st.st_uid, 1234);
    assert_int_equal(st.st_gid, 0);             /* the setgid dir's group */
    /* The directory is not changed by an unnamed file. */
    assert_int_equal(attr(t, d).st_size, 0);
    assert_int_equal(attr(t, d).st_mtim.tv_sec, 1000);
    char big[100000];
    memset(big, 'b', sizeof big);
    assert_int_equal(fs_write(t->fs, f, big, sizeof big, 0, 0), (ssize_t)sizeof big);
    assert_int_equal(fs_link(t->fs, f, d, "named", &st), 0);
    assert_int_equal(st.st_nlink, 1);
    assert_int_equal(attr(t, d).st_size, 1);
    /* Linked once: an unlink makes it an ordinary orphan, not linkable. */
    assert_int_equal(fs_link(t->fs, f, d, "second", &st), 0);
    assert_int_equal(fs_unlink(t->fs, d, "second"), 0);
    assert_int_equal(fs_release(t->fs, f), 0);
    close_fs(t);
    assert_int_equal(raw_keys(t->store, FS_KEY_ORPHAN, f), 0);
    assert_int_equal(raw_keys(t->store, FS_KEY_INODE, f), 1);
    open_fs(t);
    assert_int_equal(fs_lookup(t->fs, d, "named", &st), 0);
    assert_int_equal(st.st_ino, f);
    assert_int_equal(st.st_size, (off_t)sizeof big);
    char buf[4];
    assert_int_equal(fs_read(t->fs, f, buf, 4, 99996), 4);
    assert_memory_equal(buf, "bbbb", 4);
}

/* Never linked: gone at the last release, leaving no record; O_EXCL
 * ones and ones linked then unlinked cannot be linked. */
static void test_tmpfile_unlinked(void **state)
{
    T *t = *state;
    struct stat st;
    struct statvfs sv;
    assert_int_equal(fs_tmpfile(t->fs, &t->c, FS_ROOT_INO, 0600, O_RDWR, &st), 0);
    uint64_t f = st.st_ino;
    char big[200000];
    memset(big, 'u', sizeof big);
    assert_int_equal(fs_write(t->fs, f, big, sizeof big, 0, 0), (ssize_t)sizeof big);
    assert_int_equal(fs_statfs(t->fs, &sv), 0);
    assert_int_equal(sv.f_files - sv.f_ffree, 2);
    assert_int_equal(fs_release(t->fs, f), 0);
    assert_int_equal(fs_getattr(t->fs, f, &st), 0);    /* the kernel's reference */
    assert_int_equal(fs_link(t->fs, f, FS_ROOT_INO, "late", &st), -ENOENT);
    fs_forget(t->fs, f, 1);
    assert_int_equal(fs_statfs(t->fs, &sv), 0);
    assert_int_equal(sv.f_files - sv.f_ffree, 1);

    assert_int_equal(fs_tmpfile(t->fs, &t->c, FS_ROOT_INO, 0600,
                                O_RDWR | O_EXCL, &st), 0);
    uint64_t x = st.st_ino;
    assert_int_equal(fs_link(t->fs, x, FS_ROOT_INO, "x", &st), -ENOENT);
    assert_int_equal(fs_lookup(t->fs, FS_ROOT_INO, "x", &st), -ENOENT);
    assert_int_equal(fs_tmpfile(t->fs, &t->c, FS_ROOT_INO, 0600, O_RDWR, &st), 0);
    uint64_t y = st.st_ino;
    assert_int_equal(fs_link(t->fs, y, FS_ROOT_INO, "y", &st), 0);
    assert_int_equal(fs_unlink(t->fs, FS_ROOT_INO, "y"), 0);
    assert_int_equal(fs_link(t->fs, y, FS_ROOT_INO, "y", &st), -ENOENT);
    /* Not a directory. */
    uint64_t file = mkfile(t, FS_ROOT_INO, "file");
    assert_int_equal(fs_tmpfile(t->fs, &t->c, file, 0600, O_RDWR, &st), -ENOTDIR);
    close_fs(t);                                /* x, y still open */
    assert_int_equal(raw_keys(t->store, FS_KEY_INODE, f), 0);
    assert_int_equal(raw_keys(t->store, FS_KEY_BLOCK, f), 0);
    assert_int_equal(raw_keys(t->store, FS_KEY_ORPHAN, f), 0);
    assert_int_equal(raw_keys(t->store, FS_KEY_INODE, x), 0);
    assert_int_equal(raw_keys(t->store, FS_KEY_ORPHAN, x), 0);
    assert_int_equal(raw_keys(t->store, FS_KEY_INODE, y), 0);
    open_fs(t);
}

static void test_tmpfile_reclaimed_after_crash(void **state)
{
    orphan_reclaimed_after_crash(*state, unlinked_tmpfile);
}

/* *o: the test's options on a new fault env (returned; seed as given). */
static fault_env *fault_options(T *t, uint64_t seed, fs_options *o)
{
    fault_env *fe = fault_env_new(seed);
    *o = t->o;
    o->lsm.env = fault_env_base(fe);
    return fe;
}

/* Power loss (simulated by the fault env): what was synced survives, the
 * tree is consistent, and inode numbers handed out before the loss are
 * never handed out again. */
static void test_power_loss(void **state)
{
    T *t = *state;
    fs_options o;
    fault_env *fe = fault_options(t, 7, &o);
    fs_t *fs;
    assert_int_equal(fs_open("/store", &o, &fs), 0);
    uint64_t max = 0;
    struct stat st;
    for (int i = 0; i < 20; i++) {
        char n[16];
        snprintf(n, sizeof n, "f%d", i);
        assert_int_equal(fs_mknod(fs, &t->c, FS_ROOT_INO, n, S_IFREG | 0600, 0, &st), 0);
        max = st.st_ino;
        if (i == 9)
            assert_int_equal(fs_sync(fs), 0);
    }
    fault_env_crash(fe, FAULT_CRASH_DROP_ALL);
    (void)fs_close(fs);                         /* fails: the disk is gone */
    fault_env_restart(fe);
    assert_int_equal(fs_open("/store", &o, &fs), 0);
    for (int i = 0; i < 10; i++) {
        char n[16];
        snprintf(n, sizeof n, "f%d", i);
        assert_int_equal(fs_lookup(fs, FS_ROOT_INO, n, &st), 0);
    }
    struct statvfs sv;
    assert_int_equal(fs_statfs(fs, &sv), 0);
    uint64_t live = sv.f_files - sv.f_ffree;
    assert_true(live >= 11 && live <= 21);
    assert_int_equal(fs_mknod(fs, &t->c, FS_ROOT_INO, "new", S_IFREG | 0600, 0, &st), 0);
    assert_true(st.st_ino > max);
    assert_int_equal(fs_close(fs), 0);
    fault_env_free(fe);
}

/* Syncs (fdatasync calls) fs_fsync(ino) makes after a write of n bytes
 * of c at off. */
static uint64_t syncs_of_fsync(fault_env *fe, fs_t *fs, uint64_t ino,
                               off_t off, size_t n, char c)
{
    char *buf = malloc(n);
    assert_non_null(buf);
    memset(buf, c, n);
    assert_int_equal(fs_write(fs, ino, buf, n, off, 0), (ssize_t)n);
    free(buf);
    uint64_t s0 = fault_env_op_count(fe, FAULT_OP_SYNC);
    assert_int_equal(fs_synced(fs), 0);
    assert_true(fs_sync_pending(fs) != 0);
    assert_int_equal(fs_fsync(fs, ino, 1), 0);
    assert_int_equal(fs_synced(fs), 1);
    assert_true(fs_sync_pending(fs) == 0);
    return fault_env_op_count(fe, FAULT_OP_SYNC) - s0;
}

static void assert_filled(fs_t *fs, uint64_t ino, off_t off, size_t n, char c)
{
    char *buf = malloc(n);
    assert_non_null(buf);
    assert_int_equal(fs_read(fs, ino, buf, n, off), (ssize_t)n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(buf[i], c);
    free(buf);
}

/* With blob files, an fsync of a file fsync'd before (a database) or made
 * in a directory fsyncdir'd (its journal) costs one fsync, the WAL's:
 * its small writes stay out of the blob file.  The first fsync of a
 * file written to the blob file costs two (blob file, then WAL); in sync
 * mode every small write costs one.  What was fsync'd survives power
 * loss. */
static void test_fsync_of_synced_file_is_one_sync(void **state)
{
    T *t = *state;
    fs_options o;
    fault_env *fe = fault_options(t, 13, &o);
    o.lsm.blob_min_bytes = 4096;
    o.lsm.memtable_bytes = 8u << 20;        /* no WAL switch meanwhile */
    fs_t *fs;
    assert_int_equal(fs_open("/store", &o, &fs), 0);
    struct stat st;
    assert_int_equal(fs_mknod(fs, &t->c, FS_ROOT_INO, "db", S_IFREG | 0600, 0, &st), 0);
    uint64_t db = st.st_ino;
    assert_int_equal(syncs_of_fsync(fe, fs, db, 0, 16384, 'a'), 2);
    assert_int_equal(syncs_of_fsync(fe, fs, db, 16384, 16384, 'b'), 1);
    assert_int_equal(syncs_of_fsync(fe, fs, db, 4096, 8192, 'c'), 1);
    uint64_t s0 = fault_env_op_count(fe, FAULT_OP_SYNC);
    assert_int_equal(fs_fsyncdir(fs, FS_ROOT_INO), 0);      /* nothing to do */
    assert_int_equal(fault_env_op_count(fe, FAULT_OP_SYNC), s0);
    assert_int_equal(fs_mknod(fs, &t->c, FS_ROOT_INO, "db-journal", S_IFREG | 0600, 0, &st), 0);
    uint64_t j = st.st_ino;
    assert_int_equal(syncs_of_fsync(fe, fs, j, 0, 12800, 'j'), 1);

    fault_env_crash(fe, FAULT_CRASH_DROP_ALL);
    (void)fs_close(fs);                         /* fails: the disk is gone */
    fault_env_restart(fe);
    assert_int_equal(fs_open("/store", &o, &fs), 0);
    assert_filled(fs, db, 0, 4096, 'a');
    assert_filled(fs, db, 4096, 8192, 'c');
    assert_filled(fs, db, 12288, 4096, 'a');
    assert_filled(fs, db, 16384, 16384, 'b');
    assert_filled(fs, j, 0, 12800, 'j');
    assert_int_equal(fs_close(fs), 0);

    o.sync = 1;
    assert_int_equal(fs_open("/store", &o, &fs), 0);
    s0 = fault_env_op_count(fe, FAULT_OP_SYNC);
    char buf[16384];
    memset(buf, 's', sizeof buf);
    assert_int_equal(fs_write(fs, j, buf, sizeof buf, 0, 0), (ssize_t)sizeof buf);
    assert_int_equal(fault_env_op_count(fe, FAULT_OP_SYNC) - s0, 1);
    assert_int_equal(fs_close(fs), 0);
    fault_env_free(fe);
}

static int saw_unclean;

static void note_unclean(void *ctx, int level, const char *line)
{
    (void)ctx;
    (void)level;
    if (strstr(line, "not closed cleanly"))
        saw_unclean = 1;
}

/* Read-only mode (a read-only remount): changes fail with EROFS, reads
 * work; what was written before survives a power loss while read-only,
 * and the store needs no recovery then; back to read-write, changes
 * work again. */
static void test_read_only_mode(void **state)
{
    T *t = *state;
    fs_options o;
    fault_env *fe = fault_options(t, 11, &o);
    o.log = note_unclean;
    fs_t *fs;
    struct stat st;
    char buf[8];
    assert_int_equal(fs_open("/store", &o, &fs), 0);
    assert_int_equal(fs_mknod(fs, &t->c, FS_ROOT_INO, "a", S_IFREG | 0600, 0, &st), 0);
    uint64_t a = st.st_ino;
    assert_int_equal(fs_write(fs, a, "hello", 5, 0, 0), 5);

    assert_int_equal(fs_is_read_only(fs), 0);
    assert_int_equal(fs_set_read_only(fs, 1), 0);
    assert_int_equal(fs_set_read_only(fs, 1), 0);
    assert_int_equal(fs_is_read_only(fs), 1);
    assert_int_equal(fs_mknod(fs, &t->c, FS_ROOT_INO, "b", S_IFREG | 0600, 0, &st),
                     -EROFS);
    assert_int_equal(fs_write(fs, a, "x", 1, 0, 0), -EROFS);
    assert_int_equal(fs_unlink(fs, FS_ROOT_INO, "a"), -EROFS);
    assert_int_equal(fs_setxattr(fs, a, "user.k", "v", 1, 0), -EROFS);
    assert_int_equal(fs_read(fs, a, buf, sizeof buf, 0), 5);
    assert_int_equal(fs_sync(fs), 0);

    assert_int_equal(fs_set_read_only(fs, 0), 0);
    assert_int_equal(fs_mknod(fs, &t->c, FS_ROOT_INO, "b", S_IFREG | 0600, 0, &st), 0);
    assert_int_equal(fs_write(fs, a, "HE", 2, 0, 0), 2);
    assert_int_equal(fs_set_read_only(fs, 1), 0);

    fault_env_crash(fe, FAULT_CRASH_DROP_ALL);
    (void)fs_close(fs);                         /* fails: the disk is gone */
    fault_env_restart(fe);
    saw_unclean = 0;
    assert_int_equal(fs_open("/store", &o, &fs), 0);
    assert_int_equal(saw_unclean, 0);           /* marked clean: no recount */
    assert_int_equal(fs_lookup(fs, FS_ROOT_INO, "b", &st), 0);
    assert_int_equal(fs_read(fs, a, buf, sizeof buf, 0), 5);
    assert_memory_equal(buf, "HEllo", 5);
    struct statvfs sv;
    assert_int_equal(fs_statfs(fs, &sv), 0);
    assert_int_equal(sv.f_files - sv.f_ffree, 3);
    assert_int_equal(fs_close(fs), 0);
    fault_env_free(fe);
}

/* A full disk surfaces as an error (ENOSPC, or EIO once the engine has
 * stopped writing), never as a crash; what was written stays readable. */
static void test_disk_full(void **state)
{
    T *t = *state;
    fs_options o;
    fault_env *fe = fault_options(t, 11, &o);
    o.lsm.compression = LSM_COMPRESS_NONE;
    fs_t *fs;
    assert_int_equal(fs_open("/store", &o, &fs), 0);
    struct stat st;
    assert_int_equal(fs_mknod(fs, &t->c, FS_ROOT_INO, "keep", S_IFREG | 0600, 0, &st), 0);
    uint64_t keep = st.st_ino;
    assert_int_equal(fs_write(fs, keep, "precious", 8, 0, 0), 8);
    assert_int_equal(fs_mknod(fs, &t->c, FS_ROOT_INO, "fill", S_IFREG | 0600, 0, &st), 0);
    uint64_t fill = st.st_ino;
    fault_env_set_capacity(fe, 4u << 20);
    char *buf = malloc(256 << 10);
    memset(buf, 'f', 256 << 10);
    ssize_t rc = 0;
    for (int i = 0; i < 64 && rc >= 0; i++)
        rc = fs_write(fs, fill, buf, 256 << 10, (off_t)i * (256 << 10), 0);
    assert_true(rc == -ENOSPC || rc == -EIO);
    char r[8];
    assert_int_equal(fs_read(fs, keep, r, 8, 0), 8);
    assert_memory_equal(r, "precious", 8);
    (void)fs_close(fs);
    fault_env_free(fe);
    free(buf);
}

/* Writes 1 MiB files f0, f1, ... in 256 KiB pieces until one fails;
 * returns that error and the number of whole files in *nfiles. */
static int fill_files(T *t, fs_t *fs, const char *prefix, int *nfiles)
{
    char *buf = malloc(256 << 10);
    assert_non_null(buf);
    memset(buf, 'f', 256 << 10);
    ssize_t rc = 0;
    *nfiles = 0;
    for (int i = 0; i < 64 && rc >= 0; i++) {
        char name[16];
        struct stat st;
        snprintf(name, sizeof name, "%s%d", prefix, i);
        rc = fs_mknod(fs, &t->c, FS_ROOT_INO, name, S_IFREG | 0600, 0, &st);
        for (int p = 0; p < 4 && rc >= 0; p++)
            rc = fs_write(fs, st.st_ino, buf, 256 << 10, (off_t)p * (256 << 10), 0);
        if (rc >= 0)
            (*nfiles)++;
    }
    free(buf);
    return (int)rc;
}

/* On a full disk: writes fail with ENOSPC (never EIO); unlinking works
 * and gives the space back for new files; close works, and so does a
 * reopen while the disk is still full.  With 16 KiB blocks (what the
 * daemon makes) a 1 MiB file is removed by one range delete; with 64 KiB
 * blocks by 16 point deletes. */
static void unlink_gives_space_back(T *t, uint32_t block_bytes)
{
    fs_options o;
    fault_env *fe = fault_options(t, 12, &o);
    fault_env_set_capacity(fe, 8u << 20);
    o.lsm.compression = LSM_COMPRESS_NONE;
    o.block_bytes = block_bytes;
    fs_t *fs;
    assert_int_equal(fs_open("/store", &o, &fs), 0);
    int n;
    assert_int_equal(fill_files(t, fs, "f", &n), -ENOSPC);
    assert_true(n >= 3);
    struct stat st;
    for (int i = 0; i <= n; i++) {
        char name[16];
        snprintf(name, sizeof name, "f%d", i);
        int rc = fs_unlink(fs, FS_ROOT_INO, name);
        /* f<n> is the partly written one, if its create succeeded */
        assert_true(rc == 0 || (i == n && rc == -ENOENT));
    }
    int again;
    assert_int_equal(fill_files(t, fs, "g", &again), -ENOSPC);
    if (again < n / 2)
        fail_msg("%d files fitted, then after deleting them only %d", n, again);
    assert_int_equal(fs_close(fs), 0);
    fault_env_set_capacity(fe, 0);   /* not a byte left */
    assert_int_equal(fs_open("/store", &o, &fs), 0);
    assert_int_equal(fs_lookup(fs, FS_ROOT_INO, "g0", &st), 0);
    assert_int_equal(st.st_size, 1 << 20);
    assert_int_equal(fs_lookup(fs, FS_ROOT_INO, "f0", &st), -ENOENT);
    assert_int_equal(fs_close(fs), 0);
    fault_env_free(fe);
}

static void test_disk_full_unlink_gives_space_back(void **state)
{
    unlink_gives_space_back(*state, 16 << 10);
}

static void test_disk_full_unlink_small_files(void **state)
{
    unlink_gives_space_back(*state, 64 << 10);
}

/* Closing on a disk without a byte left and no space reserve: the
 * superblock's clean mark cannot be written, the close still succeeds,
 * and the next open counts the inodes. */
static void test_close_on_full_disk_without_reserve(void **state)
{
    T *t = *state;
    fs_options o;
    fault_env *fe = fault_options(t, 13, &o);
    o.lsm.reserve_bytes = 0;
    fs_t *fs;
    assert_int_equal(fs_open("/store", &o, &fs), 0);
    struct stat st;
    assert_int_equal(fs_mknod(fs, &t->c, FS_ROOT_INO, "a", S_IFREG | 0600, 0, &st), 0);
    assert_int_equal(fs_write(fs, st.st_ino, "data", 4, 0, 0), 4);
    assert_int_equal(fs_fsync(fs, st.st_ino, 0), 0);
    fault_env_set_capacity(fe, 0);
    assert_int_equal(fs_mknod(fs, &t->c, FS_ROOT_INO, "b", S_IFREG | 0600, 0, &st),
                     -ENOSPC);
    assert_int_equal(fs_close(fs), 0);
    fault_env_set_capacity(fe, UINT64_C(1) << 30);
    assert_int_equal(fs_open("/store", &o, &fs), 0);
    struct statvfs sv;
    assert_int_equal(fs_statfs(fs, &sv), 0);
    assert_int_equal(sv.f_files - sv.f_ffree, 2);   /* root and a, counted */
    char r[4];
    assert_int_equal(fs_lookup(fs, FS_ROOT_INO, "a", &st), 0);
    assert_int_equal(fs_read(fs, st.st_ino, r, 4, 0), 4);
    assert_memory_equal(r, "data", 4);
    assert_int_equal(fs_close(fs), 0);
    fault_env_free(fe);
}

/* --- damaged records ------------------------------------------------------------ */

static void test_damaged_records_are_eio(void **state)
{
    T *t = *state;
    uint64_t d = mkdir_(t, FS_ROOT_INO, "d");
    uint64_t f = mkfile(t, d, "f");
    close_fs(t);
    char key[FS_KEY_MAX];
    size_t klen = fs_key_inode(key, f);
    raw_put(t->store, key, klen, "garbage", 7);
    klen = fs_key_dirent(key, d, "bad", 3);
    raw_put(t->store, key, klen, "\0\0\0\0\0\0\0\0\x09", 9);   /* ino 0 */
    open_fs(t);
    struct stat st;
    assert_int_equal(fs_getattr(t->fs, f, &st), -EIO);
    assert_int_equal(fs_lookup(t->fs, d, "f", &st), -EIO);
    assert_int_equal(fs_lookup(t->fs, d, "bad", &st), -EIO);
    assert_int_equal(fs_unlink(t->fs, d, "bad"), -EIO);
    char buf[8];
    assert_int_equal(fs_read(t->fs, f, buf, 8, 0), -EIO);
}

/* --- decoders ------------------------------------------------------------------- */

static void test_layout_roundtrip(void **state)
{
    (void)state;
    fs_inode in, out;
    memset(&in, 0, sizeof in);
    in.flags = FS_INODE_INLINE;
    in.mode = S_IFREG | 04755;
    in.uid = 1;
    in.gid = 2;
    in.nlink = 3;
    in.xattrs = 4;
    in.size = 5;
    in.atime.tv_sec = -5;
    in.atime.tv_nsec = 999999999;
    in.mtime.tv_sec = 1LL << 40;
    in.ctime.tv_nsec = 1;
    char rec[FS_INODE_HEADER + 5];
    fs_encode_inode(rec, &in, "hello", 5);
    const char *data;
    size_t dlen;
    assert_int_equal(fs_decode_inode(rec, sizeof rec, &out, &data, &dlen), 0);
    assert_int_equal(dlen, 5);
    assert_memory_equal(data, "hello", 5);
    assert_int_equal(out.mode, in.mode);
    assert_int_equal(out.xattrs, 4);
    assert_int_equal(out.atime.tv_sec, -5);
    assert_int_equal(out.atime.tv_nsec, 999999999);
    assert_true(out.mtime.tv_sec == (time_t)(1LL << 40));
    /* Every truncation fails. */
    for (size_t n = 0; n < sizeof rec; n++)
        assert_int_equal(fs_decode_inode(rec, n, &out, &data, &dlen), -1);
    /* Inline data must match the size; block files have no data. */
    in.size = 6;
    fs_encode_inode(rec, &in, "hello", 5);
    assert_int_equal(fs_decode_inode(rec, sizeof rec, &out, &data, &dlen), -1);
    in.flags = 0;
    in.size = 1 << 20;
    fs_encode_inode(rec, &in, NULL, 0);
    assert_int_equal(fs_decode_inode(rec, FS_INODE_HEADER, &out, &data, &dlen), 0);
    assert_null(data);
    in.mode = S_IFLNK | 0777;                   /* symlinks are inline */
    fs_encode_inode(rec, &in, NULL, 0);
    assert_int_equal(fs_decode_inode(rec, FS_INODE_HEADER, &out, &data, &dlen), -1);
    in.mode = S_IFDIR | 0755;                   /* a directory needs a parent */
    fs_encode_inode(rec, &in, NULL, 0);
    assert_int_equal(fs_decode_inode(rec, FS_INODE_HEADER, &out, &data, &dlen), -1);
    in.parent = 1;
    fs_encode_inode(rec, &in, NULL, 0);
    assert_int_equal(fs_decode_inode(rec, FS_INODE_HEADER, &out, &data, &dlen), 0);
    in.mode = 0170000 | 0755;                   /* no such type */
    fs_encode_inode(rec, &in, NULL, 0);
    assert_int_equal(fs_decode_inode(rec, FS_INODE_HEADER, &out, &data, &dlen), -1);

    /* Superblock: every bit flip is caught. */
    fs_super s = { FS_FORMAT_VERSION, 65536, 4096, FS_SUPER_CLEAN, 4242, 17, 0 }, s2;
    char sb[FS_SUPER_BYTES];
    fs_encode_super(sb, &s);
    assert_int_equal(fs_decode_super(sb, sizeof sb, &s2), 0);
    assert_int_equal(s2.next_ino, 4242);
    assert_int_equal(s2.inode_count, 17);
    for (size_t bit = 0; bit < 8 * sizeof sb; bit++) {
        sb[bit / 8] ^= (char)(1 << (bit % 8));
        assert_true(fs_decode_super(sb, sizeof sb, &s2) < 0);
        sb[bit / 8] ^= (char)(1 << (bit % 8));
    }
    for (size_t n = 0; n < sizeof sb; n++)
        assert_true(fs_decode_super(sb, n, &s2) < 0);
    s.block_bytes = 65537;
    fs_encode_super(sb, &s);
    assert_int_equal(fs_decode_super(sb, sizeof sb, &s2), -1);

    /* Keys: big-endian numbers sort numerically. */
    char k1[FS_KEY_MAX], k2[FS_KEY_MAX];
    size_t l1 = fs_key_inode(k1, 255), l2 = fs_key_inode(k2, 256);
    assert_true(memcmp(k1, k2, l1 < l2 ? l1 : l2) < 0);
    l1 = fs_key_block(k1, 7, 0xff);
    l2 = fs_key_block(k2, 7, 0x100);
    assert_true(memcmp(k1, k2, 17) < 0);
    uint64_t ino, blk, parent, hash;
    assert_int_equal(fs_decode_block_key(k2, l2, &ino, &blk), 0);
    assert_int_equal(ino, 7);
    assert_int_equal(blk, 0x100);
    assert_int_equal(fs_decode_block_key(k2, l2 - 1, &ino, &blk), -1);
    assert_int_equal(fs_decode_inode_key(k1, l1, &ino), -1);    /* wrong kind */

    /* Directory entries: the hash must match, names are checked. */
    const char *name;
    size_t nlen;
    l1 = fs_key_dirent(k1, 9, "name", 4);
    assert_int_equal(fs_decode_dirent_key(k1, l1, &parent, &hash, &name, &nlen), 0);
    assert_int_equal(parent, 9);
    assert_int_equal(nlen, 4);
    assert_memory_equal(name, "name", 4);
    assert_true(hash < (UINT64_C(1) << FS_HASH_BITS));
    k1[l1 - 1] = 'f';                           /* "namf" under name's hash */
    assert_int_equal(fs_decode_dirent_key(k1, l1, &parent, &hash, &name, &nlen), -1);
    l1 = fs_key_dirent(k1, 9, "a/b", 3);
    assert_int_equal(fs_decode_dirent_key(k1, l1, &parent, &hash, &name, &nlen), -1);
    l1 = fs_key_dirent(k1, 9, "a\0b", 3);
    assert_int_equal(fs_decode_dirent_key(k1, l1, &parent, &hash, &name, &nlen), -1);
    assert_int_equal(fs_decode_dirent_key(k1, 17, &parent, &hash, &name, &nlen), -1);
    char v[FS_DIRENT_VALUE_BYTES];
    uint8_t type;
    fs_encode_dirent_value(v, 42, DT_DIR);
    assert_int_equal(fs_decode_dirent_value(v, sizeof v, &ino, &type), 0);
    assert_int_equal(ino, 42);
    assert_int_equal(type, DT_DIR);
    assert_int_equal(fs_decode_dirent_value(v, sizeof v - 1, &ino, &type), -1);
    fs_encode_dirent_value(v, 42, DT_UNKNOWN);
    assert_int_equal(fs_decode_dirent_value(v, sizeof v, &ino, &type), -1);
    fs_encode_dirent_value(v, 0, DT_REG);
    assert_int_equal(fs_decode_dirent_value(v, sizeof v, &ino, &type), -1);
    l1 = fs_key_xattr(k1, 3, "user.x", 6);
    assert_int_equal(fs_decode_xattr_key(k1, l1, &ino, &name, &nlen), 0);
    assert_int_equal(nlen, 6);
    assert_int_equal(fs_decode_xattr_key(k1, 9, &ino, &name, &nlen), -1);
    l1 = fs_key_orphan(k1, 5);
    assert_int_equal(fs_decode_orphan_key(k1, l1, &ino), 0);
    assert_int_equal(ino, 5);
}

/* Random and mutated bytes: decoders answer 0 or -1, never crash (ASan
 * and UBSan watch), and an accepted inode is self-consistent. */
static void test_layout_fuzz(void **state)
{
    (void)state;
    uint64_t seed = 99;
    char buf[400];
    fs_inode in;
    memset(&in, 0, sizeof in);
    in.flags = FS_INODE_INLINE;
    in.mode = S_IFREG | 0644;
    in.nlink = 1;
    in.size = 40;
    char valid[FS_INODE_HEADER + 40];
    fs_encode_inode(valid, &in, "0123456789012345678901234567890123456789", 40);
    for (int i = 0; i < 20000; i++) {
        size_t n = (size_t)(tu_rand(&seed) % sizeof buf);
        if (i % 2) {
            for (size_t j = 0; j < n; j++)
                buf[j] = (char)tu_rand(&seed);
        } else {
            n = sizeof valid;
            memcpy(buf, valid, n);
            int flips = 1 + (int)(tu_rand(&seed) % 4);
            for (int f = 0; f < flips; f++)
                buf[tu_rand(&seed) % n] ^= (char)(1 << (tu_rand(&seed) % 8));
            if (tu_rand(&seed) % 4 == 0)
                n = (size_t)(tu_rand(&seed) % (n + 1));
        }
        fs_inode out;
        const char *data;
        size_t dlen;
        if (fs_decode_inode(buf, n, &out, &data, &dlen) == 0) {
            assert_true(n >= FS_INODE_HEADER);
            assert_int_equal(dlen, n - FS_INODE_HEADER);
            if (out.flags & FS_INODE_INLINE)
                assert_int_equal(out.size, dlen);
            assert_true(out.atime.tv_nsec < 1000000000);
        }
        fs_super s;
        (void)fs_decode_super(buf, n, &s);
        uint64_t a, b;
        const char *name;
        size_t len;
        uint8_t type;
        if (n > 0)
            buf[0] = "BDIOSX"[tu_rand(&seed) % 6];
        (void)fs_decode_inode_key(buf, n, &a);
        (void)fs_decode_orphan_key(buf, n, &a);
        (void)fs_decode_block_key(buf, n, &a, &b);
        if (fs_decode_dirent_key(buf, n, &a, &b, &name, &len) == 0)
            assert_true(len >= 1 && len <= 255 && memchr(name, '/', len) == NULL);
        if (fs_decode_xattr_key(buf, n, &a, &name, &len) == 0)
            assert_true(len >= 1 && len <= 255);
        (void)fs_decode_dirent_value(buf, n, &a, &type);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_refuses_foreign_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_plain_lsm_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_unknown_version_and_bad_superblock,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_store_in_use, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persistence_rounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unlink_while_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_orphan_reclaimed_at_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_orphan_reclaimed_after_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tmpfile_linked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tmpfile_unlinked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tmpfile_reclaimed_after_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_loss, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_full_unlink_gives_space_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_full_unlink_small_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fsync_of_synced_file_is_one_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_on_full_disk_without_reserve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_records_are_eio, setup, teardown),
        cmocka_unit_test(test_layout_roundtrip),
        cmocka_unit_test(test_layout_fuzz),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
