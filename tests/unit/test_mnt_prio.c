/*
 * test_mnt_prio.c — mount/prio.c, the daemon threads' CPU priorities:
 * lowering changes the calling thread's nice value only; a short slice is
 * set without touching the nice value, and refused (the policy kept) for
 * a thread an admin put under another policy; a failure is logged once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "prio.h"

static int logged;

/* mnt_log of main.c, which this test does not link. */
void mnt_log(int level, const char *fmt, ...)
{
    (void)level;
    (void)fmt;
    logged++;
}

static int nice_of(pid_t tid)
{
    errno = 0;
    int v = getpriority(PRIO_PROCESS, (id_t)tid);
    assert_int_equal(errno, 0);
    return v;
}

/* se.slice of the calling thread in ns, from /proc; 0 if the kernel does
 * not show it (before EEVDF). */
static unsigned long long my_slice(void)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/task/%ld/sched", syscall(SYS_gettid));
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    unsigned long long v = 0;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "se.slice", 8) == 0)
            sscanf(strchr(line, ':') + 1, "%llu", &v);
    fclose(f);
    return v;
}

/* Is the running kernel at least major.minor?  sched_setattr() sets a
 * fair task's slice from sched_runtime only from Linux 6.12; 6.6-6.11
 * show se.slice but ignore the field and still return 0. */
static int kernel_at_least(int major, int minor)
{
    struct utsname u;
    int ma = 0, mi = 0;
    assert_int_equal(uname(&u), 0);
    assert_true(sscanf(u.release, "%d.%d", &ma, &mi) == 2);
    return ma > major || (ma == major && mi >= minor);
}

static void *lower_and_slice(void *arg)
{
    pid_t main_tid = *(pid_t *)arg;
    pid_t me = (pid_t)syscall(SYS_gettid);
    int main_before = nice_of(main_tid), before = nice_of(me);
    assert_int_equal(mnt_prio_lower(3), 0);
    int want = before + 3 > 19 ? 19 : before + 3;
    assert_int_equal(nice_of(me), want);
    assert_int_equal(nice_of(main_tid), main_before);   /* this thread only */
    int rc = mnt_prio_slice(MNT_READER_SLICE_NS);
    if (rc == 0 && my_slice() != 0 && kernel_at_least(6, 12))
        assert_int_equal(my_slice(), MNT_READER_SLICE_NS);
    assert_int_equal(nice_of(me), want);                /* kept */
    return NULL;
}

static void test_lower_and_slice(void **state)
{
    (void)state;
    pid_t main_tid = (pid_t)syscall(SYS_gettid);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, lower_and_slice, &main_tid), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
}

static void *batch_thread(void *arg)
{
    (void)arg;
    struct sched_param sp = { 0 };
    assert_int_equal(sched_setscheduler(0, SCHED_BATCH, &sp), 0);
    assert_int_equal(mnt_prio_slice(MNT_READER_SLICE_NS), -ENOTSUP);
    assert_int_equal(sched_getscheduler(0), SCHED_BATCH);
    return NULL;
}

static void test_other_policy_kept(void **state)
{
    (void)state;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, batch_thread, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
}

static void test_note_logs_once(void **state)
{
    (void)state;
    logged = 0;
    mnt_prio_note(0, "x");
    assert_int_equal(logged, 0);
    mnt_prio_note(-EPERM, "x");
    mnt_prio_note(-EINVAL, "y");
    mnt_prio_note(-EPERM, "x");
    assert_int_equal(logged, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lower_and_slice),
        cmocka_unit_test(test_other_policy_kept),
        cmocka_unit_test(test_note_logs_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
