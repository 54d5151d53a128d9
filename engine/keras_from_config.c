/*
 * zoo_model_from_json, part 2: Keras's model_from_json for the layer
 * classes zoo has, wiring the layers into a model (reading one layer's
 * config is engine/keras_layer_from_config.c). It reads everything
 * engine/keras_config.c writes (Keras 3: "Functional" with {"args": [...],
 * "kwargs": {}} inbound nodes whose tensors are {"class_name":
 * "__keras_tensor__", "config": {"keras_history": [layer, node, 0]}};
 * "Sequential" with its InputLayer first) and tf.keras 2's format
 * ("Functional" or "Model" with inbound nodes [[["layer", node, 0, {}],
 * ...]] and InputLayers with "batch_input_shape"; "Sequential" with
 * batch_input_shape on its first layer).
 *
 * Every layer is made first, then called node by node as Keras's
 * functional_from_config does: each layer's nodes in order, each after the
 * nodes it reads (whatever the order of the layer list), so call k of a
 * layer is its node k.
 *
 * The JSON may be hostile: references are checked, and sizes are bounded
 * before anything is allocated (layer and node counts, values per tensor,
 * weights in all), so that no product in the layers' shape arithmetic can
 * overflow and no config can ask for an absurd allocation.
 */
#define _GNU_SOURCE /* qsort_r */
#include "engine/keras_from_config.h"
#include "engine/keras_config_reader.h"
#include "engine/model.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One call of a layer (an inbound node), or an InputLayer's tensor. */
struct node {
    int entry, k;       /* node k of entry */
    int *in;            /* ids of the nodes whose outputs it takes */
    int n_in;
    zoo_sym *out;
};

/* ------------------------------------------------------------------ */
/* Calling layers                                                      */
/* ------------------------------------------------------------------ */

/* Values per sample of `s` (unknown axes count 1), capped. */
static long long sym_values(const zoo_sym *s)
{
    long long n = 1;
    const int *d = zoo_sym_shape(s);
    for (int i = 1; i < zoo_sym_rank(s); i++) {
        if (d[i] > 0)
            n *= d[i];
        if (n > MAX_VALUES)
            return MAX_VALUES + 1;
    }
    return n;
}

/* Weights a layer will create on its first call on inputs `xs`. */
static double weights_needed(const zoo_layer *l, zoo_sym *const *xs)
{
    const int *d = zoo_sym_shape(xs[0]);
    double cin = d[zoo_sym_rank(xs[0]) - 1];
    const char *cls = zoo_layer_class(l);
    if (cin <= 0)
        return 0.0; /* the layer's build reports it */
    if (strcmp(cls, "Conv2D") == 0) {
        const zoo_conv2d_cfg *c = l->cfg;
        return (double)c->kernel[0] * c->kernel[1] * cin * c->filters +
               c->filters;
    }
    if (strcmp(cls, "DepthwiseConv2D") == 0) {
        const zoo_depthwise_conv2d_cfg *c = l->cfg;
        return ((double)c->kernel[0] * c->kernel[1] + 1) * cin *
               c->depth_multiplier;
    }
    if (strcmp(cls, "SeparableConv2D") == 0) {
        const zoo_separable_conv2d_cfg *c = l->cfg;
        double mid = cin * c->depth_multiplier;
        return (double)c->kernel[0] * c->kernel[1] * mid + mid * c->filters +
               c->filters;
    }
    if (strcmp(cls, "Dense") == 0) {
        const zoo_dense_cfg *c = l->cfg;
        return (cin + 1) * c->units;
    }
    if (strcmp(cls, "BatchNormalization") == 0)
        return 4 * cin;
    return 0.0;
}

/* Calls e's layer on xs (checked against the size bounds first). */
static zoo_status call_layer(builder *b, const entry *e, zoo_sym *const *xs,
                             int n, zoo_sym **out)
{
    zoo_layer *l = e->layer;
    long long total = 0;
    for (int i = 0; i < n; i++) {
        total += sym_values(xs[i]);
        if (total > MAX_VALUES)
            return lerr(e, ZOO_ERR_FORMAT,
                        "its inputs hold more than %lld values per sample",
                        MAX_VALUES);
    }
    if (strcmp(e->cls, "BatchNormalization") == 0 && n > 0) {
        int rank = zoo_sym_rank(xs[0]);
        int axis = e->bn_axis < 0 ? e->bn_axis + rank : e->bn_axis;
        if (axis != rank - 1)
            return lerr(e, ZOO_ERR_UNSUPPORTED,
                        "axis %d of a rank-%d input is not the last axis; "
                        "zoo normalizes the last (channels_last) axis only",
                        e->bn_axis, rank);
    }
    if (!l->built && n > 0) {
        b->weights += weights_needed(l, xs);
        if (b->weights > (double)MAX_VALUES)
            return lerr(e, ZOO_ERR_FORMAT,
                        "the model would hold more than %lld weights; zoo "
                        "refuses such configs",
                        MAX_VALUES);
    }
    bool one = l->kind->min_inputs == 1 && l->kind->max_inputs == 1;
    if (one && n != 1)
        return lerr(e, ZOO_ERR_FORMAT, "takes one input; a node gives it %d",
                    n);
    *out = one ? zoo_apply(l, xs[0]) : zoo_apply_n(l, xs, n);
    return *out ? ZOO_OK : zoo_last_status();
}

/* ------------------------------------------------------------------ */
/* Layer list                                                          */
/* ------------------------------------------------------------------ */

static const char *str_or_null(const json_t *obj, const char *key)
{
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Reads entry i of the layer list (class, name, config). */
static zoo_status read_entry(builder *b, json_t *item, int i, bool nodes)
{
    entry *e = &b->e[i];
    e->name = "?";
    e->cls = "?";
    if (!json_is_object(item))
        return zoo_error(ZOO_ERR_FORMAT,
                         "model config: layer %d of the list is not an "
                         "object",
                         i);
    e->cls = str_or_null(item, "class_name");
    e->cfg = json_object_get(item, "config");
    if (!e->cls)
        return zoo_error(ZOO_ERR_FORMAT,
                         "model config: layer %d of the list has no "
                         "class_name",
                         i);
    const char *cname = str_or_null(e->cfg, "name");
    const char *name = str_or_null(item, "name");
    if (!name)
        name = cname;
    if (!json_is_object(e->cfg) || !name || !*name)
        return zoo_error(ZOO_ERR_FORMAT,
                         "model config: layer %d of the list (%.100s) has no "
                         "config object with a non-empty name",
                         i, e->cls);
    e->name = name;
    if (cname && strcmp(cname, name) != 0)
        return lerr(e, ZOO_ERR_FORMAT,
                    "its config is named '%.200s', the entry '%.200s'", cname,
                    name);
    e->is_input = strcmp(e->cls, "InputLayer") == 0;
    if (nodes) {
        e->inbound = json_object_get(item, "inbound_nodes");
        if (e->inbound && !json_is_null(e->inbound) &&
            !json_is_array(e->inbound))
            return lerr(e, ZOO_ERR_FORMAT, "'inbound_nodes' must be a list");
        size_t nn = json_array_size(e->inbound);
        if (e->is_input && nn > 0)
            return lerr(e, ZOO_ERR_FORMAT,
                        "an InputLayer has no inbound nodes, this one has "
                        "%zu",
                        nn);
        if (nn > MAX_NODES)
            return lerr(e, ZOO_ERR_FORMAT, "more than %d inbound nodes",
                        MAX_NODES);
        e->n_nodes = e->is_input ? 1 : (int)nn;
    }
    return ZOO_OK;
}

static int by_name_cmp(const void *a, const void *b, void *ctx)
{
    const entry *e = ctx;
    return strcmp(e[*(const int *)a].name, e[*(const int *)b].name);
}

/* Indexes the entries by name; two of one name are an error. */
static zoo_status index_names(builder *b)
{
    b->by_name = malloc((size_t)(b->n ? b->n : 1) * sizeof *b->by_name);
    if (!b->by_name)
        return zoo_error(ZOO_ERR_MEMORY, "model config: out of memory");
    for (int i = 0; i < b->n; i++)
        b->by_name[i] = i;
    qsort_r(b->by_name, (size_t)b->n, sizeof *b->by_name, by_name_cmp, b->e);
    for (int i = 1; i < b->n; i++)
        if (strcmp(b->e[b->by_name[i - 1]].name, b->e[b->by_name[i]].name) == 0)
            return zoo_error(ZOO_ERR_FORMAT,
                             "model config: two layers are named '%.200s'; "
                             "layer names must be unique",
                             b->e[b->by_name[i]].name);
    return ZOO_OK;
}

/* The entry named `name`, or -1. */
static int find_entry(const builder *b, const char *name)
{
    int lo = 0, hi = b->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(b->e[b->by_name[mid]].name, name);
        if (c == 0)
            return b->by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

/* The node a reference names: layer `name`, its node `k`, output `t`.
 * `who` says where the reference is, for messages. */
static zoo_status resolve_ref(const builder *b, const char *who,
                              const char *name, json_t *k, json_t *t, int *id)
{
    if (!name)
        return zoo_error(ZOO_ERR_FORMAT,
                         "model config: %s: an input names no layer", who);
    if (!json_is_integer(k) || !json_is_integer(t))
        return zoo_error(ZOO_ERR_FORMAT,
                         "model config: %s: the node and tensor indices of "
                         "its input from '%.200s' must be integers",
                         who, name);
    int j = find_entry(b, name);
    if (j < 0)
        return zoo_error(ZOO_ERR_FORMAT,
                         "model config: %s takes input from layer '%.200s', "
                         "which is not in the layer list",
                         who, name);
    long long node = json_integer_value(k), tensor = json_integer_value(t);
    if (node < 0 || node >= b->e[j].n_nodes)
        return zoo_error(ZOO_ERR_FORMAT,
                         "model config: %s takes node %lld of layer "
                         "'%.200s', which has %d node%s",
                         who, node, name, b->e[j].n_nodes,
                         b->e[j].n_nodes == 1 ? "" : "s");
    if (tensor != 0)
        return zoo_error(ZOO_ERR_UNSUPPORTED,
                         "model config: %s takes output %lld of layer "
                         "'%.200s'; zoo layers have one output (0)",
                         who, tensor, name);
    *id = b->e[j].first_node + (int)node;
    return ZOO_OK;
}

/* Keyword arguments of a call: zoo calls layers on their inputs alone, so
 * only null ones (Keras's mask=None) are accepted. */
static zoo_status check_kwargs(const entry *e, int k, json_t *kw)
{
    if (!kw || json_is_null(kw))
        return ZOO_OK;
    if (!json_is_object(kw))
        return lerr(e, ZOO_ERR_FORMAT, "node %d: kwargs must be an object", k);
    const char *key;
    json_t *v;
    json_object_foreach(kw, key, v) {
        if (!json_is_null(v))
            return lerr(e, ZOO_ERR_UNSUPPORTED,
                        "node %d calls it with the argument '%.60s'; zoo "
                        "calls layers on their inputs only (a per-call "
                        "training flag or mask cannot be honoured)",
                        k, key);
    }
    return ZOO_OK;
}

/* Inbound node k of e: Keras 3 {"args": [T] or [[T, ...]], "kwargs": {}}
 * or tf.keras 2 [[name, node, tensor, kwargs], ...]. */
static zoo_status read_node(builder *b, const entry *e, int k, node *nd)
{
    char who[300];
    snprintf(who, sizeof who, "layer '%.200s' node %d", e->name, k);
    json_t *v = json_array_get(e->inbound, (size_t)k);
    json_t *items;
    bool keras3 = json_is_object(v);
    zoo_status st;
    if (keras3) {
        json_t *args = json_object_get(v, "args");
        if (!json_is_array(args) || json_array_size(args) != 1)
            return lerr(e, ZOO_ERR_FORMAT,
                        "node %d: 'args' must hold its input tensor or the "
                        "list of its input tensors",
                        k);
        if ((st = check_kwargs(e, k, json_object_get(v, "kwargs"))))
            return st;
        json_t *a0 = json_array_get(args, 0);
        items = json_is_array(a0) ? a0 : args;
    } else if (json_is_array(v)) {
        items = v;
    } else {
        return lerr(e, ZOO_ERR_FORMAT,
                    "node %d is neither a Keras 3 node ({\"args\": ...}) nor "
                    "a tf.keras 2 one ([[layer, node, tensor, {}], ...])",
                    k);
    }
    size_t n = json_array_size(items);
    if (n < 1 || n > MAX_NODES)
        return lerr(e, ZOO_ERR_FORMAT, "node %d has %zu inputs", k, n);
    nd->in = malloc(n * sizeof *nd->in);
    if (!nd->in)
        return zoo_error(ZOO_ERR_MEMORY, "model config: out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(items, i);
        if (keras3) {
            json_t *h = json_object_get(json_object_get(t, "config"),
                                        "keras_history");
            const char *tc = str_or_null(t, "class_name");
            if (!tc || strcmp(tc, "__keras_tensor__") != 0 ||
                !json_is_array(h) || json_array_size(h) != 3)
                return lerr(e, ZOO_ERR_FORMAT,
                            "node %d: input %zu is not a Keras tensor with "
                            "a keras_history [layer, node, tensor]",
                            k, i);
            st = resolve_ref(b, who, json_string_value(json_array_get(h, 0)),
                             json_array_get(h, 1), json_array_get(h, 2),
                             &nd->in[i]);
        } else {
            size_t len = json_array_size(t);
            if (!json_is_array(t) || len < 3 || len > 4)
                return lerr(e, ZOO_ERR_FORMAT,
                            "node %d: input %zu must be [layer, node, "
                            "tensor, kwargs]",
                            k, i);
            st = check_kwargs(e, k, json_array_get(t, 3));
            if (st == ZOO_OK)
                st = resolve_ref(b, who,
                                 json_string_value(json_array_get(t, 0)),
                                 json_array_get(t, 1), json_array_get(t, 2),
                                 &nd->in[i]);
        }
        if (st != ZOO_OK)
            return st;
        nd->n_in = (int)i + 1;
    }
    return ZOO_OK;
}

/* Calls node `id` on the outputs of its inputs (all made already). */
static zoo_status apply_node(builder *b, int id)
{
    node *nd = &b->nodes[id];
    const entry *e = &b->e[nd->entry];
    zoo_sym **xs = malloc((size_t)nd->n_in * sizeof *xs);
    if (!xs)
        return zoo_error(ZOO_ERR_MEMORY, "model config: out of memory");
    for (int i = 0; i < nd->n_in; i++)
        xs[i] = b->nodes[nd->in[i]].out;
    zoo_status st = call_layer(b, e, xs, nd->n_in, &nd->out);
    free(xs);
    /* Each layer's nodes run in order, so its call k is node k. */
    if (st == ZOO_OK && zoo_sym_layer(nd->out)->n_calls != nd->k + 1)
        st = lerr(e, ZOO_ERR_INTERNAL, "node %d became another call", nd->k);
    return st;
}

/* Runs every node after the nodes it reads and after the layer's previous
 * node (Keras's functional_from_config order), with an explicit stack:
 * deep graphs do not recurse. A node met again while open is a cycle. */
static zoo_status run_nodes(builder *b)
{
    int n = b->n_nodes;
    char *state = calloc((size_t)n + 1, 1); /* 0 new, 1 open, 2 done */
    int *stack = malloc(((size_t)n + 1) * sizeof *stack);
    int *cursor = calloc((size_t)n + 1, sizeof *cursor);
    zoo_status st = ZOO_OK;
    if (!state || !stack || !cursor)
        st = zoo_error(ZOO_ERR_MEMORY, "model config: out of memory");
    for (int i = 0; st == ZOO_OK && i < n; i++)
        if (b->nodes[i].out)
            state[i] = 2; /* InputLayer tensors */
    for (int start = 0; st == ZOO_OK && start < n; start++) {
        if (state[start])
            continue;
        int sp = 0;
        stack[sp++] = start;
        state[start] = 1;
        while (st == ZOO_OK && sp > 0) {
            int id = stack[sp - 1];
            const node *nd = &b->nodes[id];
            int c = cursor[id]++, dep = -1;
            if (c < nd->n_in)
                dep = nd->in[c];
            else if (c == nd->n_in && nd->k > 0)
                dep = id - 1;
            if (dep < 0) {
                sp--;
                st = apply_node(b, id);
                state[id] = 2;
            } else if (state[dep] == 1) {
                st = zoo_error(ZOO_ERR_FORMAT,
                               "model config: the inbound nodes form a cycle "
                               "through layer '%.200s'",
                               b->e[b->nodes[dep].entry].name);
            } else if (state[dep] == 0) {
                state[dep] = 1;
                stack[sp++] = dep;
            }
        }
    }
    free(state);
    free(stack);
    free(cursor);
    return st;
}

/* input_layers / output_layers: one [layer, node, tensor] or a list. */
static zoo_status read_io(const builder *b, json_t *cfg, const char *key,
                          bool inputs, zoo_sym ***out, int *n_out)
{
    json_t *v = json_object_get(cfg, key);
    size_t n = json_array_size(v);
    if (!json_is_array(v) || n == 0)
        return zoo_error(ZOO_ERR_FORMAT,
                         "model config: '%s' is missing or empty", key);
    bool single = json_is_string(json_array_get(v, 0));
    if (single)
        n = 1;
    if (n > MAX_NODES)
        return zoo_error(ZOO_ERR_FORMAT, "model config: '%s' has %zu entries",
                         key, n);
    *out = malloc(n * sizeof **out);
    if (!*out)
        return zoo_error(ZOO_ERR_MEMORY, "model config: out of memory");
    *n_out = (int)n;
    for (size_t i = 0; i < n; i++) {
        json_t *t = single ? v : json_array_get(v, i);
        if (!json_is_array(t) || json_array_size(t) != 3)
            return zoo_error(ZOO_ERR_FORMAT,
                             "model config: '%s' entry %zu must be [layer, "
                             "node, tensor]",
                             key, i);
        int id;
        zoo_status st = resolve_ref(b, key,
                                    json_string_value(json_array_get(t, 0)),
                                    json_array_get(t, 1), json_array_get(t, 2),
                                    &id);
        if (st != ZOO_OK)
            return st;
        const entry *e = &b->e[b->nodes[id].entry];
        if (inputs && !e->is_input)
            return zoo_error(ZOO_ERR_FORMAT,
                             "model config: model input '%.200s' is a %.100s, "
                             "not an InputLayer",
                             e->name, e->cls);
        if (!inputs && sym_values(b->nodes[id].out) > MAX_VALUES)
            return lerr(e, ZOO_ERR_FORMAT,
                        "its output holds more than %lld values per sample",
                        MAX_VALUES);
        (*out)[i] = b->nodes[id].out;
    }
    return ZOO_OK;
}

/* tf.keras 2's format shows in batch_input_shape and list-form nodes. */
static bool looks_legacy(json_t *layers)
{
    size_t i, k;
    json_t *item, *nd;
    json_array_foreach(layers, i, item) {
        if (opt(json_object_get(item, "config"), "batch_input_shape"))
            return true;
        json_array_foreach(json_object_get(item, "inbound_nodes"), k, nd) {
            if (json_is_array(nd))
                return true;
        }
    }
    return false;
}

static zoo_status read_layer_list(builder *b, json_t *layers, bool nodes)
{
    size_t n = json_array_size(layers);
    if (!json_is_array(layers) || n == 0)
        return zoo_error(ZOO_ERR_FORMAT,
                         "model config: 'layers' is missing or empty");
    if (n > MAX_LAYERS)
        return zoo_error(ZOO_ERR_FORMAT,
                         "model config: %zu layers; zoo reads at most %d",
                         n, MAX_LAYERS);
    b->e = calloc(n, sizeof *b->e);
    if (!b->e)
        return zoo_error(ZOO_ERR_MEMORY, "model config: out of memory");
    b->n = (int)n;
    b->legacy = b->legacy || looks_legacy(layers);
    for (int i = 0; i < b->n; i++) {
        zoo_status st = read_entry(b, json_array_get(layers, (size_t)i), i,
                                   nodes);
        if (st != ZOO_OK)
            return st;
    }
    return index_names(b);
}

static zoo_model *build_functional(builder *b, json_t *cfg, const char *name)
{
    zoo_sym **ins = NULL, **outs = NULL;
    int n_in = 0, n_out = 0;
    zoo_model *m = NULL;
    zoo_status st = read_layer_list(b, json_object_get(cfg, "layers"), true);
    for (int i = 0; st == ZOO_OK && i < b->n; i++) {
        b->e[i].first_node = b->n_nodes;
        b->n_nodes += b->e[i].n_nodes;
        if (b->n_nodes > MAX_NODES)
            st = zoo_error(ZOO_ERR_FORMAT,
                           "model config: more than %d layer calls in all",
                           MAX_NODES);
    }
    if (st == ZOO_OK) {
        b->nodes = calloc((size_t)b->n_nodes + 1, sizeof *b->nodes);
        if (!b->nodes)
            st = zoo_error(ZOO_ERR_MEMORY, "model config: out of memory");
    }
    /* As Keras: every layer first (in list order), then the calls. */
    for (int i = 0; st == ZOO_OK && i < b->n; i++) {
        entry *e = &b->e[i];
        for (int k = 0; k < e->n_nodes; k++)
            b->nodes[e->first_node + k] = (node){.entry = i, .k = k};
        if (e->is_input) {
            b->nodes[e->first_node].out = zoo_keras_make_input(b, e);
            if (!b->nodes[e->first_node].out)
                st = zoo_last_status();
        } else {
            st = zoo_keras_make_layer(b, e);
        }
    }
    for (int i = 0; st == ZOO_OK && i < b->n; i++)
        for (int k = 0; st == ZOO_OK && !b->e[i].is_input && k < b->e[i].n_nodes;
             k++)
            st = read_node(b, &b->e[i], k, &b->nodes[b->e[i].first_node + k]);
    if (st == ZOO_OK)
        st = run_nodes(b);
    if (st == ZOO_OK)
        st = read_io(b, cfg, "input_layers", true, &ins, &n_in);
    if (st == ZOO_OK)
        st = read_io(b, cfg, "output_layers", false, &outs, &n_out);
    if (st == ZOO_OK)
        m = zoo_model_new(ins, n_in, outs, n_out, name ? name : "functional");
    free(ins);
    free(outs);
    return m;
}

static zoo_model *build_sequential(builder *b, json_t *cfg, const char *name)
{
    /* Keras 2.2 wrote the layer list as the config itself. */
    json_t *layers = json_is_array(cfg) ? cfg : json_object_get(cfg, "layers");
    zoo_status st = read_layer_list(b, layers, false);
    if (st != ZOO_OK)
        return NULL;
    entry *first = &b->e[0];
    zoo_sym *in;
    int start = 1;
    if (first->is_input) {
        in = zoo_keras_make_input(b, first);
    } else {
        const char *key = "batch_input_shape";
        json_t *v = opt(first->cfg, key);
        if (!v)
            v = opt(first->cfg, key = "batch_shape");
        if (!v)
            v = opt(cfg, key = "build_input_shape");
        if (!v) {
            zoo_error(ZOO_ERR_FORMAT,
                      "model config: the Sequential model gives no input "
                      "shape (no InputLayer, batch_input_shape or "
                      "build_input_shape): build the Keras model with an "
                      "Input before saving it");
            return NULL;
        }
        int rank, shape[ZOO_MAX_RANK];
        if (zoo_keras_read_batch_shape(first, key, v, &rank, shape))
            return NULL;
        in = zoo_input(b->g, rank, shape, NULL);
        start = 0;
    }
    if (!in)
        return NULL;
    if (start >= b->n) {
        zoo_error(ZOO_ERR_FORMAT, "model config: the Sequential model has no "
                  "layers after its input");
        return NULL;
    }
    zoo_sym *x = in;
    for (int i = start; i < b->n; i++) {
        entry *e = &b->e[i];
        if (e->is_input) {
            lerr(e, ZOO_ERR_FORMAT,
                 "an InputLayer can only come first in a Sequential model");
            return NULL;
        }
        if (zoo_keras_make_layer(b, e) || call_layer(b, e, &x, 1, &x))
            return NULL;
    }
    if (sym_values(x) > MAX_VALUES) {
        lerr(&b->e[b->n - 1], ZOO_ERR_FORMAT,
             "its output holds more than %lld values per sample", MAX_VALUES);
        return NULL;
    }
    zoo_model *m = zoo_model_new(&in, 1, &x, 1, name ? name : "sequential");
    /* As zoo_sequential: Keras's Sequential.layers omits the InputLayer. */
    if (m && m->n_layers > 0 && zoo_layer_is_input(m->layers[0])) {
        memmove(m->layers, m->layers + 1,
                (size_t)(m->n_layers - 1) * sizeof *m->layers);
        m->n_layers--;
        m->sequential = true;
    }
    return m;
}

static void builder_free(builder *b)
{
    for (int i = 0; b->nodes && i < b->n_nodes; i++)
        free(b->nodes[i].in);
    free(b->nodes);
    free(b->e);
    free(b->by_name);
}

zoo_model *zoo_keras_model_from_json(const char *json, unsigned long long seed,
                                     bool skip_random_init)
{
    if (!json) {
        zoo_error(ZOO_ERR_ARGUMENT, "zoo_model_from_json: json is NULL");
        return NULL;
    }
    zoo_clear_error(); /* so a failure below is known to be ours */
    json_error_t err;
    json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &err);
    if (!root) {
        zoo_error(ZOO_ERR_FORMAT,
                  "model config is not valid JSON (line %d, column %d: %s)",
                  err.line, err.column, err.text);
        return NULL;
    }
    const char *cls = str_or_null(root, "class_name");
    json_t *cfg = json_object_get(root, "config");
    if (!cls || (!json_is_object(cfg) && !json_is_array(cfg))) {
        zoo_error(ZOO_ERR_FORMAT,
                  "model config: expected Keras's model JSON, an object with "
                  "\"class_name\" and \"config\" (model.to_json(), or the "
                  "model_config of a .h5 file)");
        json_decref(root);
        return NULL;
    }
    bool functional = strcmp(cls, "Functional") == 0 || strcmp(cls, "Model") == 0;
    if (!functional && strcmp(cls, "Sequential") != 0) {
        zoo_error(ZOO_ERR_UNSUPPORTED,
                  "model config: model class '%.100s' is not supported; zoo "
                  "builds Functional (Model) and Sequential models",
                  cls);
        json_decref(root);
        return NULL;
    }
    const char *version = str_or_null(root, "keras_version");
    builder b = {.legacy = strcmp(cls, "Model") == 0 ||
                           (version && (version[0] == '1' || version[0] == '2') &&
                            version[1] == '.')};
    b.g = zoo_graph_new(seed);
    zoo_model *m = NULL;
    if (b.g) {
        zoo_graph_skip_random_init(b.g, skip_random_init);
        const char *name = str_or_null(cfg, "name");
        if (name && !*name)
            name = NULL;
        json_t *trainable = opt(cfg, "trainable");
        if (trainable && !json_is_boolean(trainable))
            zoo_error(ZOO_ERR_FORMAT,
                      "model config: the model's 'trainable' must be true or "
                      "false");
        else if (functional && !json_is_object(cfg))
            zoo_error(ZOO_ERR_FORMAT,
                      "model config: a %s model's config must be an object",
                      cls);
        else
            m = functional ? build_functional(&b, cfg, name)
                           : build_sequential(&b, cfg, name);
        if (m && json_is_false(trainable))
            zoo_model_set_trainable(m, false);
        /* Layers added to this graph later get their usual weights. */
        zoo_graph_skip_random_init(b.g, false);
        zoo_graph_release(b.g);
    }
    if (!m && zoo_last_status() == ZOO_OK)
        zoo_error(ZOO_ERR_INTERNAL, "model config: the model could not be built");
    builder_free(&b);
    json_decref(root);
    return m;
}

zoo_model *zoo_model_from_json(const char *json, unsigned long long seed)
{
    return zoo_keras_model_from_json(json, seed, false);
}
