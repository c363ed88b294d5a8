/*
 * coding.h — byte slices, a growable buffer, and the integer encodings
 * every on-disk format here uses: little-endian fixed 32/64-bit integers
 * and LEB128 varints (7 bits per byte, high bit = more follows).
 *
 * Decoders never read past `limit` and return NULL (or 0) on a truncated
 * or over-long input, so they are safe on damaged bytes.
 */
#ifndef LSM_CODING_H
#define LSM_CODING_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lsm.h"

typedef struct lsm_slice {
    const char *data;
    size_t len;
} lsm_slice;

static inline lsm_slice lsm_slice_make(const void *d, size_t n)
{
    lsm_slice s = { (const char *)d, n };
    return s;
}

/* memcmp order, shorter first on a common prefix. */
int lsm_slice_cmp(lsm_slice a, lsm_slice b);

/* A growable byte buffer.  Zero-initialised is empty and valid. */
typedef struct lsm_buf {
    char *data;
    size_t len, cap;
} lsm_buf;

int lsm_buf_reserve(lsm_buf *b, size_t extra);       /* LSM_OK / LSM_NO_MEMORY */

/* Makes room for one more element in the array *arr of n elements of
 * elem bytes and capacity *cap, doubling it (8 at first) when full:
 * amortised O(1) per element.  LSM_OK or LSM_NO_MEMORY (*arr kept). */
int lsm_array_grow(void **arr, size_t *cap, size_t n, size_t elem);
int lsm_buf_append(lsm_buf *b, const void *p, size_t n);
int lsm_buf_put_fixed32(lsm_buf *b, uint32_t v);
int lsm_buf_put_fixed64(lsm_buf *b, uint64_t v);
int lsm_buf_put_varint32(lsm_buf *b, uint32_t v);
int lsm_buf_put_varint64(lsm_buf *b, uint64_t v);
/* varint length followed by the bytes */
int lsm_buf_put_lenprefixed(lsm_buf *b, const void *p, size_t n);
void lsm_buf_clear(lsm_buf *b);                       /* len = 0, keeps memory */
void lsm_buf_free(lsm_buf *b);
static inline lsm_slice lsm_buf_slice(const lsm_buf *b)
{
    return lsm_slice_make(b->data, b->len);
}

/* lsm_encode_fixed32/64 and lsm_decode_fixed32/64 are public (lsm.h). */

/* Writes a varint at p (at most 5 / 10 bytes); returns the byte after it. */
char *lsm_encode_varint32(char *p, uint32_t v);
char *lsm_encode_varint64(char *p, uint64_t v);
int lsm_varint_length(uint64_t v);

/* Parse a varint in [p, limit); returns the byte after it or NULL. */
const char *lsm_decode_varint32(const char *p, const char *limit, uint32_t *v);
const char *lsm_decode_varint64(const char *p, const char *limit, uint64_t *v);

/* Consume a varint / length-prefixed slice from the front of *in.
 * Return 1 on success, 0 on truncated or malformed input. */
int lsm_get_varint32(lsm_slice *in, uint32_t *v);
int lsm_get_varint64(lsm_slice *in, uint64_t *v);
int lsm_get_lenprefixed(lsm_slice *in, lsm_slice *out);
int lsm_get_fixed32(lsm_slice *in, uint32_t *v);
int lsm_get_fixed64(lsm_slice *in, uint64_t *v);

/* Checksum of a one-byte type tag followed by the bytes (lsm_checksum,
 * of the bytes alone, is public: lsm.h). */
uint32_t lsm_checksum_typed(uint8_t type, const void *p, size_t n);
/* The checksum of a recyclable WAL fragment (wal.h): its type and its
 * log's id seed it. */
uint32_t lsm_checksum_log(uint8_t type, uint64_t id, const void *p, size_t n);

#endif
