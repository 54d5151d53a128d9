/*
 * Engine-private: the Keras .h5 plumbing that weights files
 * (engine/h5_weights.c) and whole-model files (engine/h5_model.c) share:
 * opening a file with clear errors, the legacy weights layout read from
 * and written into any group, and the temporary-file-then-rename save.
 *
 * Every function here expects HDF5's automatic error printing to be off
 * (zoo_h5_quiet_begin), except zoo_h5_save_atomic, which turns it off
 * itself.
 */
#ifndef ZOO_ENGINE_H5_WEIGHTS_H
#define ZOO_ENGINE_H5_WEIGHTS_H

#include "engine/h5_attrs.h"
#include "engine/model.h"

/* What tf.keras 2.x writes; Keras's loaders only compare it with "1". */
#define ZOO_H5_KERAS_VERSION "2.15.0"
#define ZOO_H5_BACKEND "tensorflow"

/* Opens `path` read-only. `model_file` only words the messages ("the
 * model file" / "the weights file"): a missing file is ZOO_ERR_NOT_FOUND,
 * a directory, an empty or a non-HDF5 file ZOO_ERR_FORMAT (or ARGUMENT),
 * each saying so. */
zoo_status zoo_h5_open(const char *path, bool model_file, hid_t *file);

/* zoo_model_load_weights on an open file (its root, or its model_weights
 * group when the root has no layer_names). The file stays open. */
zoo_status zoo_h5_load_weights(zoo_model *m, hid_t file, const char *path,
                               const zoo_load_opts *opts);

/* Checks that every layer and weight name of `m` can become an HDF5
 * group or dataset name (before any file is created). */
zoo_status zoo_h5_check_names(const zoo_model *m, const char *path);

/* Writes the legacy save_weights layout (attributes layer_names, backend,
 * keras_version; one group per layer; top_level_model_weights) into the
 * group `loc`, whose path `gp` ("" for the root, "/model_weights") only
 * words the messages. */
zoo_status zoo_h5_write_weights(hid_t loc, const char *gp, const zoo_model *m,
                                const char *path);

/* Saves through a temporary file beside `path`: creates it, calls
 * fn(file, path, ctx), closes and syncs it, then renames it to `path`.
 * On any failure the temporary file is removed and `path` is untouched. */
typedef zoo_status (*zoo_h5_write_fn)(hid_t file, const char *path,
                                      const void *ctx);
zoo_status zoo_h5_save_atomic(const char *path, zoo_h5_write_fn fn,
                              const void *ctx);

#endif
