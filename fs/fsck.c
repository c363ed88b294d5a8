/*
 * fsck.c — offline check and repair of an lsmfs store (see fsck.h).
 *
 * Phases, each one pass in key order (layout.c: 'B' < 'D' < 'I' < 'O' <
 * 'S' < 'X'):
 *
 *   1. open      read-only; the engine verifies the manifest and replays
 *                the WAL (checksummed records).  The superblock must be
 *                an lsmfs one of this version.  A repair then has the
 *                engine rewrite damaged tables (lsm_repair) and reopens
 *                read-write.
 *   2. inodes    the 'I' range: every record decoded into the inode
 *                table (sorted by inode number, as the keys are).
 *   3. scan      every key of the store, first to last (so every table
 *                block is read and checksum-verified): blocks, entries,
 *                orphans and xattrs checked against the inode table.
 *                Keys of one inode (blocks, xattrs) or one directory
 *                (entries) are adjacent, so per-inode sums are kept for
 *                one group at a time.
 *   4. namespace orphans, unreachable inodes, directory cycles, link
 *                counts and the other per-inode fields, the superblock.
 *
 * A check that meets an unreadable block or blob value learns every lost
 * range (a blob value's loss is its one key) from the engine, which
 * verifies every table and blob value (lsm_verify_tables), and resumes
 * each scan past the range it met (resume_past_loss);
 * after phase 3 the files with data in a lost range are named.
 *
 * Repairs found during phases 2-3 go into one batch that is written only
 * once the scan has read the whole store without an error, so a store
 * with unreadable data is never changed on the strength of a partial
 * view (a repair has had the engine drop unreadable blocks first).
 * Inode records are rewritten once each, in phase 4, with every corrected
 * field at once.
 */
#include "fsck.h"
#include "fsck_snap.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "layout.h"
#include "walk.h"

#define ROOT_INO 1u
#define PROGRESS_EVERY 4096u
#define BATCH_FLUSH_BYTES (8u << 20)

/* One inode of the table (40 bytes). */
struct ino_ent {
    uint64_t ino;
    uint64_t parent;          /* directories: parent field (corrected when
                                 E_FIX_PARENT) */
    union {
        struct {
            uint32_t entries; /* stored size (saturated), then the count
                                 found when E_FIX_SIZE */
            uint32_t subdirs; /* subdirectory entries found */
        } dir;
        uint64_t alloc;       /* regular files: stored alloc, then the sum
                                 found when E_FIX_ALLOC */
    } u;
    uint32_t nlink;           /* stored */
    uint32_t links;           /* entries found pointing at the inode */
    uint32_t xattrs;          /* stored, then the count found (E_FIX_XATTRS) */
    uint8_t type;             /* DT_* */
    uint16_t flags;
};

_Static_assert(sizeof(struct ino_ent) == 40, "one inode costs 40 bytes");

enum {
    E_INLINE = 1 << 0,        /* regular file with inline data */
    E_ORPHAN = 1 << 1,        /* an 'O' key names it */
    E_SEEN_DIR = 1 << 2,      /* has entries */
    E_SEEN_BLOCKS = 1 << 3,
    E_SEEN_XATTRS = 1 << 4,
    E_FIX_SIZE = 1 << 5,
    E_FIX_XATTRS = 1 << 6,
    E_FIX_ALLOC = 1 << 7,
    E_FIX_PARENT = 1 << 8,
    E_REACHED = 1 << 9,       /* directory known to be reachable */
    E_NEW = 1 << 10,          /* record to create (root, lost+found) */
    E_GONE = 1 << 11,         /* record removed (reclaimed orphan) */
    E_TOUCHED = 1 << 12,      /* has data in a lost range (ck->touched) */
    E_PATCHED = 1 << 13,      /* regular file whose reads apply block patches */
};

typedef struct fsck {
    const char *dir;
    const fsck_options *o;
    fsck_result *res;
    lsm_db *db;
    int repair;
    int frozen;               /* repairs disabled (root unusable, scan failed) */
    int failed;               /* operational error: res->error says */
    fs_super sb;
    struct ino_ent *tab;
    size_t n, cap;
    uint64_t max_ino;         /* largest inode number with a record (before
                                 the repair made any) */
    uint64_t max_any;         /* largest inode number any key names */
    uint64_t resv;            /* the records' reservations, summed */
    uint64_t next_free;       /* for lost+found, when it must be made */
    uint64_t lf;              /* lost+found's inode, 0 = none yet */
    int lf_broken;            /* lost+found cannot be used */
    lsm_batch *b;             /* pending repairs */
    /* Subdirectories the repair itself added to or took from directories
     * (lost+found made, cycles broken): few, so a list. */
    struct { uint64_t ino; int64_t delta; } *adj;
    size_t nadj, capadj;
    int scanned;              /* the full scan completed */
    /* Key ranges lost with damaged table blocks (found by the engine's
     * check, or dropped by its repair), and the files they touch. */
    struct loss *losses;
    size_t nlosses;
    int verified;             /* check mode: the engine's check ran */
    struct touched *touched;
    size_t ntouched;
    /* Reads go through ro: the latest state, or a named snapshot's
     * (fsck_snap.c: then label names it in every line, no repairs). */
    lsm_read_options ro;
    const char *label;
} fsck;

/* User keys lo < k <= hi (lo <= k when lo_inclusive) lost or unreadable. */
struct loss {
    char *lo, *hi;
    size_t lo_len, hi_len;
    int lo_inclusive;
};

/* A regular file with data in a lost range: blocks first..last (clipped
 * to the range), and an entry naming it (found by name_touched). */
struct touched {
    uint64_t ino, first, last;
    uint64_t parent;          /* 0: no entry seen */
    char *name;
    size_t name_len;
};

/* --- reporting ----------------------------------------------------------- */

static void emit(fsck *ck, enum fsck_line kind, const char *text)
{
    char labelled[1800];
    if (ck->label) {
        snprintf(labelled, sizeof labelled, "%s: %s", ck->label, text);
        text = labelled;
    }
    if (ck->o->line)
        ck->o->line(ck->o->ctx, kind, text);
}

static void op_fail(fsck *ck, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void op_fail(fsck *ck, const char *fmt, ...)
{
    if (ck->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ck->res->error, sizeof ck->res->error, fmt, ap);
    va_end(ap);
    ck->failed = 1;
}

static int can_fix(const fsck *ck)
{
    return ck->repair && !ck->frozen && !ck->failed;
}

/* Reports a problem.  `fix` says what the repair does about it (NULL:
 * nothing can be done); returns 1 when the caller is to make the fix. */
static int problem(fsck *ck, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int problem(fsck *ck, const char *fix, const char *fmt, ...)
{
    char text[1536];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    ck->res->problems++;
    int fixing = fix != NULL && can_fix(ck);
    if (fixing && n >= 0 && (size_t)n < sizeof text)
        snprintf(text + n, sizeof text - (size_t)n, ": %s", fix);
    if (fixing)
        ck->res->fixed++;
    emit(ck, fixing ? FSCK_FIXED : FSCK_PROBLEM, text);
    return fixing;
}

static void info(fsck *ck, enum fsck_line kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void info(fsck *ck, enum fsck_line kind, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    emit(ck, kind, text);
}

static void progress(fsck *ck, const char *phase, uint64_t done, uint64_t total)
{
    if (ck->o->progress)
        ck->o->progress(ck->o->ctx, phase, done, total);
}

static void engine_log(void *ctx, int level, const char *line)
{
    (void)level;                 /* a check reports everything it meets */
    fsck *ck = ctx;
    info(ck, FSCK_INFO, "engine: %s", line);
}

/* A name as printable text: bytes outside printable ASCII, quotes and
 * backslashes become \xNN.  out holds 4 * 255 + 1 bytes. */
#define SHOW_MAX (4 * 255 + 1)
static const char *show(const char *name, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len && i < 255; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, 5, "\\x%02x", c);
    }
    out[o] = '\0';
    return out;
}

static const char *type_name(uint8_t t)
{
    switch (t) {
    case DT_REG: return "file";
    case DT_DIR: return "directory";
    case DT_LNK: return "symlink";
    case DT_FIFO: return "fifo";
    case DT_SOCK: return "socket";
    case DT_CHR: return "character device";
    case DT_BLK: return "block device";
    default: return "unknown type";
    }
}

/* --- repairs: everything goes through ck->b ------------------------------ */

static void batch_failed(fsck *ck)
{
    op_fail(ck, "out of memory queueing a repair");
}

static void fix_delete(fsck *ck, const void *key, size_t klen)
{
    if (lsm_batch_delete(ck->b, key, klen) != LSM_OK)
        batch_failed(ck);
}

static void fix_put(fsck *ck, const void *key, size_t klen, const void *val,
                    size_t vlen)
{
    if (lsm_batch_put(ck->b, key, klen, val, vlen) != LSM_OK)
        batch_failed(ck);
}

/* Removes every key [kind ino ...]. */
static void fix_delete_prefix(fsck *ck, char kind, uint64_t ino)
{
    char lo[16], hi[16];
    size_t ll = fs_key_ino_prefix(lo, kind, ino);
    size_t hl = fs_key_ino_end(hi, kind, ino);
    if (lsm_batch_delete_range(ck->b, lo, ll, hi, hl) != LSM_OK)
        batch_failed(ck);
}

/* Writes the pending repairs (only once the scan has completed). */
static void commit(fsck *ck, int force)
{
    if (ck->failed || !ck->scanned || lsm_batch_count(ck->b) == 0)
        return;
    if (!force && lsm_batch_bytes(ck->b) < BATCH_FLUSH_BYTES)
        return;
    int st = lsm_write(ck->db, ck->b, 0);
    if (st != LSM_OK)
        op_fail(ck, "%s: writing repairs: %s", ck->dir, lsm_last_error());
    lsm_batch_clear(ck->b);
}

/* --- the inode table ----------------------------------------------------- */

static struct ino_ent *tab_find(fsck *ck, uint64_t ino)
{
    size_t lo = 0, hi = ck->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ck->tab[mid].ino < ino)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < ck->n && ck->tab[lo].ino == ino ? &ck->tab[lo] : NULL;
}

/* Makes room for `more` entries (pointers into the table move). */
static int tab_reserve(fsck *ck, size_t more)
{
    if (ck->n + more <= ck->cap)
        return 0;
    size_t cap = ck->cap ? ck->cap + ck->cap / 2 : 1024;
    if (cap < ck->n + more)
        cap = ck->n + more;
    struct ino_ent *t = realloc(ck->tab, cap * sizeof *t);
    if (t == NULL) {
        op_fail(ck, "out of memory: %zu inodes", cap);
        return -1;
    }
    ck->tab = t;
    ck->cap = cap;
    return 0;
}

/* Numbers named by any key: a new inode must not meet stray records. */
/* Records that the repair changed dir's subdirectory count by delta. */
static void adjust(fsck *ck, uint64_t dir, int64_t delta)
{
    for (size_t i = 0; i < ck->nadj; i++) {
        if (ck->adj[i].ino == dir) {
            ck->adj[i].delta += delta;
            return;
        }
    }
    if (ck->nadj == ck->capadj) {
        size_t cap = ck->capadj ? 2 * ck->capadj : 8;
        void *p = realloc(ck->adj, cap * sizeof *ck->adj);
        if (p == NULL) {
            op_fail(ck, "out of memory");
            return;
        }
        ck->adj = p;
        ck->capadj = cap;
    }
    ck->adj[ck->nadj].ino = dir;
    ck->adj[ck->nadj++].delta = delta;
}

static int64_t adjustment(const fsck *ck, uint64_t dir)
{
    for (size_t i = 0; i < ck->nadj; i++)
        if (ck->adj[i].ino == dir)
            return ck->adj[i].delta;
    return 0;
}

static void note_ino(fsck *ck, uint64_t ino)
{
    if (ino > ck->max_any)
        ck->max_any = ino;
}

/* --- phase 1: open --------------------------------------------------------- */

static int read_super(fsck *ck)
{
    char key[4];
    size_t klen = fs_key_super(key);
    void *val;
    size_t vlen;
    int st = lsm_get(ck->db, &ck->ro, key, klen, &val, &vlen);
    if (st == LSM_NOT_FOUND) {
        op_fail(ck, "%s is not an lsmfs store", ck->dir);
        return -1;
    }
    if (st == LSM_CORRUPTION) {
        /* Its block (or table) is damaged: without the block size and the
         * format version nothing can be checked, and no repair can
         * recreate them. */
        problem(ck, NULL, "the superblock is unreadable: %s", lsm_last_error());
        ck->frozen = 1;
        return -1;
    }
    if (st != LSM_OK) {
        op_fail(ck, "%s: reading the superblock: %s", ck->dir, lsm_last_error());
        return -1;
    }
    int d = fs_decode_super(val, vlen, &ck->sb);
    lsm_free(val);
    if (d == -2)
        op_fail(ck, "%s has lsmfs format version %u; this lsmfs reads "
                "version %d", ck->dir, ck->sb.version, FS_FORMAT_VERSION);
    else if (d != 0)
        op_fail(ck, "%s is not an lsmfs store (bad superblock)", ck->dir);
    return d == 0 ? 0 : -1;
}

/* Engine log lines (a dropped WAL tail, say) are passed on from the
 * read-only open only: the repair's reopen replays the same log again and
 * then logs its own housekeeping. */
static void engine_options(fsck *ck, int read_only, lsm_options *lo)
{
    lsm_options_init(lo);
    lo->env = ck->o->env;
    lo->cache_bytes = ck->o->cache_bytes ? ck->o->cache_bytes : (8u << 20);
    lo->create_if_missing = 0;
    lo->read_only = read_only;
    lo->paranoid_checks = 1;
    lo->log = read_only ? engine_log : NULL;
    lo->log_ctx = ck;
}

static int open_db(fsck *ck, int read_only)
{
    lsm_options lo;
    engine_options(ck, read_only, &lo);
    int st = lsm_open(ck->dir, &lo, &ck->db);
    if (st == LSM_OK)
        return 0;
    ck->db = NULL;
    if (st == LSM_CORRUPTION) {
        /* The manifest or the WAL failed its checks: the store holds
         * errors, and nothing here can repair the engine's own files. */
        problem(ck, NULL, "the store cannot be opened: %s", lsm_last_error());
        ck->frozen = 1;
        return -1;
    }
    if (st == LSM_BUSY)           /* the engine's message names the holder */
        op_fail(ck, "%s (unmount it first)", lsm_last_error());
    else
        op_fail(ck, "%s", lsm_last_error());
    return -1;
}

/* --- damaged tables ------------------------------------------------------- */

/* Big-endian integer in key bytes [off, off + 8); bytes past the key's
 * end count as pad (a range bound may be a shortened separator key). */
static uint64_t key_u64(const char *k, size_t len, size_t off, unsigned char pad)
{
    uint64_t v = 0;
    for (size_t i = off; i < off + 8; i++)
        v = v << 8 | (i < len ? (unsigned char)k[i] : pad);
    return v;
}

static int keycmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

/* The engine's report of one loss (while checking, or once its repair
 * dropped the range): one problem line, and the range kept for later. */
static void on_loss(void *ctx, const lsm_loss *l)
{
    fsck *ck = ctx;
    char lo[96], hi[96], fix[128];
    fs_describe_key(l->lo, l->lo_len, lo, sizeof lo);
    fs_describe_key(l->hi, l->hi_len, hi, sizeof hi);
    if (l->new_table)
        snprintf(fix, sizeof fix, "dropped; the rest of table %06llu.sst is "
                 "now %06llu.sst", (unsigned long long)l->table,
                 (unsigned long long)l->new_table);
    else
        snprintf(fix, sizeof fix, "dropped with table %06llu.sst",
                 (unsigned long long)l->table);
    if (l->blob_file)       /* one entry whose value is in a blob file */
        problem(ck, fix, "%s: lost the value of %s (blob file %06llu.blob)",
                l->why, lo, (unsigned long long)l->blob_file);
    else
        problem(ck, fix, "%s: %s keys %s %s to %s", l->why,
                l->offset == UINT64_MAX ? "the table is unreadable: all its"
                                        : "lost",
                l->lo_inclusive ? "from" : "after", lo, hi);
    struct loss *p = realloc(ck->losses, (ck->nlosses + 1) * sizeof *p);
    char *a = malloc(l->lo_len + 1), *b = malloc(l->hi_len + 1);
    if (!p || !a || !b) {
        if (p)
            ck->losses = p;
        free(a);
        free(b);
        op_fail(ck, "out of memory");
        return;
    }
    ck->losses = p;
    memcpy(a, l->lo, l->lo_len);
    memcpy(b, l->hi, l->hi_len);
    p[ck->nlosses++] = (struct loss){ a, b, l->lo_len, l->hi_len, l->lo_inclusive };
}

/* Check mode: asks the engine which table blocks are unreadable (once,
 * when a scan first meets one: it reads every table again). */
static int know_losses(fsck *ck)
{
    if (ck->verified)
        return ck->failed ? -1 : 0;
    ck->verified = 1;
    lsm_repair_result r;
    int st = lsm_verify_tables(ck->db, on_loss, ck, &r);
    if (st != LSM_OK) {
        op_fail(ck, "%s: checking tables: %s", ck->dir, lsm_last_error());
        return -1;
    }
    info(ck, FSCK_INFO, "engine: %llu of %llu tables damaged: %llu block(s) "
         "unreadable, %llu table(s) cannot be opened, about %llu entries lost, "
         "%llu blob value(s) unreadable",
         (unsigned long long)r.damaged, (unsigned long long)r.tables,
         (unsigned long long)r.blocks_lost, (unsigned long long)r.tables_lost,
         (unsigned long long)r.entries_lost, (unsigned long long)r.blobs_lost);
    return ck->failed ? -1 : 0;
}

/* Where a scan stands, so it can go on past a lost range. */
struct cursor {
    char last[512];           /* the last key read (a prefix if longer) */
    size_t last_len;
    int have_last;
    char *resume;             /* where the last resume sought (malloc'ed) */
    size_t resume_len;
};

static void cursor_note(struct cursor *c, const char *k, size_t klen)
{
    c->last_len = klen < sizeof c->last ? klen : sizeof c->last;
    memcpy(c->last, k, c->last_len);
    c->have_last = 1;
}

/* Check mode: the scan stopped on an unreadable block.  Replaces *it by
 * an iterator at the first key past the lost range ending first after
 * both the last key read and the previous resume point (so each resume
 * moves forward).  Returns 1 if it did; 0 when nothing is known that
 * lies ahead (then the scan ends on its error). */
static int resume_past_loss(fsck *ck, struct cursor *c, lsm_iter **it)
{
    if (ck->repair || lsm_iter_status(*it) != LSM_CORRUPTION ||
        know_losses(ck) < 0)
        return 0;
    const struct loss *best = NULL;
    for (size_t i = 0; i < ck->nlosses; i++) {
        const struct loss *l = &ck->losses[i];
        if (c->have_last && keycmp(l->hi, l->hi_len, c->last, c->last_len) <= 0)
            continue;
        if (c->resume && keycmp(l->hi, l->hi_len, c->resume, c->resume_len) < 0)
            continue;
        if (!best || keycmp(l->hi, l->hi_len, best->hi, best->hi_len) < 0)
            best = l;
    }
    if (!best)
        return 0;
    char *r = malloc(best->hi_len + 1);
    if (!r) {
        op_fail(ck, "out of memory");
        return 0;
    }
    memcpy(r, best->hi, best->hi_len);
    r[best->hi_len] = '\0';                   /* the first key after hi */
    free(c->resume);
    c->resume = r;
    c->resume_len = best->hi_len + 1;
    lsm_read_options ro = { ck->ro.snapshot, 1 };
    lsm_iter *n = lsm_iter_new(ck->db, &ro);
    if (!n) {
        op_fail(ck, "out of memory");
        return 0;
    }
    lsm_iter_free(*it);
    *it = n;
    lsm_iter_seek(n, c->resume, c->resume_len);
    return 1;
}

/* What a scan does with each key it reads. */
typedef void (*scan_visit)(fsck *ck, const char *k, size_t klen,
                           const char *v, size_t vlen, void *arg);

/* Visits, in order, every readable key whose first byte is `kind` (every
 * key if kind is 0), going on past lost ranges in check mode.  Returns
 * the iterator where it stopped, for its status (the caller frees it),
 * or NULL after op_fail. */
static lsm_iter *scan_keys(fsck *ck, char kind, scan_visit visit, void *arg)
{
    lsm_read_options ro = { ck->ro.snapshot, 1 };
    lsm_iter *it = lsm_iter_new(ck->db, &ro);
    if (it == NULL) {
        op_fail(ck, "out of memory");
        return NULL;
    }
    struct cursor c = { .have_last = 0 };
    int end = 0;
    if (kind)
        lsm_iter_seek(it, &kind, 1);
    else
        lsm_iter_first(it);
    do {
        for (; lsm_iter_valid(it) && !ck->failed; lsm_iter_next(it)) {
            size_t klen, vlen;
            const char *k = lsm_iter_key(it, &klen);
            if (kind && (klen == 0 || k[0] != kind)) {
                end = 1;
                break;
            }
            const char *v = lsm_iter_value(it, &vlen);
            if (v == NULL && lsm_iter_status(it) != LSM_OK)
                break;      /* its blob value is unreadable: a loss at k */
            cursor_note(&c, k, klen);
            visit(ck, k, klen, v, vlen, arg);
        }
    } while (!end && !ck->failed && resume_past_loss(ck, &c, &it));
    free(c.resume);
    return it;
}

/* Repair: the engine rewrites every damaged table without its
 * unreadable blocks (on the closed store) before the namespace is
 * checked, so the check below sees what the store now holds. */
static int repair_tables(fsck *ck)
{
    lsm_options lo;
    engine_options(ck, 0, &lo);
    lsm_repair_result r;
    int st = lsm_repair(ck->dir, &lo, on_loss, ck, &r);
    if (st == LSM_BUSY)
        op_fail(ck, "%s (unmount it first)", lsm_last_error());
    else if (st != LSM_OK)
        op_fail(ck, "%s: repairing damaged tables: %s", ck->dir, lsm_last_error());
    if (st == LSM_OK && r.damaged)
        info(ck, FSCK_INFO, "engine: %llu of %llu tables damaged: %llu block(s) "
             "unreadable, %llu table(s) could not be opened, about %llu "
             "entries lost, %llu blob value(s) unreadable; %llu table(s) "
             "rewritten",
             (unsigned long long)r.damaged, (unsigned long long)r.tables,
             (unsigned long long)r.blocks_lost, (unsigned long long)r.tables_lost,
             (unsigned long long)r.entries_lost, (unsigned long long)r.blobs_lost,
             (unsigned long long)r.tables_written);
    return ck->failed ? -1 : 0;
}

static int open_store(fsck *ck)
{
    if (open_db(ck, 1) < 0)
        return -1;
    if (read_super(ck) < 0)
        return -1;
    if (!ck->repair)
        return 0;
    /* An lsmfs store of this version: only now may anything be written. */
    lsm_close(ck->db);
    ck->db = NULL;
    if (repair_tables(ck) < 0 || open_db(ck, 0) < 0)
        return -1;
    return read_super(ck);
}

/* --- phase 2: inode records ------------------------------------------------ */

static void load_inode(fsck *ck, const void *k, size_t klen, const void *v,
                       size_t vlen)
{
    uint64_t ino;
    if (fs_decode_inode_key(k, klen, &ino) != 0 || ino == 0) {
        if (problem(ck, "removed", "malformed inode key (%zu bytes)", klen))
            fix_delete(ck, k, klen);
        return;
    }
    note_ino(ck, ino);
    if (ino > ck->max_ino)
        ck->max_ino = ino;
    fs_inode rec;
    const char *data;
    size_t dlen;
    if (fs_decode_inode(v, vlen, &rec, &data, &dlen) != 0) {
        if (problem(ck, "removed", "inode %llu: the record does not decode "
                    "(%zu bytes)", (unsigned long long)ino, vlen))
            fix_delete(ck, k, klen);
        return;
    }
    if (tab_reserve(ck, 1) < 0)
        return;
    struct ino_ent *e = &ck->tab[ck->n++];
    memset(e, 0, sizeof *e);
    ck->resv += rec.resv;
    e->ino = ino;
    e->parent = rec.parent;
    e->nlink = rec.nlink;
    e->xattrs = rec.xattrs;
    e->type = fs_mode_dtype(rec.mode);
    if (e->type == DT_DIR) {
        e->u.dir.entries = rec.size > UINT32_MAX ? UINT32_MAX : (uint32_t)rec.size;
        ck->res->directories++;
    } else if (e->type == DT_REG) {
        e->u.alloc = rec.alloc;
        if (rec.flags & FS_INODE_INLINE)
            e->flags |= E_INLINE;
        if (rec.flags & FS_INODE_PATCHED)
            e->flags |= E_PATCHED;
    }
}

static int iter_range(fsck *ck, lsm_iter *it, const char *what)
{
    int st = lsm_iter_status(it);
    if (st == LSM_OK)
        return 0;
    if (st == LSM_CORRUPTION) {
        problem(ck, NULL, "%s: unreadable data: %s", what, lsm_last_error());
        ck->frozen = 1;
    } else {
        op_fail(ck, "%s: %s", what, lsm_last_error());
    }
    return -1;
}

struct inode_scan {
    uint64_t seen, total;
};

static void visit_inode(fsck *ck, const char *k, size_t klen,
                        const char *v, size_t vlen, void *arg)
{
    struct inode_scan *is = arg;
    load_inode(ck, k, klen, v, vlen);
    if (++is->seen % PROGRESS_EVERY == 0)
        progress(ck, "inodes", is->seen, is->total);
}

static int load_inodes(fsck *ck)
{
    struct inode_scan is = { 0, 0 };
    is.total = (ck->sb.flags & FS_SUPER_CLEAN) ? ck->sb.inode_count : 0;
    /* Sized from the superblock's count when it is exact, so the table
     * is not copied while it grows (capped: a count is only a hint). */
    if (is.total > 0 &&
        tab_reserve(ck, is.total < (1u << 26) ? (size_t)is.total : (1u << 26)) < 0)
        return -1;
    lsm_iter *it = scan_keys(ck, FS_KEY_INODE, visit_inode, &is);
    if (it == NULL)
        return -1;
    int rc = iter_range(ck, it, "inode records");
    lsm_iter_free(it);
    progress(ck, "inodes", is.seen, is.seen);
    ck->res->inodes = ck->n;
    return rc < 0 || ck->failed ? -1 : 0;
}

/* The root must be a directory; a missing one is recreated. */
static void check_root(fsck *ck)
{
    struct ino_ent *r = tab_find(ck, ROOT_INO);
    if (r == NULL) {
        if (!problem(ck, "recreated", "the root directory (inode %u) is missing",
                     ROOT_INO))
            return;
        if (tab_reserve(ck, 1) < 0)
            return;
        memmove(ck->tab + 1, ck->tab, ck->n * sizeof *ck->tab);
        ck->n++;
        r = &ck->tab[0];
        memset(r, 0, sizeof *r);
        r->ino = ROOT_INO;
        r->parent = ROOT_INO;
        r->type = DT_DIR;
        r->flags = E_NEW;
        return;
    }
    if (r->type != DT_DIR) {
        problem(ck, NULL, "the root (inode %u) is a %s, not a directory; "
                "nothing else will be repaired", ROOT_INO, type_name(r->type));
        ck->frozen = 1;
        return;
    }
    if (r->parent != ROOT_INO &&
        problem(ck, "corrected", "the root's parent field says %llu, not %u",
                (unsigned long long)r->parent, ROOT_INO)) {
        r->parent = ROOT_INO;
        r->flags |= E_FIX_PARENT;
    }
}

/* --- phase 3: the full scan -------------------------------------------------- */

struct block_group {
    int active, skip, past_seen;
    uint64_t ino, size, found;
    uint64_t last_n;          /* the block seen last, UINT64_MAX: none */
    size_t last_len;          /* its length, as counted in found */
    struct ino_ent *e;
};

struct dir_group {
    int active;
    uint64_t parent;
    struct ino_ent *e;        /* NULL: not a live directory */
    uint32_t entries, subdirs;
};

struct xattr_group {
    int active, skip;
    uint64_t ino;
    struct ino_ent *e;
    uint32_t count;
};

typedef struct scan {
    struct block_group bg;
    struct dir_group dg;
    struct xattr_group xg;
} scan;

static void unknown_key(fsck *ck, const char *k, size_t klen, const char *what)
{
    if (problem(ck, "removed", "%s key (kind 0x%02x, %zu bytes)", what,
                klen ? (unsigned char)k[0] : 0, klen))
        fix_delete(ck, k, klen);
}

static void end_blocks(fsck *ck, struct block_group *g)
{
    if (!g->active)
        return;
    g->active = 0;
    if (g->skip)
        return;
    struct ino_ent *e = g->e;
    if (e->u.alloc != g->found &&
        problem(ck, "corrected", "inode %llu: alloc says %llu bytes, its "
                "blocks hold %llu", (unsigned long long)e->ino,
                (unsigned long long)e->u.alloc, (unsigned long long)g->found)) {
        e->u.alloc = g->found;
        e->flags |= E_FIX_ALLOC;
    }
}

/* Starts the blocks of inode ino: they must belong to a block-based
 * regular file, whose size the record gives. */
static void start_blocks(fsck *ck, struct block_group *g, uint64_t ino)
{
    memset(g, 0, sizeof *g);
    g->active = 1;
    g->ino = ino;
    g->last_n = UINT64_MAX;
    g->e = tab_find(ck, ino);
    note_ino(ck, ino);
    const char *why = NULL;
    if (g->e == NULL)
        why = "a missing inode";
    else if (g->e->type != DT_REG)
        why = type_name(g->e->type);
    else if (g->e->flags & E_INLINE)
        why = "an inline file";
    if (why) {
        if (problem(ck, "removed", "data blocks of %s (inode %llu)", why,
                    (unsigned long long)ino))
            fix_delete_prefix(ck, FS_KEY_BLOCK, ino);
        g->skip = 1;
        return;
    }
    g->e->flags |= E_SEEN_BLOCKS;
    char key[16];
    void *val;
    size_t vlen;
    int st = lsm_get(ck->db, &ck->ro, key, fs_key_inode(key, ino), &val, &vlen);
    fs_inode rec;
    const char *data;
    size_t dlen;
    if (st != LSM_OK || fs_decode_inode(val, vlen, &rec, &data, &dlen) != 0) {
        if (st == LSM_OK)
            lsm_free(val);
        op_fail(ck, "inode %llu: rereading the record: %s",
                (unsigned long long)ino, st == LSM_OK ? "does not decode"
                                                      : lsm_last_error());
        g->skip = 1;
        return;
    }
    lsm_free(val);
    g->size = rec.size;
}

/* A block patch (file.c): inside the file's size, extents well formed
 * and inside the block's room.  What it reaches past its block (an
 * append's bytes) counts in alloc. */
static void scan_patch(fsck *ck, struct block_group *g, const char *k,
                       size_t klen, const char *v, size_t vlen, uint64_t n)
{
    uint64_t bs = ck->sb.block_bytes;
    uint64_t room = n * bs < g->size ? g->size - n * bs : 0;
    if (room > bs)
        room = bs;
    if (room == 0 && g->past_seen)
        return;                          /* inside the range dropped already */
    size_t end = 0;
    /* Reads of a file without PATCHED ignore its patches, and the first
     * patch a write puts would bring this one back to light. */
    const char *why = room == 0 ? "lies past the end of the file"
                      : !(g->e->flags & E_PATCHED) ? "belongs to a file without patches"
                      : fs_patch_apply(v, vlen, NULL, (size_t)room, &end) != 0
                          ? "is malformed" : NULL;
    if (why != NULL) {
        if (problem(ck, "removed", "inode %llu block %llu: its patch %s",
                    (unsigned long long)g->ino, (unsigned long long)n, why))
            fix_delete(ck, k, klen);
        return;
    }
    size_t base = g->last_n == n ? g->last_len : 0;
    if (end <= base)
        return;
    /* Past its block: an append's bytes, which file.c writes only onto a
     * stored block and contiguous with it (alloc counts them). */
    why = g->last_n != n ? "reaches past a missing block"
          : !fs_patch_covers(v, vlen, base, end) ? "leaves a gap past its block"
          : NULL;
    if (why == NULL) {
        g->found += end - base;
    } else if (problem(ck, "removed", "inode %llu block %llu: its patch %s",
                       (unsigned long long)g->ino, (unsigned long long)n, why)) {
        fix_delete(ck, k, klen);
    }
}

static void scan_block(fsck *ck, scan *s, const char *k, size_t klen,
                       const char *v, size_t vlen)
{
    uint64_t ino, n;
    int patch = fs_decode_patch_key(k, klen, &ino, &n) == 0;
    if (!patch && fs_decode_block_key(k, klen, &ino, &n) != 0) {
        unknown_key(ck, k, klen, "malformed data block");
        return;
    }
    struct block_group *g = &s->bg;
    if (!g->active || g->ino != ino) {
        end_blocks(ck, g);
        start_blocks(ck, g, ino);
    }
    if (g->skip)
        return;
    if (patch) {
        scan_patch(ck, g, k, klen, v, vlen, n);
        return;
    }
    ck->res->blocks++;
    uint64_t bs = ck->sb.block_bytes;
    uint64_t slots = g->size / bs + (g->size % bs != 0);
    if (n >= slots) {
        if (!g->past_seen &&
            problem(ck, "dropped", "inode %llu: data blocks from block %llu lie "
                    "past its size %llu", (unsigned long long)ino,
                    (unsigned long long)n, (unsigned long long)g->size)) {
            char lo[FS_KEY_MAX], hi[FS_KEY_MAX];
            size_t ll = fs_key_block(lo, ino, n);
            size_t hl = fs_key_ino_end(hi, FS_KEY_BLOCK, ino);
            if (lsm_batch_delete_range(ck->b, lo, ll, hi, hl) != LSM_OK)
                batch_failed(ck);
        }
        g->past_seen = 1;
        return;
    }
    if (vlen == 0 || vlen > bs) {
        if (problem(ck, "removed", "inode %llu block %llu: bad length %zu",
                    (unsigned long long)ino, (unsigned long long)n, vlen))
            fix_delete(ck, k, klen);
        return;
    }
    uint64_t room = g->size - n * bs;    /* > 0: n < slots */
    if (vlen > room) {
        if (problem(ck, "trimmed", "inode %llu block %llu: %zu bytes reach past "
                    "the end of the file (%llu)", (unsigned long long)ino,
                    (unsigned long long)n, vlen, (unsigned long long)g->size))
            fix_put(ck, k, klen, v, (size_t)room);
        vlen = (size_t)room;
    }
    g->found += vlen;
    g->last_n = n;
    g->last_len = vlen;
}

static void end_dir(fsck *ck, struct dir_group *g)
{
    if (!g->active)
        return;
    g->active = 0;
    struct ino_ent *e = g->e;
    if (e == NULL)
        return;
    e->u.dir.subdirs = g->subdirs;
    if (e->flags & E_NEW) {              /* a recreated root: no size yet */
        e->u.dir.entries = g->entries;
        return;
    }
    if (e->u.dir.entries != g->entries &&
        problem(ck, "corrected", "directory %llu: size says %u entries, it "
                "holds %u", (unsigned long long)e->ino, e->u.dir.entries,
                g->entries)) {
        e->u.dir.entries = g->entries;
        e->flags |= E_FIX_SIZE;
    }
}

static void scan_dirent(fsck *ck, scan *s, const char *k, size_t klen,
                        const char *v, size_t vlen)
{
    uint64_t parent, hash, child;
    const char *name;
    size_t len;
    uint8_t type;
    if (fs_decode_dirent_key(k, klen, &parent, &hash, &name, &len) != 0) {
        unknown_key(ck, k, klen, "malformed directory entry");
        return;
    }
    struct dir_group *g = &s->dg;
    if (!g->active || g->parent != parent) {
        end_dir(ck, g);
        memset(g, 0, sizeof *g);
        g->active = 1;
        g->parent = parent;
        g->e = tab_find(ck, parent);
        if (g->e && g->e->type != DT_DIR)
            g->e = NULL;
        if (g->e)
            g->e->flags |= E_SEEN_DIR;
        note_ino(ck, parent);
    }
    ck->res->entries++;
    char shown[SHOW_MAX];
    unsigned long long p = (unsigned long long)parent;
    if (g->e == NULL) {
        struct ino_ent *pe = tab_find(ck, parent);
        if (problem(ck, "removed", "entry '%s' is in %s %llu",
                    show(name, len, shown),
                    pe ? type_name(pe->type) : "missing inode", p))
            fix_delete(ck, k, klen);
        return;
    }
    if (fs_decode_dirent_value(v, vlen, &child, &type) != 0) {
        if (problem(ck, "removed", "entry '%s' in directory %llu does not "
                    "decode (%zu bytes)", show(name, len, shown), p, vlen))
            fix_delete(ck, k, klen);
        return;
    }
    note_ino(ck, child);
    struct ino_ent *c = tab_find(ck, child);
    unsigned long long ci = (unsigned long long)child;
    if (child == ROOT_INO || c == NULL) {
        if (problem(ck, "removed", "entry '%s' in directory %llu points at %s "
                    "%llu", show(name, len, shown), p,
                    c ? "the root directory" : "missing inode", ci))
            fix_delete(ck, k, klen);
        return;
    }
    if (c->type == DT_DIR && c->links > 0) {
        if (problem(ck, "removed", "entry '%s' in directory %llu is a second "
                    "link to directory %llu", show(name, len, shown), p, ci))
            fix_delete(ck, k, klen);
        return;
    }
    if (type != c->type &&
        problem(ck, "corrected", "entry '%s' in directory %llu says %s, inode "
                "%llu is a %s", show(name, len, shown), p, type_name(type), ci,
                type_name(c->type))) {
        char val[FS_DIRENT_VALUE_BYTES];
        fs_encode_dirent_value(val, child, c->type);
        fix_put(ck, k, klen, val, sizeof val);
    }
    if (c->links < UINT32_MAX)
        c->links++;
    g->entries++;
    if (c->type != DT_DIR)
        return;
    g->subdirs++;
    if (c->parent != parent &&
        problem(ck, "corrected", "directory %llu: parent field says %llu, its "
                "entry '%s' is in directory %llu", ci,
                (unsigned long long)c->parent, show(name, len, shown), p)) {
        c->parent = parent;
        c->flags |= E_FIX_PARENT;
    }
}

static void scan_orphan(fsck *ck, const char *k, size_t klen)
{
    uint64_t ino;
    if (fs_decode_orphan_key(k, klen, &ino) != 0) {
        unknown_key(ck, k, klen, "malformed orphan");
        return;
    }
    note_ino(ck, ino);
    struct ino_ent *e = tab_find(ck, ino);
    if (e == NULL) {
        if (problem(ck, "removed", "orphan list names missing inode %llu",
                    (unsigned long long)ino))
            fix_delete(ck, k, klen);
        return;
    }
    e->flags |= E_ORPHAN;
}

static void end_xattrs(fsck *ck, struct xattr_group *g)
{
    if (!g->active)
        return;
    g->active = 0;
    if (g->skip)
        return;
    struct ino_ent *e = g->e;
    if (e->xattrs != g->count &&
        problem(ck, "corrected", "inode %llu: xattr count says %u, it has %u",
                (unsigned long long)e->ino, e->xattrs, g->count)) {
        e->xattrs = g->count;
        e->flags |= E_FIX_XATTRS;
    }
}

static void scan_xattr(fsck *ck, scan *s, const char *k, size_t klen,
                       size_t vlen)
{
    uint64_t ino;
    const char *name;
    size_t len;
    if (fs_decode_xattr_key(k, klen, &ino, &name, &len) != 0) {
        unknown_key(ck, k, klen, "malformed xattr");
        return;
    }
    struct xattr_group *g = &s->xg;
    if (!g->active || g->ino != ino) {
        end_xattrs(ck, g);
        memset(g, 0, sizeof *g);
        g->active = 1;
        g->ino = ino;
        g->e = tab_find(ck, ino);
        note_ino(ck, ino);
        if (g->e == NULL) {
            if (problem(ck, "removed", "xattrs of missing inode %llu",
                        (unsigned long long)ino))
                fix_delete_prefix(ck, FS_KEY_XATTR, ino);
            g->skip = 1;
        } else {
            g->e->flags |= E_SEEN_XATTRS;
        }
    }
    if (g->skip)
        return;
    ck->res->xattrs++;
    if (vlen > FS_XATTR_VALUE_MAX) {
        char shown[SHOW_MAX];
        if (problem(ck, "removed", "inode %llu: xattr '%s' holds %zu bytes "
                    "(at most %u)", (unsigned long long)ino,
                    show(name, len, shown), vlen, FS_XATTR_VALUE_MAX))
            fix_delete(ck, k, klen);
        return;
    }
    g->count++;
}

struct full_scan {
    scan s;
    uint64_t done, total;                /* bytes, for the progress bar */
};

static void visit_any(fsck *ck, const char *k, size_t klen,
                      const char *v, size_t vlen, void *arg)
{
    struct full_scan *fsc = arg;
    fsc->done += klen + vlen;
    if (++ck->res->keys % PROGRESS_EVERY == 0)
        progress(ck, "scan", fsc->done, fsc->total);
    switch (klen ? k[0] : 0) {
    case FS_KEY_BLOCK:
        scan_block(ck, &fsc->s, k, klen, v, vlen);
        break;
    case FS_KEY_DIRENT:
        scan_dirent(ck, &fsc->s, k, klen, v, vlen);
        break;
    case FS_KEY_INODE:
        break;                           /* phase 2 */
    case FS_KEY_ORPHAN:
        scan_orphan(ck, k, klen);
        break;
    case FS_KEY_SUPER:
        if (klen != 1)
            unknown_key(ck, k, klen, "malformed superblock");
        break;
    case FS_KEY_XATTR:
        scan_xattr(ck, &fsc->s, k, klen, vlen);
        break;
    default:
        unknown_key(ck, k, klen, "unknown");
        break;
    }
}

static int scan_all(fsck *ck)
{
    struct full_scan fsc;
    memset(&fsc, 0, sizeof fsc);
    fsc.total = lsm_disk_bytes(ck->db);
    lsm_iter *it = scan_keys(ck, 0, visit_any, &fsc);
    if (it == NULL)
        return -1;
    end_blocks(ck, &fsc.s.bg);
    end_dir(ck, &fsc.s.dg);
    end_xattrs(ck, &fsc.s.xg);
    int rc = iter_range(ck, it, "full scan");
    lsm_iter_free(it);
    uint64_t all = fsc.done > fsc.total ? fsc.done : fsc.total;
    progress(ck, "scan", all, all);
    if (rc < 0 || ck->failed)
        return -1;
    ck->scanned = 1;
    return 0;
}

/* --- files with data in lost ranges ------------------------------------------- */

#define TOUCHED_MAX 256           /* files listed; the rest are counted */

static void add_touched(fsck *ck, uint64_t ino, uint64_t first, uint64_t last)
{
    struct touched *p = realloc(ck->touched, (ck->ntouched + 1) * sizeof *p);
    if (!p) {
        op_fail(ck, "out of memory");
        return;
    }
    ck->touched = p;
    p[ck->ntouched++] = (struct touched){ ino, first, last, 0, NULL, 0 };
}

/* The regular files with data blocks in loss l, and which blocks (as far
 * as the range's bounds tell: a bound may be a shortened key). */
static uint64_t touch_files(fsck *ck, const struct loss *l)
{
    char lk = l->lo_len ? l->lo[0] : 0, hk = l->hi_len ? l->hi[0] : 0;
    if (lk > FS_KEY_BLOCK || hk < FS_KEY_BLOCK)
        return 0;
    int lb = lk == FS_KEY_BLOCK, hb = hk == FS_KEY_BLOCK;
    uint64_t lo_ino = lb ? key_u64(l->lo, l->lo_len, 1, 0) : 0;
    uint64_t hi_ino = hb ? key_u64(l->hi, l->hi_len, 1, 0xff) : UINT64_MAX;
    uint64_t lo_blk = lb ? key_u64(l->lo, l->lo_len, 9, 0) : 0;
    uint64_t hi_blk = hb ? key_u64(l->hi, l->hi_len, 9, 0xff) : UINT64_MAX;
    if (lb && !l->lo_inclusive && l->lo_len == 17 && lo_blk < UINT64_MAX)
        lo_blk++;                          /* after that block's key */
    size_t i = 0, hi = ck->n;
    while (i < hi) {                       /* first inode >= lo_ino */
        size_t mid = i + (hi - i) / 2;
        if (ck->tab[mid].ino < lo_ino)
            i = mid + 1;
        else
            hi = mid;
    }
    uint64_t more = 0;
    for (; i < ck->n && ck->tab[i].ino <= hi_ino && !ck->failed; i++) {
        struct ino_ent *e = &ck->tab[i];
        if (e->type != DT_REG || (e->flags & (E_INLINE | E_NEW)))
            continue;
        if (ck->ntouched >= TOUCHED_MAX) {
            more++;
            continue;
        }
        add_touched(ck, e->ino, e->ino == lo_ino ? lo_blk : 0,
                    e->ino == hi_ino ? hi_blk : UINT64_MAX);
        e->flags |= E_TOUCHED;
    }
    return more;
}

/* Finds the entries naming the touched files: one pass over the
 * directory entries (past lost ranges, in check mode). */
static void visit_touched_name(fsck *ck, const char *k, size_t klen,
                               const char *v, size_t vlen, void *arg)
{
    (void)arg;
    uint64_t parent, hash, child;
    const char *name;
    size_t len;
    uint8_t type;
    if (fs_decode_dirent_key(k, klen, &parent, &hash, &name, &len) != 0 ||
        fs_decode_dirent_value(v, vlen, &child, &type) != 0)
        return;
    struct ino_ent *e = tab_find(ck, child);
    if (e == NULL || !(e->flags & E_TOUCHED))
        return;
    for (size_t i = 0; i < ck->ntouched; i++) {
        struct touched *t = &ck->touched[i];
        if (t->ino != child || t->name)
            continue;
        if ((t->name = malloc(len ? len : 1)) == NULL) {
            op_fail(ck, "out of memory");
            return;
        }
        memcpy(t->name, name, len);
        t->name_len = len;
        t->parent = parent;
    }
}

static void name_touched(fsck *ck)
{
    lsm_iter *it = scan_keys(ck, FS_KEY_DIRENT, visit_touched_name, NULL);
    lsm_iter_free(it);
}

/* The name of child's entry in directory dir, into out (SHOW_MAX bytes);
 * "?" if none is found. */
static void entry_name(fsck *ck, uint64_t dir, uint64_t child, char *out)
{
    strcpy(out, "?");
    lsm_read_options ro = { ck->ro.snapshot, 1 };
    lsm_iter *it = lsm_iter_new(ck->db, &ro);
    if (it == NULL)
        return;
    char pre[16];
    size_t pl = fs_key_ino_prefix(pre, FS_KEY_DIRENT, dir);
    for (lsm_iter_seek(it, pre, pl); lsm_iter_valid(it); lsm_iter_next(it)) {
        size_t klen, vlen;
        const char *k = lsm_iter_key(it, &klen);
        const void *v = lsm_iter_value(it, &vlen);
        uint64_t parent, hash, ino;
        const char *name;
        size_t len;
        uint8_t type;
        if (klen < pl || memcmp(k, pre, pl) != 0)
            break;
        if (fs_decode_dirent_key(k, klen, &parent, &hash, &name, &len) == 0 &&
            fs_decode_dirent_value(v, vlen, &ino, &type) == 0 && ino == child) {
            show(name, len, out);
            break;
        }
    }
    lsm_iter_free(it);
}

/* Puts "/" + str in front of out[*pos..]; -1 if it does not fit. */
static int prepend(char *out, size_t *pos, const char *str)
{
    size_t n = strlen(str);
    if (n + 1 > *pos)
        return -1;
    *pos -= n;
    memcpy(out + *pos, str, n);
    out[--*pos] = '/';
    return 0;
}

/* The file's path, from its entry up through the directories' parent
 * fields (at most 64 levels; "..." when it does not fit). */
static void path_of(fsck *ck, const struct touched *t, char *out, size_t cap)
{
    char shown[SHOW_MAX];
    if (t->name == NULL) {
        snprintf(out, cap, "(no entry found)");
        return;
    }
    size_t pos = cap - 1;
    out[pos] = '\0';
    int rc = prepend(out, &pos, show(t->name, t->name_len, shown));
    uint64_t d = t->parent;
    for (int depth = 0; rc == 0 && d != ROOT_INO && depth < 64; depth++) {
        struct ino_ent *e = tab_find(ck, d);
        if (e == NULL || e->type != DT_DIR) {
            rc = prepend(out, &pos, "?");
            break;
        }
        entry_name(ck, e->parent, d, shown);
        rc = prepend(out, &pos, shown);
        d = e->parent;
    }
    if (rc < 0 && pos >= 3)
        memcpy(out + (pos -= 3), "...", 3);
    memmove(out, out + pos, strlen(out + pos) + 1);
}

/* One problem per file with data in a lost range, naming it. */
static void report_touched(fsck *ck)
{
    uint64_t more = 0;
    for (size_t i = 0; i < ck->nlosses && !ck->failed; i++)
        more += touch_files(ck, &ck->losses[i]);
    if (ck->ntouched == 0 || ck->failed)
        return;
    name_touched(ck);
    for (size_t i = 0; i < ck->ntouched && !ck->failed; i++) {
        const struct touched *t = &ck->touched[i];
        char path[1024], range[64];
        path_of(ck, t, path, sizeof path);
        if (t->last == UINT64_MAX)
            snprintf(range, sizeof range, "blocks from %llu on",
                     (unsigned long long)t->first);
        else if (t->first == t->last)
            snprintf(range, sizeof range, "block %llu",
                     (unsigned long long)t->first);
        else
            snprintf(range, sizeof range, "blocks %llu to %llu",
                     (unsigned long long)t->first, (unsigned long long)t->last);
        problem(ck, "those bytes now read as zeros", "file %s (inode %llu): "
                "data %s (of %u bytes) in a damaged table block or blob file", path,
                (unsigned long long)t->ino, range, ck->sb.block_bytes);
    }
    if (more)
        problem(ck, "their lost bytes now read as zeros", "%llu more files had "
                "data in damaged table blocks or blob files",
                (unsigned long long)more);
}

/* --- phase 4: namespace -------------------------------------------------------- */

static int dirent_exists(fsck *ck, uint64_t dir, const char *name, size_t len,
                         int *exists)
{
    char key[FS_KEY_MAX];
    void *val;
    size_t vlen;
    int st = lsm_get(ck->db, &ck->ro, key, fs_key_dirent(key, dir, name, len),
                     &val, &vlen);
    if (st == LSM_OK)
        lsm_free(val);
    if (st != LSM_OK && st != LSM_NOT_FOUND) {
        op_fail(ck, "reading directory %llu: %s", (unsigned long long)dir,
                lsm_last_error());
        return -1;
    }
    *exists = st == LSM_OK;
    return 0;
}

static void put_dirent(fsck *ck, uint64_t dir, const char *name, size_t len,
                       uint64_t ino, uint8_t type)
{
    char key[FS_KEY_MAX], val[FS_DIRENT_VALUE_BYTES];
    size_t klen = fs_key_dirent(key, dir, name, len);
    fs_encode_dirent_value(val, ino, type);
    fix_put(ck, key, klen, val, sizeof val);
}

/* Finds /lost+found, or makes it (its record is written in phase 4 with
 * the others: E_NEW).  Table room for it was reserved. */
static struct ino_ent *lost_found(fsck *ck)
{
    if (ck->lf)
        return tab_find(ck, ck->lf);
    if (ck->lf_broken)
        return NULL;
    static const char name[] = "lost+found";
    char key[FS_KEY_MAX];
    void *val;
    size_t vlen;
    int st = lsm_get(ck->db, &ck->ro, key, fs_key_dirent(key, ROOT_INO, name,
                                                      sizeof name - 1),
                     &val, &vlen);
    struct ino_ent *root = tab_find(ck, ROOT_INO);
    if (st == LSM_OK) {
        uint64_t ino;
        uint8_t type;
        int ok = fs_decode_dirent_value(val, vlen, &ino, &type) == 0;
        lsm_free(val);
        struct ino_ent *e = ok ? tab_find(ck, ino) : NULL;
        if (e && e->type == DT_DIR && e->links == 1 && e->parent == ROOT_INO) {
            ck->lf = ino;
            return e;
        }
        if (e && ino != ROOT_INO) {       /* a live non-directory: keep it */
            problem(ck, NULL, "/lost+found is a %s; unreachable inodes stay "
                    "where they are", type_name(e->type));
            ck->lf_broken = 1;
            return NULL;
        }
        /* A dangling entry (removed by this repair): replaced below. */
    } else if (st != LSM_NOT_FOUND) {
        op_fail(ck, "reading /lost+found: %s", lsm_last_error());
        return NULL;
    }
    if (root == NULL || tab_reserve(ck, 1) < 0) {
        ck->lf_broken = 1;
        return NULL;
    }
    root = tab_find(ck, ROOT_INO);
    uint64_t ino = ck->next_free++;
    struct ino_ent *e = &ck->tab[ck->n++];
    memset(e, 0, sizeof *e);
    e->ino = ino;
    e->parent = ROOT_INO;
    e->type = DT_DIR;
    e->links = 1;
    e->flags = E_NEW | E_REACHED;
    /* The repair's own changes to counts are not problems: the stored
     * values they are compared with move along. */
    root->u.dir.entries++;
    root->u.dir.subdirs++;
    adjust(ck, ROOT_INO, 1);
    root->flags |= E_FIX_SIZE;
    put_dirent(ck, ROOT_INO, name, sizeof name - 1, ino, DT_DIR);
    info(ck, FSCK_FIXED, "created /lost+found (inode %llu)",
         (unsigned long long)ino);
    ck->lf = ino;
    return e;
}

/* Links e into /lost+found as "#ino" (or "#ino.N" if taken); the name
 * goes to name[48]. */
static int link_lost(fsck *ck, struct ino_ent *e, char *name)
{
    uint64_t ino = e->ino;
    struct ino_ent *lf = lost_found(ck);
    if (lf == NULL)
        return -1;
    e = tab_find(ck, ino);               /* the table may have moved */
    int len = 0, exists = 1;
    for (int i = 0; exists && i < 100; i++) {
        len = i ? snprintf(name, 48, "#%llu.%d", (unsigned long long)ino, i)
                : snprintf(name, 48, "#%llu", (unsigned long long)ino);
        if (dirent_exists(ck, lf->ino, name, (size_t)len, &exists) < 0)
            return -1;
    }
    if (exists) {
        ck->lf_broken = 1;
        return -1;
    }
    put_dirent(ck, lf->ino, name, (size_t)len, ino, e->type);
    e->links = 1;
    lf->u.dir.entries++;
    lf->flags |= E_FIX_SIZE;
    if (e->type == DT_DIR) {
        lf->u.dir.subdirs++;
        adjust(ck, lf->ino, 1);
        e->parent = lf->ino;
        e->flags |= E_FIX_PARENT;
    }
    commit(ck, 0);
    return 0;
}

/* Removes every record of orphan e (and its reservation from the sum). */
static void reclaim(fsck *ck, struct ino_ent *e)
{
    char key[16];
    void *val;
    size_t vlen, dlen;
    fs_inode rec;
    const char *data;
    if (lsm_get(ck->db, &ck->ro, key, fs_key_inode(key, e->ino), &val, &vlen) == LSM_OK) {
        if (fs_decode_inode(val, vlen, &rec, &data, &dlen) == 0)
            ck->resv -= rec.resv < ck->resv ? rec.resv : ck->resv;
        lsm_free(val);
    }
    fix_delete(ck, key, fs_key_inode(key, e->ino));
    fix_delete(ck, key, fs_key_orphan(key, e->ino));
    fix_delete_prefix(ck, FS_KEY_BLOCK, e->ino);
    fix_delete_prefix(ck, FS_KEY_XATTR, e->ino);
    e->flags |= E_GONE;
    commit(ck, 0);
}

/* Inodes no entry points at: orphans (fine; reclaimed by a repair) or
 * lost (linked into /lost+found).  Also orphan keys of linked inodes. */
static void check_unattached(fsck *ck)
{
    /* Fields for inodes the scan never met: nothing there. */
    for (size_t i = 0; i < ck->n; i++) {
        struct ino_ent *e = &ck->tab[i];
        unsigned long long ino = (unsigned long long)e->ino;
        if (e->type == DT_DIR && !(e->flags & (E_SEEN_DIR | E_NEW)) &&
            e->u.dir.entries != 0 &&
            problem(ck, "corrected", "directory %llu: size says %u entries, it "
                    "holds none", ino, e->u.dir.entries)) {
            e->u.dir.entries = 0;
            e->flags |= E_FIX_SIZE;
        }
        if (e->type == DT_REG && !(e->flags & (E_SEEN_BLOCKS | E_INLINE)) &&
            e->u.alloc != 0 &&
            problem(ck, "corrected", "inode %llu: alloc says %llu bytes, it has "
                    "no blocks", ino, (unsigned long long)e->u.alloc)) {
            e->u.alloc = 0;
            e->flags |= E_FIX_ALLOC;
        }
        if (!(e->flags & E_SEEN_XATTRS) && e->xattrs != 0 &&
            problem(ck, "corrected", "inode %llu: xattr count says %u, it has "
                    "none", ino, e->xattrs)) {
            e->xattrs = 0;
            e->flags |= E_FIX_XATTRS;
        }
    }
    size_t n = ck->n;                    /* lost+found may be appended */
    for (size_t i = 0; i < n && !ck->failed; i++) {
        struct ino_ent *e = &ck->tab[i];
        unsigned long long ino = (unsigned long long)e->ino;
        if (e->ino == ROOT_INO)
            continue;
        if (e->links > 0) {
            if ((e->flags & E_ORPHAN) &&
                problem(ck, "removed from the orphan list", "inode %llu is "
                        "linked but on the orphan list", ino)) {
                char key[16];
                fix_delete(ck, key, fs_key_orphan(key, e->ino));
            }
            continue;
        }
        /* fs never makes a directory an orphan; one holding entries
         * cannot be reclaimed without losing them. */
        int orphan = (e->flags & E_ORPHAN) &&
                     !(e->type == DT_DIR && (e->flags & E_SEEN_DIR));
        if (orphan) {
            ck->res->orphans++;
            if (can_fix(ck)) {
                /* Not an error, but a change the repair makes. */
                ck->res->problems++;
                ck->res->fixed++;
                info(ck, FSCK_FIXED, "inode %llu: orphan (unlinked while open): "
                     "reclaimed", ino);
                reclaim(ck, e);
            } else {
                info(ck, FSCK_INFO, "inode %llu: orphan (unlinked while open), "
                     "reclaimed at the next mount", ino);
            }
            continue;
        }
        int fixing = can_fix(ck) && !ck->lf_broken;
        char name[48], fix[96];
        if (fixing) {
            fixing = link_lost(ck, e, name) == 0;
            snprintf(fix, sizeof fix, "linked into /lost+found as %s", name);
            e = &ck->tab[i];
            if (fixing && (e->flags & E_ORPHAN)) {
                char key[16];
                fix_delete(ck, key, fs_key_orphan(key, e->ino));
            }
        }
        /* Reported after the attempt, so the line says what happened. */
        problem(ck, fixing ? fix : NULL, "inode %llu (%s, link count %u) is "
                "in no directory", ino, type_name(e->type), e->nlink);
    }
}

/* Marks the directories from e up to `stop` (exclusive) reachable. */
static void mark_reached(fsck *ck, struct ino_ent *e, const struct ino_ent *stop)
{
    while (e && e != stop && !(e->flags & E_REACHED)) {
        e->flags |= E_REACHED;
        e = e->ino == ROOT_INO ? NULL : tab_find(ck, e->parent);
    }
}

/* Finds the entry of directory `child` in directory `dir` and removes it. */
static int unlink_dir_entry(fsck *ck, uint64_t dir, uint64_t child)
{
    char lo[16], hi[16];
    size_t ll = fs_key_ino_prefix(lo, FS_KEY_DIRENT, dir);
    size_t hl = fs_key_ino_prefix(hi, FS_KEY_DIRENT, dir + 1);
    lsm_iter *it = lsm_iter_new(ck->db, &ck->ro);
    if (it == NULL) {
        op_fail(ck, "out of memory");
        return -1;
    }
    int found = 0;
    for (lsm_iter_seek(it, lo, ll); lsm_iter_valid(it); lsm_iter_next(it)) {
        size_t klen, vlen;
        const char *k = lsm_iter_key(it, &klen);
        if (memcmp(k, hi, klen < hl ? klen : hl) >= 0)
            break;
        const void *v = lsm_iter_value(it, &vlen);
        uint64_t ino;
        uint8_t type;
        if (fs_decode_dirent_value(v, vlen, &ino, &type) == 0 && ino == child) {
            fix_delete(ck, k, klen);
            found = 1;
            break;
        }
    }
    int st = lsm_iter_status(it);
    lsm_iter_free(it);
    if (st != LSM_OK) {
        op_fail(ck, "reading directory %llu: %s", (unsigned long long)dir,
                lsm_last_error());
        return -1;
    }
    return found ? 0 : -1;
}

/* Every directory must reach the root through its parents (each has one
 * entry, in its parent, by now); one that does not is in a cycle of
 * directories cut off from the tree, which a repair breaks by moving
 * one of them into /lost+found. */
static void check_cycles(fsck *ck)
{
    size_t ndirs = 0;
    for (size_t i = 0; i < ck->n; i++)
        ndirs += ck->tab[i].type == DT_DIR;
    struct ino_ent *root = tab_find(ck, ROOT_INO);
    if (root)
        root->flags |= E_REACHED;
    for (size_t i = 0; i < ck->n && !ck->failed; i++) {
        uint64_t start = ck->tab[i].ino;
        struct ino_ent *e = &ck->tab[i];
        if (e->type != DT_DIR || (e->flags & (E_REACHED | E_GONE)))
            continue;
        for (;;) {
            e = tab_find(ck, start);
            struct ino_ent *x = e;
            size_t steps = 0;
            /* Unattached directories (links 0) were reported or linked
             * into /lost+found; they end a walk like the root does. */
            while (x && !(x->flags & E_REACHED) && x->links > 0 &&
                   steps <= ndirs) {
                x = tab_find(ck, x->parent);
                steps++;
            }
            if (steps <= ndirs) {
                mark_reached(ck, e, x);
                break;
            }
            /* x is on the cycle: a repair moves it into lost+found (made
             * first, so moving cannot fail half-way for want of it). */
            uint64_t xino = x->ino, parent = x->parent;
            char name[48], fix[96];
            int moved = 0;
            if (can_fix(ck) && lost_found(ck) != NULL &&
                unlink_dir_entry(ck, parent, xino) == 0) {
                struct ino_ent *p = tab_find(ck, parent);
                if (p && p->u.dir.entries > 0 && p->u.dir.subdirs > 0) {
                    p->u.dir.entries--;
                    p->u.dir.subdirs--;
                    adjust(ck, p->ino, -1);
                    p->flags |= E_FIX_SIZE;
                }
                x = tab_find(ck, xino);
                x->links = 0;
                moved = link_lost(ck, x, name) == 0;
                snprintf(fix, sizeof fix, "moved into /lost+found as %s", name);
                x = tab_find(ck, xino);
                if (!moved)              /* its entry is gone all the same */
                    x->links = 0;
            }
            problem(ck, moved ? fix : NULL, "directory %llu is in a cycle of "
                    "directories cut off from the root",
                    (unsigned long long)xino);
            if (moved) {
                mark_reached(ck, x, NULL);
                continue;                /* walk from start again */
            }
            /* Left as it is: mark the cycle so it is reported once. */
            struct ino_ent *y = x;
            do {
                y->flags |= E_REACHED;
                y = tab_find(ck, y->parent);
            } while (y && y != x && !(y->flags & E_REACHED));
            mark_reached(ck, e, NULL);
            break;
        }
    }
}

/* Rewrites the records whose fields were corrected (or creates them). */
static void write_record(fsck *ck, struct ino_ent *e, uint32_t nlink)
{
    char key[16];
    size_t klen = fs_key_inode(key, e->ino);
    fs_inode rec;
    const char *data = NULL;
    size_t dlen = 0;
    void *val = NULL;
    size_t vlen;
    if (e->flags & E_NEW) {
        memset(&rec, 0, sizeof rec);
        rec.mode = S_IFDIR | (e->ino == ROOT_INO ? 0755 : 0700);
        rec.uid = (uint32_t)geteuid();
        rec.gid = (uint32_t)getegid();
        clock_gettime(CLOCK_REALTIME, &rec.mtime);
        rec.atime = rec.ctime = rec.mtime;
    } else {
        int st = lsm_get(ck->db, &ck->ro, key, klen, &val, &vlen);
        if (st != LSM_OK || fs_decode_inode(val, vlen, &rec, &data, &dlen) != 0) {
            op_fail(ck, "inode %llu: rereading the record: %s",
                    (unsigned long long)e->ino,
                    st == LSM_OK ? "does not decode" : lsm_last_error());
            lsm_free(val);
            return;
        }
    }
    rec.nlink = nlink;
    rec.xattrs = e->xattrs;
    if (e->type == DT_DIR) {
        rec.size = e->u.dir.entries;
        rec.parent = e->parent;
    } else if (e->type == DT_REG && !(e->flags & E_INLINE)) {
        rec.alloc = e->u.alloc;
    }
    char *buf = malloc(fs_inode_bytes(&rec, dlen));
    if (buf == NULL) {
        op_fail(ck, "out of memory");
    } else {
        fs_encode_inode(buf, &rec, data, dlen);
        fix_put(ck, key, klen, buf, fs_inode_bytes(&rec, dlen));
        free(buf);
    }
    lsm_free(val);
    commit(ck, 0);
}

static void check_counts(fsck *ck)
{
    for (size_t i = 0; i < ck->n && !ck->failed; i++) {
        struct ino_ent *e = &ck->tab[i];
        /* Unattached inodes were reported (or reclaimed) already. */
        if ((e->flags & E_GONE) || (e->links == 0 && e->ino != ROOT_INO))
            continue;
        uint32_t want = e->type == DT_DIR ? 2 + e->u.dir.subdirs : e->links;
        /* The count the store should have held, before this repair's own
         * changes (which are rewritten without a report of their own). */
        int64_t was = (int64_t)want - (e->type == DT_DIR ? adjustment(ck, e->ino) : 0);
        int fix = (e->flags & (E_NEW | E_FIX_SIZE | E_FIX_XATTRS | E_FIX_ALLOC |
                               E_FIX_PARENT)) != 0 || e->nlink != want;
        if ((int64_t)e->nlink != was && !(e->flags & E_NEW))
            fix |= problem(ck, "corrected", "inode %llu (%s): link count %u, "
                           "should be %lld", (unsigned long long)e->ino,
                           type_name(e->type), e->nlink, (long long)was);
        if (fix && can_fix(ck))
            write_record(ck, e, want);
    }
}

/* Superblock: the counter above every number in use; the count exact
 * when the store was closed cleanly. */
static void check_super(fsck *ck, uint64_t records)
{
    fs_super sb = ck->sb;
    int changed = 0;
    if (sb.next_ino <= ck->max_ino) {
        if (problem(ck, "raised", "superblock: next inode number %llu is not "
                    "above inode %llu in use", (unsigned long long)sb.next_ino,
                    (unsigned long long)ck->max_ino)) {
            sb.next_ino = ck->max_ino + 1;
            changed = 1;
        }
    }
    if ((sb.flags & FS_SUPER_CLEAN) && sb.inode_count != records &&
        problem(ck, "corrected", "superblock: inode count says %llu, the store "
                "holds %llu", (unsigned long long)sb.inode_count,
                (unsigned long long)records))
        changed = 1;
    if ((sb.flags & FS_SUPER_CLEAN) && sb.resv_bytes != ck->resv &&
        problem(ck, "corrected", "superblock: fallocate reservations sum to "
                "%llu, the inodes hold %llu", (unsigned long long)sb.resv_bytes,
                (unsigned long long)ck->resv))
        changed = 1;
    if (!can_fix(ck))
        return;
    if ((sb.flags & FS_SUPER_CLEAN) && sb.resv_bytes != ck->resv) {
        sb.resv_bytes = ck->resv;   /* less orphans the repair reclaimed */
        changed = 1;
    }
    /* Repairs may have added or removed inodes too. */
    uint64_t live = 0;
    for (size_t i = 0; i < ck->n; i++)
        live += !(ck->tab[i].flags & E_GONE);
    if ((sb.flags & FS_SUPER_CLEAN) && sb.inode_count != live) {
        sb.inode_count = live;
        changed = 1;
    }
    if (sb.next_ino < ck->next_free) {   /* past lost+found, if made */
        sb.next_ino = ck->next_free;
        changed = 1;
    }
    if (changed) {
        char key[4], val[FS_SUPER_BYTES];
        size_t klen = fs_key_super(key);
        sb.version = FS_FORMAT_VERSION;   /* the layout encode writes */
        fs_encode_super(val, &sb);
        fix_put(ck, key, klen, val, sizeof val);
    }
}

static void check_namespace(fsck *ck)
{
    uint64_t records = 0;
    for (size_t i = 0; i < ck->n; i++)
        records += !(ck->tab[i].flags & E_NEW);
    ck->next_free = ck->sb.next_ino > ck->max_any ? ck->sb.next_ino
                                                  : ck->max_any + 1;
    progress(ck, "namespace", 0, 4);
    check_unattached(ck);
    progress(ck, "namespace", 1, 4);
    if (!ck->failed)
        check_cycles(ck);
    progress(ck, "namespace", 2, 4);
    if (!ck->failed)
        check_counts(ck);
    progress(ck, "namespace", 3, 4);
    if (!ck->failed)
        check_super(ck, records);
    progress(ck, "namespace", 4, 4);
}

/* --- entry point ------------------------------------------------------------ */

/* Checks (and with repair, repairs) the tree the reads show. */
static void check_tree(fsck *ck)
{
    if (load_inodes(ck) != 0)
        return;
    check_root(ck);
    /* Room for a recreated root and lost+found, so table pointers
     * held across phases stay put. */
    if (!ck->failed && tab_reserve(ck, 2) == 0 && scan_all(ck) == 0) {
        report_touched(ck);
        check_namespace(ck);
        commit(ck, 1);
    }
}

static void ck_free(fsck *ck)
{
    lsm_batch_free(ck->b);
    free(ck->tab);
    free(ck->adj);
    for (size_t i = 0; i < ck->nlosses; i++) {
        free(ck->losses[i].lo);
        free(ck->losses[i].hi);
    }
    free(ck->losses);
    for (size_t i = 0; i < ck->ntouched; i++)
        free(ck->touched[i].name);
    free(ck->touched);
}

int fsck_check_view(const char *dir, const fsck_options *o, fsck_result *res,
                    lsm_db *db, const lsm_snapshot *snap, const char *label)
{
    fsck ck;
    memset(&ck, 0, sizeof ck);
    ck.dir = dir;
    ck.o = o;
    ck.res = res;
    ck.db = db;
    ck.ro.snapshot = snap;
    ck.ro.no_fill_cache = 1;
    ck.label = label;
    if ((ck.b = lsm_batch_new()) == NULL)
        op_fail(&ck, "out of memory");
    else if (read_super(&ck) == 0)
        check_tree(&ck);
    ck_free(&ck);
    return ck.failed ? -1 : 0;
}

void fsck_options_init(fsck_options *o)
{
    memset(o, 0, sizeof *o);
}

int fs_fsck(const char *dir, const fsck_options *o, fsck_result *res)
{
    fsck_options defaults;
    if (o == NULL) {
        fsck_options_init(&defaults);
        o = &defaults;
    }
    memset(res, 0, sizeof *res);
    fsck ck;
    memset(&ck, 0, sizeof ck);
    ck.dir = dir;
    ck.o = o;
    ck.res = res;
    ck.repair = (o->flags & FSCK_REPAIR) != 0;
    if (dir == NULL || *dir == '\0') {
        op_fail(&ck, "no store directory given");
    } else if ((ck.b = lsm_batch_new()) == NULL) {
        op_fail(&ck, "out of memory");
    } else if (open_store(&ck) == 0) {
        check_tree(&ck);
        if (!ck.failed && ck.repair && res->fixed > 0 && lsm_sync(ck.db) != LSM_OK)
            op_fail(&ck, "%s: syncing repairs: %s", dir, lsm_last_error());
        if (!ck.failed && fsck_check_snapshots(dir, o, res, ck.db) != 0) {
            char why[sizeof res->error];
            memcpy(why, res->error, sizeof why);
            op_fail(&ck, "%s", why);
        }
    }
    if (ck.db) {
        int st = lsm_close(ck.db);
        if (st != LSM_OK)
            op_fail(&ck, "%s: closing: %s", dir, lsm_last_error());
    }
    ck_free(&ck);
    if (ck.failed)
        res->exit_code = FSCK_EXIT_ERROR;
    else if (res->problems == 0)
        res->exit_code = FSCK_EXIT_CLEAN;
    else if (res->fixed < res->problems)
        res->exit_code = FSCK_EXIT_UNFIXED;
    else
        res->exit_code = FSCK_EXIT_FIXED;
    return res->exit_code;
}
