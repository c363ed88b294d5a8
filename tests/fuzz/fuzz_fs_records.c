/*
 * fuzz_fs_records.c — libFuzzer target: the filesystem's record decoders
 * (fs/layout.h): inode, orphan, data-block, directory-entry and xattr
 * keys; directory-entry, superblock and inode values.
 *
 * Every decoder is run on the whole input.  Besides memory safety, each
 * accepted record must be canonical: encoding what was decoded gives
 * back exactly the input bytes (so no two byte strings decode to the
 * same record, and nothing the decoder accepted is silently dropped),
 * and every returned pointer lies inside the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"

#include "fuzz_check.h"

static int same(const char *a, size_t alen, const void *b, size_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

static int points_into(const char *p, size_t len, const void *base, size_t n)
{
    const char *b = base;
    return p >= b && len <= n && (size_t)(p - b) <= n - len;
}

static void keys(const uint8_t *p, size_t n)
{
    char buf[FS_KEY_MAX];
    uint64_t a, b;
    const char *name;
    size_t len;

    if (fs_decode_inode_key(p, n, &a) == 0)
        CHECK(same(buf, fs_key_inode(buf, a), p, n));
    if (fs_decode_orphan_key(p, n, &a) == 0)
        CHECK(same(buf, fs_key_orphan(buf, a), p, n));
    if (fs_decode_block_key(p, n, &a, &b) == 0)
        CHECK(same(buf, fs_key_block(buf, a, b), p, n));
    if (fs_decode_dirent_key(p, n, &a, &b, &name, &len) == 0) {
        CHECK(len >= 1 && len <= 255 && points_into(name, len, p, n));
        CHECK(memchr(name, '/', len) == NULL && memchr(name, 0, len) == NULL);
        CHECK(b == fs_name_hash(name, len));
        CHECK(b < (UINT64_C(1) << FS_HASH_BITS));
        CHECK(same(buf, fs_key_dirent(buf, a, name, len), p, n));
    }
    if (fs_decode_xattr_key(p, n, &a, &name, &len) == 0) {
        CHECK(len >= 1 && len <= FS_XATTR_NAME_MAX &&
              points_into(name, len, p, n));
        CHECK(same(buf, fs_key_xattr(buf, a, name, len), p, n));
    }
}

static void values(const uint8_t *p, size_t n)
{
    uint64_t ino;
    uint8_t type;
    if (fs_decode_dirent_value(p, n, &ino, &type) == 0) {
        char buf[FS_DIRENT_VALUE_BYTES];
        CHECK(ino != 0 && type != 0);
        fs_encode_dirent_value(buf, ino, type);
        CHECK(same(buf, sizeof buf, p, n));
    }

    fs_super s;
    memset(&s, 0, sizeof s);
    int rc = fs_decode_super(p, n, &s);
    CHECK(rc == 0 || rc == -1 || rc == -2);
    if (rc == 0) {
        char buf[FS_SUPER_BYTES];
        CHECK(s.version == FS_FORMAT_VERSION || (s.version == 1 && s.resv_bytes == 0));
        CHECK(s.inline_max <= s.block_bytes && s.next_ino >= 2);
        if (s.version == FS_FORMAT_VERSION) {   /* version 1 is read only */
            fs_encode_super(buf, &s);
            CHECK(same(buf, sizeof buf, p, n));
        }
    } else if (rc == -2) {
        CHECK(s.version != FS_FORMAT_VERSION && s.version != 1);
    }

    fs_inode in;
    const char *data = NULL;
    size_t dlen = 0;
    if (fs_decode_inode(p, n, &in, &data, &dlen) == 0) {
        CHECK(n == fs_inode_bytes(&in, dlen));
        CHECK(in.resv <= in.resv_hi - in.resv_lo);
        CHECK(dlen == 0 ? data == NULL : points_into(data, dlen, p, n));
        CHECK(fs_mode_dtype(in.mode) != 0);
        char *buf = malloc(n);
        if (buf) {
            fs_encode_inode(buf, &in, data, dlen);
            CHECK(same(buf, n, p, n));
            free(buf);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    keys(data, size);
    values(data, size);
    if (size >= 4) {
        uint32_t mode = (uint32_t)data[0] | (uint32_t)data[1] << 8 |
                        (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
        (void)fs_mode_dtype(mode);
    }
    return 0;
}
