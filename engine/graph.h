/* Engine-private: the graph's symbolic tensors, shared by the model,
 * ordering, executor and summary code. */
#ifndef ZOO_ENGINE_GRAPH_H
#define ZOO_ENGINE_GRAPH_H

#include "engine/layer.h"

#include <stdint.h>

/* The output of one layer call (a Keras node and its KerasTensor). */
struct zoo_sym {
    zoo_layer *layer;
    int call;          /* which call of `layer` made it */
    zoo_sym **inputs;  /* in the order they were passed */
    int n_inputs;
    zoo_shape shape;
    int id;            /* creation order on the graph */
};

struct zoo_graph {
    int refs;
    zoo_layer **layers;
    int n_layers, cap_layers;
    zoo_sym **syms;
    int n_syms, cap_syms;
    uint64_t rng;
    bool skip_random_init;
    struct name_count {
        char *stem;
        int count;
    } *names;
    int n_names, cap_names;
};

void zoo_graph_retain(zoo_graph *g);
bool zoo_layer_is_input(const zoo_layer *l);

#endif
