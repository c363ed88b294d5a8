/*
 * error.h — status codes with a per-thread message.
 *
 * Functions return LSM_OK or a negative lsm_status.  A function that
 * originates a failure records a message with lsm_fail(); callers pass the
 * status up unchanged.  lsm_last_error() (lsm.h) reads the message.
 */
#ifndef LSM_ERROR_H
#define LSM_ERROR_H

#include "lsm.h"

/* Records a formatted message for this thread and returns `status`. */
int lsm_fail(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Same, for an errno value from the OS: maps it to a status (ENOSPC and
 * EDQUOT to LSM_NO_SPACE, ENOMEM to LSM_NO_MEMORY, else LSM_IO_ERROR) and
 * appends strerror(err) to the message. */
int lsm_fail_errno(int err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Copies this thread's message (for stashing a background error). */
void lsm_error_copy(char *dst, size_t cap);

#endif
