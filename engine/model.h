/* Engine-private: a model's resolved structure. */
#ifndef ZOO_ENGINE_MODEL_H
#define ZOO_ENGINE_MODEL_H

#include "engine/graph.h"

struct zoo_model {
    char *name;
    zoo_graph *graph;
    zoo_sym **inputs;
    int n_inputs;
    zoo_sym **outputs;
    int n_outputs;
    zoo_layer **layers; /* Keras's model.layers order */
    int n_layers;
    zoo_sym **nodes;    /* every call in the model, inputs first, in an
                           order where each comes after its inputs */
    int n_nodes;
    bool sequential;
};

#endif
