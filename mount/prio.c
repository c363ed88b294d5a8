/*
 * prio.c — CPU priorities of the daemon's threads (see prio.h).
 */
#include "prio.h"
#include "mnt.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <syslog.h>
#include <unistd.h>

/* sched_setattr(2)'s argument, its first version (SCHED_ATTR_SIZE_VER0,
 * 48 bytes): the kernel's ABI.  Declared here since glibc before 2.41 has
 * no wrapper and <linux/sched/types.h> clashes with <sched.h>. */
struct mnt_sched_attr {
    uint32_t size, sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime, sched_deadline, sched_period;
};

int mnt_prio_lower(int n)
{
    id_t tid = (id_t)syscall(SYS_gettid);   /* PRIO_PROCESS + tid: one thread */
    errno = 0;
    int cur = getpriority(PRIO_PROCESS, tid);
    if (cur == -1 && errno != 0)
        return -errno;
    int want = cur + n > 19 ? 19 : cur + n;
    return setpriority(PRIO_PROCESS, tid, want) == 0 ? 0 : -errno;
}

int mnt_prio_slice(uint64_t ns)
{
    int policy = sched_getscheduler(0);
    if (policy < 0)
        return -errno;
    if (policy != SCHED_OTHER)
        return -ENOTSUP;             /* an admin's choice: kept */
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
    if (nice == -1 && errno != 0)
        return -errno;
    struct mnt_sched_attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.sched_policy = SCHED_OTHER;
    a.sched_nice = nice;             /* SCHED_OTHER's parameters: all set */
    a.sched_runtime = ns;
    return syscall(SYS_sched_setattr, 0, &a, 0) == 0 ? 0 : -errno;
}

void mnt_prio_note(int err, const char *what)
{
    static atomic_int logged;
    if (err < 0 && atomic_exchange(&logged, 1) == 0)
        mnt_log(LOG_INFO, "thread priorities: %s not set (%s); requests are "
                "served as without it", what, strerror(-err));
}
