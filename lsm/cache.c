/*
 * cache.c — sharded LRU cache (see cache.h).
 *
 * The key space is split over 16 shards by the top bits of a 64-bit XXH3
 * hash of the key; each shard has its own mutex, a chained hash table and
 * an equal share of the capacity.
 *
 * Invariants, per shard (all under its mutex):
 *   - An entry is "in the cache" while the hash table holds it; the cache
 *     then owns one reference and usage includes its charge.
 *   - refs = the cache's reference (if in the cache) + outstanding handles.
 *   - In-cache entries with refs == 1 (unpinned) sit on the `lru` list
 *     (high-priority ones on `lru_high`), oldest first; pinned in-cache
 *     entries sit on `in_use`.  Only unpinned entries are evicted, so
 *     usage may exceed capacity while handles pin entries; it is brought
 *     back down as they are released.
 *   - Eviction takes the oldest low-priority entry while high-priority
 *     entries hold at most high_capacity (LSM_CACHE_HIGH_PRI_RATIO of the
 *     capacity); past that, the least recently used of the two oldest
 *     (by `tick`, stamped when an entry becomes evictable), as RocksDB's
 *     high-priority pool does.  With no low-priority entry evictable,
 *     the oldest high-priority one.  So table indexes and filters
 *     (inserted high) keep that share of the cache against data blocks,
 *     compete by recency beyond it, and take all of it when data blocks
 *     do not claim it.
 *   - An entry leaves the cache by eviction, erase or replacement; its
 *     deleter runs when refs drops to 0, always outside the mutex (a
 *     deleter may be slow, e.g. close a table).
 */
#include "cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <xxhash.h>

#include "doorkeeper.h"
#include "error.h"

#define NUM_SHARD_BITS 4
#define NUM_SHARDS (1 << NUM_SHARD_BITS)
#define ADMIT_BLOCK_BYTES 4096   /* the doorkeeper's window: capacity / this */

struct lnode {
    struct lnode *prev, *next;
};

typedef struct entry {
    struct lnode link;          /* first member: lru / in_use list */
    struct entry *hnext;        /* hash chain; also the free list */
    void *value;
    lsm_cache_deleter deleter;
    size_t charge;
    uint64_t hash;
    uint32_t refs;
    int in_cache;
    int high;                   /* high priority (lsm_cache_insert_pri) */
    uint64_t tick;              /* shard clock when it last became evictable */
    size_t klen;
    char key[];
} entry;

typedef struct shard {
    pthread_mutex_t mu;
    size_t capacity, usage;
    size_t high_capacity, high_usage;   /* of high-priority entries */
    uint64_t clock;
    struct lnode lru, lru_high, in_use; /* circular lists with dummy heads */
    entry **buckets;
    size_t nbuckets, nelems;    /* nbuckets: power of two */
} shard;

struct lsm_cache {
    shard shards[NUM_SHARDS];
    _Atomic uint64_t last_id;
    /* Charges of high-priority entries from insert until freed: in the
     * cache or still pinned by a handle after leaving it. */
    _Atomic uint64_t high_bytes;
    /* Admission of blocks read on a miss (lsm_cache_admit), remembering
     * about as many keys as the cache holds 4 KiB blocks. */
    lsm_doorkeeper admit;
};

/* ---- lists and hash table ---------------------------------------------- */

static void list_init(struct lnode *h)
{
    h->prev = h->next = h;
}

static void list_remove(struct lnode *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
}

/* Appends at the tail (the newest end). */
static void list_append(struct lnode *h, struct lnode *n)
{
    n->next = h;
    n->prev = h->prev;
    n->prev->next = n;
    h->prev = n;
}

static entry **find_slot(shard *s, lsm_slice key, uint64_t hash)
{
    entry **p = &s->buckets[hash & (s->nbuckets - 1)];
    while (*p && ((*p)->hash != hash || (*p)->klen != key.len ||
                  memcmp((*p)->key, key.data, key.len) != 0))
        p = &(*p)->hnext;
    return p;
}

/* Doubles the bucket array; on ENOMEM keeps the old one (longer chains). */
static void grow_table(shard *s)
{
    size_t n = s->nbuckets * 2;
    entry **b = calloc(n, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < s->nbuckets; i++) {
        entry *e = s->buckets[i];
        while (e) {
            entry *next = e->hnext;
            entry **slot = &b[e->hash & (n - 1)];
            e->hnext = *slot;
            *slot = e;
            e = next;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = n;
}

/* ---- reference counting ------------------------------------------------ */

/* Drops one reference; an entry reaching 0 goes on *dead (freed later
 * outside the mutex).  An in-cache entry dropping to only the cache's
 * reference becomes evictable. */
static void unref(shard *s, entry *e, entry **dead)
{
    e->refs--;
    if (e->refs == 0) {
        e->hnext = *dead;
        *dead = e;
    } else if (e->in_cache && e->refs == 1) {
        list_remove(&e->link);
        list_append(e->high ? &s->lru_high : &s->lru, &e->link);
        e->tick = ++s->clock;
    }
}

static void ref(shard *s, entry *e)
{
    if (e->in_cache && e->refs == 1) {
        list_remove(&e->link);
        list_append(&s->in_use, &e->link);
    }
    e->refs++;
}

/* Takes e (already unlinked from the hash table) out of the cache. */
static void finish_erase(shard *s, entry *e, entry **dead)
{
    e->in_cache = 0;
    list_remove(&e->link);
    s->usage -= e->charge;
    if (e->high)
        s->high_usage -= e->charge;
    s->nelems--;
    unref(s, e, dead);
}

static void evict(shard *s, entry **dead)
{
    while (s->usage > s->capacity) {
        int low = s->lru.next != &s->lru, high = s->lru_high.next != &s->lru_high;
        if (!low && !high)
            break;
        entry *lo = (entry *)s->lru.next, *hi = (entry *)s->lru_high.next;
        entry *old = !high ? lo
                     : !low ? hi
                     : s->high_usage > s->high_capacity && hi->tick < lo->tick ? hi
                                                                                : lo;
        entry **slot = find_slot(s, lsm_slice_make(old->key, old->klen),
                                 old->hash);
        *slot = old->hnext;
        finish_erase(s, old, dead);
    }
}

static void free_dead(lsm_cache *c, entry *dead)
{
    while (dead) {
        entry *next = dead->hnext;
        if (dead->high)
            atomic_fetch_sub_explicit(&c->high_bytes, dead->charge,
                                      memory_order_relaxed);
        if (dead->deleter)
            dead->deleter(lsm_slice_make(dead->key, dead->klen), dead->value);
        free(dead);
        dead = next;
    }
}

/* ---- public interface ---------------------------------------------------- */

static uint64_t hash_key(lsm_slice key)
{
    return XXH3_64bits(key.data, key.len);
}

static shard *shard_of(lsm_cache *c, uint64_t hash)
{
    return &c->shards[hash >> (64 - NUM_SHARD_BITS)];
}

lsm_cache *lsm_cache_new(size_t capacity_bytes)
{
    lsm_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (lsm_doorkeeper_init(&c->admit, capacity_bytes / ADMIT_BLOCK_BYTES)) {
        free(c);
        return NULL;
    }
    size_t per_shard = capacity_bytes / NUM_SHARDS +
                       (capacity_bytes % NUM_SHARDS != 0);
    int i;
    for (i = 0; i < NUM_SHARDS; i++) {
        shard *s = &c->shards[i];
        s->nbuckets = 16;
        s->buckets = calloc(s->nbuckets, sizeof *s->buckets);
        if (!s->buckets || pthread_mutex_init(&s->mu, NULL) != 0) {
            free(s->buckets);
            break;
        }
        s->capacity = per_shard;
        s->high_capacity = (size_t)(per_shard * LSM_CACHE_HIGH_PRI_RATIO);
        list_init(&s->lru);
        list_init(&s->lru_high);
        list_init(&s->in_use);
    }
    if (i < NUM_SHARDS) {
        while (i-- > 0) {
            pthread_mutex_destroy(&c->shards[i].mu);
            free(c->shards[i].buckets);
        }
        lsm_doorkeeper_free(&c->admit);
        free(c);
        return NULL;
    }
    atomic_init(&c->last_id, 0);
    atomic_init(&c->high_bytes, 0);
    return c;
}

void lsm_cache_free(lsm_cache *c)
{
    if (!c)
        return;
    for (int i = 0; i < NUM_SHARDS; i++) {
        shard *s = &c->shards[i];
        entry *dead = NULL;
        for (size_t b = 0; b < s->nbuckets; b++) {
            entry *e = s->buckets[b];
            while (e) {
                entry *next = e->hnext;
                finish_erase(s, e, &dead);
                e = next;
            }
        }
        free_dead(c, dead);
        free(s->buckets);
        pthread_mutex_destroy(&s->mu);
    }
    lsm_doorkeeper_free(&c->admit);
    free(c);
}

int lsm_cache_admit(lsm_cache *c, lsm_slice key)
{
    return lsm_doorkeeper_seen(&c->admit, hash_key(key));
}

lsm_cache_handle *lsm_cache_insert(lsm_cache *c, lsm_slice key, void *value,
                                   size_t charge, lsm_cache_deleter del)
{
    return lsm_cache_insert_pri(c, key, value, charge, del, 0);
}

lsm_cache_handle *lsm_cache_insert_pri(lsm_cache *c, lsm_slice key,
                                       void *value, size_t charge,
                                       lsm_cache_deleter del, int high)
{
    entry *e = malloc(sizeof *e + key.len);
    if (!e) {
        lsm_fail(LSM_NO_MEMORY, "cache: out of memory");
        if (del)
            del(key, value);
        return NULL;
    }
    uint64_t hash = hash_key(key);
    if (high)
        atomic_fetch_add_explicit(&c->high_bytes, charge, memory_order_relaxed);
    e->value = value;
    e->deleter = del;
    e->charge = charge;
    e->high = high != 0;
    e->hash = hash;
    e->klen = key.len;
    memcpy(e->key, key.data, key.len);

    shard *s = shard_of(c, hash);
    entry *dead = NULL;
    pthread_mutex_lock(&s->mu);
    if (s->capacity == 0) {
        /* Caching disabled: the caller gets the only reference. */
        e->refs = 1;
        e->in_cache = 0;
        e->hnext = NULL;
    } else {
        e->refs = 2;  /* the cache's and the returned handle's */
        e->in_cache = 1;
        list_append(&s->in_use, &e->link);
        s->usage += charge;
        if (e->high)
            s->high_usage += charge;
        entry **slot = find_slot(s, key, hash);
        entry *old = *slot;
        e->hnext = old ? old->hnext : NULL;
        *slot = e;
        s->nelems++;
        if (old)
            finish_erase(s, old, &dead);
        else if (s->nelems > s->nbuckets)
            grow_table(s);
        evict(s, &dead);
    }
    pthread_mutex_unlock(&s->mu);
    free_dead(c, dead);
    return (lsm_cache_handle *)e;
}

lsm_cache_handle *lsm_cache_lookup(lsm_cache *c, lsm_slice key)
{
    uint64_t hash = hash_key(key);
    shard *s = shard_of(c, hash);
    pthread_mutex_lock(&s->mu);
    entry *e = *find_slot(s, key, hash);
    if (e)
        ref(s, e);
    pthread_mutex_unlock(&s->mu);
    return (lsm_cache_handle *)e;
}

void lsm_cache_release(lsm_cache *c, lsm_cache_handle *h)
{
    entry *e = (entry *)h;
    shard *s = shard_of(c, e->hash);
    entry *dead = NULL;
    pthread_mutex_lock(&s->mu);
    unref(s, e, &dead);
    if (s->usage > s->capacity)
        evict(s, &dead);
    pthread_mutex_unlock(&s->mu);
    free_dead(c, dead);
}

void *lsm_cache_value(lsm_cache_handle *h)
{
    return ((entry *)h)->value;
}

void lsm_cache_erase(lsm_cache *c, lsm_slice key)
{
    uint64_t hash = hash_key(key);
    shard *s = shard_of(c, hash);
    entry *dead = NULL;
    pthread_mutex_lock(&s->mu);
    entry **slot = find_slot(s, key, hash);
    entry *e = *slot;
    if (e) {
        *slot = e->hnext;
        finish_erase(s, e, &dead);
    }
    pthread_mutex_unlock(&s->mu);
    free_dead(c, dead);
}

size_t lsm_cache_usage(lsm_cache *c)
{
    size_t total = 0;
    for (int i = 0; i < NUM_SHARDS; i++) {
        shard *s = &c->shards[i];
        pthread_mutex_lock(&s->mu);
        total += s->usage;
        pthread_mutex_unlock(&s->mu);
    }
    return total;
}

size_t lsm_cache_high_bytes(lsm_cache *c)
{
    return (size_t)atomic_load_explicit(&c->high_bytes, memory_order_relaxed);
}

uint64_t lsm_cache_new_id(lsm_cache *c)
{
    return atomic_fetch_add_explicit(&c->last_id, 1, memory_order_relaxed) + 1;
}
