/*
 * Private to libzoo's downloader (zoo/download.c, cache.c, hash.c, http.c)
 * and to the `zoo download` / `zoo cache` tools. Not installed.
 */
#ifndef ZOO_DOWNLOAD_INTERNAL_H
#define ZOO_DOWNLOAD_INTERNAL_H

#include "zoo/download.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Keras's decode_predictions index (keras/src/applications/imagenet_utils.py). */
#define ZOO_LABELS_URL \
    "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json"
#define ZOO_LABELS_MD5 "c2c37ea517e94d9795004a39431a14cb"

/* The prefix a mirror replaces. */
#define ZOO_GCS_PREFIX "https://storage.googleapis.com/"

/* Default timeout (seconds) for connecting and for a transfer with no
 * byte coming in; a stalled server is abandoned once ZOO_STALL_FACTOR
 * times that has gone to stalls, retries included (60 s by default). */
#define ZOO_DEFAULT_TIMEOUT_S 20
#define ZOO_STALL_FACTOR 3

/* ---- hash.c ---------------------------------------------------------- */

typedef enum { ZOO_HASH_NONE = 0, ZOO_HASH_MD5, ZOO_HASH_SHA256 } zoo_hash_kind;

/* Keras's hash_algorithm="auto": 64 hex digits -> SHA-256, 32 -> MD5.
 * NULL or "" -> ZOO_HASH_NONE. Anything else: -1 with an error. */
int zoo_dl_hash_kind(const char *hex);
const char *zoo_dl_hash_name(zoo_hash_kind kind); /* "md5", "sha256" */

/* Hashes a whole file into `hex` (lower-case, NUL-terminated; 65 bytes
 * suffice). ZOO_OK, or ZOO_ERR_IO naming the path. */
zoo_status zoo_dl_hash_file(const char *path, zoo_hash_kind kind, char hex[65]);

/* True when the file exists and its hash equals `expected` (any case). A
 * NULL/"" expected hash: true when the file merely exists. `got` (65
 * bytes, may be NULL) receives the hash computed. */
bool zoo_dl_file_matches(const char *path, const char *expected, char got[65]);

/* ---- cache.c --------------------------------------------------------- */

/* dir + "/" + name (malloc'd). */
char *zoo_dl_join(const char *dir, const char *name);
/* Keras's cache: $KERAS_HOME/models, else ~/.keras/models (malloc'd; NULL
 * when no home directory is known). Not created. */
char *zoo_dl_keras_dir(void);
/* The URL's last path component (query and fragment dropped), malloc'd;
 * NULL with an error when it is empty. */
char *zoo_dl_url_basename(const char *url);
/* A plain file name: not empty, no '/', not "." or "..", no control
 * characters, not ending in ".part" or ".lock". */
bool zoo_dl_valid_name(const char *name);
/* mkdir -p; an error naming the directory (and why) on failure. */
zoo_status zoo_dl_make_dirs(const char *dir);

/* An exclusive flock on `lock_path`, robust against the file being
 * removed and re-created meanwhile. Blocks (wait=true) or fails at once
 * with -2 when another process holds it. Returns the fd, or -1 with an
 * error naming the path. */
int zoo_dl_lock(const char *lock_path, bool wait);
/* Removes the lock file (while still holding it) and releases it. */
void zoo_dl_unlock(int fd, const char *lock_path);

/* The mirror in effect: `mirror` if not NULL, else $ZOO_MIRROR; NULL when
 * none ("" counts as none). */
const char *zoo_dl_mirror(const char *mirror);
/* `url` with the storage.googleapis.com prefix replaced by `mirror`
 * (exactly one '/' between them), malloc'd; a copy of `url` when no mirror
 * applies. NULL with an error when the mirror is not an http(s) URL. */
char *zoo_dl_apply_mirror(const char *url, const char *mirror);
/* opts->timeout_s, else $ZOO_TIMEOUT, else the default; -1 with an error
 * when either is not a positive number of seconds. */
int zoo_dl_timeout(const zoo_download_opts *opts);

/* ---- http.c ---------------------------------------------------------- */

typedef struct {
    const char *url;       /* what to fetch (mirror already applied) */
    const char *part_path; /* NAME.part: resumed if present, else created */
    const char *label;     /* shown in the progress bar */
    const char *final_path; /* named in the offline hint */
    int timeout_s;
    bool progress;
} zoo_dl_fetch_args;

typedef struct {
    bool resumed;      /* the result continues bytes of an earlier .part */
    bool part_kept;    /* failure: a resumable .part was left in place */
    int attempts;
    int64_t size;      /* bytes in the .part on success */
} zoo_dl_fetch_result;

/* Fetches args->url into args->part_path, with resume, retries, timeouts
 * and the size check. ZOO_OK: the .part holds the whole body. Otherwise an
 * error naming the URL; the .part survives only if it can be resumed. */
zoo_status zoo_dl_fetch(const zoo_dl_fetch_args *args, zoo_dl_fetch_result *result);

#endif /* ZOO_DOWNLOAD_INTERNAL_H */
