/* The functional graph: layers, their calls, weights and naming. */
#include "engine/graph.h"
#include "engine/keras_layer_config.h"
#include "engine/tensor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Grows *arr (of *cap elements of `size`) so that it holds n + 1. */
static bool grow(void *arr, int *cap, int n, size_t size)
{
    if (n < *cap)
        return true;
    int ncap = *cap ? *cap * 2 : 16;
    void *p = realloc(*(void **)arr, (size_t)ncap * size);
    if (!p) {
        zoo_error(ZOO_ERR_MEMORY, "graph: out of memory");
        return false;
    }
    *(void **)arr = p;
    *cap = ncap;
    return true;
}

zoo_graph *zoo_graph_new(unsigned long long seed)
{
    zoo_graph *g = calloc(1, sizeof *g);
    if (!g) {
        zoo_error(ZOO_ERR_MEMORY, "zoo_graph_new: out of memory");
        return NULL;
    }
    g->refs = 1;
    g->rng = seed ^ 0x9E3779B97F4A7C15ull;
    return g;
}

void zoo_graph_retain(zoo_graph *g) { g->refs++; }

void zoo_graph_skip_random_init(zoo_graph *g, bool skip)
{
    if (g)
        g->skip_random_init = skip;
}

static void layer_free(zoo_layer *l)
{
    if (l->kind->destroy)
        l->kind->destroy(l);
    for (int i = 0; i < l->n_weights; i++) {
        free(l->weights[i].name);
        zoo_tensor_free(l->weights[i].value);
    }
    free(l->weights);
    free(l->calls);
    free(l->cfg);
    free(l->name);
    free(l);
}

void zoo_graph_release(zoo_graph *g)
{
    if (!g || --g->refs > 0)
        return;
    for (int i = 0; i < g->n_layers; i++)
        layer_free(g->layers[i]);
    for (int i = 0; i < g->n_syms; i++) {
        free(g->syms[i]->inputs);
        free(g->syms[i]);
    }
    for (int i = 0; i < g->n_names; i++)
        free(g->names[i].stem);
    free(g->layers);
    free(g->syms);
    free(g->names);
    free(g);
}

/* Keras 3 naming: the first unnamed Conv2D is "conv2d", then "conv2d_1". */
static char *auto_name(zoo_graph *g, const char *stem)
{
    struct name_count *slot = NULL;
    for (int i = 0; i < g->n_names; i++)
        if (strcmp(g->names[i].stem, stem) == 0)
            slot = &g->names[i];
    if (!slot) {
        if (!grow(&g->names, &g->cap_names, g->n_names, sizeof *g->names))
            return NULL;
        slot = &g->names[g->n_names];
        slot->stem = strdup(stem);
        slot->count = 0;
        if (!slot->stem)
            return NULL;
        g->n_names++;
    }
    size_t len = strlen(stem) + 16;
    char *name = malloc(len);
    if (!name)
        return NULL;
    if (slot->count == 0)
        snprintf(name, len, "%s", stem);
    else
        snprintf(name, len, "%s_%d", stem, slot->count);
    slot->count++;
    return name;
}

zoo_layer *zoo_layer_create(zoo_graph *g, const zoo_layer_kind *kind,
                            const void *cfg, size_t cfg_size,
                            const char *name)
{
    if (!g) {
        if (zoo_last_status() == ZOO_OK)
            zoo_error(ZOO_ERR_ARGUMENT, "%s: graph is NULL", kind->class_name);
        return NULL;
    }
    zoo_layer *l = calloc(1, sizeof *l);
    if (!l || !grow(&g->layers, &g->cap_layers, g->n_layers, sizeof *g->layers)) {
        free(l);
        zoo_error(ZOO_ERR_MEMORY, "%s: out of memory", kind->class_name);
        return NULL;
    }
    l->kind = kind;
    l->graph = g;
    l->trainable = true;
    l->name = (name && *name) ? strdup(name) : auto_name(g, kind->auto_prefix);
    l->cfg = calloc(1, cfg_size ? cfg_size : 1);
    if (!l->name || !l->cfg) {
        free(l->name);
        free(l->cfg);
        free(l);
        zoo_error(ZOO_ERR_MEMORY, "%s: out of memory", kind->class_name);
        return NULL;
    }
    if (cfg && cfg_size) {
        memcpy(l->cfg, cfg, cfg_size);
        /* Every config begins with its name: point it at our own copy so
         * the caller's string need not outlive the call. */
        *(const char **)l->cfg = l->name;
    }
    l->index = g->n_layers;
    g->layers[g->n_layers++] = l;
    return l;
}

/* splitmix64: small, seedable, good enough for weight initialisation. */
static uint64_t next_u64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Fills `t` as initialiser `init` would, drawing from `rng`. */
static void fill_weight(zoo_tensor *t, zoo_init init, int fan_in, int fan_out,
                        uint64_t *rng)
{
    float *d = t->data;
    if (init == ZOO_INIT_ONES) {
        for (size_t i = 0; i < t->size; i++)
            d[i] = 1.0f;
    } else if (init == ZOO_INIT_ZEROS) {
        memset(d, 0, t->size * sizeof *d);
    } else if (init == ZOO_INIT_GLOROT_UNIFORM) {
        double limit = sqrt(6.0 / (double)(fan_in + fan_out > 0 ? fan_in + fan_out : 1));
        for (size_t i = 0; i < t->size; i++) {
            double u = (double)(next_u64(rng) >> 11) * 0x1.0p-53;
            d[i] = (float)((2.0 * u - 1.0) * limit);
        }
    }
}

zoo_tensor *zoo_layer_add_weight(zoo_layer *l, const char *name, int rank,
                                 const int *shape, zoo_init init,
                                 int fan_in, int fan_out, bool trainable)
{
    zoo_weight *w = realloc(l->weights, (size_t)(l->n_weights + 1) * sizeof *w);
    if (!w) {
        zoo_error(ZOO_ERR_MEMORY, "%s %s: out of memory", l->kind->class_name, l->name);
        return NULL;
    }
    l->weights = w;
    zoo_tensor *t = zoo_tensor_new(rank, shape);
    char *wname = strdup(name);
    if (!t || !wname) {
        zoo_tensor_free(t);
        free(wname);
        zoo_error(ZOO_ERR_MEMORY, "%s %s: cannot allocate weight %s",
                  l->kind->class_name, l->name, name);
        return NULL;
    }
    /* A fresh tensor is zero already; random kernels are left at zero when
     * weights are about to be loaded. */
    if (init == ZOO_INIT_ONES ||
        (init == ZOO_INIT_GLOROT_UNIFORM && !l->graph->skip_random_init))
        fill_weight(t, init, fan_in, fan_out, &l->graph->rng);
    l->weights[l->n_weights++] = (zoo_weight){wname, t, trainable, init, fan_in, fan_out};
    return t;
}

zoo_status zoo_layer_initialize(zoo_layer *l, unsigned long long seed)
{
    if (!l)
        return zoo_error(ZOO_ERR_ARGUMENT, "zoo_layer_initialize: layer is NULL");
    if (!l->built)
        return zoo_error(ZOO_ERR_ARGUMENT,
                         "zoo_layer_initialize: layer %s has no weights yet (call it first)",
                         l->name);
    uint64_t rng = seed;
    for (int i = 0; i < l->n_weights; i++)
        fill_weight(l->weights[i].value, l->weights[i].init, l->weights[i].fan_in,
                    l->weights[i].fan_out, &rng);
    return ZOO_OK;
}

const zoo_tensor *zoo_layer_find_weight(const zoo_layer *l, const char *name)
{
    for (int i = 0; i < l->n_weights; i++)
        if (strcmp(l->weights[i].name, name) == 0)
            return l->weights[i].value;
    return NULL;
}

/* ---- InputLayer ---- */

static zoo_status input_infer(const zoo_layer *l, const zoo_shape *in,
                              int n_in, zoo_shape *out)
{
    (void)l, (void)in, (void)n_in, (void)out;
    return zoo_error(ZOO_ERR_ARGUMENT, "InputLayer %s cannot be called on a tensor",
                     l->name);
}

/* Keras 3.0 InputLayer.get_config(): no trainable, the batch axis first. */
static zoo_status input_config(const zoo_layer *l, void *json)
{
    json_t *shape = json_array();
    const zoo_shape *s = l->n_calls > 0 ? &l->calls[0]->shape : NULL;
    for (int i = 0; shape && s && i < s->rank; i++)
        if (json_array_append_new(shape, s->dim[i] < 0
                                             ? json_null()
                                             : json_integer(s->dim[i])) != 0) {
            json_decref(shape);
            shape = NULL;
        }
    return zoo_kcfg_merge(l, json, json_pack(
        "{s:o, s:s, s:b, s:s}", "batch_shape", shape, "dtype", "float32",
        "sparse", 0, "name", l->name));
}

static const zoo_layer_kind input_kind = {
    .class_name = "InputLayer",
    .auto_prefix = "input_layer",
    .min_inputs = 0,
    .max_inputs = 0,
    .infer = input_infer,
    .config = input_config,
};

bool zoo_layer_is_input(const zoo_layer *l) { return l->kind == &input_kind; }

static zoo_sym *new_sym(zoo_layer *l, zoo_sym *const *xs, int n, zoo_shape shape)
{
    zoo_graph *g = l->graph;
    zoo_sym *s = calloc(1, sizeof *s);
    zoo_sym **calls = realloc(l->calls, (size_t)(l->n_calls + 1) * sizeof *calls);
    if (calls)
        l->calls = calls;
    if (!s || !calls || !grow(&g->syms, &g->cap_syms, g->n_syms, sizeof *g->syms)) {
        free(s);
        zoo_error(ZOO_ERR_MEMORY, "%s %s: out of memory", l->kind->class_name, l->name);
        return NULL;
    }
    if (n > 0) {
        s->inputs = malloc((size_t)n * sizeof *s->inputs);
        if (!s->inputs) {
            free(s);
            zoo_error(ZOO_ERR_MEMORY, "%s %s: out of memory", l->kind->class_name, l->name);
            return NULL;
        }
        memcpy(s->inputs, xs, (size_t)n * sizeof *xs);
    }
    s->layer = l;
    s->n_inputs = n;
    s->shape = shape;
    s->call = l->n_calls;
    s->id = g->n_syms;
    g->syms[g->n_syms++] = s;
    l->calls[l->n_calls++] = s;
    return s;
}

zoo_sym *zoo_input(zoo_graph *g, int rank, const int *shape, const char *name)
{
    if (!g || !shape) {
        zoo_error(ZOO_ERR_ARGUMENT, "zoo_input: %s is NULL", g ? "shape" : "graph");
        return NULL;
    }
    if (rank < 1 || rank > ZOO_MAX_RANK - 1) {
        zoo_error(ZOO_ERR_ARGUMENT, "zoo_input: rank %d is outside 1..%d "
                  "(the batch axis is not part of the shape)", rank, ZOO_MAX_RANK - 1);
        return NULL;
    }
    zoo_shape s = {.rank = rank + 1, .dim = {-1}};
    for (int i = 0; i < rank; i++) {
        if (shape[i] == 0 || shape[i] < -1) {
            zoo_error(ZOO_ERR_ARGUMENT, "zoo_input: dimension %d is %d; use a "
                      "positive size or -1 for unknown", i, shape[i]);
            return NULL;
        }
        s.dim[i + 1] = shape[i];
    }
    if (s.dim[rank] < 0) {
        zoo_error(ZOO_ERR_ARGUMENT, "zoo_input: the last (channel) axis must be known");
        return NULL;
    }
    zoo_layer *l = zoo_layer_create(g, &input_kind, NULL, 0, name);
    if (!l)
        return NULL;
    l->built = true;
    return new_sym(l, NULL, 0, s);
}

zoo_sym *zoo_apply_n(zoo_layer *l, zoo_sym *const *xs, int n)
{
    if (!l || !xs || n < 0) {
        if (zoo_last_status() == ZOO_OK)
            zoo_error(ZOO_ERR_ARGUMENT, "zoo_apply: %s is NULL", l ? "input list" : "layer");
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        if (!xs[i]) {
            if (zoo_last_status() == ZOO_OK)
                zoo_error(ZOO_ERR_ARGUMENT, "%s %s: input %d is NULL",
                          l->kind->class_name, l->name, i);
            return NULL;
        }
        if (xs[i]->layer->graph != l->graph) {
            zoo_error(ZOO_ERR_ARGUMENT, "%s %s: input %d belongs to another graph",
                      l->kind->class_name, l->name, i);
            return NULL;
        }
    }
    const zoo_layer_kind *k = l->kind;
    if (n < k->min_inputs || (k->max_inputs >= 0 && n > k->max_inputs)) {
        if (k->max_inputs == k->min_inputs)
            zoo_error(ZOO_ERR_ARGUMENT, "%s %s: expects %d input%s, got %d",
                      k->class_name, l->name, k->min_inputs,
                      k->min_inputs == 1 ? "" : "s", n);
        else
            zoo_error(ZOO_ERR_ARGUMENT, "%s %s: expects at least %d inputs, got %d",
                      k->class_name, l->name, k->min_inputs, n);
        return NULL;
    }
    zoo_shape in[n > 0 ? n : 1];
    for (int i = 0; i < n; i++)
        in[i] = xs[i]->shape;
    if (!l->built) {
        if (k->build && k->build(l, in, n) != ZOO_OK)
            return NULL;
        l->built = true;
    }
    zoo_shape out = {0};
    if (k->infer(l, in, n, &out) != ZOO_OK)
        return NULL;
    return new_sym(l, xs, n, out);
}

zoo_sym *zoo_apply(zoo_layer *l, zoo_sym *x)
{
    if (!x) {
        if (zoo_last_status() == ZOO_OK)
            zoo_error(ZOO_ERR_ARGUMENT, "zoo_apply: input is NULL");
        return NULL;
    }
    return zoo_apply_n(l, &x, 1);
}

int zoo_sym_rank(const zoo_sym *x) { return x ? x->shape.rank : 0; }
const int *zoo_sym_shape(const zoo_sym *x) { return x ? x->shape.dim : NULL; }
zoo_layer *zoo_sym_layer(const zoo_sym *x) { return x ? x->layer : NULL; }

/* ---- layer introspection ---- */

const char *zoo_layer_name(const zoo_layer *l) { return l ? l->name : NULL; }
const char *zoo_layer_class(const zoo_layer *l) { return l ? l->kind->class_name : NULL; }
bool zoo_layer_trainable(const zoo_layer *l) { return l && l->trainable; }

void zoo_layer_set_trainable(zoo_layer *l, bool trainable)
{
    if (l)
        l->trainable = trainable;
}

int zoo_layer_weight_count(const zoo_layer *l) { return l ? l->n_weights : 0; }

static bool weight_index_ok(const zoo_layer *l, int i)
{
    if (!l) {
        zoo_error(ZOO_ERR_ARGUMENT, "layer is NULL");
        return false;
    }
    if (i < 0 || i >= l->n_weights) {
        zoo_error(ZOO_ERR_ARGUMENT, "%s %s: weight %d does not exist (it has %d)",
                  l->kind->class_name, l->name, i, l->n_weights);
        return false;
    }
    return true;
}

zoo_tensor *zoo_layer_weight(zoo_layer *l, int i)
{
    return weight_index_ok(l, i) ? l->weights[i].value : NULL;
}

const char *zoo_layer_weight_name(const zoo_layer *l, int i)
{
    return weight_index_ok(l, i) ? l->weights[i].name : NULL;
}

bool zoo_layer_weight_trainable(const zoo_layer *l, int i)
{
    return weight_index_ok(l, i) && l->trainable && l->weights[i].trainable;
}

size_t zoo_layer_param_count(const zoo_layer *l)
{
    size_t n = 0;
    for (int i = 0; l && i < l->n_weights; i++)
        n += l->weights[i].value->size;
    return n;
}

zoo_sym *zoo_layer_output(const zoo_layer *l, int call)
{
    if (!l) {
        zoo_error(ZOO_ERR_ARGUMENT, "zoo_layer_output: layer is NULL");
        return NULL;
    }
    if (call < 0 || call >= l->n_calls) {
        zoo_error(ZOO_ERR_ARGUMENT, "%s %s: has been called %d time%s; no call %d",
                  l->kind->class_name, l->name, l->n_calls,
                  l->n_calls == 1 ? "" : "s", call);
        return NULL;
    }
    return l->calls[call];
}
