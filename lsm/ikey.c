/*
 * ikey.c — internal key encoding and order (see ikey.h).
 */
#include "ikey.h"

#include "lsm.h"

int lsm_ikey_append(lsm_buf *b, lsm_slice user, uint64_t seq, int kind)
{
    int rc = lsm_buf_append(b, user.data, user.len);
    return rc ? rc : lsm_buf_put_fixed64(b, lsm_ikey_pack(seq, kind));
}

int lsm_ikey_parse(lsm_slice s, lsm_ikey *out)
{
    if (s.len < LSM_IKEY_TRAILER)
        return 0;
    uint64_t t = lsm_decode_fixed64(s.data + s.len - LSM_IKEY_TRAILER);
    int kind = (int)(t & 0xff);
    if (kind > LSM_KIND_BLOB)
        return 0;
    out->user = lsm_ikey_user(s);
    out->seq = t >> 8;
    out->kind = kind;
    return 1;
}

int lsm_ikey_cmp(lsm_slice a, lsm_slice b)
{
    if (a.len < LSM_IKEY_TRAILER || b.len < LSM_IKEY_TRAILER)
        return lsm_slice_cmp(a, b);
    int r = lsm_slice_cmp(lsm_ikey_user(a), lsm_ikey_user(b));
    if (r)
        return r;
    uint64_t ta = lsm_decode_fixed64(a.data + a.len - LSM_IKEY_TRAILER);
    uint64_t tb = lsm_decode_fixed64(b.data + b.len - LSM_IKEY_TRAILER);
    return (ta < tb) - (ta > tb); /* larger trailer (newer) first */
}
