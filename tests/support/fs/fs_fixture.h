/*
 * fs_fixture.h — the fixture every tests/unit/test_fs_*.c shares: a fresh
 * store in a temp dir, opened with small engine buffers, plus helpers.
 */
#ifndef FS_FIXTURE_H
#define FS_FIXTURE_H

#include <stdint.h>
#include <sys/stat.h>

#include "fs.h"

typedef struct T {
    char *tmp, *store;
    fs_options o;
    fs_t *fs;
    fs_cred c;
} T;


/* cmocka setup/teardown: *state becomes a T with an open fs. */
int setup(void **state);
/* Same, with tune(&options) applied before the store is opened. */
int setup_with(void **state, void (*tune)(fs_options *));
int teardown(void **state);
/* Closes and reopens the store. */
void reopen(T *t);
uint64_t mkfile(T *t, uint64_t parent, const char *name);
uint64_t mkdir_(T *t, uint64_t parent, const char *name);
struct stat attr(T *t, uint64_t ino);
/* Sets atime/mtime/ctime of ino to 1000 s so later changes are visible. */
void age(T *t, uint64_t ino);
/* Stages a crash: closes t->fs (left NULL), then in a child process opens
 * the store (sync on), runs work(fs, &t->c) and exits without closing.
 * Returns the inode number work returned; fails the test when it is 0. */
uint64_t crash_after(T *t, uint64_t (*work)(fs_t *fs, const fs_cred *c));

#endif
