/*
 * dio_race.c — buffered reads right after O_DIRECT writes while other
 * buffered readers run (the pattern of xfstests generic/451), for
 * tests/mounted/t_dio_race.sh.
 *
 *   dio_race FILE MODE ROUNDS READERS
 *
 * FILE is made CHUNKS * CHUNK bytes long (buffered writes, fsync).  Then,
 * ROUNDS times over every chunk in turn: the chunk is rewritten with
 * O_DIRECT, MODE "aio" (one kernel AIO write, io_submit + io_getevents,
 * raw system calls) or "sync" (pwrite), while READERS threads keep doing
 * buffered reads of that same chunk; once the write has completed, one
 * buffered read of the chunk must return the new bytes.
 *
 * Prints "writes N stale S wrong W" (stale: a read returned the chunk's
 * previous contents; wrong: anything else unexpected); exit status 0 when
 * S and W are 0, 1 otherwise, 2 on a failed call (one line on stderr).
 * Every write is full and non-extending, so the kernel may complete AIO
 * writes asynchronously.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CHUNK (64u << 10)
#define CHUNKS 32u

static atomic_uint cur_chunk;        /* the chunk readers read */
static atomic_int stop;
static const char *path;

static void die(const char *what)
{
    fprintf(stderr, "dio_race: %s: %s\n", what, strerror(errno));
    exit(2);
}

/* Chunk c's contents after `round` rewrites: 8-byte words naming both. */
static void fill(uint64_t *w, unsigned c, unsigned round)
{
    for (size_t i = 0; i < CHUNK / 8; i++)
        w[i] = (uint64_t)round << 48 | (uint64_t)c << 32 | i;
}

static void *reader(void *arg)
{
    (void)arg;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        die("open (reader)");
    char *buf = malloc(CHUNK);
    if (buf == NULL)
        die("malloc");
    while (!atomic_load(&stop)) {
        off_t off = (off_t)atomic_load(&cur_chunk) * CHUNK;
        if (pread(fd, buf, CHUNK, off) < 0)
            die("pread (reader)");
    }
    free(buf);
    close(fd);
    return NULL;
}

static void aio_write(aio_context_t ctx, int fd, const void *buf, off_t off)
{
    struct iocb cb;
    memset(&cb, 0, sizeof cb);
    cb.aio_lio_opcode = IOCB_CMD_PWRITE;
    cb.aio_fildes = (uint32_t)fd;
    cb.aio_buf = (uint64_t)(uintptr_t)buf;
    cb.aio_nbytes = CHUNK;
    cb.aio_offset = off;
    struct iocb *list[1] = { &cb };
    if (syscall(SYS_io_submit, ctx, 1L, list) != 1)
        die("io_submit");
    struct io_event ev;
    long n;
    while ((n = syscall(SYS_io_getevents, ctx, 1L, 1L, &ev, NULL)) < 0 &&
           errno == EINTR)
        ;
    if (n != 1)
        die("io_getevents");
    if (ev.res != (int64_t)CHUNK) {
        errno = ev.res < 0 ? (int)-ev.res : EIO;
        die("AIO write");
    }
}

static void make_file(uint64_t *w)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        die("create");
    for (unsigned c = 0; c < CHUNKS; c++) {
        fill(w, c, 0);
        if (pwrite(fd, w, CHUNK, (off_t)c * CHUNK) != (ssize_t)CHUNK)
            die("pwrite (setup)");
    }
    if (fsync(fd) != 0)
        die("fsync");
    close(fd);
}

int main(int argc, char **argv)
{
    if (argc != 5 || (strcmp(argv[2], "aio") != 0 && strcmp(argv[2], "sync") != 0)) {
        fprintf(stderr, "usage: dio_race FILE aio|sync ROUNDS READERS\n");
        return 2;
    }
    path = argv[1];
    int aio = strcmp(argv[2], "aio") == 0;
    unsigned rounds = (unsigned)strtoul(argv[3], NULL, 10);
    unsigned nreaders = (unsigned)strtoul(argv[4], NULL, 10);
    uint64_t *w, *prev, *got;
    if (posix_memalign((void **)&w, 4096, CHUNK) != 0 ||
        posix_memalign((void **)&prev, 4096, CHUNK) != 0 ||
        posix_memalign((void **)&got, 4096, CHUNK) != 0) {
        errno = ENOMEM;
        die("posix_memalign");
    }
    make_file(w);
    int dfd = open(path, O_RDWR | O_DIRECT);
    int bfd = open(path, O_RDONLY);
    if (dfd < 0 || bfd < 0)
        die("open");
    aio_context_t ctx = 0;
    if (aio && syscall(SYS_io_setup, 1L, &ctx) != 0)
        die("io_setup");

    pthread_t *th = calloc(nreaders ? nreaders : 1, sizeof *th);
    if (th == NULL)
        die("calloc");
    for (unsigned i = 0; i < nreaders; i++)
        if ((errno = pthread_create(&th[i], NULL, reader, NULL)) != 0)
            die("pthread_create");

    unsigned long writes = 0, stale = 0, wrong = 0;
    for (unsigned r = 1; r <= rounds; r++) {
        for (unsigned c = 0; c < CHUNKS; c++) {
            off_t off = (off_t)c * CHUNK;
            atomic_store(&cur_chunk, c);
            fill(w, c, r);
            if (aio)
                aio_write(ctx, dfd, w, off);
            else if (pwrite(dfd, w, CHUNK, off) != (ssize_t)CHUNK)
                die("pwrite (O_DIRECT)");
            writes++;
            if (pread(bfd, got, CHUNK, off) != (ssize_t)CHUNK)
                die("pread (check)");
            if (memcmp(got, w, CHUNK) == 0)
                continue;
            fill(prev, c, r - 1);
            int old = 0;
            for (size_t p = 0; p < CHUNK / 8; p += 512)
                old |= memcmp(got + p, prev + p, 4096) == 0;
            if (old)
                stale++;
            else
                wrong++;
            if (stale + wrong == 1)
                fprintf(stderr, "dio_race: round %u chunk %u: %s data after the "
                        "write completed\n", r, c, old ? "old" : "unexpected");
        }
    }
    atomic_store(&stop, 1);
    for (unsigned i = 0; i < nreaders; i++)
        pthread_join(th[i], NULL);
    if (aio)
        syscall(SYS_io_destroy, ctx);
    printf("writes %lu stale %lu wrong %lu\n", writes, stale, wrong);
    free(th);
    free(w);
    free(prev);
    free(got);
    close(dfd);
    close(bfd);
    return stale == 0 && wrong == 0 ? 0 : 1;
}
