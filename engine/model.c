/* Models: Functional (inputs -> outputs) and Sequential over a graph. */
#include "engine/model.h"
#include "engine/keras_order.h"

#include <stdlib.h>
#include <string.h>

static zoo_status check_names_unique(const zoo_model *m)
{
    for (int i = 0; i < m->n_layers; i++)
        for (int j = i + 1; j < m->n_layers; j++)
            if (strcmp(m->layers[i]->name, m->layers[j]->name) == 0)
                return zoo_error(ZOO_ERR_ARGUMENT,
                                 "model %s: layer name '%s' is used twice; "
                                 "layer names must be unique",
                                 m->name, m->layers[i]->name);
    return ZOO_OK;
}

static zoo_sym **copy_syms(zoo_sym *const *xs, int n)
{
    zoo_sym **c = malloc((size_t)n * sizeof *c);
    if (c)
        memcpy(c, xs, (size_t)n * sizeof *c);
    return c;
}

zoo_model *zoo_model_new(zoo_sym *const *inputs, int n_inputs,
                         zoo_sym *const *outputs, int n_outputs,
                         const char *name)
{
    if (!inputs || !outputs || n_inputs < 1 || n_outputs < 1) {
        if (zoo_last_status() == ZOO_OK || (inputs && outputs))
            zoo_error(ZOO_ERR_ARGUMENT,
                      "zoo_model_new: a model needs at least one input and one output");
        return NULL;
    }
    for (int i = 0; i < n_inputs + n_outputs; i++) {
        const zoo_sym *s = i < n_inputs ? inputs[i] : outputs[i - n_inputs];
        if (!s) {
            if (zoo_last_status() == ZOO_OK)
                zoo_error(ZOO_ERR_ARGUMENT, "zoo_model_new: %s %d is NULL",
                          i < n_inputs ? "input" : "output",
                          i < n_inputs ? i : i - n_inputs);
            return NULL;
        }
        if (s->layer->graph != inputs[0]->layer->graph) {
            zoo_error(ZOO_ERR_ARGUMENT,
                      "zoo_model_new: inputs and outputs come from different graphs");
            return NULL;
        }
    }
    for (int i = 0; i < n_inputs; i++)
        for (int j = i + 1; j < n_inputs; j++)
            if (inputs[i] == inputs[j]) {
                zoo_error(ZOO_ERR_ARGUMENT,
                          "zoo_model_new: input '%s' is given twice", inputs[i]->layer->name);
                return NULL;
            }

    zoo_model *m = calloc(1, sizeof *m);
    if (!m) {
        zoo_error(ZOO_ERR_MEMORY, "zoo_model_new: out of memory");
        return NULL;
    }
    m->graph = inputs[0]->layer->graph;
    zoo_graph_retain(m->graph);
    m->name = strdup(name && *name ? name : "functional");
    m->inputs = copy_syms(inputs, n_inputs);
    m->outputs = copy_syms(outputs, n_outputs);
    m->n_inputs = n_inputs;
    m->n_outputs = n_outputs;
    if (!m->name || !m->inputs || !m->outputs) {
        zoo_error(ZOO_ERR_MEMORY, "zoo_model_new: out of memory");
        zoo_model_free(m);
        return NULL;
    }
    if (zoo_map_graph(inputs, n_inputs, outputs, n_outputs, &m->nodes,
                      &m->n_nodes, &m->layers, &m->n_layers) != ZOO_OK ||
        check_names_unique(m) != ZOO_OK) {
        zoo_model_free(m);
        return NULL;
    }
    return m;
}

zoo_model *zoo_sequential(zoo_graph *g, int rank, const int *shape,
                          zoo_layer *const *layers, int n_layers,
                          const char *name)
{
    if (!layers || n_layers < 1) {
        zoo_error(ZOO_ERR_ARGUMENT, "zoo_sequential: no layers given");
        return NULL;
    }
    zoo_sym *in = zoo_input(g, rank, shape, NULL);
    zoo_sym *x = in;
    for (int i = 0; i < n_layers && x; i++) {
        if (!layers[i]) {
            if (zoo_last_status() == ZOO_OK)
                zoo_error(ZOO_ERR_ARGUMENT, "zoo_sequential: layer %d is NULL", i);
            return NULL;
        }
        x = zoo_apply(layers[i], x);
    }
    if (!x)
        return NULL;
    zoo_model *m = zoo_model_new(&in, 1, &x, 1, name && *name ? name : "sequential");
    if (m && m->n_layers > 0 && zoo_layer_is_input(m->layers[0])) {
        /* Keras's Sequential.layers omits the InputLayer. */
        memmove(m->layers, m->layers + 1, (size_t)(m->n_layers - 1) * sizeof *m->layers);
        m->n_layers--;
        m->sequential = true;
    }
    return m;
}

void zoo_model_free(zoo_model *m)
{
    if (!m)
        return;
    free(m->name);
    free(m->inputs);
    free(m->outputs);
    free(m->layers);
    free(m->nodes);
    zoo_training_free(m->training);
    zoo_model_meta_free(m);
    zoo_graph_release(m->graph);
    free(m);
}

const char *zoo_model_name(const zoo_model *m) { return m ? m->name : NULL; }
zoo_graph *zoo_model_graph(const zoo_model *m) { return m ? m->graph : NULL; }
int zoo_model_layer_count(const zoo_model *m) { return m ? m->n_layers : 0; }

zoo_layer *zoo_model_layer(const zoo_model *m, int i)
{
    if (!m || i < 0 || i >= m->n_layers) {
        zoo_error(ZOO_ERR_ARGUMENT, "zoo_model_layer: index %d is outside the "
                  "model's %d layers", i, m ? m->n_layers : 0);
        return NULL;
    }
    return m->layers[i];
}

zoo_layer *zoo_model_get_layer(const zoo_model *m, const char *name)
{
    if (!m || !name) {
        zoo_error(ZOO_ERR_ARGUMENT, "zoo_model_get_layer: %s is NULL", m ? "name" : "model");
        return NULL;
    }
    for (int i = 0; i < m->n_layers; i++)
        if (strcmp(m->layers[i]->name, name) == 0)
            return m->layers[i];
    zoo_error(ZOO_ERR_NOT_FOUND, "model %s has no layer named '%s'", m->name, name);
    return NULL;
}

int zoo_model_input_count(const zoo_model *m) { return m ? m->n_inputs : 0; }
int zoo_model_output_count(const zoo_model *m) { return m ? m->n_outputs : 0; }

zoo_sym *zoo_model_input(const zoo_model *m, int i)
{
    if (!m || i < 0 || i >= m->n_inputs) {
        zoo_error(ZOO_ERR_ARGUMENT, "zoo_model_input: no input %d", i);
        return NULL;
    }
    return m->inputs[i];
}

zoo_sym *zoo_model_output(const zoo_model *m, int i)
{
    if (!m || i < 0 || i >= m->n_outputs) {
        zoo_error(ZOO_ERR_ARGUMENT, "zoo_model_output: no output %d", i);
        return NULL;
    }
    return m->outputs[i];
}

size_t zoo_model_param_count(const zoo_model *m)
{
    size_t n = 0;
    for (int i = 0; m && i < m->n_layers; i++)
        n += zoo_layer_param_count(m->layers[i]);
    return n;
}

size_t zoo_model_trainable_param_count(const zoo_model *m)
{
    size_t n = 0;
    for (int i = 0; m && i < m->n_layers; i++)
        for (int j = 0; j < m->layers[i]->n_weights; j++)
            if (zoo_layer_weight_trainable(m->layers[i], j))
                n += zoo_tensor_size(m->layers[i]->weights[j].value);
    return n;
}
