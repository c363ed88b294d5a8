/*
 * test_fs_falloc.c — fallocate reserves space: ENOSPC beyond the free
 * space, the reserved bytes in st_blocks and in statfs, kept across a
 * reopen, given back as writes fill them, on truncate, punch and unlink;
 * the record and superblock formats that carry them (version 1 stores
 * still read).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <unistd.h>

#include "coding.h"
#include "fs_fixture.h"
#include "layout.h"
#include "fs_records.h"

#define MiB (1ull << 20)

/* Bytes statfs counts as ours (f_blocks - f_bfree): unlike the free
 * space, only this store changes it. */
static uint64_t used_bytes(T *t)
{
    struct statvfs sv;
    assert_int_equal(fs_statfs(t->fs, &sv), 0);
    return (uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
}

static uint64_t blocks_bytes(T *t, uint64_t ino)
{
    return (uint64_t)attr(t, ino).st_blocks * 512;
}

static void test_too_big_is_enospc(void **state)
{
    T *t = *state;
    uint64_t f = mkfile(t, FS_ROOT_INO, "f");
    struct statvfs sv;
    assert_int_equal(fs_statfs(t->fs, &sv), 0);
    uint64_t free_bytes = (uint64_t)sv.f_bavail * sv.f_frsize;
    off_t huge = (off_t)(free_bytes + (1ull << 40));   /* 1 TiB past it */
    assert_int_equal(fs_fallocate(t->fs, f, 0, 0, huge), -ENOSPC);
    assert_int_equal(fs_fallocate(t->fs, f, FALLOC_FL_KEEP_SIZE, 0, huge), -ENOSPC);
    struct stat st = attr(t, f);
    assert_int_equal(st.st_size, 0);
    assert_int_equal(st.st_blocks, 0);
    /* 10 TiB: what the report tried on an 80 GB disk. */
    assert_int_equal(fs_fallocate(t->fs, f, 0, 0, (off_t)10 << 40),
                     free_bytes < (10ull << 40) ? -ENOSPC : 0);
}

static void test_reserved_counts_and_persists(void **state)
{
    T *t = *state;
    uint64_t f = mkfile(t, FS_ROOT_INO, "f");
    uint64_t used0 = used_bytes(t);
    assert_int_equal(fs_fallocate(t->fs, f, 0, 0, (off_t)(20 * MiB)), 0);
    assert_int_equal(attr(t, f).st_size, 20 * MiB);
    assert_int_equal(blocks_bytes(t, f), 20 * MiB);
    uint64_t used1 = used_bytes(t);
    assert_true(used1 >= used0 + 20 * MiB && used1 <= used0 + 21 * MiB);
    /* Allocating it again, or a part, reserves nothing more. */
    assert_int_equal(fs_fallocate(t->fs, f, 0, (off_t)MiB, (off_t)MiB), 0);
    assert_int_equal(blocks_bytes(t, f), 20 * MiB);
    /* Writing into it fills the reservation: st_blocks stays. */
    char *buf = malloc(4 * MiB);
    assert_non_null(buf);
    memset(buf, 'x', 4 * MiB);
    assert_int_equal(fs_write(t->fs, f, buf, 4 * MiB, 0, 0), (ssize_t)(4 * MiB));
    assert_int_equal(blocks_bytes(t, f), 20 * MiB);
    /* A write past the reserved range adds to it. */
    assert_int_equal(fs_write(t->fs, f, buf, MiB, (off_t)(20 * MiB), 0), (ssize_t)MiB);
    assert_int_equal(blocks_bytes(t, f), 21 * MiB);
    free(buf);
    /* Kept across a clean reopen (superblock) ... */
    reopen(t);
    assert_int_equal(blocks_bytes(t, f), 21 * MiB);
    assert_true(used_bytes(t) >= used0 + 16 * MiB);
    /* ... and a truncation gives back what lies past the new size: 8 MiB
     * left of which 4 MiB written. */
    struct stat a, st;
    memset(&a, 0, sizeof a);
    a.st_size = (off_t)(8 * MiB);
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_SIZE, &st), 0);
    assert_int_equal((uint64_t)st.st_blocks * 512, 8 * MiB);
    /* Punching gives back the reservation of the hole. */
    assert_int_equal(fs_fallocate(t->fs, f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                  0, (off_t)(8 * MiB)), 0);
    assert_int_equal(attr(t, f).st_blocks, 0);
    uint64_t used2 = used_bytes(t);
    /* Unlink gives back the rest. */
    assert_int_equal(fs_fallocate(t->fs, f, 0, 0, (off_t)(8 * MiB)), 0);
    assert_true(used_bytes(t) >= used2 + 8 * MiB);
    assert_int_equal(fs_unlink(t->fs, FS_ROOT_INO, "f"), 0);
    assert_true(used_bytes(t) < used2 + MiB);
}

static void test_keep_size(void **state)
{
    T *t = *state;
    uint64_t f = mkfile(t, FS_ROOT_INO, "f");
    assert_int_equal(fs_write(t->fs, f, "abc", 3, 0, 0), 3);
    assert_int_equal(fs_fallocate(t->fs, f, FALLOC_FL_KEEP_SIZE, 0, (off_t)(2 * MiB)), 0);
    struct stat st = attr(t, f);
    assert_int_equal(st.st_size, 3);
    /* The 3 stored bytes were not reserved again. */
    assert_int_equal((uint64_t)st.st_blocks * 512, 2 * MiB);
    reopen(t);
    assert_int_equal(blocks_bytes(t, f), 2 * MiB);
    char buf[3];
    assert_int_equal(fs_read(t->fs, f, buf, 3, 0), 3);
    assert_memory_equal(buf, "abc", 3);
    /* Truncating drops what lies past the new end (one inline byte left). */
    struct stat a;
    memset(&a, 0, sizeof a);
    a.st_size = 1;
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_SIZE, &st), 0);
    assert_int_equal(st.st_blocks, 1);
}

/* Makes "f" with 6 MiB reserved: its inode number, or 0. */
static uint64_t reserved_file(fs_t *fs, const fs_cred *c)
{
    struct stat st;
    if (fs_mknod(fs, c, FS_ROOT_INO, "f", S_IFREG | 0644, 0, &st) == 0 &&
        fs_fallocate(fs, st.st_ino, FALLOC_FL_KEEP_SIZE, 0, (off_t)(6 * MiB)) == 0)
        return st.st_ino;
    return 0;
}

/* Survives a crash: the open that finds no clean mark sums the records.
 * A child process reserves and exits without closing the store. */
static void test_unclean_open_sums_records(void **state)
{
    T *t = *state;
    uint64_t ino = crash_after(t, reserved_file);
    assert_int_equal(fs_open(t->store, &t->o, &t->fs), 0);
    assert_int_equal(blocks_bytes(t, ino), 6 * MiB);
    uint64_t used = used_bytes(t);
    assert_true(used >= 6 * MiB);
    /* The sum reached the engine: unlinking gives it back. */
    assert_int_equal(fs_unlink(t->fs, FS_ROOT_INO, "f"), 0);
    assert_true(used_bytes(t) + 5 * MiB < used);
}

static void test_formats(void **state)
{
    (void)state;
    /* An inode with a reservation round-trips, with and without data. */
    fs_inode out, in = inline_file(1, 5);
    in.resv = 100;
    in.resv_lo = 0;
    in.resv_hi = 4096;
    char buf[FS_INODE_HEADER + FS_INODE_RESV_BYTES + 5];
    assert_int_equal(fs_inode_bytes(&in, 5), sizeof buf);
    fs_encode_inode(buf, &in, "hello", 5);
    const char *data;
    size_t dlen;
    assert_int_equal(fs_decode_inode(buf, sizeof buf, &out, &data, &dlen), 0);
    assert_int_equal(out.flags, FS_INODE_INLINE);
    assert_int_equal(out.resv, 100);
    assert_int_equal(out.resv_hi, 4096);
    assert_int_equal(dlen, 5);
    assert_memory_equal(data, "hello", 5);
    /* More reserved than the range holds: refused. */
    in.resv = 5000;
    fs_encode_inode(buf, &in, "hello", 5);
    assert_int_equal(fs_decode_inode(buf, sizeof buf, &out, &data, &dlen), -1);
    /* No reservation: the old 90-byte header. */
    in.resv = 0;
    in.resv_hi = 0;
    assert_int_equal(fs_inode_bytes(&in, 5), FS_INODE_HEADER + 5);

    /* A version-1 superblock (44 bytes) still reads, as no reservation. */
    char v1[FS_SUPER_BYTES_V1];
    memcpy(v1, FS_SUPER_MAGIC, 8);
    lsm_encode_fixed32(v1 + 8, 1);
    lsm_encode_fixed32(v1 + 12, 65536);
    lsm_encode_fixed32(v1 + 16, 4096);
    lsm_encode_fixed32(v1 + 20, FS_SUPER_CLEAN);
    lsm_encode_fixed64(v1 + 24, 4242);
    lsm_encode_fixed64(v1 + 32, 17);
    lsm_encode_fixed32(v1 + 40, lsm_checksum(v1, 40));
    fs_super s;
    assert_int_equal(fs_decode_super(v1, sizeof v1, &s), 0);
    assert_int_equal(s.version, 1);
    assert_int_equal(s.inode_count, 17);
    assert_int_equal(s.resv_bytes, 0);
    /* Version 2 carries the sum. */
    s.version = FS_FORMAT_VERSION;
    s.resv_bytes = 12345;
    char v2[FS_SUPER_BYTES];
    fs_encode_super(v2, &s);
    fs_super s2;
    assert_int_equal(fs_decode_super(v2, sizeof v2, &s2), 0);
    assert_int_equal(s2.resv_bytes, 12345);
    assert_int_equal(fs_decode_super(v2, FS_SUPER_BYTES_V1, &s2), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_too_big_is_enospc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reserved_counts_and_persists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keep_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unclean_open_sums_records, setup, teardown),
        cmocka_unit_test(test_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
