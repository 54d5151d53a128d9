/* Engine-private: the tensor's layout, for code that builds views. */
#ifndef ZOO_ENGINE_TENSOR_H
#define ZOO_ENGINE_TENSOR_H

#include "engine.h"

struct zoo_tensor {
    int rank;
    int shape[ZOO_MAX_RANK];
    size_t size;
    float *data;
    bool owned; /* false for views over another buffer */
};

/* A non-owning tensor over `data` (never passed to zoo_tensor_free). */
zoo_tensor zoo_tensor_view(int rank, const int *shape, float *data);

#endif
