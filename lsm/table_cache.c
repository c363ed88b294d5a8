/*
 * table_cache.c — open tables behind an LRU cache (see table_cache.h).
 */
#include "table_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "filename.h"

struct lsm_table_cache {
    const char *dir;
    lsm_env *env;
    lsm_cache *cache;          /* file number -> cached_table*, charge 1 */
    lsm_cache *block_cache;
    int meta_in_cache;         /* tables' indexes and filters: block cache */
    uint64_t meta_bytes;       /* (atomic) index and filter bytes the open
                                  tables hold themselves */
};

/* What the cache holds for an open table: the table and the bytes of its
 * index and filter, which stay in memory until it is closed. */
typedef struct cached_table {
    lsm_table *table;
    lsm_table_cache *tc;
    uint64_t meta_bytes;
} cached_table;

lsm_table_cache *lsm_table_cache_new(const char *dir, lsm_env *env,
                                     int capacity, lsm_cache *block_cache,
                                     int meta_in_cache)
{
    lsm_table_cache *tc = calloc(1, sizeof *tc);
    if (!tc)
        return NULL;
    tc->dir = dir;
    tc->env = env;
    tc->block_cache = block_cache;
    tc->meta_in_cache = meta_in_cache && block_cache;
    tc->cache = lsm_cache_new(capacity > 0 ? (size_t)capacity : 1);
    if (!tc->cache) {
        free(tc);
        return NULL;
    }
    return tc;
}

void lsm_table_cache_free(lsm_table_cache *tc)
{
    if (!tc)
        return;
    lsm_cache_free(tc->cache);
    free(tc);
}

static void close_table(lsm_slice key, void *value)
{
    cached_table *c = value;
    (void)key;
    __atomic_sub_fetch(&c->tc->meta_bytes, c->meta_bytes, __ATOMIC_RELAXED);
    lsm_table_close(c->table);
    free(c);
}

uint64_t lsm_table_cache_meta_bytes(lsm_table_cache *tc)
{
    uint64_t own = __atomic_load_n(&tc->meta_bytes, __ATOMIC_RELAXED);
    return tc->meta_in_cache ? own + lsm_cache_high_bytes(tc->block_cache) : own;
}

static int open_table(lsm_table_cache *tc, uint64_t number, uint64_t size,
                      cached_table **out)
{
    cached_table *c = calloc(1, sizeof *c);
    char *path = lsm_filename(tc->dir, LSM_FILE_TABLE, number);
    if (!c || !path) {
        free(c);
        free(path);
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    }
    lsm_file *f;
    int rc = tc->env->open_read(tc->env, path, &f);
    if (rc == LSM_OK) {
        const char *name = strrchr(path, '/') + 1;
        rc = lsm_table_open(f, size, name, tc->block_cache, &c->table);
    }
    free(path);
    if (rc != LSM_OK) {
        free(c);
        return rc;
    }
    lsm_table_desc d;
    lsm_table_describe(c->table, &d);
    c->tc = tc;
    if (tc->meta_in_cache)
        lsm_table_meta_to_cache(c->table);
    else
        c->meta_bytes = d.filter_bytes + d.index_mem_bytes;
    __atomic_add_fetch(&tc->meta_bytes, c->meta_bytes, __ATOMIC_RELAXED);
    *out = c;
    return LSM_OK;
}

int lsm_table_cache_get(lsm_table_cache *tc, uint64_t number, uint64_t size,
                        lsm_table **t, lsm_cache_handle **h)
{
    char kbuf[8];
    lsm_encode_fixed64(kbuf, number);
    lsm_slice key = lsm_slice_make(kbuf, 8);
    *h = lsm_cache_lookup(tc->cache, key);
    if (!*h) {
        cached_table *c = NULL;
        int rc = open_table(tc, number, size, &c);
        if (rc)
            return rc;
        *h = lsm_cache_insert(tc->cache, key, c, 1, close_table);
        if (!*h)    /* the cache closed the table */
            return lsm_fail(LSM_NO_MEMORY, "out of memory caching a table");
    }
    *t = ((cached_table *)lsm_cache_value(*h))->table;
    return LSM_OK;
}

void lsm_table_cache_release(lsm_table_cache *tc, lsm_cache_handle *h)
{
    lsm_cache_release(tc->cache, h);
}

int lsm_table_cache_warm(lsm_table_cache *tc, uint64_t number, uint64_t size,
                         int keep, int *range_dels)
{
    lsm_table *t;
    lsm_cache_handle *h;
    int rc = lsm_table_cache_get(tc, number, size, &t, &h);
    if (rc != LSM_OK)
        return rc;
    *range_dels = lsm_table_has_range_dels(t);
    lsm_table_cache_release(tc, h);
    if (!keep && !tc->meta_in_cache)
        lsm_table_cache_evict(tc, number);
    return LSM_OK;
}

void lsm_table_cache_evict(lsm_table_cache *tc, uint64_t number)
{
    char kbuf[8];
    lsm_encode_fixed64(kbuf, number);
    lsm_cache_erase(tc->cache, lsm_slice_make(kbuf, 8));
}

/* An iterator that forwards to `inner` and unpins the table when freed. */
typedef struct pinned_iter {
    lsm_iiter base;
    lsm_iiter *inner;
    lsm_table_cache *tc;
    lsm_cache_handle *h;
} pinned_iter;

#define INNER(it) (((pinned_iter *)(it))->inner)
static int p_valid(lsm_iiter *it) { return lsm_iiter_valid(INNER(it)); }
static void p_first(lsm_iiter *it) { lsm_iiter_first(INNER(it)); }
static void p_last(lsm_iiter *it) { lsm_iiter_last(INNER(it)); }
static void p_seek(lsm_iiter *it, lsm_slice t) { lsm_iiter_seek(INNER(it), t); }
static void p_next(lsm_iiter *it) { lsm_iiter_next(INNER(it)); }
static void p_prev(lsm_iiter *it) { lsm_iiter_prev(INNER(it)); }
static lsm_slice p_key(lsm_iiter *it) { return lsm_iiter_key(INNER(it)); }
static lsm_slice p_value(lsm_iiter *it) { return lsm_iiter_value(INNER(it)); }
static int p_status(lsm_iiter *it) { return lsm_iiter_status(INNER(it)); }
static void p_destroy(lsm_iiter *it)
{
    pinned_iter *p = (pinned_iter *)it;
    lsm_iiter_free(p->inner);
    lsm_table_cache_release(p->tc, p->h);
    free(p);
}

static const struct lsm_iiter_ops pinned_ops = {
    p_valid, p_first, p_last, p_seek, p_next, p_prev,
    p_key, p_value, p_status, p_destroy,
};

enum pinned_kind { PINNED_POINTS, PINNED_RANGE_DELS, PINNED_SALVAGE };

static lsm_iiter *pinned_iter_new(lsm_table_cache *tc, uint64_t number,
                                  uint64_t size, int fill_cache,
                                  enum pinned_kind kind,
                                  lsm_table_loss_fn lost, void *ctx)
{
    lsm_table *t;
    lsm_cache_handle *h;
    int rc = lsm_table_cache_get(tc, number, size, &t, &h);
    if (rc)
        return lsm_iiter_error(rc);
    pinned_iter *p = malloc(sizeof *p);
    lsm_iiter *inner = kind == PINNED_RANGE_DELS ? lsm_table_range_del_iter(t)
                       : kind == PINNED_SALVAGE ? lsm_table_salvage_iter(t, lost, ctx)
                                                : lsm_table_iter(t, fill_cache);
    if (!p || !inner) {
        free(p);
        lsm_iiter_free(inner);
        lsm_table_cache_release(tc, h);
        return lsm_iiter_error(LSM_NO_MEMORY);
    }
    p->base.ops = &pinned_ops;
    p->inner = inner;
    p->tc = tc;
    p->h = h;
    return &p->base;
}

lsm_iiter *lsm_table_cache_iter(lsm_table_cache *tc, uint64_t number,
                                uint64_t size, int fill_cache)
{
    return pinned_iter_new(tc, number, size, fill_cache, PINNED_POINTS, NULL,
                           NULL);
}

lsm_iiter *lsm_table_cache_salvage_iter(lsm_table_cache *tc, uint64_t number,
                                        uint64_t size, lsm_table_loss_fn lost,
                                        void *ctx)
{
    return pinned_iter_new(tc, number, size, 0, PINNED_SALVAGE, lost, ctx);
}

lsm_iiter *lsm_table_cache_range_del_iter(lsm_table_cache *tc,
                                          uint64_t number, uint64_t size)
{
    return pinned_iter_new(tc, number, size, 0, PINNED_RANGE_DELS, NULL, NULL);
}
