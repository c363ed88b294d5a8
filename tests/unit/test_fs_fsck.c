/*
 * test_fs_fsck.c — fs_fsck (fs/fsck.h) on stores made through fs_ calls
 * and then damaged by writing raw records through lsm.h with the layout
 * encoders: each kind of damage is found (exit 4), repaired (exit 1) and
 * a second run is clean (exit 0); clean stores are clean; a store in use,
 * a missing, foreign or plain-lsm store, or one of another format
 * version is an operational error (8); unreadable table data is an error
 * no repair fixes (4).  Also fs_open's refusals leave every file of the
 * refused store byte-identical.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"
#include "fsck.h"
#include "layout.h"
#include "fs_records.h"
#include "testutil.h"

typedef struct T {
    char *tmp, *store;
    fs_options o;
    fs_t *fs;
    fs_cred c;
    uint64_t dir, sub, file, big;     /* /d, /d/e, /f, /big */
    char *bigdata;
} T;

#define BIG_SIZE 100000u              /* two 64 KiB blocks, the last partial */

/* --- captured report lines ---------------------------------------------- */

typedef struct lines {
    char *text[256];
    enum fsck_line kind[256];
    int n;
    int progress_calls;
} lines;

static void on_line(void *ctx, enum fsck_line kind, const char *text)
{
    lines *l = ctx;
    printf("    [%s] %s\n", kind == FSCK_FIXED ? "fixed" : kind == FSCK_PROBLEM
                                                 ? "problem" : "info", text);
    if (l->n < 256) {
        l->kind[l->n] = kind;
        l->text[l->n++] = strdup(text);
    }
}

static void on_progress(void *ctx, const char *phase, uint64_t done,
                        uint64_t total)
{
    (void)phase;
    (void)done;
    (void)total;
    ((lines *)ctx)->progress_calls++;
}

static void lines_free(lines *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->text[i]);
    memset(l, 0, sizeof *l);
}

/* A line of `kind` containing `what`. */
static int has_line(const lines *l, enum fsck_line kind, const char *what)
{
    for (int i = 0; i < l->n; i++)
        if (l->kind[i] == kind && strstr(l->text[i], what) != NULL)
            return 1;
    return 0;
}

static int run_fsck(const char *store, int flags, lines *l, fsck_result *r)
{
    fsck_options o;
    fsck_options_init(&o);
    o.flags = flags;
    o.line = on_line;
    o.progress = on_progress;
    o.ctx = l;
    int code = fs_fsck(store, &o, r);
    assert_int_equal(code, r->exit_code);
    if (code == FSCK_EXIT_ERROR)
        printf("    [error] %s\n", r->error);
    return code;
}

/* --- fixture: a small tree made through fs_ calls ------------------------ */

static int setup(void **state)
{
    T *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->tmp = tu_tempdir("fsck");
    assert_non_null(t->tmp);
    assert_true(asprintf(&t->store, "%s/store", t->tmp) > 0);
    fs_options_init(&t->o);
    t->o.create = 1;
    t->o.lsm.memtable_bytes = 1u << 20;
    t->o.lsm.cache_bytes = 1u << 20;
    assert_int_equal(fs_open(t->store, &t->o, &t->fs), 0);
    t->c.uid = getuid();
    t->c.gid = getgid();
    struct stat st;
    assert_int_equal(fs_mkdir(t->fs, &t->c, FS_ROOT_INO, "d", 0755, &st), 0);
    t->dir = st.st_ino;
    assert_int_equal(fs_mkdir(t->fs, &t->c, t->dir, "e", 0755, &st), 0);
    t->sub = st.st_ino;
    assert_int_equal(fs_mknod(t->fs, &t->c, FS_ROOT_INO, "f", S_IFREG | 0644,
                              0, &st), 0);
    t->file = st.st_ino;
    assert_int_equal(fs_write(t->fs, t->file, "hello", 5, 0, 0), 5);
    assert_int_equal(fs_mknod(t->fs, &t->c, FS_ROOT_INO, "big", S_IFREG | 0644,
                              0, &st), 0);
    t->big = st.st_ino;
    t->bigdata = malloc(BIG_SIZE);
    assert_non_null(t->bigdata);
    uint64_t seed = 7;
    for (size_t i = 0; i < BIG_SIZE; i++)
        t->bigdata[i] = (char)(tu_rand(&seed) | 1);
    assert_int_equal(fs_write(t->fs, t->big, t->bigdata, BIG_SIZE, 0, 0),
                     (ssize_t)BIG_SIZE);
    assert_int_equal(fs_close(t->fs), 0);
    t->fs = NULL;
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    T *t = *state;
    if (t->fs)
        assert_int_equal(fs_close(t->fs), 0);
    tu_rmtree(t->tmp);
    free(t->bigdata);
    free(t->store);
    free(t->tmp);
    free(t);
    return 0;
}

static void open_fs(T *t)
{
    assert_int_equal(fs_open(t->store, &t->o, &t->fs), 0);
}

static void close_fs(T *t)
{
    assert_int_equal(fs_close(t->fs), 0);
    t->fs = NULL;
}

/* --- raw records ---------------------------------------------------------- */

static lsm_db *raw_open(const char *store)
{
    lsm_db *db;
    assert_int_equal(lsm_open(store, NULL, &db), LSM_OK);
    return db;
}

static void raw_close(lsm_db *db)
{
    assert_int_equal(lsm_close(db), LSM_OK);
}

static void raw_put(lsm_db *db, const void *k, size_t kl, const void *v, size_t vl)
{
    assert_int_equal(lsm_put(db, k, kl, v, vl, LSM_SYNC), LSM_OK);
}

static void raw_del(lsm_db *db, const void *k, size_t kl)
{
    assert_int_equal(lsm_delete(db, k, kl, LSM_SYNC), LSM_OK);
}

static int raw_exists(lsm_db *db, const void *k, size_t kl)
{
    void *v;
    size_t vl;
    int st = lsm_get(db, NULL, k, kl, &v, &vl);
    if (st == LSM_OK)
        lsm_free(v);
    assert_true(st == LSM_OK || st == LSM_NOT_FOUND);
    return st == LSM_OK;
}

/* Reads inode ino's record (attributes only). */
static fs_inode raw_inode(lsm_db *db, uint64_t ino, char **data, size_t *dlen)
{
    char key[16];
    void *v;
    size_t vl;
    assert_int_equal(lsm_get(db, NULL, key, fs_key_inode(key, ino), &v, &vl),
                     LSM_OK);
    fs_inode rec;
    const char *d;
    size_t dl;
    assert_int_equal(fs_decode_inode(v, vl, &rec, &d, &dl), 0);
    if (data) {
        *data = malloc(dl + 1);
        if (dl > 0)
            memcpy(*data, d, dl);
        *dlen = dl;
    }
    lsm_free(v);
    return rec;
}

static void raw_put_inode(lsm_db *db, uint64_t ino, const fs_inode *rec,
                          const char *data, size_t dlen)
{
    char key[16];
    char *buf = malloc(FS_INODE_HEADER + dlen);
    fs_encode_inode(buf, rec, data, dlen);
    raw_put(db, key, fs_key_inode(key, ino), buf, FS_INODE_HEADER + dlen);
    free(buf);
}

/* Changes fields of an existing record through a callback-free edit. */
static void raw_set_nlink(lsm_db *db, uint64_t ino, uint32_t nlink)
{
    char *data;
    size_t dlen;
    fs_inode rec = raw_inode(db, ino, &data, &dlen);
    rec.nlink = nlink;
    raw_put_inode(db, ino, &rec, data, dlen);
    free(data);
}

static void raw_put_dirent(lsm_db *db, uint64_t parent, const char *name,
                           uint64_t ino, uint8_t type)
{
    char key[FS_KEY_MAX], val[FS_DIRENT_VALUE_BYTES];
    size_t kl = fs_key_dirent(key, parent, name, strlen(name));
    fs_encode_dirent_value(val, ino, type);
    raw_put(db, key, kl, val, sizeof val);
}

/* --- whole-directory snapshots (byte-identical checks) ------------------- */

typedef struct snap {
    char *name[64];
    char *data[64];
    long long len[64];
    int n;
} snap;

static void snap_take(const char *dir, snap *s)
{
    memset(s, 0, sizeof *s);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        assert_true(s->n < 64);
        char *path;
        assert_true(asprintf(&path, "%s/%s", dir, e->d_name) > 0);
        long long len = tu_file_size(path);
        assert_true(len >= 0);
        char *buf = malloc((size_t)len + 1);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
        fclose(f);
        free(path);
        s->name[s->n] = strdup(e->d_name);
        s->data[s->n] = buf;
        s->len[s->n++] = len;
    }
    closedir(d);
}

/* Checks dir against a snapshot, then frees both. */
static void snap_same(const char *dir, snap *before)
{
    snap now;
    snap_take(dir, &now);
    assert_int_equal(now.n, before->n);
    for (int i = 0; i < before->n; i++) {
        int found = 0;
        for (int j = 0; j < now.n; j++) {
            if (strcmp(before->name[i], now.name[j]) != 0)
                continue;
            found = 1;
            assert_int_equal(before->len[i], now.len[j]);
            assert_memory_equal(before->data[i], now.data[j], (size_t)now.len[i]);
        }
        if (!found)
            fail_msg("%s disappeared", before->name[i]);
    }
    for (int k = 0; k < 2; k++) {
        snap *s = k ? &now : before;
        for (int i = 0; i < s->n; i++) {
            free(s->name[i]);
            free(s->data[i]);
        }
    }
}

/* --- clean stores ---------------------------------------------------------- */

static void test_clean_store(void **state)
{
    T *t = *state;
    open_fs(t);
    struct stat st;
    /* Hard links, symlink, fifo, xattrs, renames, removals, a truncated
     * block file, an empty file, a file grown sparse. */
    assert_int_equal(fs_link(t->fs, t->file, t->dir, "f-link", &st), 0);
    assert_int_equal(fs_symlink(t->fs, &t->c, t->dir, "sym", "../f", &st), 0);
    assert_int_equal(fs_mknod(t->fs, &t->c, t->sub, "fifo", S_IFIFO | 0600, 0,
                              &st), 0);
    assert_int_equal(fs_setxattr(t->fs, t->file, "user.a", "1", 1, 0), 0);
    assert_int_equal(fs_setxattr(t->fs, t->dir, "user.b", "22", 2, 0), 0);
    assert_int_equal(fs_mkdir(t->fs, &t->c, FS_ROOT_INO, "moved", 0755, &st), 0);
    assert_int_equal(fs_rename(t->fs, FS_ROOT_INO, "moved", t->sub, "here", 0), 0);
    assert_int_equal(fs_mknod(t->fs, &t->c, FS_ROOT_INO, "gone", S_IFREG | 0644,
                              0, &st), 0);
    assert_int_equal(fs_unlink(t->fs, FS_ROOT_INO, "gone"), 0);
    struct stat a;
    memset(&a, 0, sizeof a);
    a.st_size = 70000;
    assert_int_equal(fs_setattr(t->fs, &t->c, t->big, &a, FS_SET_SIZE, NULL), 0);
    assert_int_equal(fs_mknod(t->fs, &t->c, t->sub, "sparse", S_IFREG | 0644, 0,
                              &st), 0);
    assert_int_equal(fs_write(t->fs, st.st_ino, "x", 1, 5 << 20, 0), 1);
    close_fs(t);

    lines l = { 0 };
    fsck_result r;
    assert_int_equal(run_fsck(t->store, 0, &l, &r), FSCK_EXIT_CLEAN);
    assert_int_equal(r.problems, 0);
    assert_true(r.inodes >= 9);
    assert_true(r.directories >= 4);
    assert_true(r.blocks >= 3);
    assert_true(r.xattrs == 2);
    assert_true(r.keys > r.inodes);
    assert_true(l.progress_calls > 0);
    lines_free(&l);
    /* A repair of a clean store changes nothing and says so. */
    assert_int_equal(run_fsck(t->store, FSCK_REPAIR, &l, &r), FSCK_EXIT_CLEAN);
    assert_int_equal(l.n, 0);
    lines_free(&l);
    open_fs(t);
    close_fs(t);
    assert_int_equal(run_fsck(t->store, 0, &l, &r), FSCK_EXIT_CLEAN);
    lines_free(&l);
}

/* --- operational errors ------------------------------------------------------ */

static void test_store_in_use(void **state)
{
    T *t = *state;
    open_fs(t);
    lines l = { 0 };
    fsck_result r;
    char pid[32];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    assert_int_equal(run_fsck(t->store, 0, &l, &r), FSCK_EXIT_ERROR);
    assert_non_null(strstr(r.error, "locked"));
    assert_non_null(strstr(r.error, pid));
    assert_int_equal(run_fsck(t->store, FSCK_REPAIR, &l, &r), FSCK_EXIT_ERROR);
    assert_non_null(strstr(r.error, pid));
    lines_free(&l);
    /* The mount is unaffected. */
    struct stat st;
    assert_int_equal(fs_lookup(t->fs, FS_ROOT_INO, "f", &st), 0);
    fs_forget(t->fs, st.st_ino, 1);
    close_fs(t);
}

static void test_not_a_store(void **state)
{
    T *t = *state;
    lines l = { 0 };
    fsck_result r;
    char *path;
    /* Missing, empty, and a directory of other files. */
    assert_true(asprintf(&path, "%s/missing", t->tmp) > 0);
    assert_int_equal(run_fsck(path, 0, &l, &r), FSCK_EXIT_ERROR);
    assert_int_equal(run_fsck(path, FSCK_REPAIR, &l, &r), FSCK_EXIT_ERROR);
    assert_int_equal(access(path, F_OK), -1);
    free(path);
    assert_true(asprintf(&path, "%s/junk", t->tmp) > 0);
    assert_int_equal(mkdir(path, 0755), 0);
    assert_int_equal(run_fsck(path, FSCK_REPAIR, &l, &r), FSCK_EXIT_ERROR);
    assert_non_null(strstr(r.error, path));
    free(path);
    assert_int_equal(run_fsck("", 0, &l, &r), FSCK_EXIT_ERROR);

    /* A plain lsm store: refused, check or repair, and left as it was. */
    assert_true(asprintf(&path, "%s/plain", t->tmp) > 0);
    lsm_db *db = raw_open(path);
    raw_put(db, "k", 1, "v", 1);
    raw_close(db);
    snap before;
    snap_take(path, &before);
    assert_int_equal(run_fsck(path, 0, &l, &r), FSCK_EXIT_ERROR);
    assert_non_null(strstr(r.error, "is not an lsmfs store"));
    assert_int_equal(run_fsck(path, FSCK_REPAIR, &l, &r), FSCK_EXIT_ERROR);
    assert_non_null(strstr(r.error, "is not an lsmfs store"));
    snap_same(path, &before);
    free(path);

    /* Another format version: refused and untouched. */
    db = raw_open(t->store);
    char key[4], sb[FS_SUPER_BYTES];
    fs_super s = { 3, 65536, 4096, 0, 100, 1, 0 };
    fs_encode_super(sb, &s);
    raw_put(db, key, fs_key_super(key), sb, sizeof sb);
    raw_close(db);
    snap_take(t->store, &before);
    assert_int_equal(run_fsck(t->store, FSCK_REPAIR, &l, &r), FSCK_EXIT_ERROR);
    assert_non_null(strstr(r.error, "has lsmfs format version 3; this lsmfs "
                                    "reads version 2"));
    snap_same(t->store, &before);
    assert_int_equal(l.n, 0);
    lines_free(&l);
}

/* fs_open refuses a plain lsm store and one of another format version
 * without changing a byte of either. */
static void test_fs_open_touches_nothing(void **state)
{
    T *t = *state;
    char *plain;
    assert_true(asprintf(&plain, "%s/plain", t->tmp) > 0);
    lsm_db *db = raw_open(plain);
    raw_put(db, "k", 1, "v", 1);
    raw_close(db);
    snap before;
    snap_take(plain, &before);
    fs_t *fs = NULL;
    assert_int_equal(fs_open(plain, &t->o, &fs), -EINVAL);
    assert_null(fs);
    assert_non_null(strstr(fs_last_error(), "is not an lsmfs store"));
    assert_non_null(strstr(fs_last_error(), plain));
    snap_same(plain, &before);

    /* A bumped version: refused, message names both versions. */
    db = raw_open(t->store);
    char key[4], sb[FS_SUPER_BYTES];
    fs_super s = { FS_FORMAT_VERSION + 1, 65536, 4096, 0, 100, 1, 0 };
    fs_encode_super(sb, &s);
    raw_put(db, key, fs_key_super(key), sb, sizeof sb);
    raw_close(db);
    snap_take(t->store, &before);
    assert_int_equal(fs_open(t->store, &t->o, &fs), -EINVAL);
    assert_null(fs);
    char want[128];
    snprintf(want, sizeof want, "has lsmfs format version %d; this lsmfs reads "
             "version %d", FS_FORMAT_VERSION + 1, FS_FORMAT_VERSION);
    assert_non_null(strstr(fs_last_error(), want));
    snap_same(t->store, &before);

    /* A damaged superblock: refused, untouched. */
    s.version = FS_FORMAT_VERSION;
    fs_encode_super(sb, &s);
    sb[20] ^= 4;
    db = raw_open(t->store);
    raw_put(db, key, fs_key_super(key), sb, sizeof sb);
    raw_close(db);
    snap_take(t->store, &before);
    assert_int_equal(fs_open(t->store, &t->o, &fs), -EINVAL);
    assert_non_null(strstr(fs_last_error(), "is not an lsmfs store"));
    snap_same(t->store, &before);

    /* An empty lsm store is still formatted when creation is allowed,
     * and refused (untouched) when it is not. */
    char *empty;
    assert_true(asprintf(&empty, "%s/empty-lsm", t->tmp) > 0);
    db = raw_open(empty);
    raw_close(db);
    fs_options o = t->o;
    o.create = 0;
    snap_take(empty, &before);
    assert_true(fs_open(empty, &o, &fs) < 0);
    snap_same(empty, &before);
    assert_int_equal(fs_open(empty, &t->o, &fs), 0);
    assert_int_equal(fs_close(fs), 0);
    lines l = { 0 };
    fsck_result r;
    assert_int_equal(run_fsck(empty, 0, &l, &r), FSCK_EXIT_CLEAN);
    lines_free(&l);
    free(empty);
    free(plain);
}

/* --- damage, found and repaired ------------------------------------------------ */

/* Runs check (4, a problem line containing `what`, not a byte of the
 * store changed), repair (1, a fixed line containing it), and check
 * again (0). */
static void find_fix_clean(T *t, const char *what)
{
    lines l = { 0 };
    fsck_result r;
    snap before;
    snap_take(t->store, &before);
    assert_int_equal(run_fsck(t->store, 0, &l, &r), FSCK_EXIT_UNFIXED);
    snap_same(t->store, &before);
    assert_true(r.problems > 0);
    assert_int_equal(r.fixed, 0);
    if (!has_line(&l, FSCK_PROBLEM, what))
        fail_msg("no problem line says '%s'", what);
    lines_free(&l);
    assert_int_equal(run_fsck(t->store, FSCK_REPAIR, &l, &r), FSCK_EXIT_FIXED);
    assert_int_equal(r.fixed, r.problems);
    if (!has_line(&l, FSCK_FIXED, what))
        fail_msg("no fixed line says '%s'", what);
    lines_free(&l);
    assert_int_equal(run_fsck(t->store, 0, &l, &r), FSCK_EXIT_CLEAN);
    assert_int_equal(l.n, 0);
    lines_free(&l);
}

static void test_dangling_entry(void **state)
{
    T *t = *state;
    lsm_db *db = raw_open(t->store);
    raw_put_dirent(db, FS_ROOT_INO, "ghost", 77, DT_REG);
    raw_put_dirent(db, t->dir, "to-root", FS_ROOT_INO, DT_DIR);
    raw_close(db);
    find_fix_clean(t, "entry 'ghost' in directory 1 points at missing inode 77");
    open_fs(t);
    struct stat st;
    assert_int_equal(fs_lookup(t->fs, FS_ROOT_INO, "ghost", &st), -ENOENT);
    assert_int_equal(fs_lookup(t->fs, t->dir, "to-root", &st), -ENOENT);
    assert_int_equal(fs_getattr(t->fs, FS_ROOT_INO, &st), 0);
    assert_int_equal(st.st_size, 3);         /* d, f, big */
    close_fs(t);
}

static void test_wrong_nlink(void **state)
{
    T *t = *state;
    lsm_db *db = raw_open(t->store);
    raw_set_nlink(db, t->file, 5);
    raw_close(db);
    char what[64];
    snprintf(what, sizeof what, "inode %llu (file): link count 5, should be 1",
             (unsigned long long)t->file);
    find_fix_clean(t, what);
    open_fs(t);
    struct stat st;
    assert_int_equal(fs_getattr(t->fs, t->file, &st), 0);
    assert_int_equal(st.st_nlink, 1);
    assert_int_equal(st.st_size, 5);
    char buf[8];
    assert_int_equal(fs_read(t->fs, t->file, buf, sizeof buf, 0), 5);
    assert_memory_equal(buf, "hello", 5);
    close_fs(t);
}

static void test_wrong_dir_nlink_and_size(void **state)
{
    T *t = *state;
    lsm_db *db = raw_open(t->store);
    char *data;
    size_t dlen;
    fs_inode rec = raw_inode(db, t->dir, &data, &dlen);
    rec.nlink = 7;
    rec.size = 9;
    raw_put_inode(db, t->dir, &rec, data, dlen);
    free(data);
    raw_close(db);
    char what[64];
    snprintf(what, sizeof what, "link count 7, should be 3");
    find_fix_clean(t, what);
    open_fs(t);
    struct stat st;
    assert_int_equal(fs_getattr(t->fs, t->dir, &st), 0);
    assert_int_equal(st.st_nlink, 3);        /* ., its entry, e's .. */
    assert_int_equal(st.st_size, 1);
    close_fs(t);
}

static void test_unreachable_inode(void **state)
{
    T *t = *state;
    lsm_db *db = raw_open(t->store);
    fs_inode rec = inline_file(1, 5);
    raw_put_inode(db, 900, &rec, "lost!", 5);
    /* And a directory cut off with a file inside it. */
    fs_inode d;
    memset(&d, 0, sizeof d);
    d.mode = S_IFDIR | 0755;
    d.nlink = 2;
    d.size = 1;
    d.parent = 12345;
    raw_put_inode(db, 901, &d, NULL, 0);
    rec = inline_file(1, 2);
    raw_put_inode(db, 902, &rec, "in", 2);
    raw_put_dirent(db, 901, "inside", 902, DT_REG);
    raw_close(db);
    find_fix_clean(t, "inode 900 (file, link count 1) is in no directory");
    open_fs(t);
    struct stat lf, st;
    assert_int_equal(fs_lookup(t->fs, FS_ROOT_INO, "lost+found", &lf), 0);
    assert_true(S_ISDIR(lf.st_mode));
    assert_int_equal(lf.st_nlink, 3);        /* holds directory 901 */
    assert_int_equal(lf.st_size, 2);
    assert_int_equal(fs_lookup(t->fs, lf.st_ino, "#900", &st), 0);
    assert_int_equal(st.st_ino, 900);
    char buf[8];
    assert_int_equal(fs_read(t->fs, 900, buf, sizeof buf, 0), 5);
    assert_memory_equal(buf, "lost!", 5);
    assert_int_equal(fs_lookup(t->fs, lf.st_ino, "#901", &st), 0);
    assert_int_equal(fs_lookup(t->fs, 901, "inside", &st), 0);
    assert_int_equal(st.st_ino, 902);
    /* New inodes get numbers above everything. */
    assert_int_equal(fs_mknod(t->fs, &t->c, FS_ROOT_INO, "new", S_IFREG | 0644,
                              0, &st), 0);
    assert_true(st.st_ino > lf.st_ino && st.st_ino > 902);
    close_fs(t);
    lines l = { 0 };
    fsck_result r;
    assert_int_equal(run_fsck(t->store, 0, &l, &r), FSCK_EXIT_CLEAN);
    lines_free(&l);
}

static void test_data_past_eof(void **state)
{
    T *t = *state;
    lsm_db *db = raw_open(t->store);
    char key[FS_KEY_MAX];
    char *junk = malloc(65536);
    memset(junk, 'J', 65536);
    raw_put(db, key, fs_key_block(key, t->big, 5), junk, 100);
    raw_put(db, key, fs_key_block(key, t->big, 9), junk, 100);
    /* The last block (1) stored whole: bytes past the size. */
    memcpy(junk, t->bigdata + 65536, BIG_SIZE - 65536);
    raw_put(db, key, fs_key_block(key, t->big, 1), junk, 65536);
    raw_close(db);
    char what[96];
    snprintf(what, sizeof what, "inode %llu: data blocks from block 5 lie past "
             "its size 100000", (unsigned long long)t->big);
    find_fix_clean(t, what);
    db = raw_open(t->store);
    assert_false(raw_exists(db, key, fs_key_block(key, t->big, 5)));
    assert_false(raw_exists(db, key, fs_key_block(key, t->big, 9)));
    void *v;
    size_t vl;
    assert_int_equal(lsm_get(db, NULL, key, fs_key_block(key, t->big, 1), &v, &vl),
                     LSM_OK);
    assert_int_equal(vl, BIG_SIZE - 65536);
    lsm_free(v);
    raw_close(db);
    open_fs(t);
    char *buf = malloc(BIG_SIZE + 10);
    assert_int_equal(fs_read(t->fs, t->big, buf, BIG_SIZE + 10, 0),
                     (ssize_t)BIG_SIZE);
    assert_memory_equal(buf, t->bigdata, BIG_SIZE);
    /* Growing the file shows zeros, not the dropped bytes. */
    struct stat a;
    memset(&a, 0, sizeof a);
    a.st_size = 6 * 65536;
    assert_int_equal(fs_setattr(t->fs, &t->c, t->big, &a, FS_SET_SIZE, NULL), 0);
    assert_int_equal(fs_read(t->fs, t->big, buf, 100, 5 * 65536), 100);
    for (int i = 0; i < 100; i++)
        assert_int_equal(buf[i], 0);
    free(buf);
    free(junk);
    close_fs(t);
}

static void test_orphan_reclaimed(void **state)
{
    T *t = *state;
    lsm_db *db = raw_open(t->store);
    fs_inode rec = inline_file(0, 3);
    raw_put_inode(db, 903, &rec, "abc", 3);
    char key[16];
    raw_put(db, key, fs_key_orphan(key, 903), "", 0);
    /* As a crash leaves it: the store not closed cleanly. */
    char sb[FS_SUPER_BYTES];
    fs_super s = { FS_FORMAT_VERSION, 65536, 4096, 0, 2 + 2 * 4096, 0, 0 };
    fs_encode_super(sb, &s);
    raw_put(db, key, fs_key_super(key), sb, sizeof sb);
    raw_close(db);
    /* A pending orphan is not a problem... */
    lines l = { 0 };
    fsck_result r;
    assert_int_equal(run_fsck(t->store, 0, &l, &r), FSCK_EXIT_CLEAN);
    assert_int_equal(r.orphans, 1);
    assert_true(has_line(&l, FSCK_INFO, "inode 903: orphan"));
    lines_free(&l);
    /* ...but a repair reclaims it, and says so. */
    assert_int_equal(run_fsck(t->store, FSCK_REPAIR, &l, &r), FSCK_EXIT_FIXED);
    assert_true(has_line(&l, FSCK_FIXED, "inode 903: orphan (unlinked while "
                                         "open): reclaimed"));
    lines_free(&l);
    db = raw_open(t->store);
    assert_false(raw_exists(db, key, fs_key_inode(key, 903)));
    assert_false(raw_exists(db, key, fs_key_orphan(key, 903)));
    raw_close(db);
    assert_int_equal(run_fsck(t->store, 0, &l, &r), FSCK_EXIT_CLEAN);
    assert_int_equal(l.n, 0);
    lines_free(&l);
}

static void test_orphan_key_of_linked_inode(void **state)
{
    T *t = *state;
    lsm_db *db = raw_open(t->store);
    char key[16];
    raw_put(db, key, fs_key_orphan(key, t->file), "", 0);
    raw_put(db, key, fs_key_orphan(key, 4444), "", 0);
    raw_close(db);
    char what[64];
    snprintf(what, sizeof what, "inode %llu is linked but on the orphan list",
             (unsigned long long)t->file);
    find_fix_clean(t, what);
    /* The mount must not reclaim the linked file. */
    open_fs(t);
    close_fs(t);
    open_fs(t);
    struct stat st;
    assert_int_equal(fs_getattr(t->fs, t->file, &st), 0);
    close_fs(t);
}

static void test_stray_records_and_counts(void **state)
{
    T *t = *state;
    lsm_db *db = raw_open(t->store);
    char key[FS_KEY_MAX];
    raw_put(db, key, fs_key_xattr(key, 555, "user.a", 6), "v", 1);
    raw_put(db, key, fs_key_block(key, 556, 0), "data", 4);
    raw_put(db, key, fs_key_block(key, t->file, 0), "data", 4);   /* inline file */
    raw_put(db, "Zzz", 3, "?", 1);                                  /* unknown kind */
    /* An xattr the inode's count does not know about. */
    raw_put(db, key, fs_key_xattr(key, t->file, "user.x", 6), "1", 1);
    /* Entry type that disagrees with the inode. */
    raw_put_dirent(db, FS_ROOT_INO, "f", t->file, DT_DIR);
    raw_close(db);
    find_fix_clean(t, "xattrs of missing inode 555");
    open_fs(t);
    char buf[8];
    assert_int_equal(fs_getxattr(t->fs, t->file, "user.x", buf, sizeof buf), 1);
    struct stat st;
    assert_int_equal(fs_lookup(t->fs, FS_ROOT_INO, "f", &st), 0);
    assert_true(S_ISREG(st.st_mode));
    fs_forget(t->fs, st.st_ino, 1);
    close_fs(t);
}

static void test_bad_records(void **state)
{
    T *t = *state;
    lsm_db *db = raw_open(t->store);
    char key[FS_KEY_MAX];
    raw_put(db, key, fs_key_inode(key, 950), "garbage!!!", 10);
    raw_put(db, "I\0\0", 3, "x", 1);                        /* short key */
    size_t kl = fs_key_dirent(key, FS_ROOT_INO, "badval", 6);
    raw_put(db, key, kl, "\1\0", 2);                          /* 2-byte value */
    kl = fs_key_dirent(key, FS_ROOT_INO, "badhash", 7);
    key[10] ^= 1;                                              /* hash no longer the name's */
    raw_put(db, key, kl, "123456789", 9);
    raw_put(db, key, fs_key_orphan(key, 5) - 1, "", 0);         /* 8-byte orphan key */
    raw_close(db);
    find_fix_clean(t, "inode 950: the record does not decode (10 bytes)");
    lines l = { 0 };
    fsck_result r;
    assert_int_equal(run_fsck(t->store, 0, &l, &r), FSCK_EXIT_CLEAN);
    lines_free(&l);
    open_fs(t);
    struct stat st;
    assert_int_equal(fs_getattr(t->fs, FS_ROOT_INO, &st), 0);
    assert_int_equal(st.st_size, 3);
    assert_int_equal(st.st_nlink, 3);
    close_fs(t);
}

static void test_counter_too_low(void **state)
{
    T *t = *state;
    lsm_db *db = raw_open(t->store);
    char key[4], sb[FS_SUPER_BYTES];
    fs_super s = { FS_FORMAT_VERSION, 65536, 4096, FS_SUPER_CLEAN, 3, 5, 0 };
    fs_encode_super(sb, &s);
    raw_put(db, key, fs_key_super(key), sb, sizeof sb);
    raw_close(db);
    find_fix_clean(t, "superblock: next inode number 3 is not above inode");
    open_fs(t);
    struct stat st;
    assert_int_equal(fs_mknod(t->fs, &t->c, FS_ROOT_INO, "n", S_IFREG | 0644, 0,
                              &st), 0);
    assert_true(st.st_ino > t->big);
    close_fs(t);
}

/* The superblock's sum of fallocate reservations disagrees with the
 * inode records (none here): corrected. */
static void test_resv_sum_wrong(void **state)
{
    T *t = *state;
    lsm_db *db = raw_open(t->store);
    char key[4], sb[FS_SUPER_BYTES];
    void *val;
    size_t vlen;
    assert_int_equal(lsm_get(db, NULL, key, fs_key_super(key), &val, &vlen), LSM_OK);
    fs_super s;
    assert_int_equal(fs_decode_super(val, vlen, &s), 0);
    lsm_free(val);
    assert_true(s.flags & FS_SUPER_CLEAN);
    s.resv_bytes = 12345;
    fs_encode_super(sb, &s);
    raw_put(db, key, fs_key_super(key), sb, sizeof sb);
    raw_close(db);
    find_fix_clean(t, "superblock: fallocate reservations sum to 12345, the "
                      "inodes hold 0");
}

static void test_directory_cycle(void **state)
{
    T *t = *state;
    /* Cut d off from the root and hang it under its own child e. */
    lsm_db *db = raw_open(t->store);
    char key[FS_KEY_MAX];
    raw_del(db, key, fs_key_dirent(key, FS_ROOT_INO, "d", 1));
    raw_put_dirent(db, t->sub, "d-again", t->dir, DT_DIR);
    char *data;
    size_t dlen;
    fs_inode rec = raw_inode(db, t->dir, &data, &dlen);
    rec.parent = t->sub;
    raw_put_inode(db, t->dir, &rec, data, dlen);
    free(data);
    raw_close(db);
    find_fix_clean(t, "is in a cycle of directories cut off from the root");
    open_fs(t);
    struct stat lf, st;
    assert_int_equal(fs_lookup(t->fs, FS_ROOT_INO, "lost+found", &lf), 0);
    char name[32];
    snprintf(name, sizeof name, "#%llu", (unsigned long long)t->dir);
    int a = fs_lookup(t->fs, lf.st_ino, name, &st);
    snprintf(name, sizeof name, "#%llu", (unsigned long long)t->sub);
    int b = fs_lookup(t->fs, lf.st_ino, name, &st);
    assert_true((a == 0) != (b == 0));
    close_fs(t);
}

static void test_missing_root(void **state)
{
    T *t = *state;
    lsm_db *db = raw_open(t->store);
    char key[16];
    raw_del(db, key, fs_key_inode(key, FS_ROOT_INO));
    raw_close(db);
    find_fix_clean(t, "the root directory (inode 1) is missing");
    open_fs(t);
    struct stat st;
    assert_int_equal(fs_getattr(t->fs, FS_ROOT_INO, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(fs_lookup(t->fs, FS_ROOT_INO, "big", &st), 0);
    close_fs(t);
}

/* --- unreadable data ------------------------------------------------------------ */

/* A data block of /big unreadable, and a wrong link count on /f, whose
 * inode record sorts after the damage: the check names the damaged table
 * and the file, and still finds the link count; the repair drops the
 * block (the file's bytes there read as zeros), fixes both, and a second
 * check is clean. */
static void test_corrupt_table(void **state)
{
    T *t = *state;
    lsm_db *db = raw_open(t->store);
    raw_set_nlink(db, t->file, 5);
    assert_int_equal(lsm_flush(db), LSM_OK);
    raw_close(db);
    char *sst = tu_find_file(t->store, ".sst");
    assert_non_null(sst);
    assert_int_equal(tu_flip_byte(sst, 200, 0x10), 0);
    const char *name = strrchr(sst, '/') + 1;
    lines l = { 0 };
    fsck_result r;
    snap before;
    snap_take(t->store, &before);
    assert_int_equal(run_fsck(t->store, 0, &l, &r), FSCK_EXIT_UNFIXED);
    snap_same(t->store, &before);
    assert_true(has_line(&l, FSCK_PROBLEM, name));
    assert_true(has_line(&l, FSCK_PROBLEM, "lost keys from data block 0 of inode"));
    assert_true(has_line(&l, FSCK_PROBLEM, "file /big"));
    assert_true(has_line(&l, FSCK_PROBLEM, "link count 5"));
    assert_int_equal(r.fixed, 0);
    lines_free(&l);

    assert_int_equal(run_fsck(t->store, FSCK_REPAIR, &l, &r), FSCK_EXIT_FIXED);
    assert_int_equal(r.fixed, r.problems);
    assert_true(has_line(&l, FSCK_FIXED, name));
    assert_true(has_line(&l, FSCK_FIXED, "file /big"));
    assert_true(has_line(&l, FSCK_FIXED, "now read as zeros"));
    assert_true(has_line(&l, FSCK_FIXED, "link count 5"));
    lines_free(&l);
    assert_int_equal(run_fsck(t->store, 0, &l, &r), FSCK_EXIT_CLEAN);
    assert_int_equal(l.n, 0);
    lines_free(&l);

    /* Every 64 KiB block of /big reads back exactly or as zeros. */
    open_fs(t);
    char *buf = malloc(BIG_SIZE);
    assert_non_null(buf);
    assert_int_equal(fs_read(t->fs, t->big, buf, BIG_SIZE, 0), (ssize_t)BIG_SIZE);
    int zero_blocks = 0;
    for (size_t off = 0; off < BIG_SIZE; off += 65536) {
        size_t n = BIG_SIZE - off < 65536 ? BIG_SIZE - off : 65536;
        if (memcmp(buf + off, t->bigdata + off, n) == 0)
            continue;
        for (size_t i = 0; i < n; i++)
            assert_int_equal(buf[off + i], 0);
        zero_blocks++;
    }
    assert_int_equal(zero_blocks, 1);
    assert_int_equal(fs_read(t->fs, t->file, buf, 5, 0), 5);
    assert_memory_equal(buf, "hello", 5);
    free(buf);
    close_fs(t);
    free(sst);
}

/* 300 small files; the table block holding some of their inode records
 * unreadable.  The check names the lost records; the repair drops them,
 * then removes the entries left pointing at nothing, and a second check
 * is clean: every file reads back or is gone, none reads wrong. */
#define NSMALL 300
static void test_lost_inode_records(void **state)
{
    T *t = *state;
    open_fs(t);
    assert_int_equal(fs_unlink(t->fs, FS_ROOT_INO, "big"), 0);
    for (int i = 0; i < NSMALL; i++) {
        char name[16], data[32];
        struct stat st;
        snprintf(name, sizeof name, "n%03d", i);
        int n = snprintf(data, sizeof data, "content %d", i);
        assert_int_equal(fs_mknod(t->fs, &t->c, FS_ROOT_INO, name,
                                  S_IFREG | 0644, 0, &st), 0);
        assert_int_equal(fs_write(t->fs, st.st_ino, data, (size_t)n, 0, 0), n);
    }
    close_fs(t);
    lsm_db *db = raw_open(t->store);
    assert_int_equal(lsm_compact(db), LSM_OK);
    raw_close(db);
    assert_int_equal(tu_count_files(t->store, ".sst"), 1);
    char *sst = tu_find_file(t->store, ".sst");
    assert_non_null(sst);
    /* Entries, then inode records, then the superblock: two thirds in
     * lies among the inode records. */
    assert_int_equal(tu_flip_byte(sst, tu_table_data_end(sst) * 2 / 3, 0x40), 0);
    free(sst);

    lines l = { 0 };
    fsck_result r;
    assert_int_equal(run_fsck(t->store, 0, &l, &r), FSCK_EXIT_UNFIXED);
    assert_true(has_line(&l, FSCK_PROBLEM, "lost keys after the record of inode"));
    lines_free(&l);
    assert_int_equal(run_fsck(t->store, FSCK_REPAIR, &l, &r), FSCK_EXIT_FIXED);
    assert_int_equal(r.fixed, r.problems);
    assert_true(has_line(&l, FSCK_FIXED, "points at missing inode"));
    lines_free(&l);
    assert_int_equal(run_fsck(t->store, 0, &l, &r), FSCK_EXIT_CLEAN);
    lines_free(&l);

    open_fs(t);
    int gone = 0;
    for (int i = 0; i < NSMALL; i++) {
        char name[16], want[32], got[32];
        struct stat st;
        snprintf(name, sizeof name, "n%03d", i);
        int n = snprintf(want, sizeof want, "content %d", i);
        int rc = fs_lookup(t->fs, FS_ROOT_INO, name, &st);
        if (rc == -ENOENT) {
            gone++;
            continue;
        }
        assert_int_equal(rc, 0);
        assert_int_equal(fs_read(t->fs, st.st_ino, got, sizeof got, 0), n);
        assert_memory_equal(got, want, (size_t)n);
    }
    assert_true(gone > 0 && gone < NSMALL);
    assert_int_equal(fs_read(t->fs, t->file, (char[8]){ 0 }, 5, 0), 5);
    close_fs(t);
}

/* /big rewritten with its blocks in a blob file (blob_min), the store
 * flushed; returns the blob file's path. */
static char *big_in_blob(T *t)
{
    fs_options o = t->o;
    o.lsm.blob_min_bytes = 1024;
    assert_int_equal(fs_open(t->store, &o, &t->fs), 0);
    assert_int_equal(fs_write(t->fs, t->big, t->bigdata, BIG_SIZE, 0, 0),
                     (ssize_t)BIG_SIZE);
    close_fs(t);
    lsm_db *db = raw_open(t->store);
    assert_int_equal(lsm_compact(db), LSM_OK);   /* the WAL names no blob */
    raw_close(db);
    assert_int_equal(tu_count_files(t->store, ".blob"), 1);
    char *blob = tu_find_file(t->store, ".blob");
    assert_non_null(blob);
    return blob;
}

/* Check, repair, check: the damaged or missing blob value is named with
 * its file, the repair drops it (the block reads as zeros) and a second
 * check is clean; /big reads back but for the lost blocks. */
static void blob_loss_found_and_repaired(T *t, int lost_blocks)
{
    lines l = { 0 };
    fsck_result r;
    snap before;
    snap_take(t->store, &before);
    assert_int_equal(run_fsck(t->store, 0, &l, &r), FSCK_EXIT_UNFIXED);
    snap_same(t->store, &before);
    assert_true(has_line(&l, FSCK_PROBLEM, "blob value"));
    assert_true(has_line(&l, FSCK_PROBLEM, "lost the value of data block"));
    assert_true(has_line(&l, FSCK_PROBLEM, "file /big"));
    lines_free(&l);
    assert_int_equal(run_fsck(t->store, FSCK_REPAIR, &l, &r), FSCK_EXIT_FIXED);
    assert_int_equal(r.fixed, r.problems);
    assert_true(has_line(&l, FSCK_FIXED, "file /big"));
    lines_free(&l);
    assert_int_equal(run_fsck(t->store, 0, &l, &r), FSCK_EXIT_CLEAN);
    assert_int_equal(l.n, 0);
    lines_free(&l);
    open_fs(t);
    char *buf = malloc(BIG_SIZE);
    assert_non_null(buf);
    assert_int_equal(fs_read(t->fs, t->big, buf, BIG_SIZE, 0), (ssize_t)BIG_SIZE);
    int zero_blocks = 0;
    for (size_t off = 0; off < BIG_SIZE; off += 65536) {
        size_t n = BIG_SIZE - off < 65536 ? BIG_SIZE - off : 65536;
        if (memcmp(buf + off, t->bigdata + off, n) == 0)
            continue;
        for (size_t i = 0; i < n; i++)
            assert_int_equal(buf[off + i], 0);
        zero_blocks++;
    }
    assert_int_equal(zero_blocks, lost_blocks);
    free(buf);
    close_fs(t);
}

/* One byte of a blob value flipped: reads of that block fail (EIO), the
 * check names the blob file and the file, the repair drops the value. */
static void test_damaged_blob(void **state)
{
    T *t = *state;
    char *blob = big_in_blob(t);
    assert_int_equal(tu_flip_byte(blob, 8 + 8 + 100, 0x20), 0);  /* record 1 */
    free(blob);
    open_fs(t);
    char buf[64];
    assert_int_equal(fs_read(t->fs, t->big, buf, sizeof buf, 0), -EIO);
    close_fs(t);
    blob_loss_found_and_repaired(t, 1);
}

/* The blob file deleted: every value in it is lost, found and dropped. */
static void test_missing_blob_file(void **state)
{
    T *t = *state;
    char *blob = big_in_blob(t);
    assert_int_equal(unlink(blob), 0);
    free(blob);
    blob_loss_found_and_repaired(t, 2);
}

static void test_corrupt_wal(void **state)
{
    T *t = *state;
    char *log = tu_find_file(t->store, ".log");
    assert_non_null(log);
    long long size = tu_nonzero_end(log);   /* its records, not the zeros past them */
    assert_true(size > 4096);
    assert_int_equal(tu_flip_byte(log, size / 3, 0x01), 0);
    snap before;
    snap_take(t->store, &before);
    lines l = { 0 };
    fsck_result r;
    assert_int_equal(run_fsck(t->store, 0, &l, &r), FSCK_EXIT_UNFIXED);
    assert_true(has_line(&l, FSCK_PROBLEM, "cannot be opened"));
    snap_same(t->store, &before);        /* (frees before) */
    lines_free(&l);
    snap_take(t->store, &before);
    assert_int_equal(run_fsck(t->store, FSCK_REPAIR, &l, &r), FSCK_EXIT_UNFIXED);
    assert_int_equal(r.fixed, 0);
    snap_same(t->store, &before);
    lines_free(&l);
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_clean_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_in_use, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fs_open_touches_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dangling_entry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_nlink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_dir_nlink_and_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreachable_inode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data_past_eof, setup, teardown),
        cmocka_unit_test_setup_teardown(test_orphan_reclaimed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_orphan_key_of_linked_inode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stray_records_and_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counter_too_low, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resv_sum_wrong, setup, teardown),
        cmocka_unit_test_setup_teardown(test_directory_cycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_root, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_inode_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_wal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_blob, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_blob_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
