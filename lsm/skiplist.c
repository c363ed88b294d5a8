/*
 * skiplist.c — concurrent skiplist of internal keys (see skiplist.h).
 *
 * Invariants:
 *   - level i of the list is sorted and is a sublist of level i - 1;
 *   - a node's links are written before the node becomes reachable, and a
 *     link into the list is always a release store, so readers see fully
 *     initialised nodes;
 *   - `height` only grows.  A reader that loads a stale (lower) height
 *     just starts lower; one that loads a new height before the head's
 *     upper links are set finds NULL there and drops down a level.
 */
#include "skiplist.h"

#include "lsm.h"

#include "error.h"

#define BRANCHING_BITS 2 /* level up with probability 1 / 2^2 */

static lsm_sl_node *load_next(const lsm_sl_node *n, int level)
{
    return atomic_load_explicit(lsm_sl_link(n, level), memory_order_acquire);
}

static int load_height(const lsm_skiplist *sl)
{
    return atomic_load_explicit(&((lsm_skiplist *)sl)->height,
                                memory_order_relaxed);
}

/* Compares node n's internal key with (user, trailer): memcmp on the user
 * keys, then the larger trailer (newer) first.  No decoding. */
static int node_cmp(const lsm_sl_node *n, const char *user, size_t ulen,
                    uint64_t trailer)
{
    size_t nlen = n->key_len - LSM_IKEY_TRAILER;
    size_t common = nlen < ulen ? nlen : ulen;
    int r = common ? memcmp(n->data, user, common) : 0;
    if (r)
        return r;
    if (nlen != ulen)
        return nlen < ulen ? -1 : 1;
    uint64_t t = lsm_sl_trailer(n);
    return (t < trailer) - (t > trailer);
}

/* Returns the first node >= target and, if prev is set, the last node
 * before it at every level (the head where there is none). */
static lsm_sl_node *find_ge(const lsm_skiplist *sl, const char *user,
                            size_t ulen, uint64_t trailer,
                            lsm_sl_node **prev)
{
    lsm_sl_node *x = sl->head;
    int level = load_height(sl) - 1;
    for (;;) {
        lsm_sl_node *next = load_next(x, level);
        if (next && node_cmp(next, user, ulen, trailer) < 0) {
            x = next;
            continue;
        }
        if (prev)
            prev[level] = x;
        if (level == 0)
            return next;
        level--;
    }
}

/* If the target falls between the entry inserted last and its successor,
 * fills prev with sl->last (exactly the target's predecessors then: a
 * node between last[i] and the target would be a level-0 node between
 * that entry and the target) and returns 1; else 0.  Writer only. */
static int after_last(const lsm_skiplist *sl, const char *user, size_t ulen,
                      uint64_t trailer, lsm_sl_node **prev)
{
    const lsm_sl_node *x = sl->last[0];
    if (x != sl->head && node_cmp(x, user, ulen, trailer) >= 0)
        return 0;
    const lsm_sl_node *next = load_next(x, 0);
    if (next && node_cmp(next, user, ulen, trailer) <= 0)
        return 0;
    int height = load_height(sl);
    for (int i = 0; i < height; i++)
        prev[i] = sl->last[i];
    return 1;
}

static int random_height(lsm_skiplist *sl)
{
    /* xorshift64: a few shifts per call, period 2^64 - 1. */
    uint64_t x = sl->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    sl->rng = x;
    int h = 1;
    while (h < LSM_SKIPLIST_MAX_HEIGHT &&
           (x & ((1u << BRANCHING_BITS) - 1)) == 0) {
        h++;
        x >>= BRANCHING_BITS;
    }
    return h;
}

/* Allocates a node of the given height with room for `payload` bytes:
 * the links of levels height-1 .. 1 first, then the node (see skiplist.h). */
static lsm_sl_node *alloc_node(lsm_arena *a, int height, size_t payload)
{
    size_t tower = sizeof(_Atomic(lsm_sl_node *)) * (size_t)(height - 1);
    size_t head = tower + sizeof(lsm_sl_node);
    if (payload > SIZE_MAX - head)
        return NULL;
    char *p = lsm_arena_alloc(a, head + payload);
    if (!p)
        return NULL;
    lsm_sl_node *n = (lsm_sl_node *)(p + tower);
    for (int i = 0; i < height; i++)
        atomic_init(lsm_sl_link(n, i), NULL);
    return n;
}

int lsm_skiplist_init(lsm_skiplist *sl, lsm_arena *arena, uint64_t seed)
{
    sl->arena = arena;
    sl->rng = seed ? seed : UINT64_C(0x9e3779b97f4a7c15);
    atomic_init(&sl->height, 1);
    sl->head = alloc_node(arena, LSM_SKIPLIST_MAX_HEIGHT, 0);
    if (!sl->head)
        return lsm_fail(LSM_NO_MEMORY, "skiplist: no memory for head node");
    sl->head->key_len = 0; /* never compared nor read */
    sl->head->val_len = 0;
    for (int i = 0; i < LSM_SKIPLIST_MAX_HEIGHT; i++)
        sl->last[i] = sl->head;
    return LSM_OK;
}

int lsm_skiplist_insert(lsm_skiplist *sl, lsm_slice user_key,
                        uint64_t trailer, lsm_slice value)
{
    if (user_key.len > UINT32_MAX - LSM_IKEY_TRAILER || value.len > UINT32_MAX)
        return lsm_fail(LSM_INVALID,
                        "skiplist: entry too large (key %zu, value %zu bytes)",
                        user_key.len, value.len);

    lsm_sl_node *prev[LSM_SKIPLIST_MAX_HEIGHT];
    if (!after_last(sl, user_key.data, user_key.len, trailer, prev)) {
        lsm_sl_node *at =
            find_ge(sl, user_key.data, user_key.len, trailer, prev);
        if (at && node_cmp(at, user_key.data, user_key.len, trailer) == 0)
            return lsm_fail(LSM_INVALID,
                            "skiplist: duplicate entry (seq %llu, kind %d)",
                            (unsigned long long)(trailer >> 8),
                            (int)(trailer & 0xff));
    }

    int height = random_height(sl);
    size_t key_len = user_key.len + LSM_IKEY_TRAILER;
    lsm_sl_node *n = alloc_node(sl->arena, height, key_len + value.len);
    if (!n)
        return lsm_fail(LSM_NO_MEMORY, "skiplist: no memory for a %zu byte entry",
                        key_len + value.len);
    char *data = n->data;
    if (user_key.len)
        memcpy(data, user_key.data, user_key.len);
    lsm_encode_fixed64(data + user_key.len, trailer);
    if (value.len)
        memcpy(data + key_len, value.data, value.len);
    n->key_len = (uint32_t)key_len;
    n->val_len = (uint32_t)value.len;

    int cur = load_height(sl);
    if (height > cur) {
        for (int i = cur; i < height; i++)
            prev[i] = sl->head;
        /* Relaxed is enough: see the invariants at the top. */
        atomic_store_explicit(&sl->height, height, memory_order_relaxed);
    }
    for (int i = 0; i < height; i++) {
        /* n is unreachable until the store into prev[i], so its own links
         * need no ordering; the link into prev[i] publishes n. */
        atomic_store_explicit(lsm_sl_link(n, i), load_next(prev[i], i),
                              memory_order_relaxed);
        atomic_store_explicit(lsm_sl_link(prev[i], i), n,
                              memory_order_release);
    }
    int top = height > cur ? height : cur;
    for (int i = 0; i < LSM_SKIPLIST_MAX_HEIGHT; i++)
        sl->last[i] = i < height ? n : i < top ? prev[i] : sl->head;
    return LSM_OK;
}

const lsm_sl_node *lsm_skiplist_seek(const lsm_skiplist *sl,
                                     lsm_slice user_key, uint64_t trailer)
{
    return find_ge(sl, user_key.data, user_key.len, trailer, NULL);
}

const lsm_sl_node *lsm_skiplist_seek_ikey(const lsm_skiplist *sl,
                                          lsm_slice target)
{
    if (target.len < LSM_IKEY_TRAILER)
        return find_ge(sl, target.data, target.len, UINT64_MAX, NULL);
    uint64_t trailer =
        lsm_decode_fixed64(target.data + target.len - LSM_IKEY_TRAILER);
    return find_ge(sl, target.data, target.len - LSM_IKEY_TRAILER, trailer,
                   NULL);
}

const lsm_sl_node *lsm_skiplist_first(const lsm_skiplist *sl)
{
    return load_next(sl->head, 0);
}

const lsm_sl_node *lsm_skiplist_last(const lsm_skiplist *sl)
{
    lsm_sl_node *x = sl->head;
    int level = load_height(sl) - 1;
    for (;;) {
        lsm_sl_node *next = load_next(x, level);
        if (next) {
            x = next;
            continue;
        }
        if (level == 0)
            return x == sl->head ? NULL : x;
        level--;
    }
}

const lsm_sl_node *lsm_skiplist_before(const lsm_skiplist *sl,
                                       const lsm_sl_node *n)
{
    const char *user = n->data;
    size_t ulen = n->key_len - LSM_IKEY_TRAILER;
    uint64_t trailer = lsm_sl_trailer(n);
    lsm_sl_node *x = sl->head;
    int level = load_height(sl) - 1;
    for (;;) {
        lsm_sl_node *next = load_next(x, level);
        if (next && node_cmp(next, user, ulen, trailer) < 0) {
            x = next;
            continue;
        }
        if (level == 0)
            return x == sl->head ? NULL : x;
        level--;
    }
}
