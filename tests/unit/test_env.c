/*
 * test_env.c — the POSIX lsm_env (lsm/env_posix.c) and the helpers of
 * lsm/env.c, in a fresh temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "env.h"
#include "error.h"
#include "lsm.h"

typedef struct fixture {
    char dir[64];
    lsm_env *env;
} fixture;

static char *path_in(const fixture *fx, const char *name)
{
    static char buf[4][256];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, 256, "%s/%s", fx->dir, name);
    return p;
}

static void remove_tree(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    if (!fx)
        return -1;
    snprintf(fx->dir, sizeof fx->dir, "/tmp/lsm_test_env.XXXXXX");
    if (!mkdtemp(fx->dir)) {
        free(fx);
        return -1;
    }
    fx->env = lsm_env_posix();
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    remove_tree(fx->dir);
    free(fx);
    return 0;
}

static void write_plain(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static off_t disk_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static void test_write_read_roundtrip(void **state)
{
    fixture *fx = *state;
    lsm_env *e = fx->env;
    const char *p = path_in(fx, "a");
    lsm_file *f;
    assert_int_equal(e->open_write(e, p, &f), LSM_OK);
    assert_int_equal(lsm_file_append(f, "hello ", 6), LSM_OK);
    assert_int_equal(lsm_file_append(f, "", 0), LSM_OK);
    assert_int_equal(lsm_file_append(f, "world", 5), LSM_OK);
    uint64_t size;
    assert_int_equal(lsm_file_size(f, &size), LSM_OK);
    assert_int_equal(size, 11);
    /* Buffered: not yet on disk, but pread on the handle sees it. */
    assert_int_equal(disk_size(p), 0);
    char buf[32];
    size_t got;
    assert_int_equal(lsm_file_pread(f, 6, buf, sizeof buf, &got), LSM_OK);
    assert_int_equal(got, 5);
    assert_memory_equal(buf, "world", 5);
    assert_int_equal(disk_size(p), 11);
    assert_int_equal(lsm_file_append(f, "!", 1), LSM_OK);
    assert_int_equal(lsm_file_sync(f), LSM_OK);
    assert_int_equal(disk_size(p), 12);
    assert_int_equal(lsm_file_close(f), LSM_OK);

    assert_int_equal(e->open_read(e, p, &f), LSM_OK);
    assert_int_equal(lsm_file_size(f, &size), LSM_OK);
    assert_int_equal(size, 12);
    assert_int_equal(lsm_file_pread(f, 0, buf, 12, &got), LSM_OK);
    assert_int_equal(got, 12);
    assert_memory_equal(buf, "hello world!", 12);
    /* Past the end: zero bytes, not an error. */
    assert_int_equal(lsm_file_pread(f, 100, buf, 4, &got), LSM_OK);
    assert_int_equal(got, 0);
    /* Read-only handles refuse appends. */
    assert_int_equal(lsm_file_append(f, "x", 1), LSM_INVALID);
    assert_non_null(strstr(lsm_last_error(), p));
    assert_int_equal(lsm_file_close(f), LSM_OK);
}

static void test_close_flushes_and_open_write_truncates(void **state)
{
    fixture *fx = *state;
    lsm_env *e = fx->env;
    const char *p = path_in(fx, "t");
    write_plain(p, "old contents", 12);
    lsm_file *f;
    assert_int_equal(e->open_write(e, p, &f), LSM_OK);
    assert_int_equal(disk_size(p), 0);
    assert_int_equal(lsm_file_append(f, "new", 3), LSM_OK);
    assert_int_equal(lsm_file_close(f), LSM_OK);
    assert_int_equal(disk_size(p), 3);
}

static void test_large_and_mixed_appends(void **state)
{
    fixture *fx = *state;
    lsm_env *e = fx->env;
    const char *p = path_in(fx, "big");
    size_t total = 3u << 20;
    char *data = malloc(total);
    assert_non_null(data);
    for (size_t i = 0; i < total; i++)
        data[i] = (char)(i * 131 + (i >> 11));
    lsm_file *f;
    assert_int_equal(e->open_write(e, p, &f), LSM_OK);
    /* Sizes straddling the 64 KiB buffer: tiny, just under, exactly, over,
     * far over. */
    size_t sizes[] = { 1, 7, 65535, 65536, 65537, 3, 200000, 1 << 20, 5 };
    size_t off = 0;
    for (int round = 0; off < total; round++) {
        size_t n = sizes[round % 9];
        if (n > total - off)
            n = total - off;
        assert_int_equal(lsm_file_append(f, data + off, n), LSM_OK);
        off += n;
        uint64_t size;
        assert_int_equal(lsm_file_size(f, &size), LSM_OK);
        assert_int_equal(size, off);
    }
    /* pread across the flushed/buffered boundary. */
    char *back = malloc(total);
    assert_non_null(back);
    size_t got;
    assert_int_equal(lsm_file_pread(f, 0, back, total, &got), LSM_OK);
    assert_int_equal(got, total);
    assert_memory_equal(back, data, total);
    assert_int_equal(lsm_file_close(f), LSM_OK);
    assert_int_equal(disk_size(p), (off_t)total);

    /* Reopen for appending continues at the end. */
    assert_int_equal(e->open_append(e, p, &f), LSM_OK);
    uint64_t size;
    assert_int_equal(lsm_file_size(f, &size), LSM_OK);
    assert_int_equal(size, total);
    assert_int_equal(lsm_file_append(f, "tail", 4), LSM_OK);
    assert_int_equal(lsm_file_size(f, &size), LSM_OK);
    assert_int_equal(size, total + 4);
    assert_int_equal(lsm_file_pread(f, total, back, 10, &got), LSM_OK);
    assert_int_equal(got, 4);
    assert_memory_equal(back, "tail", 4);
    assert_int_equal(lsm_file_close(f), LSM_OK);
    assert_int_equal(disk_size(p), (off_t)total + 4);
    free(back);
    free(data);
}

/* appendv: pieces (more than IOV_MAX of them, empty ones among them)
 * land in order after bytes still buffered, all on disk once it returns
 * (no close: the file's size as stat sees it), and appends go on after
 * them. */
static void test_appendv(void **state)
{
    fixture *fx = *state;
    lsm_env *e = fx->env;
    const char *p = path_in(fx, "vec");
    enum { PIECES = 2500 };
    static char data[PIECES * 13];
    static struct iovec iov[PIECES];
    size_t total = 0;
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)(i * 7 + (i >> 5));
    for (size_t i = 0; i < PIECES; i++) {
        size_t n = i % 5 == 0 ? 0 : i % 13;
        iov[i] = (struct iovec){ data + total, n };
        total += n;
    }
    lsm_file *f;
    assert_non_null(e->open_write);
    assert_int_equal(e->open_write(e, p, &f), LSM_OK);
    assert_non_null(f->ops->appendv);
    assert_int_equal(lsm_file_append(f, "head", 4), LSM_OK);   /* buffered */
    assert_int_equal(lsm_file_appendv(f, iov, PIECES), LSM_OK);
    assert_int_equal(disk_size(p), (off_t)(4 + total));
    assert_int_equal(lsm_file_append(f, "tail", 4), LSM_OK);
    uint64_t size;
    assert_int_equal(lsm_file_size(f, &size), LSM_OK);
    assert_int_equal(size, 8 + total);
    char *back = malloc(8 + total);
    assert_non_null(back);
    size_t got;
    assert_int_equal(lsm_file_pread(f, 0, back, 8 + total, &got), LSM_OK);
    assert_int_equal(got, 8 + total);
    assert_memory_equal(back, "head", 4);
    assert_memory_equal(back + 4, data, total);
    assert_memory_equal(back + 4 + total, "tail", 4);
    assert_int_equal(lsm_file_close(f), LSM_OK);
    free(back);
}

/* Checks that file p holds `want` (n bytes) and then zeros up to `size`. */
static void expect_then_zeros(const char *p, const char *want, size_t n, off_t size)
{
    assert_int_equal(disk_size(p), size);
    char *back = malloc((size_t)size);
    assert_non_null(back);
    FILE *fp = fopen(p, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(back, 1, (size_t)size, fp), (size_t)size);
    fclose(fp);
    assert_memory_equal(back, want, n);
    for (off_t i = (off_t)n; i < size; i++)
        if (back[i])
            fail_msg("byte %lld past the appended ones is not zero", (long long)i);
    free(back);
}

/* prefill writes zeros past the appended bytes; later appends overwrite
 * them (the file does not grow), size() counts only the appended bytes,
 * and the zeros stay after close.  On a file opened for appending (the
 * descriptor's offset is not at its end before the first write) the
 * appends go where they belong. */
static void test_prefill(void **state)
{
    fixture *fx = *state;
    lsm_env *e = fx->env;
    const char *p = path_in(fx, "pre");
    lsm_file *f;
    assert_int_equal(e->open_write(e, p, &f), LSM_OK);
    assert_non_null(f->ops->prefill);
    assert_int_equal(lsm_file_append(f, "abc", 3), LSM_OK);      /* buffered */
    assert_int_equal(f->ops->prefill(f, 65536), LSM_OK);
    assert_int_equal(disk_size(p), 65536);
    assert_int_equal(lsm_file_append(f, "defg", 4), LSM_OK);
    assert_int_equal(lsm_file_sync(f), LSM_OK);
    assert_int_equal(disk_size(p), 65536);
    uint64_t size;
    assert_int_equal(lsm_file_size(f, &size), LSM_OK);
    assert_int_equal(size, 7);
    assert_int_equal(f->ops->prefill(f, 4096), LSM_OK);        /* below: nothing */
    assert_int_equal(lsm_file_close(f), LSM_OK);
    expect_then_zeros(p, "abcdefg", 7, 65536);

    const char *q = path_in(fx, "pre2");
    assert_int_equal(e->open_write(e, q, &f), LSM_OK);
    assert_int_equal(lsm_file_append(f, "0123456789", 10), LSM_OK);
    assert_int_equal(lsm_file_close(f), LSM_OK);
    assert_int_equal(e->open_append(e, q, &f), LSM_OK);
    assert_int_equal(f->ops->prefill(f, 8192), LSM_OK);
    assert_int_equal(lsm_file_append(f, "xy", 2), LSM_OK);
    assert_int_equal(lsm_file_close(f), LSM_OK);
    expect_then_zeros(q, "0123456789xy", 12, 8192);
}

static void test_open_failures_name_path(void **state)
{
    fixture *fx = *state;
    lsm_env *e = fx->env;
    lsm_file *f = NULL;
    const char *missing = path_in(fx, "nope");
    assert_int_equal(e->open_read(e, missing, &f), LSM_INVALID); /* ENOENT */
    assert_non_null(strstr(lsm_last_error(), missing));
    assert_non_null(strstr(lsm_last_error(), "No such file"));
    assert_int_not_equal(e->open_append(e, missing, &f), LSM_OK);
    assert_non_null(strstr(lsm_last_error(), missing));
    const char *nodir = path_in(fx, "nodir/file");
    assert_int_not_equal(e->open_write(e, nodir, &f), LSM_OK);
    assert_non_null(strstr(lsm_last_error(), nodir));
    /* A directory cannot be opened for writing. */
    assert_int_equal(e->open_write(e, fx->dir, &f), LSM_IO_ERROR);
    assert_non_null(strstr(lsm_last_error(), "Is a directory"));
    assert_int_not_equal(e->sync_dir(e, missing), LSM_OK);
    assert_non_null(strstr(lsm_last_error(), missing));
    char **names;
    size_t n;
    assert_int_not_equal(e->list_dir(e, missing, &names, &n), LSM_OK);
    assert_null(names);
    assert_int_not_equal(e->rename(e, missing, path_in(fx, "x")), LSM_OK);
    assert_non_null(strstr(lsm_last_error(), missing));
    assert_int_not_equal(e->unlink(e, missing), LSM_OK);
    assert_non_null(strstr(lsm_last_error(), missing));
    uint64_t bytes;
    assert_int_not_equal(e->free_space(e, missing, &bytes), LSM_OK);
}

/* /dev/full fails every write with ENOSPC: the buffered append succeeds,
 * the flush reports LSM_NO_SPACE naming the file, and so does close. */
static void test_write_error_reported(void **state)
{
    (void)state;
    lsm_env *e = lsm_env_posix();
    if (access("/dev/full", W_OK) != 0)
        skip();
    lsm_file *f;
    assert_int_equal(e->open_write(e, "/dev/full", &f), LSM_OK);
    assert_int_equal(lsm_file_append(f, "abc", 3), LSM_OK);
    assert_int_equal(lsm_file_sync(f), LSM_NO_SPACE);
    assert_non_null(strstr(lsm_last_error(), "/dev/full"));
    assert_non_null(strstr(lsm_last_error(), "No space left"));
    char big[70000] = { 0 };
    assert_int_equal(lsm_file_append(f, big, sizeof big), LSM_NO_SPACE);
    assert_int_equal(lsm_file_close(f), LSM_NO_SPACE);
}

static int has_name(char **names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(names[i], name))
            return 1;
    return 0;
}

static void test_namespace_operations(void **state)
{
    fixture *fx = *state;
    lsm_env *e = fx->env;
    const char *sub = path_in(fx, "sub");
    assert_int_equal(e->mkdir(e, sub), LSM_OK);
    assert_int_equal(e->mkdir(e, sub), LSM_OK); /* EEXIST is fine */
    assert_true(e->exists(e, sub));
    const char *file = path_in(fx, "plain");
    write_plain(file, "x", 1);
    assert_int_not_equal(e->mkdir(e, file), LSM_OK); /* a file is in the way */
    assert_non_null(strstr(lsm_last_error(), file));

    const char *a = path_in(fx, "sub/a"), *b = path_in(fx, "sub/b");
    write_plain(a, "A", 1);
    assert_true(e->exists(e, a));
    assert_false(e->exists(e, b));
    assert_int_equal(e->rename(e, a, b), LSM_OK);
    assert_false(e->exists(e, a));
    assert_true(e->exists(e, b));
    assert_int_equal(e->sync_dir(e, sub), LSM_OK);

    write_plain(a, "A2", 2);
    char **names;
    size_t n;
    assert_int_equal(e->list_dir(e, sub, &names, &n), LSM_OK);
    assert_int_equal(n, 2);
    assert_true(has_name(names, n, "a"));
    assert_true(has_name(names, n, "b"));
    assert_false(has_name(names, n, "."));
    lsm_env_free_names(names, n);

    assert_int_equal(e->unlink(e, a), LSM_OK);
    assert_int_equal(e->unlink(e, b), LSM_OK);
    assert_int_equal(e->list_dir(e, sub, &names, &n), LSM_OK);
    assert_int_equal(n, 0);
    lsm_env_free_names(names, n);
    lsm_env_free_names(NULL, 0);

    uint64_t bytes = 0;
    assert_int_equal(e->free_space(e, fx->dir, &bytes), LSM_OK);
    assert_true(bytes > 0);
}

static void test_lock_conflicts(void **state)
{
    fixture *fx = *state;
    lsm_env *e = fx->env;
    const char *lock = path_in(fx, "LOCK");
    lsm_file *l1, *l2 = NULL;
    assert_int_equal(e->lock(e, lock, NULL, &l1), LSM_OK);
    /* A second open description conflicts, even in this process. */
    assert_int_equal(e->lock(e, lock, NULL, &l2), LSM_BUSY);
    char expect[128];
    snprintf(expect, sizeof expect, "store %s is locked by process %ld",
             fx->dir, (long)getpid());
    assert_string_equal(lsm_last_error(), expect);

    /* Another process sees the same. */
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        lsm_file *l3;
        int rc = e->lock(e, lock, NULL, &l3);
        _exit(rc == LSM_BUSY && strstr(lsm_last_error(), expect) ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    assert_int_equal(e->unlock(e, l1), LSM_OK);
    assert_int_equal(e->lock(e, lock, NULL, &l2), LSM_OK);
    assert_int_equal(e->unlock(e, l2), LSM_OK);

    /* Lock file in a missing directory. */
    assert_int_not_equal(e->lock(e, path_in(fx, "none/LOCK"), NULL, &l2), LSM_OK);
    assert_non_null(strstr(lsm_last_error(), "none/LOCK"));
}

/* The holder's note is recorded beside its pid: a loser's message quotes
 * it and lsm_lock_holder returns both, also after the holder let go. */
static void test_lock_note(void **state)
{
    fixture *fx = *state;
    lsm_env *e = fx->env;
    long pid = -1;
    char note[64];
    assert_int_equal(lsm_lock_holder(fx->dir, &pid, note, sizeof note),
                     LSM_NOT_FOUND);
    const char *lock = path_in(fx, "LOCK");
    lsm_file *l1, *l2 = NULL;
    assert_int_equal(e->lock(e, lock, "mounted at /mnt/a b", &l1), LSM_OK);
    assert_int_equal(e->lock(e, lock, "other", &l2), LSM_BUSY);
    char expect[256];
    snprintf(expect, sizeof expect,
             "store %s is locked by process %ld (mounted at /mnt/a b)",
             fx->dir, (long)getpid());
    assert_string_equal(lsm_last_error(), expect);
    assert_int_equal(lsm_lock_holder(fx->dir, &pid, note, sizeof note), LSM_OK);
    assert_int_equal(pid, (long)getpid());
    assert_string_equal(note, "mounted at /mnt/a b");
    char small[8];
    assert_int_equal(lsm_lock_holder(fx->dir, &pid, small, sizeof small), LSM_OK);
    assert_string_equal(small, "mounted");
    assert_int_equal(e->unlock(e, l1), LSM_OK);
    assert_int_equal(lsm_lock_holder(fx->dir, &pid, note, sizeof note), LSM_OK);
    assert_int_equal(pid, (long)getpid());
    /* A holder without a note replaces the record whole. */
    assert_int_equal(e->lock(e, lock, NULL, &l1), LSM_OK);
    assert_int_equal(lsm_lock_holder(fx->dir, &pid, note, sizeof note), LSM_OK);
    assert_int_equal(pid, (long)getpid());
    assert_string_equal(note, "");
    assert_int_equal(e->unlock(e, l1), LSM_OK);
}

static void test_read_exact_and_read_file(void **state)
{
    fixture *fx = *state;
    lsm_env *e = fx->env;
    const char *p = path_in(fx, "r");
    write_plain(p, "0123456789", 10);
    lsm_file *f;
    assert_int_equal(e->open_read(e, p, &f), LSM_OK);
    char buf[16];
    assert_int_equal(lsm_file_read_exact(f, 2, buf, 5, "thing"), LSM_OK);
    assert_memory_equal(buf, "23456", 5);
    assert_int_equal(lsm_file_read_exact(f, 6, buf, 8, "table footer"),
                     LSM_CORRUPTION);
    assert_string_equal(lsm_last_error(),
                        "table footer: short read at offset 6 "
                        "(wanted 8, got 4)");
    assert_int_equal(lsm_file_read_exact(f, 6, buf, 0, "nothing"), LSM_OK);
    assert_int_equal(lsm_file_close(f), LSM_OK);

    char *data;
    size_t n;
    assert_int_equal(lsm_env_read_file(e, p, &data, &n), LSM_OK);
    assert_int_equal(n, 10);
    assert_string_equal(data, "0123456789"); /* NUL-terminated */
    free(data);

    const char *empty = path_in(fx, "empty");
    write_plain(empty, "", 0);
    assert_int_equal(lsm_env_read_file(e, empty, &data, &n), LSM_OK);
    assert_int_equal(n, 0);
    assert_string_equal(data, "");
    free(data);

    assert_int_not_equal(lsm_env_read_file(e, path_in(fx, "missing"), &data,
                                           &n), LSM_OK);
    assert_null(data);
}

static void test_write_file_atomic(void **state)
{
    fixture *fx = *state;
    lsm_env *e = fx->env;
    assert_int_equal(lsm_env_write_file_atomic(e, fx->dir, "CURRENT",
                                               "MANIFEST-1\n", 11), LSM_OK);
    char *data;
    size_t n;
    assert_int_equal(lsm_env_read_file(e, path_in(fx, "CURRENT"), &data, &n),
                     LSM_OK);
    assert_int_equal(n, 11);
    assert_memory_equal(data, "MANIFEST-1\n", 11);
    free(data);
    assert_false(e->exists(e, path_in(fx, "CURRENT.tmp")));
    /* Replacing keeps one complete version. */
    assert_int_equal(lsm_env_write_file_atomic(e, fx->dir, "CURRENT",
                                               "MANIFEST-22\n", 12), LSM_OK);
    assert_int_equal(lsm_env_read_file(e, path_in(fx, "CURRENT"), &data, &n),
                     LSM_OK);
    assert_int_equal(n, 12);
    assert_memory_equal(data, "MANIFEST-22\n", 12);
    free(data);
    /* The rename fails (target is a non-empty directory): the temp file is
     * removed, the old file stays, and the message names the paths. */
    const char *blocker = path_in(fx, "D");
    assert_int_equal(e->mkdir(e, blocker), LSM_OK);
    write_plain(path_in(fx, "D/inside"), "x", 1);
    assert_int_not_equal(lsm_env_write_file_atomic(e, fx->dir, "D", "y", 1),
                         LSM_OK);
    assert_non_null(strstr(lsm_last_error(), "rename"));
    assert_non_null(strstr(lsm_last_error(), "D.tmp"));
    assert_false(e->exists(e, path_in(fx, "D.tmp")));
    /* A missing directory fails at the create. */
    assert_int_not_equal(lsm_env_write_file_atomic(e, path_in(fx, "no"), "X",
                                                   "y", 1), LSM_OK);
    assert_non_null(strstr(lsm_last_error(), "no/X.tmp"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_read_roundtrip, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_close_flushes_and_open_write_truncates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_and_mixed_appends, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_appendv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prefill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_failures_name_path, setup,
                                        teardown),
        cmocka_unit_test(test_write_error_reported),
        cmocka_unit_test_setup_teardown(test_namespace_operations, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lock_conflicts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_note, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_exact_and_read_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_write_file_atomic, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
