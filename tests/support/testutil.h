/*
 * testutil.h — small helpers shared by the unit tests.
 */
#ifndef LSM_TESTUTIL_H
#define LSM_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "lsm.h"

/* mkdtemp under $TMPDIR (or /tmp); malloc'ed path. */
char *tu_tempdir(const char *tag);
/* rm -rf of a directory tree made by tu_tempdir. */
void tu_rmtree(const char *path);
/* xorshift64* PRNG. */
uint64_t tu_rand(uint64_t *state);
/* Size of a file, or -1. */
long long tu_file_size(const char *path);
/* Offset just past the last non-zero byte of a file, or -1: where the
 * records of a WAL end (synced writes write zeros past them, wal.h). */
long long tu_nonzero_end(const char *path);
/* XORs one byte of a file at offset with mask. Returns 0 on success. */
int tu_flip_byte(const char *path, long long offset, unsigned char mask);
/* Copies a file (e.g. a live WAL, to stage a crash). 0 on success. */
int tu_copy_file(const char *from, const char *to);
/* Truncates a file to len. */
int tu_truncate(const char *path, long long len);
/* Path of the first file in dir whose name ends with suffix; malloc'ed or NULL. */
char *tu_find_file(const char *dir, const char *suffix);
/* Number of files in dir whose name ends with suffix. */
int tu_count_files(const char *dir, const char *suffix);
/* Total size of those files; -1 if dir or one of them cannot be read. */
long long tu_files_bytes(const char *dir, const char *suffix);

/* Offset where a table's data blocks end (its filter block's offset,
 * from the footer); fails the running test on a malformed file. */
long long tu_table_data_end(const char *path);

/* Engine options with tiny buffers, so flushes and compactions happen
 * constantly: 64 KiB memtable, 256 KiB level 1, 64 KiB tables, 1 MiB cache. */
void tu_small_options(lsm_options *o);
/* The number after "name: " in the "stats" property; fails the running
 * test if it is missing. */
double tu_stat(lsm_db *db, const char *name);
/* Tables and bytes of `level` from the "levels" property. */
unsigned long long tu_level_bytes(lsm_db *db, int level, unsigned long long *files);
/* Polls cond(db, arg) every 10 ms for at most `seconds`; its last answer.
 * A generous bound for background work, not a timing assertion. */
int tu_wait_for(lsm_db *db, int (*cond)(lsm_db *, void *), void *arg, int seconds);
/* lsm_open or fail the running cmocka test with the engine's message. */
lsm_db *tu_open_db(const char *dir, const lsm_options *o);
/* lsm_close (failing the running test unless it succeeds), then rm -rf
 * and free of dir (a tu_tempdir path). */
void tu_close_and_remove(lsm_db *db, char *dir);

#endif
