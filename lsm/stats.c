/*
 * stats.c — lsm_property: the engine's state and counters as text.
 *
 * "levels"   one line per level: tables, bytes, target
 * "sstables" every table: level, number, size, entries, and "damaged"
 *            for a table a compaction could not read (compaction.c)
 * "stats"    levels plus counters (lsm_get_stats): bytes written by users, the WAL,
 *            flushes and compactions; write_amp = (flush + compaction
 *            bytes) / user bytes; bloom checks and the reads they saved;
 *            block cache hits and misses; time writers spent stalled;
 *            tables dropped whole under range deletions and their bytes,
 *            idle compactions done and given up for writes (reclaim.c);
 *            "level_io" lines: per level written into, the bytes written
 *            (level 0: flushed, and merged into itself), read by
 *            compactions from above it and from it, moved into it whole,
 *            and compacted in / read from above;
 *            then damaged tables, one line each with the failure that
 *            found it.
 * "blobfiles" every blob file: number, bytes, the garbage the manifest
 *            records for it (records and bytes: values flushes,
 *            compactions and drops left behind), its garbage %, the
 *            bytes freed in it by holes (blob.h) and "current" for the
 *            one being written; then their totals.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "error.h"

static uint64_t load(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void print_levels(FILE *f, lsm_version *v, const lsm_options *o)
{
    uint64_t target = o->level1_bytes;
    fprintf(f, "level files bytes target\n");
    for (int l = 0; l < LSM_NUM_LEVELS; l++) {
        fprintf(f, "L%d %zu %" PRIu64 " ", l, v->nfiles[l],
                lsm_version_level_bytes(v, l));
        if (l == 0)
            fprintf(f, "%d_files\n", o->level0_compaction_trigger);
        else {
            fprintf(f, "%" PRIu64 "\n", target);
            target *= (uint64_t)o->level_multiplier;
        }
    }
}

static int is_damaged(const lsm_damaged_table *d, size_t nd, uint64_t number)
{
    for (size_t i = 0; i < nd; i++)
        if (d[i].number == number)
            return 1;
    return 0;
}

static void print_sstables(FILE *f, lsm_version *v, const lsm_damaged_table *d,
                           size_t nd)
{
    for (int l = 0; l < LSM_NUM_LEVELS; l++)
        for (size_t i = 0; i < v->nfiles[l]; i++) {
            const lsm_file_meta *m = v->files[l][i];
            fprintf(f, "L%d %06" PRIu64 ".sst bytes=%" PRIu64
                       " entries=%" PRIu64 "%s\n",
                    l, m->number, m->size, m->entries,
                    is_damaged(d, nd, m->number) ? " damaged" : "");
        }
}

static void print_damaged(FILE *f, const lsm_damaged_table *d, size_t nd)
{
    fprintf(f, "damaged_tables: %zu\n", nd);
    for (size_t i = 0; i < nd; i++)
        fprintf(f, "damaged %06" PRIu64 ".sst: %s\n", d[i].number, d[i].why);
}

/* Bytes compactions wrote into level l (level 0: its merges into itself,
 * whose inputs count as read from above). */
static uint64_t compacted_into(const lsm_stats *s, int l)
{
    uint64_t w = s->level_io_written[l];
    if (l > 0)
        return w;
    return w > s->flush_bytes ? w - s->flush_bytes : 0;
}

/* Where the write amplification comes from (lsm_stats' level_io_*): per
 * level written into, the bytes written, read from above and from the
 * level itself, moved whole, and compacted in per byte read from above. */
static void print_level_io(FILE *f, const lsm_stats *s)
{
    fprintf(f, "level_io level written read_upper read_lower moved amp\n");
    for (int l = 0; l < LSM_STATS_LEVELS; l++) {
        const uint64_t up = s->level_io_read_upper[l];
        fprintf(f, "level_io L%d %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
                   " %.2f\n",
                l, s->level_io_written[l], up, s->level_io_read_lower[l],
                s->level_io_moved[l],
                up ? (double)compacted_into(s, l) / (double)up : 0.0);
    }
}

static void print_counters(FILE *f, lsm_db *db)
{
    lsm_stats s;
    lsm_get_stats(db, &s);
    fprintf(f, "user_bytes: %" PRIu64 "\n", s.user_bytes);
    fprintf(f, "wal_bytes: %" PRIu64 "\n", s.wal_bytes);
    fprintf(f, "wal_recycled: %" PRIu64 "\n", s.wal_recycled);
    fprintf(f, "flush_bytes: %" PRIu64 "\n", s.flush_bytes);
    fprintf(f, "compaction_bytes_read: %" PRIu64 "\n", s.compaction_bytes_read);
    fprintf(f, "compaction_bytes_written: %" PRIu64 "\n", s.compaction_bytes_written);
    fprintf(f, "write_amp: %.2f\n", s.write_amp);
    fprintf(f, "flushes: %" PRIu64 "\n", s.flushes);
    fprintf(f, "compactions: %" PRIu64 "\n", s.compactions);
    fprintf(f, "trivial_moves: %" PRIu64 "\n", s.trivial_moves);
    fprintf(f, "subcompactions: %" PRIu64 "\n", s.subcompactions);
    fprintf(f, "tables_dropped: %" PRIu64 " bytes_dropped: %" PRIu64 "\n",
            s.tables_dropped, s.bytes_dropped);
    fprintf(f, "idle_compactions: %" PRIu64 " idle_yields: %" PRIu64 "\n",
            s.idle_compactions, s.idle_yields);
    fprintf(f, "heap_trims: %" PRIu64 "\n", s.heap_trims);
    fprintf(f, "group_commits: %" PRIu64 " writes: %" PRIu64 " wal_syncs: %" PRIu64 "\n",
            s.group_commits, s.grouped_writes, s.wal_syncs);
    fprintf(f, "stall_micros: %" PRIu64 " stalled_writes: %" PRIu64
            " slowdown_micros: %" PRIu64 " slowed_writes: %" PRIu64
            " delayed_write_rate: %" PRIu64 "\n", s.stall_micros,
            s.stalled_writes, s.slowdown_micros, s.slowed_writes,
            s.delayed_write_rate);
    fprintf(f, "bloom_checks: %" PRIu64 " bloom_useful: %" PRIu64 "\n",
            s.bloom_checks, s.bloom_useful);
    fprintf(f, "block_cache_hits: %" PRIu64 " block_cache_misses: %" PRIu64
               " block_cache_not_admitted: %" PRIu64 "\n",
            s.cache_hits, s.cache_misses, s.cache_not_admitted);
    fprintf(f, "block_cache_bytes: %" PRIu64 "\n", s.cache_bytes);
    fprintf(f, "table_meta_bytes: %" PRIu64 "\n", s.table_meta_bytes);
    fprintf(f, "blocks_read: %" PRIu64 "\n", s.blocks_read);
    print_level_io(f, &s);
}

/* The "blobfiles" property (mu held: the garbage is read under it). */
static void print_blob_files(FILE *f, lsm_db *db)
{
    lsm_blob_file_size *files;
    size_t n;
    if (lsm_blobs_files(db->blobs, &files, &n))
        return;
    uint64_t current = lsm_blobs_current(db->blobs), bytes = 0, gbytes = 0;
    uint64_t punched = 0;
    for (size_t i = 0; i < n; i++) {
        const lsm_blob_garbage *g = lsm_garbage_find(&db->vs.garbage,
                                                     files[i].number);
        lsm_blob_garbage z = { 0 };
        if (!g)
            g = &z;
        fprintf(f, "blob %06" PRIu64 " bytes %" PRIu64 " garbage_count %" PRIu64
                " garbage_bytes %" PRIu64 " garbage_pct %.1f punched %" PRIu64 "%s\n",
                files[i].number, files[i].bytes, g->count, g->bytes,
                files[i].bytes ? 100.0 * (double)g->bytes / (double)files[i].bytes : 0.0,
                files[i].punched, files[i].number == current ? " current" : "");
        bytes += files[i].bytes;
        gbytes += g->bytes;
        punched += files[i].punched;
    }
    fprintf(f, "blob_files: %zu bytes %" PRIu64 " garbage_bytes %" PRIu64
            " punched %" PRIu64 "\n", n, bytes, gbytes, punched);
    free(files);
}

int lsm_property(lsm_db *db, const char *name, char **out)
{
    if (name && strcmp(name, "blobfiles") == 0) {
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (!f)
            return lsm_fail(LSM_NO_MEMORY, "out of memory");
        pthread_mutex_lock(&db->mu);
        print_blob_files(f, db);
        pthread_mutex_unlock(&db->mu);
        if (fclose(f) != 0) {
            free(text);
            return lsm_fail(LSM_NO_MEMORY, "out of memory");
        }
        *out = text;
        return LSM_OK;
    }
    int which = !name ? -1
                : strcmp(name, "stats") == 0    ? 0
                : strcmp(name, "levels") == 0   ? 1
                : strcmp(name, "sstables") == 0 ? 2
                                                : -1;
    if (which < 0)
        return lsm_fail(LSM_INVALID, "unknown property '%s'", name ? name : "");
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    pthread_mutex_lock(&db->mu);
    lsm_version *v = db->vs.current;
    lsm_version_ref(v);
    size_t nd = db->ndamaged;
    lsm_damaged_table *damaged = nd ? malloc(nd * sizeof *damaged) : NULL;
    if (damaged)
        memcpy(damaged, db->damaged, nd * sizeof *damaged);
    else
        nd = 0;
    pthread_mutex_unlock(&db->mu);
    if (which != 2)
        print_levels(f, v, &db->opt);
    if (which == 2)
        print_sstables(f, v, damaged, nd);
    if (which == 0) {
        print_counters(f, db);
        print_damaged(f, damaged, nd);
    }
    free(damaged);
    pthread_mutex_lock(&db->mu);
    lsm_version_unref(v);
    pthread_mutex_unlock(&db->mu);
    if (fclose(f) != 0) {
        free(text);
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    }
    *out = text;
    return LSM_OK;
}

void lsm_get_stats(lsm_db *db, lsm_stats *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&db->mu);
    lsm_version *v = db->vs.current;
    lsm_version_ref(v);
    out->memtables = 1 + (uint64_t)db->nimm;
    out->memtable_bytes = lsm_memtable_bytes(db->mem);
    for (int i = 0; i < db->nimm; i++)
        out->memtable_bytes += lsm_memtable_bytes(db->imm[i]);
    out->last_seq = db->vs.last_seq;
    out->damaged_tables = db->ndamaged;
    out->snapshots = db->vs.nnamed;
    out->delayed_write_rate = lsm_db_write_rate(db);
    pthread_mutex_unlock(&db->mu);

    const lsm_options *o = &db->opt;
    uint64_t target = o->level1_bytes;
    for (int l = 0; l < LSM_NUM_LEVELS && l < LSM_STATS_LEVELS; l++) {
        uint64_t bytes = lsm_version_level_bytes(v, l);
        out->level_files[l] = v->nfiles[l];
        out->level_bytes[l] = bytes;
        if (l == 0) {
            if (v->nfiles[0] >= (size_t)o->level0_compaction_trigger)
                out->pending_compaction_bytes += bytes;
            continue;
        }
        if (l + 1 < LSM_NUM_LEVELS && bytes > target)
            out->pending_compaction_bytes += bytes - target;
        target *= (uint64_t)o->level_multiplier;
    }
    pthread_mutex_lock(&db->mu);
    lsm_version_unref(v);
    pthread_mutex_unlock(&db->mu);

    const lsm_db_stats *s = &db->stats;
    out->user_bytes = load(&s->user_bytes);
    out->wal_bytes = load(&s->wal_bytes);
    out->wal_syncs = load(&s->wal_syncs);
    out->wal_recycled = load(&s->wal_recycled);
    out->compaction_bytes_read = load(&s->compact_bytes_read);
    out->flushes = load(&s->flushes);
    out->compactions = load(&s->compactions);
    out->trivial_moves = load(&s->trivial_moves);
    out->subcompactions = load(&s->subcompactions);
    out->group_commits = load(&s->group_commits);
    out->grouped_writes = load(&s->grouped_writes);
    out->stall_micros = load(&s->stall_micros);
    out->stalled_writes = load(&s->stalled_writes);
    out->slowdown_micros = load(&s->slowdown_micros);
    out->slowed_writes = load(&s->slowed_writes);
    out->tables_dropped = load(&s->tables_dropped);
    out->bytes_dropped = load(&s->bytes_dropped);
    out->idle_compactions = load(&s->idle_compactions);
    out->idle_yields = load(&s->idle_yields);
    out->heap_trims = load(&s->heap_trims);
    uint64_t written = 0;   /* into every level, level 0 included */
    for (int l = 0; l < LSM_NUM_LEVELS && l < LSM_STATS_LEVELS; l++) {
        out->level_io_written[l] =   /* acquire: see `flushed` below */
            __atomic_load_n(&s->level_written[l], __ATOMIC_ACQUIRE);
        written += out->level_io_written[l];
        out->level_io_read_upper[l] = load(&s->level_read_upper[l]);
        out->level_io_read_lower[l] = load(&s->level_read_lower[l]);
        out->level_io_moved[l] = load(&s->level_moved[l]);
    }
    /* What was written less the flushes' bytes is the compactions' (level
     * 0 merged into itself included).  flush.c counts a flush in
     * `flushed` before it releases it into level_written[0], read above
     * with acquire and `flushed` here after, so every flush in `written`
     * is in `flushed`; one not yet in `written` makes the difference
     * short for now (hence the clamp). */
    out->flush_bytes = load(&s->flushed);
    out->compaction_bytes_written =
        written > out->flush_bytes ? written - out->flush_bytes : 0;
    out->write_amp = out->user_bytes
        ? (double)(out->flush_bytes + out->compaction_bytes_written) /
              (double)out->user_bytes
        : 0.0;
    lsm_table_stats ts;
    lsm_table_stats_get(&ts);
    out->cache_hits = ts.cache_hits;
    out->cache_misses = ts.cache_misses;
    out->cache_not_admitted = ts.cache_not_admitted;
    out->cache_bytes = lsm_cache_usage(db->block_cache);
    out->table_meta_bytes = lsm_table_cache_meta_bytes(db->tcache);
    out->bloom_checks = ts.bloom_checks;
    out->bloom_useful = ts.bloom_negatives;
    out->blocks_read = ts.blocks_read;
    out->disk_bytes = lsm_disk_bytes(db);
}
