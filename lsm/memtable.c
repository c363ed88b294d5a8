/*
 * memtable.c — the in-memory write buffer (see memtable.h).
 *
 * Two skiplists share one arena: `points` holds PUT and DELETE entries,
 * `range_dels` holds (begin, seq, RANGE_DEL) -> end.  Both are ordered by
 * internal key.  Entries are only added, so a reader needs no lock: the
 * skiplist publishes nodes with release stores (skiplist.h).
 *
 * Point lookups first ask a bloom filter over the user keys of the
 * points (bloom.h: a live filter, set before each insert): most lookups
 * of a large store look for a key the memtable does not hold, and a
 * skiplist seek costs some twenty dependent cache misses in a full
 * memtable, the filter one.  The db sizes it at 1/64 of the memtable
 * bytes (1 MiB for 64 MiB: 18 bits a key at 116-byte entries, 144 in
 * the arena, a false-positive rate near 0.1 %; at the smallest entries,
 * some 6 bits a key, near 10 %).
 *
 * Lifetime: `refs` counts the owner plus every open iterator; the arena
 * (all nodes and bytes) is freed in one pass when it reaches zero, by
 * whichever thread drops the last reference (its chunks go to the pool
 * under the pool's own lock, arena.c).
 *
 * Range-deletion lookups use an index the writer keeps current as it
 * inserts (the logarithmic method): the deletions, in insertion order,
 * are split into runs of distinct power-of-two sizes, one static
 * lsm_range_dels per run, like the bits of the count.  The k-th deletion
 * replaces the runs of sizes 1, 2, .., 2^(j-1) (j = trailing zeros of k)
 * by one of size 2^j: each deletion is re-indexed at most log2(T) + 1
 * times, so an insert costs O(log^2 T) amortized, and a lookup asks at
 * most log2(T) + 1 sets, O(log^2 T), never rebuilding anything.  The sets
 * borrow their key bytes from the arena.
 *
 * Readers take the current view (the list of sets) under rd_mu with a
 * reference and query it outside the lock; the writer publishes a new
 * view under rd_mu and drops its reference to the old one, freed by the
 * last reader.  If an index cannot be allocated, rd_broken is set and
 * lookups scan the skiplist instead (correct, O(T)).
 */
#include "blob.h"
#include "memtable.h"

#include <stdatomic.h>
#include <stdlib.h>

#include <pthread.h>

#include "arena.h"
#include "bloom.h"
#include "range_del.h"
#include "error.h"
#include "lsm.h"
#include "skiplist.h"

struct lsm_memtable {
    atomic_int refs;
    _Atomic uint64_t entries;   /* points + range deletions; writer adds */
    lsm_arena arena;
    lsm_skiplist points;
    lsm_skiplist range_dels;
    _Atomic uint64_t rd_added;  /* range deletions inserted */
    _Atomic uint64_t deletes;   /* point deletions inserted */
    _Atomic uint64_t blob_bytes;/* bytes of the blob values referenced */
    lsm_blobs *blobs;           /* pinned while it lives (track_blobs) */
    lsm_blob_pin pin;           /* floor: lowest blob file referenced */
    _Atomic int rd_broken;      /* an index allocation failed: scan */
    lsm_bloom_live filter;      /* bits NULL: none */
    lsm_range_del *rd_log;      /* writer only: every deletion, in order */
    size_t rd_cap;
    struct rd_view *rd_view;    /* under rd_mu; NULL before the first */
    pthread_mutex_t rd_mu;
};

/* One indexed run, shared by the views that list it. */
struct rd_set {
    atomic_int refs;
    lsm_range_dels *rd;
};

#define RD_SLOTS 64
/* sets[j] holds 2^j deletions or is NULL; lower slots are newer. */
struct rd_view {
    atomic_int refs;
    struct rd_set *sets[RD_SLOTS];
};

static void rd_set_unref(struct rd_set *s)
{
    if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1) {
        lsm_range_dels_free(s->rd);
        free(s);
    }
}

static void rd_view_unref(struct rd_view *v)
{
    if (!v || atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (int j = 0; j < RD_SLOTS; j++)
        rd_set_unref(v->sets[j]);
    free(v);
}

lsm_memtable *lsm_memtable_new(lsm_arena_pool *pool, size_t filter_bytes)
{
    lsm_memtable *m = calloc(1, sizeof *m);
    if (!m || (filter_bytes && lsm_bloom_live_init(&m->filter, filter_bytes))) {
        free(m);
        lsm_fail(LSM_NO_MEMORY, "memtable: no memory");
        return NULL;
    }
    atomic_init(&m->refs, 1);
    atomic_init(&m->entries, 0);
    atomic_init(&m->rd_added, 0);
    atomic_init(&m->deletes, 0);
    atomic_init(&m->blob_bytes, 0);
    m->blobs = NULL;
    atomic_init(&m->rd_broken, 0);
    m->rd_log = NULL;
    m->rd_cap = 0;
    m->rd_view = NULL;
    pthread_mutex_init(&m->rd_mu, NULL);
    lsm_arena_init_pooled(&m->arena, pool);
    /* Seeds differ only to decorrelate the two lists' shapes. */
    if (lsm_skiplist_init(&m->points, &m->arena, UINT64_C(0x2545f4914f6cdd1d)) ||
        lsm_skiplist_init(&m->range_dels, &m->arena,
                          UINT64_C(0x9e3779b97f4a7c15))) {
        lsm_arena_free(&m->arena);
        lsm_bloom_live_free(&m->filter);
        free(m);
        return NULL;
    }
    return m;
}

#define MAX_FILTER_BYTES ((uint64_t)64 << 20)

size_t lsm_memtable_filter_bytes(uint64_t memtable_bytes)
{
    uint64_t b = memtable_bytes / 64;
    return (size_t)(b < MAX_FILTER_BYTES ? b : MAX_FILTER_BYTES);
}

void lsm_memtable_ref(lsm_memtable *m)
{
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
}

void lsm_memtable_unref(lsm_memtable *m)
{
    if (!m)
        return;
    /* acq_rel: the last owner must see every other owner's accesses done. */
    if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1) {
        if (m->blobs)
            lsm_blobs_unpin(m->blobs, &m->pin);
        rd_view_unref(m->rd_view);
        free(m->rd_log);
        pthread_mutex_destroy(&m->rd_mu);
        lsm_arena_free(&m->arena);
        lsm_bloom_live_free(&m->filter);
        free(m);
    }
}

/* The view after deletion number n (1-based; rd_log[n - 1]): the runs of
 * slots 0..j-1 merge with it into slot j.  NULL on ENOMEM. */
static struct rd_view *next_view(const struct rd_view *old,
                                 const lsm_range_del *log, size_t n)
{
    int j = __builtin_ctzll((unsigned long long)n);
    size_t run = (size_t)1 << j;
    struct rd_view *v = calloc(1, sizeof *v);
    struct rd_set *s = malloc(sizeof *s);
    lsm_range_dels *rd = v && s ? lsm_range_dels_index(log + n - run, run) : NULL;
    if (!rd) {
        free(v);
        free(s);
        return NULL;
    }
    atomic_init(&s->refs, 1);
    s->rd = rd;
    atomic_init(&v->refs, 1);
    v->sets[j] = s;
    for (int k = j + 1; old && k < RD_SLOTS; k++)
        if ((v->sets[k] = old->sets[k]) != NULL)
            atomic_fetch_add_explicit(&v->sets[k]->refs, 1, memory_order_relaxed);
    return v;
}

/* Writer: indexes the range deletion just inserted; on ENOMEM lookups
 * fall back to scanning (rd_broken). */
static void index_range_del(lsm_memtable *m, uint64_t seq, lsm_slice begin)
{
    const lsm_sl_node *n = lsm_skiplist_seek(&m->range_dels, begin,
                                             lsm_ikey_pack(seq, LSM_KIND_RANGE_DEL));
    size_t count = atomic_load_explicit(&m->rd_added, memory_order_relaxed) + 1;
    if (atomic_load_explicit(&m->rd_broken, memory_order_relaxed))
        return;
    if (count > m->rd_cap) {
        size_t cap = m->rd_cap ? 2 * m->rd_cap : 64;
        lsm_range_del *p = realloc(m->rd_log, cap * sizeof *p);
        if (!p) {
            atomic_store_explicit(&m->rd_broken, 1, memory_order_release);
            return;
        }
        m->rd_log = p;
        m->rd_cap = cap;
    }
    m->rd_log[count - 1] = (lsm_range_del){ lsm_sl_user_key(n), lsm_sl_value(n), seq };
    struct rd_view *v = next_view(m->rd_view, m->rd_log, count);
    if (!v) {
        atomic_store_explicit(&m->rd_broken, 1, memory_order_release);
        return;
    }
    pthread_mutex_lock(&m->rd_mu);
    struct rd_view *old = m->rd_view;
    m->rd_view = v;
    pthread_mutex_unlock(&m->rd_mu);
    rd_view_unref(old);
}

int lsm_memtable_add(lsm_memtable *m, uint64_t seq, int kind,
                     lsm_slice key, lsm_slice value)
{
    if (kind != LSM_KIND_PUT && kind != LSM_KIND_DELETE &&
        kind != LSM_KIND_RANGE_DEL && kind != LSM_KIND_BLOB)
        return lsm_fail(LSM_INVALID, "memtable: bad entry kind %d", kind);
    if (seq > LSM_MAX_SEQ)
        return lsm_fail(LSM_INVALID, "memtable: sequence %llu out of range",
                        (unsigned long long)seq);
    if (key.len > LSM_MAX_KEY)
        return lsm_fail(LSM_INVALID, "memtable: key of %zu bytes exceeds %u",
                        key.len, LSM_MAX_KEY);
    size_t max_value = kind == LSM_KIND_RANGE_DEL ? LSM_MAX_KEY : LSM_MAX_VALUE;
    if (value.len > max_value)
        return lsm_fail(LSM_INVALID, "memtable: %s of %zu bytes exceeds %zu",
                        kind == LSM_KIND_RANGE_DEL ? "range end key" : "value",
                        value.len, max_value);

    lsm_skiplist *sl = kind == LSM_KIND_RANGE_DEL ? &m->range_dels : &m->points;
    if (sl == &m->points && m->filter.bits)
        lsm_bloom_live_add(&m->filter, lsm_bloom_hash(key));
    int rc = lsm_skiplist_insert(sl, key, lsm_ikey_pack(seq, kind), value);
    if (rc)
        return rc;
    uint64_t n = atomic_load_explicit(&m->entries, memory_order_relaxed);
    atomic_store_explicit(&m->entries, n + 1, memory_order_relaxed);
    if (kind == LSM_KIND_RANGE_DEL) {
        index_range_del(m, seq, key);
        atomic_fetch_add_explicit(&m->rd_added, 1, memory_order_release);
    } else if (kind == LSM_KIND_DELETE) {
        atomic_fetch_add_explicit(&m->deletes, 1, memory_order_relaxed);
    } else if (kind == LSM_KIND_BLOB) {
        lsm_blob_ref r;
        if (lsm_blob_ref_decode(value, &r)) {
            atomic_fetch_add_explicit(&m->blob_bytes, r.len, memory_order_relaxed);
            /* floor is written by the single writer only (under the pin
             * lock), so this unlocked read of it is not a race. */
            if (m->blobs && r.file < m->pin.floor)
                lsm_blobs_pin_lower(m->blobs, &m->pin, r.file);
        }
    }
    return LSM_OK;
}

int lsm_memtable_get(lsm_memtable *m, lsm_slice user_key, uint64_t snap_seq,
                     lsm_buf *val, uint64_t *seq_out)
{
    if (snap_seq > LSM_MAX_SEQ)
        snap_seq = LSM_MAX_SEQ;
    if (m->filter.bits &&
        !lsm_bloom_live_may_contain(&m->filter, lsm_bloom_hash(user_key)))
        return -1;
    const lsm_sl_node *n = lsm_skiplist_seek(
        &m->points, user_key, lsm_ikey_pack(snap_seq, LSM_KIND_SEEK));
    if (!n || n->key_len - LSM_IKEY_TRAILER != user_key.len ||
        (user_key.len && memcmp(n->data, user_key.data, user_key.len) != 0))
        return -1;
    int kind = lsm_sl_kind(n);
    if (lsm_kind_is_put(kind) && val) {
        lsm_buf_clear(val);
        if (lsm_buf_append(val, n->data + n->key_len, n->val_len))
            return lsm_fail(LSM_NO_MEMORY,
                            "memtable: no memory to copy a %u byte value",
                            n->val_len);
    }
    if (seq_out)
        *seq_out = lsm_sl_seq(n);
    return kind;
}

/* Scan in begin order (the fallback when the index cannot be built). */
static uint64_t linear_max_seq(lsm_memtable *m, lsm_slice user_key,
                               uint64_t snap_seq)
{
    uint64_t best = 0;
    for (const lsm_sl_node *n = lsm_skiplist_first(&m->range_dels); n;
         n = lsm_sl_next(n)) {
        if (lsm_slice_cmp(lsm_sl_user_key(n), user_key) > 0)
            break;
        uint64_t seq = lsm_sl_seq(n);
        if (seq <= snap_seq && seq > best &&
            lsm_slice_cmp(user_key, lsm_sl_value(n)) < 0)
            best = seq;
    }
    return best;
}

/* Highest seq <= snap over the view's sets, newest runs first; a set
 * whose newest deletion is not above the best so far cannot improve it. */
static uint64_t view_max_seq(const struct rd_view *v, lsm_slice user_key,
                             uint64_t snap_seq)
{
    uint64_t best = 0;
    for (int j = 0; j < RD_SLOTS; j++) {
        const struct rd_set *s = v->sets[j];
        if (s && lsm_range_dels_newest(s->rd) > best) {
            uint64_t seq = lsm_range_dels_max_seq(s->rd, user_key, snap_seq);
            if (seq > best)
                best = seq;
        }
    }
    return best;
}

uint64_t lsm_memtable_range_del_max_seq(lsm_memtable *m, lsm_slice user_key,
                                        uint64_t snap_seq)
{
    /* Cost: nothing without range deletions; else O(log^2 T) (see top). */
    if (atomic_load_explicit(&m->rd_added, memory_order_acquire) == 0)
        return 0;
    if (atomic_load_explicit(&m->rd_broken, memory_order_acquire))
        return linear_max_seq(m, user_key, snap_seq);
    pthread_mutex_lock(&m->rd_mu);
    struct rd_view *v = m->rd_view;
    atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&m->rd_mu);
    uint64_t best = view_max_seq(v, user_key, snap_seq);
    rd_view_unref(v);
    return best;
}

void lsm_memtable_track_blobs(lsm_memtable *m, lsm_blobs *b)
{
    m->blobs = b;
    lsm_blobs_pin(b, &m->pin, UINT64_MAX);
}

size_t lsm_memtable_bytes(const lsm_memtable *m)
{
    lsm_memtable *w = (lsm_memtable *)m;
    return lsm_arena_usage(&m->arena) +
           (size_t)atomic_load_explicit(&w->blob_bytes, memory_order_relaxed);
}

size_t lsm_memtable_table_bytes(const lsm_memtable *m)
{
    return lsm_arena_usage(&m->arena);
}

uint64_t lsm_memtable_deletions(const lsm_memtable *m, uint64_t *ranges)
{
    lsm_memtable *w = (lsm_memtable *)m;
    *ranges = atomic_load_explicit(&w->rd_added, memory_order_acquire);
    return atomic_load_explicit(&w->deletes, memory_order_relaxed);
}

uint64_t lsm_memtable_entries(const lsm_memtable *m)
{
    return atomic_load_explicit(&((lsm_memtable *)m)->entries,
                                memory_order_relaxed);
}

int lsm_memtable_empty(const lsm_memtable *m)
{
    return lsm_memtable_entries(m) == 0;
}

/* --- iterators ------------------------------------------------------------ */

typedef struct mem_iter {
    lsm_iiter base;
    lsm_memtable *m;           /* holds a ref */
    const lsm_skiplist *sl;
    const lsm_sl_node *node;   /* NULL when not valid */
} mem_iter;

static int mi_valid(lsm_iiter *it)
{
    return ((mem_iter *)it)->node != NULL;
}

static void mi_first(lsm_iiter *it)
{
    mem_iter *mi = (mem_iter *)it;
    mi->node = lsm_skiplist_first(mi->sl);
}

static void mi_last(lsm_iiter *it)
{
    mem_iter *mi = (mem_iter *)it;
    mi->node = lsm_skiplist_last(mi->sl);
}

static void mi_seek(lsm_iiter *it, lsm_slice target)
{
    mem_iter *mi = (mem_iter *)it;
    mi->node = lsm_skiplist_seek_ikey(mi->sl, target);
}

static void mi_next(lsm_iiter *it)
{
    mem_iter *mi = (mem_iter *)it;
    if (mi->node)
        mi->node = lsm_sl_next(mi->node);
}

static void mi_prev(lsm_iiter *it)
{
    /* No back links: search for the last node before the current one. */
    mem_iter *mi = (mem_iter *)it;
    if (mi->node)
        mi->node = lsm_skiplist_before(mi->sl, mi->node);
}

static lsm_slice mi_key(lsm_iiter *it)
{
    mem_iter *mi = (mem_iter *)it;
    return mi->node ? lsm_sl_key(mi->node) : lsm_slice_make(NULL, 0);
}

static lsm_slice mi_value(lsm_iiter *it)
{
    mem_iter *mi = (mem_iter *)it;
    return mi->node ? lsm_sl_value(mi->node) : lsm_slice_make(NULL, 0);
}

static int mi_status(lsm_iiter *it)
{
    (void)it;
    return LSM_OK;
}

static void mi_destroy(lsm_iiter *it)
{
    mem_iter *mi = (mem_iter *)it;
    lsm_memtable_unref(mi->m);
    free(mi);
}

static const struct lsm_iiter_ops mem_iter_ops = {
    mi_valid, mi_first, mi_last, mi_seek, mi_next, mi_prev,
    mi_key,   mi_value, mi_status, mi_destroy,
};

/* NULL (with a message) on ENOMEM: callers test for it. */
static lsm_iiter *new_iter(lsm_memtable *m, const lsm_skiplist *sl)
{
    mem_iter *mi = malloc(sizeof *mi);
    if (!mi) {
        lsm_fail(LSM_NO_MEMORY, "memtable: no memory for an iterator");
        return NULL;
    }
    mi->base.ops = &mem_iter_ops;
    lsm_memtable_ref(m);
    mi->m = m;
    mi->sl = sl;
    mi->node = NULL;
    return &mi->base;
}

lsm_iiter *lsm_memtable_iter(lsm_memtable *m)
{
    return new_iter(m, &m->points);
}

lsm_iiter *lsm_memtable_range_del_iter(lsm_memtable *m)
{
    return new_iter(m, &m->range_dels);
}
