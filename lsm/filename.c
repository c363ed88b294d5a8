/*
 * filename.c — store file naming (see filename.h).
 */
#include "filename.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *lsm_filename(const char *dir, enum lsm_file_type type, uint64_t number)
{
    char *path = NULL;
    int n = -1;
    switch (type) {
    case LSM_FILE_LOG:
        n = asprintf(&path, "%s/%06" PRIu64 ".log", dir, number);
        break;
    case LSM_FILE_TABLE:
        n = asprintf(&path, "%s/%06" PRIu64 ".sst", dir, number);
        break;
    case LSM_FILE_BLOB:
        n = asprintf(&path, "%s/%06" PRIu64 ".blob", dir, number);
        break;
    case LSM_FILE_MANIFEST:
        n = asprintf(&path, "%s/MANIFEST-%06" PRIu64, dir, number);
        break;
    case LSM_FILE_CURRENT:
        n = asprintf(&path, "%s/CURRENT", dir);
        break;
    case LSM_FILE_LOCK:
        n = asprintf(&path, "%s/LOCK", dir);
        break;
    case LSM_FILE_RESERVE:
        n = asprintf(&path, "%s/RESERVE", dir);
        break;
    default:
        return NULL;
    }
    return n < 0 ? NULL : path;
}

/* Parses a decimal number filling [s, end); 1 on success. */
static int parse_number(const char *s, const char *end, uint64_t *out)
{
    uint64_t v = 0;
    if (s == end)
        return 0;
    for (; s < end; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
            return 0;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 1;
}

static int has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), k = strlen(suffix);
    return n > k && strcmp(name + n - k, suffix) == 0;
}

enum lsm_file_type lsm_parse_filename(const char *name, uint64_t *number)
{
    size_t len = strlen(name);
    if (strcmp(name, "CURRENT") == 0)
        return LSM_FILE_CURRENT;
    if (strcmp(name, "LOCK") == 0)
        return LSM_FILE_LOCK;
    if (strcmp(name, "RESERVE") == 0)
        return LSM_FILE_RESERVE;
    if (has_suffix(name, ".tmp"))
        return LSM_FILE_TEMP;
    if (strncmp(name, "MANIFEST-", 9) == 0)
        return parse_number(name + 9, name + len, number) ? LSM_FILE_MANIFEST
                                                          : LSM_FILE_UNKNOWN;
    if (has_suffix(name, ".log"))
        return parse_number(name, name + len - 4, number) ? LSM_FILE_LOG
                                                          : LSM_FILE_UNKNOWN;
    if (has_suffix(name, ".sst"))
        return parse_number(name, name + len - 4, number) ? LSM_FILE_TABLE
                                                          : LSM_FILE_UNKNOWN;
    if (has_suffix(name, ".blob"))
        return parse_number(name, name + len - 5, number) ? LSM_FILE_BLOB
                                                           : LSM_FILE_UNKNOWN;
    return LSM_FILE_UNKNOWN;
}
