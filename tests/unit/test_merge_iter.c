/*
 * test_merge_iter.c — merge_iter.c and twolevel_iter.c: the merging
 * iterator against a sorted model with random children (empty ones,
 * equal keys across children, direction switches), the two-level
 * iterator over array-backed "blocks" with empty blocks, and the error
 * paths of both (failing children, failing open, failing index).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ikey.h"
#include "iter.h"
#include "lsm.h"
#include "memtable.h"

/* --- an array-backed iterator over sorted (key, value) strings ------------ */

typedef struct arr_iter {
    lsm_iiter base;
    char **keys, **vals;   /* borrowed */
    int n, pos;            /* pos in [0, n) when valid */
    int fail_after;        /* moves before it fails; -1 = never */
    int status;
    int *destroyed;        /* counts destroy calls, if set */
} arr_iter;

static int ai_ok(arr_iter *a)
{
    /* Every move counts; when the budget runs out the iterator fails. */
    if (a->fail_after == 0 || a->status) {
        a->status = LSM_IO_ERROR;
        a->pos = a->n;
        return 0;
    }
    if (a->fail_after > 0)
        a->fail_after--;
    return 1;
}

static int ai_valid(lsm_iiter *it)
{
    arr_iter *a = (arr_iter *)it;
    return a->status == LSM_OK && a->pos >= 0 && a->pos < a->n;
}

static void ai_first(lsm_iiter *it)
{
    arr_iter *a = (arr_iter *)it;
    if (ai_ok(a))
        a->pos = 0;
}

static void ai_last(lsm_iiter *it)
{
    arr_iter *a = (arr_iter *)it;
    if (ai_ok(a))
        a->pos = a->n ? a->n - 1 : a->n;
}

static void ai_seek(lsm_iiter *it, lsm_slice t)
{
    arr_iter *a = (arr_iter *)it;
    if (!ai_ok(a))
        return;
    int lo = 0, hi = a->n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (lsm_slice_cmp(lsm_slice_make(a->keys[mid], strlen(a->keys[mid])), t) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    a->pos = lo;
}

static void ai_next(lsm_iiter *it)
{
    arr_iter *a = (arr_iter *)it;
    assert_true(ai_valid(it)); /* callers never move an invalid child */
    if (ai_ok(a))
        a->pos++;
}

static void ai_prev(lsm_iiter *it)
{
    arr_iter *a = (arr_iter *)it;
    assert_true(ai_valid(it));
    if (ai_ok(a))
        a->pos = a->pos ? a->pos - 1 : a->n;
}

static lsm_slice ai_key(lsm_iiter *it)
{
    arr_iter *a = (arr_iter *)it;
    assert_true(ai_valid(it));
    return lsm_slice_make(a->keys[a->pos], strlen(a->keys[a->pos]));
}

static lsm_slice ai_value(lsm_iiter *it)
{
    arr_iter *a = (arr_iter *)it;
    assert_true(ai_valid(it));
    return lsm_slice_make(a->vals[a->pos], strlen(a->vals[a->pos]));
}

static int ai_status(lsm_iiter *it)
{
    return ((arr_iter *)it)->status;
}

static void ai_destroy(lsm_iiter *it)
{
    arr_iter *a = (arr_iter *)it;
    if (a->destroyed)
        (*a->destroyed)++;
    free(a);
}

static const struct lsm_iiter_ops arr_ops = {
    ai_valid, ai_first, ai_last,  ai_seek,   ai_next,
    ai_prev,  ai_key,   ai_value, ai_status, ai_destroy,
};

static lsm_iiter *arr_new(char **keys, char **vals, int n)
{
    arr_iter *a = calloc(1, sizeof *a);
    assert_non_null(a);
    a->base.ops = &arr_ops;
    a->keys = keys;
    a->vals = vals;
    a->n = n;
    a->pos = n;
    a->fail_after = -1;
    return &a->base;
}

static int bytes_cmp(lsm_slice a, lsm_slice b)
{
    return lsm_slice_cmp(a, b);
}

static lsm_slice S(const char *s)
{
    return lsm_slice_make(s, strlen(s));
}

static void expect_kv(lsm_iiter *it, const char *k, const char *v)
{
    assert_true(lsm_iiter_valid(it));
    lsm_slice key = lsm_iiter_key(it), val = lsm_iiter_value(it);
    assert_int_equal(key.len, strlen(k));
    assert_memory_equal(key.data, k, key.len);
    assert_int_equal(val.len, strlen(v));
    assert_memory_equal(val.data, v, val.len);
}

/* --- the merging iterator against a model ---------------------------------- */

enum { MAXC = 12, MAXE = 60 };

struct model_entry {
    char *key, *val;
    int child;
};

struct fixture {
    int nchild;
    int n[MAXC];
    char *keys[MAXC][MAXE], *vals[MAXC][MAXE];
    struct model_entry all[MAXC * MAXE];
    int total;
};

static int model_cmp(const void *pa, const void *pb)
{
    const struct model_entry *a = pa, *b = pb;
    int r = strcmp(a->key, b->key);
    return r ? r : a->child - b->child;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Random children: sorted unique keys within a child from a small key
 * space (so keys repeat across children), some children empty. */
static void fixture_build(struct fixture *f, int nchild, int space)
{
    memset(f, 0, sizeof *f);
    f->nchild = nchild;
    for (int c = 0; c < nchild; c++) {
        int want = rand() % 4 == 0 ? 0 : rand() % MAXE;
        char *tmp[MAXE];
        int n = 0;
        for (int j = 0; j < want; j++) {
            char buf[16];
            snprintf(buf, sizeof buf, "%03d", rand() % space);
            int dup = 0;
            for (int q = 0; q < n; q++)
                dup |= strcmp(tmp[q], buf) == 0;
            if (!dup)
                tmp[n++] = strdup(buf);
        }
        qsort(tmp, (size_t)n, sizeof tmp[0], str_cmp);
        for (int j = 0; j < n; j++) {
            char buf[32];
            snprintf(buf, sizeof buf, "c%d:%s", c, tmp[j]);
            f->keys[c][j] = tmp[j];
            f->vals[c][j] = strdup(buf);
            f->all[f->total].key = tmp[j];
            f->all[f->total].val = f->vals[c][j];
            f->all[f->total].child = c;
            f->total++;
        }
        f->n[c] = n;
    }
    qsort(f->all, (size_t)f->total, sizeof f->all[0], model_cmp);
}

static void fixture_free(struct fixture *f)
{
    for (int c = 0; c < f->nchild; c++)
        for (int j = 0; j < f->n[c]; j++) {
            free(f->keys[c][j]);
            free(f->vals[c][j]);
        }
}

static lsm_iiter *fixture_merge(struct fixture *f)
{
    lsm_iiter *ch[MAXC];
    for (int c = 0; c < f->nchild; c++)
        ch[c] = arr_new(f->keys[c], f->vals[c], f->n[c]);
    return lsm_merge_iter_new(bytes_cmp, ch, f->nchild);
}

static void check_model_pos(lsm_iiter *it, struct fixture *f, int pos)
{
    if (pos < 0 || pos >= f->total) {
        assert_false(lsm_iiter_valid(it));
        return;
    }
    expect_kv(it, f->all[pos].key, f->all[pos].val);
}

/* First model index with key >= t. */
static int model_seek(struct fixture *f, const char *t)
{
    int i = 0;
    while (i < f->total && strcmp(f->all[i].key, t) < 0)
        i++;
    return i;
}

static void test_merge_full_scans(void **state)
{
    (void)state;
    srand(1);
    for (int round = 0; round < 50; round++) {
        struct fixture f;
        fixture_build(&f, 1 + rand() % MAXC, 100);
        lsm_iiter *it = fixture_merge(&f);
        int pos = 0;
        for (lsm_iiter_first(it); lsm_iiter_valid(it); lsm_iiter_next(it))
            check_model_pos(it, &f, pos++);
        assert_int_equal(pos, f.total);
        pos = f.total - 1;
        for (lsm_iiter_last(it); lsm_iiter_valid(it); lsm_iiter_prev(it))
            check_model_pos(it, &f, pos--);
        assert_int_equal(pos, -1);
        assert_int_equal(lsm_iiter_status(it), LSM_OK);
        lsm_iiter_free(it);
        fixture_free(&f);
    }
}

static void test_merge_random_walk(void **state)
{
    (void)state;
    srand(2);
    for (int round = 0; round < 200; round++) {
        struct fixture f;
        /* a small key space makes equal keys across children common */
        fixture_build(&f, 1 + rand() % MAXC, round % 2 ? 20 : 200);
        lsm_iiter *it = fixture_merge(&f);
        int pos = -1;
        for (int step = 0; step < 300; step++) {
            int op = rand() % 10;
            if (op == 0) {
                lsm_iiter_first(it);
                pos = 0;
            } else if (op == 1) {
                lsm_iiter_last(it);
                pos = f.total - 1;
            } else if (op == 2) {
                char t[16];
                snprintf(t, sizeof t, "%03d", rand() % 210);
                if (rand() % 4 == 0)
                    t[2] = 0; /* a prefix: lands between keys */
                lsm_iiter_seek(it, S(t));
                pos = model_seek(&f, t);
            } else if (pos >= 0 && pos < f.total) {
                /* next / prev, often switching direction */
                if (op < 6) {
                    lsm_iiter_next(it);
                    pos++;
                } else {
                    lsm_iiter_prev(it);
                    pos--;
                }
            }
            check_model_pos(it, &f, pos);
            if (pos < 0 || pos >= f.total)
                pos = -1;
        }
        assert_int_equal(lsm_iiter_status(it), LSM_OK);
        lsm_iiter_free(it);
        fixture_free(&f);
    }
}

static void test_merge_equal_keys_order(void **state)
{
    (void)state;
    /* three children all holding "k": child order forward, reverse
     * backward, and exact direction switches in the middle */
    char *k0[] = { "a", "k" }, *v0[] = { "a0", "k0" };
    char *k1[] = { "k" }, *v1[] = { "k1" };
    char *k2[] = { "k", "z" }, *v2[] = { "k2", "z2" };
    lsm_iiter *ch[] = { arr_new(k0, v0, 2), arr_new(k1, v1, 1),
                        arr_new(k2, v2, 2) };
    lsm_iiter *it = lsm_merge_iter_new(bytes_cmp, ch, 3);
    lsm_iiter_first(it);
    expect_kv(it, "a", "a0");
    lsm_iiter_next(it);
    expect_kv(it, "k", "k0");
    lsm_iiter_next(it);
    expect_kv(it, "k", "k1");
    lsm_iiter_prev(it);             /* forward -> backward on a tie */
    expect_kv(it, "k", "k0");
    lsm_iiter_next(it);             /* backward -> forward on a tie */
    expect_kv(it, "k", "k1");
    lsm_iiter_next(it);
    expect_kv(it, "k", "k2");
    lsm_iiter_prev(it);
    expect_kv(it, "k", "k1");
    lsm_iiter_prev(it);
    expect_kv(it, "k", "k0");
    lsm_iiter_prev(it);
    expect_kv(it, "a", "a0");
    lsm_iiter_prev(it);
    assert_false(lsm_iiter_valid(it));
    lsm_iiter_last(it);
    expect_kv(it, "z", "z2");
    lsm_iiter_prev(it);
    expect_kv(it, "k", "k2");
    lsm_iiter_prev(it);
    expect_kv(it, "k", "k1");
    lsm_iiter_seek(it, S("k"));
    expect_kv(it, "k", "k0");
    lsm_iiter_free(it);
}

static void test_merge_degenerate(void **state)
{
    (void)state;
    /* no children */
    lsm_iiter *it = lsm_merge_iter_new(bytes_cmp, NULL, 0);
    lsm_iiter_first(it);
    assert_false(lsm_iiter_valid(it));
    lsm_iiter_last(it);
    assert_false(lsm_iiter_valid(it));
    lsm_iiter_seek(it, S("x"));
    assert_false(lsm_iiter_valid(it));
    lsm_iiter_next(it);
    lsm_iiter_prev(it);
    assert_int_equal(lsm_iiter_status(it), LSM_OK);
    lsm_iiter_free(it);

    /* empty children are skipped; children are all destroyed */
    int destroyed = 0;
    char *k[] = { "b" }, *v[] = { "vb" };
    lsm_iiter *ch[3] = { arr_new(NULL, NULL, 0), arr_new(k, v, 1),
                         arr_new(NULL, NULL, 0) };
    for (int i = 0; i < 3; i++)
        ((arr_iter *)ch[i])->destroyed = &destroyed;
    it = lsm_merge_iter_new(bytes_cmp, ch, 3);
    lsm_iiter_seek(it, S("a"));
    expect_kv(it, "b", "vb");
    lsm_iiter_prev(it);
    assert_false(lsm_iiter_valid(it));
    lsm_iiter_seek(it, S("c"));
    assert_false(lsm_iiter_valid(it));
    lsm_iiter_last(it);
    expect_kv(it, "b", "vb");
    lsm_iiter_next(it);
    assert_false(lsm_iiter_valid(it));
    assert_int_equal(lsm_iiter_status(it), LSM_OK);
    lsm_iiter_free(it);
    assert_int_equal(destroyed, 3);

    /* a NULL child (a constructor that ran out of memory) is an error,
     * not an empty child */
    lsm_iiter *ch2[2] = { arr_new(k, v, 1), NULL };
    it = lsm_merge_iter_new(bytes_cmp, ch2, 2);
    lsm_iiter_first(it);
    assert_false(lsm_iiter_valid(it));
    assert_int_equal(lsm_iiter_status(it), LSM_NO_MEMORY);
    lsm_iiter_free(it);
}

static void test_merge_child_errors(void **state)
{
    (void)state;
    char *k0[] = { "a", "c", "e", "g" }, *v0[] = { "a", "c", "e", "g" };
    char *k1[] = { "b", "d", "f", "h" }, *v1[] = { "b", "d", "f", "h" };

    /* a child failing mid-scan stops the merge instead of skipping it */
    lsm_iiter *ch[2] = { arr_new(k0, v0, 4), arr_new(k1, v1, 4) };
    ((arr_iter *)ch[1])->fail_after = 2;  /* first + one next */
    lsm_iiter *it = lsm_merge_iter_new(bytes_cmp, ch, 2);
    lsm_iiter_first(it);
    expect_kv(it, "a", "a");
    lsm_iiter_next(it);
    expect_kv(it, "b", "b");
    lsm_iiter_next(it);
    expect_kv(it, "c", "c");
    lsm_iiter_next(it);                   /* child 1 moves off "b": ok */
    expect_kv(it, "d", "d");
    lsm_iiter_next(it);                   /* child 1 fails */
    assert_false(lsm_iiter_valid(it));
    assert_int_equal(lsm_iiter_status(it), LSM_IO_ERROR);
    lsm_iiter_first(it);                  /* sticky */
    assert_false(lsm_iiter_valid(it));
    assert_int_equal(lsm_iiter_status(it), LSM_IO_ERROR);
    lsm_iiter_free(it);

    /* an error iterator among the children: first status wins */
    lsm_iiter *ch2[3] = { arr_new(k0, v0, 4), lsm_iiter_error(LSM_CORRUPTION),
                          lsm_iiter_error(LSM_IO_ERROR) };
    it = lsm_merge_iter_new(bytes_cmp, ch2, 3);
    assert_int_equal(lsm_iiter_status(it), LSM_CORRUPTION);
    lsm_iiter_last(it);
    assert_false(lsm_iiter_valid(it));
    assert_int_equal(lsm_iiter_status(it), LSM_CORRUPTION);
    lsm_iiter_free(it);

    /* failure during a direction switch (child 0's budget runs out in
     * the seek + prev that reposition it), and right after one */
    for (int budget = 3; budget <= 4; budget++) {
        lsm_iiter *ch3[2] = { arr_new(k0, v0, 4), arr_new(k1, v1, 4) };
        ((arr_iter *)ch3[0])->fail_after = budget;
        it = lsm_merge_iter_new(bytes_cmp, ch3, 2);
        lsm_iiter_first(it);              /* child 0: move 1 */
        lsm_iiter_next(it);               /* child 0: move 2, now at "c" */
        expect_kv(it, "b", "b");
        lsm_iiter_prev(it);               /* child 0: seek + prev, 3 and 4 */
        if (budget == 4) {
            expect_kv(it, "a", "a");
            lsm_iiter_next(it);           /* child 0 moves again: fails */
        }
        assert_false(lsm_iiter_valid(it));
        assert_int_equal(lsm_iiter_status(it), LSM_IO_ERROR);
        lsm_iiter_free(it);
    }
}

/* Merging memtable iterators with the internal key order. */
static void test_merge_memtables(void **state)
{
    (void)state;
    lsm_memtable *m1 = lsm_memtable_new(NULL, 4096), *m2 = lsm_memtable_new(NULL, 4096);
    assert_non_null(m1);
    assert_non_null(m2);
    assert_int_equal(lsm_memtable_add(m1, 5, LSM_KIND_PUT, S("b"), S("b5")), 0);
    assert_int_equal(lsm_memtable_add(m1, 6, LSM_KIND_PUT, S("a"), S("a6")), 0);
    assert_int_equal(lsm_memtable_add(m2, 2, LSM_KIND_PUT, S("b"), S("b2")), 0);
    assert_int_equal(lsm_memtable_add(m2, 3, LSM_KIND_DELETE, S("c"), S("")), 0);
    lsm_iiter *ch[2] = { lsm_memtable_iter(m1), lsm_memtable_iter(m2) };
    lsm_memtable_unref(m1);
    lsm_memtable_unref(m2);
    lsm_iiter *it = lsm_merge_iter_new(lsm_ikey_cmp, ch, 2);
    const char *want[] = { "a6", "b5", "b2", "" };
    const uint64_t seqs[] = { 6, 5, 2, 3 };
    int i = 0;
    for (lsm_iiter_first(it); lsm_iiter_valid(it); lsm_iiter_next(it), i++) {
        lsm_ikey k;
        assert_int_equal(lsm_ikey_parse(lsm_iiter_key(it), &k), 1);
        assert_true(k.seq == seqs[i]);
        assert_int_equal(lsm_iiter_value(it).len, strlen(want[i]));
    }
    assert_int_equal(i, 4);
    lsm_iiter_last(it);
    lsm_iiter_prev(it);
    lsm_iiter_prev(it);
    lsm_ikey k;
    assert_int_equal(lsm_ikey_parse(lsm_iiter_key(it), &k), 1);
    assert_true(k.seq == 5);
    lsm_iiter_free(it);
}

/* --- the error iterator ---------------------------------------------------- */

static void test_error_iter(void **state)
{
    (void)state;
    int statuses[] = { LSM_OK, LSM_CORRUPTION, LSM_IO_ERROR, LSM_NO_MEMORY,
                       LSM_BG_ERROR, -100, 5 };
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        lsm_iiter *it = lsm_iiter_error(statuses[i]);
        assert_non_null(it);
        assert_int_equal(lsm_iiter_status(it), statuses[i]);
        lsm_iiter_first(it);
        assert_false(lsm_iiter_valid(it));
        lsm_iiter_last(it);
        lsm_iiter_seek(it, S("x"));
        lsm_iiter_next(it);
        lsm_iiter_prev(it);
        assert_false(lsm_iiter_valid(it));
        assert_int_equal(lsm_iiter_key(it).len, 0);
        assert_int_equal(lsm_iiter_value(it).len, 0);
        lsm_iiter_free(it); /* static or malloc'ed: both safe (ASan) */
    }
    /* the shared instance can be freed any number of times */
    lsm_iiter_free(lsm_iiter_error(LSM_NO_MEMORY));
    lsm_iiter_free(lsm_iiter_error(LSM_NO_MEMORY));
    assert_int_equal(lsm_iiter_status(lsm_iiter_error(LSM_NO_MEMORY)),
                     LSM_NO_MEMORY);
}

/* --- the two-level iterator ------------------------------------------------ */

enum { MAXB = 24, MAXBE = 8 };

struct blocks {
    int nblocks;
    int n[MAXB];
    char *keys[MAXB][MAXBE], *vals[MAXB][MAXBE];
    char *index_keys[MAXB], *index_vals[MAXB];
    int bad[MAXB];          /* open fails with LSM_CORRUPTION */
    int null_open[MAXB];    /* open returns NULL */
    int opens;
    char *all_keys[MAXB * MAXBE], *all_vals[MAXB * MAXBE];
    int total;
};

static lsm_iiter *open_block(void *arg, lsm_slice handle)
{
    struct blocks *b = arg;
    b->opens++;
    int id;
    char buf[8];
    if (handle.len == 0 || handle.len >= sizeof buf)
        return lsm_iiter_error(LSM_CORRUPTION);
    memcpy(buf, handle.data, handle.len);
    buf[handle.len] = 0;
    if (sscanf(buf, "%d", &id) != 1 || id < 0 || id >= b->nblocks)
        return lsm_iiter_error(LSM_CORRUPTION);
    if (b->bad[id])
        return lsm_iiter_error(LSM_CORRUPTION);
    if (b->null_open[id])
        return NULL;
    return arr_new(b->keys[id], b->vals[id], b->n[id]);
}

/* Keys are multiples of 10; a block's index key is its last key, or for
 * an empty block a number between the neighbours' keys. */
static void blocks_build(struct blocks *b)
{
    memset(b, 0, sizeof *b);
    b->nblocks = 1 + rand() % MAXB;
    int next_key = 10, last = 0, empties = 0;
    for (int i = 0; i < b->nblocks; i++) {
        int n = (empties < 8 && rand() % 3 == 0) ? 0 : 1 + rand() % MAXBE;
        char buf[16];
        for (int j = 0; j < n; j++) {
            snprintf(buf, sizeof buf, "k%05d", next_key);
            b->keys[i][j] = strdup(buf);
            snprintf(buf, sizeof buf, "v%05d", next_key);
            b->vals[i][j] = strdup(buf);
            b->all_keys[b->total] = b->keys[i][j];
            b->all_vals[b->total] = b->vals[i][j];
            b->total++;
            last = next_key;
            next_key += 10;
        }
        empties = n ? 0 : empties + 1;
        snprintf(buf, sizeof buf, "k%05d", n ? last : last + empties);
        b->index_keys[i] = strdup(buf);
        snprintf(buf, sizeof buf, "%d", i);
        b->index_vals[i] = strdup(buf);
        b->n[i] = n;
    }
}

static void blocks_free(struct blocks *b)
{
    for (int i = 0; i < b->nblocks; i++) {
        for (int j = 0; j < b->n[i]; j++) {
            free(b->keys[i][j]);
            free(b->vals[i][j]);
        }
        free(b->index_keys[i]);
        free(b->index_vals[i]);
    }
}

static lsm_iiter *blocks_iter(struct blocks *b)
{
    return lsm_twolevel_iter_new(arr_new(b->index_keys, b->index_vals,
                                         b->nblocks),
                                 open_block, b);
}

static void check_block_pos(lsm_iiter *it, struct blocks *b, int pos)
{
    if (pos < 0 || pos >= b->total) {
        assert_false(lsm_iiter_valid(it));
        return;
    }
    expect_kv(it, b->all_keys[pos], b->all_vals[pos]);
}

static void test_twolevel_random(void **state)
{
    (void)state;
    srand(3);
    for (int round = 0; round < 200; round++) {
        struct blocks b;
        blocks_build(&b);
        lsm_iiter *it = blocks_iter(&b);

        int pos = 0;
        for (lsm_iiter_first(it); lsm_iiter_valid(it); lsm_iiter_next(it))
            check_block_pos(it, &b, pos++);
        assert_int_equal(pos, b.total);
        pos = b.total - 1;
        for (lsm_iiter_last(it); lsm_iiter_valid(it); lsm_iiter_prev(it))
            check_block_pos(it, &b, pos--);
        assert_int_equal(pos, -1);

        pos = -1;
        for (int step = 0; step < 200; step++) {
            int op = rand() % 8;
            if (op == 0) {
                lsm_iiter_first(it);
                pos = 0;
            } else if (op == 1) {
                lsm_iiter_last(it);
                pos = b.total - 1;
            } else if (op == 2) {
                char t[16];
                int num = rand() % (10 * (b.total + 2));
                snprintf(t, sizeof t, "k%05d", num);
                lsm_iiter_seek(it, S(t));
                pos = num <= 10 ? 0 : (num + 9) / 10 - 1;
            } else if (pos >= 0 && pos < b.total) {
                if (op < 5) {
                    lsm_iiter_next(it);
                    pos++;
                } else {
                    lsm_iiter_prev(it);
                    pos--;
                }
            }
            check_block_pos(it, &b, pos);
            if (pos < 0 || pos >= b.total)
                pos = -1;
        }
        assert_int_equal(lsm_iiter_status(it), LSM_OK);
        lsm_iiter_free(it);
        blocks_free(&b);
    }
}

static void test_twolevel_reuses_child(void **state)
{
    (void)state;
    srand(4);
    struct blocks b;
    memset(&b, 0, sizeof b);
    do {
        blocks_free(&b);
        blocks_build(&b);
    } while (b.nblocks < 3 || b.n[0] < 2);
    lsm_iiter *it = blocks_iter(&b);
    for (lsm_iiter_first(it); lsm_iiter_valid(it); lsm_iiter_next(it))
        ;
    assert_int_equal(b.opens, b.nblocks); /* each block opened once */
    lsm_iiter_first(it);
    int opens = b.opens;
    lsm_iiter_seek(it, S(b.keys[0][1]));  /* same block: no reopen */
    expect_kv(it, b.keys[0][1], b.vals[0][1]);
    lsm_iiter_next(it);
    lsm_iiter_prev(it);
    lsm_iiter_prev(it);
    expect_kv(it, b.keys[0][0], b.vals[0][0]);
    assert_int_equal(b.opens, opens);
    lsm_iiter_free(it);
    blocks_free(&b);
}

static void test_twolevel_empty(void **state)
{
    (void)state;
    /* an empty index */
    struct blocks b;
    memset(&b, 0, sizeof b);
    lsm_iiter *it = blocks_iter(&b);
    lsm_iiter_first(it);
    assert_false(lsm_iiter_valid(it));
    lsm_iiter_last(it);
    assert_false(lsm_iiter_valid(it));
    lsm_iiter_seek(it, S("k"));
    assert_false(lsm_iiter_valid(it));
    lsm_iiter_next(it);
    lsm_iiter_prev(it);
    assert_int_equal(lsm_iiter_status(it), LSM_OK);
    assert_int_equal(lsm_iiter_key(it).len, 0);
    lsm_iiter_free(it);

    /* only empty blocks */
    char *ik[] = { "a", "b", "c" }, *iv[] = { "0", "1", "2" };
    b.nblocks = 3;
    it = lsm_twolevel_iter_new(arr_new(ik, iv, 3), open_block, &b);
    lsm_iiter_first(it);
    assert_false(lsm_iiter_valid(it));
    lsm_iiter_last(it);
    assert_false(lsm_iiter_valid(it));
    lsm_iiter_seek(it, S("b"));
    assert_false(lsm_iiter_valid(it));
    assert_int_equal(lsm_iiter_status(it), LSM_OK);
    assert_int_equal(b.opens, 3 + 3 + 2);
    lsm_iiter_free(it);
}

static void test_twolevel_errors(void **state)
{
    (void)state;
    srand(5);
    struct blocks b;
    memset(&b, 0, sizeof b);
    do {
        blocks_free(&b);
        blocks_build(&b);
    } while (b.nblocks < 4 || b.n[0] == 0 || b.n[b.nblocks - 1] == 0);

    /* open fails for one block in the middle: a forward scan stops there
     * with its status rather than skipping the block */
    int bad = b.nblocks / 2;
    b.bad[bad] = 1;
    int before = 0;
    for (int i = 0; i < bad; i++)
        before += b.n[i];
    lsm_iiter *it = blocks_iter(&b);
    int seen = 0;
    for (lsm_iiter_first(it); lsm_iiter_valid(it); lsm_iiter_next(it))
        check_block_pos(it, &b, seen++);
    assert_int_equal(seen, before);
    assert_int_equal(lsm_iiter_status(it), LSM_CORRUPTION);
    lsm_iiter_last(it);                 /* sticky */
    assert_false(lsm_iiter_valid(it));
    lsm_iiter_free(it);

    /* ... and a backward scan too */
    it = blocks_iter(&b);
    int after = 0;
    for (int i = bad + 1; i < b.nblocks; i++)
        after += b.n[i];
    seen = 0;
    for (lsm_iiter_last(it); lsm_iiter_valid(it); lsm_iiter_prev(it))
        check_block_pos(it, &b, b.total - 1 - seen++);
    assert_int_equal(seen, after);
    assert_int_equal(lsm_iiter_status(it), LSM_CORRUPTION);
    lsm_iiter_free(it);

    /* open returning NULL counts as out of memory */
    b.bad[bad] = 0;
    b.null_open[0] = 1;
    it = blocks_iter(&b);
    lsm_iiter_first(it);
    assert_false(lsm_iiter_valid(it));
    assert_int_equal(lsm_iiter_status(it), LSM_NO_MEMORY);
    lsm_iiter_free(it);
    b.null_open[0] = 0;

    /* a damaged handle in the index */
    char *saved = b.index_vals[1];
    b.index_vals[1] = "garbage";
    it = blocks_iter(&b);
    lsm_iiter_seek(it, S(b.index_keys[1]));
    assert_false(lsm_iiter_valid(it));
    assert_int_equal(lsm_iiter_status(it), LSM_CORRUPTION);
    lsm_iiter_free(it);
    b.index_vals[1] = saved;

    /* the index itself fails mid-scan */
    lsm_iiter *index = arr_new(b.index_keys, b.index_vals, b.nblocks);
    ((arr_iter *)index)->fail_after = 2;   /* first + one next */
    it = lsm_twolevel_iter_new(index, open_block, &b);
    seen = 0;
    for (lsm_iiter_first(it); lsm_iiter_valid(it); lsm_iiter_next(it))
        check_block_pos(it, &b, seen++);
    assert_true(seen >= b.n[0]);
    assert_true(seen < b.total);
    assert_int_equal(lsm_iiter_status(it), LSM_IO_ERROR);
    lsm_iiter_free(it);

    /* a NULL index (its constructor ran out of memory) */
    it = lsm_twolevel_iter_new(NULL, open_block, &b);
    lsm_iiter_first(it);
    assert_false(lsm_iiter_valid(it));
    assert_int_equal(lsm_iiter_status(it), LSM_NO_MEMORY);
    lsm_iiter_free(it);

    /* an error iterator as the index */
    it = lsm_twolevel_iter_new(lsm_iiter_error(LSM_IO_ERROR), open_block, &b);
    lsm_iiter_seek(it, S("k"));
    assert_false(lsm_iiter_valid(it));
    assert_int_equal(lsm_iiter_status(it), LSM_IO_ERROR);
    lsm_iiter_free(it);
    blocks_free(&b);
}

/* A two-level iterator as a merge child, as a level iterator would be. */
static void test_twolevel_inside_merge(void **state)
{
    (void)state;
    srand(6);
    struct blocks b1, b2;
    blocks_build(&b1);
    blocks_build(&b2);
    lsm_iiter *ch[2] = { blocks_iter(&b1), blocks_iter(&b2) };
    lsm_iiter *it = lsm_merge_iter_new(bytes_cmp, ch, 2);
    int n = 0;
    lsm_buf prev = { 0 };
    for (lsm_iiter_last(it); lsm_iiter_valid(it); lsm_iiter_prev(it), n++) {
        if (n)
            assert_true(bytes_cmp(lsm_iiter_key(it), lsm_buf_slice(&prev)) <= 0);
        lsm_buf_clear(&prev);
        lsm_buf_append(&prev, lsm_iiter_key(it).data, lsm_iiter_key(it).len);
    }
    assert_int_equal(n, b1.total + b2.total);
    lsm_buf_free(&prev);
    lsm_iiter_free(it);
    blocks_free(&b1);
    blocks_free(&b2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_full_scans),
        cmocka_unit_test(test_merge_random_walk),
        cmocka_unit_test(test_merge_equal_keys_order),
        cmocka_unit_test(test_merge_degenerate),
        cmocka_unit_test(test_merge_child_errors),
        cmocka_unit_test(test_merge_memtables),
        cmocka_unit_test(test_error_iter),
        cmocka_unit_test(test_twolevel_random),
        cmocka_unit_test(test_twolevel_reuses_child),
        cmocka_unit_test(test_twolevel_empty),
        cmocka_unit_test(test_twolevel_errors),
        cmocka_unit_test(test_twolevel_inside_merge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
