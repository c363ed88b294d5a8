/*
 * inspect.c — lsm_inspect_table: everything a table file says about
 * itself, every block read and checked (lsm.h).
 *
 * Opening verifies the footer, properties, index, filter and range-del
 * blocks; the salvage iterator then reads every data block, reporting one
 * that fails its checksum and going on past it.  Cost: one read of the
 * whole file; memory: one block at a time.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "ikey.h"
#include "table.h"

typedef struct inspect_ctx {
    void (*fn)(void *ctx, const char *why);
    void *ctx;
    lsm_table_report *rep;
} inspect_ctx;

static void on_loss(void *p, uint64_t offset, lsm_slice lower,
                    lsm_slice upper, const char *why)
{
    (void)offset;
    (void)lower;
    (void)upper;
    inspect_ctx *ic = p;
    ic->rep->blocks_bad++;
    if (ic->fn)
        ic->fn(ic->ctx, why);
}

static void keep_key(unsigned char *dst, size_t *len, lsm_slice k)
{
    *len = k.len;
    memcpy(dst, k.data, k.len < 128 ? k.len : 128);
}

static void note_entry(lsm_table_report *rep, const lsm_ikey *k)
{
    if (rep->entries_read == 0 || k->seq < rep->min_seq)
        rep->min_seq = k->seq;
    if (k->seq > rep->max_seq)
        rep->max_seq = k->seq;
    if (rep->entries_read == 0)
        keep_key(rep->smallest, &rep->smallest_len, k->user);
    keep_key(rep->largest, &rep->largest_len, k->user);
    rep->entries_read++;
}

int lsm_inspect_table(const char *path,
                      void (*fn)(void *ctx, const char *why),
                      void (*entry)(void *ctx, const void *key, size_t klen,
                                    uint64_t seq, int kind, size_t vlen),
                      void *ctx, lsm_table_report *rep)
{
    memset(rep, 0, sizeof *rep);
    lsm_env *env = lsm_env_posix();
    lsm_file *f;
    int rc = env->open_read(env, path, &f);
    uint64_t size = 0;
    if (rc == LSM_OK && (rc = lsm_file_size(f, &size)) != LSM_OK)
        lsm_file_close(f);
    if (rc)
        return rc;
    const char *name = strrchr(path, '/');
    lsm_table *t;
    rc = lsm_table_open(f, size, name ? name + 1 : path, NULL, &t);
    if (rc) {
        rep->file_bytes = size;
        return rc;
    }
    lsm_table_desc d;
    lsm_table_describe(t, &d);
    rep->file_bytes = d.file_bytes;
    rep->data_blocks = d.data_blocks;
    rep->filter_bytes = d.filter_bytes;
    rep->index_bytes = d.index_bytes;
    rep->index_mem_bytes = d.index_mem_bytes;
    inspect_ctx ic = { fn, ctx, rep };
    lsm_iiter *it = lsm_table_salvage_iter(t, on_loss, &ic);
    rc = it ? LSM_OK : lsm_fail(LSM_NO_MEMORY, "out of memory");
    if (it)
        lsm_iiter_first(it);
    for (; rc == LSM_OK && lsm_iiter_valid(it); lsm_iiter_next(it)) {
        lsm_ikey k;
        if (!lsm_ikey_parse(lsm_iiter_key(it), &k))
            continue;           /* a verified block never holds one */
        note_entry(rep, &k);
        rep->entries++;
        if (entry)
            entry(ctx, k.user.data, k.user.len, k.seq,
                  lsm_kind_is_put(k.kind), lsm_iiter_value(it).len);
    }
    if (it && rc == LSM_OK)
        rc = lsm_iiter_status(it);
    lsm_iiter_free(it);
    lsm_iiter *rd = rc == LSM_OK ? lsm_table_range_del_iter(t) : NULL;
    if (rd)
        for (lsm_iiter_first(rd); lsm_iiter_valid(rd); lsm_iiter_next(rd))
            rep->range_dels++;
    lsm_iiter_free(rd);
    /* Entries the properties promise but no readable block held. */
    if (d.entries > rep->entries + rep->range_dels && rep->blocks_bad == 0)
        rc = lsm_fail(LSM_CORRUPTION, "%s: properties say %llu entries, "
                      "%llu read", path, (unsigned long long)d.entries,
                      (unsigned long long)(rep->entries + rep->range_dels));
    lsm_table_close(t);
    return rc;
}
