/*
 * fuzz_manifest.c — libFuzzer target: manifest records (lsm_edit_decode,
 * version_edit.c) and whole-manifest replay (lsm_vset_recover,
 * version.c) through the log reader.
 *
 * The input is a manifest file.  For the input as given and again with
 * every well-framed fragment's checksum made valid (see fuzz_mem.h):
 *   - every record the log reader returns is decoded as an edit, and a
 *     decoded edit must survive encode + decode unchanged;
 *   - the store is recovered from an in-memory directory holding CURRENT
 *     (naming MANIFEST-000001) and the input as that manifest; a
 *     recovered version must have every level past 0 sorted with
 *     disjoint key ranges and every table's smallest <= largest.
 * The whole input is also decoded directly as one edit.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_mem.h"
#include "ikey.h"
#include "version.h"
#include "wal.h"

#include "fuzz_check.h"

#define DIR_NAME "fz"
static const char current[] = "MANIFEST-000001\n";

static int buf_eq(const lsm_buf *a, const lsm_buf *b)
{
    return a->len == b->len &&
           (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static void check_same_edit(const lsm_version_edit *a,
                            const lsm_version_edit *b)
{
    CHECK(a->has_comparator == b->has_comparator);
    if (a->has_comparator)
        CHECK(strcmp(a->comparator, b->comparator) == 0);
    CHECK(a->has_log_number == b->has_log_number);
    CHECK(a->has_next_file == b->has_next_file);
    CHECK(a->has_last_seq == b->has_last_seq);
    CHECK(!a->has_log_number || a->log_number == b->log_number);
    CHECK(!a->has_next_file || a->next_file == b->next_file);
    CHECK(!a->has_last_seq || a->last_seq == b->last_seq);
    CHECK(a->ndeleted == b->ndeleted);
    for (size_t i = 0; i < a->ndeleted; i++) {
        CHECK(a->deleted[i].level == b->deleted[i].level);
        CHECK(a->deleted[i].number == b->deleted[i].number);
    }
    CHECK(a->nadded == b->nadded);
    for (size_t i = 0; i < a->nadded; i++) {
        const lsm_file_meta *x = a->added[i].meta, *y = b->added[i].meta;
        CHECK(a->added[i].level == b->added[i].level);
        CHECK(x->number == y->number && x->size == y->size &&
              x->entries == y->entries);
        CHECK(buf_eq(&x->smallest, &y->smallest));
        CHECK(buf_eq(&x->largest, &y->largest));
    }
}

/* Decodes one edit; if well-formed, checks it round-trips. */
static void decode_edit(lsm_slice rec)
{
    lsm_version_edit e;
    int rc = lsm_edit_decode(&e, rec);
    CHECK(rc == LSM_OK || rc == LSM_CORRUPTION || rc == LSM_NO_MEMORY);
    if (rc != LSM_OK)
        return;
    for (size_t i = 0; i < e.nadded; i++) {
        const lsm_file_meta *f = e.added[i].meta;
        lsm_ikey k;
        CHECK(e.added[i].level >= 0 && e.added[i].level < LSM_NUM_LEVELS);
        CHECK(lsm_ikey_parse(lsm_buf_slice(&f->smallest), &k));
        CHECK(lsm_ikey_parse(lsm_buf_slice(&f->largest), &k));
        CHECK(lsm_ikey_cmp(lsm_buf_slice(&f->smallest),
                           lsm_buf_slice(&f->largest)) <= 0);
    }
    for (size_t i = 0; i < e.ndeleted; i++)
        CHECK(e.deleted[i].level >= 0 && e.deleted[i].level < LSM_NUM_LEVELS);

    lsm_buf out = { 0 };
    if (lsm_edit_encode(&e, &out) == LSM_OK) {
        lsm_version_edit again;
        rc = lsm_edit_decode(&again, lsm_buf_slice(&out));
        CHECK(rc == LSM_OK || rc == LSM_NO_MEMORY);
        if (rc == LSM_OK) {
            check_same_edit(&e, &again);
            lsm_edit_free(&again);
        }
    }
    lsm_buf_free(&out);
    lsm_edit_free(&e);
}

static void decode_records(const char *data, size_t n)
{
    lsm_file *f = memfile_borrow(data, n);
    lsm_wal_reader *r;
    if (!f || lsm_wal_reader_new(f, "MANIFEST-000001", &r) != LSM_OK)
        return;
    lsm_slice rec;
    while (lsm_wal_read(r, &rec) == 1)
        decode_edit(rec);
    lsm_wal_reader_free(r);
}

static void log_line(void *ctx, int level, const char *line)
{
    (void)ctx;
    CHECK(level >= LSM_LOG_ERROR && level <= LSM_LOG_DEBUG);
    CHECK(strlen(line) < 4096);
}

/* What recovery promises about the version it installs. */
static void check_version(const lsm_version *v)
{
    for (int l = 0; l < LSM_NUM_LEVELS; l++) {
        for (size_t i = 0; i < v->nfiles[l]; i++) {
            const lsm_file_meta *f = v->files[l][i];
            CHECK(f->refs >= 1);
            CHECK(lsm_ikey_cmp(lsm_buf_slice(&f->smallest),
                               lsm_buf_slice(&f->largest)) <= 0);
            if (l > 0 && i > 0)
                CHECK(lsm_ikey_cmp(lsm_buf_slice(&v->files[l][i - 1]->largest),
                                   lsm_buf_slice(&f->smallest)) < 0);
        }
    }
}

static void recover(const char *data, size_t n)
{
    memenv env;
    memenv_init(&env);
    memenv_add(&env, DIR_NAME "/CURRENT", current, sizeof current - 1);
    memenv_add(&env, DIR_NAME "/MANIFEST-000001", data, n);

    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_t view_mu = PTHREAD_MUTEX_INITIALIZER;
    lsm_version_set vs;
    if (lsm_vset_init(&vs, DIR_NAME, &env.base, NULL, &mu, &view_mu) != LSM_OK)
        return;
    int rc = lsm_vset_recover(&vs, log_line, NULL);
    CHECK(rc == LSM_OK || rc == LSM_CORRUPTION || rc == LSM_INVALID ||
          rc == LSM_NO_MEMORY);
    if (rc == LSM_OK) {
        check_version(vs.current);
        CHECK(vs.next_file > 1);   /* past the manifest's own number */
        uint64_t *live;
        size_t nlive;
        if (lsm_vset_live_files(&vs, &live, &nlive) == LSM_OK) {
            for (size_t i = 1; i < nlive; i++)
                CHECK(live[i - 1] <= live[i]);
            free(live);
        }
    }
    lsm_vset_destroy(&vs);
    pthread_mutex_destroy(&mu);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    decode_edit(lsm_slice_make(in, size));
    decode_records(in, size);
    recover(in, size);

    char *fixed = malloc(size ? size : 1);
    if (!fixed)
        return 0;
    memcpy(fixed, data, size);
    wal_fix_checksums(fixed, size);
    if (memcmp(fixed, data, size) != 0) {
        decode_records(fixed, size);
        recover(fixed, size);
    }
    free(fixed);
    return 0;
}
