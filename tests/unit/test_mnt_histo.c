/*
 * test_mnt_histo.c — mount/histo.c, the per-opcode latency histograms of
 * `lsmfs stats`: bucket bounds and quantiles, requests counted by opcode
 * from the request header (and not counted when the header cannot be
 * read or the opcode is out of range), exact counts under concurrent
 * recording, and the opcode names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <linux/fuse.h>
#include <pthread.h>
#include <string.h>

#include "histo.h"
#define FUSE_USE_VERSION 35
#include <fuse_lowlevel.h>

static void test_quantiles(void **state)
{
    (void)state;
    struct mnt_histo_op h;
    mnt_histo_get(FUSE_GETATTR, &h);
    assert_int_equal(h.count, 0);
    assert_int_equal(mnt_histo_quantile(&h, 0.5), 0);
    for (int i = 0; i < 98; i++)
        mnt_histo_record(FUSE_GETATTR, 1000);      /* [512, 1024) */
    mnt_histo_record(FUSE_GETATTR, 1000000);       /* [2^19, 2^20) */
    mnt_histo_record(FUSE_GETATTR, 1000000);
    mnt_histo_get(FUSE_GETATTR, &h);
    assert_int_equal(h.count, 100);
    assert_int_equal(h.buckets[9], 98);
    assert_int_equal(h.buckets[19], 2);
    assert_int_equal(mnt_histo_quantile(&h, 0.5), 1023);
    assert_int_equal(mnt_histo_quantile(&h, 0.98), 1023);
    assert_int_equal(mnt_histo_quantile(&h, 0.99), (1u << 20) - 1);
    assert_int_equal(mnt_histo_quantile(&h, 1.0), (1u << 20) - 1);
    mnt_histo_record(FUSE_STATFS, 0);              /* bucket 0 */
    mnt_histo_get(FUSE_STATFS, &h);
    assert_int_equal(h.buckets[0], 1);
    mnt_histo_record(MNT_HISTO_OPS, 5);            /* ignored */
    mnt_histo_record(4096, 5);
}

static void test_marks(void **state)
{
    (void)state;
    struct fuse_in_header in;
    memset(&in, 0, sizeof in);
    in.opcode = FUSE_LOOKUP;
    in.len = sizeof in;
    struct fuse_buf buf;
    memset(&buf, 0, sizeof buf);
    buf.mem = &in;
    buf.size = sizeof in;
    struct mnt_histo_op h0, h;
    mnt_histo_get(FUSE_LOOKUP, &h0);
    struct mnt_histo_mark m = mnt_histo_begin(&buf);
    mnt_histo_end(&m);
    mnt_histo_get(FUSE_LOOKUP, &h);
    assert_int_equal(h.count, h0.count + 1);

    buf.flags = FUSE_BUF_IS_FD;                    /* header not in memory */
    m = mnt_histo_begin(&buf);
    mnt_histo_end(&m);
    buf.flags = 0;
    buf.size = 4;                                  /* short */
    m = mnt_histo_begin(&buf);
    mnt_histo_end(&m);
    mnt_histo_get(FUSE_LOOKUP, &h);
    assert_int_equal(h.count, h0.count + 1);
}

#define THREADS 4
#define PER_THREAD 20000

static void *recorder(void *arg)
{
    (void)arg;
    for (int i = 0; i < PER_THREAD; i++)
        mnt_histo_record(FUSE_READ, (uint64_t)i);
    return NULL;
}

static void test_concurrent(void **state)
{
    (void)state;
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, recorder, NULL), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    struct mnt_histo_op h;
    mnt_histo_get(FUSE_READ, &h);
    assert_int_equal(h.count, THREADS * PER_THREAD);
    assert_int_equal(h.buckets[0], 2 * THREADS);  /* ns 0 and 1 */
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(mnt_histo_op_name(FUSE_LOOKUP), "LOOKUP");
    assert_string_equal(mnt_histo_op_name(FUSE_WRITE), "WRITE");
    assert_string_equal(mnt_histo_op_name(FUSE_TMPFILE), "TMPFILE");
    assert_null(mnt_histo_op_name(7));              /* unused number */
    assert_null(mnt_histo_op_name(MNT_HISTO_OPS));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantiles),
        cmocka_unit_test(test_marks),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
