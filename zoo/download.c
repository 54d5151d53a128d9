/*
 * zoo_get_file: keras.utils.get_file done carefully.
 *
 *  1. $ZOO_HOME/NAME (default ~/.cache/zoo/NAME) with the right hash is
 *     returned at once: no network request of any kind.
 *  2. Else an existing Keras cache copy ($KERAS_HOME/models/NAME, else
 *     ~/.keras/models/NAME) with the right hash is returned as is (read
 *     only: zoo never writes there).
 *  3. Else, holding an flock on NAME.lock beside the file (a second
 *     process fetching the same file waits, then finds the first one's
 *     result), the URL (with $ZOO_MIRROR / opts->mirror replacing
 *     https://storage.googleapis.com/) is fetched into NAME.part (resuming
 *     an interrupted one), the hash is checked, and NAME.part is renamed
 *     to NAME. A file found under NAME with a wrong hash is removed first,
 *     so NAME only ever holds a verified file.
 *
 * Hashes: 64 hex digits are SHA-256, 32 MD5, as Keras's
 * hash_algorithm="auto" reads them. Files with no hash (Keras publishes
 * none for MobileNet and MobileNetV2, and checks none) are accepted as
 * downloaded: whole (the size matches Content-Length) but unverified, and
 * an existing copy, in either cache, is used as is, as Keras would.
 *
 * The cache directory is created as needed; when it cannot be created or
 * written, the call fails naming it (there is no silent fallback, unlike
 * Keras's /tmp/.keras). Network details (resume, retries, timeouts,
 * progress bar) are in http.c.
 */
#define _GNU_SOURCE
#include "zoo/download_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static char *concat(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    char *p = malloc(n + m + 1);
    if (!p) {
        zoo_error(ZOO_ERR_MEMORY, "out of memory");
        return NULL;
    }
    memcpy(p, a, n);
    memcpy(p + n, b, m + 1);
    return p;
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Step 3: under the lock. Returns the final path or NULL. */
static char *fetch_locked(const char *url, const char *hash, int kind,
                          const char *dir, const char *name, char *final,
                          const zoo_download_opts *opts)
{
    int timeout = zoo_dl_timeout(opts);
    if (timeout < 0)
        return NULL;
    char *src = zoo_dl_apply_mirror(url, zoo_dl_mirror(opts ? opts->mirror : NULL));
    if (!src)
        return NULL;
    char *part = concat(final, ".part"), *lock = concat(final, ".lock");
    char *result = NULL;
    int fd = -1;
    if (!part || !lock)
        goto out;
    if (zoo_dl_make_dirs(dir) != ZOO_OK)
        goto out;
    fd = zoo_dl_lock(lock, true);
    if (fd < 0) {
        int err = errno;
        zoo_error(ZOO_ERR_IO,
                  "the cache directory %s is not writable (cannot create %s: %s); "
                  "set ZOO_HOME to a writable directory",
                  dir, lock, strerror(err));
        goto out;
    }
    /* Another process may have fetched it while we waited. */
    if (zoo_dl_file_matches(final, hash, NULL)) {
        result = final;
        goto out;
    }
    if (exists(final) && unlink(final) != 0) {
        zoo_error(ZOO_ERR_IO, "%s has the wrong hash and cannot be removed: %s", final,
                  strerror(errno));
        goto out;
    }
    zoo_dl_fetch_args args = {.url = src, .part_path = part, .label = name,
                              .final_path = final, .timeout_s = timeout,
                              .progress = opts && opts->progress};
    for (int round = 0;; round++) {
        zoo_dl_fetch_result r;
        if (zoo_dl_fetch(&args, &r) != ZOO_OK)
            goto out;
        if (kind != ZOO_HASH_NONE) {
            char got[65];
            if (zoo_dl_hash_file(part, (zoo_hash_kind)kind, got) != ZOO_OK) {
                unlink(part);
                goto out;
            }
            if (strcasecmp(got, hash) != 0) {
                unlink(part);
                /* Bytes kept from an earlier run may belong to another
                 * version of the file: one more try, from zero. */
                if (r.resumed && round == 0)
                    continue;
                zoo_error(ZOO_ERR_FORMAT,
                          "hash mismatch for %s: its %s is %s, expected %s; the "
                          "download was deleted and nothing was saved as %s",
                          src, zoo_dl_hash_name((zoo_hash_kind)kind), got, hash,
                          final);
                goto out;
            }
        }
        break;
    }
    if (rename(part, final) != 0) {
        zoo_error(ZOO_ERR_IO, "cannot rename %s to %s: %s", part, final,
                  strerror(errno));
        unlink(part);
        goto out;
    }
    sync_dir(dir);
    result = final;
out:
    if (fd >= 0)
        zoo_dl_unlock(fd, lock);
    free(src);
    free(part);
    free(lock);
    return result;
}

char *zoo_get_file(const char *url, const char *hash, const char *name,
                   const zoo_download_opts *opts)
{
    if (!url || (strncasecmp(url, "http://", 7) != 0 &&
                 strncasecmp(url, "https://", 8) != 0)) {
        zoo_error(ZOO_ERR_ARGUMENT, "zoo_get_file: '%.300s' is not an http:// or "
                  "https:// URL", url ? url : "(null)");
        return NULL;
    }
    int kind = zoo_dl_hash_kind(hash);
    if (kind < 0)
        return NULL;
    if (kind == ZOO_HASH_NONE)
        hash = NULL;
    char *fname = NULL;
    if (name) {
        if (!zoo_dl_valid_name(name)) {
            zoo_error(ZOO_ERR_ARGUMENT,
                      "'%.200s' is not a plain file name (no '/', not ending in "
                      ".part or .lock)", name);
            return NULL;
        }
        fname = strdup(name);
    } else {
        fname = zoo_dl_url_basename(url);
    }
    if (!fname)
        return NULL;
    char *dir = zoo_cache_dir();
    char *final = dir ? zoo_dl_join(dir, fname) : NULL;
    char *result = NULL;
    if (!final)
        goto out;

    if (zoo_dl_file_matches(final, hash, NULL)) {
        result = final;
        goto out;
    }
    char *keras_dir = zoo_dl_keras_dir();
    if (keras_dir) {
        char *kpath = zoo_dl_join(keras_dir, fname);
        free(keras_dir);
        if (kpath && zoo_dl_file_matches(kpath, hash, NULL)) {
            result = kpath;
            goto out;
        }
        free(kpath);
    }
    result = fetch_locked(url, hash, kind, dir, fname, final, opts);
out:
    if (result != final)
        free(final);
    free(dir);
    free(fname);
    return result;
}

char *zoo_imagenet_weights(const zoo_model_info *info, bool no_top,
                           const zoo_download_opts *opts)
{
    if (!info) {
        zoo_error(ZOO_ERR_ARGUMENT, "zoo_imagenet_weights: info is NULL");
        return NULL;
    }
    const zoo_weight_file *f = no_top ? &info->no_top : &info->top;
    if (!f->url) {
        zoo_error(ZOO_ERR_NOT_FOUND, "%s has no ImageNet weights %s its top",
                  info->name, no_top ? "without" : "with");
        return NULL;
    }
    return zoo_get_file(f->url, f->hash, NULL, opts);
}

char *zoo_imagenet_labels(const zoo_download_opts *opts)
{
    return zoo_get_file(ZOO_LABELS_URL, ZOO_LABELS_MD5, NULL, opts);
}
