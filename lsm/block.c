/*
 * block.c — reads blocks written by block_builder.c (format there).
 *
 * Trust model: lsm_block_new() validates the restart array (count fits
 * the block, offsets strictly increasing inside the entry area, the first
 * one 0), so the binary search can index it freely.  Entries are checked
 * as they are decoded: every varint must end inside the entry area, the
 * shared prefix must not exceed the previous key and the key delta and
 * value must fit before the restart array.  A bad entry sets the
 * iterator's status to LSM_CORRUPTION and leaves it invalid for good.
 *
 * Cost: creating an iterator is one malloc (keys up to INLINE_KEY bytes
 * are rebuilt in space inside the iterator); lsm_block_find, a point
 * lookup's seek, keeps its iterator on the stack.  A seek is a binary search
 * over the restart keys plus a scan of at most restart_interval entries;
 * next is O(1); prev rescans from the preceding restart point.  Blocks
 * of internal keys (cmp == lsm_ikey_cmp, nearly all of them) compare
 * keys with an inlined copy of that order.
 *
 * Search hints (lsm_block_add_hints, for a table's index block, which
 * lives as long as its table and is searched by every point read): one
 * 8-byte integer per restart key, the first 8 bytes of its user key after
 * the prefix all restart keys share, big-endian and zero-padded, so that
 * a < b implies hint(a) <= hint(b).  A seek first binary-searches that
 * dense array (8 hints to a cache line) for the restarts whose hint
 * equals the target's, then compares whole keys only among those --
 * usually none or one.  Without hints each step of the search touches the
 * restart array and an entry elsewhere in the block: two cache misses a
 * step in an index far larger than the CPU caches.  Cost: 8 bytes per
 * restart, built once when the table opens.
 */
#include "block.h"

#include <stdlib.h>

#include "error.h"
#include "ikey.h"

struct lsm_block {
    char *data;
    size_t size;            /* whole block, restart array included */
    uint32_t restarts_off;  /* end of the entry area */
    uint32_t nrestarts;
    int own;
    /* NULL, or one hint per restart (see the top of the file); the shared
     * prefix is the first hint_skip bytes of hint_prefix (restart 0's
     * key, inside data). */
    uint64_t *hints;
    const char *hint_prefix;
    uint32_t hint_skip;
};

static inline uint32_t restart_point(const char *data, uint32_t restarts_off,
                                     uint32_t i)
{
    return lsm_decode_fixed32(data + restarts_off + 4 * (size_t)i);
}

static int check_restarts(const char *data, size_t len, uint32_t *restarts_off,
                          uint32_t *nrestarts)
{
    if (len < 4)
        return lsm_fail(LSM_CORRUPTION, "block too short (%zu bytes)", len);
    if (len - 4 > UINT32_MAX)
        return lsm_fail(LSM_CORRUPTION, "block too large (%zu bytes)", len);
    uint32_t n = lsm_decode_fixed32(data + len - 4);
    if (n > (len - 4) / 4)
        return lsm_fail(LSM_CORRUPTION,
                        "block of %zu bytes claims %u restart points", len, n);
    uint32_t off = (uint32_t)(len - 4 - 4 * (size_t)n);
    if (off > 0 && n == 0)
        return lsm_fail(LSM_CORRUPTION, "block has entries but no restarts");
    for (uint32_t i = 0; i < n; i++) {
        uint32_t r = restart_point(data, off, i);
        if (i == 0 && r != 0)
            return lsm_fail(LSM_CORRUPTION, "block restart 0 is %u, not 0", r);
        if (r >= off || (i > 0 && r <= restart_point(data, off, i - 1)))
            return lsm_fail(LSM_CORRUPTION,
                            "block restart %u (offset %u) out of order or "
                            "past the entries (%u bytes)", i, r, off);
    }
    *restarts_off = off;
    *nrestarts = n;
    return LSM_OK;
}

int lsm_block_new(char *data, size_t len, int own, lsm_block **out)
{
    *out = NULL;
    uint32_t off = 0, n = 0;
    int rc = check_restarts(data, len, &off, &n);
    lsm_block *b = NULL;
    if (!rc && !(b = malloc(sizeof *b)))
        rc = lsm_fail(LSM_NO_MEMORY, "block: out of memory");
    if (rc) {
        if (own)
            free(data);  /* ownership passed at the call */
        return rc;
    }
    b->data = data;
    b->size = len;
    b->restarts_off = off;
    b->nrestarts = n;
    b->own = own;
    b->hints = NULL;
    b->hint_prefix = NULL;
    b->hint_skip = 0;
    *out = b;
    return LSM_OK;
}

void lsm_block_free(lsm_block *b)
{
    if (!b)
        return;
    if (b->own)
        free(b->data);
    free(b->hints);
    free(b);
}

size_t lsm_block_size(const lsm_block *b)
{
    return b->size + (b->hints ? (size_t)b->nrestarts * sizeof *b->hints : 0);
}

/* ---- iterator ----------------------------------------------------------- */

#define INLINE_KEY 112

typedef struct block_iter {
    lsm_iiter base;
    lsm_cmp_fn cmp;
    int ikeys;                  /* cmp is lsm_ikey_cmp */
    const char *data;
    uint32_t restarts_off, nrestarts;
    const lsm_block *block;
    /* Invariant: valid <=> status == OK && cur < restarts_off.  Then the
     * current entry spans [cur, next) and its key is key[0..klen). */
    uint32_t cur, next;
    int status;
    const char *val;
    uint32_t vlen;
    char *key;
    size_t klen, kcap;
    char inline_key[INLINE_KEY];
} block_iter;

/* lsm_ikey_cmp (order defined in ikey.h), inlined. */
static inline int ikey_compare(lsm_slice a, lsm_slice b)
{
    if (a.len < LSM_IKEY_TRAILER || b.len < LSM_IKEY_TRAILER)
        return lsm_ikey_cmp(a, b);
    size_t au = a.len - LSM_IKEY_TRAILER, bu = b.len - LSM_IKEY_TRAILER;
    int r = memcmp(a.data, b.data, au < bu ? au : bu);
    if (r)
        return r;
    if (au != bu)
        return au < bu ? -1 : 1;
    uint64_t ta = lsm_decode_fixed64(a.data + au);
    uint64_t tb = lsm_decode_fixed64(b.data + bu);
    return (ta < tb) - (ta > tb);  /* larger trailer (newer) first */
}

static inline int compare(const block_iter *it, lsm_slice a, lsm_slice b)
{
    return it->ikeys ? ikey_compare(a, b) : it->cmp(a, b);
}

static void mark_invalid(block_iter *it)
{
    it->cur = it->next = it->restarts_off;
    it->klen = 0;
    it->vlen = 0;
}

static void corrupt(block_iter *it, uint32_t off, const char *what)
{
    it->status = lsm_fail(LSM_CORRUPTION, "block entry at offset %u: %s",
                          off, what);
    mark_invalid(it);
}

/* Parses the three varints of the entry header at p. */
static inline const char *decode_header(const char *p, const char *limit,
                                        uint32_t *shared, uint32_t *unshared,
                                        uint32_t *vlen)
{
    if (limit - p >= 3) {
        const unsigned char *u = (const unsigned char *)p;
        if ((u[0] | u[1] | u[2]) < 0x80) {  /* common case: one byte each */
            *shared = u[0];
            *unshared = u[1];
            *vlen = u[2];
            return p + 3;
        }
    }
    if (!(p = lsm_decode_varint32(p, limit, shared)) ||
        !(p = lsm_decode_varint32(p, limit, unshared)) ||
        !(p = lsm_decode_varint32(p, limit, vlen)))
        return NULL;
    return p;
}

/* ---- search hints ------------------------------------------------------- */

/* The whole key stored at restart i, read in place: NULL, or what is
 * wrong with its entry. */
static const char *read_restart_key(const char *data, uint32_t restarts_off,
                                    uint32_t i, lsm_slice *key)
{
    uint32_t off = restart_point(data, restarts_off, i);
    const char *limit = data + restarts_off;
    uint32_t shared, unshared, vlen;
    const char *p = decode_header(data + off, limit, &shared, &unshared, &vlen);
    if (!p)
        return "truncated entry header";
    if (shared != 0)
        return "restart entry shares a prefix";
    if ((uint64_t)unshared + vlen > (uint64_t)(limit - p))
        return "key or value runs past the entries";
    *key = lsm_slice_make(p, unshared);
    return NULL;
}

/* The user key at restart i of an internal-key block; 0 if its entry is
 * malformed or its key too short. */
static int restart_user_key(const lsm_block *b, uint32_t i, lsm_slice *user)
{
    lsm_slice key;
    if (read_restart_key(b->data, b->restarts_off, i, &key) ||
        key.len < LSM_IKEY_TRAILER)
        return 0;
    *user = lsm_ikey_user(key);
    return 1;
}

static inline uint64_t hint_of(lsm_slice user, uint32_t skip)
{
    unsigned char v[8] = { 0 };
    if (user.len > skip)
        memcpy(v, user.data + skip, user.len - skip < 8 ? user.len - skip : 8);
    uint64_t h = 0;
    for (int i = 0; i < 8; i++)
        h = h << 8 | v[i];
    return h;
}

int lsm_block_add_hints(lsm_block *b)
{
    lsm_slice first, last;
    if (b->hints || b->nrestarts < 2 || !restart_user_key(b, 0, &first) ||
        !restart_user_key(b, b->nrestarts - 1, &last))
        return LSM_OK;
    size_t skip = 0;
    while (skip < first.len && skip < last.len &&
           first.data[skip] == last.data[skip])
        skip++;
    uint64_t *h = malloc((size_t)b->nrestarts * sizeof *h);
    if (!h)
        return lsm_fail(LSM_NO_MEMORY, "block: out of memory");
    for (uint32_t i = 0; i < b->nrestarts; i++) {
        lsm_slice user;
        if (!restart_user_key(b, i, &user)) {
            free(h);  /* a bad entry: seeks find and report it */
            return LSM_OK;
        }
        h[i] = hint_of(user, (uint32_t)skip);
    }
    b->hints = h;
    b->hint_prefix = first.data;
    b->hint_skip = (uint32_t)skip;
    return LSM_OK;
}

/* Makes room for a key of n > kcap bytes, keeping the first `keep`. */
static int grow_key(block_iter *it, size_t n, size_t keep)
{
    size_t cap = it->kcap * 2 > n ? it->kcap * 2 : n;
    char *p = malloc(cap);
    if (!p) {
        it->status = lsm_fail(LSM_NO_MEMORY, "block iterator: out of memory");
        mark_invalid(it);
        return 0;
    }
    memcpy(p, it->key, keep);
    if (it->key != it->inline_key)
        free(it->key);
    it->key = p;
    it->kcap = cap;
    return 1;
}

/* Decodes the entry at it->next, rebuilding its key from the current one.
 * Returns 1 if positioned on it, 0 at the end of the block or on error. */
static int parse_next(block_iter *it)
{
    uint32_t off = it->next;
    const char *p = it->data + off;
    const char *limit = it->data + it->restarts_off;
    if (off >= it->restarts_off) {
        mark_invalid(it);
        return 0;
    }
    uint32_t shared, unshared, vlen;
    p = decode_header(p, limit, &shared, &unshared, &vlen);
    if (!p) {
        corrupt(it, off, "truncated entry header");
        return 0;
    }
    if (shared > it->klen) {
        corrupt(it, off, "shared prefix longer than the previous key");
        return 0;
    }
    if ((uint64_t)unshared + vlen > (uint64_t)(limit - p)) {
        corrupt(it, off, "key or value runs past the entries");
        return 0;
    }
    size_t klen = (size_t)shared + unshared;
    if (klen > it->kcap && !grow_key(it, klen, shared))
        return 0;
    memcpy(it->key + shared, p, unshared);
    it->klen = klen;
    it->val = p + unshared;
    it->vlen = vlen;
    it->cur = off;
    it->next = (uint32_t)(it->val + vlen - it->data);
    return 1;
}

/* Positions before the entry at restart point i (parse_next reads it). */
static void seek_restart(block_iter *it, uint32_t i)
{
    it->klen = 0;
    it->next = restart_point(it->data, it->restarts_off, i);
}

/* The whole key stored at restart point i, read in place. */
static int restart_key(block_iter *it, uint32_t i, lsm_slice *key)
{
    const char *why = read_restart_key(it->data, it->restarts_off, i, key);
    if (why) {
        corrupt(it, restart_point(it->data, it->restarts_off, i), why);
        return 0;
    }
    return 1;
}

static int bi_valid(lsm_iiter *base)
{
    block_iter *it = (block_iter *)base;
    return it->cur < it->restarts_off;
}

static void bi_first(lsm_iiter *base)
{
    block_iter *it = (block_iter *)base;
    if (it->status || it->nrestarts == 0) {
        mark_invalid(it);
        return;
    }
    seek_restart(it, 0);
    parse_next(it);
}

static void bi_last(lsm_iiter *base)
{
    block_iter *it = (block_iter *)base;
    if (it->status || it->nrestarts == 0) {
        mark_invalid(it);
        return;
    }
    seek_restart(it, it->nrestarts - 1);
    while (parse_next(it) && it->next < it->restarts_off)
        ;
}

/* The first of hints[lo, hi) that is >= t (strict: > t), or hi. */
static uint32_t hint_bound(const uint64_t *hints, uint32_t lo, uint32_t hi,
                           uint64_t t, int strict)
{
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (hints[mid] < t || (strict && hints[mid] == t))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Narrows the restarts [*lo, *hi] where bi_seek looks for the last key
 * < target, by the hints alone: restarts whose hint is below the
 * target's hold smaller keys, those above it larger ones. */
static void hint_narrow(const block_iter *it, lsm_slice target, uint32_t *lo,
                        uint32_t *hi)
{
    const lsm_block *b = it->block;
    if (!b->hints || !it->ikeys || target.len < LSM_IKEY_TRAILER)
        return;
    lsm_slice user = lsm_ikey_user(target);
    uint32_t n = b->nrestarts, skip = b->hint_skip;
    int c = memcmp(user.data, b->hint_prefix, user.len < skip ? user.len : skip);
    if (c == 0 && user.len < skip)
        c = -1;                     /* a proper prefix of every key */
    if (c != 0) {                   /* below or above every key */
        *lo = *hi = c < 0 ? 0 : n - 1;
        return;
    }
    uint64_t t = hint_of(user, skip);
    uint32_t first_eq = hint_bound(b->hints, 0, n, t, 0);
    uint32_t first_gt = hint_bound(b->hints, first_eq, n, t, 1);
    *lo = first_eq ? first_eq - 1 : 0;
    *hi = first_gt ? first_gt - 1 : 0;
}

static void bi_seek(lsm_iiter *base, lsm_slice target)
{
    block_iter *it = (block_iter *)base;
    if (it->status || it->nrestarts == 0) {
        mark_invalid(it);
        return;
    }
    /* Find the last restart point whose key is < target; the answer is
     * in the run of entries starting there (or is its successor run's
     * first entry, reached by the scan). */
    uint32_t lo = 0, hi = it->nrestarts - 1;
    hint_narrow(it, target, &lo, &hi);
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo + 1) / 2;
        lsm_slice k;
        if (!restart_key(it, mid, &k))
            return;
        if (compare(it, k, target) < 0)
            lo = mid;
        else
            hi = mid - 1;
    }
    seek_restart(it, lo);
    while (parse_next(it)) {
        if (compare(it, lsm_slice_make(it->key, it->klen), target) >= 0)
            return;
    }
}

static void bi_next(lsm_iiter *base)
{
    block_iter *it = (block_iter *)base;
    if (it->cur < it->restarts_off)
        parse_next(it);
}

static void bi_prev(lsm_iiter *base)
{
    block_iter *it = (block_iter *)base;
    if (it->cur >= it->restarts_off)
        return;
    uint32_t original = it->cur;
    if (original == 0) {  /* was on the first entry */
        mark_invalid(it);
        return;
    }
    /* the last restart point before the current entry (restart 0 is 0) */
    uint32_t lo = 0, hi = it->nrestarts - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo + 1) / 2;
        if (restart_point(it->data, it->restarts_off, mid) < original)
            lo = mid;
        else
            hi = mid - 1;
    }
    seek_restart(it, lo);
    do {
        if (!parse_next(it))
            return;
    } while (it->next < original);
    if (it->next != original)  /* entries do not chain up to the original */
        corrupt(it, it->cur, "entry boundaries inconsistent");
}

static lsm_slice bi_key(lsm_iiter *base)
{
    block_iter *it = (block_iter *)base;
    return lsm_slice_make(it->key, it->klen);
}

static lsm_slice bi_value(lsm_iiter *base)
{
    block_iter *it = (block_iter *)base;
    return lsm_slice_make(it->val, it->vlen);
}

static int bi_status(lsm_iiter *base)
{
    return ((block_iter *)base)->status;
}

static void bi_destroy(lsm_iiter *base)
{
    block_iter *it = (block_iter *)base;
    if (it->key != it->inline_key)
        free(it->key);
    free(it);
}

static const struct lsm_iiter_ops block_iter_ops = {
    bi_valid, bi_first, bi_last, bi_seek, bi_next, bi_prev,
    bi_key, bi_value, bi_status, bi_destroy,
};

static void iter_init(block_iter *it, const lsm_block *b, lsm_cmp_fn cmp)
{
    it->base.ops = &block_iter_ops;
    it->cmp = cmp;
    it->ikeys = cmp == lsm_ikey_cmp;
    it->block = b;
    it->data = b->data;
    it->restarts_off = b->restarts_off;
    it->nrestarts = b->nrestarts;
    it->status = LSM_OK;
    it->key = it->inline_key;
    it->kcap = INLINE_KEY;
    it->val = NULL;
    mark_invalid(it);
}

lsm_iiter *lsm_block_iter(const lsm_block *b, lsm_cmp_fn cmp)
{
    block_iter *it = malloc(sizeof *it);
    if (!it) {
        lsm_fail(LSM_NO_MEMORY, "block iterator: out of memory");
        return lsm_iiter_error(LSM_NO_MEMORY);
    }
    iter_init(it, b, cmp);
    return &it->base;
}

int lsm_block_find(const lsm_block *b, lsm_cmp_fn cmp, lsm_slice target,
                   lsm_buf *key, lsm_slice *value)
{
    block_iter it;
    iter_init(&it, b, cmp);
    bi_seek(&it.base, target);
    int rc = it.status;
    if (rc == LSM_OK && bi_valid(&it.base)) {
        *value = lsm_slice_make(it.val, it.vlen);
        rc = 1;
        if (key) {
            lsm_buf_clear(key);
            if (lsm_buf_append(key, it.key, it.klen))
                rc = lsm_fail(LSM_NO_MEMORY, "block lookup: out of memory");
        }
    }
    if (it.key != it.inline_key)
        free(it.key);
    return rc;
}
