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
    char **class_names; /* what each output unit means (may be none) */
    int n_class_names;
    struct zoo_model_attr {
        char *key, *value;
    } *attrs;
    int n_attrs;
    struct zoo_training *training; /* set by zoo_model_compile */
};

/* Frees what zoo_model_compile attached (engine/training.c). */
void zoo_training_free(struct zoo_training *t);
/* Frees class names and attributes (engine/model_meta.c). */
void zoo_model_meta_free(zoo_model *m);

#endif
