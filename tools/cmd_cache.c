/* zoo cache list|verify|clean: what the download cache ($ZOO_HOME, default
 * ~/.cache/zoo) holds, whether its files still have their registry hashes,
 * and removing leftovers (or everything). */
#define _GNU_SOURCE
#include "tools/commands.h"

#include "zoo/download_internal.h"
#include <zoo/zoo.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static void help(FILE *out)
{
    fprintf(out,
            "usage: zoo cache list\n"
            "       zoo cache verify [--delete]\n"
            "       zoo cache clean [--all]\n"
            "\n"
            "The download cache: $ZOO_HOME, default ~/.cache/zoo.\n"
            "  list     every file with its size and what it is (registry weights, the\n"
            "           ImageNet class index, a partial download)\n"
            "  verify   re-hashes the registry's files found in the cache against their\n"
            "           official MD5s; exit 1 if any differs (--delete removes those).\n"
            "           MobileNet files have no published hash: reported as unchecked\n"
            "  clean    removes leftover NAME.part and NAME.lock files (not those of a\n"
            "           download still running); --all removes every file in the cache\n"
            "\n"
            "An existing Keras cache ($KERAS_HOME/models, ~/.keras/models) is only read,\n"
            "never listed, verified or cleaned here.\n"
            "\n"
            "Exit status: 0 success, 1 run-time failure, 2 usage error.\n");
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "zoo cache: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nRun 'zoo cache --help' for the options.\n");
    return EXIT_USAGE;
}

/* ---- the files zoo knows ------------------------------------------- */

typedef struct {
    const char *name; /* points into the URL */
    const char *hash;
    char what[64];
} known_file;

static const char *url_name(const char *url)
{
    const char *slash = strrchr(url, '/');
    return slash ? slash + 1 : url;
}

static int known_files(known_file *out, int cap)
{
    int n = 0;
    for (int i = 0; i < zoo_model_info_count() && n + 2 < cap; i++) {
        const zoo_model_info *m = zoo_model_info_at(i);
        const zoo_weight_file *f[2] = {&m->top, &m->no_top};
        for (int k = 0; k < 2; k++) {
            if (!f[k]->url)
                continue;
            out[n].name = url_name(f[k]->url);
            out[n].hash = f[k]->hash;
            snprintf(out[n].what, sizeof out[n].what, "%s, %s top", m->name,
                     k ? "without" : "with");
            n++;
        }
    }
    out[n].name = url_name(ZOO_LABELS_URL);
    out[n].hash = ZOO_LABELS_MD5;
    snprintf(out[n].what, sizeof out[n].what, "ImageNet class index");
    return n + 1;
}

static const known_file *find_known(const known_file *k, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(k[i].name, name) == 0)
            return &k[i];
    return NULL;
}

/* ---- the cache directory -------------------------------------------- */

typedef struct {
    char *name;
    long long size;
} entry;

static int by_name(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

/* The regular files of `dir`, sorted; *n = -1 (with a message) on error,
 * 0 with *missing set when the directory does not exist. */
static entry *read_dir(const char *dir, int *n, bool *missing)
{
    *n = 0;
    *missing = false;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) {
            *missing = true;
            return NULL;
        }
        fprintf(stderr, "zoo cache: cannot read the cache directory %s: %s\n", dir,
                strerror(errno));
        *n = -1;
        return NULL;
    }
    entry *e = NULL;
    int cap = 0;
    for (struct dirent *de; (de = readdir(d));) {
        if (de->d_name[0] == '.' && (!de->d_name[1] || strcmp(de->d_name, "..") == 0))
            continue;
        char *path = zoo_dl_join(dir, de->d_name);
        struct stat st;
        bool regular = path && lstat(path, &st) == 0 && S_ISREG(st.st_mode);
        free(path);
        if (!regular)
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 32;
            entry *grown = realloc(e, (size_t)cap * sizeof *e);
            if (!grown)
                break;
            e = grown;
        }
        e[*n] = (entry){strdup(de->d_name), (long long)st.st_size};
        if (e[*n].name)
            (*n)++;
    }
    closedir(d);
    qsort(e, (size_t)*n, sizeof *e, by_name);
    return e;
}

static void free_entries(entry *e, int n)
{
    for (int i = 0; i < n; i++)
        free(e[i].name);
    free(e);
}

static void human(double bytes, char *buf, size_t size)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024.0 && u < 4) {
        bytes /= 1024.0;
        u++;
    }
    snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
}

static bool ends_with(const char *s, const char *tail)
{
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcmp(s + a - b, tail) == 0;
}

/* NAME for NAME.part / NAME.lock (malloc'd), else NULL. */
static char *leftover_base(const char *name)
{
    if (ends_with(name, ".part") || ends_with(name, ".lock"))
        return strndup(name, strlen(name) - 5);
    return NULL;
}

/* ---- subcommands ------------------------------------------------------ */

static int cache_list(const char *dir)
{
    known_file known[64];
    int n_known = known_files(known, 64);
    int n;
    bool missing;
    entry *e = read_dir(dir, &n, &missing);
    if (n < 0)
        return EXIT_RUN_FAILURE;
    printf("cache: %s%s\n", dir, missing ? " (does not exist yet)" : "");
    long long total = 0;
    for (int i = 0; i < n; i++) {
        char size[32], what[96] = "";
        human((double)e[i].size, size, sizeof size);
        total += e[i].size;
        const known_file *k = find_known(known, n_known, e[i].name);
        char *base = leftover_base(e[i].name);
        if (k)
            snprintf(what, sizeof what, "%s", k->what);
        else if (base && ends_with(e[i].name, ".part"))
            snprintf(what, sizeof what, "partial download of %s", base);
        else if (base)
            snprintf(what, sizeof what, "lock of %s", base);
        free(base);
        printf("%12lld  %10s  %s%s%s%s\n", e[i].size, size, e[i].name,
               *what ? "  (" : "", what, *what ? ")" : "");
    }
    char size[32];
    human((double)total, size, sizeof size);
    printf("%d file%s, %lld bytes (%s)\n", n, n == 1 ? "" : "s", total, size);
    free_entries(e, n);
    return 0;
}

static int cache_verify(const char *dir, bool delete_bad)
{
    known_file known[64];
    int n_known = known_files(known, 64);
    int n;
    bool missing;
    entry *e = read_dir(dir, &n, &missing);
    if (n < 0)
        return EXIT_RUN_FAILURE;
    int bad = 0, ok = 0, errors = 0;
    for (int i = 0; i < n; i++) {
        const known_file *k = find_known(known, n_known, e[i].name);
        char *path = zoo_dl_join(dir, e[i].name);
        if (!path) {
            errors++;
            continue;
        }
        if (!k) {
            char *base = leftover_base(e[i].name);
            printf("%-10s %s (%s)\n", "skipped", e[i].name,
                   base ? "a leftover; zoo cache clean removes it"
                        : "not a registry file: no hash to check");
            free(base);
        } else if (!k->hash) {
            printf("%-10s %s (Keras publishes no hash for it)\n", "unchecked",
                   e[i].name);
        } else {
            char got[65];
            int kind = zoo_dl_hash_kind(k->hash);
            if (zoo_dl_hash_file(path, (zoo_hash_kind)kind, got) != ZOO_OK) {
                fprintf(stderr, "zoo cache: %s\n", zoo_last_error());
                errors++;
            } else if (strcasecmp(got, k->hash) == 0) {
                printf("%-10s %s\n", "ok", e[i].name);
                ok++;
            } else {
                bad++;
                bool removed = delete_bad && unlink(path) == 0;
                printf("%-10s %s (%s %s, expected %s)%s\n", "MISMATCH", e[i].name,
                       zoo_dl_hash_name((zoo_hash_kind)kind), got, k->hash,
                       removed ? ": removed" : "");
                fprintf(stderr, "zoo cache: %s has the wrong hash (%s %s, expected "
                        "%s)%s\n", path, zoo_dl_hash_name((zoo_hash_kind)kind), got,
                        k->hash, removed ? "; removed"
                                         : "; the next download replaces it, or "
                                           "run 'zoo cache verify --delete'");
            }
        }
        free(path);
    }
    printf("%d verified, %d with the wrong hash\n", ok, bad);
    free_entries(e, n);
    return bad || errors ? EXIT_RUN_FAILURE : 0;
}

/* Removes e (a cached file, NAME.part or NAME.lock) from `dir`, holding
 * NAME.lock so that a download in progress is left alone. 0, or 1 after a
 * message. */
static int remove_file(const char *dir, const entry *e, long long *freed)
{
    bool is_lock = ends_with(e->name, ".lock");
    char *base = leftover_base(e->name);
    const char *stem = base ? base : e->name;
    char *lock_name = malloc(strlen(stem) + 6);
    if (lock_name)
        sprintf(lock_name, "%s.lock", stem);
    char *path = zoo_dl_join(dir, e->name);
    char *lock = lock_name ? zoo_dl_join(dir, lock_name) : NULL;
    int rc = 1;
    struct stat st;
    if (!path || !lock)
        goto out;
    rc = 0;
    if (lstat(path, &st) != 0) /* gone meanwhile (a lock with its download) */
        goto out;
    int fd = zoo_dl_lock(lock, false);
    if (fd == -2) {
        printf("kept %s (a download is using it)\n", e->name);
        goto out;
    }
    if (fd < 0) {
        fprintf(stderr, "zoo cache: cannot remove %s: %s\n", path, zoo_last_error());
        rc = 1;
        goto out;
    }
    if (!is_lock && unlink(path) != 0 && errno != ENOENT) {
        fprintf(stderr, "zoo cache: cannot remove %s: %s\n", path, strerror(errno));
        rc = 1;
    } else {
        printf("removed %s\n", e->name);
        *freed += e->size;
    }
    zoo_dl_unlock(fd, lock); /* removes the lock file too */
out:
    free(base);
    free(lock_name);
    free(path);
    free(lock);
    return rc;
}

static int cache_clean(const char *dir, bool all)
{
    if (all) {
        char *real = realpath(dir, NULL);
        const char *home = getenv("HOME");
        char *real_home = home ? realpath(home, NULL) : NULL;
        bool unsafe = real && (strcmp(real, "/") == 0 ||
                               (real_home && strcmp(real, real_home) == 0));
        free(real);
        free(real_home);
        if (unsafe) {
            fprintf(stderr, "zoo cache: refusing to empty %s: it is / or your home "
                    "directory; check ZOO_HOME\n", dir);
            return EXIT_RUN_FAILURE;
        }
    }
    int n;
    bool missing;
    entry *e = read_dir(dir, &n, &missing);
    if (n < 0)
        return EXIT_RUN_FAILURE;
    int failed = 0;
    long long freed = 0;
    /* Lock files last: removing a file takes (and then drops) its lock. */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            bool is_lock = ends_with(e[i].name, ".lock");
            bool leftover = is_lock || ends_with(e[i].name, ".part");
            if ((all || leftover) && is_lock == (pass == 1))
                failed += remove_file(dir, &e[i], &freed);
        }
    char size[32];
    human((double)freed, size, sizeof size);
    printf("freed %s in %s\n", size, dir);
    free_entries(e, n);
    return failed ? EXIT_RUN_FAILURE : 0;
}

int cmd_cache(int argc, char **argv)
{
    if (argc < 2) {
        return usage_error("%s", "which one: list, verify or clean?");
    }
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        help(stdout);
        return 0;
    }
    bool flag = false;
    const char *flag_name = strcmp(sub, "verify") == 0  ? "--delete"
                            : strcmp(sub, "clean") == 0 ? "--all"
                                                        : NULL;
    if (strcmp(sub, "list") != 0 && !flag_name)
        return usage_error("unknown subcommand '%s' (list, verify or clean)", sub);
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            help(stdout);
            return 0;
        }
        if (flag_name && strcmp(argv[i], flag_name) == 0)
            flag = true;
        else
            return usage_error("unexpected argument '%s'", argv[i]);
    }
    char *dir = zoo_cache_dir();
    if (!dir) {
        fprintf(stderr, "zoo cache: %s\n", zoo_last_error());
        return EXIT_RUN_FAILURE;
    }
    int rc = strcmp(sub, "list") == 0     ? cache_list(dir)
             : strcmp(sub, "verify") == 0 ? cache_verify(dir, flag)
                                          : cache_clean(dir, flag);
    free(dir);
    return rc;
}
