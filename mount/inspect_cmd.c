/*
 * inspect_cmd.c — `lsmfs inspect`, in the spirit of RocksDB's sst_dump
 * and ldb.  Everything is read-only; a damaged store or table is read as
 * far as it goes, each failure one "problem:" line (exit 4).
 *
 *   inspect STORE PATH        the keys behind a path (walk.h)
 *   inspect --table FILE      one table: properties, key range, blocks,
 *                             every checksum verified (lsm_inspect_table)
 *   inspect --manifest STORE  levels and tables; if the store cannot be
 *                             opened, what its directory holds
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include "cli.h"
#include "walk.h"

static const char inspect_usage[] =
    "usage: lsmfs inspect STORE PATH\n"
    "       lsmfs inspect --table [--entries] FILE.sst\n"
    "       lsmfs inspect --manifest STORE\n"
    "Shows what an unmounted store holds, read-only:\n"
    "  STORE PATH    the keys behind PATH (\"/\" is the root): its inode\n"
    "                record, orphan mark, xattrs, data blocks, entries\n"
    "  --table       a table file: properties, key range, data blocks, with\n"
    "                every block's checksum verified (--entries: every key)\n"
    "  --manifest    the levels, tables and named snapshots the manifest lists\n"
    "Exit status: 0, 4 damage found, 8 cannot open, 16 usage.\n";

/* Key bytes as hex, cut after 32 bytes. */
static void hex(const void *p, size_t n, char *out, size_t cap)
{
    const unsigned char *b = p;
    size_t o = 0;
    for (size_t i = 0; i < n && i < 32 && o + 3 < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%02x", b[i]);
    if (n > 32 && o + 4 < cap)
        snprintf(out + o, cap - o, "...");
}

static const char *type_name(uint32_t mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG: return "file";
    case S_IFDIR: return "directory";
    case S_IFLNK: return "symlink";
    case S_IFCHR: return "char device";
    case S_IFBLK: return "block device";
    case S_IFIFO: return "fifo";
    case S_IFSOCK: return "socket";
    default: return "unknown type";
    }
}

static int print_record(void *ctx, const fs_record *r)
{
    (void)ctx;
    char kh[80];
    hex(r->key, r->klen, kh, sizeof kh);
    if (!r->ok) {
        char d[128];
        fs_describe_key(r->key, r->klen, d, sizeof d);
        printf("problem: key %s (%s) does not decode (%zu value bytes)\n", kh,
               d, r->vlen);
        return 0;
    }
    const fs_inode *in = &r->inode;
    switch (r->kind) {
    case FS_KEY_INODE:
        printf("inode  %s  ino %" PRIu64 " %s mode %o nlink %u uid %u gid %u "
               "size %" PRIu64 " alloc %" PRIu64 " xattrs %u%s",
               kh, r->ino, type_name(in->mode), in->mode & 07777, in->nlink,
               in->uid, in->gid, in->size, in->alloc, in->xattrs,
               (in->flags & FS_INODE_INLINE) ? " inline" : "");
        if (in->flags & FS_INODE_INLINE)
            printf(" (%zu bytes)", r->inline_len);
        if ((in->mode & S_IFMT) == S_IFDIR)
            printf(" parent %" PRIu64, in->parent);
        printf("\n");
        break;
    case FS_KEY_ORPHAN:
        printf("orphan %s  ino %" PRIu64 " (unlinked while open)\n", kh, r->ino);
        break;
    case FS_KEY_XATTR:
        printf("xattr  %s  %.*s (%zu bytes)\n", kh, (int)r->name_len, r->name,
               r->vlen);
        break;
    case FS_KEY_BLOCK:
        printf("%s  %s  block %" PRIu64 " (%zu bytes)\n",
               r->patch ? "patch " : "block ", kh, r->block, r->vlen);
        break;
    case FS_KEY_DIRENT:
        printf("entry  %s  %.*s -> ino %" PRIu64 "\n", kh, (int)r->name_len,
               r->name, r->child);
        break;
    default:
        printf("key    %s\n", kh);
        break;
    }
    return 0;
}

static int inspect_path(const char *store, const char *path)
{
    lsm_db *db;
    int st = cli_open_store("inspect", store, 1, &db);
    if (st != 0)               /* a damaged manifest, a table missing: 4 */
        return st == LSM_CORRUPTION ? CLI_EXIT_PROBLEMS : CLI_EXIT_ERROR;
    uint64_t ino;
    const char *missing = NULL;
    int rc = fs_walk_lookup(db, path, &ino, &missing);
    int code = CLI_EXIT_OK;
    if (rc == -ENOENT) {
        cli_error("inspect", "%s: no such entry (at \"%s\")", path, missing);
        code = CLI_EXIT_ERROR;
    } else if (rc != 0) {
        cli_error("inspect", "%s: %s", path, rc == -EIO ? lsm_last_error()
                                                        : strerror(-rc));
        code = rc == -EIO ? CLI_EXIT_PROBLEMS : CLI_EXIT_ERROR;
    } else {
        printf("%s: inode %" PRIu64 "\n", path, ino);
        rc = fs_walk_inode(db, ino, print_record, NULL);
        if (rc != 0) {
            printf("problem: reading the keys of inode %" PRIu64 ": %s\n", ino,
                   lsm_last_error());
            code = CLI_EXIT_PROBLEMS;
        }
    }
    lsm_close(db);
    return code;
}

static void on_bad_block(void *ctx, const char *why)
{
    (void)ctx;
    printf("problem: %s\n", why);
}

static void on_entry(void *ctx, const void *key, size_t klen, uint64_t seq,
                     int kind, size_t vlen)
{
    (void)ctx;
    char d[128], kh[80];
    fs_describe_key(key, klen, d, sizeof d);
    hex(key, klen, kh, sizeof kh);
    printf("  %s seq %" PRIu64 " %s %zu bytes  (%s)\n", kh, seq,
           kind ? "put" : "delete", vlen, d);
}

static int inspect_table(const char *file, int entries)
{
    lsm_table_report r;
    int rc = lsm_inspect_table(file, on_bad_block, entries ? on_entry : NULL,
                               NULL, &r);
    if (rc == LSM_CORRUPTION && r.file_bytes > 0 && r.entries_read == 0) {
        printf("problem: %s\n", lsm_last_error());
        return CLI_EXIT_PROBLEMS;
    }
    if (rc != LSM_OK && r.entries_read == 0) {
        cli_error("inspect", "%s", lsm_last_error());
        return CLI_EXIT_ERROR;
    }
    char b[32], lo[128], hi[128], lh[80], hh[80];
    fs_describe_key(r.smallest, r.smallest_len < 128 ? r.smallest_len : 128,
                    lo, sizeof lo);
    fs_describe_key(r.largest, r.largest_len < 128 ? r.largest_len : 128, hi,
                    sizeof hi);
    hex(r.smallest, r.smallest_len < 128 ? r.smallest_len : 128, lh, sizeof lh);
    hex(r.largest, r.largest_len < 128 ? r.largest_len : 128, hh, sizeof hh);
    printf("%s: %s\n", file, cli_bytes(r.file_bytes, b, sizeof b));
    printf("data blocks: %" PRIu64 ", bad: %" PRIu64 "\n", r.data_blocks,
           r.blocks_bad);
    printf("entries: %" PRIu64 " read, range deletions: %" PRIu64 "\n",
           r.entries, r.range_dels);
    printf("filter: %" PRIu64 " bytes, index: %" PRIu64 " bytes\n",
           r.filter_bytes, r.index_bytes);
    printf("sequence numbers: %" PRIu64 "..%" PRIu64 "\n", r.min_seq, r.max_seq);
    printf("smallest key: %s (%s)\nlargest key: %s (%s)\n", lh, lo, hh, hi);
    if (rc != LSM_OK) {
        printf("problem: %s\n", lsm_last_error());
        return CLI_EXIT_PROBLEMS;
    }
    if (r.blocks_bad)
        return CLI_EXIT_PROBLEMS;
    printf("all %" PRIu64 " data blocks and the metadata blocks verified\n",
           r.data_blocks);
    return CLI_EXIT_OK;
}

/* The store would not open: what its directory holds. */
static void list_dir(const char *store)
{
    DIR *d = opendir(store);
    if (!d)
        return;
    printf("files in %s:\n", store);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", store, e->d_name);
        if (stat(path, &st) == 0)
            printf("  %-24s %lld bytes\n", e->d_name, (long long)st.st_size);
    }
    closedir(d);
}

/* The manifest's named snapshot records, oldest first. */
static void print_snapshots(lsm_db *db)
{
    lsm_snapshot_info *list;
    size_t n;
    if (lsm_snapshot_list(db, &list, &n) != LSM_OK) {
        printf("problem: snapshots: %s\n", lsm_last_error());
        return;
    }
    printf("snapshots: %zu\n", n);
    for (size_t i = 0; i < n; i++) {
        char when[32];
        time_t t = (time_t)list[i].ctime;
        struct tm tm;
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
        printf("snapshot %s id %" PRIu32 " seq %" PRIu64 " created %s\n",
               list[i].name, list[i].id, list[i].seq, when);
    }
    lsm_free(list);
}

static int inspect_manifest(const char *store)
{
    lsm_options o;
    lsm_options_init(&o);
    o.read_only = 1;
    o.create_if_missing = 0;
    o.cache_bytes = 1u << 20;
    lsm_db *db;
    int rc = lsm_open(store, &o, &db);
    if (rc != LSM_OK) {
        if (rc != LSM_CORRUPTION) {
            cli_error("inspect", "cannot open %s: %s", store, lsm_last_error());
            return CLI_EXIT_ERROR;
        }
        printf("problem: %s\n", lsm_last_error());
        list_dir(store);
        return CLI_EXIT_PROBLEMS;
    }
    char *levels = NULL, *tables = NULL, *blobs = NULL;
    if (lsm_property(db, "levels", &levels) == LSM_OK &&
        lsm_property(db, "sstables", &tables) == LSM_OK &&
        lsm_property(db, "blobfiles", &blobs) == LSM_OK) {
        lsm_stats s;
        lsm_get_stats(db, &s);
        fputs(levels, stdout);
        fputs(tables, stdout);
        fputs(blobs, stdout);     /* each blob file's bytes and garbage */
        printf("last sequence: %" PRIu64 "\n", s.last_seq);
    }
    print_snapshots(db);
    lsm_free(levels);
    lsm_free(tables);
    lsm_free(blobs);
    lsm_close(db);
    return CLI_EXIT_OK;
}

int cli_inspect_main(int argc, char *argv[])
{
    int table = 0, manifest = 0, entries = 0, i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return cli_usage(inspect_usage, 1, "inspect", NULL);
        if (!strcmp(argv[i], "--table"))
            table = 1;
        else if (!strcmp(argv[i], "--manifest"))
            manifest = 1;
        else if (!strcmp(argv[i], "--entries"))
            entries = 1;
        else
            return cli_usage(inspect_usage, 0, "inspect", "unknown option");
    }
    int want = table || manifest ? 1 : 2;
    if (table + manifest > 1 || (entries && !table) || argc - i != want)
        return cli_usage(inspect_usage, 0, "inspect", "wrong arguments");
    if (table)
        return inspect_table(argv[i], entries);
    if (manifest)
        return inspect_manifest(argv[i]);
    return inspect_path(argv[i], argv[i + 1]);
}
