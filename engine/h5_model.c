/*
 * Whole models in one .h5 file: zoo_model_save and zoo_model_load, in
 * the layout of Keras's model.save("x.h5") (reference section 2.2;
 * keras/src/legacy/saving/legacy_h5_format.py):
 *
 *   root attributes  model_config     the JSON of zoo_model_to_json
 *                    keras_version, backend (as save_weights writes them)
 *                    zoo_class_names  a JSON list of strings (when set)
 *                    zoo_attrs        a JSON object of strings (when set)
 *   group model_weights               the save_weights layout
 *
 * Keras ignores the zoo_ attributes; zoo ignores a training_config and
 * optimizer weights (it restores no optimizer state). The JSON strings are
 * variable-length attributes, as h5py 3 writes them, so a big model's
 * config is not bound by HDF5's 64 KiB object-header limit.
 */
#include "engine/h5_weights.h"
#include "engine/keras_from_config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLASS_NAMES_ATTR "zoo_class_names"
#define ATTRS_ATTR "zoo_attrs"

/* ------------------------------------------------------------------ */
/* Saving                                                              */
/* ------------------------------------------------------------------ */

typedef struct {
    const zoo_model *m;
    const char *config;  /* model_config */
    const char *classes; /* NULL: none */
    const char *attrs;   /* NULL: none */
} save_ctx;

/* json_dumps's result as a malloc'd string (jansson's allocator may not
 * be malloc), or NULL. */
static char *dump(json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (!s)
        return NULL;
    char *out = strdup(s);
    json_free_t free_fn;
    json_get_alloc_funcs(NULL, &free_fn);
    free_fn(s);
    return out;
}

/* The class names and attributes as JSON; NULL members when unset. */
static zoo_status meta_json(const zoo_model *m, const char *path,
                            char **classes, char **attrs)
{
    *classes = *attrs = NULL;
    if (m->n_class_names > 0) {
        json_t *a = json_array();
        for (int i = 0; a && i < m->n_class_names; i++)
            if (json_array_append_new(a, json_string(m->class_names[i]))) {
                json_decref(a);
                return zoo_error(ZOO_ERR_ARGUMENT,
                                 "%s: cannot save class name %d: it is not "
                                 "valid UTF-8",
                                 path, i);
            }
        if (!(*classes = dump(a)))
            return zoo_error(ZOO_ERR_MEMORY, "%s: out of memory", path);
    }
    if (m->n_attrs > 0) {
        json_t *o = json_object();
        for (int i = 0; o && i < m->n_attrs; i++)
            if (json_object_set_new(o, m->attrs[i].key,
                                    json_string(m->attrs[i].value))) {
                json_decref(o);
                return zoo_error(ZOO_ERR_ARGUMENT,
                                 "%s: cannot save attribute '%s': its key or "
                                 "value is not valid UTF-8",
                                 path, m->attrs[i].key);
            }
        if (!(*attrs = dump(o)))
            return zoo_error(ZOO_ERR_MEMORY, "%s: out of memory", path);
    }
    return ZOO_OK;
}

static zoo_status write_model_file(hid_t file, const char *path,
                                   const void *ctx)
{
    const save_ctx *c = ctx;
    char why[256], where[600];
    snprintf(where, sizeof where, "%s: root group", path);
    zoo_status st = zoo_h5_write_string(file, "keras_version",
                                        ZOO_H5_KERAS_VERSION, where);
    if (st == ZOO_OK)
        st = zoo_h5_write_string(file, "backend", ZOO_H5_BACKEND, where);
    if (st == ZOO_OK)
        st = zoo_h5_write_vlen_string(file, "model_config", c->config, where);
    if (st == ZOO_OK && c->classes)
        st = zoo_h5_write_vlen_string(file, CLASS_NAMES_ATTR, c->classes,
                                      where);
    if (st == ZOO_OK && c->attrs)
        st = zoo_h5_write_vlen_string(file, ATTRS_ATTR, c->attrs, where);
    if (st != ZOO_OK)
        return st;
    hid_t g = H5Gcreate2(file, "model_weights", H5P_DEFAULT, H5P_DEFAULT,
                         H5P_DEFAULT);
    if (g < 0)
        return zoo_error(ZOO_ERR_IO,
                         "%s: cannot create group '/model_weights': %s", path,
                         zoo_h5_reason(why, sizeof why));
    st = zoo_h5_write_weights(g, "/model_weights", c->m, path);
    if (H5Gclose(g) < 0 && st == ZOO_OK)
        st = zoo_error(ZOO_ERR_IO, "%s: cannot close group '/model_weights': %s",
                       path, zoo_h5_reason(why, sizeof why));
    return st;
}

zoo_status zoo_model_save(const zoo_model *m, const char *path)
{
    if (!m)
        return zoo_error(ZOO_ERR_ARGUMENT, "zoo_model_save: model is NULL");
    if (!path || !*path)
        return zoo_error(ZOO_ERR_ARGUMENT, "zoo_model_save: path is %s",
                         path ? "empty" : "NULL");
    /* Everything that can fail without touching the disk fails first. */
    zoo_status st = zoo_h5_check_names(m, path);
    if (st != ZOO_OK)
        return st;
    save_ctx c = {.m = m};
    char *config = zoo_model_to_json(m);
    if (!config) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", zoo_last_error());
        return zoo_error(zoo_last_status() ? zoo_last_status() : ZOO_ERR_INTERNAL,
                         "%s: cannot save the model: %s", path, msg);
    }
    char *classes = NULL, *attrs = NULL;
    st = meta_json(m, path, &classes, &attrs);
    if (st == ZOO_OK) {
        c.config = config;
        c.classes = classes;
        c.attrs = attrs;
        st = zoo_h5_save_atomic(path, write_model_file, &c);
    }
    free(config);
    free(classes);
    free(attrs);
    return st;
}

/* ------------------------------------------------------------------ */
/* Loading                                                             */
/* ------------------------------------------------------------------ */

/* Prefixes the current error with the file's path. */
static zoo_status with_path(const char *path)
{
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", zoo_last_error());
    zoo_status st = zoo_last_status() ? zoo_last_status() : ZOO_ERR_INTERNAL;
    return zoo_error(st, "%s: %s", path, msg);
}

/* Keras 3's .keras archives are ZIP files. */
static bool is_zip(const char *path)
{
    unsigned char sig[4] = {0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    size_t n = fread(sig, 1, sizeof sig, f);
    fclose(f);
    return n == 4 && sig[0] == 'P' && sig[1] == 'K' && sig[2] == 3 &&
           sig[3] == 4;
}

/* Why a file without model_config cannot be loaded as a model. */
static zoo_status explain_no_config(hid_t root, const char *path)
{
    bool weights = H5Aexists(root, "layer_names") > 0 ||
                   H5Aexists(root, "layer_names0") > 0;
    H5Eclear2(H5E_DEFAULT);
    if (weights)
        return zoo_error(ZOO_ERR_FORMAT,
                         "%s: a weights-only file (the save_weights layout, "
                         "no 'model_config'): it holds no architecture; "
                         "build the model (a zoo_net_* builder, or "
                         "zoo_model_from_json with its config) and load the "
                         "file with zoo_model_load_weights",
                         path);
    return zoo_error(ZOO_ERR_FORMAT,
                     "%s: no 'model_config' attribute at the root: not a "
                     "Keras full-model .h5 file (written by model.save('x.h5') "
                     "or zoo_model_save)",
                     path);
}

static zoo_status load_class_names(zoo_model *m, hid_t root, const char *path)
{
    char where[600], *text;
    snprintf(where, sizeof where, "%s: root group", path);
    zoo_status st = zoo_h5_read_string(root, CLASS_NAMES_ATTR, where, &text);
    if (st != ZOO_OK || !text)
        return st;
    json_t *a = json_loads(text, 0, NULL);
    free(text);
    size_t n = json_array_size(a);
    const char **names = calloc(n ? n : 1, sizeof *names);
    bool ok = json_is_array(a) && n <= INT32_MAX && names;
    for (size_t i = 0; ok && i < n; i++) {
        names[i] = json_string_value(json_array_get(a, i));
        ok = names[i] != NULL;
    }
    st = ok ? zoo_model_set_class_names(m, names, (int)n)
            : zoo_error(names ? ZOO_ERR_FORMAT : ZOO_ERR_MEMORY,
                        "%s: attribute '%s' is not a JSON list of strings",
                        where, CLASS_NAMES_ATTR);
    free(names);
    json_decref(a);
    return st;
}

static zoo_status load_attrs(zoo_model *m, hid_t root, const char *path)
{
    char where[600], *text;
    snprintf(where, sizeof where, "%s: root group", path);
    zoo_status st = zoo_h5_read_string(root, ATTRS_ATTR, where, &text);
    if (st != ZOO_OK || !text)
        return st;
    json_t *o = json_loads(text, 0, NULL);
    free(text);
    if (!json_is_object(o)) {
        json_decref(o);
        return zoo_error(ZOO_ERR_FORMAT,
                         "%s: attribute '%s' is not a JSON object", where,
                         ATTRS_ATTR);
    }
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        if (!json_is_string(v)) {
            st = zoo_error(ZOO_ERR_FORMAT,
                           "%s: attribute '%s': the value of '%s' is not a "
                           "string",
                           where, ATTRS_ATTR, key);
            break;
        }
        if ((st = zoo_model_set_attr(m, key, json_string_value(v))) != ZOO_OK)
            break;
    }
    json_decref(o);
    return st;
}

/* Reads the config, builds the model, loads weights and metadata. */
static zoo_model *load_open(hid_t file, const char *path)
{
    char why[256], where[600];
    snprintf(where, sizeof where, "%s: root group", path);
    hid_t root = H5Gopen2(file, "/", H5P_DEFAULT);
    if (root < 0) {
        zoo_error(ZOO_ERR_FORMAT, "%s: cannot open the root group: %s", path,
                  zoo_h5_reason(why, sizeof why));
        return NULL;
    }
    char *config = NULL;
    zoo_model *m = NULL;
    zoo_status st = zoo_h5_read_string(root, "model_config", where, &config);
    if (st == ZOO_OK && !config)
        st = explain_no_config(root, path);
    if (st == ZOO_OK) {
        /* Kernels stay zero until the file's weights replace them. */
        m = zoo_keras_model_from_json(config, 0, true);
        if (!m)
            st = with_path(path);
    }
    if (st == ZOO_OK)
        st = zoo_h5_load_weights(m, file, path, NULL);
    if (st == ZOO_OK)
        st = load_class_names(m, root, path);
    if (st == ZOO_OK)
        st = load_attrs(m, root, path);
    free(config);
    H5Gclose(root);
    if (st != ZOO_OK) {
        zoo_model_free(m);
        return NULL;
    }
    return m;
}

zoo_model *zoo_model_load(const char *path)
{
    if (!path || !*path) {
        zoo_error(ZOO_ERR_ARGUMENT, "zoo_model_load: path is %s",
                  path ? "empty" : "NULL");
        return NULL;
    }
    zoo_clear_error();
    zoo_h5_quiet q;
    zoo_h5_quiet_begin(&q);
    hid_t file;
    zoo_model *m = NULL;
    zoo_status st = zoo_h5_open(path, true, &file);
    if (st == ZOO_OK) {
        m = load_open(file, path);
        H5Fclose(file);
    } else if (st == ZOO_ERR_FORMAT && is_zip(path)) {
        zoo_error(ZOO_ERR_UNSUPPORTED,
                  "%s: a Keras 3 '.keras' archive (a ZIP file), which zoo "
                  "does not read; save the model in the .h5 format "
                  "(model.save('x.h5')) and load that",
                  path);
    }
    zoo_h5_quiet_end(&q);
    return m;
}
