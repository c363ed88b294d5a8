/*
 * filename.h — names of the files in a store directory.
 *
 *   CURRENT            name of the live manifest, replaced atomically
 *   LOCK               held (flock) by the process that has the store open
 *   RESERVE            preallocated space given back on a full disk (space.c)
 *   MANIFEST-NNNNNN    log of version edits (see version_edit.c)
 *   NNNNNN.log         write-ahead log (see wal.h, write_batch.c)
 *   NNNNNN.sst         table (see table_builder.c)
 *   NNNNNN.blob        large values out of the tree (see blob.c; own counter)
 *   *.tmp              a file being written for an atomic rename
 *
 * Every file number comes from one counter kept in the manifest, so a
 * number names at most one file in a store's life.
 */
#ifndef LSM_FILENAME_H
#define LSM_FILENAME_H

#include <stdint.h>

enum lsm_file_type {
    LSM_FILE_LOG,
    LSM_FILE_TABLE,
    LSM_FILE_MANIFEST,
    LSM_FILE_CURRENT,
    LSM_FILE_LOCK,
    LSM_FILE_RESERVE,
    LSM_FILE_TEMP,
    LSM_FILE_BLOB,
    LSM_FILE_UNKNOWN,
};

/* Full path for a numbered file; malloc'ed, NULL on ENOMEM. */
char *lsm_filename(const char *dir, enum lsm_file_type type, uint64_t number);
/* Classifies a directory entry name; *number set for numbered files. */
enum lsm_file_type lsm_parse_filename(const char *name, uint64_t *number);

#endif
