/*
 * Keras HDF5 weights: zoo_model_load_weights and zoo_model_save_weights.
 *
 * Layout (reference section 2.1/2.2; keras/src/legacy/saving/
 * legacy_h5_format.py): the group holding the weights (the root, or
 * `model_weights` in a full-model file) has a string-list attribute
 * `layer_names`; one child group per layer has `weight_names` and one
 * dataset per weight at that (relative, usually slashed) path.
 *
 * Loading checks every matched dataset first and reads them straight into
 * the model only after every check has passed, so a failed check leaves
 * the model as it was. HDF5's own error printing is off for the whole
 * call; its failures become zoo_error messages that name the file and the
 * object. The pieces are shared with whole-model files (engine/
 * h5_weights.h, engine/h5_model.c).
 */
#include "engine/h5_weights.h"
#include "engine/tensor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TOP_LEVEL_GROUP "top_level_model_weights"

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

/* A shape as Python prints a tuple: "(7, 7, 3, 64)", "(64,)", "()". */
static char *dims_str(int rank, const hsize_t *d, char *buf, size_t size)
{
    size_t used = 0;
    int n = snprintf(buf, size, "(");
    used = n > 0 ? (size_t)n : 0;
    for (int i = 0; i < rank && used < size; i++) {
        n = snprintf(buf + used, size - used, "%s%llu", i ? ", " : "",
                     (unsigned long long)d[i]);
        used += n > 0 ? (size_t)n : 0;
    }
    if (used < size)
        snprintf(buf + used, size - used, rank == 1 ? ",)" : ")");
    return buf;
}

static char *tensor_shape_str(const zoo_tensor *t, char *buf, size_t size)
{
    hsize_t d[ZOO_MAX_RANK];
    for (int i = 0; i < t->rank; i++)
        d[i] = (hsize_t)t->shape[i];
    return dims_str(t->rank, d, buf, size);
}

/* "a, b, c" (shortened with "..." when it does not fit). */
static char *join_names(char *const *v, int n, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        int w = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", v[i]);
        if (w < 0 || (size_t)w >= size - used) {
            if (size > 4)
                snprintf(buf + size - 4, 4, "...");
            break;
        }
        used += (size_t)w;
    }
    return buf;
}

static char *join_weight_names(const zoo_layer *l, char *buf, size_t size)
{
    char *names[64];
    int n = l->n_weights < 64 ? l->n_weights : 64;
    for (int i = 0; i < n; i++)
        names[i] = l->weights[i].name;
    return join_names(names, n, buf, size);
}

/* ------------------------------------------------------------------ */
/* Reading the file's index                                            */
/* ------------------------------------------------------------------ */

typedef struct {
    char *name;          /* as listed in layer_names */
    zoo_h5_strs weights; /* its weight_names */
} file_layer;

typedef struct {
    const char *path;
    hid_t file;      /* the caller's: not closed here */
    hid_t root;      /* the group holding layer_names */
    const char *gp;  /* its path for messages: "" or "/model_weights" */
    char *backend;   /* NULL when absent (Keras 1) */
    file_layer *layers;
    int n_layers;
} reader;

/* A checked dataset waiting for every other check to pass; then it is
 * read straight into `dst` (no second copy of the weights in memory). */
typedef struct {
    zoo_tensor *dst;
    hid_t ds;
    const char *layer, *file_layer, *weight; /* for messages */
} pending;

typedef struct {
    pending *v;
    int n, cap;
} pending_list;

static void reader_close(reader *r)
{
    for (int i = 0; i < r->n_layers; i++) {
        free(r->layers[i].name);
        zoo_h5_strs_free(&r->layers[i].weights);
    }
    free(r->layers);
    free(r->backend);
    if (r->root >= 0)
        H5Gclose(r->root);
}

static void pending_free(pending_list *p)
{
    for (int i = 0; i < p->n; i++)
        H5Dclose(p->v[i].ds);
    free(p->v);
}

/* File access: strong close (closing the file releases every object
 * still open, so no error path can leave it open), and file locks that
 * are skipped where the filesystem has none (NFS, some containers)
 * instead of failing the open. */
static hid_t make_fapl(void)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0)
        return H5P_DEFAULT;
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
#if (H5_VERS_MAJOR == 1 && H5_VERS_MINOR == 10 && H5_VERS_RELEASE >= 7) || \
    H5_VERSION_GE(1, 12, 1)
    H5Pset_file_locking(fapl, 1, 1);
#endif
    H5Eclear2(H5E_DEFAULT);
    return fapl;
}

static void close_fapl(hid_t fapl)
{
    if (fapl != H5P_DEFAULT)
        H5Pclose(fapl);
}

zoo_status zoo_h5_open(const char *path, bool model_file, hid_t *file)
{
    char why[256];
    const char *noun = model_file ? "model file" : "weights file";
    *file = -1;
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        int e = errno;
        return zoo_error(e == ENOENT ? ZOO_ERR_NOT_FOUND : ZOO_ERR_IO,
                         "%s: cannot open the %s: %s", path, noun,
                         strerror(e));
    }
    struct stat st;
    int stat_ok = fstat(fd, &st) == 0;
    close(fd);
    if (stat_ok && S_ISDIR(st.st_mode))
        return zoo_error(ZOO_ERR_ARGUMENT,
                         "%s: is a directory, not a Keras .h5 %s", path,
                         noun);
    if (stat_ok && S_ISREG(st.st_mode) && st.st_size == 0)
        return zoo_error(ZOO_ERR_FORMAT,
                         "%s: the file is empty (0 bytes), not a Keras .h5 "
                         "%s",
                         path, noun);
#if H5_VERSION_GE(1, 12, 0)
    htri_t is = H5Fis_accessible(path, H5P_DEFAULT);
#else
    htri_t is = H5Fis_hdf5(path);
#endif
    if (is < 0)
        return zoo_error(ZOO_ERR_FORMAT, "%s: cannot read as HDF5: %s",
                         path, zoo_h5_reason(why, sizeof why));
    if (is == 0) {
        H5Eclear2(H5E_DEFAULT);
        return zoo_error(ZOO_ERR_FORMAT,
                         "%s: not an HDF5 file (no HDF5 signature found); "
                         "Keras %s are .h5 files (a partial download "
                         "or an HTML error page?)",
                         path, model_file ? "models" : "weights");
    }
    hid_t fapl = make_fapl();
    *file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    /* Any later HDF5 call clears the error stack: read it first. */
    if (*file < 0)
        zoo_h5_reason(why, sizeof why);
    close_fapl(fapl);
    if (*file < 0)
        return zoo_error(ZOO_ERR_FORMAT,
                         "%s: cannot open the HDF5 file: %s (truncated or "
                         "corrupt? download it again)",
                         path, why);
    return ZOO_OK;
}

/* 1 if link `name` exists in `g`, else 0 (a bad path counts as absent). */
static int link_exists(hid_t g, const char *name)
{
    if (!*name)
        return 0;
    htri_t e = H5Lexists(g, name, H5P_DEFAULT);
    H5Eclear2(H5E_DEFAULT);
    return e > 0;
}

/* Why a group without layer_names is not something we can read. */
static zoo_status explain_no_layer_names(reader *r)
{
    if (H5Aexists(r->root, "nb_layers") > 0)
        return zoo_error(ZOO_ERR_UNSUPPORTED,
                         "%s: Keras 0.x weights layout (attribute "
                         "'nb_layers'); zoo reads the Keras 1/2 layout with "
                         "'layer_names'",
                         r->path);
    H5Eclear2(H5E_DEFAULT);
    if (link_exists(r->root, "layers") || link_exists(r->root, "vars") ||
        link_exists(r->root, "_layer_checkpoint_dependencies"))
        return zoo_error(ZOO_ERR_UNSUPPORTED,
                         "%s: this looks like a Keras 3 '.weights.h5' file "
                         "(groups layers/<name>/vars), which zoo does not "
                         "read; save the weights in the legacy layout "
                         "(tf.keras 2.x model.save_weights('x.h5') or "
                         "model.save('x.h5'))",
                         r->path);
    if (*r->gp)
        return zoo_error(ZOO_ERR_FORMAT,
                         "%s: group '%s' has no 'layer_names' attribute: not "
                         "a Keras weights file",
                         r->path, r->gp);
    return zoo_error(ZOO_ERR_FORMAT,
                     "%s: the root group has no 'layer_names' attribute and "
                     "the file has no 'model_weights' group: not a Keras "
                     "weights file",
                     r->path);
}

static zoo_status read_index(reader *r)
{
    char why[256], where[1200];
    r->root = H5Gopen2(r->file, "/", H5P_DEFAULT);
    r->gp = "";
    if (r->root < 0)
        return zoo_error(ZOO_ERR_FORMAT, "%s: cannot open the root group: %s",
                         r->path, zoo_h5_reason(why, sizeof why));
    /* Keras's rule (saving_api / legacy_h5_format): a file whose root has
     * no layer_names but a model_weights group is a full-model file. */
    htri_t has = H5Aexists(r->root, "layer_names");
    if (has < 0)
        return zoo_error(ZOO_ERR_FORMAT,
                         "%s: cannot read the root group's attributes: %s",
                         r->path, zoo_h5_reason(why, sizeof why));
    if (!has && link_exists(r->root, "model_weights")) {
        hid_t g = H5Gopen2(r->root, "model_weights", H5P_DEFAULT);
        if (g < 0)
            return zoo_error(ZOO_ERR_FORMAT,
                             "%s: 'model_weights' is not a group: %s",
                             r->path, zoo_h5_reason(why, sizeof why));
        H5Gclose(r->root);
        r->root = g;
        r->gp = "/model_weights";
    }
    snprintf(where, sizeof where, "%s: group '%s'", r->path,
             *r->gp ? r->gp : "/");

    zoo_h5_strs names;
    bool found;
    zoo_status st = zoo_h5_read_string_list(r->root, "layer_names", where,
                                            &names, &found);
    if (st != ZOO_OK)
        return st;
    if (!found)
        return explain_no_layer_names(r);
    /* keras_version (absent in Keras 1 files) changes nothing here: Keras's
     * Keras-1 conversions concern channels_first and RNN layers only. */
    st = zoo_h5_read_string(r->root, "backend", where, &r->backend);
    if (st != ZOO_OK) {
        zoo_h5_strs_free(&names);
        return st;
    }

    r->layers = calloc(names.n ? (size_t)names.n : 1, sizeof *r->layers);
    if (!r->layers) {
        zoo_h5_strs_free(&names);
        return zoo_error(ZOO_ERR_MEMORY, "%s: out of memory", r->path);
    }
    /* Take the names over one by one, so cleanup has one owner. */
    for (int i = 0; i < names.n; i++) {
        file_layer *fl = &r->layers[r->n_layers++];
        fl->name = names.v[i];
        names.v[i] = NULL;
    }
    zoo_h5_strs_free(&names);

    for (int i = 0; i < r->n_layers; i++) {
        file_layer *fl = &r->layers[i];
        snprintf(where, sizeof where, "%s: group '%s/%s'", r->path, r->gp,
                 fl->name);
        if (!link_exists(r->root, fl->name))
            return zoo_error(ZOO_ERR_FORMAT,
                             "%s: layer_names lists '%s', but there is no "
                             "group '%s/%s' (corrupt or edited file)",
                             r->path, fl->name, r->gp, fl->name);
        hid_t g = H5Gopen2(r->root, fl->name, H5P_DEFAULT);
        if (g < 0)
            return zoo_error(ZOO_ERR_FORMAT,
                             "%s: '%s/%s' (listed in layer_names) is not a "
                             "group: %s",
                             r->path, r->gp, fl->name,
                             zoo_h5_reason(why, sizeof why));
        st = zoo_h5_read_string_list(g, "weight_names", where, &fl->weights,
                                     &found);
        H5Gclose(g);
        if (st != ZOO_OK)
            return st;
        if (!found)
            return zoo_error(ZOO_ERR_FORMAT,
                             "%s has no 'weight_names' attribute (Keras "
                             "writes one for every layer, empty for layers "
                             "without weights): corrupt or not a Keras "
                             "weights file",
                             where);
    }
    return ZOO_OK;
}

/* tf.keras 2.x / Keras 3 also save the model's own variables in
 * top_level_model_weights (not listed in layer_names). zoo models have
 * none, so a non-empty list cannot be loaded. */
static zoo_status check_top_level(reader *r, const zoo_load_opts *o)
{
    for (int i = 0; i < r->n_layers; i++)
        if (strcmp(r->layers[i].name, TOP_LEVEL_GROUP) == 0)
            return ZOO_OK; /* a layer of that name: handled as a layer */
    if (!link_exists(r->root, TOP_LEVEL_GROUP))
        return ZOO_OK;
    char why[256], where[600];
    snprintf(where, sizeof where, "%s: group '%s/%s'", r->path, r->gp,
             TOP_LEVEL_GROUP);
    hid_t g = H5Gopen2(r->root, TOP_LEVEL_GROUP, H5P_DEFAULT);
    if (g < 0)
        return zoo_error(ZOO_ERR_FORMAT, "%s: cannot open: %s", where,
                         zoo_h5_reason(why, sizeof why));
    zoo_h5_strs w;
    bool found;
    zoo_status st = zoo_h5_read_string_list(g, "weight_names", where, &w,
                                            &found);
    H5Gclose(g);
    if (st != ZOO_OK)
        return st;
    if (w.n > 0 && !o->skip_mismatch)
        st = zoo_error(ZOO_ERR_SHAPE,
                       "%s lists %d model-level weight(s) (first '%s'); zoo "
                       "models have no weights outside their layers (load "
                       "with skip_mismatch to ignore them)",
                       where, w.n, w.v[0]);
    zoo_h5_strs_free(&w);
    return st;
}

/* ------------------------------------------------------------------ */
/* Reading arrays                                                      */
/* ------------------------------------------------------------------ */

static zoo_status pending_push(pending_list *p, pending item, const char *path)
{
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 64;
        pending *v = realloc(p->v, (size_t)cap * sizeof *v);
        if (!v)
            return zoo_error(ZOO_ERR_MEMORY, "%s: out of memory", path);
        p->v = v;
        p->cap = cap;
    }
    p->v[p->n++] = item;
    return ZOO_OK;
}

/* Checks file weight i of `fl` (group g) against model weight i of `l`
 * and queues it for reading. A shape
 * mismatch returns ZOO_ERR_SHAPE (the one status skip_mismatch may skip);
 * anything else wrong with the file is ZOO_ERR_FORMAT or worse. */
static zoo_status read_weight(const reader *r, hid_t g, const zoo_layer *l,
                              const file_layer *fl, int i, pending_list *p)
{
    char why[256], tdesc[64], got[200], want[200];
    const char *wn = fl->weights.v[i];
    zoo_tensor *dst = l->weights[i].value;
    zoo_status st = ZOO_OK;
    hid_t type = -1, space = -1;

    hid_t ds = *wn ? H5Dopen2(g, wn, H5P_DEFAULT) : -1;
    if (ds < 0)
        return zoo_error(ZOO_ERR_FORMAT,
                         "%s: layer '%s' (file layer '%s'): weight %d: "
                         "cannot open dataset '%s' in group '%s/%s' (listed "
                         "in weight_names): %s",
                         r->path, l->name, fl->name, i, wn, r->gp, fl->name,
                         *wn ? zoo_h5_reason(why, sizeof why) : "empty name");
    if ((type = H5Dget_type(ds)) < 0 || (space = H5Dget_space(ds)) < 0) {
        st = zoo_error(ZOO_ERR_FORMAT,
                       "%s: layer '%s' (file layer '%s'): weight %d ('%s'): "
                       "cannot read its type or shape: %s",
                       r->path, l->name, fl->name, i, wn,
                       zoo_h5_reason(why, sizeof why));
        goto done;
    }
    if (H5Tget_class(type) != H5T_FLOAT) {
        st = zoo_error(ZOO_ERR_FORMAT,
                       "%s: layer '%s' (file layer '%s'): weight %d ('%s') "
                       "is stored as %s; weights must be floating point "
                       "(float32 or float64)",
                       r->path, l->name, fl->name, i, wn,
                       zoo_h5_type_desc(type, tdesc, sizeof tdesc));
        goto done;
    }
    H5S_class_t sc = H5Sget_simple_extent_type(space);
    int nd = sc == H5S_SCALAR ? 0 : H5Sget_simple_extent_ndims(space);
    hsize_t dims[H5S_MAX_RANK];
    if ((sc != H5S_SCALAR && sc != H5S_SIMPLE) || nd < 0 ||
        nd > H5S_MAX_RANK ||
        (nd > 0 && H5Sget_simple_extent_dims(space, dims, NULL) < 0)) {
        st = zoo_error(ZOO_ERR_FORMAT,
                       "%s: layer '%s' (file layer '%s'): weight %d ('%s') "
                       "has no readable shape (empty or corrupt dataset)",
                       r->path, l->name, fl->name, i, wn);
        goto done;
    }
    bool same = nd == dst->rank;
    for (int k = 0; same && k < nd; k++)
        same = dims[k] == (hsize_t)dst->shape[k];
    if (!same) {
        st = zoo_error(ZOO_ERR_SHAPE,
                       "%s: layer '%s' (file layer '%s'): weight %d ('%s') "
                       "has shape %s in the file, the model expects %s",
                       r->path, l->name, fl->name, i, wn,
                       dims_str(nd, dims, got, sizeof got),
                       tensor_shape_str(dst, want, sizeof want));
        goto done;
    }
    st = pending_push(p, (pending){dst, ds, l->name, fl->name, wn}, r->path);
    if (st == ZOO_OK)
        ds = -1; /* the queue owns it now */
done:
    if (space >= 0)
        H5Sclose(space);
    if (type >= 0)
        H5Tclose(type);
    if (ds >= 0)
        H5Dclose(ds);
    return st;
}

static bool has_conv_kernel(const zoo_layer *l)
{
    for (int i = 0; i < l->n_weights; i++)
        if (l->weights[i].value->rank == 4)
            return true;
    return false;
}

/* Model layer `l` takes the arrays of file layer `fl`. */
static zoo_status load_pair(const reader *r, const zoo_layer *l,
                            const file_layer *fl, const zoo_load_opts *o,
                            pending_list *p)
{
    char why[256], a[300], b[300];
    if (fl->weights.n != l->n_weights) {
        if (o->skip_mismatch)
            return ZOO_OK;
        return zoo_error(ZOO_ERR_SHAPE,
                         "%s: layer '%s' (file layer '%s'): the file has %d "
                         "weight(s) (%s), the model's %s layer has %d (%s)",
                         r->path, l->name, fl->name, fl->weights.n,
                         join_names(fl->weights.v, fl->weights.n, a, sizeof a),
                         l->kind->class_name, l->n_weights,
                         join_weight_names(l, b, sizeof b));
    }
    if (l->n_weights == 0)
        return ZOO_OK;
    /* Keras 2 flips Theano kernels spatially when loading; zoo does not
     * implement that conversion, and loading unflipped would be wrong. */
    if (r->backend && strcmp(r->backend, "theano") == 0 && has_conv_kernel(l))
        return zoo_error(ZOO_ERR_UNSUPPORTED,
                         "%s: layer '%s' (file layer '%s'): the file was "
                         "saved with the Theano backend, whose convolution "
                         "kernels need flipping; zoo does not convert them "
                         "(convert the file with Keras 2 and the TensorFlow "
                         "backend)",
                         r->path, l->name, fl->name);
    hid_t g = H5Gopen2(r->root, fl->name, H5P_DEFAULT);
    if (g < 0)
        return zoo_error(ZOO_ERR_FORMAT, "%s: cannot open group '%s/%s': %s",
                         r->path, r->gp, fl->name,
                         zoo_h5_reason(why, sizeof why));
    zoo_status st = ZOO_OK;
    for (int i = 0; i < l->n_weights && st == ZOO_OK; i++) {
        st = read_weight(r, g, l, fl, i, p);
        if (st == ZOO_ERR_SHAPE && o->skip_mismatch) {
            zoo_clear_error();
            st = ZOO_OK;
        }
    }
    H5Gclose(g);
    return st;
}

/* Keras's default: weighted model layers (model.layers order) paired
 * position by position with file layers whose weight_names is not empty;
 * names are ignored. */
static zoo_status pair_by_order(const reader *r, const zoo_model *m,
                                const zoo_load_opts *o, pending_list *p)
{
    int n_model = 0, n_file = 0;
    for (int i = 0; i < m->n_layers; i++)
        n_model += m->layers[i]->n_weights > 0;
    for (int i = 0; i < r->n_layers; i++)
        n_file += r->layers[i].weights.n > 0;
    if (n_model != n_file)
        return zoo_error(ZOO_ERR_SHAPE,
                         "%s: the weight file has %d layers with weights, "
                         "the model '%s' has %d: the file is for another "
                         "architecture or configuration (e.g. with/without "
                         "the top); by_name loading pairs layers by name "
                         "instead",
                         r->path, n_file, m->name, n_model);
    int f = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const zoo_layer *l = m->layers[i];
        if (l->n_weights == 0)
            continue;
        while (r->layers[f].weights.n == 0)
            f++;
        zoo_status st = load_pair(r, l, &r->layers[f], o, p);
        if (st != ZOO_OK)
            return st;
        f++;
    }
    return ZOO_OK;
}

/* by_name: each file layer goes to the model layer of the same name;
 * names the model does not have are skipped. */
static zoo_status pair_by_name(const reader *r, const zoo_model *m,
                               const zoo_load_opts *o, pending_list *p)
{
    for (int f = 0; f < r->n_layers; f++) {
        const file_layer *fl = &r->layers[f];
        for (int i = 0; i < m->n_layers; i++) {
            const zoo_layer *l = m->layers[i];
            if (strcmp(l->name, fl->name) != 0)
                continue;
            zoo_status st = load_pair(r, l, fl, o, p);
            if (st != ZOO_OK)
                return st;
        }
    }
    return ZOO_OK;
}

/* Every check has passed: read each dataset into its tensor (sizes come
 * from the model, never from the file). Only a damaged data region can
 * fail now, and the message says the weights are then partly loaded. */
static zoo_status read_pending(const reader *r, const pending_list *p)
{
    char why[256];
    for (int i = 0; i < p->n; i++) {
        const pending *q = &p->v[i];
        if (H5Dread(q->ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                    q->dst->data) < 0)
            return zoo_error(ZOO_ERR_FORMAT,
                             "%s: layer '%s' (file layer '%s'): cannot read "
                             "weight '%s': %s; the model's weights are now "
                             "partly loaded",
                             r->path, q->layer, q->file_layer, q->weight,
                             zoo_h5_reason(why, sizeof why));
    }
    return ZOO_OK;
}

zoo_status zoo_model_load_weights(zoo_model *m, const char *path,
                                  const zoo_load_opts *opts)
{
    if (!m)
        return zoo_error(ZOO_ERR_ARGUMENT,
                         "zoo_model_load_weights: model is NULL");
    if (!path || !*path)
        return zoo_error(ZOO_ERR_ARGUMENT,
                         "zoo_model_load_weights: path is %s",
                         path ? "empty" : "NULL");

    zoo_h5_quiet q;
    zoo_h5_quiet_begin(&q);
    hid_t file;
    zoo_status st = zoo_h5_open(path, false, &file);
    if (st == ZOO_OK) {
        st = zoo_h5_load_weights(m, file, path, opts);
        H5Fclose(file);
    }
    zoo_h5_quiet_end(&q);
    return st;
}

zoo_status zoo_h5_load_weights(zoo_model *m, hid_t file, const char *path,
                               const zoo_load_opts *opts)
{
    zoo_load_opts o = opts ? *opts : (zoo_load_opts){0};
    reader r = {.path = path, .file = file, .root = -1, .gp = ""};
    pending_list p = {0};
    zoo_status st = read_index(&r);
    if (st == ZOO_OK)
        st = check_top_level(&r, &o);
    if (st == ZOO_OK)
        st = o.by_name ? pair_by_name(&r, m, &o, &p)
                       : pair_by_order(&r, m, &o, &p);
    if (st == ZOO_OK)
        st = read_pending(&r, &p);
    pending_free(&p);
    reader_close(&r);
    return st;
}

/* ------------------------------------------------------------------ */
/* Saving                                                              */
/* ------------------------------------------------------------------ */

zoo_status zoo_h5_check_names(const zoo_model *m, const char *path)
{
    for (int i = 0; i < m->n_layers; i++) {
        const char *n = m->layers[i]->name;
        if (!*n || strchr(n, '/') || !strcmp(n, ".") || !strcmp(n, ".."))
            return zoo_error(ZOO_ERR_ARGUMENT,
                             "%s: cannot save layer '%s': a layer name "
                             "becomes an HDF5 group name, so it must be "
                             "non-empty, not '.' or '..', and without '/'",
                             path, n);
        if (!strcmp(n, TOP_LEVEL_GROUP))
            return zoo_error(ZOO_ERR_ARGUMENT,
                             "%s: cannot save layer '%s': Keras reserves "
                             "that group name for model-level weights",
                             path, n);
        for (int w = 0; w < m->layers[i]->n_weights; w++)
            if (!*m->layers[i]->weights[w].name)
                return zoo_error(ZOO_ERR_ARGUMENT,
                                 "%s: cannot save layer '%s': its weight "
                                 "%d has an empty name",
                                 path, n, w);
    }
    return ZOO_OK;
}

static zoo_status write_layer(hid_t loc, const char *gp, hid_t lcpl,
                              const zoo_layer *l, const char *path)
{
    char why[256], where[600];
    snprintf(where, sizeof where, "%s: group '%s/%s'", path, gp, l->name);
    hid_t g = H5Gcreate2(loc, l->name, H5P_DEFAULT, H5P_DEFAULT,
                         H5P_DEFAULT);
    if (g < 0)
        return zoo_error(ZOO_ERR_IO, "%s: cannot create: %s", where,
                         zoo_h5_reason(why, sizeof why));
    zoo_status st = ZOO_OK;
    int n = l->n_weights;
    char **names = calloc(n ? (size_t)n : 1, sizeof *names);
    if (!names)
        st = zoo_error(ZOO_ERR_MEMORY, "%s: out of memory", where);
    /* tf.keras variable names: "<layer>/<weight>:0". */
    for (int i = 0; st == ZOO_OK && i < n; i++) {
        size_t len = strlen(l->name) + strlen(l->weights[i].name) + 4;
        names[i] = malloc(len);
        if (!names[i])
            st = zoo_error(ZOO_ERR_MEMORY, "%s: out of memory", where);
        else
            snprintf(names[i], len, "%s/%s:0", l->name, l->weights[i].name);
    }
    if (st == ZOO_OK)
        st = zoo_h5_write_string_list(g, "weight_names",
                                      (const char *const *)names, n, where);
    for (int i = 0; st == ZOO_OK && i < n; i++) {
        const zoo_tensor *t = l->weights[i].value;
        hsize_t dims[ZOO_MAX_RANK];
        for (int k = 0; k < t->rank; k++)
            dims[k] = (hsize_t)t->shape[k];
        hid_t space = t->rank ? H5Screate_simple(t->rank, dims, NULL)
                              : H5Screate(H5S_SCALAR);
        hid_t ds = space < 0 ? -1
                             : H5Dcreate2(g, names[i], H5T_IEEE_F32LE, space,
                                          lcpl, H5P_DEFAULT, H5P_DEFAULT);
        if (ds < 0 || H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL,
                               H5P_DEFAULT, t->data) < 0)
            st = zoo_error(ZOO_ERR_IO, "%s: cannot write dataset '%s': %s",
                           where, names[i], zoo_h5_reason(why, sizeof why));
        if (ds >= 0 && H5Dclose(ds) < 0 && st == ZOO_OK)
            st = zoo_error(ZOO_ERR_IO, "%s: cannot write dataset '%s': %s",
                           where, names[i], zoo_h5_reason(why, sizeof why));
        if (space >= 0)
            H5Sclose(space);
    }
    for (int i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
    if (H5Gclose(g) < 0 && st == ZOO_OK)
        st = zoo_error(ZOO_ERR_IO, "%s: cannot close: %s", where,
                       zoo_h5_reason(why, sizeof why));
    return st;
}

/* The legacy layout, as tf.keras 2.x save_weights_to_hdf5_group writes it
 * (with h5py 2's fixed-length strings). */
zoo_status zoo_h5_write_weights(hid_t loc, const char *gp, const zoo_model *m,
                                const char *path)
{
    char why[256], where[600];
    if (*gp)
        snprintf(where, sizeof where, "%s: group '%s'", path, gp);
    else
        snprintf(where, sizeof where, "%s: root group", path);
    const char **names = calloc(m->n_layers ? (size_t)m->n_layers : 1,
                                sizeof *names);
    if (!names)
        return zoo_error(ZOO_ERR_MEMORY, "%s: out of memory", path);
    for (int i = 0; i < m->n_layers; i++)
        names[i] = m->layers[i]->name;
    zoo_status st =
        zoo_h5_write_string_list(loc, "layer_names", names, m->n_layers,
                                 where);
    free(names);
    if (st == ZOO_OK)
        st = zoo_h5_write_string(loc, "backend", ZOO_H5_BACKEND, where);
    if (st == ZOO_OK)
        st = zoo_h5_write_string(loc, "keras_version", ZOO_H5_KERAS_VERSION,
                                 where);
    if (st != ZOO_OK)
        return st;

    /* Weight names contain '/', which makes intermediate groups. */
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    if (lcpl < 0 || H5Pset_create_intermediate_group(lcpl, 1) < 0) {
        if (lcpl >= 0)
            H5Pclose(lcpl);
        return zoo_error(ZOO_ERR_INTERNAL, "%s: HDF5 property list: %s",
                         path, zoo_h5_reason(why, sizeof why));
    }
    for (int i = 0; i < m->n_layers && st == ZOO_OK; i++)
        st = write_layer(loc, gp, lcpl, m->layers[i], path);
    H5Pclose(lcpl);
    if (st != ZOO_OK)
        return st;

    snprintf(where, sizeof where, "%s: group '%s/%s'", path, gp,
             TOP_LEVEL_GROUP);
    hid_t g = H5Gcreate2(loc, TOP_LEVEL_GROUP, H5P_DEFAULT, H5P_DEFAULT,
                         H5P_DEFAULT);
    if (g < 0)
        return zoo_error(ZOO_ERR_IO, "%s: cannot create: %s", where,
                         zoo_h5_reason(why, sizeof why));
    st = zoo_h5_write_string_list(g, "weight_names", NULL, 0, where);
    H5Gclose(g);
    return st;
}

/* Creates a new empty file beside `path` (mode 0666 less the umask, as
 * any new file) and returns its malloc'ed name. */
static char *make_temp(const char *path, int *err)
{
    static unsigned counter;
    size_t len = strlen(path) + 48;
    char *tmp = malloc(len);
    if (!tmp) {
        *err = ENOMEM;
        return NULL;
    }
    for (int attempt = 0; attempt < 100; attempt++) {
        unsigned c = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
        snprintf(tmp, len, "%s.tmp%ld.%u.%lx", path, (long)getpid(), c,
                 (unsigned long)time(NULL) & 0xffffu);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd >= 0) {
            close(fd);
            return tmp;
        }
        if (errno != EEXIST) {
            *err = errno;
            free(tmp);
            return NULL;
        }
    }
    *err = EEXIST;
    free(tmp);
    return NULL;
}

zoo_status zoo_h5_save_atomic(const char *path, zoo_h5_write_fn fn,
                              const void *ctx)
{
    int e = 0;
    char *tmp = make_temp(path, &e);
    if (!tmp)
        return zoo_error(e == ENOENT ? ZOO_ERR_NOT_FOUND : ZOO_ERR_IO,
                         "%s: cannot create a temporary file beside it: %s",
                         path, strerror(e));

    char why[256];
    zoo_status st;
    zoo_h5_quiet q;
    zoo_h5_quiet_begin(&q);
    hid_t fapl = make_fapl();
    hid_t file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (file < 0)
        zoo_h5_reason(why, sizeof why); /* before H5Pclose clears it */
    close_fapl(fapl);
    if (file < 0) {
        st = zoo_error(ZOO_ERR_IO, "%s: cannot create the HDF5 file '%s': %s",
                       path, tmp, why);
    } else {
        st = fn(file, path, ctx);
        /* Closing flushes the metadata: a failure here is a failed save. */
        if (H5Fclose(file) < 0 && st == ZOO_OK)
            st = zoo_error(ZOO_ERR_IO, "%s: cannot finish the HDF5 file: %s",
                           path, zoo_h5_reason(why, sizeof why));
    }
    zoo_h5_quiet_end(&q);

    if (st == ZOO_OK) {
        int fd = open(tmp, O_RDONLY);
        if (fd < 0 ||
            (fsync(fd) != 0 && errno != EINVAL && errno != EROFS))
            st = zoo_error(ZOO_ERR_IO, "%s: cannot sync the written file: %s",
                           path, strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    if (st == ZOO_OK && rename(tmp, path) != 0)
        st = zoo_error(ZOO_ERR_IO,
                       "%s: cannot rename the temporary file into place: %s",
                       path, strerror(errno));
    if (st != ZOO_OK)
        unlink(tmp);
    free(tmp);
    return st;
}

static zoo_status write_weights_file(hid_t file, const char *path,
                                     const void *ctx)
{
    return zoo_h5_write_weights(file, "", ctx, path);
}

zoo_status zoo_model_save_weights(const zoo_model *m, const char *path)
{
    if (!m)
        return zoo_error(ZOO_ERR_ARGUMENT,
                         "zoo_model_save_weights: model is NULL");
    if (!path || !*path)
        return zoo_error(ZOO_ERR_ARGUMENT,
                         "zoo_model_save_weights: path is %s",
                         path ? "empty" : "NULL");
    zoo_status st = zoo_h5_check_names(m, path);
    if (st != ZOO_OK)
        return st;
    return zoo_h5_save_atomic(path, write_weights_file, m);
}
