/*
 * Engine-private: the layer interface. Each layer family (one file under
 * engine/layers/) fills a zoo_layer_kind vtable and exposes its public
 * constructors from engine.h. Nothing outside engine/ includes this file.
 *
 * A layer's life: constructor (config checked, copied) -> first call on
 * symbolic inputs: `build` creates weights from the input shapes -> every
 * call: `infer` gives the output shape (unknown dims are -1) -> at run
 * time: `infer` again on concrete shapes, then `forward`.
 *
 * Training adds `forward_train` (where training mode differs: batch
 * statistics, dropout) and `backward`. Later work hooks in the same way: a
 * backend-specific forward (CUDA), plan-time rewrites that read `cfg` (BN
 * folding, activation fusion).
 */
#ifndef ZOO_ENGINE_LAYER_H
#define ZOO_ENGINE_LAYER_H

#include "engine.h"

#include <stdint.h>

typedef struct {
    int rank;
    int dim[ZOO_MAX_RANK]; /* dim[0] is the batch; -1 = unknown */
} zoo_shape;

/* Execution context handed to forward and backward passes. */
typedef struct {
    int threads;
    bool training;       /* a training step (fit), not inference */
    uint64_t seed;       /* per-step randomness (dropout masks) */
    int call;            /* which call of the layer runs (training forward) */
} zoo_exec;

/* How a weight is (re)initialised; ZOO_INIT_GLOROT uses fan_in/fan_out. */
typedef enum {
    ZOO_INIT_ZEROS,
    ZOO_INIT_ONES,
    ZOO_INIT_GLOROT_UNIFORM,
} zoo_init;

typedef struct {
    char *name;        /* "kernel", "bias", "gamma", ... */
    zoo_tensor *value; /* owned */
    bool trainable;    /* false for BN moving statistics */
    zoo_init init;     /* kept so zoo_layer_initialize can redraw it */
    int fan_in, fan_out;
} zoo_weight;

typedef struct zoo_layer_kind {
    const char *class_name;  /* Keras class name: "Conv2D" */
    const char *auto_prefix; /* Keras auto-name stem: "conv2d" */
    int min_inputs;
    int max_inputs;          /* -1: no limit */
    /* Create weights from the first call's input shapes (NULL: none). */
    zoo_status (*build)(zoo_layer *l, const zoo_shape *in, int n_in);
    /* Output shape for input shapes; any dim may be -1 at graph-building
     * time. Must report a clear error for incompatible shapes. */
    zoo_status (*infer)(const zoo_layer *l, const zoo_shape *in, int n_in,
                        zoo_shape *out);
    /* Inference forward: inputs and output are allocated with concrete
     * shapes from `infer`; out is zero-filled. */
    zoo_status (*forward)(const zoo_layer *l, const zoo_tensor *const *in,
                          int n_in, zoo_tensor *out, const zoo_exec *ex);
    /* Training-mode forward, only where it differs from `forward` (NULL:
     * `forward` serves both). Called for every call of the layer during a
     * training step; the layer decides what training means for it (BN uses
     * batch statistics and updates its moving statistics only while
     * l->trainable; Dropout drops with a mask drawn from ex->seed, the
     * layer's index and the call). Anything backward needs may be left in
     * *saved (one malloc'd block, freed by the trainer with free()). */
    zoo_status (*forward_train)(zoo_layer *l, const zoo_tensor *const *in,
                                int n_in, zoo_tensor *out,
                                const zoo_exec *ex, void **saved);
    /* Gradients of one call. `dy` is dLoss/d(out); `out` is that call's
     * output, `saved` what forward_train left (NULL after `forward`).
     * ADDS dLoss/d(in[j]) into dx[j] and dLoss/d(weight k) into dw[k]
     * (both already allocated, same shapes; accumulating lets a tensor or
     * a layer used several times collect every contribution). A NULL dx[j]
     * or dw[k] is not wanted: skip its work. NULL backward: the layer
     * cannot be trained through (the trainer reports it). */
    zoo_status (*backward)(const zoo_layer *l, const zoo_tensor *const *in,
                           int n_in, const zoo_tensor *out,
                           const zoo_tensor *dy, zoo_tensor *const *dx,
                           zoo_tensor *const *dw, const zoo_exec *ex,
                           void *saved);
    /* Frees anything the family allocated beyond cfg (NULL: nothing). */
    void (*destroy)(zoo_layer *l);
    /* Writes Keras 3's layer.get_config() into `json_object` (a jansson
     * json_t object, empty on entry): Keras's key names, order and value
     * formats. Helpers in engine/keras_layer_config.h. NULL: the layer cannot be
     * described to Keras (zoo_model_to_json fails naming it). */
    zoo_status (*config)(const zoo_layer *l, void *json_object);
} zoo_layer_kind;

struct zoo_layer {
    const zoo_layer_kind *kind;
    zoo_graph *graph;
    char *name;
    void *cfg;          /* the family's config copy (owned) */
    zoo_weight *weights;
    int n_weights;
    bool trainable;
    float kernel_l2;    /* Keras kernel_regularizer=L2(kernel_l2); 0: none */
    bool built;
    zoo_sym **calls;    /* output of each call (Keras inbound nodes) */
    int n_calls;
    int index;          /* creation order on the graph */
};

/* Registers a new layer on `g` with a copy of `cfg` (`cfg_size` bytes) and
 * the given (or automatic) name. Returns NULL on failure. */
zoo_layer *zoo_layer_create(zoo_graph *g, const zoo_layer_kind *kind,
                            const void *cfg, size_t cfg_size,
                            const char *name);

/* Adds a weight to `l` during build, filled by the graph's initialiser:
 * ZOO_INIT_GLOROT uses fan_in / fan_out. Returns its tensor or NULL. */
zoo_tensor *zoo_layer_add_weight(zoo_layer *l, const char *name, int rank,
                                 const int *shape, zoo_init init,
                                 int fan_in, int fan_out, bool trainable);

/* Finds a weight by name (NULL if the layer has none of that name). */
const zoo_tensor *zoo_layer_find_weight(const zoo_layer *l, const char *name);

/* Shapes. */
static inline int64_t zoo_shape_size(const zoo_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++)
        n *= s->dim[i];
    return n;
}
char *zoo_shape_str(const zoo_shape *s, char *buf, size_t size);
zoo_shape zoo_tensor_zshape(const zoo_tensor *t);

/* Output size of a window along one axis under Keras's padding rules, and
 * the leading (top/left) padding for 'same'. Unknown (-1) stays -1. */
int zoo_conv_out_size(int in, int k, int stride, int dilation,
                      zoo_padding pad);
int zoo_same_pad_before(int in, int k, int stride, int dilation);

/* Elementwise activation in place over n floats; softmax works on rows of
 * `row` floats. */
void zoo_activation_apply(zoo_activation act, float *x, size_t n, int row);
/* Backward of an activation given its OUTPUT y (n floats, softmax rows of
 * `row`): dy <- dy * act'(.) in place. Every activation but swish is a
 * function of its output; swish needs its input x (pass NULL otherwise;
 * swish with x == NULL is ZOO_ERR_UNSUPPORTED). Kinks take the left
 * derivative as TF does: relu'(0) = 0, relu6'(6) = 0. */
zoo_status zoo_activation_backward(zoo_activation act, const float *x,
                                   const float *y, float *dy, size_t n,
                                   int row);
/* Whether `act` is one of the zoo_activation values. */
bool zoo_activation_valid(zoo_activation act);

/* Threads a forward pass may use (at least 1). */
static inline int zoo_exec_threads(const zoo_exec *ex)
{
    return ex && ex->threads > 0 ? ex->threads : 1;
}

/* ZOO_OK if `s` is 4-D (batch, rows, cols, channels), else an error naming
 * the layer and the shape it got. */
zoo_status zoo_expect_rank4(const zoo_layer *l, const zoo_shape *s);

/* Default (1) for a zero stride/dilation/pool field. */
static inline int zoo_or(int v, int dflt) { return v ? v : dflt; }

#endif /* ZOO_ENGINE_LAYER_H */
