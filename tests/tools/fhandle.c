/*
 * fhandle.c — file handles from the shell, for tests/mounted/t_fhandle.sh.
 *
 *   fhandle encode PATH          prints PATH's handle as one hex word
 *   fhandle cat MOUNT HANDLE     writes the file's bytes to stdout
 *   fhandle ls MOUNT HANDLE      prints the directory's entry names (not
 *                                "." and ".."), sorted, one per line
 *   fhandle path MOUNT HANDLE    prints the path the kernel gives the
 *                                opened inode (/proc/self/fd): for a
 *                                directory, where it is in the tree now
 *
 * MOUNT is any path on the filesystem (open_by_handle_at's mount fd); the
 * opens need CAP_DAC_READ_SEARCH (root).  Exit status: 0, 3 when the
 * handle is stale (ESTALE), 1 for any other failure (one line on stderr).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HANDLE_MAX 128            /* MAX_HANDLE_SZ */

static int fail(const char *what, const char *arg)
{
    int e = errno;
    fprintf(stderr, "fhandle: %s %s: %s\n", what, arg, strerror(e));
    return e == ESTALE ? 3 : 1;
}

/* Hex word: 8 digits of handle_type, then the handle's bytes. */
static int encode(const char *path)
{
    union {
        struct file_handle fh;
        char space[sizeof(struct file_handle) + HANDLE_MAX];
    } u;
    int mount_id;
    u.fh.handle_bytes = HANDLE_MAX;
    if (name_to_handle_at(AT_FDCWD, path, &u.fh, &mount_id, 0) != 0)
        return fail("name_to_handle_at", path);
    printf("%08x", (unsigned)u.fh.handle_type);
    for (unsigned i = 0; i < u.fh.handle_bytes; i++)
        printf("%02x", (unsigned char)u.fh.f_handle[i]);
    printf("\n");
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Opens the inode a hex word from encode() names; -1 with errno set. */
static int open_handle(const char *mount, const char *hex, int flags)
{
    union {
        struct file_handle fh;
        char space[sizeof(struct file_handle) + HANDLE_MAX];
    } u;
    size_t n = strlen(hex);
    if (n < 8 || n % 2 != 0 || (n - 8) / 2 > HANDLE_MAX) {
        errno = EINVAL;
        return -1;
    }
    unsigned type = 0;
    for (size_t i = 0; i < 8; i++) {
        int v = hexval(hex[i]);
        if (v < 0) {
            errno = EINVAL;
            return -1;
        }
        type = type << 4 | (unsigned)v;
    }
    u.fh.handle_type = (int)type;
    u.fh.handle_bytes = (unsigned)((n - 8) / 2);
    for (unsigned i = 0; i < u.fh.handle_bytes; i++) {
        int hi = hexval(hex[8 + 2 * i]), lo = hexval(hex[9 + 2 * i]);
        if (hi < 0 || lo < 0) {
            errno = EINVAL;
            return -1;
        }
        u.fh.f_handle[i] = (unsigned char)(hi << 4 | lo);
    }
    int mfd = open(mount, O_RDONLY | O_DIRECTORY);
    if (mfd < 0)
        return -1;
    int fd = open_by_handle_at(mfd, &u.fh, flags);
    int e = errno;
    close(mfd);
    errno = e;
    return fd;
}

static int cat(int fd)
{
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
            return fail("write", "stdout");
    return n < 0 ? fail("read", "by handle") : 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ls(int fd)
{
    DIR *d = fdopendir(fd);
    if (d == NULL)
        return fail("fdopendir", "by handle");
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    int rc = 0;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **p = realloc(names, cap * sizeof *p);
            if (p == NULL) {
                rc = fail("realloc", "names");
                break;
            }
            names = p;
        }
        if ((names[n] = strdup(e->d_name)) == NULL) {
            rc = fail("strdup", "name");
            break;
        }
        n++;
    }
    if (rc == 0 && errno != 0)
        rc = fail("readdir", "by handle");
    qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            printf("%s\n", names[i]);
        free(names[i]);
    }
    free(names);
    closedir(d);
    return rc;
}

static int path(int fd)
{
    char link[64], buf[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, buf, sizeof buf - 1);
    if (n < 0)
        return fail("readlink", link);
    buf[n] = '\0';
    printf("%s\n", buf);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "encode") == 0)
        return encode(argv[2]);
    if (argc != 4) {
        fprintf(stderr, "usage: fhandle encode PATH | "
                "fhandle cat|ls|path MOUNT HANDLE\n");
        return 1;
    }
    const char *cmd = argv[1];
    int flags;
    if (strcmp(cmd, "cat") == 0)
        flags = O_RDONLY;
    else if (strcmp(cmd, "ls") == 0)
        flags = O_RDONLY | O_DIRECTORY;
    else if (strcmp(cmd, "path") == 0)
        flags = O_PATH;
    else {
        fprintf(stderr, "fhandle: unknown command %s\n", cmd);
        return 1;
    }
    int fd = open_handle(argv[2], argv[3], flags);
    if (fd < 0)
        return fail("open_by_handle_at", argv[3]);
    int rc = strcmp(cmd, "cat") == 0 ? cat(fd) :
             strcmp(cmd, "ls") == 0 ? ls(fd) : path(fd);
    close(fd);
    if (fflush(stdout) != 0 && rc == 0)
        rc = fail("write", "stdout");
    return rc;
}
