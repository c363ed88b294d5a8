/*
 * skiplist.h — a concurrent skiplist of internal keys (LevelDB style).
 *
 * Each node holds one entry: an internal key (user key | fixed64 trailer,
 * see ikey.h) and a value, ordered by lsm_ikey_cmp.  Nodes and their bytes
 * come from an arena and are never removed.
 *
 * Concurrency: one writer at a time (inserts must be serialised by the
 * caller); any number of readers without locks.  A node is fully written
 * before it is linked, and linked level 0 first with release stores;
 * readers follow next pointers with acquire loads, so a reader that
 * reaches a node sees its contents.  A reader may or may not see nodes
 * inserted while it runs, but always sees a sorted list.
 *
 * Shape: max height 12, each further level taken with probability 1/4.
 * A search visits about 4 * log4(n) = 2 * log2(n) nodes (expected), good
 * up to 4^12 = 16M entries; the cost is 1.33 next pointers per node.
 *
 * Cost model: a search is a chain of dependent loads, one node after the
 * other, so in a memtable larger than the caches it costs about one or
 * two cache misses per visited node (~38 visits at 400k entries, a 64 MiB
 * memtable: 1.5-3 us a random insert or seek on the 2-core test VM) and
 * the key compare itself is noise: comparing keys as 8-byte words,
 * prefetching the node after next, cache-line-aligning nodes and huge
 * pages for the arena each measured within noise (+-5 %).  The layout
 * below keeps what a visit reads (key length, first key bytes, low links)
 * within 16 + key bytes of the node pointer, and costs 8 + 8 * height
 * bytes a node (8 + 1.33 * 8 on average) besides the key and value.
 * An insert that lands right after the previous insert (ascending runs:
 * fillseq, a file written in order) skips the search: two compares with
 * nodes still in cache (memtable-bench: -20 % a sequential insert;
 * lsm-bench fillseq +15 %); any other insert pays those two compares more.
 */
#ifndef LSM_SKIPLIST_H
#define LSM_SKIPLIST_H

#include <stdatomic.h>

#include "arena.h"
#include "ikey.h"

#define LSM_SKIPLIST_MAX_HEIGHT 12

typedef struct lsm_sl_node lsm_sl_node;
/* A node of height h is laid out as
 *
 *     next[h-1] .. next[1] | next[0] key_len val_len | internal key | value
 *                          ^ the node pointer
 *
 * so the link of level i is ((_Atomic(lsm_sl_node *) *)node)[-i] and the
 * key starts 16 bytes after the node pointer, whatever the height.  A
 * search visiting a node reads its key and low links from one place. */
struct lsm_sl_node {
    _Atomic(lsm_sl_node *) next0; /* level 0; higher levels precede it */
    uint32_t key_len;      /* internal key length, trailer included */
    uint32_t val_len;
    char data[];           /* key_len bytes of internal key, then the value */
};

typedef struct lsm_skiplist {
    lsm_arena *arena;      /* shared with the owner; not freed here */
    lsm_sl_node *head;     /* sentinel of full height, no entry */
    _Atomic int height;    /* levels in use, 1..MAX_HEIGHT */
    uint64_t rng;          /* xorshift64 state; writer only */
    /* Writer only: at each level, the last node not after the entry
     * inserted last (that entry itself below its height; the head where
     * there is none).  An insert that lands right after that entry, as
     * in ascending runs, takes these as its predecessors instead of
     * searching: one or two compares instead of ~2 log2(n). */
    lsm_sl_node *last[LSM_SKIPLIST_MAX_HEIGHT];
} lsm_skiplist;

/* Allocates the head node from arena.  LSM_OK or LSM_NO_MEMORY. */
int lsm_skiplist_init(lsm_skiplist *sl, lsm_arena *arena, uint64_t seed);

/* Inserts (user_key, trailer) -> value, copying the bytes into the arena.
 * Writer only.  LSM_OK, LSM_NO_MEMORY, or LSM_INVALID if an entry with the
 * same internal key exists or a length does not fit 32 bits. */
int lsm_skiplist_insert(lsm_skiplist *sl, lsm_slice user_key,
                        uint64_t trailer, lsm_slice value);

/* First node >= (user_key, trailer) in internal key order, or NULL. */
const lsm_sl_node *lsm_skiplist_seek(const lsm_skiplist *sl,
                                     lsm_slice user_key, uint64_t trailer);
/* Same for an encoded internal key.  A target shorter than a trailer (not
 * a valid internal key) is taken as a bare user key: the seek lands on
 * the first entry whose user key is >= it. */
const lsm_sl_node *lsm_skiplist_seek_ikey(const lsm_skiplist *sl,
                                          lsm_slice target);
const lsm_sl_node *lsm_skiplist_first(const lsm_skiplist *sl);
const lsm_sl_node *lsm_skiplist_last(const lsm_skiplist *sl);
/* Last node < n, or NULL.  O(log n): a search from the head. */
const lsm_sl_node *lsm_skiplist_before(const lsm_skiplist *sl,
                                       const lsm_sl_node *n);

/* The link of level `level` of n (n must be at least level + 1 high). */
static inline _Atomic(lsm_sl_node *) *lsm_sl_link(const lsm_sl_node *n,
                                                  int level)
{
    return (_Atomic(lsm_sl_node *) *)&((lsm_sl_node *)n)->next0 - level;
}
static inline const lsm_sl_node *lsm_sl_next(const lsm_sl_node *n)
{
    return atomic_load_explicit(lsm_sl_link(n, 0), memory_order_acquire);
}
static inline lsm_slice lsm_sl_key(const lsm_sl_node *n)
{
    return lsm_slice_make(n->data, n->key_len);
}
static inline lsm_slice lsm_sl_user_key(const lsm_sl_node *n)
{
    return lsm_slice_make(n->data, n->key_len - LSM_IKEY_TRAILER);
}
static inline lsm_slice lsm_sl_value(const lsm_sl_node *n)
{
    return lsm_slice_make(n->data + n->key_len, n->val_len);
}
/* (seq << 8) | kind, the fixed64 at the end of the internal key. */
static inline uint64_t lsm_sl_trailer(const lsm_sl_node *n)
{
    return lsm_decode_fixed64(n->data + n->key_len - LSM_IKEY_TRAILER);
}
static inline uint64_t lsm_sl_seq(const lsm_sl_node *n)
{
    return lsm_sl_trailer(n) >> 8;
}
static inline int lsm_sl_kind(const lsm_sl_node *n)
{
    return (int)(lsm_sl_trailer(n) & 0xff);
}

#endif
