/*
 * The order of model.layers for a Functional model, as Keras computes it
 * (keras/src/ops/function.py: map_graph, _build_map). It is load-bearing:
 * Keras pairs an .h5 file's weights with layers in this order.
 *
 * 1. DFS from each output (outputs in order), visiting a call's inputs in
 *    the order they were passed; a layer gets its discovery index the first
 *    time it is entered; a call is appended once its inputs are done.
 * 2. Walking that list backwards, each call's depth is max(its depth, its
 *    layer's depth so far); its inputs get at least depth + 1.
 * 3. Layers sorted by decreasing depth, ties by discovery index.
 */
#define _GNU_SOURCE /* qsort_r */
#include "engine/keras_order.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    zoo_sym *const *inputs;
    int n_inputs;
    char *state;        /* per sym id: 0 new, 1 in progress, 2 done */
    int *discovery;     /* per layer index; -1 = not yet seen */
    int n_discovered;
    zoo_sym **order;    /* post-order list of calls */
    int n_order;
} walk;

static bool is_model_input(const walk *w, const zoo_sym *s)
{
    for (int i = 0; i < w->n_inputs; i++)
        if (w->inputs[i] == s)
            return true;
    return false;
}

static zoo_status visit(walk *w, zoo_sym *s)
{
    if (w->state[s->id] == 2)
        return ZOO_OK;
    if (w->state[s->id] == 1)
        return zoo_error(ZOO_ERR_ARGUMENT, "model: the graph has a cycle through %s",
                         s->layer->name);
    if (w->discovery[s->layer->index] < 0)
        w->discovery[s->layer->index] = w->n_discovered++;
    w->state[s->id] = 1;
    if (!is_model_input(w, s)) {
        if (zoo_layer_is_input(s->layer))
            return zoo_error(ZOO_ERR_ARGUMENT,
                             "model: graph disconnected: an output depends on "
                             "input '%s', which is not among the model's inputs",
                             s->layer->name);
        for (int i = 0; i < s->n_inputs; i++) {
            zoo_status st = visit(w, s->inputs[i]);
            if (st != ZOO_OK)
                return st;
        }
    }
    w->state[s->id] = 2;
    w->order[w->n_order++] = s;
    return ZOO_OK;
}

typedef struct {
    const int *depth, *discovery; /* per layer index */
} layer_keys;

static int by_depth_then_discovery(const void *a, const void *b, void *arg)
{
    const layer_keys *k = arg;
    const zoo_layer *x = *(zoo_layer *const *)a, *y = *(zoo_layer *const *)b;
    if (k->depth[x->index] != k->depth[y->index])
        return k->depth[y->index] - k->depth[x->index];
    return k->discovery[x->index] - k->discovery[y->index];
}

zoo_status zoo_map_graph(zoo_sym *const *inputs, int n_inputs,
                         zoo_sym *const *outputs, int n_outputs,
                         zoo_sym ***nodes_out, int *n_nodes_out,
                         zoo_layer ***layers_out, int *n_layers_out)
{
    zoo_graph *g = outputs[0]->layer->graph;
    int ns = g->n_syms, nl = g->n_layers;
    walk w = {.inputs = inputs, .n_inputs = n_inputs};
    w.state = calloc((size_t)ns, 1);
    w.discovery = malloc((size_t)nl * sizeof(int));
    w.order = malloc((size_t)ns * sizeof(zoo_sym *));
    int *node_depth = calloc((size_t)ns, sizeof(int));
    int *layer_depth = malloc((size_t)nl * sizeof(int));
    zoo_layer **layers = malloc((size_t)nl * sizeof(zoo_layer *));
    zoo_status st = ZOO_OK;
    if (!w.state || !w.discovery || !w.order || !node_depth || !layer_depth || !layers) {
        st = zoo_error(ZOO_ERR_MEMORY, "model: out of memory");
        goto done;
    }
    for (int i = 0; i < nl; i++)
        w.discovery[i] = layer_depth[i] = -1;
    for (int i = 0; i < n_outputs && st == ZOO_OK; i++)
        st = visit(&w, outputs[i]);
    /* Inputs the outputs do not reach still belong to the model. */
    for (int i = 0; i < n_inputs && st == ZOO_OK; i++) {
        zoo_sym *s = inputs[i];
        if (w.state[s->id] != 2) {
            w.state[s->id] = 2;
            w.discovery[s->layer->index] = i - n_inputs; /* Keras: -1, first */
            layer_depth[s->layer->index] = 0;
            memmove(w.order + 1, w.order, (size_t)w.n_order * sizeof *w.order);
            w.order[0] = s;
            w.n_order++;
        }
    }
    if (st != ZOO_OK)
        goto done;

    for (int i = w.n_order - 1; i >= 0; i--) {
        zoo_sym *s = w.order[i];
        int li = s->layer->index;
        int d = node_depth[s->id];
        if (layer_depth[li] > d)
            d = layer_depth[li];
        layer_depth[li] = d;
        node_depth[s->id] = d;
        if (is_model_input(&w, s))
            continue;
        for (int j = 0; j < s->n_inputs; j++)
            if (node_depth[s->inputs[j]->id] < d + 1)
                node_depth[s->inputs[j]->id] = d + 1;
    }

    int n_layers = 0;
    for (int i = 0; i < nl; i++)
        if (layer_depth[i] >= 0)
            layers[n_layers++] = g->layers[i];
    layer_keys keys = {layer_depth, w.discovery};
    qsort_r(layers, (size_t)n_layers, sizeof *layers, by_depth_then_discovery, &keys);

    *nodes_out = w.order;
    *n_nodes_out = w.n_order;
    *layers_out = layers;
    *n_layers_out = n_layers;
    w.order = NULL;
    layers = NULL;
done:
    free(w.state);
    free(w.discovery);
    free(w.order);
    free(node_depth);
    free(layer_depth);
    free(layers);
    return st;
}
