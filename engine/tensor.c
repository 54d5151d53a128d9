/* Concrete float32 tensors: a shape and an owned, zero-initialised buffer. */
#include "engine/tensor.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static bool shape_ok(int rank, const int *shape, size_t *count)
{
    if (rank < 1 || rank > ZOO_MAX_RANK || !shape) {
        zoo_error(ZOO_ERR_ARGUMENT, "tensor: rank %d is outside 1..%d",
                  rank, ZOO_MAX_RANK);
        return false;
    }
    size_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 1) {
            zoo_error(ZOO_ERR_ARGUMENT,
                      "tensor: dimension %d is %d; every dimension must be >= 1",
                      i, shape[i]);
            return false;
        }
        if (n > SIZE_MAX / sizeof(float) / (size_t)shape[i]) {
            zoo_error(ZOO_ERR_MEMORY, "tensor: shape is too large to allocate");
            return false;
        }
        n *= (size_t)shape[i];
    }
    *count = n;
    return true;
}

zoo_tensor *zoo_tensor_new(int rank, const int *shape)
{
    size_t n;
    if (!shape_ok(rank, shape, &n))
        return NULL;
    zoo_tensor *t = calloc(1, sizeof *t);
    float *data = calloc(n, sizeof(float));
    if (!t || !data) {
        free(t);
        free(data);
        zoo_error(ZOO_ERR_MEMORY, "tensor: cannot allocate %zu floats", n);
        return NULL;
    }
    t->rank = rank;
    memcpy(t->shape, shape, (size_t)rank * sizeof(int));
    t->size = n;
    t->data = data;
    t->owned = true;
    return t;
}

zoo_tensor *zoo_tensor_from(int rank, const int *shape, const float *data)
{
    if (!data) {
        zoo_error(ZOO_ERR_ARGUMENT, "zoo_tensor_from: data is NULL");
        return NULL;
    }
    zoo_tensor *t = zoo_tensor_new(rank, shape);
    if (t)
        memcpy(t->data, data, t->size * sizeof(float));
    return t;
}

zoo_tensor *zoo_tensor_clone(const zoo_tensor *t)
{
    if (!t) {
        zoo_error(ZOO_ERR_ARGUMENT, "zoo_tensor_clone: tensor is NULL");
        return NULL;
    }
    return zoo_tensor_from(t->rank, t->shape, t->data);
}

zoo_tensor zoo_tensor_view(int rank, const int *shape, float *data)
{
    zoo_tensor v = {.rank = rank, .data = data, .owned = false};
    v.size = 1;
    for (int i = 0; i < rank; i++) {
        v.shape[i] = shape[i];
        v.size *= (size_t)shape[i];
    }
    return v;
}

void zoo_tensor_free(zoo_tensor *t)
{
    if (!t)
        return;
    if (t->owned)
        free(t->data);
    free(t);
}

int zoo_tensor_rank(const zoo_tensor *t) { return t ? t->rank : 0; }
const int *zoo_tensor_shape(const zoo_tensor *t) { return t ? t->shape : NULL; }
size_t zoo_tensor_size(const zoo_tensor *t) { return t ? t->size : 0; }
float *zoo_tensor_data(zoo_tensor *t) { return t ? t->data : NULL; }
const float *zoo_tensor_cdata(const zoo_tensor *t) { return t ? t->data : NULL; }
