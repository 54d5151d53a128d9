/*
 * zoo download: Keras's get_file done carefully. Files are cached under
 * $ZOO_HOME (default ~/.cache/zoo), an existing Keras cache
 * ($KERAS_HOME/models or ~/.keras/models) is reused when its copy has the
 * right hash, and nothing unverified ever lands under a final name.
 * Installed as <zoo/download.h>.
 */
#ifndef ZOO_DOWNLOAD_H
#define ZOO_DOWNLOAD_H

#include <zoo/models.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *mirror; /* replaces "https://storage.googleapis.com/";
                           NULL: $ZOO_MIRROR, else none */
    int timeout_s;      /* connect / low-speed timeout; 0: $ZOO_TIMEOUT,
                           else the default */
    bool progress;      /* draw a progress bar on stderr (if a terminal) */
} zoo_download_opts;

/* The cache directory ($ZOO_HOME or ~/.cache/zoo), malloc'd; not created. */
char *zoo_cache_dir(void);

/* Like keras.utils.get_file: returns the malloc'd path of a verified local
 * copy of `url` named `name` (NULL: the URL's last component), fetching it
 * if needed. `hash` is MD5 (32 hex) or SHA-256 (64 hex), or NULL for no
 * check. A cached file with the right hash is used without any network
 * request. `opts` may be NULL. */
char *zoo_get_file(const char *url, const char *hash, const char *name,
                   const zoo_download_opts *opts);

/* weights="imagenet": the verified local path of a model's official
 * weight file (with or without its top). */
char *zoo_imagenet_weights(const zoo_model_info *info, bool no_top,
                           const zoo_download_opts *opts);

/* Keras's imagenet_class_index.json, as zoo_get_file fetches it. */
char *zoo_imagenet_labels(const zoo_download_opts *opts);

#ifdef __cplusplus
}
#endif

#endif /* ZOO_DOWNLOAD_H */
