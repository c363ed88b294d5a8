/*
 * testutil.c — helpers shared by the unit tests (see testutil.h).
 */
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *tu_tempdir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    char *path;
    if (asprintf(&path, "%s/lsmtest-%s-XXXXXX", base ? base : "/tmp", tag) < 0)
        return NULL;
    if (!mkdtemp(path)) {
        free(path);
        return NULL;
    }
    return path;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(p);
}

void tu_rmtree(const char *path)
{
    if (path)
        nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

uint64_t tu_rand(uint64_t *s)
{
    uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

long long tu_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

long long tu_nonzero_end(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    long long end = 0, off = 0;
    int c;
    while ((c = getc(f)) != EOF) {
        off++;
        if (c)
            end = off;
    }
    fclose(f);
    return end;
}

int tu_flip_byte(const char *path, long long offset, unsigned char mask)
{
    int fd = open(path, O_RDWR);
    if (fd < 0)
        return -1;
    unsigned char b;
    int rc = -1;
    if (pread(fd, &b, 1, offset) == 1) {
        b ^= mask;
        rc = pwrite(fd, &b, 1, offset) == 1 ? 0 : -1;
    }
    close(fd);
    return rc;
}

int tu_copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    int rc = in && out ? 0 : -1;
    char buf[4096];
    size_t n;
    while (rc == 0 && (n = fread(buf, 1, sizeof buf, in)) > 0)
        rc = fwrite(buf, 1, n, out) == n ? 0 : -1;
    if (in)
        fclose(in);
    if (out && fclose(out) != 0)
        rc = -1;
    return rc;
}

int tu_truncate(const char *path, long long len)
{
    return truncate(path, len);
}

static int has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), k = strlen(suffix);
    return n >= k && strcmp(name + n - k, suffix) == 0;
}

char *tu_find_file(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    char *found = NULL;
    struct dirent *e;
    while (!found && (e = readdir(d)))
        if (has_suffix(e->d_name, suffix) &&
            asprintf(&found, "%s/%s", dir, e->d_name) < 0)
            found = NULL;
    closedir(d);
    return found;
}

int tu_count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += has_suffix(e->d_name, suffix);
    closedir(d);
    return n;
}

long long tu_files_bytes(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    long long sum = 0;
    struct dirent *e;
    while (sum >= 0 && (e = readdir(d))) {
        if (!has_suffix(e->d_name, suffix))
            continue;
        char *path;
        long long size = asprintf(&path, "%s/%s", dir, e->d_name) < 0
                         ? -1 : tu_file_size(path);
        if (size >= 0)
            free(path);
        sum = size < 0 ? -1 : sum + size;
    }
    closedir(d);
    return sum;
}

long long tu_table_data_end(const char *path)
{
    long long size = tu_file_size(path);
    if (size <= 80)
        fail_msg("%s: %lld bytes is not a table", path, size);
    FILE *f = fopen(path, "rb");
    unsigned char b[8];
    int ok = f && fseek(f, (long)(size - 80), SEEK_SET) == 0 &&
             fread(b, 1, 8, f) == 8;
    if (f)
        fclose(f);
    if (!ok)
        fail_msg("%s: cannot read the footer", path);
    long long v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    if (v <= 0 || v >= size - 80)
        fail_msg("%s: implausible data size %lld of %lld", path, v, size);
    return v;
}

void tu_small_options(lsm_options *o)
{
    lsm_options_init(o);
    o->memtable_bytes = 64 << 10;
    o->level1_bytes = 256 << 10;
    o->target_file_bytes = 64 << 10;
    o->cache_bytes = 1 << 20;
}

lsm_db *tu_open_db(const char *dir, const lsm_options *o)
{
    lsm_db *db = NULL;
    int rc = lsm_open(dir, o, &db);
    if (rc)
        fail_msg("lsm_open(%s): %s", dir, lsm_last_error());
    return db;
}

void tu_close_and_remove(lsm_db *db, char *dir)
{
    if (lsm_close(db) != LSM_OK)
        fail_msg("lsm_close(%s): %s", dir, lsm_last_error());
    tu_rmtree(dir);
    free(dir);
}

double tu_stat(lsm_db *db, const char *name)
{
    char *text = NULL, pat[64];
    if (lsm_property(db, "stats", &text) != LSM_OK)
        fail_msg("stats: %s", lsm_last_error());
    snprintf(pat, sizeof pat, "%s: ", name);
    const char *p = strstr(text, pat);
    char *end = NULL;
    double v = p ? strtod(p + strlen(pat), &end) : 0;
    int ok = p && end != p + strlen(pat);
    if (!ok)
        fprintf(stderr, "stats without '%s':\n%s", name, text);
    lsm_free(text);
    if (!ok)
        fail_msg("stats: no number '%s'", name);
    return v;
}

unsigned long long tu_level_bytes(lsm_db *db, int level, unsigned long long *files)
{
    char *text = NULL, pat[16];
    if (lsm_property(db, "levels", &text) != LSM_OK)
        fail_msg("levels: %s", lsm_last_error());
    snprintf(pat, sizeof pat, "\nL%d ", level);
    const char *p = strstr(text, pat);
    unsigned long long n = 0, bytes = 0;
    int ok = p && sscanf(p + strlen(pat), "%llu %llu", &n, &bytes) == 2;
    lsm_free(text);
    if (!ok)
        fail_msg("levels: no line for L%d", level);
    if (files)
        *files = n;
    return bytes;
}

int tu_wait_for(lsm_db *db, int (*cond)(lsm_db *, void *), void *arg, int seconds)
{
    for (int i = 0; i < seconds * 100; i++) {
        if (cond(db, arg))
            return 1;
        usleep(10000);
    }
    return cond(db, arg);
}
