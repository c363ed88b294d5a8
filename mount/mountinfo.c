/*
 * mountinfo.c — what /proc/self/mountinfo says about a mount point: the
 * store lock wait (main.c) asks whether the lock holder's mount is still
 * there, a remount (remount.c) which mount it changes.
 *
 * A line is "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] -
 * FSTYPE SOURCE SUPER-OPTIONS", with space, tab, newline and backslash in
 * paths written as \ooo octal escapes.  Reading it never touches the
 * mount itself (a dead FUSE mount hangs or fails stat).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mnt.h"

/* Undoes the kernel's \ooo escapes in place. */
static void mnt_unescape(char *s)
{
    char *out = s;
    for (; *s != '\0'; s++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
            s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
            *out++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
            s += 3;
        } else {
            *out++ = *s;
        }
    }
    *out = '\0';
}

/* Fills m from one line if its mount point is path: 1, else 0. */
static int mnt_parse_line(char *line, const char *path, struct mnt_mount *m)
{
    char *save = NULL;
    char *field[6];
    for (int i = 0; i < 6; i++) {
        field[i] = strtok_r(i == 0 ? line : NULL, " \n", &save);
        if (field[i] == NULL)
            return 0;
    }
    mnt_unescape(field[4]);
    if (strcmp(field[4], path) != 0)
        return 0;
    char *tok;
    while ((tok = strtok_r(NULL, " \n", &save)) != NULL && strcmp(tok, "-") != 0)
        ;                                  /* optional fields */
    char *fstype = tok ? strtok_r(NULL, " \n", &save) : NULL;
    if (fstype == NULL)
        return 0;
    if (sscanf(field[2], "%u:%u", &m->dev_major, &m->dev_minor) != 2)
        return 0;
    snprintf(m->fstype, sizeof m->fstype, "%s", fstype);
    snprintf(m->opts, sizeof m->opts, "%s", field[5]);
    return 1;
}

int mnt_mount_at(const char *path, struct mnt_mount *m)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (f == NULL)
        return -errno;
    char *line = NULL;
    size_t cap = 0;
    int found = 0;
    struct mnt_mount cur;
    /* Mounts stacked on one point are listed bottom first: the last
     * match is the one path resolves to. */
    while (getline(&line, &cap, f) > 0) {
        if (mnt_parse_line(line, path, &cur)) {
            *m = cur;
            found = 1;
        }
    }
    free(line);
    fclose(f);
    return found;
}

int mnt_is_fuse_type(const char *fstype)
{
    return strcmp(fstype, "fuse") == 0 || strcmp(fstype, "fuseblk") == 0 ||
           strncmp(fstype, "fuse.", 5) == 0;
}
