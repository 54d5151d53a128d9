/* Engine-private: models from Keras config JSON (engine/keras_from_config.c). */
#ifndef ZOO_ENGINE_KERAS_FROM_CONFIG_H
#define ZOO_ENGINE_KERAS_FROM_CONFIG_H

#include "engine/engine.h"

/* zoo_model_from_json; with `skip_random_init` the kernels stay zero
 * (weights are about to be loaded). Either way the graph initialises
 * layers built on it later as usual. */
zoo_model *zoo_keras_model_from_json(const char *json, unsigned long long seed,
                                     bool skip_random_init);

#endif
