/*
 * lsm-bench — a client-emulating load agent for liblsm, with RocksDB and
 * LevelDB behind the same driver so that the three engines can be compared
 * under identical settings.
 *
 *   lsm-bench --db=DIR --benchmarks=fillseq,fillrandom,...[,stats,compact]
 *             [--num=N] [--reads=N] [--key_size=16] [--value_size=100]
 *             [--threads=1] [--seek_nexts=0] [--readwritepercent=90]
 *             [--range_tombstone_width=100]
 *             [--compression=zstd|none] [--bloom_bits=10]
 *             [--cache_mb=64] [--memtable_mb=64] [--sync=0|1]
 *             [--manual_wal_flush=0|1] [--compaction_style=leveled|tiered]
 *             [--use_existing_db=0|1] [--seed=S]
 *             [--engine=lsm|rocksdb|leveldb]
 *
 * Workload model.  Key i is the decimal of i, zero-padded to key_size bytes,
 * so byte order equals numeric order and every written key is all digits.
 * A "missing" key carries the non-digit byte 'm' (it is never written):
 * the decimal of i padded to key_size-1 followed by 'm' (or, when i needs
 * all key_size digits, the key of i with its last byte replaced by 'm').
 * Values are slices of a ~1 MiB pool in which every 100-byte piece is 50
 * random bytes followed by a copy of them, so values compress to about half.
 *
 * Benchmarks (run in the order given, on one open database; names and
 * meanings as in RocksDB's db_bench; "random" keys are uniform in
 * 0..num-1):
 *   fillseq       keys 0..num-1 in order
 *   fillrandom    every key of 0..num-1 exactly once, in a random order
 *   overwrite     num puts of random keys
 *   readrandom    `reads` gets of random keys; found = hits
 *   readmissing   `reads` gets of missing keys; found should be 0
 *   readseq       one ordered pass over the whole database
 *   seekrandom    `reads` operations of: a new iterator, a seek to a random
 *                 key, then --seek_nexts nexts (the entries landed on and
 *                 moved to are read); found = seeks that landed on their
 *                 key
 *   readwhilewriting  --threads threads do readrandom while one more
 *                 thread puts random keys at full speed until they finish;
 *                 the RESULT figures are the readers', the write_* fields
 *                 the writer's
 *   readrandomwriterandom  `reads` operations on random keys: of every
 *                 100 a thread does, the first --readwritepercent are gets
 *                 and the rest puts (db_bench's batches); figures of all
 *                 operations, write_* fields of the puts; found = hits
 *   updaterandom  `reads` read-modify-writes: a get then a put of the same
 *                 random key, timed as one operation; found = hits
 *   deleterange   as readrandomwriterandom, with each write a range
 *                 deletion of the --range_tombstone_width keys from a
 *                 random key: reads among many range deletions (engines
 *                 with range deletion: lsm, RocksDB)
 *   deleterandom  num deletes of random keys
 *   rangedel      num rounds of: one range deletion starting at a random
 *                 key i inside its group of 64 keys (a "file"): every
 *                 other one reaches the group's end, nested like a file
 *                 truncated again and again, the others span up to 8 keys;
 *                 a put and a get of random keys and an iterator seek to a
 *                 random key (reading one entry); ops counts rounds.
 *                 Also prints the mean CPU time (of the client thread) per
 *                 round in each tenth of the run (WINDOW lines;
 *                 first_us/last_us on the RESULT line): flat when a read
 *                 does not pay for the deletions before it.  lsm and
 *                 RocksDB (LevelDB has no range deletion: an error).
 *   deleteall     one range deletion of every key (engines with range
 *                 deletion), timed, ops=1
 *   idle          writes nothing for up to --idle_secs seconds, printing
 *                 the bytes of the files in DIR every second (IDLE lines)
 *                 and stopping once they have not changed for 10 s; the
 *                 RESULT line gives the bytes at the start and end and
 *                 settled_secs, when they last changed (what deletions give
 *                 back without new writes)
 *   compact       one full compaction (timed, ops=1)
 *   stats         prints the engine's statistics text (no RESULT line)
 *
 * Threads.  Each benchmark's work is split across --threads threads (unlike
 * db_bench, where each thread does the whole count).  Fills give each
 * thread a disjoint slice [t*num/T, (t+1)*num/T) of the key range
 * (fillrandom permutes its slice); random benchmarks split the operation
 * count and draw keys from the whole range; readseq splits the key range
 * and each thread scans its slice (the last slice is open-ended).
 * readwhilewriting runs T+1 threads: its writer is not one of the T.
 *
 * Measurement.  Every operation is timed with CLOCK_MONOTONIC into a
 * per-thread log-linear histogram (fixed memory) that is merged afterwards.
 * Elapsed time runs from the first thread's start to the last thread's end;
 * threads start together on a barrier.  mb_per_sec counts key+value bytes
 * moved (key bytes only for deletes and misses).  One line per benchmark:
 *
 *   RESULT engine=E bench=B ops=N secs=S ops_per_sec=R mb_per_sec=M
 *          p50_us=X p99_us=Y p999_us=Z max_us=Q [found=F]
 *          [write_ops=N write_ops_per_sec=R write_p50_us=X write_p99_us=Y
 *           write_p999_us=Z write_max_us=Q]   (readwhilewriting,
 *                                readrandomwriterandom, deleterange)
 *          [write_amp=W] [first_us=A last_us=B]   (rangedel)
 *
 * After each benchmark a line says where the resident memory is:
 *
 *   MEMORY engine=E rss_kb=R file_kb=F heap_kb=H anon_kb=A stack_kb=S
 *          malloc_used_kb=U malloc_free_kb=K malloc_mmapped_kb=M
 *
 * R = F + H + A + S from /proc/self/smaps (F: the program and libraries;
 * H: the brk heap; A: other anonymous mappings: glibc's thread arenas,
 * mmapped blocks, thread stacks), U/K/M from mallinfo2 over all arenas
 * (allocated; free but kept by malloc, resident unless malloc_trim gave
 * its pages back; of U, mmapped blocks).  RESULT
 * lines carry the engine's cache_mb and memtable_mb at the end.
 *
 * secs runs from the first thread's start to the last one's end (the
 * writer's too); write_ops_per_sec is over the same secs.  compact
 * and deleteall are one timed call each (ops=1).
 *
 * write_amp (write benchmarks and compact) is cumulative since the database
 * was opened by this process and is a snapshot: flushes and compactions
 * still pending when the benchmark ends are not counted.
 *   lsm      (flush + compaction bytes written) / user bytes written, from
 *            lsm_get_stats (its own "write_amp:" line divides by the
 *            batch records' bytes, 3 more a put here).
 *   rocksdb  (flush + compaction bytes written) / user bytes written, from
 *            the rocksdb.flush.write.bytes and rocksdb.compact.write.bytes
 *            tickers (statistics are enabled for this; the "rocksdb.stats"
 *            compaction table only has 0.1 GB resolution).
 *   leveldb  the Write(MB) column of "leveldb.stats" summed over levels
 *            (memtable flushes are accounted to their output level) /
 *            user bytes written.  LevelDB prints whole MB, so small runs
 *            are coarse.
 * User bytes are the key+value bytes of puts plus the key bytes of deletes
 * issued by this process since open.  Bytes written are table bytes on disk
 * (WAL excluded), after compression, so with zstd a value below 1 is normal
 * until compactions have rewritten the data.  RocksDB statistics time each
 * get and put internally; the cost was below the run-to-run noise here.
 *
 * Durability class.  All engines run in the same one, printed as
 * "durability: CLASS" before the results:
 *   process-crash   (default) every acknowledged write has reached the
 *                   kernel (one write(2) of the WAL per write group): it
 *                   survives a crash of the process, not power loss.  lsm
 *                   with manual_wal_flush off (its default), RocksDB with
 *                   manual_wal_flush off (its default, set explicitly),
 *                   LevelDB (it writes each log record out; no option).
 *   power-loss      --sync=1: the WAL is fsync'ed before every write is
 *                   acknowledged.
 *   buffered        --manual_wal_flush=1 (lsm and RocksDB only): up to
 *                   64 KiB (lsm) or the WAL writer's buffer (RocksDB) of
 *                   acknowledged writes stay in user space; a crash of
 *                   the process loses them.  For measuring what the
 *                   process-crash class costs.
 *
 * Engine settings are the same for all three: WAL on, the same sync flag,
 * bloom filter bits per key, an LRU block cache of cache_mb, a memtable of
 * memtable_mb, 4 KiB blocks, zstd level 1 or no compression, 1000 open
 * files.  lsm and RocksDB also share the level shape: L0 triggers 4/8/12,
 * two background jobs, 64 MiB target files and 256 MiB level 1 (unless
 * --target_file_mb, --level1_mb), and up to two
 * immutable memtables (RocksDB max_write_buffer_number 3).  LevelDB fixes
 * its own level shape and has no zstd: with --compression=zstd it runs
 * uncompressed and says so on stderr.
 *
 * Unless --use_existing_db=1 the contents of DIR are removed first (DIR
 * itself is kept; symbolic links are removed, never followed; the removal
 * refuses to cross into another file system and refuses "/").
 *
 * Exit status: 0 on success, 1 if an engine call failed, 2 on bad usage.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "lsm.h"
#ifdef HAVE_ROCKSDB
#include <rocksdb/c.h>
#endif
#ifdef HAVE_LEVELDB
#include <leveldb/c.h>
#endif

/* ------------------------------------------------------------------------ */
/* Configuration                                                            */

/* Level shape shared by the lsm and RocksDB engines. */
#define SHARED_L0_COMPACTION_TRIGGER 4
#define SHARED_L0_SLOWDOWN_TRIGGER   8
#define SHARED_L0_STOP_TRIGGER       12
#define SHARED_BACKGROUND_JOBS       2
#define SHARED_TARGET_FILE_BYTES     (64ull << 20)
#define SHARED_LEVEL1_BYTES          (256ull << 20)
#define SHARED_MAX_IMMUTABLE         2
#define SHARED_BLOCK_BYTES           4096
#define SHARED_MAX_OPEN_FILES        1000
#define SHARED_ZSTD_LEVEL            1

#define MAX_THREADS    1024
#define MAX_KEY_SIZE   4096
#define ERR_LEN        512
#define WINDOWS        10      /* rangedel reports cost per tenth of the run */
#define RANGEDEL_GROUP 64      /* rangedel: keys per "file" */

enum bench_kind {
    BENCH_FILLSEQ, BENCH_FILLRANDOM, BENCH_OVERWRITE, BENCH_READRANDOM,
    BENCH_READMISSING, BENCH_READSEQ, BENCH_DELETERANDOM, BENCH_STATS,
    BENCH_COMPACT, BENCH_RANGEDEL, BENCH_DELETEALL, BENCH_IDLE,
    BENCH_SEEKRANDOM, BENCH_READWHILEWRITING, BENCH_READRANDOMWRITERANDOM,
    BENCH_UPDATERANDOM, BENCH_DELETERANGE,
};

static const char *const bench_names[] = {
    [BENCH_FILLSEQ] = "fillseq",         [BENCH_FILLRANDOM] = "fillrandom",
    [BENCH_OVERWRITE] = "overwrite",     [BENCH_READRANDOM] = "readrandom",
    [BENCH_READMISSING] = "readmissing", [BENCH_READSEQ] = "readseq",
    [BENCH_DELETERANDOM] = "deleterandom", [BENCH_STATS] = "stats",
    [BENCH_COMPACT] = "compact",         [BENCH_RANGEDEL] = "rangedel",
    [BENCH_DELETEALL] = "deleteall",     [BENCH_IDLE] = "idle",
    [BENCH_SEEKRANDOM] = "seekrandom",
    [BENCH_READWHILEWRITING] = "readwhilewriting",
    [BENCH_READRANDOMWRITERANDOM] = "readrandomwriterandom",
    [BENCH_UPDATERANDOM] = "updaterandom",
    [BENCH_DELETERANGE] = "deleterange",
};
#define BENCH_KINDS ((int)(sizeof(bench_names) / sizeof(bench_names[0])))

struct config {
    const char *db;
    enum bench_kind benches[64];
    int nbenches;
    uint64_t num;
    uint64_t reads;
    int reads_set;
    size_t key_size;
    size_t value_size;
    int threads;
    int compress;            /* 1 = zstd, 0 = none */
    int bloom_bits;
    uint64_t cache_mb;
    uint64_t memtable_mb;
    uint64_t level1_mb, target_file_mb;   /* lsm and RocksDB level shape */
    uint64_t delayed_write_kb;   /* lsm only; 0 = the engine's default */
    int max_subcompactions;      /* lsm only; 0 = the engine's default */
    int background_nice;         /* lsm only; -1 = the engine's default */
    int table_meta_in_cache;     /* lsm only; -1 = the engine's default */
    int l0_self_merge;           /* lsm only; -1 = the engine's default */
    const char *log_path;        /* lsm only; NULL = no engine log */
    uint64_t idle_secs;
    uint64_t memory_sample_ms;   /* 0: no MEMSAMPLE lines */
    uint64_t seek_nexts;
    int readwritepercent;
    uint64_t range_tombstone_width;
    int sync;
    int manual_wal_flush;
    int tiered;                 /* --compaction_style=tiered (lsm) */
    int use_existing_db;
    uint64_t seed;
    const char *engine;
};

static void usage(FILE *out)
{
    fprintf(out,
        "usage: lsm-bench --db=DIR --benchmarks=LIST [options]\n"
        "  LIST: comma-separated fillseq,fillrandom,overwrite,readrandom,\n"
        "        readmissing,readseq,seekrandom,readwhilewriting,\n"
        "        readrandomwriterandom,updaterandom,deleterandom,deleterange,\n"
        "        rangedel,deleteall,idle,stats,compact\n"
        "  --num=N             keys in the key range (default 1000000)\n"
        "  --reads=N           operations of the random read and mixed\n"
        "                      benchmarks (default num)\n"
        "  --seek_nexts=N      nexts after each seek of seekrandom (default 0)\n"
        "  --readwritepercent=P  gets among 100 operations of\n"
        "                      readrandomwriterandom and deleterange\n"
        "                      (default 90)\n"
        "  --range_tombstone_width=N  keys per range deletion of\n"
        "                      deleterange (default 100)\n"
        "  --key_size=N        bytes per key (default 16)\n"
        "  --value_size=N      bytes per value (default 100)\n"
        "  --threads=N         client threads (default 1)\n"
        "  --compression=zstd|none   (default zstd)\n"
        "  --bloom_bits=N      bloom bits per key, 0 = off (default 10)\n"
        "  --cache_mb=N        block cache, at least 1 (default 64)\n"
        "  --memtable_mb=N     write buffer (default 64)\n"
        "  --level1_mb=N       level 1 target size, lsm and RocksDB\n"
        "                      (default 256)\n"
        "  --target_file_mb=N  table size, lsm and RocksDB (default 64);\n"
        "                      with the two above, a small store takes\n"
        "                      the level shape of a large one\n"
        "  --delayed_write_kb=N  lsm: delayed-write rate in KiB/s once\n"
        "                      level 0 reaches its slowdown trigger\n"
        "                      (default: the engine's)\n"
        "  --l0_self_merge=P   lsm: level0_self_merge_percent, 0 = off\n"
        "                      (default: the engine's)\n"
        "  --log=FILE          lsm: append the engine's log lines (every\n"
        "                      level, one line per compaction) to FILE\n"
        "  --table_meta_in_cache=0|1  lsm: indexes and filters in the\n"
        "                      block cache (default: the engine's, 1)\n"
        "  --max_subcompactions=N  lsm: ranges a large compaction is\n"
        "                      merged in parallel in (default: the engine's)\n"
        "  --background_nice=N lsm: nice added to the flush and compaction\n"
        "                      threads, 0..19 (default: the engine's)\n"
        "  --idle_secs=N       longest wait of idle (default 60)\n"
        "  --memory_sample_ms=N  print a MEMSAMPLE line every N ms\n"
        "                      (default 0: none)\n"
        "  --sync=0|1          fsync the WAL on every write (default 0)\n"
        "  --manual_wal_flush=0|1  keep acknowledged WAL records in a user-\n"
        "                      space buffer: not process-crash safe (lsm,\n"
        "                      rocksdb; default 0)\n"
        "  --compaction_style=leveled|tiered  lsm's compaction style (lsm\n"
        "                      only; default leveled)\n"
        "  --use_existing_db=0|1  keep DIR's contents (default 0)\n"
        "  --seed=S            random seed (default 301)\n"
        "  --engine=lsm|rocksdb|leveldb  (default lsm)\n");
}

static void usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("lsm-bench: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (see --help)\n", stderr);
    exit(2);
}

/* Parses an unsigned decimal in [lo, hi]; anything else is a usage error. */
static uint64_t parse_u64(const char *opt, const char *s, uint64_t lo,
                          uint64_t hi)
{
    char *end;
    unsigned long long v;
    if (*s < '0' || *s > '9')
        usage_error("%s: '%s' is not a non-negative integer", opt, s);
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno == ERANGE || *end != '\0')
        usage_error("%s: '%s' is not a non-negative integer", opt, s);
    if (v < lo || v > hi)
        usage_error("%s: %llu is out of range [%llu, %llu]", opt, v,
                    (unsigned long long)lo, (unsigned long long)hi);
    return v;
}

static void parse_benchmarks(struct config *cfg, const char *list)
{
    const char *p = list;
    cfg->nbenches = 0;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        int k, found = -1;
        for (k = 0; k < BENCH_KINDS; k++)
            if (strlen(bench_names[k]) == len &&
                memcmp(bench_names[k], p, len) == 0)
                found = k;
        if (len > 0) {
            if (found < 0)
                usage_error("unknown benchmark '%.*s'", (int)len, p);
            if (cfg->nbenches == (int)(sizeof(cfg->benches) /
                                       sizeof(cfg->benches[0])))
                usage_error("too many benchmarks (at most %zu)",
                            sizeof(cfg->benches) / sizeof(cfg->benches[0]));
            cfg->benches[cfg->nbenches++] = (enum bench_kind)found;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    if (cfg->nbenches == 0)
        usage_error("--benchmarks lists no benchmark");
}

/* Decimal digits needed to print v. */
static size_t decimal_digits(uint64_t v)
{
    size_t d = 1;
    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

static void parse_args(int argc, char **argv, struct config *cfg)
{
    int have_benchmarks = 0;
    memset(cfg, 0, sizeof(*cfg));
    cfg->num = 1000000;
    cfg->key_size = 16;
    cfg->value_size = 100;
    cfg->threads = 1;
    cfg->compress = 1;
    cfg->bloom_bits = 10;
    cfg->cache_mb = 64;
    cfg->memtable_mb = 64;
    cfg->table_meta_in_cache = -1;
    cfg->l0_self_merge = -1;
    cfg->background_nice = -1;
    cfg->level1_mb = SHARED_LEVEL1_BYTES >> 20;
    cfg->target_file_mb = SHARED_TARGET_FILE_BYTES >> 20;
    cfg->idle_secs = 60;
    cfg->readwritepercent = 90;
    cfg->range_tombstone_width = 100;
    cfg->seed = 301;
    cfg->engine = "lsm";

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *eq = strchr(a, '=');
        char name[64];
        const char *v;
        size_t nlen;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (strncmp(a, "--", 2) != 0 || eq == NULL)
            usage_error("bad argument '%s': expected --name=value", a);
        nlen = (size_t)(eq - a);
        if (nlen >= sizeof(name))
            usage_error("unknown option '%.*s'", (int)nlen, a);
        memcpy(name, a, nlen);
        name[nlen] = '\0';
        v = eq + 1;

        if (strcmp(name, "--db") == 0) {
            if (*v == '\0')
                usage_error("--db: empty directory name");
            cfg->db = v;
        } else if (strcmp(name, "--benchmarks") == 0) {
            parse_benchmarks(cfg, v);
            have_benchmarks = 1;
        } else if (strcmp(name, "--num") == 0) {
            cfg->num = parse_u64(name, v, 1, 1000000000000000ull);
        } else if (strcmp(name, "--reads") == 0) {
            cfg->reads = parse_u64(name, v, 0, 1000000000000000ull);
            cfg->reads_set = 1;
        } else if (strcmp(name, "--seek_nexts") == 0) {
            cfg->seek_nexts = parse_u64(name, v, 0, 1000000000000000ull);
        } else if (strcmp(name, "--readwritepercent") == 0) {
            cfg->readwritepercent = (int)parse_u64(name, v, 0, 100);
        } else if (strcmp(name, "--range_tombstone_width") == 0) {
            cfg->range_tombstone_width =
                parse_u64(name, v, 1, 1000000000000000ull);
        } else if (strcmp(name, "--key_size") == 0) {
            cfg->key_size = parse_u64(name, v, 1, MAX_KEY_SIZE);
        } else if (strcmp(name, "--value_size") == 0) {
            cfg->value_size = parse_u64(name, v, 0, LSM_MAX_VALUE);
        } else if (strcmp(name, "--threads") == 0) {
            cfg->threads = (int)parse_u64(name, v, 1, MAX_THREADS);
        } else if (strcmp(name, "--compression") == 0) {
            if (strcmp(v, "zstd") == 0)
                cfg->compress = 1;
            else if (strcmp(v, "none") == 0)
                cfg->compress = 0;
            else
                usage_error("--compression: '%s' is not zstd or none", v);
        } else if (strcmp(name, "--bloom_bits") == 0) {
            cfg->bloom_bits = (int)parse_u64(name, v, 0, 64);
        } else if (strcmp(name, "--cache_mb") == 0) {
            cfg->cache_mb = parse_u64(name, v, 1, 1u << 20);
        } else if (strcmp(name, "--idle_secs") == 0) {
            cfg->idle_secs = parse_u64(name, v, 1, 86400);
        } else if (strcmp(name, "--memory_sample_ms") == 0) {
            cfg->memory_sample_ms = parse_u64(name, v, 0, 3600000);
        } else if (strcmp(name, "--max_subcompactions") == 0) {
            cfg->max_subcompactions = (int)parse_u64(name, v, 1, 16);
        } else if (strcmp(name, "--background_nice") == 0) {
            cfg->background_nice = (int)parse_u64(name, v, 0, 19);
        } else if (strcmp(name, "--delayed_write_kb") == 0) {
            cfg->delayed_write_kb = parse_u64(name, v, 1, 1u << 30);
        } else if (strcmp(name, "--memtable_mb") == 0) {
            cfg->memtable_mb = parse_u64(name, v, 1, 1u << 16);
        } else if (strcmp(name, "--l0_self_merge") == 0) {
            cfg->l0_self_merge = (int)parse_u64(name, v, 0, 10000);
        } else if (strcmp(name, "--log") == 0) {
            cfg->log_path = v;
        } else if (strcmp(name, "--table_meta_in_cache") == 0) {
            cfg->table_meta_in_cache = (int)parse_u64(name, v, 0, 1);
        } else if (strcmp(name, "--level1_mb") == 0) {
            cfg->level1_mb = parse_u64(name, v, 1, 1u << 20);
        } else if (strcmp(name, "--target_file_mb") == 0) {
            cfg->target_file_mb = parse_u64(name, v, 1, 1u << 16);
        } else if (strcmp(name, "--sync") == 0) {
            cfg->sync = (int)parse_u64(name, v, 0, 1);
        } else if (strcmp(name, "--manual_wal_flush") == 0) {
            cfg->manual_wal_flush = (int)parse_u64(name, v, 0, 1);
        } else if (strcmp(name, "--compaction_style") == 0) {
            if (strcmp(v, "leveled") == 0)
                cfg->tiered = 0;
            else if (strcmp(v, "tiered") == 0)
                cfg->tiered = 1;
            else
                usage_error("--compaction_style: '%s' is not leveled or tiered", v);
        } else if (strcmp(name, "--use_existing_db") == 0) {
            cfg->use_existing_db = (int)parse_u64(name, v, 0, 1);
        } else if (strcmp(name, "--seed") == 0) {
            cfg->seed = parse_u64(name, v, 0, UINT64_MAX);
        } else if (strcmp(name, "--engine") == 0) {
            if (strcmp(v, "lsm") != 0 && strcmp(v, "rocksdb") != 0 &&
                strcmp(v, "leveldb") != 0)
                usage_error("--engine: '%s' is not lsm, rocksdb or leveldb",
                            v);
            cfg->engine = v;
        } else {
            usage_error("unknown option '%s'", name);
        }
    }
    if (cfg->db == NULL)
        usage_error("--db=DIR is required");
    if (!have_benchmarks)
        usage_error("--benchmarks=LIST is required");
    if (!cfg->reads_set)
        cfg->reads = cfg->num;
    if (cfg->manual_wal_flush && strcmp(cfg->engine, "leveldb") == 0)
        usage_error("--manual_wal_flush=1: LevelDB has no buffered WAL mode");
    if (cfg->manual_wal_flush && cfg->sync)
        usage_error("--manual_wal_flush=1 and --sync=1 contradict each other");
    if (decimal_digits(cfg->num - 1) > cfg->key_size)
        usage_error("--key_size=%zu is too small for --num=%llu (keys need "
                    "%zu digits)", cfg->key_size,
                    (unsigned long long)cfg->num,
                    decimal_digits(cfg->num - 1));
}

/* ------------------------------------------------------------------------ */
/* Keys, values, random numbers                                             */

/* splitmix64: a tiny generator with good statistical quality; the state is
 * per thread so threads never share a cache line. */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) by multiply-shift (bias below 2^-40 for our n). */
static uint64_t rng_below(uint64_t *state, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rng_next(state) * n) >> 64);
}

/* Writes the decimal of v, zero-padded to width, into out[0..width). */
static void put_decimal(char *out, size_t width, uint64_t v)
{
    size_t i = width;
    while (i > 0) {
        out[--i] = (char)('0' + v % 10);
        v /= 10;
    }
}

static void make_key(const struct config *cfg, char *out, uint64_t i)
{
    put_decimal(out, cfg->key_size, i);
}

/* A key of the same length as real keys that is never written: real keys
 * are all digits, this one ends in 'm'. */
static void make_missing_key(const struct config *cfg, char *out, uint64_t i)
{
    if (cfg->key_size > 1 && decimal_digits(i) < cfg->key_size)
        put_decimal(out, cfg->key_size - 1, i);
    else
        put_decimal(out, cfg->key_size, i);
    out[cfg->key_size - 1] = 'm';
}

/* Value pool: pieces of 100 bytes, each 50 random bytes and a copy of
 * them, so zstd halves it while no two pieces repeat.  Values are
 * consecutive slices; a slice that would run past the end wraps to 0. */
struct value_pool {
    char *data;
    size_t len;
};

#define VALUE_PIECE 100
#define VALUE_POOL_MIN (1u << 20)

static int value_pool_init(struct value_pool *pool, size_t value_size,
                           uint64_t seed)
{
    uint64_t rng = seed ^ 0x5eedc0ffee15bad5ull;
    size_t len = value_size > VALUE_POOL_MIN ? value_size : VALUE_POOL_MIN;
    pool->data = malloc(len);
    if (pool->data == NULL)
        return -1;
    pool->len = len;
    for (size_t off = 0; off < len; off += VALUE_PIECE) {
        size_t piece = len - off < VALUE_PIECE ? len - off : VALUE_PIECE;
        size_t half = (piece + 1) / 2;
        for (size_t j = 0; j < half; j++)
            pool->data[off + j] = (char)(rng_next(&rng) & 0xff);
        memcpy(pool->data + off + half, pool->data + off, piece - half);
    }
    return 0;
}

static const char *value_next(const struct value_pool *pool, size_t *pos,
                              size_t size)
{
    const char *v;
    if (*pos + size > pool->len)
        *pos = 0;
    v = pool->data + *pos;
    *pos += size;
    return v;
}

/* A random permutation of [0, n) in O(1) memory: a 4-round Feistel network
 * on 2h bits (2^2h >= n) is a bijection of [0, 2^2h); walking the cycle
 * until the value falls below n restricts it to a bijection of [0, n).
 * 2^2h < 4n, so a step costs under four rounds-of-four on average. */
struct permutation {
    uint64_t n;
    unsigned half_bits;
    uint64_t half_mask;
    uint64_t round_keys[4];
};

static void permutation_init(struct permutation *p, uint64_t n, uint64_t *rng)
{
    unsigned bits = 2;
    while (bits < 64 && (1ull << bits) < n)
        bits++;
    p->n = n;
    p->half_bits = (bits + 1) / 2;
    p->half_mask = (1ull << p->half_bits) - 1;
    for (int r = 0; r < 4; r++)
        p->round_keys[r] = rng_next(rng);
}

static uint64_t feistel_round(uint64_t x, uint64_t key)
{
    uint64_t s = x ^ key;
    return rng_next(&s);
}

static uint64_t permutation_at(const struct permutation *p, uint64_t i)
{
    uint64_t x = i;
    do {
        uint64_t left = x >> p->half_bits, right = x & p->half_mask;
        for (int r = 0; r < 4; r++) {
            uint64_t next = left ^ (feistel_round(right, p->round_keys[r]) &
                                    p->half_mask);
            left = right;
            right = next;
        }
        x = (left << p->half_bits) | right;
    } while (x >= p->n);
    return x;
}

/* ------------------------------------------------------------------------ */
/* Latency histogram                                                        */

/* Log-linear buckets over nanoseconds: values below 64 have a bucket each;
 * above, each power of two [2^m, 2^(m+1)) is split into 64 equal buckets,
 * so a bucket's width is at most 1/64 of its lower bound (under 1.6%
 * error; reporting the midpoint halves that).  Covers all of uint64. */
#define HIST_SUB_BITS 6
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_BUCKETS  (HIST_SUB + (64 - HIST_SUB_BITS) * HIST_SUB)

struct histogram {
    uint64_t count;
    uint64_t max;
    uint64_t buckets[HIST_BUCKETS];
};

static unsigned hist_index(uint64_t v)
{
    unsigned mag, shift;
    if (v < HIST_SUB)
        return (unsigned)v;
    mag = 63u - (unsigned)__builtin_clzll(v);        /* >= HIST_SUB_BITS */
    shift = mag - HIST_SUB_BITS;
    return HIST_SUB + shift * HIST_SUB +
           (unsigned)((v >> shift) - HIST_SUB);
}

/* Midpoint of bucket idx, in nanoseconds. */
static double hist_bucket_mid(unsigned idx)
{
    unsigned shift, sub;
    double lo, width;
    if (idx < HIST_SUB)
        return idx;
    shift = (idx - HIST_SUB) / HIST_SUB;
    sub = (idx - HIST_SUB) % HIST_SUB;
    lo = (double)((uint64_t)(HIST_SUB + sub) << shift);
    width = (double)(1ull << shift);
    return lo + (width - 1) / 2;
}

static void hist_add(struct histogram *h, uint64_t ns)
{
    h->buckets[hist_index(ns)]++;
    h->count++;
    if (ns > h->max)
        h->max = ns;
}

static void hist_merge(struct histogram *dst, const struct histogram *src)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    dst->count += src->count;
    if (src->max > dst->max)
        dst->max = src->max;
}

/* The q-quantile (0 < q <= 1) in microseconds: the midpoint of the bucket
 * holding the ceil(q*count)-th smallest value, capped at the exact max. */
static double hist_percentile_us(const struct histogram *h, double q)
{
    uint64_t rank, seen = 0;
    if (h->count == 0)
        return 0;
    rank = (uint64_t)(q * (double)h->count);
    if ((double)rank < q * (double)h->count)
        rank++;
    if (rank == 0)
        rank = 1;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            double mid = hist_bucket_mid(i);
            if (mid > (double)h->max)
                mid = (double)h->max;
            return mid / 1000.0;
        }
    }
    return (double)h->max / 1000.0;
}

/* CPU time of the calling thread: on a busy machine a steadier measure
 * of work than elapsed time. */
static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------------ */
/* Engine abstraction                                                       */

/* What an engine counts since it opened: block cache lookups, point
 * lookups a bloom filter answered (useful: the table was skipped), the
 * time writers were stalled or slowed, and the bytes of table metadata
 * (indexes and filters of open tables) it holds in memory now. */
struct counters {
    double cache_hits, cache_misses, bloom_checks, bloom_useful, stall_us;
    double table_meta_bytes;
    double cache_bytes, memtable_bytes;   /* in memory now */
};

/* Every call returns 0 or -1 with a message in err[ERR_LEN].  Handles are
 * opaque; a db handle may be used by all threads at once, an iterator by
 * one thread. */
struct engine_ops {
    const char *name;
    const char *stats_property;
    int (*open)(const struct config *cfg, void **db, char *err);
    int (*put)(void *db, const char *k, size_t kl, const char *v, size_t vl,
               char *err);
    /* *found = 1 and *vlen set on a hit, *found = 0 on a miss. */
    int (*get)(void *db, const char *k, size_t kl, int *found, size_t *vlen,
               char *err);
    int (*del)(void *db, const char *k, size_t kl, char *err);
    /* Removes [b, e); NULL when the engine has no range deletion here. */
    int (*del_range)(void *db, const char *b, size_t bl, const char *e,
                     size_t el, char *err);
    void *(*iter_new)(void *db, char *err);
    void (*iter_first)(void *it);
    void (*iter_seek)(void *it, const char *k, size_t kl);
    int (*iter_valid)(void *it);
    void (*iter_next)(void *it);
    const char *(*iter_key)(void *it, size_t *kl, size_t *vl);
    /* Frees the iterator; fails if the iterator stopped on an error. */
    int (*iter_free)(void *it, char *err);
    /* *out is malloc'ed (free()). */
    int (*property)(void *db, const char *name, char **out, char *err);
    int (*compact)(void *db, char *err);
    /* Returns 1 and sets *amp when the engine can report write
     * amplification; user_bytes is what this process wrote since open. */
    int (*write_amp)(void *db, uint64_t user_bytes, double *amp);
    /* Cumulative counters since open (NULL: the engine has none). */
    void (*counters)(void *db, struct counters *c);
    void (*close)(void *db);
};

static void set_err(char *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_err(char *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, ERR_LEN, fmt, ap);
    va_end(ap);
}

/* Finds the first line starting with `label` and parses the double after
 * it; returns 1 on success. */
static int parse_labeled_double(const char *text, const char *label,
                                double *out)
{
    size_t llen = strlen(label);
    const char *line = text;
    while (line && *line) {
        if (strncmp(line, label, llen) == 0) {
            char *end;
            double v = strtod(line + llen, &end);
            if (end != line + llen) {
                *out = v;
                return 1;
            }
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return 0;
}

/* --- lsm ---------------------------------------------------------------- */

struct lsm_handle {
    lsm_db *db;
    int wflags;
    lsm_read_options ro;
    FILE *log;              /* --log, or NULL */
};

/* lsm_options.log for --log: each line with the seconds since the epoch. */
static void lsm_e_log(void *ctx, int level, const char *line)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    fprintf(ctx, "%lld.%03ld <%d> %s\n", (long long)ts.tv_sec,
            ts.tv_nsec / 1000000, level, line);
    fflush(ctx);
}

static int lsm_e_open(const struct config *cfg, void **out, char *err)
{
    lsm_options opt;
    struct lsm_handle *h = calloc(1, sizeof(*h));
    int rc;
    if (h == NULL) {
        set_err(err, "out of memory");
        return -1;
    }
    lsm_options_init(&opt);
    opt.memtable_bytes = (size_t)cfg->memtable_mb << 20;
    opt.max_immutable_memtables = SHARED_MAX_IMMUTABLE;
    opt.block_bytes = SHARED_BLOCK_BYTES;
    opt.bloom_bits_per_key = cfg->bloom_bits;
    opt.compression = cfg->compress ? LSM_COMPRESS_ZSTD : LSM_COMPRESS_NONE;
    opt.zstd_level = SHARED_ZSTD_LEVEL;
    opt.cache_bytes = (size_t)cfg->cache_mb << 20;
    opt.max_open_files = SHARED_MAX_OPEN_FILES;
    opt.create_if_missing = 1;
    opt.flush_threads = 1;
    opt.compaction_threads = SHARED_BACKGROUND_JOBS - 1;
    opt.level0_compaction_trigger = SHARED_L0_COMPACTION_TRIGGER;
    opt.level0_slowdown_trigger = SHARED_L0_SLOWDOWN_TRIGGER;
    opt.level0_stop_trigger = SHARED_L0_STOP_TRIGGER;
    opt.level1_bytes = cfg->level1_mb << 20;
    opt.target_file_bytes = cfg->target_file_mb << 20;
    opt.manual_wal_flush = cfg->manual_wal_flush;
    if (cfg->max_subcompactions)
        opt.max_subcompactions = cfg->max_subcompactions;
    if (cfg->background_nice >= 0)
        opt.background_nice = cfg->background_nice;
    if (cfg->table_meta_in_cache >= 0)
        opt.table_meta_in_cache = cfg->table_meta_in_cache;
    if (cfg->l0_self_merge >= 0)
        opt.level0_self_merge_percent = cfg->l0_self_merge;
    if (cfg->delayed_write_kb)
        opt.delayed_write_rate = cfg->delayed_write_kb << 10;
    opt.compaction_style = cfg->tiered ? LSM_COMPACTION_TIERED : LSM_COMPACTION_LEVELED;
    if (cfg->log_path && !(h->log = fopen(cfg->log_path, "a"))) {
        set_err(err, "--log %s: %s", cfg->log_path, strerror(errno));
        free(h);
        return -1;
    }
    if (h->log) {
        opt.log = lsm_e_log;
        opt.log_ctx = h->log;
    }
    rc = lsm_open(cfg->db, &opt, &h->db);
    if (rc != LSM_OK) {
        set_err(err, "lsm_open %s: %s: %s", cfg->db, lsm_status_name(rc),
                lsm_last_error());
        if (h->log)
            fclose(h->log);
        free(h);
        return -1;
    }
    h->wflags = cfg->sync ? LSM_SYNC : 0;
    /* h->ro stays zeroed by calloc: latest state, blocks cached. */
    *out = h;
    return 0;
}

static int lsm_e_put(void *db, const char *k, size_t kl, const char *v,
                     size_t vl, char *err)
{
    struct lsm_handle *h = db;
    int rc = lsm_put(h->db, k, kl, v, vl, h->wflags);
    if (rc != LSM_OK) {
        set_err(err, "lsm_put: %s: %s", lsm_status_name(rc),
                lsm_last_error());
        return -1;
    }
    return 0;
}

static int lsm_e_get(void *db, const char *k, size_t kl, int *found,
                     size_t *vlen, char *err)
{
    struct lsm_handle *h = db;
    void *val = NULL;
    int rc = lsm_get(h->db, &h->ro, k, kl, &val, vlen);
    if (rc == LSM_NOT_FOUND) {
        *found = 0;
        return 0;
    }
    if (rc != LSM_OK) {
        set_err(err, "lsm_get: %s: %s", lsm_status_name(rc),
                lsm_last_error());
        return -1;
    }
    lsm_free(val);
    *found = 1;
    return 0;
}

static int lsm_e_del(void *db, const char *k, size_t kl, char *err)
{
    struct lsm_handle *h = db;
    int rc = lsm_delete(h->db, k, kl, h->wflags);
    if (rc != LSM_OK) {
        set_err(err, "lsm_delete: %s: %s", lsm_status_name(rc),
                lsm_last_error());
        return -1;
    }
    return 0;
}

static int lsm_e_del_range(void *db, const char *b, size_t bl, const char *e,
                           size_t el, char *err)
{
    struct lsm_handle *h = db;
    int rc = lsm_delete_range(h->db, b, bl, e, el, h->wflags);
    if (rc != LSM_OK) {
        set_err(err, "lsm_delete_range: %s: %s", lsm_status_name(rc),
                lsm_last_error());
        return -1;
    }
    return 0;
}

static void *lsm_e_iter_new(void *db, char *err)
{
    struct lsm_handle *h = db;
    lsm_iter *it = lsm_iter_new(h->db, &h->ro);
    if (it == NULL)
        set_err(err, "lsm_iter_new: %s", lsm_last_error());
    return it;
}

static void lsm_e_iter_first(void *it) { lsm_iter_first(it); }
static void lsm_e_iter_seek(void *it, const char *k, size_t kl)
{
    lsm_iter_seek(it, k, kl);
}
static int lsm_e_iter_valid(void *it) { return lsm_iter_valid(it); }
static void lsm_e_iter_next(void *it) { lsm_iter_next(it); }

static const char *lsm_e_iter_key(void *it, size_t *kl, size_t *vl)
{
    lsm_iter_value(it, vl);
    return lsm_iter_key(it, kl);
}

static int lsm_e_iter_free(void *it, char *err)
{
    int rc = lsm_iter_status(it);
    if (rc != LSM_OK)
        set_err(err, "lsm iterator: %s: %s", lsm_status_name(rc),
                lsm_last_error());
    lsm_iter_free(it);
    return rc == LSM_OK ? 0 : -1;
}

static int lsm_e_property(void *db, const char *name, char **out, char *err)
{
    struct lsm_handle *h = db;
    char *text = NULL;
    int rc = lsm_property(h->db, name, &text);
    if (rc != LSM_OK) {
        set_err(err, "lsm_property %s: %s: %s", name, lsm_status_name(rc),
                lsm_last_error());
        return -1;
    }
    *out = strdup(text ? text : "");
    lsm_free(text);
    if (*out == NULL) {
        set_err(err, "out of memory");
        return -1;
    }
    return 0;
}

static int lsm_e_compact(void *db, char *err)
{
    struct lsm_handle *h = db;
    int rc = lsm_compact(h->db);
    if (rc != LSM_OK) {
        set_err(err, "lsm_compact: %s: %s", lsm_status_name(rc),
                lsm_last_error());
        return -1;
    }
    return 0;
}

/* Table bytes the engine wrote (flushes and compactions) over the key and
 * value bytes this process put, as for RocksDB.  Not the engine's own
 * write_amp, whose user bytes are the batch records' (kind and length
 * varints too: 119 bytes a put of 16 + 100, which read 2.6% low). */
static int lsm_e_write_amp(void *db, uint64_t user_bytes, double *amp)
{
    struct lsm_handle *h = db;
    lsm_stats st;
    if (user_bytes == 0)
        return 0;
    lsm_get_stats(h->db, &st);
    *amp = (double)(st.flush_bytes + st.compaction_bytes_written) /
           (double)user_bytes;
    return 1;
}

static void lsm_e_counters(void *db, struct counters *c)
{
    struct lsm_handle *h = db;
    lsm_stats st;
    lsm_get_stats(h->db, &st);
    c->cache_hits = (double)st.cache_hits;
    c->cache_misses = (double)st.cache_misses;
    c->bloom_checks = (double)st.bloom_checks;
    c->bloom_useful = (double)st.bloom_useful;
    c->stall_us = (double)(st.stall_micros + st.slowdown_micros);
    c->table_meta_bytes = (double)st.table_meta_bytes;
    c->cache_bytes = (double)st.cache_bytes;
    c->memtable_bytes = (double)st.memtable_bytes;
}

static void lsm_e_close(void *db)
{
    struct lsm_handle *h = db;
    int rc = lsm_close(h->db);
    if (rc != LSM_OK)
        fprintf(stderr, "lsm-bench: lsm_close: %s: %s\n",
                lsm_status_name(rc), lsm_last_error());
    if (h->log)
        fclose(h->log);
    free(h);
}

static const struct engine_ops lsm_engine = {
    .name = "lsm",
    .stats_property = "stats",
    .open = lsm_e_open,
    .put = lsm_e_put,
    .get = lsm_e_get,
    .del = lsm_e_del,
    .del_range = lsm_e_del_range,
    .iter_new = lsm_e_iter_new,
    .iter_first = lsm_e_iter_first,
    .iter_seek = lsm_e_iter_seek,
    .iter_valid = lsm_e_iter_valid,
    .iter_next = lsm_e_iter_next,
    .iter_key = lsm_e_iter_key,
    .iter_free = lsm_e_iter_free,
    .property = lsm_e_property,
    .compact = lsm_e_compact,
    .write_amp = lsm_e_write_amp,
    .counters = lsm_e_counters,
    .close = lsm_e_close,
};

/* --- RocksDB ------------------------------------------------------------ */
#ifdef HAVE_ROCKSDB

struct rocks_handle {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_writeoptions_t *wo;
    rocksdb_readoptions_t *ro;
    rocksdb_cache_t *cache;
};

/* Moves a RocksDB error string into err; returns -1 if there was one. */
static int rocks_check(char *rerr, const char *what, char *err)
{
    if (rerr == NULL)
        return 0;
    set_err(err, "%s: %s", what, rerr);
    rocksdb_free(rerr);
    return -1;
}

static int rocks_open(const struct config *cfg, void **out, char *err)
{
    struct rocks_handle *h = calloc(1, sizeof(*h));
    rocksdb_block_based_table_options_t *bbto;
    char *rerr = NULL;
    if (h == NULL) {
        set_err(err, "out of memory");
        return -1;
    }
    h->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(h->opts, 1);
    rocksdb_options_set_write_buffer_size(h->opts,
                                          (size_t)cfg->memtable_mb << 20);
    rocksdb_options_set_max_write_buffer_number(h->opts,
                                                1 + SHARED_MAX_IMMUTABLE);
    rocksdb_options_set_max_open_files(h->opts, SHARED_MAX_OPEN_FILES);
    rocksdb_options_set_level0_file_num_compaction_trigger(
        h->opts, SHARED_L0_COMPACTION_TRIGGER);
    rocksdb_options_set_level0_slowdown_writes_trigger(
        h->opts, SHARED_L0_SLOWDOWN_TRIGGER);
    rocksdb_options_set_level0_stop_writes_trigger(h->opts,
                                                   SHARED_L0_STOP_TRIGGER);
    rocksdb_options_set_max_background_jobs(h->opts, SHARED_BACKGROUND_JOBS);
    rocksdb_options_set_target_file_size_base(h->opts,
                                              cfg->target_file_mb << 20);
    rocksdb_options_set_max_bytes_for_level_base(h->opts,
                                                 cfg->level1_mb << 20);
    rocksdb_options_set_compression(
        h->opts, cfg->compress ? rocksdb_zstd_compression
                               : rocksdb_no_compression);
    /* window_bits, level, strategy, max_dict_bytes: RocksDB's defaults
     * except the level, which matches lsm's zstd level. */
    rocksdb_options_set_compression_options(h->opts, -14, SHARED_ZSTD_LEVEL,
                                            0, 0);
    /* Off is RocksDB's default, set anyway: the durability class. */
    rocksdb_options_set_manual_wal_flush(h->opts,
                                         (unsigned char)cfg->manual_wal_flush);
    /* Tickers give exact flush/compaction byte counts for write_amp. */
    rocksdb_options_enable_statistics(h->opts);

    bbto = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_size(bbto, SHARED_BLOCK_BYTES);
    if (cfg->bloom_bits > 0)   /* the table options take ownership */
        rocksdb_block_based_options_set_filter_policy(
            bbto, rocksdb_filterpolicy_create_bloom_full(cfg->bloom_bits));
    h->cache = rocksdb_cache_create_lru((size_t)cfg->cache_mb << 20);
    rocksdb_block_based_options_set_block_cache(bbto, h->cache);
    rocksdb_options_set_block_based_table_factory(h->opts, bbto);
    rocksdb_block_based_options_destroy(bbto);

    h->wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(h->wo, (unsigned char)cfg->sync);
    h->ro = rocksdb_readoptions_create();

    h->db = rocksdb_open(h->opts, cfg->db, &rerr);
    if (rocks_check(rerr, "rocksdb_open", err) != 0) {
        rocksdb_readoptions_destroy(h->ro);
        rocksdb_writeoptions_destroy(h->wo);
        rocksdb_options_destroy(h->opts);
        rocksdb_cache_destroy(h->cache);
        free(h);
        return -1;
    }
    *out = h;
    return 0;
}

static int rocks_put(void *db, const char *k, size_t kl, const char *v,
                     size_t vl, char *err)
{
    struct rocks_handle *h = db;
    char *rerr = NULL;
    rocksdb_put(h->db, h->wo, k, kl, v, vl, &rerr);
    return rocks_check(rerr, "rocksdb_put", err);
}

static int rocks_get(void *db, const char *k, size_t kl, int *found,
                     size_t *vlen, char *err)
{
    struct rocks_handle *h = db;
    char *rerr = NULL;
    char *v = rocksdb_get(h->db, h->ro, k, kl, vlen, &rerr);
    if (rocks_check(rerr, "rocksdb_get", err) != 0)
        return -1;
    *found = v != NULL;
    rocksdb_free(v);
    return 0;
}

static int rocks_del(void *db, const char *k, size_t kl, char *err)
{
    struct rocks_handle *h = db;
    char *rerr = NULL;
    rocksdb_delete(h->db, h->wo, k, kl, &rerr);
    return rocks_check(rerr, "rocksdb_delete", err);
}

/* The C API's DeleteRange needs a column family handle; a one-entry batch
 * is what DB::DeleteRange builds internally, so the cost is the same. */
static int rocks_del_range(void *db, const char *b, size_t bl, const char *e,
                           size_t el, char *err)
{
    struct rocks_handle *h = db;
    char *rerr = NULL;
    rocksdb_writebatch_t *batch = rocksdb_writebatch_create();
    rocksdb_writebatch_delete_range(batch, b, bl, e, el);
    rocksdb_write(h->db, h->wo, batch, &rerr);
    rocksdb_writebatch_destroy(batch);
    return rocks_check(rerr, "rocksdb_write (delete range)", err);
}

static void *rocks_iter_new(void *db, char *err)
{
    struct rocks_handle *h = db;
    rocksdb_iterator_t *it = rocksdb_create_iterator(h->db, h->ro);
    if (it == NULL)
        set_err(err, "rocksdb_create_iterator failed");
    return it;
}

static void rocks_iter_first(void *it) { rocksdb_iter_seek_to_first(it); }
static void rocks_iter_seek(void *it, const char *k, size_t kl)
{
    rocksdb_iter_seek(it, k, kl);
}
static int rocks_iter_valid(void *it) { return rocksdb_iter_valid(it); }
static void rocks_iter_next(void *it) { rocksdb_iter_next(it); }

static const char *rocks_iter_key(void *it, size_t *kl, size_t *vl)
{
    rocksdb_iter_value(it, vl);
    return rocksdb_iter_key(it, kl);
}

static int rocks_iter_free(void *it, char *err)
{
    char *rerr = NULL;
    rocksdb_iter_get_error(it, &rerr);
    rocksdb_iter_destroy(it);
    return rocks_check(rerr, "rocksdb iterator", err);
}

static int rocks_property(void *db, const char *name, char **out, char *err)
{
    struct rocks_handle *h = db;
    char *v = rocksdb_property_value(h->db, name);
    if (v == NULL) {
        set_err(err, "rocksdb has no property %s", name);
        return -1;
    }
    *out = strdup(v);
    rocksdb_free(v);
    if (*out == NULL) {
        set_err(err, "out of memory");
        return -1;
    }
    return 0;
}

static int rocks_compact(void *db, char *err)
{
    struct rocks_handle *h = db;
    (void)err;
    rocksdb_compact_range(h->db, NULL, 0, NULL, 0);
    return 0;
}

/* The statistics string has lines "rocksdb.flush.write.bytes COUNT : N". */
static int rocks_write_amp(void *db, uint64_t user_bytes, double *amp)
{
    struct rocks_handle *h = db;
    char *s = rocksdb_options_statistics_get_string(h->opts);
    double flush, compact;
    int ok;
    if (s == NULL)
        return 0;
    ok = parse_labeled_double(s, "rocksdb.flush.write.bytes COUNT :",
                              &flush) &&
         parse_labeled_double(s, "rocksdb.compact.write.bytes COUNT :",
                              &compact) &&
         user_bytes > 0;
    if (ok)
        *amp = (flush + compact) / (double)user_bytes;
    rocksdb_free(s);
    return ok;
}

/* Tickers of the statistics string ("rocksdb.stall.micros COUNT : N":
 * writers delayed or stopped) and the table readers' memory (indexes and
 * filters, outside the block cache as in lsm). */
static void rocks_counters(void *db, struct counters *c)
{
    struct rocks_handle *h = db;
    char *s = rocksdb_options_statistics_get_string(h->opts);
    double positive = 0;
    if (s != NULL) {
        parse_labeled_double(s, "rocksdb.block.cache.hit COUNT :", &c->cache_hits);
        parse_labeled_double(s, "rocksdb.block.cache.miss COUNT :",
                             &c->cache_misses);
        parse_labeled_double(s, "rocksdb.bloom.filter.useful COUNT :",
                             &c->bloom_useful);
        parse_labeled_double(s, "rocksdb.bloom.filter.full.positive COUNT :",
                             &positive);
        parse_labeled_double(s, "rocksdb.stall.micros COUNT :", &c->stall_us);
        rocksdb_free(s);
    }
    c->bloom_checks = c->bloom_useful + positive;
    static const char *const props[] = {
        "rocksdb.estimate-table-readers-mem", "rocksdb.block-cache-usage",
        "rocksdb.cur-size-all-mem-tables",
    };
    double *dst[] = { &c->table_meta_bytes, &c->cache_bytes, &c->memtable_bytes };
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
        char *mem = rocksdb_property_value(h->db, props[i]);
        if (mem != NULL) {
            *dst[i] = strtod(mem, NULL);
            rocksdb_free(mem);
        }
    }
}

static void rocks_close(void *db)
{
    struct rocks_handle *h = db;
    rocksdb_close(h->db);
    rocksdb_readoptions_destroy(h->ro);
    rocksdb_writeoptions_destroy(h->wo);
    rocksdb_options_destroy(h->opts);
    rocksdb_cache_destroy(h->cache);
    free(h);
}

static const struct engine_ops rocks_engine = {
    .name = "rocksdb",
    .stats_property = "rocksdb.stats",
    .open = rocks_open,
    .put = rocks_put,
    .get = rocks_get,
    .del = rocks_del,
    .del_range = rocks_del_range,
    .iter_new = rocks_iter_new,
    .iter_first = rocks_iter_first,
    .iter_seek = rocks_iter_seek,
    .iter_valid = rocks_iter_valid,
    .iter_next = rocks_iter_next,
    .iter_key = rocks_iter_key,
    .iter_free = rocks_iter_free,
    .property = rocks_property,
    .compact = rocks_compact,
    .write_amp = rocks_write_amp,
    .counters = rocks_counters,
    .close = rocks_close,
};
#endif /* HAVE_ROCKSDB */

/* --- LevelDB ------------------------------------------------------------ */
#ifdef HAVE_LEVELDB

struct level_handle {
    leveldb_t *db;
    leveldb_options_t *opts;
    leveldb_writeoptions_t *wo;
    leveldb_readoptions_t *ro;
    leveldb_cache_t *cache;
    leveldb_filterpolicy_t *filter;
};

static int level_check(char *lerr, const char *what, char *err)
{
    if (lerr == NULL)
        return 0;
    set_err(err, "%s: %s", what, lerr);
    leveldb_free(lerr);
    return -1;
}

static void level_release(struct level_handle *h)
{
    leveldb_readoptions_destroy(h->ro);
    leveldb_writeoptions_destroy(h->wo);
    leveldb_options_destroy(h->opts);
    if (h->cache)
        leveldb_cache_destroy(h->cache);
    if (h->filter)
        leveldb_filterpolicy_destroy(h->filter);
    free(h);
}

static int level_open(const struct config *cfg, void **out, char *err)
{
    struct level_handle *h = calloc(1, sizeof(*h));
    char *lerr = NULL;
    if (h == NULL) {
        set_err(err, "out of memory");
        return -1;
    }
    if (cfg->compress)
        fprintf(stderr, "lsm-bench: note: LevelDB has no zstd; "
                "running leveldb uncompressed\n");
    h->opts = leveldb_options_create();
    leveldb_options_set_create_if_missing(h->opts, 1);
    leveldb_options_set_write_buffer_size(h->opts,
                                          (size_t)cfg->memtable_mb << 20);
    leveldb_options_set_max_open_files(h->opts, SHARED_MAX_OPEN_FILES);
    leveldb_options_set_block_size(h->opts, SHARED_BLOCK_BYTES);
    leveldb_options_set_compression(h->opts, leveldb_no_compression);
    if (cfg->bloom_bits > 0) {
        h->filter = leveldb_filterpolicy_create_bloom(cfg->bloom_bits);
        leveldb_options_set_filter_policy(h->opts, h->filter);
    }
    h->cache = leveldb_cache_create_lru((size_t)cfg->cache_mb << 20);
    leveldb_options_set_cache(h->opts, h->cache);
    h->wo = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(h->wo, (uint8_t)cfg->sync);
    h->ro = leveldb_readoptions_create();

    h->db = leveldb_open(h->opts, cfg->db, &lerr);
    if (level_check(lerr, "leveldb_open", err) != 0) {
        level_release(h);
        return -1;
    }
    *out = h;
    return 0;
}

static int level_put(void *db, const char *k, size_t kl, const char *v,
                     size_t vl, char *err)
{
    struct level_handle *h = db;
    char *lerr = NULL;
    leveldb_put(h->db, h->wo, k, kl, v, vl, &lerr);
    return level_check(lerr, "leveldb_put", err);
}

static int level_get(void *db, const char *k, size_t kl, int *found,
                     size_t *vlen, char *err)
{
    struct level_handle *h = db;
    char *lerr = NULL;
    char *v = leveldb_get(h->db, h->ro, k, kl, vlen, &lerr);
    if (level_check(lerr, "leveldb_get", err) != 0)
        return -1;
    *found = v != NULL;
    leveldb_free(v);
    return 0;
}

static int level_del(void *db, const char *k, size_t kl, char *err)
{
    struct level_handle *h = db;
    char *lerr = NULL;
    leveldb_delete(h->db, h->wo, k, kl, &lerr);
    return level_check(lerr, "leveldb_delete", err);
}

static void *level_iter_new(void *db, char *err)
{
    struct level_handle *h = db;
    leveldb_iterator_t *it = leveldb_create_iterator(h->db, h->ro);
    if (it == NULL)
        set_err(err, "leveldb_create_iterator failed");
    return it;
}

static void level_iter_first(void *it) { leveldb_iter_seek_to_first(it); }
static void level_iter_seek(void *it, const char *k, size_t kl)
{
    leveldb_iter_seek(it, k, kl);
}
static int level_iter_valid(void *it) { return leveldb_iter_valid(it); }
static void level_iter_next(void *it) { leveldb_iter_next(it); }

static const char *level_iter_key(void *it, size_t *kl, size_t *vl)
{
    leveldb_iter_value(it, vl);
    return leveldb_iter_key(it, kl);
}

static int level_iter_free(void *it, char *err)
{
    char *lerr = NULL;
    leveldb_iter_get_error(it, &lerr);
    leveldb_iter_destroy(it);
    return level_check(lerr, "leveldb iterator", err);
}

static int level_property(void *db, const char *name, char **out, char *err)
{
    struct level_handle *h = db;
    char *v = leveldb_property_value(h->db, name);
    if (v == NULL) {
        set_err(err, "leveldb has no property %s", name);
        return -1;
    }
    *out = strdup(v);
    leveldb_free(v);
    if (*out == NULL) {
        set_err(err, "out of memory");
        return -1;
    }
    return 0;
}

static int level_compact(void *db, char *err)
{
    struct level_handle *h = db;
    (void)err;
    leveldb_compact_range(h->db, NULL, 0, NULL, 0);
    return 0;
}

/* "leveldb.stats" is a table
 *     Level  Files Size(MB) Time(sec) Read(MB) Write(MB)
 *     --------------------------------------------------
 *       0        2        4         0        0         4
 * with one row per level that has files or compaction time; Write(MB)
 * includes memtable flushes into that level. */
static int level_write_amp(void *db, uint64_t user_bytes, double *amp)
{
    struct level_handle *h = db;
    char *s = leveldb_property_value(h->db, "leveldb.stats");
    const char *line;
    double written_mb = 0;
    int in_table = 0;
    if (s == NULL)
        return 0;
    for (line = s; line && *line; line = strchr(line, '\n'),
                                  line = line ? line + 1 : NULL) {
        int level, files;
        double size, secs, read, write;
        if (strncmp(line, "-----", 5) == 0) {
            in_table = 1;
            continue;
        }
        if (in_table && sscanf(line, "%d %d %lf %lf %lf %lf", &level, &files,
                               &size, &secs, &read, &write) == 6) {
            written_mb += write;
        }
    }
    leveldb_free(s);
    if (!in_table || user_bytes == 0)
        return 0;
    *amp = written_mb * 1048576.0 / (double)user_bytes;
    return 1;
}

static void level_close(void *db)
{
    struct level_handle *h = db;
    leveldb_close(h->db);
    level_release(h);
}

static const struct engine_ops level_engine = {
    .name = "leveldb",
    .stats_property = "leveldb.stats",
    .open = level_open,
    .put = level_put,
    .get = level_get,
    .del = level_del,
    .iter_new = level_iter_new,
    .iter_first = level_iter_first,
    .iter_seek = level_iter_seek,
    .iter_valid = level_iter_valid,
    .iter_next = level_iter_next,
    .iter_key = level_iter_key,
    .iter_free = level_iter_free,
    .property = level_property,
    .compact = level_compact,
    .write_amp = level_write_amp,
    .close = level_close,
};
#endif /* HAVE_LEVELDB */

static const struct engine_ops *find_engine(const char *name)
{
    if (strcmp(name, "lsm") == 0)
        return &lsm_engine;
#ifdef HAVE_ROCKSDB
    if (strcmp(name, "rocksdb") == 0)
        return &rocks_engine;
#endif
#ifdef HAVE_LEVELDB
    if (strcmp(name, "leveldb") == 0)
        return &level_engine;
#endif
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* The database directory                                                   */

/* Removes everything inside the directory open at dirfd (which it closes).
 * Never follows symbolic links and never descends into a directory on
 * another device than `dev`. */
static int remove_contents(int dirfd, dev_t dev, const char *path)
{
    DIR *d = fdopendir(dirfd);
    struct dirent *e;
    int rc = 0;
    if (d == NULL) {
        fprintf(stderr, "lsm-bench: cannot read %s: %s\n", path,
                strerror(errno));
        close(dirfd);
        return -1;
    }
    while (rc == 0 && (errno = 0, e = readdir(d)) != NULL) {
        struct stat st;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            fprintf(stderr, "lsm-bench: stat %s/%s: %s\n", path, e->d_name,
                    strerror(errno));
            rc = -1;
            break;
        }
        if (S_ISDIR(st.st_mode)) {
            char sub[PATH_MAX];
            int fd;
            if (st.st_dev != dev) {
                fprintf(stderr, "lsm-bench: refusing to clear %s/%s: it is "
                        "another file system\n", path, e->d_name);
                rc = -1;
                break;
            }
            snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
            fd = openat(dirfd, e->d_name,
                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0) {
                fprintf(stderr, "lsm-bench: open %s: %s\n", sub,
                        strerror(errno));
                rc = -1;
                break;
            }
            rc = remove_contents(fd, dev, sub);
            if (rc == 0 && unlinkat(dirfd, e->d_name, AT_REMOVEDIR) != 0) {
                fprintf(stderr, "lsm-bench: rmdir %s: %s\n", sub,
                        strerror(errno));
                rc = -1;
            }
        } else if (unlinkat(dirfd, e->d_name, 0) != 0) {
            fprintf(stderr, "lsm-bench: unlink %s/%s: %s\n", path, e->d_name,
                    strerror(errno));
            rc = -1;
        }
    }
    if (rc == 0 && errno != 0) {
        fprintf(stderr, "lsm-bench: reading %s: %s\n", path, strerror(errno));
        rc = -1;
    }
    closedir(d);
    return rc;
}

/* mkdir -p */
static int make_dirs(const char *path)
{
    char buf[PATH_MAX];
    size_t len = strlen(path);
    if (len >= sizeof(buf)) {
        fprintf(stderr, "lsm-bench: path too long: %s\n", path);
        return -1;
    }
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "lsm-bench: mkdir %s: %s\n", buf,
                    strerror(errno));
            return -1;
        }
        if (i < len)
            buf[i] = '/';
    }
    return 0;
}

/* Empties DIR (creating it if missing) so the run starts from nothing. */
static int reset_db_dir(const char *dir)
{
    char real[PATH_MAX];
    struct stat st;
    int fd;
    if (make_dirs(dir) != 0)
        return -1;
    if (realpath(dir, real) == NULL) {
        fprintf(stderr, "lsm-bench: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    if (strcmp(real, "/") == 0) {
        fprintf(stderr, "lsm-bench: refusing to clear the root directory\n");
        return -1;
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "lsm-bench: open %s: %s\n", dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return remove_contents(fd, st.st_dev, dir);
}

/* The process's resident memory now, MiB (0 if /proc is not there). */
static long current_rss_mb(void)
{
    FILE *f = fopen("/proc/self/statm", "re");
    long pages = 0, resident = 0;
    if (f == NULL)
        return 0;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = 0;
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024) / 1024;
}

/* Sum of the sizes of the regular files under path (not following links). */
static uint64_t dir_bytes(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    uint64_t total = 0;
    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        char sub[PATH_MAX];
        struct stat st;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name) >=
            sizeof(sub))
            continue;
        if (lstat(sub, &st) != 0)
            continue;
        if (S_ISREG(st.st_mode))
            total += (uint64_t)st.st_size;
        else if (S_ISDIR(st.st_mode))
            total += dir_bytes(sub);
    }
    closedir(d);
    return total;
}

/* ------------------------------------------------------------------------ */
/* Running benchmarks                                                       */

struct run {
    const struct config *cfg;
    const struct engine_ops *eng;
    void *db;
    struct value_pool pool;
    enum bench_kind kind;
    pthread_barrier_t start;
    atomic_int failed;
    atomic_int readers_done;   /* readwhilewriting: client threads done */
    struct counters at_start;  /* the engine's counters as the benchmark began */
};

/* A client thread (index < threads) or readwhilewriting's writer (index ==
 * threads).  hist/ops are the benchmark's operations; whist/wops the
 * writes of a benchmark that reports them apart (has_write_group). */
struct worker {
    struct run *run;
    int index;
    pthread_t thread;
    uint64_t rng;
    uint64_t ops, wops;
    uint64_t bytes;        /* key+value bytes moved by ops */
    uint64_t written;      /* user bytes put or deleted (write_amp) */
    uint64_t found;
    uint64_t start_ns, end_ns;
    char err[ERR_LEN];
    struct histogram hist, whist;
    uint64_t win_ns[WINDOWS], win_ops[WINDOWS];  /* rangedel: CPU time */
};

/* Slice t of T of [0, n): [n*t/T, n*(t+1)/T). */
static uint64_t slice_bound(uint64_t n, int t, int threads)
{
    return (uint64_t)(((unsigned __int128)n * (unsigned)t) /
                      (unsigned)threads);
}

/* This thread's share of n operations. */
static uint64_t slice_count(uint64_t n, const struct worker *w)
{
    int threads = w->run->cfg->threads;
    return slice_bound(n, w->index + 1, threads) -
           slice_bound(n, w->index, threads);
}

static int worker_failed(struct worker *w)
{
    return atomic_load_explicit(&w->run->failed, memory_order_relaxed);
}

static void worker_fail(struct worker *w)
{
    atomic_store(&w->run->failed, 1);
}

/* --- single operations: each counts its bytes; the caller times it ----- */

static int op_get(struct worker *w, const char *key)
{
    struct run *r = w->run;
    size_t vlen = 0;
    int found = 0;
    if (r->eng->get(r->db, key, r->cfg->key_size, &found, &vlen, w->err))
        return -1;
    w->bytes += r->cfg->key_size + (found ? vlen : 0);
    w->found += (uint64_t)found;
    return 0;
}

/* Puts key with the next value of the pool (*vpos: this thread's place). */
static int op_put(struct worker *w, const char *key, size_t *vpos)
{
    struct run *r = w->run;
    const struct config *cfg = r->cfg;
    const char *val = value_next(&r->pool, vpos, cfg->value_size);
    if (r->eng->put(r->db, key, cfg->key_size, val, cfg->value_size, w->err))
        return -1;
    w->bytes += cfg->key_size + cfg->value_size;
    w->written += cfg->key_size + cfg->value_size;
    return 0;
}

static int op_del(struct worker *w, const char *key)
{
    struct run *r = w->run;
    if (r->eng->del(r->db, key, r->cfg->key_size, w->err))
        return -1;
    w->bytes += r->cfg->key_size;
    w->written += r->cfg->key_size;
    return 0;
}

/* Deletes the keys [i, end) of the key range (end may be past it). */
static int op_del_range(struct worker *w, uint64_t i, uint64_t end)
{
    struct run *r = w->run;
    const struct config *cfg = r->cfg;
    char b[MAX_KEY_SIZE], e[MAX_KEY_SIZE];
    make_key(cfg, b, i);
    if (end < cfg->num)
        make_key(cfg, e, end);
    else
        memset(e, ':', cfg->key_size);     /* ':' sorts after every digit */
    if (r->eng->del_range(r->db, b, cfg->key_size, e, cfg->key_size, w->err))
        return -1;
    w->bytes += 2 * cfg->key_size;
    w->written += 2 * cfg->key_size;
    return 0;
}

/* seekrandom's operation, as db_bench's: a new iterator, a seek to key
 * (found if it lands on key itself), then seek_nexts nexts; reads the
 * entry it lands on and each one it moves to. */
static int op_seek(struct worker *w, const char *key)
{
    struct run *r = w->run;
    const struct config *cfg = r->cfg;
    void *it = r->eng->iter_new(r->db, w->err);
    if (it == NULL)
        return -1;
    r->eng->iter_seek(it, key, cfg->key_size);
    for (uint64_t n = 0; r->eng->iter_valid(it); n++) {
        size_t kl, vl;
        const char *k = r->eng->iter_key(it, &kl, &vl);
        if (n == 0 && kl == cfg->key_size && memcmp(k, key, kl) == 0)
            w->found++;
        w->bytes += kl + vl;
        if (n == cfg->seek_nexts)
            break;
        r->eng->iter_next(it);
    }
    return r->eng->iter_free(it, w->err);
}

/* --- workloads ------------------------------------------------------------ */

/* fillseq, fillrandom, overwrite, deleterandom. */
static void run_writes(struct worker *w)
{
    struct run *r = w->run;
    const struct config *cfg = r->cfg;
    char key[MAX_KEY_SIZE];
    uint64_t lo = slice_bound(cfg->num, w->index, cfg->threads);
    uint64_t count = slice_count(cfg->num, w);
    size_t vpos = (size_t)w->index * 4099 % r->pool.len;
    struct permutation perm;

    permutation_init(&perm, count > 0 ? count : 1, &w->rng);
    for (uint64_t j = 0; j < count && !worker_failed(w); j++) {
        uint64_t i, t0;
        int rc;
        switch (r->kind) {
        case BENCH_FILLSEQ:    i = lo + j; break;
        case BENCH_FILLRANDOM: i = lo + permutation_at(&perm, j); break;
        default:               i = rng_below(&w->rng, cfg->num); break;
        }
        make_key(cfg, key, i);
        t0 = now_ns();
        if (r->kind == BENCH_DELETERANDOM)
            rc = op_del(w, key);
        else
            rc = op_put(w, key, &vpos);
        if (rc != 0) {
            worker_fail(w);
            return;
        }
        hist_add(&w->hist, now_ns() - t0);
        w->ops++;
    }
}

/* db_bench's mix: of every 100 operations of a thread, the first
 * readwritepercent are reads and the rest writes. */
static int read_turn(const struct config *cfg, uint64_t j)
{
    return j % 100 < (uint64_t)cfg->readwritepercent;
}

/* Operation j of a random benchmark on a uniformly random key; sets
 * *is_write when it is a write of a mixed benchmark. */
static int random_op(struct worker *w, uint64_t j, size_t *vpos,
                     int *is_write)
{
    struct run *r = w->run;
    const struct config *cfg = r->cfg;
    char key[MAX_KEY_SIZE];
    uint64_t i = rng_below(&w->rng, cfg->num);

    *is_write = 0;
    if (r->kind == BENCH_READMISSING)
        make_missing_key(cfg, key, i);
    else
        make_key(cfg, key, i);
    switch (r->kind) {
    case BENCH_SEEKRANDOM:
        return op_seek(w, key);
    case BENCH_UPDATERANDOM:      /* read-modify-write: one operation */
        return op_get(w, key) != 0 ? -1 : op_put(w, key, vpos);
    case BENCH_READRANDOMWRITERANDOM:
        if (read_turn(cfg, j))
            return op_get(w, key);
        *is_write = 1;
        return op_put(w, key, vpos);
    case BENCH_DELETERANGE:
        if (read_turn(cfg, j))
            return op_get(w, key);
        *is_write = 1;
        return op_del_range(w, i, i + cfg->range_tombstone_width);
    default:          /* readrandom, readmissing, readwhilewriting */
        return op_get(w, key);
    }
}

/* The random benchmarks: this thread's share of `reads` operations, each
 * timed; the writes of a mixed one are also timed apart. */
static void run_random(struct worker *w)
{
    uint64_t count = slice_count(w->run->cfg->reads, w);
    size_t vpos = (size_t)w->index * 4099 % w->run->pool.len;

    for (uint64_t j = 0; j < count && !worker_failed(w); j++) {
        int is_write;
        uint64_t t0 = now_ns();
        if (random_op(w, j, &vpos, &is_write) != 0) {
            worker_fail(w);
            return;
        }
        uint64_t ns = now_ns() - t0;
        hist_add(&w->hist, ns);
        w->ops++;
        if (is_write) {
            hist_add(&w->whist, ns);
            w->wops++;
        }
    }
}

/* readwhilewriting's writer: puts of random keys at full speed until
 * every client thread has finished (at least one, so that its figures
 * exist even when the readers finish first). */
static void run_writer(struct worker *w)
{
    struct run *r = w->run;
    char key[MAX_KEY_SIZE];
    size_t vpos = (size_t)w->index * 4099 % r->pool.len;

    do {
        make_key(r->cfg, key, rng_below(&w->rng, r->cfg->num));
        uint64_t t0 = now_ns();
        if (op_put(w, key, &vpos) != 0) {
            worker_fail(w);
            return;
        }
        hist_add(&w->whist, now_ns() - t0);
        w->wops++;
    } while (atomic_load(&r->readers_done) < r->cfg->threads &&
             !worker_failed(w));
}

/* readseq: thread t scans from key(lo) up to key(hi); the first thread
 * starts at the beginning and the last runs to the end, so together they
 * visit every entry exactly once. */
static void run_scan(struct worker *w)
{
    struct run *r = w->run;
    const struct config *cfg = r->cfg;
    char lo_key[MAX_KEY_SIZE], hi_key[MAX_KEY_SIZE];
    int first = w->index == 0, last = w->index == cfg->threads - 1;
    void *it = r->eng->iter_new(r->db, w->err);
    uint64_t t0, t1;

    if (it == NULL) {
        worker_fail(w);
        return;
    }
    make_key(cfg, lo_key, slice_bound(cfg->num, w->index, cfg->threads));
    make_key(cfg, hi_key, slice_bound(cfg->num, w->index + 1, cfg->threads));
    t0 = now_ns();
    if (first)
        r->eng->iter_first(it);
    else
        r->eng->iter_seek(it, lo_key, cfg->key_size);
    t1 = now_ns();
    hist_add(&w->hist, t1 - t0);
    while (r->eng->iter_valid(it) && !worker_failed(w)) {
        size_t kl, vl;
        const char *k = r->eng->iter_key(it, &kl, &vl);
        if (!last) {
            size_t n = kl < cfg->key_size ? kl : cfg->key_size;
            int c = memcmp(k, hi_key, n);
            if (c > 0 || (c == 0 && kl >= cfg->key_size))
                break;
        }
        w->ops++;
        w->found++;
        w->bytes += kl + vl;
        t0 = now_ns();
        r->eng->iter_next(it);
        t1 = now_ns();
        hist_add(&w->hist, t1 - t0);
    }
    if (r->eng->iter_free(it, w->err) != 0)
        worker_fail(w);
}

/* One rangedel round: a range deletion from key i, a put and a get of
 * random keys, an iterator seek (and key read) at a random key. */
static int rangedel_round(struct worker *w, size_t *vpos)
{
    struct run *r = w->run;
    const struct config *cfg = r->cfg;
    char b[MAX_KEY_SIZE];
    uint64_t i = rng_below(&w->rng, cfg->num);
    uint64_t group_end = (i / RANGEDEL_GROUP + 1) * RANGEDEL_GROUP;
    uint64_t end = w->ops % 2 ? group_end : i + 1 + rng_below(&w->rng, 8);
    size_t kl, vl;
    if (end > group_end)
        end = group_end;
    if (op_del_range(w, i, end) != 0)
        return -1;
    make_key(cfg, b, rng_below(&w->rng, cfg->num));
    if (op_put(w, b, vpos) != 0)
        return -1;
    make_key(cfg, b, rng_below(&w->rng, cfg->num));
    if (op_get(w, b) != 0)
        return -1;
    void *it = r->eng->iter_new(r->db, w->err);
    if (it == NULL)
        return -1;
    make_key(cfg, b, rng_below(&w->rng, cfg->num));
    r->eng->iter_seek(it, b, cfg->key_size);
    if (r->eng->iter_valid(it))
        r->eng->iter_key(it, &kl, &vl);
    return r->eng->iter_free(it, w->err);
}

/* rangedel: this thread's share of num rounds, timed per round and summed
 * per tenth of the share. */
static void run_rangedel(struct worker *w)
{
    uint64_t count = slice_count(w->run->cfg->num, w);
    size_t vpos = (size_t)w->index * 4099 % w->run->pool.len;
    uint64_t cpu0 = thread_cpu_ns();
    for (uint64_t j = 0; j < count && !worker_failed(w); j++) {
        uint64_t t0 = now_ns();
        if (rangedel_round(w, &vpos) != 0) {
            worker_fail(w);
            return;
        }
        uint64_t t1 = now_ns();
        hist_add(&w->hist, t1 - t0);
        size_t k = (size_t)(j * WINDOWS / count);
        w->win_ops[k]++;
        if (j + 1 == count || (j + 1) * WINDOWS / count != k) {
            uint64_t cpu1 = thread_cpu_ns();
            w->win_ns[k] = cpu1 - cpu0;
            cpu0 = cpu1;
        }
        w->ops++;
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct run *r = w->run;
    pthread_barrier_wait(&r->start);
    w->start_ns = now_ns();
    if (w->index == r->cfg->threads) {
        run_writer(w);
    } else {
        switch (r->kind) {
        case BENCH_FILLSEQ:
        case BENCH_FILLRANDOM:
        case BENCH_OVERWRITE:
        case BENCH_DELETERANDOM:
            run_writes(w);
            break;
        case BENCH_READSEQ:
            run_scan(w);
            break;
        case BENCH_RANGEDEL:
            run_rangedel(w);
            break;
        default:
            run_random(w);
            break;
        }
        atomic_fetch_add(&r->readers_done, 1);
    }
    w->end_ns = now_ns();
    return NULL;
}

static int is_write_bench(enum bench_kind k)
{
    return k == BENCH_FILLSEQ || k == BENCH_FILLRANDOM ||
           k == BENCH_OVERWRITE || k == BENCH_DELETERANDOM ||
           k == BENCH_COMPACT || k == BENCH_RANGEDEL ||
           k == BENCH_READWHILEWRITING || k == BENCH_READRANDOMWRITERANDOM ||
           k == BENCH_UPDATERANDOM || k == BENCH_DELETERANGE;
}

/* Benchmarks that print found= (gets that hit, seeks that landed on their
 * key, entries scanned). */
static int is_read_bench(enum bench_kind k)
{
    return k == BENCH_READRANDOM || k == BENCH_READMISSING ||
           k == BENCH_READSEQ || k == BENCH_SEEKRANDOM ||
           k == BENCH_READWHILEWRITING || k == BENCH_READRANDOMWRITERANDOM ||
           k == BENCH_UPDATERANDOM || k == BENCH_DELETERANGE;
}

/* Benchmarks whose writes are also reported apart (write_* fields). */
static int has_write_group(enum bench_kind k)
{
    return k == BENCH_READWHILEWRITING || k == BENCH_READRANDOMWRITERANDOM ||
           k == BENCH_DELETERANGE;
}

static int needs_range_deletion(enum bench_kind k)
{
    return k == BENCH_RANGEDEL || k == BENCH_DELETERANGE ||
           k == BENCH_DELETEALL;
}

/* rangedel: prints the mean cost per round of each tenth of the run
 * (summed over threads) and keeps the first and last for RESULT. */
static void print_windows(struct run *r, const struct worker *ws,
                          double *first_us, double *last_us)
{
    for (int k = 0; k < WINDOWS; k++) {
        uint64_t ns = 0, ops = 0;
        for (int t = 0; t < r->cfg->threads; t++) {
            ns += ws[t].win_ns[k];
            ops += ws[t].win_ops[k];
        }
        double us = ops ? (double)ns / (double)ops / 1000.0 : 0.0;
        printf("WINDOW engine=%s bench=%s window=%d ops=%llu cpu_us_per_op=%.2f\n",
               r->eng->name, bench_names[r->kind], k + 1,
               (unsigned long long)ops, us);
        if (k == 0)
            *first_us = us;
        *last_us = us;
    }
}

/* What one benchmark measured, summed over its threads. */
struct totals {
    uint64_t ops, wops, bytes, found;
    double secs;
    struct histogram hist, whist;
};

static void print_latency(const char *prefix, const struct histogram *h)
{
    printf(" %sp50_us=%.2f %sp99_us=%.2f %sp999_us=%.2f %smax_us=%.2f",
           prefix, hist_percentile_us(h, 0.50), prefix,
           hist_percentile_us(h, 0.99), prefix, hist_percentile_us(h, 0.999),
           prefix, (double)h->max / 1000.0);
}

static double per_sec(uint64_t n, double secs)
{
    return secs > 0 ? (double)n / secs : 0.0;
}

static double ratio(double part, double whole)
{
    return whole > 0 ? part / whole : 0.0;
}

/* This benchmark's share of the engine's counters: block cache hit ratio
 * and the fraction of bloom checks that skipped a table (of the lookups
 * it made, if any), writers' stall time, and the memory held now by
 * table metadata and by the process. */
static void print_counters(struct run *r)
{
    struct counters now = {0};
    const struct counters *a = &r->at_start;
    if (r->eng->counters == NULL)
        return;
    r->eng->counters(r->db, &now);
    double hits = now.cache_hits - a->cache_hits;
    double lookups = hits + now.cache_misses - a->cache_misses;
    double checks = now.bloom_checks - a->bloom_checks;
    if (lookups > 0)
        printf(" cache_hit_ratio=%.3f", ratio(hits, lookups));
    if (checks > 0)
        printf(" bloom_useful_ratio=%.3f",
               ratio(now.bloom_useful - a->bloom_useful, checks));
    printf(" stall_ms=%.0f table_meta_mb=%.1f cache_mb=%.1f memtable_mb=%.1f"
           " rss_mb=%ld", (now.stall_us - a->stall_us) / 1000.0,
           now.table_meta_bytes / 1048576.0, now.cache_bytes / 1048576.0,
           now.memtable_bytes / 1048576.0, current_rss_mb());
}

static void print_result(struct run *r, const struct totals *t,
                         uint64_t user_bytes, const struct worker *ws)
{
    double first_us = 0, last_us = 0, amp;
    if (ws && r->kind == BENCH_RANGEDEL)
        print_windows(r, ws, &first_us, &last_us);
    flockfile(stdout);     /* one line: the sampler's MEMSAMPLE waits */
    printf("RESULT engine=%s bench=%s ops=%llu secs=%.3f ops_per_sec=%.0f "
           "mb_per_sec=%.2f", r->eng->name, bench_names[r->kind],
           (unsigned long long)t->ops, t->secs, per_sec(t->ops, t->secs),
           per_sec(t->bytes, t->secs) / 1048576.0);
    print_latency("", &t->hist);
    if (is_read_bench(r->kind))
        printf(" found=%llu", (unsigned long long)t->found);
    if (has_write_group(r->kind)) {
        printf(" write_ops=%llu write_ops_per_sec=%.0f",
               (unsigned long long)t->wops, per_sec(t->wops, t->secs));
        print_latency("write_", &t->whist);
    }
    if (is_write_bench(r->kind) && r->eng->write_amp(r->db, user_bytes, &amp))
        printf(" write_amp=%.2f", amp);
    if (ws && r->kind == BENCH_RANGEDEL)
        printf(" first_us=%.2f last_us=%.2f", first_us, last_us);
    print_counters(r);
    printf("\n");
    fflush(stdout);
    funlockfile(stdout);
}

/* Sums the workers into *t; secs runs from the first start to the last
 * end (the writer's too).  The bytes moved and found are the client
 * threads' only.  Returns -1 after printing the first worker's error. */
static int sum_workers(struct run *r, const struct worker *ws, int n,
                       struct totals *t, uint64_t *user_bytes)
{
    uint64_t start = UINT64_MAX, end = 0;
    int rc = 0;
    for (int i = 0; i < n; i++) {
        const struct worker *w = &ws[i];
        if (w->err[0] != '\0' && rc == 0) {
            fprintf(stderr, "lsm-bench: %s: %s\n", bench_names[r->kind],
                    w->err);
            rc = -1;
        }
        t->ops += w->ops;
        t->wops += w->wops;
        if (w->index < r->cfg->threads) {
            t->bytes += w->bytes;
            t->found += w->found;
        }
        *user_bytes += w->written;
        if (w->start_ns < start)
            start = w->start_ns;
        if (w->end_ns > end)
            end = w->end_ns;
        hist_merge(&t->hist, &w->hist);
        hist_merge(&t->whist, &w->whist);
    }
    t->secs = (double)(end - start) / 1e9;
    return rc;
}

/* Runs one client benchmark on cfg->threads threads (and readwhilewriting's
 * writer); returns 0, or -1 after printing the first thread's error.
 * *user_bytes accumulates the bytes written for write amplification. */
static int run_clients(struct run *r, uint64_t *user_bytes)
{
    const struct config *cfg = r->cfg;
    int n = cfg->threads + (r->kind == BENCH_READWHILEWRITING);
    struct worker *ws = calloc((size_t)n, sizeof(*ws));
    struct totals *total = calloc(1, sizeof(*total));
    int rc;

    if (ws == NULL || total == NULL) {
        fprintf(stderr, "lsm-bench: out of memory\n");
        free(ws);
        free(total);
        return -1;
    }
    atomic_store(&r->failed, 0);
    atomic_store(&r->readers_done, 0);
    pthread_barrier_init(&r->start, NULL, (unsigned)n);
    for (int t = 0; t < n; t++) {
        ws[t].run = r;
        ws[t].index = t;
        ws[t].rng = cfg->seed * 0x100000001b3ull + (uint64_t)t * 7919 +
                    (uint64_t)r->kind * 104729;
    }
    /* Thread 0 is the calling thread.  The others wait on the barrier
     * until all n have arrived, so a thread that cannot be started leaves
     * no way to proceed but exiting. */
    for (int t = 1; t < n; t++) {
        if (pthread_create(&ws[t].thread, NULL, worker_main, &ws[t]) != 0) {
            fprintf(stderr, "lsm-bench: cannot start thread %d\n", t);
            exit(1);
        }
    }
    worker_main(&ws[0]);
    for (int t = 1; t < n; t++)
        pthread_join(ws[t].thread, NULL);
    pthread_barrier_destroy(&r->start);

    rc = sum_workers(r, ws, n, total, user_bytes);
    if (rc == 0)
        print_result(r, total, *user_bytes, ws);
    free(ws);
    free(total);
    return rc;
}

/* compact and deleteall: one timed engine call, ops=1. */
static int run_single(struct run *r, uint64_t user_bytes)
{
    struct totals *t = calloc(1, sizeof(*t));
    char err[ERR_LEN], end[MAX_KEY_SIZE];
    int rc;
    if (t == NULL) {
        fprintf(stderr, "lsm-bench: out of memory\n");
        return -1;
    }
    memset(end, ':', r->cfg->key_size);   /* ':' sorts after every digit */
    uint64_t t0 = now_ns();
    if (r->kind == BENCH_COMPACT)
        rc = r->eng->compact(r->db, err);
    else
        rc = r->eng->del_range(r->db, "", 0, end, r->cfg->key_size, err);
    uint64_t ns = now_ns() - t0;
    if (rc != 0) {
        fprintf(stderr, "lsm-bench: %s: %s\n", bench_names[r->kind], err);
    } else {
        hist_add(&t->hist, ns);
        t->ops = 1;
        t->secs = (double)ns / 1e9;
        print_result(r, t, user_bytes, NULL);
    }
    free(t);
    return rc;
}

#define IDLE_STABLE_SECS 10

static int run_idle(struct run *r)
{
    uint64_t start = dir_bytes(r->cfg->db), last = start, t0 = now_ns();
    uint64_t changed_at = 0, stable = 0, secs = 0;
    printf("IDLE t=0 db_bytes=%llu\n", (unsigned long long)start);
    while (secs < r->cfg->idle_secs && stable < IDLE_STABLE_SECS) {
        sleep(1);
        secs++;
        uint64_t b = dir_bytes(r->cfg->db);
        printf("IDLE t=%llu db_bytes=%llu\n", (unsigned long long)secs,
               (unsigned long long)b);
        fflush(stdout);
        if (b != last) {
            changed_at = secs;
            stable = 0;
        } else {
            stable++;
        }
        last = b;
    }
    printf("RESULT engine=%s bench=idle secs=%.1f db_bytes_start=%llu "
           "db_bytes_end=%llu settled_secs=%llu\n", r->eng->name,
           (double)(now_ns() - t0) / 1e9, (unsigned long long)start,
           (unsigned long long)last, (unsigned long long)changed_at);
    fflush(stdout);
    return 0;
}

/* Resident memory by kind of mapping (/proc/self/smaps), KiB: file-backed
 * (the program and its libraries), the brk heap (glibc's main arena),
 * other anonymous mappings (thread arenas, large malloc blocks, thread
 * stacks). */
struct rss_parts {
    long file_kb, heap_kb, anon_kb, stack_kb;
};

static void rss_parts_read(struct rss_parts *p)
{
    FILE *f = fopen("/proc/self/smaps", "re");
    char line[512];
    long *cur = NULL;
    memset(p, 0, sizeof(*p));
    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        long kb;
        char path[400] = "";
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %399s", &lo, &hi, path) >= 2) {
            cur = path[0] == '/' ? &p->file_kb
                  : strcmp(path, "[heap]") == 0 ? &p->heap_kb
                  : strncmp(path, "[stack", 6) == 0 ? &p->stack_kb
                                                    : &p->anon_kb;
        } else if (cur != NULL && sscanf(line, "Rss: %ld kB", &kb) == 1) {
            *cur += kb;
        }
    }
    fclose(f);
}

/* MEMORY line, after each benchmark: where the process's resident memory
 * is (for the README's
 * RSS formula): rss_parts_read, and glibc malloc's view over all arenas
 * (in use, free but kept, of which mmapped chunks). */
static void print_memory(const struct run *r)
{
    struct rss_parts p;
    struct mallinfo2 mi = mallinfo2();
    rss_parts_read(&p);
    printf("MEMORY engine=%s rss_kb=%ld file_kb=%ld heap_kb=%ld anon_kb=%ld "
           "stack_kb=%ld malloc_used_kb=%zu malloc_free_kb=%zu "
           "malloc_mmapped_kb=%zu\n", r->eng->name,
           p.file_kb + p.heap_kb + p.anon_kb + p.stack_kb, p.file_kb, p.heap_kb,
           p.anon_kb, p.stack_kb, (mi.uordblks + mi.hblkhd) / 1024,
           mi.fordblks / 1024, mi.hblkhd / 1024);
}

/* --memory_sample_ms: a thread printing, every period, the benchmark
 * running, the process's resident memory now and its peak (VmRSS, VmHWM),
 * glibc malloc's in use and free-but-kept bytes, and the engine's cache,
 * memtables and table metadata: when the peak happens and what it is.
 * mallinfo2 walks every arena under its lock: about a millisecond per
 * sample at 400 MiB, nothing next to a 0.5 s period. */
struct sampler {
    struct run *run;
    atomic_int phase;        /* enum bench_kind running; -1: none */
    atomic_int stop;
    int running;             /* the thread was started */
    uint64_t t0_ns;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
};

/* VmRSS and VmHWM of /proc/self/status, KiB (0 if absent). */
static void status_rss(long *rss_kb, long *hwm_kb)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    *rss_kb = *hwm_kb = 0;
    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "VmRSS: %ld kB", rss_kb) == 1)
            continue;
        (void)sscanf(line, "VmHWM: %ld kB", hwm_kb);
    }
    fclose(f);
}

static void print_sample(struct sampler *s)
{
    struct counters c = {0};
    struct mallinfo2 mi = mallinfo2();
    long rss_kb, hwm_kb;
    int phase = atomic_load(&s->phase);
    status_rss(&rss_kb, &hwm_kb);
    if (s->run->eng->counters != NULL)
        s->run->eng->counters(s->run->db, &c);
    printf("MEMSAMPLE engine=%s t=%.1f bench=%s rss_kb=%ld hwm_kb=%ld "
           "malloc_used_kb=%zu malloc_free_kb=%zu cache_mb=%.1f "
           "memtable_mb=%.1f table_meta_mb=%.1f\n", s->run->eng->name,
           (double)(now_ns() - s->t0_ns) / 1e9,
           phase >= 0 ? bench_names[phase] : "-", rss_kb, hwm_kb,
           (mi.uordblks + mi.hblkhd) / 1024, mi.fordblks / 1024,
           c.cache_bytes / 1048576.0, c.memtable_bytes / 1048576.0,
           c.table_meta_bytes / 1048576.0);
    fflush(stdout);
}

static void *sampler_main(void *arg)
{
    struct sampler *s = arg;
    uint64_t period = s->run->cfg->memory_sample_ms;
    struct timespec due;
    clock_gettime(CLOCK_REALTIME, &due);
    pthread_mutex_lock(&s->mu);
    while (!atomic_load(&s->stop)) {
        due.tv_nsec += (long)(period % 1000) * 1000000L;
        due.tv_sec += (time_t)(period / 1000 + due.tv_nsec / 1000000000L);
        due.tv_nsec %= 1000000000L;
        while (!atomic_load(&s->stop) &&
               pthread_cond_timedwait(&s->cv, &s->mu, &due) == 0)
            ;
        if (!atomic_load(&s->stop))
            print_sample(s);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Starts the sampler if --memory_sample_ms asks for one; 0 or -1. */
static int sampler_start(struct sampler *s, struct run *r)
{
    s->run = r;
    atomic_init(&s->phase, -1);
    atomic_init(&s->stop, 0);
    s->t0_ns = now_ns();
    s->running = 0;
    if (r->cfg->memory_sample_ms == 0)
        return 0;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->thread, NULL, sampler_main, s) != 0) {
        fprintf(stderr, "lsm-bench: cannot start the memory sampler\n");
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        return -1;
    }
    s->running = 1;
    return 0;
}

static void sampler_stop(struct sampler *s)
{
    if (!s->running)
        return;
    pthread_mutex_lock(&s->mu);
    atomic_store(&s->stop, 1);
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
}

static int run_stats(struct run *r)
{
    char err[ERR_LEN];
    char *text = NULL;
    size_t len;
    if (r->eng->property(r->db, r->eng->stats_property, &text, err) != 0) {
        fprintf(stderr, "lsm-bench: stats: %s\n", err);
        return -1;
    }
    len = strlen(text);
    flockfile(stdout);
    printf("STATS engine=%s\n%s%s", r->eng->name, text,
           len > 0 && text[len - 1] == '\n' ? "" : "\n");
    printf("END STATS\n");
    fflush(stdout);
    funlockfile(stdout);
    free(text);
    return 0;
}

int main(int argc, char **argv)
{
    struct config cfg;
    struct run run;
    struct sampler sampler;
    struct rusage ru;
    char err[ERR_LEN];
    uint64_t user_bytes = 0;
    int rc = 0;

    parse_args(argc, argv, &cfg);
    memset(&run, 0, sizeof(run));
    run.cfg = &cfg;
    run.eng = find_engine(cfg.engine);
    if (run.eng == NULL) {
        fprintf(stderr, "lsm-bench: engine '%s' is not compiled in (its "
                "library was not found at build time)\n", cfg.engine);
        return 2;
    }
    if (!cfg.use_existing_db && reset_db_dir(cfg.db) != 0)
        return 1;
    if (value_pool_init(&run.pool, cfg.value_size, cfg.seed) != 0) {
        fprintf(stderr, "lsm-bench: out of memory for the value pool\n");
        return 1;
    }
    if (run.eng->open(&cfg, &run.db, err) != 0) {
        fprintf(stderr, "lsm-bench: %s\n", err);
        free(run.pool.data);
        return 1;
    }

    printf("durability: %s\n", cfg.sync ? "power-loss"
                                : cfg.manual_wal_flush ? "buffered"
                                                       : "process-crash");
    if (sampler_start(&sampler, &run) != 0)
        rc = -1;
    for (int b = 0; b < cfg.nbenches && rc == 0; b++) {
        run.kind = cfg.benches[b];
        atomic_store(&sampler.phase, (int)run.kind);
        memset(&run.at_start, 0, sizeof run.at_start);
        if (run.eng->counters != NULL)
            run.eng->counters(run.db, &run.at_start);
        if (needs_range_deletion(run.kind) && run.eng->del_range == NULL) {
            fprintf(stderr, "lsm-bench: %s: %s has no range deletion\n",
                    bench_names[run.kind], run.eng->name);
            rc = -1;
            break;
        }
        switch (run.kind) {
        case BENCH_STATS:
            rc = run_stats(&run);
            break;
        case BENCH_COMPACT:
        case BENCH_DELETEALL:
            rc = run_single(&run, user_bytes);
            break;
        case BENCH_IDLE:
            rc = run_idle(&run);
            break;
        default:
            rc = run_clients(&run, &user_bytes);
            break;
        }
        print_memory(&run);
    }
    atomic_store(&sampler.phase, -1);
    sampler_stop(&sampler);
    run.eng->close(run.db);
    free(run.pool.data);

    getrusage(RUSAGE_SELF, &ru);
    printf("peak_rss_mb: %ld\n", (ru.ru_maxrss + 1023) / 1024);
    printf("db_bytes: %llu\n", (unsigned long long)dir_bytes(cfg.db));
    return rc == 0 ? 0 : 1;
}
