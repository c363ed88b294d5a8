/*
 * block_builder.c — writes sorted key/value blocks (see block.h).
 *
 * BLOCK FORMAT (uncompressed; a table may store it zstd-compressed)
 *
 *     entry[0] entry[1] ... entry[N-1]
 *     restart[0] ... restart[R-1]       fixed32 each: offset of an entry
 *     R                                 fixed32: number of restarts
 *
 * Each entry is
 *
 *     shared      varint32  bytes of the key shared with the previous key
 *     unshared    varint32  bytes of the key that follow
 *     value_len   varint32
 *     key_delta   unshared bytes: key[shared .. shared + unshared)
 *     value       value_len bytes
 *
 * Entry 0, and every restart_interval-th entry after it, is a restart
 * point: its key is stored whole (shared = 0) and its offset is listed in
 * the restart array, in increasing order, starting with restart[0] = 0.
 * A block with no entries is just R = 0 (4 bytes).  All offsets are
 * 32-bit, so a block is smaller than 4 GiB.
 *
 * Reading (block.c): a seek binary-searches the restart keys (readable
 * without context since they are stored whole) and then scans forward at
 * most restart_interval entries, rebuilding each key from its
 * predecessor.  Small intervals make seeks cheaper and blocks bigger.
 */
#include "block.h"

#include <stdlib.h>

#include "error.h"

/* Entries past this would make a restart offset overflow fixed32. */
#define BLOCK_MAX_BYTES ((size_t)UINT32_MAX - 64)

/* A builder that held a block bigger than this gives the memory back on
 * reset instead of keeping it for the next block. */
#define BLOCK_KEEP_BYTES ((size_t)1 << 20)

void lsm_block_builder_init(lsm_block_builder *b, int restart_interval)
{
    memset(b, 0, sizeof *b);
    b->restart_interval = restart_interval > 0 ? restart_interval : 16;
}

static size_t shared_prefix(lsm_slice a, lsm_slice b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    size_t i = 0;
    while (i < n && a.data[i] == b.data[i])
        i++;
    return i;
}

static int push_restart(lsm_block_builder *b, uint32_t off)
{
    if (b->nrestarts == b->cap_restarts) {
        size_t cap = b->cap_restarts ? b->cap_restarts * 2 : 16;
        uint32_t *r = realloc(b->restarts, cap * sizeof *r);
        if (!r)
            return lsm_fail(LSM_NO_MEMORY, "block builder: out of memory");
        b->restarts = r;
        b->cap_restarts = cap;
    }
    b->restarts[b->nrestarts++] = off;
    return LSM_OK;
}

int lsm_block_builder_add(lsm_block_builder *b, lsm_slice key, lsm_slice value)
{
    /* Worst case growth: three 5-byte varints, the key, the value and one
     * more restart offset; all must keep offsets within fixed32. */
    if (key.len > UINT32_MAX || value.len > UINT32_MAX ||
        b->buf.len + 15 + key.len + value.len + 4 * (b->nrestarts + 2) >
            BLOCK_MAX_BYTES)
        return lsm_fail(LSM_INVALID, "block builder: block would exceed 4 GiB");

    size_t shared = 0;
    int rc;
    if (b->counter == 0 || b->counter >= b->restart_interval) {
        if ((rc = push_restart(b, (uint32_t)b->buf.len)))
            return rc;
        b->counter = 0;
    } else {
        shared = shared_prefix(lsm_buf_slice(&b->last_key), key);
    }
    size_t unshared = key.len - shared;

    char hdr[15];
    char *p = lsm_encode_varint32(hdr, (uint32_t)shared);
    p = lsm_encode_varint32(p, (uint32_t)unshared);
    p = lsm_encode_varint32(p, (uint32_t)value.len);
    if ((rc = lsm_buf_reserve(&b->buf, (size_t)(p - hdr) + unshared + value.len)))
        return lsm_fail(rc, "block builder: out of memory");
    lsm_buf_append(&b->buf, hdr, (size_t)(p - hdr));
    lsm_buf_append(&b->buf, key.data + shared, unshared);
    lsm_buf_append(&b->buf, value.data, value.len);

    b->last_key.len = shared;
    if ((rc = lsm_buf_append(&b->last_key, key.data + shared, unshared)))
        return lsm_fail(rc, "block builder: out of memory");
    b->counter++;
    b->entries++;
    return LSM_OK;
}

size_t lsm_block_builder_estimate(const lsm_block_builder *b)
{
    return b->buf.len + 4 * b->nrestarts + 4;
}

int lsm_block_builder_empty(const lsm_block_builder *b)
{
    return b->entries == 0;
}

int lsm_block_builder_finish(lsm_block_builder *b, lsm_slice *out)
{
    int rc = lsm_buf_reserve(&b->buf, 4 * b->nrestarts + 4);
    if (rc)
        return lsm_fail(rc, "block builder: out of memory");
    for (size_t i = 0; i < b->nrestarts; i++)
        lsm_buf_put_fixed32(&b->buf, b->restarts[i]);
    lsm_buf_put_fixed32(&b->buf, (uint32_t)b->nrestarts);
    *out = lsm_buf_slice(&b->buf);
    return LSM_OK;
}

void lsm_block_builder_reset(lsm_block_builder *b)
{
    if (b->buf.cap > BLOCK_KEEP_BYTES)
        lsm_buf_free(&b->buf);
    if (b->last_key.cap > BLOCK_KEEP_BYTES)
        lsm_buf_free(&b->last_key);
    lsm_buf_clear(&b->buf);
    lsm_buf_clear(&b->last_key);
    b->nrestarts = 0;
    b->counter = 0;
    b->entries = 0;
}

void lsm_block_builder_free(lsm_block_builder *b)
{
    lsm_buf_free(&b->buf);
    lsm_buf_free(&b->last_key);
    free(b->restarts);
    b->restarts = NULL;
    b->nrestarts = b->cap_restarts = 0;
}
