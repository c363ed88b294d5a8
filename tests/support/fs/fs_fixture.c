/*
 * fs_fixture.c — the shared fs test fixture (see fs_fixture.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sys/wait.h>
#include <unistd.h>

#include "fs_fixture.h"
#include "testutil.h"

int setup_with(void **state, void (*tune)(fs_options *))
{
    T *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->tmp = tu_tempdir("fs");
    assert_non_null(t->tmp);
    assert_true(asprintf(&t->store, "%s/store", t->tmp) > 0);
    fs_options_init(&t->o);
    t->o.create = 1;
    t->o.lsm.memtable_bytes = 1u << 20;
    t->o.lsm.cache_bytes = 1u << 20;
    if (tune)
        tune(&t->o);
    assert_int_equal(fs_open(t->store, &t->o, &t->fs), 0);
    t->c.uid = getuid();
    t->c.gid = getgid();
    t->c.umask = 0;
    *state = t;
    return 0;
}

int setup(void **state)
{
    return setup_with(state, NULL);
}

int teardown(void **state)
{
    T *t = *state;
    if (t->fs)
        assert_int_equal(fs_close(t->fs), 0);
    tu_rmtree(t->tmp);
    free(t->store);
    free(t->tmp);
    free(t);
    return 0;
}

void reopen(T *t)
{
    assert_int_equal(fs_close(t->fs), 0);
    t->fs = NULL;
    assert_int_equal(fs_open(t->store, &t->o, &t->fs), 0);
}

uint64_t mkfile(T *t, uint64_t parent, const char *name)
{
    struct stat st;
    assert_int_equal(fs_mknod(t->fs, &t->c, parent, name, S_IFREG | 0644, 0, &st), 0);
    return st.st_ino;
}

uint64_t mkdir_(T *t, uint64_t parent, const char *name)
{
    struct stat st;
    assert_int_equal(fs_mkdir(t->fs, &t->c, parent, name, 0755, &st), 0);
    return st.st_ino;
}

struct stat attr(T *t, uint64_t ino)
{
    struct stat st;
    assert_int_equal(fs_getattr(t->fs, ino, &st), 0);
    return st;
}

/* Sets atime/mtime of ino to 1000 s so later changes are visible. */
void age(T *t, uint64_t ino)
{
    struct stat a;
    memset(&a, 0, sizeof a);
    a.st_atim.tv_sec = a.st_mtim.tv_sec = 1000;
    a.st_ctim.tv_sec = 1000;
    assert_int_equal(fs_setattr(t->fs, &t->c, ino, &a,
                                FS_SET_ATIME | FS_SET_MTIME | FS_SET_CTIME, NULL), 0);
}

uint64_t crash_after(T *t, uint64_t (*work)(fs_t *fs, const fs_cred *c))
{
    assert_int_equal(fs_close(t->fs), 0);
    t->fs = NULL;
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        fs_options o = t->o;
        o.sync = 1;
        fs_t *fs;
        uint64_t ino = 0;
        if (fs_open(t->store, &o, &fs) == 0)
            ino = work(fs, &t->c);
        if (write(pipefd[1], &ino, sizeof ino) != sizeof ino)
            _exit(2);
        _exit(0);                               /* no release, no close */
    }
    close(pipefd[1]);
    uint64_t ino = 0;
    assert_int_equal(read(pipefd[0], &ino, sizeof ino), (ssize_t)sizeof ino);
    close(pipefd[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(ino != 0);
    return ino;
}
