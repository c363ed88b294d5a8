/*
 * fs_records.h — records in the store's layout (layout.h) for tests that
 * encode them directly, with or without the fs_fixture.
 */
#ifndef FS_RECORDS_H
#define FS_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "layout.h"

/* The record of an inline regular file (mode 0644, mtime 1000 s, other
 * fields 0) of `size` bytes with `nlink` names. */
fs_inode inline_file(uint32_t nlink, size_t size);

#endif
