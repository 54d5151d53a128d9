/*
 * model.get_config() as Keras 3 writes it (keras/src/models/functional.py
 * get_config and serialize_node; keras/src/saving/serialization_lib.py),
 * wrapped as model.to_json() wraps it:
 *
 *   {"module": "keras.src.models.functional", "class_name": "Functional",
 *    "config": {"name": ..., "trainable": true,
 *               "layers": [{"module": "keras.layers", "class_name": "Conv2D",
 *                           "config": {...}, "registered_name": null,
 *                           "build_config": {"input_shape": [null, ...]},
 *                           "name": "conv1",
 *                           "inbound_nodes": [{"args": [TENSOR],
 *                                              "kwargs": {}}]}, ...],
 *               "input_layers": [["input_layer", 0, 0]],
 *               "output_layers": [["predictions", 0, 0]]},
 *    "registered_name": "Functional"}
 *
 * TENSOR is {"class_name": "__keras_tensor__", "config": {"shape": [null,
 * 56, 56, 64], "dtype": "float32", "keras_history": [layer, node, 0]}};
 * layers called on a list (Add, Multiply, Concatenate, CustomScaleLayer)
 * have args [[TENSOR, TENSOR, ...]]. Node indices count only the calls that
 * belong to this model, as Keras re-indexes them. input_layers and
 * output_layers are always lists of [name, node, tensor] triples (the form
 * Keras writes for list inputs/outputs; its from_config reads both).
 *
 * A Sequential model gives Keras's Sequential config instead: "layers"
 * holds the InputLayer first and no inbound nodes, plus
 * "build_input_shape".
 */
#include "engine/keras_layer_config.h"
#include "engine/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* The model                                                           */
/* ------------------------------------------------------------------ */

typedef struct {
    const zoo_model *m;
    bool *in_model; /* per sym id: the call belongs to the model */
} writer;

/* Keras's own home for layers that are not in keras.layers. */
static void layer_module(const zoo_layer *l, const char **module,
                         const char **registered)
{
    if (strcmp(l->kind->class_name, "CustomScaleLayer") == 0) {
        *module = "keras.src.applications.inception_resnet_v2";
        *registered = "CustomScaleLayer";
    } else {
        *module = "keras.layers";
        *registered = NULL;
    }
}

/* The index Keras gives the node of `s` in this model: its layer's calls
 * before it that the model keeps. */
static int node_index(const writer *w, const zoo_sym *s)
{
    int n = 0;
    for (int j = 0; j < s->call; j++)
        if (w->in_model[s->layer->calls[j]->id])
            n++;
    return n;
}

static json_t *shape_json(const zoo_shape *s)
{
    json_t *a = json_array();
    for (int i = 0; a && i < s->rank; i++)
        if (json_array_append_new(a, s->dim[i] < 0 ? json_null()
                                                   : json_integer(s->dim[i])))
            return json_decref(a), NULL;
    return a;
}

static json_t *tensor_json(const writer *w, const zoo_sym *s)
{
    return json_pack("{s:s, s:{s:o, s:s, s:[s, i, i]}}", "class_name",
                     "__keras_tensor__", "config", "shape",
                     shape_json(&s->shape), "dtype", "float32",
                     "keras_history", s->layer->name, node_index(w, s), 0);
}

/* Layers Keras calls on a list of tensors (the merge layers). */
static bool takes_list(const zoo_layer *l)
{
    return !(l->kind->min_inputs == 1 && l->kind->max_inputs == 1);
}

static json_t *node_json(const writer *w, const zoo_sym *s)
{
    json_t *ts = json_array();
    for (int i = 0; ts && i < s->n_inputs; i++)
        if (json_array_append_new(ts, tensor_json(w, s->inputs[i])))
            return json_decref(ts), NULL;
    if (!ts)
        return NULL;
    json_t *args = takes_list(s->layer) ? json_pack("[o]", ts) : ts;
    return json_pack("{s:o, s:{}}", "args", args, "kwargs");
}

/* Layer.get_build_config(): the first call's input shape(s). */
static json_t *build_config_json(const zoo_layer *l)
{
    if (l->n_calls < 1 || l->calls[0]->n_inputs < 1)
        return NULL; /* InputLayer: none */
    const zoo_sym *s = l->calls[0];
    json_t *shape;
    if (takes_list(l)) {
        shape = json_array();
        for (int i = 0; shape && i < s->n_inputs; i++)
            if (json_array_append_new(shape, shape_json(&s->inputs[i]->shape)))
                return json_decref(shape), NULL;
    } else {
        shape = shape_json(&s->inputs[0]->shape);
    }
    return json_pack("{s:o}", "input_shape", shape);
}

/* serialize_keras_object(layer), plus "name" and "inbound_nodes" for a
 * Functional model. */
static json_t *layer_json(const writer *w, const zoo_layer *l, bool nodes)
{
    if (!l->kind->config) {
        zoo_error(ZOO_ERR_UNSUPPORTED,
                  "%s %s: this layer class cannot write a Keras config",
                  l->kind->class_name, l->name);
        return NULL;
    }
    json_t *cfg = json_object();
    if (!cfg) {
        zoo_error(ZOO_ERR_MEMORY, "zoo_model_to_json: out of memory");
        return NULL;
    }
    if (l->kind->config(l, cfg) != ZOO_OK) {
        json_decref(cfg);
        return NULL;
    }
    const char *module, *registered;
    layer_module(l, &module, &registered);
    json_t *entry = json_pack("{s:s, s:s, s:o, s:s?}", "module", module,
                              "class_name", l->kind->class_name, "config",
                              cfg, "registered_name", registered);
    bool ok = entry != NULL;
    json_t *build = ok ? build_config_json(l) : NULL;
    if (ok && build)
        ok = json_object_set_new(entry, "build_config", build) == 0;
    if (ok && nodes) {
        json_t *inbound = json_array();
        if (!inbound || json_object_set_new(entry, "name",
                                            json_string(l->name)) != 0) {
            json_decref(inbound);
            ok = false;
        } else {
            ok = json_object_set_new(entry, "inbound_nodes", inbound) == 0;
        }
        for (int c = 0; ok && c < l->n_calls; c++) {
            const zoo_sym *s = l->calls[c];
            /* Keras keeps the model's own calls, and drops nodes with no
             * inputs (an InputLayer's). */
            if (!w->in_model[s->id] || s->n_inputs == 0)
                continue;
            ok = json_array_append_new(inbound, node_json(w, s)) == 0;
        }
    }
    if (!ok) {
        json_decref(entry);
        zoo_error(ZOO_ERR_MEMORY, "%s %s: cannot write its Keras config",
                  l->kind->class_name, l->name);
        return NULL;
    }
    return entry;
}

static json_t *triples_json(const writer *w, zoo_sym *const *xs, int n)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_pack("[s, i, i]", xs[i]->layer->name,
                                               node_index(w, xs[i]), 0)))
            return json_decref(a), NULL;
    return a;
}

static json_t *functional_json(const writer *w)
{
    const zoo_model *m = w->m;
    for (int i = 0; i < m->n_inputs; i++)
        if (!zoo_layer_is_input(m->inputs[i]->layer)) {
            zoo_error(ZOO_ERR_UNSUPPORTED,
                      "model %s: input %d is the output of %s %s, not of an "
                      "InputLayer; a Keras config needs Input tensors as the "
                      "model's inputs",
                      m->name, i, m->inputs[i]->layer->kind->class_name,
                      m->inputs[i]->layer->name);
            return NULL;
        }
    json_t *layers = json_array();
    if (!layers) {
        zoo_error(ZOO_ERR_MEMORY, "zoo_model_to_json: out of memory");
        return NULL;
    }
    for (int i = 0; i < m->n_layers; i++) {
        json_t *e = layer_json(w, m->layers[i], true);
        if (!e || json_array_append_new(layers, e) != 0) {
            json_decref(layers);
            return NULL;
        }
    }
    json_t *cfg = json_pack("{s:s, s:b, s:o, s:o, s:o}", "name", m->name,
                            "trainable", 1, "layers", layers, "input_layers",
                            triples_json(w, m->inputs, m->n_inputs),
                            "output_layers",
                            triples_json(w, m->outputs, m->n_outputs));
    json_t *root = json_pack("{s:s, s:s, s:o, s:s}", "module",
                             "keras.src.models.functional", "class_name",
                             "Functional", "config", cfg, "registered_name",
                             "Functional");
    if (!root)
        zoo_error(ZOO_ERR_MEMORY, "zoo_model_to_json: out of memory");
    return root;
}

static json_t *sequential_json(const writer *w)
{
    const zoo_model *m = w->m;
    const zoo_layer *input = m->inputs[0]->layer;
    json_t *layers = json_array();
    json_t *first = layers ? layer_json(w, input, false) : NULL;
    if (!first || json_array_append_new(layers, first) != 0) {
        json_decref(layers);
        if (!first && zoo_last_status() == ZOO_OK)
            zoo_error(ZOO_ERR_MEMORY, "zoo_model_to_json: out of memory");
        return NULL;
    }
    for (int i = 0; i < m->n_layers; i++) {
        json_t *e = layer_json(w, m->layers[i], false);
        if (!e || json_array_append_new(layers, e) != 0) {
            json_decref(layers);
            return NULL;
        }
    }
    json_t *root = json_pack("{s:s, s:s, s:{s:s, s:b, s:o, s:o}, s:n}",
                             "module", "keras", "class_name", "Sequential",
                             "config", "name", m->name, "trainable", 1,
                             "layers", layers, "build_input_shape",
                             shape_json(&m->inputs[0]->shape),
                             "registered_name");
    if (!root)
        zoo_error(ZOO_ERR_MEMORY, "zoo_model_to_json: out of memory");
    return root;
}

char *zoo_model_to_json(const zoo_model *m)
{
    if (!m) {
        zoo_error(ZOO_ERR_ARGUMENT, "zoo_model_to_json: model is NULL");
        return NULL;
    }
    writer w = {.m = m};
    w.in_model = calloc((size_t)m->graph->n_syms + 1, sizeof *w.in_model);
    if (!w.in_model) {
        zoo_error(ZOO_ERR_MEMORY, "zoo_model_to_json: out of memory");
        return NULL;
    }
    for (int i = 0; i < m->n_nodes; i++)
        w.in_model[m->nodes[i]->id] = true;
    json_t *root = m->sequential ? sequential_json(&w) : functional_json(&w);
    free(w.in_model);
    if (!root)
        return NULL;
    /* Float config values hold at most 9 significant digits (see
     * zoo_kcfg_real), so they print as Python prints them. */
    char *s = json_dumps(root, JSON_REAL_PRECISION(9));
    json_decref(root);
    if (!s) {
        zoo_error(ZOO_ERR_MEMORY, "zoo_model_to_json: out of memory");
        return NULL;
    }
    /* The caller frees with free(); jansson's allocator is malloc unless an
     * application replaced it, so hand back a malloc'd copy to be sure. */
    char *out = strdup(s);
    json_free_t free_fn;
    json_get_alloc_funcs(NULL, &free_fn);
    free_fn(s);
    if (!out)
        zoo_error(ZOO_ERR_MEMORY, "zoo_model_to_json: out of memory");
    return out;
}
