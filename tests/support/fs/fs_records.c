/*
 * fs_records.c — record builders shared by the fs tests (see fs_records.h).
 */
#include <string.h>
#include <sys/stat.h>

#include "fs_records.h"

fs_inode inline_file(uint32_t nlink, size_t size)
{
    fs_inode rec;
    memset(&rec, 0, sizeof rec);
    rec.flags = FS_INODE_INLINE;
    rec.mode = S_IFREG | 0644;
    rec.nlink = nlink;
    rec.size = size;
    rec.mtime.tv_sec = 1000;
    return rec;
}
