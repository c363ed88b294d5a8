/*
 * fuzz_wal_reader.c — libFuzzer target: the log reader (wal_reader.c) and
 * the batch decoder behind it, over arbitrary file contents.
 *
 * The input is a whole log file.  It is read twice: as given (damage
 * detection, resynchronisation, zero-region and torn-tail handling) and
 * with every well-framed fragment's checksum made valid, so that mutated
 * framing (fragment types out of sequence, FIRST/MIDDLE/LAST chains,
 * lengths at block edges) and record contents reach the code behind the
 * checksum test.  Every record is then decoded as a write batch, as
 * recovery does.
 *
 * Checked besides memory safety: the reader's offsets and damage
 * accounting stay inside the file, records and dropped bytes together
 * never exceed it, and a batch's slices lie inside its record.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_mem.h"
#include "ikey.h"
#include "wal.h"
#include "write_batch.h"

#include "fuzz_check.h"

typedef struct batch_check {
    lsm_slice rec;
    uint32_t ops;
} batch_check;

static int inside(lsm_slice outer, lsm_slice s)
{
    return s.len == 0 || (s.data >= outer.data &&
                          s.len <= outer.len &&
                          (size_t)(s.data - outer.data) <= outer.len - s.len);
}

static int on_op(void *ctx, uint64_t seq, int kind, lsm_slice key,
                 lsm_slice value)
{
    batch_check *c = ctx;
    (void)seq;
    CHECK(kind == LSM_KIND_PUT || kind == LSM_KIND_DELETE ||
          kind == LSM_KIND_RANGE_DEL || kind == LSM_KIND_BLOB);
    CHECK(inside(c->rec, key));
    CHECK(inside(c->rec, value));
    c->ops++;
    return LSM_OK;
}

/* stop: lsm_wal_reader_stop_at_damage (as db_open replays).  An input
 * of odd length is read as WAL 1 (recyclable fragments naming another log
 * are old bytes: wal.h), one of even length as the manifest (no number). */
static void read_log(const char *data, size_t n, int stop)
{
    lsm_file *f = memfile_borrow(data, n);
    if (!f)
        return;
    lsm_wal_reader *r;
    if (lsm_wal_reader_new(f, "fuzz.log", &r) != LSM_OK)
        return;
    if (stop)
        lsm_wal_reader_stop_at_damage(r);
    if (n % 2)
        lsm_wal_reader_set_log(r, 1);
    uint64_t payload = 0, last_off = 0;
    lsm_slice rec;
    int got;
    while ((got = lsm_wal_read(r, &rec)) == 1) {
        uint64_t off = lsm_wal_reader_offset(r);
        CHECK(off > last_off || (off == last_off && off == 0));
        CHECK(off <= n);
        CHECK(rec.len <= n);
        last_off = off;
        payload += rec.len;
        /* Stopping, nothing is returned after damage. */
        CHECK(!stop || lsm_wal_reader_damage(r)->regions == 0);

        batch_check c = { rec, 0 };
        int rc = lsm_batch_iterate(rec, on_op, &c);
        CHECK(rc == LSM_OK || rc == LSM_CORRUPTION);
        if (rc == LSM_OK)
            CHECK(c.ops == lsm_decode_fixed32(rec.data + 8));
    }
    CHECK(got == 0);
    /* Reading past the end stays at the end. */
    CHECK(lsm_wal_read(r, &rec) == 0);

    const lsm_wal_damage *d = lsm_wal_reader_damage(r);
    CHECK(d->regions >= 0);
    CHECK(d->dropped_bytes <= n);
    CHECK(payload + d->dropped_bytes <= n);
    CHECK((d->regions == 0) == (d->dropped_bytes == 0));
    CHECK(!d->unsynced || d->before_tail);
    CHECK(stop || (d->withheld_records == 0 && d->withheld_bytes == 0));
    CHECK(payload + d->withheld_bytes <= n);
    if (d->regions) {
        CHECK(d->first_offset < n);
        CHECK(memchr(d->first_reason, 0, sizeof d->first_reason) != NULL);
    } else {
        CHECK(!d->before_tail);
    }
    lsm_wal_reader_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    read_log((const char *)data, size, 0);
    read_log((const char *)data, size, 1);
    char *fixed = malloc(size ? size : 1);
    if (!fixed)
        return 0;
    memcpy(fixed, data, size);
    wal_fix_checksums(fixed, size);
    if (memcmp(fixed, data, size) != 0) {
        read_log(fixed, size, 0);
        read_log(fixed, size, 1);
    }
    free(fixed);
    return 0;
}
