/*
 * crash_model.h — a reference model of a store for the crash, fault and
 * corruption tests.
 *
 * The model is a fixed key space of `nkeys` keys ("k0000000" ... in
 * index order, so bytewise order is index order) and a list of write
 * operations, each a put, delete, range delete or a batch of them, in the
 * order the test issued them.  It remembers the state before the first
 * operation (the base) and a hash of the state after every prefix of the
 * operations, so "does the store equal the state after some prefix k of
 * the operations, for k in [lo, hi]?" costs one scan of the store plus
 * one replay of the operations (to check the matching prefix exactly).
 *
 * Values are not stored: a put's value is a pseudo-random byte string
 * determined by its value id (unique per put) and length, regenerated on
 * demand.  A key's state is (value id, length, hash of the bytes), value
 * id 0 meaning absent.  The state hash is the XOR over present keys of a
 * mix of the key index and the value's byte hash, so it can be computed
 * from what a scan returns.
 *
 * Nothing here uses cmocka: failures are returned with a message.
 */
#ifndef CRASH_MODEL_H
#define CRASH_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "env.h"
#include "lsm.h"

#define CM_KEY_LEN 8

typedef struct cm_model cm_model;

/* Shape of the random operations cm_gen_op makes. */
typedef struct cm_workload {
    uint32_t max_value;     /* longest value; lengths skew small */
    int sync_pct;           /* operations written with LSM_SYNC */
    int bulk_pct;           /* ... with LSM_BULK (as large file writes) */
    int delete_pct;         /* point deletes among sub-operations */
    int range_pct;          /* range deletes among sub-operations */
    uint32_t max_range;     /* widest range delete, in keys */
    int batch_pct;          /* operations that are batches */
    int max_batch;          /* sub-operations per batch */
} cm_workload;

cm_model *cm_model_new(uint32_t nkeys);
void cm_model_free(cm_model *m);
uint32_t cm_nkeys(const cm_model *m);
/* Writes key idx (CM_KEY_LEN bytes, plus a NUL) into buf.  idx may be
 * nkeys, the exclusive end of a range delete reaching the last key. */
void cm_key(uint32_t idx, char buf[CM_KEY_LEN + 1]);
/* Parses a key the store returned; -1 if it is not one of the model's. */
int64_t cm_parse_key(const void *key, size_t len, uint32_t nkeys);
/* The bytes of value `vid` of length len. */
void cm_fill_value(uint64_t vid, uint32_t len, void *buf);
uint64_t cm_hash_bytes(const void *p, size_t n);

/* Building an operation: begin, any number of sub-operations, end.  end
 * applies it to the model's current state and returns its index.
 * flags: lsm_write's, LSM_SYNC (1) and LSM_BULK. */
void cm_op_begin(cm_model *m, int flags);
void cm_op_put(cm_model *m, uint32_t key, uint32_t vlen);
void cm_op_delete(cm_model *m, uint32_t key);
void cm_op_delete_range(cm_model *m, uint32_t begin, uint32_t end);
size_t cm_op_end(cm_model *m);
/* A random operation per w; returns its index. */
size_t cm_gen_op(cm_model *m, uint64_t *rng, const cm_workload *w);
/* Issues operation `op` against db (as lsm_put/delete/delete_range for a
 * single sub-operation, as a batch otherwise); the lsm status. */
int cm_exec_op(cm_model *m, size_t op, lsm_db *db);
int cm_op_is_sync(const cm_model *m, size_t op);

size_t cm_nops(const cm_model *m);
/* Lower bound for recovery: the first `durable` operations must survive
 * (they were synced, or a flush completed after them). */
void cm_set_durable(cm_model *m, size_t n);
size_t cm_durable(const cm_model *m);

/* Checks that db holds exactly the state after some prefix k of the
 * operations, lo <= k <= hi: scans it (the hash picks k), then compares
 * every key of the scan and every lsm_get against that state byte for
 * byte.  Returns 0 with *k set; -1 with a description in err when no
 * prefix matches; or the lsm status of a failed read. */
int cm_verify(cm_model *m, lsm_db *db, size_t lo, size_t hi, size_t *k,
              char *err, size_t errlen);
/* A saved copy of the state after prefix k (k <= cm_nops; the base and
 * the operations since, so before any cm_rebase past it), for checking a
 * snapshot taken then; it outlives cm_rebase. */
typedef struct cm_state cm_state;
cm_state *cm_state_save(cm_model *m, size_t k);
void cm_state_free(cm_state *s);
/* Checks that db read through ro holds exactly state s (a scan and every
 * key's lsm_get, byte for byte); 0, -1 with err, or a read's status. */
int cm_verify_state(cm_model *m, const cm_state *s, lsm_db *db,
                    const lsm_read_options *ro, char *err, size_t errlen);
/* Makes the state after prefix k the new base and forgets the
 * operations (durable becomes 0). */
void cm_rebase(cm_model *m, size_t k);

/* Reads of a possibly damaged store, expected to hold the state after
 * prefix k: every lsm_get returns that state's value or an error, a
 * forward and a backward scan return a correct prefix (suffix) of it,
 * stopping early only with an error status, and seeks land correctly.
 * Returns 0 if no read returned wrong data (a description in err
 * otherwise); *errors counts failed reads by status: errors[0] all,
 * errors[1] LSM_CORRUPTION. */
int cm_check_reads(cm_model *m, lsm_db *db, size_t k, int errors[2],
                   char *err, size_t errlen);
/* For salvage: every value the store returns (scan and gets) is one that
 * some put in the model's history wrote to that key. */
int cm_check_plausible(cm_model *m, lsm_db *db, char *err, size_t errlen);

/* Copies every file of sdir in src into ddir (created) in dst, synced. */
int cm_copy_dir(lsm_env *src, const char *sdir, lsm_env *dst,
                const char *ddir);

#endif
