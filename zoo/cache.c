/* The downloader's local side: where files live ($ZOO_HOME, the Keras
 * cache), file names, directory creation, the per-file lock, and the
 * environment knobs (mirror, timeout). */
#define _GNU_SOURCE /* strndup, O_CLOEXEC */
#include "zoo/download_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

char *zoo_dl_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    while (a > 1 && dir[a - 1] == '/')
        a--;
    char *p = malloc(a + b + 2);
    if (!p) {
        zoo_error(ZOO_ERR_MEMORY, "out of memory");
        return NULL;
    }
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

/* $HOME, else the password database's home; NULL if neither. */
static const char *home_dir(void)
{
    const char *home = getenv("HOME");
    if (home && *home)
        return home;
    struct passwd *pw = getpwuid(getuid());
    return pw && pw->pw_dir && *pw->pw_dir ? pw->pw_dir : NULL;
}

char *zoo_cache_dir(void)
{
    const char *env = getenv("ZOO_HOME");
    if (env && *env) {
        char *p = strdup(env);
        if (!p)
            zoo_error(ZOO_ERR_MEMORY, "out of memory");
        return p;
    }
    const char *home = home_dir();
    if (!home) {
        zoo_error(ZOO_ERR_NOT_FOUND,
                  "no cache directory: neither ZOO_HOME nor HOME is set");
        return NULL;
    }
    return zoo_dl_join(home, ".cache/zoo");
}

char *zoo_dl_keras_dir(void)
{
    const char *env = getenv("KERAS_HOME");
    if (env && *env)
        return zoo_dl_join(env, "models");
    const char *home = home_dir();
    return home ? zoo_dl_join(home, ".keras/models") : NULL;
}

char *zoo_dl_url_basename(const char *url)
{
    size_t end = strcspn(url, "?#");
    size_t start = end;
    while (start > 0 && url[start - 1] != '/')
        start--;
    char *name = strndup(url + start, end - start);
    if (!name) {
        zoo_error(ZOO_ERR_MEMORY, "out of memory");
        return NULL;
    }
    if (!zoo_dl_valid_name(name)) {
        zoo_error(ZOO_ERR_ARGUMENT,
                  "cannot name a file after the URL %.300s: its last path "
                  "component '%.100s' is not a file name; give a name", url, name);
        free(name);
        return NULL;
    }
    return name;
}

static bool ends_with(const char *s, const char *tail)
{
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcmp(s + a - b, tail) == 0;
}

bool zoo_dl_valid_name(const char *name)
{
    if (!name || !*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    if (strlen(name) > NAME_MAX - 5) /* room for ".part" / ".lock" */
        return false;
    for (const char *c = name; *c; c++)
        if (*c == '/' || iscntrl((unsigned char)*c))
            return false;
    return !ends_with(name, ".part") && !ends_with(name, ".lock");
}

zoo_status zoo_dl_make_dirs(const char *dir)
{
    char *p = strdup(dir);
    if (!p)
        return zoo_error(ZOO_ERR_MEMORY, "out of memory");
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    /* Each prefix ending before a '/', then the whole path. */
    for (size_t i = 1; i <= n; i++) {
        if (i < n && p[i] != '/')
            continue;
        char saved = p[i];
        p[i] = '\0';
        struct stat st;
        int err = 0;
        if (mkdir(p, 0777) != 0) {
            err = errno;
            if (err == EEXIST) {
                err = stat(p, &st) == 0 ? (S_ISDIR(st.st_mode) ? 0 : ENOTDIR) : errno;
            }
        }
        if (err) {
            zoo_status st_code = zoo_error(
                ZOO_ERR_IO, "cannot create the cache directory %s: %s%s%s%s", dir,
                strerror(err), i < n ? " (at " : "", i < n ? p : "",
                i < n ? ")" : "");
            free(p);
            return st_code;
        }
        p[i] = saved;
    }
    free(p);
    return ZOO_OK;
}

int zoo_dl_lock(const char *lock_path, bool wait)
{
    for (;;) {
        int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0) {
            int err = errno;
            zoo_error(ZOO_ERR_IO, "cannot create the lock file %s: %s", lock_path,
                      strerror(err));
            errno = err;
            return -1;
        }
        int rc;
        do
            rc = flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB));
        while (rc != 0 && errno == EINTR);
        if (rc != 0) {
            int err = errno;
            close(fd);
            if (err == EWOULDBLOCK)
                return -2;
            zoo_error(ZOO_ERR_IO, "cannot lock %s: %s", lock_path, strerror(err));
            errno = err;
            return -1;
        }
        /* The holder before us may have removed the file: then our lock is
         * on an orphan inode, and another process may hold the new one. */
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(lock_path, &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino)
            return fd;
        close(fd);
    }
}

void zoo_dl_unlock(int fd, const char *lock_path)
{
    if (fd < 0)
        return;
    unlink(lock_path);
    close(fd);
}

const char *zoo_dl_mirror(const char *mirror)
{
    if (!mirror)
        mirror = getenv("ZOO_MIRROR");
    return mirror && *mirror ? mirror : NULL;
}

static bool is_http_url(const char *s)
{
    const char *rest = strncasecmp(s, "http://", 7) == 0    ? s + 7
                       : strncasecmp(s, "https://", 8) == 0 ? s + 8
                                                            : NULL;
    return rest && *rest && *rest != '/';
}

char *zoo_dl_apply_mirror(const char *url, const char *mirror)
{
    const size_t plen = strlen(ZOO_GCS_PREFIX);
    if (!mirror || strncmp(url, ZOO_GCS_PREFIX, plen) != 0) {
        char *copy = strdup(url);
        if (!copy)
            zoo_error(ZOO_ERR_MEMORY, "out of memory");
        return copy;
    }
    if (!is_http_url(mirror)) {
        zoo_error(ZOO_ERR_ARGUMENT,
                  "mirror '%.300s' is not an http:// or https:// URL (it "
                  "replaces %s, e.g. http://host:8080/)", mirror, ZOO_GCS_PREFIX);
        return NULL;
    }
    size_t m = strlen(mirror);
    while (m > 0 && mirror[m - 1] == '/')
        m--;
    const char *rest = url + plen;
    size_t r = strlen(rest);
    char *out = malloc(m + 1 + r + 1);
    if (!out) {
        zoo_error(ZOO_ERR_MEMORY, "out of memory");
        return NULL;
    }
    memcpy(out, mirror, m);
    out[m] = '/';
    memcpy(out + m + 1, rest, r + 1);
    return out;
}

int zoo_dl_timeout(const zoo_download_opts *opts)
{
    if (opts && opts->timeout_s < 0) {
        zoo_error(ZOO_ERR_ARGUMENT, "timeout_s must be positive (or 0 for the "
                  "default), got %d", opts->timeout_s);
        return -1;
    }
    if (opts && opts->timeout_s > 0)
        return opts->timeout_s;
    const char *env = getenv("ZOO_TIMEOUT");
    if (!env || !*env)
        return ZOO_DEFAULT_TIMEOUT_S;
    char *end;
    errno = 0;
    long v = strtol(env, &end, 10);
    if (errno || *end || v < 1 || v > 86400) {
        zoo_error(ZOO_ERR_ARGUMENT,
                  "ZOO_TIMEOUT must be a whole number of seconds (1 to 86400), "
                  "got '%.40s'", env);
        return -1;
    }
    return (int)v;
}
