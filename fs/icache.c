/*
 * icache.c — the in-memory inode table.
 *
 * One entry per inode in use: pinned by a running operation or held by
 * open handles.  Entries that are not in use stay on a per-shard LRU list
 * (up to fs->lru_per_shard) so that recently used attributes are served
 * without engine reads; beyond that the least recently used are freed.
 * The kernel's lookup references do not keep an entry: an evicted entry
 * the kernel still references leaves its lookup count in the shard's
 * `evicted` table (lookup_counts.c), and the count comes back when the
 * inode is next pinned, so memory stays bounded however many inodes the
 * kernel caches.  Exception: an inode whose records are gone (deleted
 * while referenced) keeps its entry, whose attributes are all that is
 * left to answer getattr.
 *
 * The table is split into ICACHE_SHARDS shards by inode number, each
 * with its own mutex, hash chains (doubled when the load passes 1) and
 * LRU list.  Costs: pin/unpin are O(1) under one shard mutex.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

static struct icache_shard *shard_of(fs_t *fs, uint64_t ino)
{
    return &fs->shards[ino % ICACHE_SHARDS];
}

static size_t bucket_of(const struct icache_shard *s, uint64_t ino)
{
    return (size_t)((ino / ICACHE_SHARDS) * 0x9E3779B97F4A7C15ull >> 20) &
           (s->nbuckets - 1);
}

int icache_init(fs_t *fs)
{
    for (int i = 0; i < ICACHE_SHARDS; i++) {
        struct icache_shard *s = &fs->shards[i];
        memset(s, 0, sizeof *s);
        s->nbuckets = 64;
        s->buckets = calloc(s->nbuckets, sizeof *s->buckets);
        if (s->buckets == NULL) {
            while (i-- > 0)
                free(fs->shards[i].buckets);
            return -ENOMEM;
        }
        pthread_mutex_init(&s->mu, NULL);
        s->lru.lprev = s->lru.lnext = &s->lru;
    }
    return 0;
}

static void inode_free(struct inode *ip)
{
    pthread_rwlock_destroy(&ip->lock);
    free(ip->data);
    free(ip);
}

void icache_destroy(fs_t *fs)
{
    for (int i = 0; i < ICACHE_SHARDS; i++) {
        struct icache_shard *s = &fs->shards[i];
        for (size_t b = 0; b < s->nbuckets; b++) {
            struct inode *ip = s->buckets[b];
            while (ip != NULL) {
                struct inode *next = ip->hnext;
                inode_free(ip);
                ip = next;
            }
        }
        free(s->buckets);
        lookup_counts_free(&s->evicted);
        pthread_mutex_destroy(&s->mu);
    }
}

static void lru_remove(struct icache_shard *s, struct inode *ip)
{
    if (ip->lnext == NULL)
        return;
    ip->lprev->lnext = ip->lnext;
    ip->lnext->lprev = ip->lprev;
    ip->lprev = ip->lnext = NULL;
    s->lru_count--;
}

static void lru_append(struct icache_shard *s, struct inode *ip)
{
    ip->lprev = s->lru.lprev;
    ip->lnext = &s->lru;
    s->lru.lprev->lnext = ip;
    s->lru.lprev = ip;
    s->lru_count++;
}

static void hash_remove(struct icache_shard *s, struct inode *ip)
{
    struct inode **pp = &s->buckets[bucket_of(s, ip->ino)];
    while (*pp != ip)
        pp = &(*pp)->hnext;
    *pp = ip->hnext;
    s->count--;
}

static void grow(struct icache_shard *s)
{
    size_t n = s->nbuckets * 2;
    struct inode **nb = calloc(n, sizeof *nb);
    if (nb == NULL)
        return;                  /* longer chains, still correct */
    struct inode **old = s->buckets;
    size_t oldn = s->nbuckets;
    s->buckets = nb;
    s->nbuckets = n;
    for (size_t b = 0; b < oldn; b++) {
        struct inode *ip = old[b];
        while (ip != NULL) {
            struct inode *next = ip->hnext;
            size_t k = bucket_of(s, ip->ino);
            ip->hnext = nb[k];
            nb[k] = ip;
            ip = next;
        }
    }
    free(old);
}

struct inode *icache_pin(fs_t *fs, uint64_t ino)
{
    struct icache_shard *s = shard_of(fs, ino);
    pthread_mutex_lock(&s->mu);
    struct inode *ip = s->buckets[bucket_of(s, ino)];
    while (ip != NULL && ip->ino != ino)
        ip = ip->hnext;
    if (ip == NULL) {
        ip = calloc(1, sizeof *ip);
        if (ip == NULL) {
            pthread_mutex_unlock(&s->mu);
            return NULL;
        }
        ip->ino = ino;
        ip->nlookup = lookup_counts_take(&s->evicted, ino);
        pthread_rwlock_init(&ip->lock, NULL);
        if (s->count >= s->nbuckets)
            grow(s);
        size_t k = bucket_of(s, ino);
        ip->hnext = s->buckets[k];
        s->buckets[k] = ip;
        s->count++;
    } else {
        lru_remove(s, ip);
    }
    ip->pins++;
    pthread_mutex_unlock(&s->mu);
    return ip;
}

static void free_entry(struct icache_shard *s, struct inode *ip)
{
    hash_remove(s, ip);
    inode_free(ip);
}

/* Frees the least recently used entry of the LRU, keeping its lookup
 * count if the kernel still holds some; 0, or -ENOMEM with the entry
 * kept.  Shard mutex held. */
static int evict_oldest(struct icache_shard *s)
{
    struct inode *old = s->lru.lnext;
    if (lookup_counts_add(&s->evicted, old->ino, old->nlookup) < 0)
        return -ENOMEM;
    lru_remove(s, old);
    free_entry(s, old);
    return 0;
}

/* An entry no operation or handle uses goes to the LRU, trimmed to its
 * cap; one that never loaded is freed at once (keeping its lookup
 * count), one whose inode is gone once the kernel forgets it.  Shard
 * mutex held. */
static void settle(fs_t *fs, struct icache_shard *s, struct inode *ip)
{
    if (ip->pins || ip->nopen)
        return;
    /* Nobody holds it: no lock needed to drop its cached data. */
    inode_drop_data(fs, ip);
    if (ip->gone) {
        if (ip->nlookup == 0)
            free_entry(s, ip);
        return;                  /* its attributes answer getattr */
    }
    if (!ip->loaded) {
        if (lookup_counts_add(&s->evicted, ip->ino, ip->nlookup) == 0)
            free_entry(s, ip);
        return;
    }
    lru_append(s, ip);
    while (s->lru_count > fs->lru_per_shard && evict_oldest(s) == 0)
        ;
}

void icache_unpin(fs_t *fs, struct inode *ip)
{
    struct icache_shard *s = shard_of(fs, ip->ino);
    pthread_mutex_lock(&s->mu);
    ip->pins--;
    settle(fs, s, ip);
    pthread_mutex_unlock(&s->mu);
}

uint32_t icache_ref(fs_t *fs, struct inode *ip, int64_t dlookup, int dopen)
{
    struct icache_shard *s = shard_of(fs, ip->ino);
    pthread_mutex_lock(&s->mu);
    if (dlookup < 0 && (uint64_t)-dlookup > ip->nlookup)
        ip->nlookup = 0;         /* a forget beyond the count: clamp */
    else
        ip->nlookup += (uint64_t)dlookup;
    if (dopen < 0 && (uint32_t)-dopen > ip->nopen)
        ip->nopen = 0;
    else
        ip->nopen += (uint32_t)dopen;
    uint32_t nopen = ip->nopen;
    pthread_mutex_unlock(&s->mu);
    return nopen;
}

/* --- locked access ------------------------------------------------------- */

/* Reads the record into ip (lock held exclusively).  The inline data is
 * kept when wanted, for open inodes and symlinks, and otherwise while the
 * cache's inline bytes stay under INLINE_CACHE_BYTES: that bounds the
 * memory of inodes merely known to the kernel while sparing most reloads
 * (a setattr after close must rewrite the record with its data). */
static int inode_load(fs_t *fs, struct inode *ip, int want_data)
{
    char key[FS_KEY_MAX];
    size_t klen = fs_key_inode(key, ip->ino);
    void *val;
    size_t vlen;
    int rc = fs_get(fs, key, klen, &val, &vlen);
    if (rc < 0)
        return rc;
    fs_inode rec;
    const char *data;
    size_t dlen;
    if (fs_decode_inode(val, vlen, &rec, &data, &dlen) != 0) {
        lsm_free(val);
        fs_log(fs, LOG_ERR, "inode %llu: malformed record (%zu bytes)",
               (unsigned long long)ip->ino, vlen);
        return -EIO;
    }
    char *copy = NULL;
    int keep = want_data || ip->nopen > 0 || S_ISLNK(rec.mode) ||
               atomic_load(&fs->inline_cached) < INLINE_CACHE_BYTES;
    if (keep && dlen > 0) {
        copy = malloc(dlen);
        if (copy == NULL) {
            lsm_free(val);
            return -ENOMEM;
        }
        memcpy(copy, data, dlen);
    }
    lsm_free(val);
    ip->rec = rec;
    if (keep && (rec.flags & FS_INODE_INLINE))
        inode_set_data(fs, ip, copy, dlen);
    else
        inode_drop_data(fs, ip);
    ip->loaded = 1;
    return 0;
}

int inode_load_data(fs_t *fs, struct inode *ip)
{
    if (ip->data_loaded || !(ip->rec.flags & FS_INODE_INLINE))
        return 0;
    return inode_load(fs, ip, 1);
}

void inode_set_data(fs_t *fs, struct inode *ip, char *data, size_t dlen)
{
    if (ip->data != data)
        free(ip->data);
    atomic_fetch_add(&fs->inline_cached, (int_fast64_t)dlen - (int_fast64_t)ip->dlen);
    ip->data = data;
    ip->dlen = dlen;
    ip->data_loaded = 1;
}

void inode_drop_data(fs_t *fs, struct inode *ip)
{
    atomic_fetch_sub(&fs->inline_cached, (int_fast64_t)ip->dlen);
    free(ip->data);
    ip->data = NULL;
    ip->dlen = 0;
    ip->data_loaded = 0;
}

/* Locks ip in the requested mode with its record loaded. */
static int lock_loaded(fs_t *fs, struct inode *ip, int excl)
{
    if (excl) {
        pthread_rwlock_wrlock(&ip->lock);
        if (!ip->loaded) {
            int rc = inode_load(fs, ip, 0);
            if (rc < 0) {
                pthread_rwlock_unlock(&ip->lock);
                return rc;
            }
        }
        return 0;
    }
    pthread_rwlock_rdlock(&ip->lock);
    if (ip->loaded)
        return 0;
    pthread_rwlock_unlock(&ip->lock);
    int rc = lock_loaded(fs, ip, 1);
    if (rc < 0)
        return rc;
    /* Loaded stays set while pinned (only eviction clears an entry). */
    pthread_rwlock_unlock(&ip->lock);
    pthread_rwlock_rdlock(&ip->lock);
    return 0;
}

int inode_get(fs_t *fs, uint64_t ino, int how, struct inode **out)
{
    if (ino == 0)
        return -ENOENT;
    struct inode *ip = icache_pin(fs, ino);
    if (ip == NULL)
        return -ENOMEM;
    int rc = lock_loaded(fs, ip, how & IG_EXCL);
    if (rc == 0 && ip->gone && !(how & IG_GONE)) {
        pthread_rwlock_unlock(&ip->lock);
        rc = -ENOENT;
    }
    if (rc < 0) {
        icache_unpin(fs, ip);
        return rc;
    }
    *out = ip;
    return 0;
}

void inode_put(fs_t *fs, struct inode *ip)
{
    pthread_rwlock_unlock(&ip->lock);
    icache_unpin(fs, ip);
}

int inode_get_for_update(fs_t *fs, uint64_t ino, struct inode **out)
{
    int rc = inode_get(fs, ino, IG_EXCL, out);
    if (rc == 0 && (rc = inode_load_data(fs, *out)) < 0)
        inode_put(fs, *out);
    return rc;
}

int inode_get_many(fs_t *fs, const uint64_t *inos, int n, struct inode **out)
{
    /* Sort the distinct numbers ascending (n <= 4: insertion sort). */
    uint64_t order[4];
    int m = 0;
    for (int i = 0; i < n; i++) {
        int dup = 0;
        for (int j = 0; j < m; j++)
            dup |= order[j] == inos[i];
        if (dup || inos[i] == 0)
            continue;
        int j = m++;
        while (j > 0 && order[j - 1] > inos[i]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = inos[i];
    }
    struct inode *held[4];
    int got = 0, rc = 0;
    for (; got < m; got++) {
        rc = inode_get(fs, order[got], IG_EXCL, &held[got]);
        if (rc < 0)
            break;
    }
    if (rc < 0) {
        while (got-- > 0)
            inode_put(fs, held[got]);
        return rc;
    }
    for (int i = 0; i < n; i++) {
        out[i] = NULL;
        for (int j = 0; j < m; j++)
            if (order[j] == inos[i])
                out[i] = held[j];
    }
    return 0;
}

void inode_put_many(fs_t *fs, struct inode **ips, int n)
{
    for (int i = 0; i < n; i++) {
        if (ips[i] == NULL)
            continue;
        int seen = 0;
        for (int j = 0; j < i; j++)
            seen |= ips[j] == ips[i];
        if (!seen)
            inode_put(fs, ips[i]);
    }
}
