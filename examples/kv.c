/*
 * kv.c — a key-value command-line tool on liblsm, built against the
 * installed library alone (see Makefile: pkg-config --cflags --libs lsm).
 *
 *   kv DIR put KEY VALUE     store VALUE under KEY (synced: survives power loss)
 *   kv DIR get KEY           print KEY's value
 *   kv DIR del KEY           delete KEY
 *   kv DIR scan [PREFIX]     print "KEY<TAB>VALUE" for every key (with PREFIX)
 *   kv DIR count             print the number of keys
 *
 * The store in DIR is created on first use.  Exit status: 0 done, 1 key
 * not found (get), 2 usage error, 3 the store reported an error.
 */
#include <stdio.h>
#include <string.h>

#include <lsm.h>

enum { EXIT_NOT_FOUND = 1, EXIT_USAGE = 2, EXIT_STORE = 3 };

static int store_error(const char *what, int status)
{
    fprintf(stderr, "kv: %s: %s (%s)\n", what, lsm_last_error(),
            lsm_status_name(status));
    return EXIT_STORE;
}

static int cmd_get(lsm_db *db, const char *key)
{
    void *val;
    size_t vlen;
    int st = lsm_get(db, NULL, key, strlen(key), &val, &vlen);
    if (st == LSM_NOT_FOUND) {
        fprintf(stderr, "kv: %s: not found\n", key);
        return EXIT_NOT_FOUND;
    }
    if (st != LSM_OK)
        return store_error("get", st);
    fwrite(val, 1, vlen, stdout);
    putchar('\n');
    lsm_free(val);
    return 0;
}

/* Keys in order from the first one >= prefix while they start with it;
 * count_only: print how many instead of the pairs. */
static int cmd_scan(lsm_db *db, const char *prefix, int count_only)
{
    size_t plen = strlen(prefix);
    unsigned long long n = 0;
    lsm_iter *it = lsm_iter_new(db, NULL);
    if (it == NULL)
        return store_error("scan", LSM_NO_MEMORY);
    for (lsm_iter_seek(it, prefix, plen); lsm_iter_valid(it); lsm_iter_next(it)) {
        size_t klen, vlen;
        const char *k = lsm_iter_key(it, &klen);
        if (klen < plen || memcmp(k, prefix, plen) != 0)
            break;
        n++;
        if (!count_only) {
            const char *v = lsm_iter_value(it, &vlen);
            printf("%.*s\t%.*s\n", (int)klen, k, (int)vlen, v);
        }
    }
    int st = lsm_iter_status(it);
    lsm_iter_free(it);
    if (st != LSM_OK)
        return store_error("scan", st);
    if (count_only)
        printf("%llu\n", n);
    return 0;
}

static int run(lsm_db *db, const char *cmd, int argc, char **argv)
{
    int st;
    if (strcmp(cmd, "put") == 0 && argc == 2) {
        st = lsm_put(db, argv[0], strlen(argv[0]), argv[1], strlen(argv[1]),
                     LSM_SYNC);
        return st == LSM_OK ? 0 : store_error("put", st);
    }
    if (strcmp(cmd, "get") == 0 && argc == 1)
        return cmd_get(db, argv[0]);
    if (strcmp(cmd, "del") == 0 && argc == 1) {
        st = lsm_delete(db, argv[0], strlen(argv[0]), LSM_SYNC);
        return st == LSM_OK ? 0 : store_error("del", st);
    }
    if (strcmp(cmd, "scan") == 0 && argc <= 1)
        return cmd_scan(db, argc == 1 ? argv[0] : "", 0);
    if (strcmp(cmd, "count") == 0 && argc == 0)
        return cmd_scan(db, "", 1);
    return -1;
}

static int usage(void)
{
    fputs("usage: kv DIR put KEY VALUE | get KEY | del KEY | scan [PREFIX] | count\n",
          stderr);
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return usage();
    lsm_options opt;
    lsm_options_init(&opt);
    opt.memtable_bytes = 4u << 20;   /* a small tool: small buffers */
    opt.cache_bytes = 4u << 20;
    lsm_db *db;
    int st = lsm_open(argv[1], &opt, &db);
    if (st != LSM_OK)
        return store_error("open", st);
    int rc = run(db, argv[2], argc - 3, argv + 3);
    st = lsm_close(db);
    if (rc < 0)
        return usage();
    if (st != LSM_OK && rc == 0)
        rc = store_error("close", st);
    return rc;
}
