/*
 * error.c — per-thread failure messages, status names, the version.
 */
#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[512];

/* Formats through a copy: callers prefix the last message by passing
 * lsm_last_error() as an argument. */
static void vrecord(const char *fmt, va_list ap)
{
    char msg[sizeof last_error];
    vsnprintf(msg, sizeof msg, fmt, ap);
    memcpy(last_error, msg, sizeof msg);
}

int lsm_fail(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vrecord(fmt, ap);
    va_end(ap);
    return status;
}

static int status_of_errno(int err)
{
    switch (err) {
    case ENOSPC:
    case EDQUOT:
        return LSM_NO_SPACE;
    case ENOMEM:
        return LSM_NO_MEMORY;
    case EINVAL:
    case ENOTDIR:
    case ENOENT:
        return LSM_INVALID;
    default:
        return LSM_IO_ERROR;
    }
}

int lsm_fail_errno(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vrecord(fmt, ap);
    va_end(ap);
    size_t used = strlen(last_error);
    snprintf(last_error + used, sizeof last_error - used, ": %s",
             strerror(err));
    return status_of_errno(err);
}

void lsm_error_copy(char *dst, size_t cap)
{
    snprintf(dst, cap, "%s", last_error);
}

/* CMake defines it from project(VERSION); scripts/fuzz builds without. */
#ifndef LSMFS_VERSION
#define LSMFS_VERSION "unknown"
#endif

const char *lsm_library_version(void)
{
    return LSMFS_VERSION;
}

const char *lsm_last_error(void)
{
    return last_error[0] ? last_error : "no error";
}

const char *lsm_status_name(int status)
{
    switch (status) {
    case LSM_OK: return "ok";
    case LSM_NOT_FOUND: return "not found";
    case LSM_CORRUPTION: return "corruption";
    case LSM_IO_ERROR: return "I/O error";
    case LSM_NO_SPACE: return "no space";
    case LSM_INVALID: return "invalid argument";
    case LSM_BUSY: return "busy";
    case LSM_NO_MEMORY: return "out of memory";
    case LSM_BG_ERROR: return "background error";
    case LSM_EXISTS: return "already exists";
    default: return "unknown status";
    }
}

int lsm_status_errno(int status)
{
    switch (status) {
    case LSM_OK: return 0;
    case LSM_NOT_FOUND: return -ENOENT;
    case LSM_NO_SPACE: return -ENOSPC;
    case LSM_INVALID: return -EINVAL;
    case LSM_BUSY: return -EBUSY;
    case LSM_NO_MEMORY: return -ENOMEM;
    case LSM_BG_ERROR: return -EIO;
    case LSM_EXISTS: return -EEXIST;
    case LSM_CORRUPTION:
    case LSM_IO_ERROR:
    default: return -EIO;
    }
}
