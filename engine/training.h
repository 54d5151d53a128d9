/* Engine-private: what zoo_model_compile attaches to a model (the loss,
 * metrics, optimizer and its variables), shared by the fit loop and the
 * callbacks. */
#ifndef ZOO_ENGINE_TRAINING_H
#define ZOO_ENGINE_TRAINING_H

#include "engine/backprop.h"

#include <stdint.h>

struct zoo_training {
    zoo_compile_opts opts;
    zoo_optimizer *opt;
    zoo_params params;
    zoo_tensor **grads;  /* one per params.vars entry */
    uint64_t seed;       /* dropout masks: mixed with the step count */
    uint64_t steps;
};

#endif
