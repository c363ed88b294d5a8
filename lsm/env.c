/*
 * env.c — helpers over any lsm_env (see env.h).
 */
#include "env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

int lsm_file_read_exact(lsm_file *f, uint64_t off, void *buf, size_t n,
                        const char *what)
{
    size_t got = 0;
    int rc = lsm_file_pread(f, off, buf, n, &got);
    if (rc)
        return rc;
    if (got < n)
        return lsm_fail(LSM_CORRUPTION,
                        "%s: short read at offset %llu (wanted %zu, got %zu)",
                        what, (unsigned long long)off, n, got);
    return LSM_OK;
}

int lsm_file_appendv(lsm_file *f, const struct iovec *iov, size_t n)
{
    if (f->ops->appendv)
        return f->ops->appendv(f, iov, n);
    int rc = LSM_OK;
    for (size_t i = 0; i < n && !rc; i++)
        rc = f->ops->append(f, iov[i].iov_base, iov[i].iov_len);
    return rc ? rc : lsm_file_flush(f);
}

/* The buffer gets one extra byte, set to '\0', so small text files (such
 * as a CURRENT pointer) can be used as C strings; *n excludes it. */
int lsm_env_read_file(lsm_env *e, const char *path, char **data, size_t *n)
{
    *data = NULL;
    *n = 0;
    lsm_file *f;
    int rc = e->open_read(e, path, &f);
    if (rc)
        return rc;
    uint64_t size;
    rc = lsm_file_size(f, &size);
    if (rc) {
        lsm_file_close(f);
        return rc;
    }
    if (size >= SIZE_MAX) {
        lsm_file_close(f);
        return lsm_fail(LSM_NO_MEMORY, "read %s: file too large (%llu bytes)",
                        path, (unsigned long long)size);
    }
    char *buf = malloc((size_t)size + 1);
    if (!buf) {
        lsm_file_close(f);
        return lsm_fail(LSM_NO_MEMORY, "read %s: out of memory for %llu bytes",
                        path, (unsigned long long)size);
    }
    rc = lsm_file_read_exact(f, 0, buf, (size_t)size, path);
    int crc = lsm_file_close(f);
    if (!rc)
        rc = crc;
    if (rc) {
        free(buf);
        return rc;
    }
    buf[size] = '\0';
    *data = buf;
    *n = (size_t)size;
    return LSM_OK;
}

static char *join_path(const char *dir, const char *name, const char *suffix)
{
    size_t len = strlen(dir) + 1 + strlen(name) + strlen(suffix) + 1;
    char *p = malloc(len);
    if (p)
        snprintf(p, len, "%s/%s%s", dir, name, suffix);
    return p;
}

/* Writes, syncs and closes path; the file is closed on every path. */
static int write_synced(lsm_env *e, const char *path, const void *data,
                        size_t n)
{
    lsm_file *f;
    int rc = e->open_write(e, path, &f);
    if (rc)
        return rc;
    rc = lsm_file_append(f, data, n);
    if (!rc)
        rc = lsm_file_sync(f);
    int crc = lsm_file_close(f);
    return rc ? rc : crc;
}

/* After a crash dir/name holds either the old contents or all of the new:
 * the rename is the commit point, and only happens once the temp file's
 * data is durable.  The directory sync makes the rename itself durable.
 * On failure the temp file is removed (best effort) and the message of
 * the original failure is kept. */
int lsm_env_write_file_atomic(lsm_env *e, const char *dir, const char *name,
                              const void *data, size_t n)
{
    char *tmp = join_path(dir, name, ".tmp");
    char *final = join_path(dir, name, "");
    if (!tmp || !final) {
        free(tmp);
        free(final);
        return lsm_fail(LSM_NO_MEMORY, "write %s/%s: out of memory", dir, name);
    }
    int rc = write_synced(e, tmp, data, n);
    if (!rc)
        rc = e->rename(e, tmp, final);
    if (rc) {
        char msg[512];
        lsm_error_copy(msg, sizeof msg);
        if (e->exists(e, tmp))
            e->unlink(e, tmp);
        lsm_fail(rc, "%s", msg);
    } else {
        rc = e->sync_dir(e, dir);
    }
    free(tmp);
    free(final);
    return rc;
}

void lsm_env_free_names(char **names, size_t n)
{
    if (!names)
        return;
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}
