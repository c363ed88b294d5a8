/*
 * crash_model.c — the reference model of crash_model.h.
 *
 * Representation: operations are ranges of a flat sub-operation array;
 * prefix_hash[i] is the state hash after operations [0, i).  State
 * arrays (vid, len, vh per key) exist for the base and for the current
 * state; a prefix state is rebuilt by replaying from the base, which
 * costs O(nkeys + sub-operations).
 */
#include "crash_model.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CM_PUT = 1, CM_DEL, CM_RDEL };

typedef struct cm_sub {
    uint8_t kind;
    uint32_t a, b;          /* key; range [a, b) */
    uint64_t vid;
    uint32_t vlen;
    uint64_t vh;            /* hash of the value's bytes */
} cm_sub;

typedef struct cm_op {
    size_t first, n;        /* sub-operations */
    int flags;              /* lsm_write's: LSM_SYNC, LSM_BULK */
} cm_op;

typedef struct cm_state {
    uint64_t *vid;          /* 0: absent */
    uint32_t *len;
    uint64_t *vh;
    uint64_t hash;
} cm_state;

struct cm_model {
    uint32_t nkeys;
    cm_state base, cur;
    cm_sub *subs;
    size_t nsubs, cap_subs;
    cm_op *ops;
    size_t nops, cap_ops;
    uint64_t *prefix_hash;  /* nops + 1 entries */
    size_t durable;
    uint64_t next_vid;
    char *scratch;          /* value bytes */
    size_t scratch_cap;
};

/* --- small helpers ------------------------------------------------------- */

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fprintf(stderr, "crash_model: out of memory\n");
        exit(2);
    }
    return q;
}

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rnd(uint64_t *s)
{
    *s += 0x9e3779b97f4a7c15ULL;
    return mix64(*s);
}

static uint64_t rnd_below(uint64_t *s, uint64_t n)
{
    return n ? rnd(s) % n : 0;
}

static void put_msg(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void put_msg(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

uint64_t cm_hash_bytes(const void *p, size_t n)
{
    const unsigned char *c = p;
    uint64_t h = mix64(0x5bd1e995u ^ (uint64_t)n);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, c + i, 8);
        h = mix64(h ^ w) + 0x9e3779b97f4a7c15ULL;
    }
    if (i < n) {
        uint64_t w = 0;
        memcpy(&w, c + i, n - i);
        h = mix64(h ^ w ^ 0xff00000000000000ULL);
    }
    return h;
}

void cm_fill_value(uint64_t vid, uint32_t len, void *buf)
{
    unsigned char *p = buf;
    for (uint32_t i = 0; i < len; i += 8) {
        uint64_t w = mix64(vid * 0x9e3779b97f4a7c15ULL + i / 8);
        uint32_t take = len - i < 8 ? len - i : 8;
        memcpy(p + i, &w, take);
    }
}

static char *scratch(cm_model *m, size_t n)
{
    if (m->scratch_cap < n) {
        m->scratch = xrealloc(m->scratch, n);
        m->scratch_cap = n;
    }
    return m->scratch;
}

/* The state hash's term for a present key. */
static uint64_t key_term(uint32_t key, uint64_t vh)
{
    return mix64((uint64_t)key * 0x100000001b3ULL ^ vh);
}

void cm_key(uint32_t idx, char buf[CM_KEY_LEN + 1])
{
    snprintf(buf, CM_KEY_LEN + 1, "k%07u", idx % 10000000u);
}

int64_t cm_parse_key(const void *key, size_t len, uint32_t nkeys)
{
    const char *k = key;
    if (len != CM_KEY_LEN || k[0] != 'k')
        return -1;
    uint32_t v = 0;
    for (int i = 1; i < CM_KEY_LEN; i++) {
        if (k[i] < '0' || k[i] > '9')
            return -1;
        v = v * 10 + (uint32_t)(k[i] - '0');
    }
    return v < nkeys ? (int64_t)v : -1;
}

/* --- states ---------------------------------------------------------------- */

static void state_init(cm_state *s, uint32_t n)
{
    s->vid = calloc(n ? n : 1, sizeof *s->vid);
    s->len = calloc(n ? n : 1, sizeof *s->len);
    s->vh = calloc(n ? n : 1, sizeof *s->vh);
    if (!s->vid || !s->len || !s->vh) {
        fprintf(stderr, "crash_model: out of memory\n");
        exit(2);
    }
    s->hash = 0;
}

static void state_free(cm_state *s)
{
    free(s->vid);
    free(s->len);
    free(s->vh);
}

static void state_copy(cm_state *dst, const cm_state *src, uint32_t n)
{
    memcpy(dst->vid, src->vid, n * sizeof *dst->vid);
    memcpy(dst->len, src->len, n * sizeof *dst->len);
    memcpy(dst->vh, src->vh, n * sizeof *dst->vh);
    dst->hash = src->hash;
}

static void state_clear_key(cm_state *s, uint32_t k)
{
    if (s->vid[k]) {
        s->hash ^= key_term(k, s->vh[k]);
        s->vid[k] = 0;
        s->len[k] = 0;
        s->vh[k] = 0;
    }
}

static void state_apply(cm_state *s, const cm_sub *u)
{
    switch (u->kind) {
    case CM_PUT:
        state_clear_key(s, u->a);
        s->vid[u->a] = u->vid;
        s->len[u->a] = u->vlen;
        s->vh[u->a] = u->vh;
        s->hash ^= key_term(u->a, u->vh);
        break;
    case CM_DEL:
        state_clear_key(s, u->a);
        break;
    case CM_RDEL:
        for (uint32_t k = u->a; k < u->b; k++)
            state_clear_key(s, k);
        break;
    }
}

/* Rebuilds the state after prefix k into out (initialised). */
static void state_at(const cm_model *m, size_t k, cm_state *out)
{
    state_copy(out, &m->base, m->nkeys);
    for (size_t i = 0; i < k && i < m->nops; i++)
        for (size_t j = 0; j < m->ops[i].n; j++)
            state_apply(out, &m->subs[m->ops[i].first + j]);
}

/* --- the model ------------------------------------------------------------- */

cm_model *cm_model_new(uint32_t nkeys)
{
    cm_model *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->nkeys = nkeys;
    state_init(&m->base, nkeys);
    state_init(&m->cur, nkeys);
    m->prefix_hash = xrealloc(NULL, sizeof *m->prefix_hash);
    m->prefix_hash[0] = 0;
    m->next_vid = 1;
    return m;
}

void cm_model_free(cm_model *m)
{
    if (!m)
        return;
    state_free(&m->base);
    state_free(&m->cur);
    free(m->subs);
    free(m->ops);
    free(m->prefix_hash);
    free(m->scratch);
    free(m);
}

uint32_t cm_nkeys(const cm_model *m) { return m->nkeys; }
size_t cm_nops(const cm_model *m) { return m->nops; }
size_t cm_durable(const cm_model *m) { return m->durable; }

void cm_set_durable(cm_model *m, size_t n)
{
    if (n > m->nops)
        n = m->nops;
    if (n > m->durable)
        m->durable = n;
}

int cm_op_is_sync(const cm_model *m, size_t op)
{
    return op < m->nops && (m->ops[op].flags & LSM_SYNC);
}

void cm_op_begin(cm_model *m, int flags)
{
    if (m->nops == m->cap_ops) {
        m->cap_ops = m->cap_ops ? 2 * m->cap_ops : 64;
        m->ops = xrealloc(m->ops, m->cap_ops * sizeof *m->ops);
    }
    m->ops[m->nops].first = m->nsubs;
    m->ops[m->nops].n = 0;
    m->ops[m->nops].flags = flags;
}

static cm_sub *new_sub(cm_model *m)
{
    if (m->nsubs == m->cap_subs) {
        m->cap_subs = m->cap_subs ? 2 * m->cap_subs : 256;
        m->subs = xrealloc(m->subs, m->cap_subs * sizeof *m->subs);
    }
    cm_sub *u = &m->subs[m->nsubs++];
    memset(u, 0, sizeof *u);
    m->ops[m->nops].n++;
    return u;
}

void cm_op_put(cm_model *m, uint32_t key, uint32_t vlen)
{
    cm_sub *u = new_sub(m);
    u->kind = CM_PUT;
    u->a = key;
    u->vid = m->next_vid++;
    u->vlen = vlen;
    char *buf = scratch(m, vlen + 1);
    cm_fill_value(u->vid, vlen, buf);
    u->vh = cm_hash_bytes(buf, vlen);
}

void cm_op_delete(cm_model *m, uint32_t key)
{
    cm_sub *u = new_sub(m);
    u->kind = CM_DEL;
    u->a = key;
}

void cm_op_delete_range(cm_model *m, uint32_t begin, uint32_t end)
{
    cm_sub *u = new_sub(m);
    u->kind = CM_RDEL;
    u->a = begin;
    u->b = end > m->nkeys ? m->nkeys : end;
}

size_t cm_op_end(cm_model *m)
{
    cm_op *op = &m->ops[m->nops];
    for (size_t j = 0; j < op->n; j++)
        state_apply(&m->cur, &m->subs[op->first + j]);
    m->nops++;
    m->prefix_hash = xrealloc(m->prefix_hash,
                              (m->nops + 1) * sizeof *m->prefix_hash);
    m->prefix_hash[m->nops] = m->cur.hash;
    return m->nops - 1;
}

static uint32_t gen_len(uint64_t *rng, uint32_t max)
{
    uint64_t r = rnd_below(rng, 100);
    uint32_t lo, hi;
    if (r < 70)
        lo = 0, hi = 100;
    else if (r < 95)
        lo = 100, hi = 1000;
    else if (r < 99)
        lo = 1000, hi = 5000;
    else
        lo = 5000, hi = max;
    if (hi > max)
        hi = max;
    if (lo > hi)
        lo = hi;
    return lo + (uint32_t)rnd_below(rng, (uint64_t)(hi - lo) + 1);
}

/* Half the keys come from a hot window, so keys are overwritten often. */
static uint32_t gen_key(cm_model *m, uint64_t *rng)
{
    if (rnd_below(rng, 2)) {
        uint32_t hot = m->nkeys / 20 + 1;
        uint32_t start = (uint32_t)((m->nops / 64 * 7919u) % m->nkeys);
        return (start + (uint32_t)rnd_below(rng, hot)) % m->nkeys;
    }
    return (uint32_t)rnd_below(rng, m->nkeys);
}

static void gen_sub(cm_model *m, uint64_t *rng, const cm_workload *w)
{
    uint64_t r = rnd_below(rng, 100);
    uint32_t k = gen_key(m, rng);
    if (r < (uint64_t)w->range_pct) {
        uint32_t width = 1 + (uint32_t)rnd_below(rng, w->max_range ? w->max_range : 1);
        cm_op_delete_range(m, k, k + width);
    } else if (r < (uint64_t)(w->range_pct + w->delete_pct)) {
        cm_op_delete(m, k);
    } else {
        cm_op_put(m, k, gen_len(rng, w->max_value));
    }
}

size_t cm_gen_op(cm_model *m, uint64_t *rng, const cm_workload *w)
{
    int flags = (int)rnd_below(rng, 100) < w->sync_pct ? LSM_SYNC : 0;
    if (w->bulk_pct > 0 && (int)rnd_below(rng, 100) < w->bulk_pct)
        flags |= LSM_BULK;  /* drawn only then: other workloads stay as they were */
    cm_op_begin(m, flags);
    int n = 1;
    if ((int)rnd_below(rng, 100) < w->batch_pct)
        n = 1 + (int)rnd_below(rng, (uint64_t)(w->max_batch > 0 ? w->max_batch : 1));
    for (int i = 0; i < n; i++)
        gen_sub(m, rng, w);
    return cm_op_end(m);
}

int cm_exec_op(cm_model *m, size_t op, lsm_db *db)
{
    const cm_op *o = &m->ops[op];
    int flags = o->flags;
    char ka[CM_KEY_LEN + 1], kb[CM_KEY_LEN + 1];
    if (o->n == 1) {
        const cm_sub *u = &m->subs[o->first];
        cm_key(u->a, ka);
        switch (u->kind) {
        case CM_PUT: {
            char *v = scratch(m, u->vlen + 1);
            cm_fill_value(u->vid, u->vlen, v);
            return lsm_put(db, ka, CM_KEY_LEN, v, u->vlen, flags);
        }
        case CM_DEL:
            return lsm_delete(db, ka, CM_KEY_LEN, flags);
        default:
            cm_key(u->b, kb);
            return lsm_delete_range(db, ka, CM_KEY_LEN, kb, CM_KEY_LEN, flags);
        }
    }
    lsm_batch *b = lsm_batch_new();
    if (!b)
        return LSM_NO_MEMORY;
    int rc = LSM_OK;
    for (size_t j = 0; j < o->n && rc == LSM_OK; j++) {
        const cm_sub *u = &m->subs[o->first + j];
        cm_key(u->a, ka);
        if (u->kind == CM_PUT) {
            char *v = scratch(m, u->vlen + 1);
            cm_fill_value(u->vid, u->vlen, v);
            rc = lsm_batch_put(b, ka, CM_KEY_LEN, v, u->vlen);
        } else if (u->kind == CM_DEL) {
            rc = lsm_batch_delete(b, ka, CM_KEY_LEN);
        } else {
            cm_key(u->b, kb);
            rc = lsm_batch_delete_range(b, ka, CM_KEY_LEN, kb, CM_KEY_LEN);
        }
    }
    if (rc == LSM_OK)
        rc = lsm_write(db, b, flags);
    lsm_batch_free(b);
    return rc;
}

void cm_rebase(cm_model *m, size_t k)
{
    cm_state s;
    state_init(&s, m->nkeys);
    state_at(m, k, &s);
    state_copy(&m->base, &s, m->nkeys);
    state_copy(&m->cur, &s, m->nkeys);
    state_free(&s);
    m->nops = 0;
    m->nsubs = 0;
    m->durable = 0;
    m->prefix_hash[0] = m->base.hash;
}

/* --- verification ------------------------------------------------------------ */

/* What a scan found. */
typedef struct scan_result {
    unsigned char *present;
    uint32_t *len;
    uint64_t *vh;
    uint64_t hash;
} scan_result;

static void scan_free(scan_result *r)
{
    free(r->present);
    free(r->len);
    free(r->vh);
}

/* Scans the whole store into r; 0, -1 (foreign or unordered key; err
 * set) or the iterator's error status. */
static int scan_store(cm_model *m, lsm_db *db, const lsm_read_options *ro,
                      scan_result *r, char *err, size_t errlen)
{
    uint32_t n = m->nkeys;
    r->present = calloc(n ? n : 1, 1);
    r->len = calloc(n ? n : 1, sizeof *r->len);
    r->vh = calloc(n ? n : 1, sizeof *r->vh);
    r->hash = 0;
    if (!r->present || !r->len || !r->vh)
        return LSM_NO_MEMORY;
    lsm_iter *it = lsm_iter_new(db, ro);
    if (!it) {
        put_msg(err, errlen, "lsm_iter_new: %s", lsm_last_error());
        return LSM_NO_MEMORY;
    }
    int64_t prev = -1;
    int rc = 0;
    for (lsm_iter_first(it); lsm_iter_valid(it); lsm_iter_next(it)) {
        size_t kl, vl;
        const void *k = lsm_iter_key(it, &kl);
        const void *v = lsm_iter_value(it, &vl);
        int64_t idx = cm_parse_key(k, kl, n);
        if (idx < 0 || idx <= prev) {
            put_msg(err, errlen, "scan returned %s key '%.*s' (after index %lld)",
                    idx < 0 ? "a foreign" : "an out-of-order", (int)(kl > 40 ? 40 : kl),
                    (const char *)k, (long long)prev);
            rc = -1;
            break;
        }
        prev = idx;
        r->present[idx] = 1;
        r->len[idx] = (uint32_t)vl;
        r->vh[idx] = cm_hash_bytes(v, vl);
        r->hash ^= key_term((uint32_t)idx, r->vh[idx]);
    }
    if (rc == 0 && lsm_iter_status(it) != LSM_OK) {
        rc = lsm_iter_status(it);
        put_msg(err, errlen, "scan failed: %s: %s", lsm_status_name(rc),
                lsm_last_error());
    }
    lsm_iter_free(it);
    return rc;
}

/* Describes how a scan differs from a state. */
static int describe_diff(const cm_model *m, const scan_result *r,
                         const cm_state *s, char *buf, size_t cap)
{
    int ndiff = 0;
    int64_t first = -1;
    for (uint32_t k = 0; k < m->nkeys; k++) {
        int want = s->vid[k] != 0;
        if (want != r->present[k] ||
            (want && (s->len[k] != r->len[k] || s->vh[k] != r->vh[k]))) {
            if (first < 0)
                first = k;
            ndiff++;
        }
    }
    if (first >= 0)
        snprintf(buf, cap, "%d keys differ, first k%07lld: expected %s(vid %llu, "
                 "%u bytes), store has %s(%u bytes)", ndiff, (long long)first,
                 s->vid[first] ? "" : "absent ", (unsigned long long)s->vid[first],
                 s->len[first], r->present[first] ? "" : "absent ",
                 r->len[first]);
    else
        snprintf(buf, cap, "no difference");
    return ndiff;
}

/* Compares lsm_get of every key with state s byte for byte. */
static int check_gets(cm_model *m, lsm_db *db, const lsm_read_options *ro,
                      const cm_state *s, char *err, size_t errlen)
{
    char key[CM_KEY_LEN + 1];
    for (uint32_t k = 0; k < m->nkeys; k++) {
        cm_key(k, key);
        void *v = NULL;
        size_t vl = 0;
        int rc = lsm_get(db, ro, key, CM_KEY_LEN, &v, &vl);
        if (rc != LSM_OK && rc != LSM_NOT_FOUND) {
            put_msg(err, errlen, "get %s: %s: %s", key, lsm_status_name(rc),
                    lsm_last_error());
            return rc;
        }
        if ((rc == LSM_OK) != (s->vid[k] != 0)) {
            put_msg(err, errlen, "get %s: %s, expected %s", key,
                    rc == LSM_OK ? "found" : "not found",
                    s->vid[k] ? "a value" : "absent");
            lsm_free(v);
            return -1;
        }
        if (rc == LSM_OK) {
            char *want = scratch(m, s->len[k] + 1);
            cm_fill_value(s->vid[k], s->len[k], want);
            int bad = vl != s->len[k] || memcmp(v, want, vl) != 0;
            lsm_free(v);
            if (bad) {
                put_msg(err, errlen, "get %s: wrong value (%zu bytes, expected "
                        "vid %llu of %u bytes)", key, vl,
                        (unsigned long long)s->vid[k], s->len[k]);
                return -1;
            }
        }
    }
    return 0;
}

int cm_verify(cm_model *m, lsm_db *db, size_t lo, size_t hi, size_t *k,
              char *err, size_t errlen)
{
    if (hi > m->nops)
        hi = m->nops;
    scan_result r;
    int rc = scan_store(m, db, NULL, &r, err, errlen);
    if (rc) {
        scan_free(&r);
        return rc;
    }
    cm_state s;
    state_init(&s, m->nkeys);
    size_t found = SIZE_MAX;
    for (size_t i = hi + 1; i-- > lo;) {
        if (m->prefix_hash[i] == r.hash) {
            found = i;
            break;
        }
    }
    if (found == SIZE_MAX) {
        char a[300], b[300];
        state_at(m, lo, &s);
        describe_diff(m, &r, &s, a, sizeof a);
        state_at(m, hi, &s);
        describe_diff(m, &r, &s, b, sizeof b);
        put_msg(err, errlen, "store matches no prefix in [%zu, %zu] of %zu "
                "operations; vs prefix %zu: %s; vs prefix %zu: %s", lo, hi,
                m->nops, lo, a, hi, b);
        rc = -1;
    } else {
        state_at(m, found, &s);
        char d[300];
        if (describe_diff(m, &r, &s, d, sizeof d)) {
            put_msg(err, errlen, "hash matched prefix %zu but %s", found, d);
            rc = -1;
        } else {
            rc = check_gets(m, db, NULL, &s, err, errlen);
        }
    }
    if (rc == 0)
        *k = found;
    state_free(&s);
    scan_free(&r);
    return rc;
}

cm_state *cm_state_save(cm_model *m, size_t k)
{
    cm_state *s = malloc(sizeof *s);
    if (!s) {
        fprintf(stderr, "crash_model: out of memory\n");
        exit(2);
    }
    state_init(s, m->nkeys);
    state_at(m, k, s);
    return s;
}

void cm_state_free(cm_state *s)
{
    if (s) {
        state_free(s);
        free(s);
    }
}

int cm_verify_state(cm_model *m, const cm_state *s, lsm_db *db,
                    const lsm_read_options *ro, char *err, size_t errlen)
{
    scan_result r;
    int rc = scan_store(m, db, ro, &r, err, errlen);
    char d[300];
    if (rc == 0 && describe_diff(m, &r, s, d, sizeof d)) {
        put_msg(err, errlen, "scan: %s", d);
        rc = -1;
    }
    if (rc == 0)
        rc = check_gets(m, db, ro, s, err, errlen);
    scan_free(&r);
    return rc;
}

/* --- reads of a damaged store ---------------------------------------------- */

static void count_error(int rc, int errors[2])
{
    errors[0]++;
    if (rc == LSM_CORRUPTION)
        errors[1]++;
}

/* Does the entry (key idx, bytes v) equal state s's value for idx? */
static int entry_ok(cm_model *m, const cm_state *s, uint32_t idx,
                    const void *v, size_t vl)
{
    if (!s->vid[idx] || vl != s->len[idx])
        return 0;
    char *want = scratch(m, vl + 1);
    cm_fill_value(s->vid[idx], (uint32_t)vl, want);
    return memcmp(v, want, vl) == 0;
}

/* Next present key of s at or after idx (dir +1) or at or before (-1);
 * -1 if none. */
static int64_t next_present(const cm_model *m, const cm_state *s, int64_t idx,
                            int dir)
{
    for (; idx >= 0 && idx < (int64_t)m->nkeys; idx += dir)
        if (s->vid[idx])
            return idx;
    return -1;
}

/* One scan from a start position in one direction; the entries must be
 * exactly the expected ones in order, ending early only with an error. */
static int check_scan(cm_model *m, lsm_db *db, const cm_state *s, int dir,
                      int64_t seek_to, int errors[2], char *err, size_t errlen)
{
    lsm_iter *it = lsm_iter_new(db, NULL);
    if (!it) {
        count_error(LSM_NO_MEMORY, errors);
        return 0;
    }
    int64_t want;
    if (seek_to >= 0) {
        char key[CM_KEY_LEN + 1];
        cm_key((uint32_t)seek_to, key);
        lsm_iter_seek(it, key, CM_KEY_LEN);
        want = next_present(m, s, seek_to, 1);
    } else if (dir > 0) {
        lsm_iter_first(it);
        want = next_present(m, s, 0, 1);
    } else {
        lsm_iter_last(it);
        want = next_present(m, s, (int64_t)m->nkeys - 1, -1);
    }
    int bad = 0;
    for (; lsm_iter_valid(it); dir > 0 ? lsm_iter_next(it) : lsm_iter_prev(it)) {
        size_t kl, vl;
        const void *k = lsm_iter_key(it, &kl);
        const void *v = lsm_iter_value(it, &vl);
        int64_t idx = cm_parse_key(k, kl, m->nkeys);
        if (idx < 0 || idx != want || !entry_ok(m, s, (uint32_t)idx, v, vl)) {
            put_msg(err, errlen, "%s scan%s: got key '%.*s' (%zu-byte value), "
                    "expected k%07lld%s", dir > 0 ? "forward" : "backward",
                    seek_to >= 0 ? " after seek" : "", (int)(kl > 40 ? 40 : kl),
                    (const char *)k, vl, (long long)want,
                    idx == want ? " with another value" : "");
            bad = 1;
            break;
        }
        want = next_present(m, s, idx + dir, dir);
    }
    if (!bad) {
        int rc = lsm_iter_status(it);
        if (rc != LSM_OK) {
            count_error(rc, errors);
        } else if (want >= 0) {
            put_msg(err, errlen, "%s scan%s ended without an error before "
                    "k%07lld", dir > 0 ? "forward" : "backward",
                    seek_to >= 0 ? " after seek" : "", (long long)want);
            bad = 1;
        }
    }
    lsm_iter_free(it);
    return bad ? -1 : 0;
}

int cm_check_reads(cm_model *m, lsm_db *db, size_t k, int errors[2],
                   char *err, size_t errlen)
{
    cm_state s;
    state_init(&s, m->nkeys);
    state_at(m, k, &s);
    int rc = 0;
    char key[CM_KEY_LEN + 1];
    for (uint32_t i = 0; i < m->nkeys && rc == 0; i++) {
        cm_key(i, key);
        void *v = NULL;
        size_t vl = 0;
        int g = lsm_get(db, NULL, key, CM_KEY_LEN, &v, &vl);
        if (g == LSM_OK) {
            if (!entry_ok(m, &s, i, v, vl)) {
                put_msg(err, errlen, "get %s returned a wrong %zu-byte value "
                        "(expected %s)", key, vl, s.vid[i] ? "another" : "none");
                rc = -1;
            }
            lsm_free(v);
        } else if (g == LSM_NOT_FOUND) {
            if (s.vid[i]) {
                put_msg(err, errlen, "get %s: not found, but it holds a value",
                        key);
                rc = -1;
            }
        } else {
            count_error(g, errors);
        }
    }
    if (rc == 0)
        rc = check_scan(m, db, &s, 1, -1, errors, err, errlen);
    if (rc == 0)
        rc = check_scan(m, db, &s, -1, -1, errors, err, errlen);
    for (int i = 1; rc == 0 && i <= 3; i++)
        rc = check_scan(m, db, &s, 1, (int64_t)(m->nkeys * i / 4), errors,
                        err, errlen);
    state_free(&s);
    return rc;
}

/* Was (idx, value) ever written by a put the model remembers? */
static int ever_written(cm_model *m, uint32_t idx, const void *v, size_t vl)
{
    uint64_t vh = cm_hash_bytes(v, vl);
    if (m->base.vid[idx] && m->base.len[idx] == vl && m->base.vh[idx] == vh)
        return 1;
    for (size_t i = 0; i < m->nsubs; i++) {
        const cm_sub *u = &m->subs[i];
        if (u->kind == CM_PUT && u->a == idx && u->vlen == vl && u->vh == vh) {
            char *want = scratch(m, vl + 1);
            cm_fill_value(u->vid, (uint32_t)vl, want);
            if (memcmp(want, v, vl) == 0)
                return 1;
        }
    }
    return 0;
}

int cm_check_plausible(cm_model *m, lsm_db *db, char *err, size_t errlen)
{
    lsm_iter *it = lsm_iter_new(db, NULL);
    if (!it)
        return LSM_NO_MEMORY;
    int rc = 0;
    for (lsm_iter_first(it); rc == 0 && lsm_iter_valid(it); lsm_iter_next(it)) {
        size_t kl, vl;
        const void *k = lsm_iter_key(it, &kl);
        const void *v = lsm_iter_value(it, &vl);
        int64_t idx = cm_parse_key(k, kl, m->nkeys);
        if (idx < 0 || !ever_written(m, (uint32_t)idx, v, vl)) {
            put_msg(err, errlen, "scan returned '%.*s' with a %zu-byte value "
                    "never written to it", (int)(kl > 40 ? 40 : kl),
                    (const char *)k, vl);
            rc = -1;
        }
    }
    lsm_iter_free(it);
    char key[CM_KEY_LEN + 1];
    for (uint32_t i = 0; i < m->nkeys && rc == 0; i++) {
        cm_key(i, key);
        void *v = NULL;
        size_t vl = 0;
        if (lsm_get(db, NULL, key, CM_KEY_LEN, &v, &vl) == LSM_OK) {
            if (!ever_written(m, i, v, vl)) {
                put_msg(err, errlen, "get %s returned a %zu-byte value never "
                        "written to it", key, vl);
                rc = -1;
            }
            lsm_free(v);
        }
    }
    return rc;
}

/* --- copying a store between environments ---------------------------------- */

static int copy_file(lsm_env *src, const char *from, lsm_env *dst,
                     const char *to)
{
    char *data = NULL;
    size_t n = 0;
    int rc = lsm_env_read_file(src, from, &data, &n);
    if (rc)
        return rc;
    lsm_file *f;
    rc = dst->open_write(dst, to, &f);
    if (rc == LSM_OK) {
        rc = lsm_file_append(f, data, n);
        if (rc == LSM_OK)
            rc = lsm_file_sync(f);
        int crc = lsm_file_close(f);
        rc = rc ? rc : crc;
    }
    free(data);
    return rc;
}

int cm_copy_dir(lsm_env *src, const char *sdir, lsm_env *dst, const char *ddir)
{
    char **names;
    size_t n;
    int rc = src->list_dir(src, sdir, &names, &n);
    if (rc)
        return rc;
    rc = dst->mkdir(dst, ddir);
    for (size_t i = 0; rc == LSM_OK && i < n; i++) {
        if (strcmp(names[i], "LOCK") == 0)
            continue;
        char *from = NULL, *to = NULL;
        if (asprintf(&from, "%s/%s", sdir, names[i]) < 0)
            from = NULL;
        if (asprintf(&to, "%s/%s", ddir, names[i]) < 0)
            to = NULL;
        rc = from && to ? copy_file(src, from, dst, to) : LSM_NO_MEMORY;
        free(from);
        free(to);
    }
    lsm_env_free_names(names, n);
    if (rc == LSM_OK)
        rc = dst->sync_dir(dst, ddir);
    return rc;
}
