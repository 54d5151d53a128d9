/* Engine-private: Keras's order of a Functional model's layers. */
#ifndef ZOO_ENGINE_KERAS_ORDER_H
#define ZOO_ENGINE_KERAS_ORDER_H

#include "engine/graph.h"

/* Keras's map_graph: the calls between `inputs` and `outputs` in execution
 * order, and the layers in model.layers order. Arrays are malloc'd. */
zoo_status zoo_map_graph(zoo_sym *const *inputs, int n_inputs,
                         zoo_sym *const *outputs, int n_outputs,
                         zoo_sym ***nodes, int *n_nodes,
                         zoo_layer ***layers, int *n_layers);

#endif
