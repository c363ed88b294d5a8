/*
 * make_seeds.c — writes the committed seed corpora of the fuzz targets:
 *
 *   make_seeds OUTDIR
 *
 * creates OUTDIR/<target>/<name> for each target, every file written by
 * the engine's own encoders, so each seed is a real, valid input that the
 * fuzzer then mutates:
 *   fuzz_wal_reader  logs written by the WAL writer (batches, a record
 *                    split across two blocks, a torn tail, a zero tail,
 *                    damage before a valid record),
 *                    and the WAL of a real store
 *   fuzz_batch       encoded batches (puts, deletes, range deletes)
 *   fuzz_table       tables from the table builder under several option
 *                    sets (raw / zstd, bloom on / off, restart intervals,
 *                    range deletions, empty), and one flushed by a store
 *   fuzz_manifest    manifests: hand-made edit logs and a real store's
 *                    manifest after flushes and a compaction; one bare
 *                    edit (for the direct decoder)
 *   fuzz_fs_records  (with -DHAVE_FS_LAYOUT) every fs/layout.h record
 *
 * The real store is created in a temporary directory that is removed
 * afterwards.  Run by `scripts/fuzz seeds`; the output is deterministic
 * except for the real store's files.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_mem.h"
#include "ikey.h"
#include "lsm.h"
#include "table.h"
#include "version.h"
#include "wal.h"
#include "write_batch.h"
#ifdef HAVE_FS_LAYOUT
#include "layout.h"
#endif

static const char *outdir;

static void die(const char *what)
{
    fprintf(stderr, "make_seeds: %s: %s\n", what, lsm_last_error());
    exit(1);
}

static void must(int rc, const char *what)
{
    if (rc != LSM_OK)
        die(what);
}

static void write_seed(const char *target, const char *name, const void *p,
                       size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", outdir, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof path, "%s/%s/%s", outdir, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static char *read_whole(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0, got;
    do {
        if (cap - len < 4096) {
            cap = cap ? 2 * cap : 8192;
            if (!(buf = realloc(buf, cap)))
                die("out of memory");
        }
        got = fread(buf + len, 1, cap - len, f);
        len += got;
    } while (got > 0);
    fclose(f);
    *n = len;
    return buf;
}

/* ---- batches ------------------------------------------------------------ */

static lsm_batch *batch_mixed(uint64_t seq, int n)
{
    lsm_batch *b = lsm_batch_new();
    if (!b)
        die("batch");
    lsm_batch_set_seq(b, seq);
    char k[32], v[64];
    for (int i = 0; i < n; i++) {
        int kl = snprintf(k, sizeof k, "key%04d", i);
        int vl = snprintf(v, sizeof v, "value-%d-%.*s", i, i % 20,
                          "xxxxxxxxxxxxxxxxxxxx");
        if (i % 5 == 3)
            must(lsm_batch_delete(b, k, (size_t)kl), "batch delete");
        else
            must(lsm_batch_put(b, k, (size_t)kl, v, (size_t)vl), "batch put");
    }
    must(lsm_batch_delete_range(b, "key0002", 7, "key0004", 7), "range");
    return b;
}

static void make_batch_seeds(void)
{
    const char *t = "fuzz_batch";
    lsm_batch *b = lsm_batch_new();
    if (!b)
        die("batch");
    write_seed(t, "empty", b->rep.data, b->rep.len);

    lsm_batch_set_seq(b, 1);
    must(lsm_batch_put(b, "a", 1, "1", 1), "put");
    write_seed(t, "one_put", b->rep.data, b->rep.len);

    lsm_batch_clear(b);
    lsm_batch_set_seq(b, 77);
    must(lsm_batch_put(b, "", 0, "", 0), "put");
    must(lsm_batch_delete(b, "", 0), "delete");
    must(lsm_batch_put(b, "\x00\xff\x80", 3, "\x01\x02", 2), "put");
    must(lsm_batch_delete(b, "\x00\xff\x80", 3), "delete");
    write_seed(t, "binary_keys", b->rep.data, b->rep.len);

    lsm_batch_clear(b);
    lsm_batch_set_seq(b, 1000);
    must(lsm_batch_delete_range(b, "a", 1, "m", 1), "range");
    must(lsm_batch_delete_range(b, "b", 1, "c", 1), "range");
    must(lsm_batch_put(b, "b", 1, "still here?", 11), "put");
    write_seed(t, "range_dels", b->rep.data, b->rep.len);

    lsm_batch_clear(b);
    lsm_batch_set_seq(b, LSM_MAX_SEQ - 2);
    must(lsm_batch_put(b, "x", 1, "y", 1), "put");
    must(lsm_batch_put(b, "x", 1, "z", 1), "put");
    must(lsm_batch_delete(b, "x", 1), "delete");
    write_seed(t, "max_seq", b->rep.data, b->rep.len);
    lsm_batch_free(b);

    b = batch_mixed(5, 40);
    write_seed(t, "mixed", b->rep.data, b->rep.len);
    lsm_batch_free(b);
}

/* ---- logs --------------------------------------------------------------- */

/* Writes records (slices) as a log; returns the memfile holding it. */
static memfile *write_log(const lsm_slice *recs, int n)
{
    memfile *m = memfile_new(1);
    lsm_wal_writer *w;
    if (!m)
        die("out of memory");
    must(lsm_wal_writer_new(&m->base, 0, &w), "wal writer");
    for (int i = 0; i < n; i++)
        must(lsm_wal_append(w, recs[i]), "wal append");
    must(lsm_wal_writer_close(w), "wal close");
    return m;
}

static void make_wal_seeds(void)
{
    const char *t = "fuzz_wal_reader";
    lsm_batch *b[4];
    lsm_slice recs[4];
    for (int i = 0; i < 4; i++) {
        b[i] = batch_mixed(1 + 100 * (uint64_t)i, 2 + 3 * i);
        recs[i] = lsm_buf_slice(&b[i]->rep);
    }
    memfile *m = write_log(recs, 4);
    write_seed(t, "batches", m->data, m->len);
    /* Torn tail: the last record cut in the middle. */
    write_seed(t, "torn_tail", m->data, m->len - 9);
    /* Preallocated space after the last record. */
    char *z = calloc(1, m->len + 600);
    if (!z)
        die("out of memory");
    memcpy(z, m->data, m->len);
    write_seed(t, "zero_tail", z, m->len + 600);
    free(z);
    memfile_free(m);

    /* An empty record and a tiny one. */
    lsm_slice small[2] = { lsm_slice_make("", 0), lsm_slice_make("x", 1) };
    m = write_log(small, 2);
    write_seed(t, "tiny_records", m->data, m->len);
    memfile_free(m);

    /* One record split across the first block boundary (FIRST, LAST),
     * then a small one. */
    size_t big = LSM_WAL_BLOCK + 200;
    char *p = malloc(big);
    if (!p)
        die("out of memory");
    for (size_t i = 0; i < big; i++)
        p[i] = (char)('a' + i % 26);
    lsm_slice two[2] = { lsm_slice_make(p, big), recs[0] };
    m = write_log(two, 2);
    write_seed(t, "split_record", m->data, m->len);
    /* Damage before a valid record: the FIRST fragment's payload flipped,
     * so its LAST fragment is an orphan and the small record after it is
     * read past damage. */
    m->data[LSM_WAL_HEADER + 100] ^= 0x20;
    write_seed(t, "mid_damage", m->data, m->len);
    memfile_free(m);
    free(p);
    for (int i = 0; i < 4; i++)
        lsm_batch_free(b[i]);
}

/* ---- tables ------------------------------------------------------------- */

static void add_point(lsm_table_builder *tb, const char *k, uint64_t seq,
                      int kind, const char *v)
{
    lsm_buf ik = { 0 };
    must(lsm_ikey_append(&ik, lsm_slice_make(k, strlen(k)), seq, kind),
         "ikey");
    must(lsm_table_builder_add(tb, lsm_buf_slice(&ik),
                               lsm_slice_make(v, strlen(v))), "table add");
    lsm_buf_free(&ik);
}

typedef struct table_spec {
    const char *name;
    size_t block_bytes;
    int restart, bloom, compression, nkeys, nrdels;
} table_spec;

static void make_table(const table_spec *s)
{
    memfile *m = memfile_new(1);
    if (!m)
        die("out of memory");
    lsm_table_options o = { s->block_bytes, s->restart, s->bloom,
                            s->compression, 1 };
    lsm_table_builder *tb = lsm_table_builder_new(&m->base, &o);
    if (!tb)
        die("table builder");
    char k[32], v[96];
    for (int i = 0; i < s->nkeys; i++) {
        snprintf(k, sizeof k, "k%05d", i * 7);
        snprintf(v, sizeof v, "value %d abcabcabcabcabcabcabcabc", i);
        /* Two versions of every fourth key: a newer delete first. */
        if (i % 4 == 1)
            add_point(tb, k, 1000 + (uint64_t)i, LSM_KIND_DELETE, "");
        add_point(tb, k, 10 + (uint64_t)i, LSM_KIND_PUT, v);
    }
    for (int i = 0; i < s->nrdels; i++) {
        snprintf(k, sizeof k, "k%05d", i * 30);
        snprintf(v, sizeof v, "k%05d", i * 30 + 12);
        must(lsm_table_builder_add_range_del(tb, lsm_slice_make(k, strlen(k)),
                                             lsm_slice_make(v, strlen(v)),
                                             500 + (uint64_t)i), "range del");
    }
    uint64_t size;
    must(lsm_table_builder_finish(tb, &size), "table finish");
    lsm_table_builder_free(tb);
    write_seed("fuzz_table", s->name, m->data, m->len);
    memfile_free(m);
}

static void make_table_seeds(void)
{
    static const table_spec specs[] = {
        { "tiny_raw", 4096, 16, 0, LSM_COMPRESS_NONE, 3, 0 },
        { "bloom_rdel_raw", 256, 4, 10, LSM_COMPRESS_NONE, 60, 3 },
        { "zstd_blocks", 512, 8, 10, LSM_COMPRESS_ZSTD, 120, 2 },
        { "restart1", 128, 1, 6, LSM_COMPRESS_NONE, 20, 1 },
        { "only_rdels", 4096, 16, 10, LSM_COMPRESS_NONE, 0, 4 },
        { "empty", 4096, 16, 10, LSM_COMPRESS_ZSTD, 0, 0 },
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        make_table(&specs[i]);
}

/* ---- manifests ---------------------------------------------------------- */

static void add_file(lsm_version_edit *e, int level, uint64_t number,
                     const char *lo, const char *hi)
{
    lsm_buf a = { 0 }, b = { 0 };
    must(lsm_ikey_append(&a, lsm_slice_make(lo, strlen(lo)), 90, LSM_KIND_PUT),
         "ikey");
    must(lsm_ikey_append(&b, lsm_slice_make(hi, strlen(hi)), 3,
                         LSM_KIND_DELETE), "ikey");
    must(lsm_edit_add_file(e, level, number, 4096 * number, 10 * number,
                           lsm_buf_slice(&a), lsm_buf_slice(&b)), "add file");
    lsm_buf_free(&a);
    lsm_buf_free(&b);
}

static void encode_into(const lsm_version_edit *e, lsm_buf *out)
{
    lsm_buf_clear(out);
    must(lsm_edit_encode(e, out), "edit encode");
}

static void make_manifest_seeds(void)
{
    const char *t = "fuzz_manifest";
    lsm_buf rec[3] = { { 0 }, { 0 }, { 0 } };
    lsm_version_edit e;

    /* A new store's first manifest: comparator, counters. */
    lsm_edit_init(&e);
    e.has_comparator = 1;
    strcpy(e.comparator, "lsm.bytewise");
    e.has_log_number = e.has_next_file = e.has_last_seq = 1;
    e.log_number = 0;
    e.next_file = 3;
    e.last_seq = 0;
    encode_into(&e, &rec[0]);
    lsm_edit_free(&e);

    /* Flushes into level 0, then a compaction into level 1. */
    lsm_edit_init(&e);
    e.has_log_number = e.has_next_file = e.has_last_seq = 1;
    e.log_number = 4;
    e.next_file = 9;
    e.last_seq = 120;
    add_file(&e, 0, 5, "apple", "melon");
    add_file(&e, 0, 6, "banana", "zebra");
    encode_into(&e, &rec[1]);
    write_seed(t, "bare_edit", rec[1].data, rec[1].len);
    lsm_edit_free(&e);

    lsm_edit_init(&e);
    e.has_next_file = e.has_last_seq = 1;
    e.next_file = 12;
    e.last_seq = 130;
    must(lsm_edit_delete_file(&e, 0, 5), "delete file");
    must(lsm_edit_delete_file(&e, 0, 6), "delete file");
    add_file(&e, 1, 10, "apple", "kiwi");
    add_file(&e, 1, 11, "lemon", "zebra");
    add_file(&e, 6, 7, "", "\xff");
    encode_into(&e, &rec[2]);
    lsm_edit_free(&e);

    lsm_slice s[3] = { lsm_buf_slice(&rec[0]), lsm_buf_slice(&rec[1]),
                       lsm_buf_slice(&rec[2]) };
    memfile *m = write_log(s, 3);
    write_seed(t, "flush_compact", m->data, m->len);
    write_seed(t, "torn_tail", m->data, m->len - 5);
    memfile_free(m);
    m = write_log(s, 1);
    write_seed(t, "new_store", m->data, m->len);
    memfile_free(m);
    for (int i = 0; i < 3; i++)
        lsm_buf_free(&rec[i]);
}

/* ---- a real store ------------------------------------------------------- */

static void put(lsm_db *db, const char *k, const char *v)
{
    must(lsm_put(db, k, strlen(k), v, strlen(v), 0), "put");
}

/* Copies the store's smallest .sst, its manifest and its newest .log. */
static void harvest(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        die("opendir");
    struct dirent *de;
    char path[4096], best_sst[4096] = "", best_log[4096] = "";
    size_t best_sst_size = (size_t)-1;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        size_t len = strlen(nm);
        snprintf(path, sizeof path, "%s/%s", dir, nm);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (len > 4 && strcmp(nm + len - 4, ".sst") == 0 &&
            (size_t)st.st_size < best_sst_size && st.st_size > 0) {
            best_sst_size = (size_t)st.st_size;
            snprintf(best_sst, sizeof best_sst, "%s", path);
        } else if (len > 4 && strcmp(nm + len - 4, ".log") == 0 &&
                   st.st_size > 0 && strcmp(path, best_log) > 0) {
            snprintf(best_log, sizeof best_log, "%s", path);
        } else if (strncmp(nm, "MANIFEST-", 9) == 0) {
            size_t n;
            char *data = read_whole(path, &n);
            if (data)
                write_seed("fuzz_manifest", "real_store", data, n);
            free(data);
        }
    }
    closedir(d);
    const char *pick[2][3] = { { best_sst, "fuzz_table", "real_store" },
                               { best_log, "fuzz_wal_reader", "real_store" } };
    for (int i = 0; i < 2; i++) {
        size_t n = 0;
        char *data = pick[i][0][0] ? read_whole(pick[i][0], &n) : NULL;
        if (!data)
            die(pick[i][0][0] ? pick[i][0] : "no file to harvest");
        write_seed(pick[i][1], pick[i][2], data, n);
        free(data);
    }
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    char path[4096];
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static void make_store_seeds(void)
{
    char dir[] = "/tmp/lsm_seeds_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    lsm_options o;
    lsm_options_init(&o);
    o.block_bytes = 512;
    o.block_restart_interval = 4;
    lsm_db *db;
    must(lsm_open(dir, &o, &db), "open store");
    char k[32], v[64];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 40; i++) {
            snprintf(k, sizeof k, "user%03d", (i * 37 + round) % 100);
            snprintf(v, sizeof v, "round %d value %d", round, i);
            put(db, k, v);
        }
        must(lsm_delete(db, "user005", 7, 0), "delete");
        must(lsm_delete_range(db, "user050", 7, "user060", 7, 0), "range");
        must(lsm_flush(db), "flush");
    }
    must(lsm_compact(db), "compact");
    /* Unflushed writes, so the WAL holds records at close. */
    for (int i = 0; i < 10; i++) {
        snprintf(k, sizeof k, "late%02d", i);
        put(db, k, "in the log only");
    }
    must(lsm_delete_range(db, "late03", 6, "late05", 6, 0), "range");
    must(lsm_close(db), "close store");
    harvest(dir);
    remove_tree(dir);
}

/* ---- filesystem records ------------------------------------------------- */

#ifdef HAVE_FS_LAYOUT
static void make_fs_seeds(void)
{
    const char *t = "fuzz_fs_records";
    char buf[FS_KEY_MAX + 512];
    write_seed(t, "key_inode", buf, fs_key_inode(buf, 12345));
    write_seed(t, "key_orphan", buf, fs_key_orphan(buf, 77));
    write_seed(t, "key_block", buf, fs_key_block(buf, 12345, 3));
    write_seed(t, "key_dirent", buf, fs_key_dirent(buf, 1, "hello.txt", 9));
    write_seed(t, "key_xattr", buf, fs_key_xattr(buf, 9, "user.comment", 12));
    fs_encode_dirent_value(buf, 12345, DT_REG);
    write_seed(t, "dirent_value", buf, FS_DIRENT_VALUE_BYTES);

    fs_super s = { FS_FORMAT_VERSION, 4096, 2048, FS_SUPER_CLEAN, 100, 42, 0 };
    fs_encode_super(buf, &s);
    write_seed(t, "super", buf, FS_SUPER_BYTES);

    fs_inode in;
    memset(&in, 0, sizeof in);
    in.mode = S_IFDIR | 0755;
    in.nlink = 2;
    in.parent = 1;
    in.size = 3;
    in.atime.tv_sec = in.mtime.tv_sec = in.ctime.tv_sec = 1700000000;
    in.mtime.tv_nsec = 123456789;
    fs_encode_inode(buf, &in, NULL, 0);
    write_seed(t, "inode_dir", buf, FS_INODE_HEADER);

    in.mode = S_IFREG | 0644;
    in.nlink = 1;
    in.parent = 0;
    in.flags = FS_INODE_INLINE;
    in.size = 11;
    in.xattrs = 1;
    fs_encode_inode(buf, &in, "inline data", 11);
    write_seed(t, "inode_inline", buf, FS_INODE_HEADER + 11);

    in.mode = S_IFLNK | 0777;
    in.size = 6;
    in.xattrs = 0;
    fs_encode_inode(buf, &in, "target", 6);
    write_seed(t, "inode_symlink", buf, FS_INODE_HEADER + 6);

    in.mode = S_IFREG | 0600;
    in.flags = 0;
    in.size = 1 << 20;
    in.alloc = 1 << 20;
    fs_encode_inode(buf, &in, NULL, 0);
    write_seed(t, "inode_blocks", buf, FS_INODE_HEADER);

    in.resv = 3 << 20;           /* fallocate reserved 3 MiB of [1, 5) MiB */
    in.resv_lo = 1 << 20;
    in.resv_hi = 5 << 20;
    fs_encode_inode(buf, &in, NULL, 0);
    write_seed(t, "inode_resv", buf, fs_inode_bytes(&in, 0));
    in.resv = in.resv_lo = in.resv_hi = 0;

    in.mode = S_IFCHR | 0600;
    in.size = in.alloc = 0;
    in.rdev = 0x0103;
    fs_encode_inode(buf, &in, NULL, 0);
    write_seed(t, "inode_chardev", buf, FS_INODE_HEADER);
}
#endif

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds OUTDIR\n");
        return 2;
    }
    outdir = argv[1];
    if (mkdir(outdir, 0755) != 0 && errno != EEXIST) {
        perror(outdir);
        return 1;
    }
    make_batch_seeds();
    make_wal_seeds();
    make_table_seeds();
    make_manifest_seeds();
    make_store_seeds();
#ifdef HAVE_FS_LAYOUT
    make_fs_seeds();
#endif
    return 0;
}
