/*
 * fsbench.c — the timed loops of scripts/bench-fs, in one process so that
 * the tool's own cost (a process per file is ~1 ms) does not hide the
 * filesystem's.  Built by scripts/bench-fs with plain gcc.
 *
 *   fsbench meta      DIR N SEED     empty files in DIR (created here)
 *   fsbench small     DIR N SEED     N files of 100 B..8 KiB in 64 dirs
 *   fsbench seqwrite  FILE MIB       sequential 1 MiB writes, then fsync
 *   fsbench seqread   FILE MIB       sequential 1 MiB reads, verified
 *   fsbench randwrite FILE MIB COUNT SEED
 *                                    COUNT 4 KiB writes at distinct random
 *                                    aligned offsets, fsync, then verified
 *   fsbench many      DIR N          N files of 100 B..1 KiB, 1000 per
 *                                    directory; prints "WINDOW <files>
 *                                    <seconds>" per 10000 creates, then
 *                                    verifies every 97th file
 *   fsbench writers   DIR W MIB      W processes each write MIB MiB into
 *                                    DIR/big.<k> (1 MiB writes, fsync);
 *                                    prints "WRITE ..." (all of them)
 *   fsbench metaloop  DIR SECS       the metadata loop below, alone, for
 *                                    SECS seconds; prints "META ..." lines
 *   fsbench mixed     DIR W MIB      the writers, and the metadata loop in
 *                                    DIR/meta while they run
 *
 * The metadata loop (in DIR/meta, 16 files plus the one in flight) times
 * each call of a round: create (open O_CREAT|O_EXCL + close), stat,
 * rename, readdir of the directory, unlink.  One line per operation and
 * one for all of them together:
 *   META op=<op> count=<n> rate=<ops/s> p50=<us> p99=<us> p999=<us> max=<us>
 * rate: calls of that operation per second of loop time.  The writers'
 * line: WRITE writers=<w> mib=<total> secs=<s> mibps=<total / s>.
 *
 * Each timed phase prints one line "PHASE <name> <seconds>" on stdout.
 * Everything written is read back and compared; any mismatch or failed
 * call prints one line on stderr and exits 1.
 *
 * Content: a 1 MiB random base pattern (fixed seed) that zstd cannot
 * shrink.  Large-file page p holds the base page p % 256 with its first
 * 16 bytes replaced by (p, generation); small file i holds base bytes
 * from an offset chosen by i, with its first 8 bytes replaced by i.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MIB (1u << 20)
#define PAGE 4096u
#define SMALL_MIN 100u
#define SMALL_MAX 8192u
#define SMALL_DIRS 64u

static unsigned char base[MIB];

static void die(const char *what, const char *path)
{
    fprintf(stderr, "fsbench: %s %s: %s\n", what, path ? path : "",
            errno ? strerror(errno) : "mismatch");
    exit(1);
}

static uint64_t mix(uint64_t x)        /* splitmix64 finalizer */
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void fill_base(void)
{
    for (size_t i = 0; i < MIB / 8; i++) {
        uint64_t v = mix(i);
        memcpy(base + 8 * i, &v, 8);
    }
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void phase(const char *name, double t0)
{
    printf("PHASE %s %.6f\n", name, now() - t0);
    fflush(stdout);
}

static uint64_t parse_u64(const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || end == s) {
        fprintf(stderr, "fsbench: bad %s '%s'\n", what, s);
        exit(2);
    }
    return v;
}

/* Fisher-Yates shuffle of 0..n-1 with a seeded generator. */
static uint32_t *permutation(uint32_t n, uint64_t seed)
{
    uint32_t *p = malloc((size_t)n * sizeof *p + 1);
    if (!p)
        die("malloc", NULL);
    for (uint32_t i = 0; i < n; i++)
        p[i] = i;
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = (uint32_t)(mix(seed ^ i) % i);
        uint32_t t = p[i - 1];
        p[i - 1] = p[j];
        p[j] = t;
    }
    return p;
}

static void write_all(int fd, const void *buf, size_t len, off_t off,
                      const char *path)
{
    const unsigned char *b = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, b, len, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            die("write", path);
        b += n;
        len -= (size_t)n;
        off += n;
    }
}

/* Reads exactly len bytes at off; a short file is a mismatch. */
static void read_all(int fd, void *buf, size_t len, off_t off,
                     const char *path)
{
    unsigned char *b = buf;
    while (len > 0) {
        ssize_t n = pread(fd, b, len, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("read", path);
        if (n == 0) {
            errno = 0;
            die("short read (file too small)", path);
        }
        b += n;
        len -= (size_t)n;
        off += n;
    }
}

/* --- meta ------------------------------------------------------------- */

static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        die("opendir", dir);
    size_t n = 0;
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    }
    if (errno)
        die("readdir", dir);
    closedir(d);
    return n;
}

static void bench_meta(const char *dir, uint32_t n, uint64_t seed)
{
    char path[4096], path2[4096];
    struct stat st;
    uint32_t *order = permutation(n, seed);
    if (mkdir(dir, 0755) != 0)
        die("mkdir", dir);

    double t0 = now();
    for (uint32_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/f%07u", dir, i);
        int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
        if (fd < 0 || close(fd) != 0)
            die("create", path);
    }
    phase("meta.create", t0);

    t0 = now();
    for (uint32_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/f%07u", dir, order[i]);
        if (stat(path, &st) != 0)
            die("stat", path);
        if (!S_ISREG(st.st_mode) || st.st_size != 0) {
            errno = 0;
            die("stat: not an empty regular file:", path);
        }
    }
    phase("meta.stat", t0);

    t0 = now();
    for (uint32_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/m%07u", dir, order[i]);
        if (stat(path, &st) == 0 || errno != ENOENT) {
            if (errno == 0)
                errno = EEXIST;
            die("stat of a missing name", path);
        }
    }
    phase("meta.statmiss", t0);

    t0 = now();
    size_t listed = count_entries(dir);
    phase("meta.list", t0);
    if (listed != n) {
        fprintf(stderr, "fsbench: %s lists %zu entries, expected %u\n", dir,
                listed, n);
        exit(1);
    }

    t0 = now();
    for (uint32_t i = 0; i < n; i += 2) {
        snprintf(path, sizeof path, "%s/f%07u", dir, order[i]);
        snprintf(path2, sizeof path2, "%s/r%07u", dir, order[i]);
        if (rename(path, path2) != 0)
            die("rename", path);
    }
    phase("meta.rename", t0);

    t0 = now();
    for (uint32_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%c%07u", dir, i % 2 ? 'f' : 'r',
                 order[i]);
        if (unlink(path) != 0)
            die("unlink", path);
    }
    phase("meta.unlink", t0);

    if (count_entries(dir) != 0) {
        errno = 0;
        die("not empty after unlinking every file:", dir);
    }
    if (rmdir(dir) != 0)
        die("rmdir", dir);
    free(order);
}

/* --- small files ------------------------------------------------------ */

/* Creates path (which must not exist) holding buf[0..size). */
static void create_file(const char *path, const unsigned char *buf, size_t size)
{
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
    if (fd < 0)
        die("create", path);
    write_all(fd, buf, size, 0, path);
    if (close(fd) != 0)
        die("close", path);
}

/* Checks that path holds exactly want[0..size): one open + read + close;
 * the read asks one byte more than the size, which checks the length.
 * scratch has room for size + 1 bytes. */
static void check_file(const char *path, const unsigned char *want, size_t size,
                       unsigned char *scratch)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        die("open", path);
    size_t have = 0;
    for (;;) {
        ssize_t r = read(fd, scratch + have, size + 1 - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            die("read", path);
        if (r == 0 || (have += (size_t)r) == size + 1)
            break;
    }
    close(fd);
    errno = 0;
    if (have != size || memcmp(scratch, want, size) != 0)
        die("content differs:", path);
}

static size_t small_size(uint32_t i)
{
    return SMALL_MIN + (size_t)(mix(i * 2 + 1) % (SMALL_MAX - SMALL_MIN + 1));
}

/* The expected content of small file i in buf (SMALL_MAX bytes). */
static void small_content(uint32_t i, unsigned char *buf, size_t size)
{
    size_t off = (size_t)(mix(i * 2) % (MIB - SMALL_MAX));
    memcpy(buf, base + off, size);
    uint64_t tag = i;
    memcpy(buf, &tag, 8);
}

static void small_path(char *path, size_t cap, const char *dir, uint32_t i)
{
    snprintf(path, cap, "%s/d%02u/s%07u", dir, i % SMALL_DIRS, i);
}

static void bench_small(const char *dir, uint32_t n, uint64_t seed)
{
    char path[4096];
    unsigned char want[SMALL_MAX], got[SMALL_MAX + 1];
    uint32_t *order = permutation(n, seed);

    double t0 = now();
    if (mkdir(dir, 0755) != 0)
        die("mkdir", dir);
    for (uint32_t d = 0; d < SMALL_DIRS; d++) {
        snprintf(path, sizeof path, "%s/d%02u", dir, d);
        if (mkdir(path, 0755) != 0)
            die("mkdir", path);
    }
    for (uint32_t i = 0; i < n; i++) {
        size_t size = small_size(i);
        small_content(i, want, size);
        small_path(path, sizeof path, dir, i);
        create_file(path, want, size);
    }
    phase("small.write", t0);

    /* Read in random order. */
    t0 = now();
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = order[k];
        size_t size = small_size(i);
        small_content(i, want, size);
        small_path(path, sizeof path, dir, i);
        check_file(path, want, size, got);
    }
    phase("small.read", t0);
    free(order);
}

/* --- many files -------------------------------------------------------- */

#define MANY_PER_DIR 1000u
#define MANY_WINDOW 10000u
#define MANY_MAX 1000u

static size_t many_size(uint32_t i)
{
    return SMALL_MIN + (size_t)(mix(i * 2 + 1) % (MANY_MAX - SMALL_MIN + 1));
}

static void many_path(char *path, size_t cap, const char *dir, uint32_t i)
{
    snprintf(path, cap, "%s/d%04u/f%07u", dir, i / MANY_PER_DIR, i);
}

/* How create time grows with the number of files: one line per window of
 * MANY_WINDOW creates, so a caller can compare the first window with the
 * last (and sample the daemon's memory meanwhile). */
static void bench_many(const char *dir, uint32_t n)
{
    char path[4096];
    unsigned char want[MANY_MAX], got[MANY_MAX + 1];
    if (mkdir(dir, 0755) != 0)
        die("mkdir", dir);
    double t0 = now(), tw = t0;
    for (uint32_t i = 0; i < n; i++) {
        if (i % MANY_PER_DIR == 0) {
            snprintf(path, sizeof path, "%s/d%04u", dir, i / MANY_PER_DIR);
            if (mkdir(path, 0755) != 0)
                die("mkdir", path);
        }
        size_t size = many_size(i);
        small_content(i, want, size);
        many_path(path, sizeof path, dir, i);
        create_file(path, want, size);
        if ((i + 1) % MANY_WINDOW == 0 || i + 1 == n) {
            double t = now();
            printf("WINDOW %u %.6f\n", i + 1, t - tw);
            fflush(stdout);
            tw = t;
        }
    }
    phase("many.create", t0);
    for (uint32_t i = 0; i < n; i += 97) {
        size_t size = many_size(i);
        small_content(i, want, size);
        many_path(path, sizeof path, dir, i);
        check_file(path, want, size, got);
    }
}

/* --- large file ------------------------------------------------------- */

static void page_content(uint64_t page, uint64_t gen, unsigned char *buf)
{
    memcpy(buf, base + (page % (MIB / PAGE)) * PAGE, PAGE);
    memcpy(buf, &page, 8);
    memcpy(buf + 8, &gen, 8);
}

static void bench_seqwrite(const char *file, uint64_t mib)
{
    static unsigned char buf[MIB];
    double t0 = now();
    int fd = open(file, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0)
        die("create", file);
    for (uint64_t m = 0; m < mib; m++) {
        for (uint64_t p = 0; p < MIB / PAGE; p++)
            page_content(m * (MIB / PAGE) + p, 0, buf + p * PAGE);
        write_all(fd, buf, MIB, (off_t)(m * MIB), file);
    }
    if (fsync(fd) != 0)
        die("fsync", file);
    if (close(fd) != 0)
        die("close", file);
    phase("large.seqwrite", t0);
}

static void bench_seqread(const char *file, uint64_t mib)
{
    static unsigned char buf[MIB], want[MIB];
    double t0 = now();
    int fd = open(file, O_RDONLY);
    if (fd < 0)
        die("open", file);
    for (uint64_t m = 0; m < mib; m++) {
        read_all(fd, buf, MIB, (off_t)(m * MIB), file);
        for (uint64_t p = 0; p < MIB / PAGE; p++)
            page_content(m * (MIB / PAGE) + p, 0, want + p * PAGE);
        errno = 0;
        if (memcmp(buf, want, MIB) != 0)
            die("content differs in the first MiB after", file);
    }
    struct stat st;
    if (fstat(fd, &st) != 0)
        die("fstat", file);
    errno = 0;
    if ((uint64_t)st.st_size != mib * MIB)
        die("wrong size:", file);
    close(fd);
    phase("large.seqread", t0);
}

static void bench_randwrite(const char *file, uint64_t mib, uint32_t count,
                            uint64_t seed)
{
    uint32_t pages = (uint32_t)(mib * (MIB / PAGE));
    if (count > pages)
        count = pages;
    uint32_t *order = permutation(pages, seed);
    unsigned char buf[PAGE], got[PAGE];

    double t0 = now();
    int fd = open(file, O_WRONLY);
    if (fd < 0)
        die("open", file);
    for (uint32_t k = 0; k < count; k++) {
        page_content(order[k], 1, buf);
        write_all(fd, buf, PAGE, (off_t)order[k] * PAGE, file);
    }
    if (fsync(fd) != 0)
        die("fsync", file);
    if (close(fd) != 0)
        die("close", file);
    phase("large.randwrite", t0);

    /* Untimed: the rewritten pages and their neighbours read back. */
    fd = open(file, O_RDONLY);
    if (fd < 0)
        die("open", file);
    uint8_t *written = calloc(pages, 1);
    if (!written)
        die("calloc", NULL);
    for (uint32_t k = 0; k < count; k++)
        written[order[k]] = 1;
    for (uint32_t k = 0; k < count; k++) {
        uint32_t p = order[k];
        for (uint32_t q = p ? p - 1 : p; q <= p + 1 && q < pages; q++) {
            page_content(q, written[q], buf);
            read_all(fd, got, PAGE, (off_t)q * PAGE, file);
            errno = 0;
            if (memcmp(got, buf, PAGE) != 0)
                die("content differs after random writes:", file);
        }
    }
    close(fd);
    free(written);
    free(order);
}

/* --- mixed: metadata latency while large writes run ---------------------- */

enum { OP_CREATE, OP_STAT, OP_RENAME, OP_READDIR, OP_UNLINK, NOPS };
static const char *const op_names[NOPS] = { "create", "stat", "rename",
                                            "readdir", "unlink" };
#define META_RESIDENTS 16u            /* files that stay in the loop's dir */

struct lat {                          /* one operation's samples, in ns */
    uint64_t *v;
    size_t n, cap;
};

static void lat_add(struct lat *l, uint64_t ns)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 4096;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        if (!l->v)
            die("realloc", NULL);
    }
    l->v[l->n++] = ns;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The sample at quantile q of sorted v[0..n) (nearest rank), in µs. */
static double quantile_us(const uint64_t *v, size_t n, double q)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(q * (double)n + 0.999999);
    i = i == 0 ? 0 : i - 1;
    return (double)v[i < n ? i : n - 1] / 1e3;
}

static void lat_print(const char *name, struct lat *l, double secs)
{
    qsort(l->v, l->n, sizeof *l->v, cmp_u64);
    printf("META op=%s count=%zu rate=%.0f p50=%.1f p99=%.1f p999=%.1f max=%.1f\n",
           name, l->n, secs > 0 ? (double)l->n / secs : 0,
           quantile_us(l->v, l->n, 0.50), quantile_us(l->v, l->n, 0.99),
           quantile_us(l->v, l->n, 0.999), quantile_us(l->v, l->n, 1.0));
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One round of the metadata loop on name i, each call timed into lat. */
static void meta_round(const char *dir, uint64_t i, struct lat *lat)
{
    char path[4200], path2[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/c%llu", dir, (unsigned long long)i);
    snprintf(path2, sizeof path2, "%s/r%llu", dir, (unsigned long long)i);
    uint64_t t = now_ns(), t2;
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
    if (fd < 0 || close(fd) != 0)
        die("create", path);
    t2 = now_ns();
    lat_add(&lat[OP_CREATE], t2 - t);
    if (stat(path, &st) != 0)
        die("stat", path);
    t = now_ns();
    lat_add(&lat[OP_STAT], t - t2);
    if (rename(path, path2) != 0)
        die("rename", path);
    t2 = now_ns();
    lat_add(&lat[OP_RENAME], t2 - t);
    size_t n = count_entries(dir);
    t = now_ns();
    lat_add(&lat[OP_READDIR], t - t2);
    if (n != META_RESIDENTS + 1) {
        fprintf(stderr, "fsbench: %s lists %zu entries, expected %u\n", dir, n,
                META_RESIDENTS + 1);
        exit(1);
    }
    if (unlink(path2) != 0)
        die("unlink", path2);
    lat_add(&lat[OP_UNLINK], now_ns() - t);
}

/* Runs the metadata loop in DIR/meta until `stop` returns 1 (asked every
 * round), then prints its lines. */
static void meta_loop(const char *dir, int (*stop)(void *), void *ctx)
{
    char mdir[4000], path[4096];
    snprintf(mdir, sizeof mdir, "%s/meta", dir);
    if (mkdir(mdir, 0755) != 0)
        die("mkdir", mdir);
    for (unsigned k = 0; k < META_RESIDENTS; k++) {
        snprintf(path, sizeof path, "%s/resident%u", mdir, k);
        create_file(path, base, 0);
    }
    struct lat lat[NOPS] = { { 0 } }, all = { 0 };
    double t0 = now();
    for (uint64_t i = 0; !stop(ctx); i++)
        meta_round(mdir, i, lat);
    double secs = now() - t0;
    for (int o = 0; o < NOPS; o++) {
        for (size_t k = 0; k < lat[o].n; k++)
            lat_add(&all, lat[o].v[k]);
        lat_print(op_names[o], &lat[o], secs);
        free(lat[o].v);
    }
    lat_print("all", &all, secs);
    free(all.v);
    for (unsigned k = 0; k < META_RESIDENTS; k++) {
        snprintf(path, sizeof path, "%s/resident%u", mdir, k);
        if (unlink(path) != 0)
            die("unlink", path);
    }
    if (rmdir(mdir) != 0)
        die("rmdir", mdir);
    fflush(stdout);
}

static int stop_at_time(void *ctx)
{
    return now() >= *(double *)ctx;
}

struct writers {
    pid_t pid[64];
    unsigned n, running;
};

/* Reaps the writers that have exited; 1 once none runs.  A writer that
 * failed fails the run. */
static int stop_when_written(void *ctx)
{
    struct writers *w = ctx;
    int status;
    pid_t pid;
    while (w->running > 0 && (pid = waitpid(-1, &status, WNOHANG)) > 0) {
        w->running--;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "fsbench: writer %d failed\n", (int)pid);
            exit(1);
        }
    }
    return w->running == 0;
}

/* Writer k's file: MIB MiB of sequential 1 MiB writes, then fsync. */
static void writer_child(const char *dir, unsigned k, uint64_t mib)
{
    char path[4096];
    static unsigned char buf[MIB];
    snprintf(path, sizeof path, "%s/big.%u", dir, k);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0)
        die("create", path);
    for (uint64_t m = 0; m < mib; m++) {
        for (uint64_t p = 0; p < MIB / PAGE; p++)
            page_content(m * (MIB / PAGE) + p, k, buf + p * PAGE);
        write_all(fd, buf, MIB, (off_t)(m * MIB), path);
    }
    if (fsync(fd) != 0)
        die("fsync", path);
    if (close(fd) != 0)
        die("close", path);
    _exit(0);
}

/* Starts w->n writers; with meta, runs the metadata loop until they end. */
static void bench_mixed(const char *dir, unsigned nwriters, uint64_t mib,
                        int meta)
{
    struct writers w = { .n = nwriters, .running = 0 };
    if (nwriters == 0 || nwriters > sizeof w.pid / sizeof w.pid[0]) {
        fprintf(stderr, "fsbench: 1..64 writers\n");
        exit(2);
    }
    fflush(stdout);
    double t0 = now();
    for (unsigned k = 0; k < nwriters; k++) {
        w.pid[k] = fork();
        if (w.pid[k] < 0)
            die("fork", NULL);
        if (w.pid[k] == 0)
            writer_child(dir, k, mib);
        w.running++;
    }
    if (meta) {
        meta_loop(dir, stop_when_written, &w);
    } else {
        while (!stop_when_written(&w))
            usleep(1000);
    }
    double secs = now() - t0;
    printf("WRITE writers=%u mib=%llu secs=%.3f mibps=%.1f\n", nwriters,
           (unsigned long long)(mib * nwriters), secs,
           (double)(mib * nwriters) / secs);
    fflush(stdout);
    char path[4096];
    for (unsigned k = 0; k < nwriters; k++) {
        snprintf(path, sizeof path, "%s/big.%u", dir, k);
        if (unlink(path) != 0)
            die("unlink", path);
    }
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: fsbench meta|small DIR N SEED | "
                "seqwrite|seqread FILE MIB | randwrite FILE MIB COUNT SEED | "
                "many DIR N | writers|mixed DIR W MIB | metaloop DIR SECS\n");
        return 2;
    }
    fill_base();
    const char *op = argv[1], *path = argv[2];
    uint64_t a = parse_u64(argv[3], "number");
    if (!strcmp(op, "meta") && argc == 5)
        bench_meta(path, (uint32_t)a, parse_u64(argv[4], "seed"));
    else if (!strcmp(op, "small") && argc == 5)
        bench_small(path, (uint32_t)a, parse_u64(argv[4], "seed"));
    else if (!strcmp(op, "many") && argc == 4)
        bench_many(path, (uint32_t)a);
    else if (!strcmp(op, "seqwrite") && argc == 4)
        bench_seqwrite(path, a);
    else if (!strcmp(op, "seqread") && argc == 4)
        bench_seqread(path, a);
    else if (!strcmp(op, "randwrite") && argc == 6)
        bench_randwrite(path, a, (uint32_t)parse_u64(argv[4], "count"),
                        parse_u64(argv[5], "seed"));
    else if ((!strcmp(op, "writers") || !strcmp(op, "mixed")) && argc == 5)
        bench_mixed(path, (unsigned)a, parse_u64(argv[4], "MiB"),
                    !strcmp(op, "mixed"));
    else if (!strcmp(op, "metaloop") && argc == 4) {
        double until = now() + (double)a;
        meta_loop(path, stop_at_time, &until);
    } else {
        fprintf(stderr, "fsbench: bad command line (see the usage)\n");
        return 2;
    }
    return 0;
}
