/*
 * stats_render.c — `lsmfs stats` output, as text for people or JSON for
 * scripts (one object; numbers are plain integers or decimals).
 * Ratios: block cache hits / lookups; bloom "useful" / checks (the share
 * of filter checks that spared a table read).  Latencies are the upper
 * bounds of log2 buckets (histo.h), in microseconds.  Snapshots: the
 * count and the sum of what each alone holds (lsm_snapshot_space: keys
 * and values before compression that only it sees).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "histo.h"
#include "tools.h"

static double ratio(uint64_t part, uint64_t whole)
{
    return whole ? (double)part / (double)whole : 0.0;
}

static double us(uint64_t ns)
{
    return (double)ns / 1000.0;
}

int mnt_stats_snapshots(lsm_db *db, struct mnt_stats_view *v)
{
    lsm_snapshot_info *list;
    size_t n;
    int rc = lsm_snapshot_list(db, &list, &n);
    if (rc != LSM_OK)
        return rc;
    uint64_t *own = n ? calloc(n, sizeof *own) : NULL;
    if (n && !own)
        rc = LSM_NO_MEMORY;
    else if (n)
        rc = lsm_snapshot_space(db, list, n, own);
    v->snapshot_bytes = 0;
    for (size_t i = 0; rc == LSM_OK && i < n; i++)
        v->snapshot_bytes += own[i];
    v->have_snapshot_bytes = rc == LSM_OK;
    free(own);
    lsm_free(list);
    return rc;
}

static void render_text(FILE *f, const struct mnt_stats_view *v)
{
    const lsm_stats *s = &v->lsm;
    fprintf(f, "level  files  bytes\n");
    for (int l = 0; l < LSM_STATS_LEVELS; l++)
        fprintf(f, "L%d  %6" PRIu64 "  %" PRIu64 "\n", l, s->level_files[l],
                s->level_bytes[l]);
    fprintf(f, "memtables: %" PRIu64 " (%" PRIu64 " bytes)\n", s->memtables,
            s->memtable_bytes);
    fprintf(f, "pending_compaction_bytes: %" PRIu64 "\n",
            s->pending_compaction_bytes);
    fprintf(f, "write_amp: %.2f (user %" PRIu64 ", flushed %" PRIu64
               ", compacted %" PRIu64 " bytes)\n", s->write_amp, s->user_bytes,
            s->flush_bytes, s->compaction_bytes_written);
    fprintf(f, "flushes: %" PRIu64 "  compactions: %" PRIu64 "\n", s->flushes,
            s->compactions);
    fprintf(f, "stall_seconds: %.3f (%" PRIu64 " waits)  slowdown_seconds: %.3f"
               " (%" PRIu64 " writes, now %" PRIu64 " bytes/s)\n",
            (double)s->stall_micros / 1e6, s->stalled_writes,
            (double)s->slowdown_micros / 1e6, s->slowed_writes,
            s->delayed_write_rate);
    fprintf(f, "block_cache: hit_ratio %.3f (%" PRIu64 " hits, %" PRIu64
               " misses, %" PRIu64 " of them not admitted), %" PRIu64
               " bytes\n",
            ratio(s->cache_hits, s->cache_hits + s->cache_misses),
            s->cache_hits, s->cache_misses, s->cache_not_admitted,
            s->cache_bytes);
    fprintf(f, "bloom: useful_ratio %.3f (%" PRIu64 " of %" PRIu64 " checks)\n",
            ratio(s->bloom_useful, s->bloom_checks), s->bloom_useful,
            s->bloom_checks);
    fprintf(f, "wal: %" PRIu64 " bytes, %" PRIu64 " syncs, %" PRIu64
               " recycled\n", s->wal_bytes, s->wal_syncs, s->wal_recycled);
    fprintf(f, "last_seq: %" PRIu64 "  disk_bytes: %" PRIu64
               "  damaged_tables: %" PRIu64 "\n",
            s->last_seq, s->disk_bytes, s->damaged_tables);
    fprintf(f, "snapshots: %" PRIu64, s->snapshots);
    if (v->have_snapshot_bytes)
        fprintf(f, " (holding %" PRIu64 " bytes alone)", v->snapshot_bytes);
    fprintf(f, "\n");
    fprintf(f, "reclaim: %" PRIu64 " tables dropped (%" PRIu64 " bytes), %"
               PRIu64 " idle compactions, %" PRIu64 " yields\n",
            s->tables_dropped, s->bytes_dropped, s->idle_compactions,
            s->idle_yields);
    if (v->have_inodes)
        fprintf(f, "inodes: %" PRIu64 "\n", v->inodes);
    if (!v->have_requests)
        return;
    fprintf(f, "%-16s %10s %10s %10s\n", "request", "count", "p50_us", "p99_us");
    for (uint32_t op = 0; op < MNT_HISTO_OPS; op++) {
        struct mnt_histo_op h;
        mnt_histo_get(op, &h);
        if (h.count == 0 || !mnt_histo_op_name(op))
            continue;
        fprintf(f, "%-16s %10" PRIu64 " %10.1f %10.1f\n", mnt_histo_op_name(op),
                h.count, us(mnt_histo_quantile(&h, 0.5)),
                us(mnt_histo_quantile(&h, 0.99)));
    }
}

static void render_json(FILE *f, const struct mnt_stats_view *v)
{
    const lsm_stats *s = &v->lsm;
    fprintf(f, "{\"levels\": [");
    for (int l = 0; l < LSM_STATS_LEVELS; l++)
        fprintf(f, "%s{\"level\": %d, \"files\": %" PRIu64 ", \"bytes\": %"
                   PRIu64 "}", l ? ", " : "", l, s->level_files[l],
                s->level_bytes[l]);
    fprintf(f, "],\n \"memtables\": %" PRIu64 ", \"memtable_bytes\": %" PRIu64
               ",\n \"pending_compaction_bytes\": %" PRIu64
               ",\n \"write_amp\": %.4f, \"user_bytes\": %" PRIu64
               ", \"flush_bytes\": %" PRIu64 ", \"compaction_bytes_read\": %"
               PRIu64 ", \"compaction_bytes_written\": %" PRIu64
               ",\n \"flushes\": %" PRIu64 ", \"compactions\": %" PRIu64
               ", \"stall_micros\": %" PRIu64 ", \"stalled_writes\": %" PRIu64
               ", \"slowdown_micros\": %" PRIu64 ", \"slowed_writes\": %" PRIu64
               ", \"delayed_write_rate\": %" PRIu64 ",\n",
            s->memtables, s->memtable_bytes, s->pending_compaction_bytes,
            s->write_amp, s->user_bytes, s->flush_bytes,
            s->compaction_bytes_read, s->compaction_bytes_written, s->flushes,
            s->compactions, s->stall_micros, s->stalled_writes,
            s->slowdown_micros, s->slowed_writes, s->delayed_write_rate);
    fprintf(f, " \"block_cache\": {\"hits\": %" PRIu64 ", \"misses\": %" PRIu64
               ", \"not_admitted\": %" PRIu64 ", \"hit_ratio\": %.4f"
               ", \"bytes\": %" PRIu64 "},\n",
            s->cache_hits, s->cache_misses, s->cache_not_admitted,
            ratio(s->cache_hits, s->cache_hits + s->cache_misses),
            s->cache_bytes);
    fprintf(f, " \"bloom\": {\"checks\": %" PRIu64 ", \"useful\": %" PRIu64
               ", \"useful_ratio\": %.4f},\n",
            s->bloom_checks, s->bloom_useful,
            ratio(s->bloom_useful, s->bloom_checks));
    fprintf(f, " \"wal\": {\"bytes\": %" PRIu64 ", \"syncs\": %" PRIu64
               ", \"recycled\": %" PRIu64 "},\n",
            s->wal_bytes, s->wal_syncs, s->wal_recycled);
    fprintf(f, " \"last_seq\": %" PRIu64 ", \"disk_bytes\": %" PRIu64
               ", \"damaged_tables\": %" PRIu64,
            s->last_seq, s->disk_bytes, s->damaged_tables);
    fprintf(f, ",\n \"snapshots\": {\"count\": %" PRIu64, s->snapshots);
    if (v->have_snapshot_bytes)
        fprintf(f, ", \"exclusive_bytes\": %" PRIu64, v->snapshot_bytes);
    fprintf(f, "},\n \"reclaim\": {\"tables_dropped\": %" PRIu64
               ", \"bytes_dropped\": %" PRIu64 ", \"idle_compactions\": %"
               PRIu64 ", \"idle_yields\": %" PRIu64 "}",
            s->tables_dropped, s->bytes_dropped, s->idle_compactions,
            s->idle_yields);
    if (v->have_inodes)
        fprintf(f, ",\n \"inodes\": %" PRIu64, v->inodes);
    if (v->have_requests) {
        fprintf(f, ",\n \"requests\": {");
        int first = 1;
        for (uint32_t op = 0; op < MNT_HISTO_OPS; op++) {
            struct mnt_histo_op h;
            mnt_histo_get(op, &h);
            if (h.count == 0 || !mnt_histo_op_name(op))
                continue;
            fprintf(f, "%s\n  \"%s\": {\"count\": %" PRIu64
                       ", \"p50_us\": %.1f, \"p99_us\": %.1f}",
                    first ? "" : ",", mnt_histo_op_name(op), h.count,
                    us(mnt_histo_quantile(&h, 0.5)),
                    us(mnt_histo_quantile(&h, 0.99)));
            first = 0;
        }
        fprintf(f, "}");
    }
    fprintf(f, "}\n");
}

int mnt_stats_render(const struct mnt_stats_view *v, int json, char **out,
                     size_t *len)
{
    FILE *f = open_memstream(out, len);
    if (!f)
        return -ENOMEM;
    if (json)
        render_json(f, v);
    else
        render_text(f, v);
    return fclose(f) == 0 ? 0 : -ENOMEM;
}
