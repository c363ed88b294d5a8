/*
 * coding.c — slices, buffers, varints and checksums (see coding.h).
 */
#include "coding.h"

#include <stdlib.h>
#include <xxhash.h>

#include "error.h"
#include "lsm.h"

int lsm_slice_cmp(lsm_slice a, lsm_slice b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int r = n ? memcmp(a.data, b.data, n) : 0;
    if (r)
        return r;
    return (a.len > b.len) - (a.len < b.len);
}

int lsm_array_grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return LSM_OK;
    size_t ncap = *cap ? *cap * 2 : 8;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    *arr = p;
    *cap = ncap;
    return LSM_OK;
}

int lsm_buf_reserve(lsm_buf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return LSM_OK;
    size_t want = b->len + extra;
    if (want < b->len)
        return LSM_NO_MEMORY;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < want)
        cap = cap * 2 > cap ? cap * 2 : want;
    char *p = realloc(b->data, cap);
    if (!p)
        return LSM_NO_MEMORY;
    b->data = p;
    b->cap = cap;
    return LSM_OK;
}

int lsm_buf_append(lsm_buf *b, const void *p, size_t n)
{
    if (lsm_buf_reserve(b, n))
        return LSM_NO_MEMORY;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return LSM_OK;
}

int lsm_buf_put_fixed32(lsm_buf *b, uint32_t v)
{
    char tmp[4];
    lsm_encode_fixed32(tmp, v);
    return lsm_buf_append(b, tmp, 4);
}

int lsm_buf_put_fixed64(lsm_buf *b, uint64_t v)
{
    char tmp[8];
    lsm_encode_fixed64(tmp, v);
    return lsm_buf_append(b, tmp, 8);
}

int lsm_buf_put_varint32(lsm_buf *b, uint32_t v)
{
    return lsm_buf_put_varint64(b, v);
}

int lsm_buf_put_varint64(lsm_buf *b, uint64_t v)
{
    char tmp[10];
    char *end = lsm_encode_varint64(tmp, v);
    return lsm_buf_append(b, tmp, (size_t)(end - tmp));
}

int lsm_buf_put_lenprefixed(lsm_buf *b, const void *p, size_t n)
{
    int rc = lsm_buf_put_varint64(b, n);
    return rc ? rc : lsm_buf_append(b, p, n);
}

void lsm_buf_clear(lsm_buf *b)
{
    b->len = 0;
}

void lsm_buf_free(lsm_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *lsm_encode_varint32(char *p, uint32_t v)
{
    return lsm_encode_varint64(p, v);
}

char *lsm_encode_varint64(char *p, uint64_t v)
{
    unsigned char *u = (unsigned char *)p;
    while (v >= 0x80) {
        *u++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *u++ = (unsigned char)v;
    return (char *)u;
}

int lsm_varint_length(uint64_t v)
{
    int n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

const char *lsm_decode_varint64(const char *p, const char *limit, uint64_t *v)
{
    uint64_t result = 0;
    for (unsigned shift = 0; shift <= 63 && p < limit; shift += 7) {
        uint64_t byte = *(const unsigned char *)p++;
        if (shift == 63 && byte > 1)
            return NULL; /* would overflow 64 bits */
        result |= (byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *v = result;
            return p;
        }
    }
    return NULL;
}

const char *lsm_decode_varint32(const char *p, const char *limit, uint32_t *v)
{
    uint64_t wide;
    const char *q = lsm_decode_varint64(p, limit, &wide);
    if (!q || wide > UINT32_MAX)
        return NULL;
    *v = (uint32_t)wide;
    return q;
}

int lsm_get_varint64(lsm_slice *in, uint64_t *v)
{
    const char *q = lsm_decode_varint64(in->data, in->data + in->len, v);
    if (!q)
        return 0;
    in->len -= (size_t)(q - in->data);
    in->data = q;
    return 1;
}

int lsm_get_varint32(lsm_slice *in, uint32_t *v)
{
    uint64_t wide;
    lsm_slice s = *in;
    if (!lsm_get_varint64(&s, &wide) || wide > UINT32_MAX)
        return 0;
    *v = (uint32_t)wide;
    *in = s;
    return 1;
}

int lsm_get_lenprefixed(lsm_slice *in, lsm_slice *out)
{
    uint64_t n;
    lsm_slice s = *in;
    if (!lsm_get_varint64(&s, &n) || n > s.len)
        return 0;
    *out = lsm_slice_make(s.data, (size_t)n);
    in->data = s.data + n;
    in->len = s.len - (size_t)n;
    return 1;
}

int lsm_get_fixed32(lsm_slice *in, uint32_t *v)
{
    if (in->len < 4)
        return 0;
    *v = lsm_decode_fixed32(in->data);
    in->data += 4;
    in->len -= 4;
    return 1;
}

int lsm_get_fixed64(lsm_slice *in, uint64_t *v)
{
    if (in->len < 8)
        return 0;
    *v = lsm_decode_fixed64(in->data);
    in->data += 8;
    in->len -= 8;
    return 1;
}

uint32_t lsm_checksum(const void *p, size_t n)
{
    return (uint32_t)XXH3_64bits(p, n);
}

uint32_t lsm_checksum_typed(uint8_t type, const void *p, size_t n)
{
    return (uint32_t)XXH3_64bits_withSeed(p, n, (uint64_t)type + 1);
}

uint32_t lsm_checksum_log(uint8_t type, uint64_t id, const void *p, size_t n)
{
    return (uint32_t)XXH3_64bits_withSeed(p, n, (id ^ type) + 1);
}
