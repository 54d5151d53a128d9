/* Merge layers: Add, Multiply, Concatenate, and InceptionResNetV2's scaled
 * residual sum (Keras 3 CustomScaleLayer). */
#include "engine/layer.h"
#include "engine/keras_layer_config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Elementwise layers: all inputs of one shape (no broadcasting). Unknown
 * dims match anything; the output takes the known one. */
static zoo_status same_shape_infer(const zoo_layer *l, const zoo_shape *in,
                                   int n_in, zoo_shape *out)
{
    *out = in[0];
    for (int i = 1; i < n_in; i++) {
        bool ok = in[i].rank == out->rank;
        for (int d = 0; ok && d < out->rank; d++) {
            int a = out->dim[d], b = in[i].dim[d];
            if (a >= 0 && b >= 0 && a != b)
                ok = false;
            else if (a < 0)
                out->dim[d] = b;
        }
        if (!ok) {
            char b0[128], b1[128];
            return zoo_error(ZOO_ERR_SHAPE, "%s %s: shapes %s and %s differ",
                             l->kind->class_name, l->name,
                             zoo_shape_str(&in[0], b0, sizeof b0),
                             zoo_shape_str(&in[i], b1, sizeof b1));
        }
    }
    return ZOO_OK;
}

typedef enum { EW_ADD, EW_MUL, EW_SCALED } ew_op;

/* out = in[0] op in[1] op ... left to right, as Keras folds the list. */
static zoo_status elementwise(const zoo_layer *l, const zoo_tensor *const *in,
                              int n_in, zoo_tensor *out, const zoo_exec *ex,
                              ew_op op, float scale)
{
    const int64_t n = (int64_t)zoo_tensor_size(out);
    for (int i = 0; i < n_in; i++)
        if ((int64_t)zoo_tensor_size(in[i]) != n)
            return zoo_error(ZOO_ERR_INTERNAL,
                             "%s %s: input %d has %zu values, output %lld",
                             l->kind->class_name, l->name, i,
                             zoo_tensor_size(in[i]), (long long)n);
    float *y = zoo_tensor_data(out);
    memcpy(y, zoo_tensor_cdata(in[0]), (size_t)n * sizeof(float));
    const int threads = zoo_exec_threads(ex);
    for (int i = 1; i < n_in; i++) {
        const float *x = zoo_tensor_cdata(in[i]);
#pragma omp parallel for schedule(static) num_threads(threads) \
    if (n > 32768)
        for (int64_t k = 0; k < n; k++) {
            if (op == EW_ADD)
                y[k] += x[k];
            else if (op == EW_MUL)
                y[k] *= x[k];
            else /* Keras 3: inputs[0] + inputs[1] * scale */
                y[k] += x[k] * scale;
        }
    }
    return ZOO_OK;
}

/* Gradients of `elementwise`: Add passes dy to every input, the scaled sum
 * dy and scale * dy, Multiply dy times the product of the other inputs
 * (formed directly, not as y / x, so zeros are safe). */
static zoo_status elementwise_backward(const zoo_layer *l,
                                       const zoo_tensor *const *in, int n_in,
                                       const zoo_tensor *dy,
                                       zoo_tensor *const *dx,
                                       const zoo_exec *ex, ew_op op,
                                       float scale)
{
    const int64_t n = (int64_t)zoo_tensor_size(dy);
    for (int i = 0; i < n_in; i++)
        if ((int64_t)zoo_tensor_size(in[i]) != n ||
            (dx && dx[i] && (int64_t)zoo_tensor_size(dx[i]) != n))
            return zoo_error(ZOO_ERR_INTERNAL,
                             "%s %s: input %d or its gradient does not have "
                             "the output gradient's %lld values",
                             l->kind->class_name, l->name, i, (long long)n);
    if (!dx)
        return ZOO_OK;
    const float **xs = malloc((size_t)n_in * sizeof *xs);
    if (!xs)
        return zoo_error(ZOO_ERR_MEMORY, "%s %s: out of memory",
                         l->kind->class_name, l->name);
    for (int i = 0; i < n_in; i++)
        xs[i] = zoo_tensor_cdata(in[i]);
    const float *g = zoo_tensor_cdata(dy);
    const int threads = zoo_exec_threads(ex);
    for (int j = 0; j < n_in; j++) {
        if (!dx[j])
            continue;
        float *d = zoo_tensor_data(dx[j]);
        const float s = op == EW_SCALED && j == 1 ? scale : 1.0f;
#pragma omp parallel for schedule(static) num_threads(threads) \
    if (n > 32768)
        for (int64_t k = 0; k < n; k++) {
            float v = g[k] * s;
            if (op == EW_MUL)
                for (int i = 0; i < n_in; i++)
                    if (i != j)
                        v *= xs[i][k];
            d[k] += v;
        }
    }
    free(xs);
    return ZOO_OK;
}

/* ------------------------------------------------------------------ */
/* Add / Multiply                                                      */
/* ------------------------------------------------------------------ */

static zoo_status add_forward(const zoo_layer *l, const zoo_tensor *const *in,
                              int n_in, zoo_tensor *out, const zoo_exec *ex)
{
    return elementwise(l, in, n_in, out, ex, EW_ADD, 0.0f);
}

static zoo_status multiply_forward(const zoo_layer *l,
                                   const zoo_tensor *const *in, int n_in,
                                   zoo_tensor *out, const zoo_exec *ex)
{
    return elementwise(l, in, n_in, out, ex, EW_MUL, 0.0f);
}

static zoo_status add_backward(const zoo_layer *l,
                               const zoo_tensor *const *in, int n_in,
                               const zoo_tensor *out, const zoo_tensor *dy,
                               zoo_tensor *const *dx, zoo_tensor *const *dw,
                               const zoo_exec *ex, void *saved)
{
    (void)out;
    (void)dw;
    (void)saved;
    return elementwise_backward(l, in, n_in, dy, dx, ex, EW_ADD, 0.0f);
}

static zoo_status multiply_backward(const zoo_layer *l,
                                    const zoo_tensor *const *in, int n_in,
                                    const zoo_tensor *out,
                                    const zoo_tensor *dy,
                                    zoo_tensor *const *dx,
                                    zoo_tensor *const *dw, const zoo_exec *ex,
                                    void *saved)
{
    (void)out;
    (void)dw;
    (void)saved;
    return elementwise_backward(l, in, n_in, dy, dx, ex, EW_MUL, 0.0f);
}

/* Keras 3 Add / Multiply.get_config(): the base Layer's only. */
static zoo_status merge_config(const zoo_layer *l, void *json)
{
    return zoo_kcfg_base(l, json);
}

static const zoo_layer_kind add_kind = {
    .class_name = "Add",
    .auto_prefix = "add",
    .min_inputs = 2,
    .max_inputs = -1,
    .infer = same_shape_infer,
    .forward = add_forward,
    .backward = add_backward,
    .config = merge_config,
};

static const zoo_layer_kind multiply_kind = {
    .class_name = "Multiply",
    .auto_prefix = "multiply",
    .min_inputs = 2,
    .max_inputs = -1,
    .infer = same_shape_infer,
    .forward = multiply_forward,
    .backward = multiply_backward,
    .config = merge_config,
};

zoo_layer *zoo_add(zoo_graph *g, const zoo_named_cfg *cfg)
{
    zoo_named_cfg c = cfg ? *cfg : (zoo_named_cfg){0};
    return zoo_layer_create(g, &add_kind, &c, sizeof c, c.name);
}

zoo_layer *zoo_multiply(zoo_graph *g, const zoo_named_cfg *cfg)
{
    zoo_named_cfg c = cfg ? *cfg : (zoo_named_cfg){0};
    return zoo_layer_create(g, &multiply_kind, &c, sizeof c, c.name);
}

/* ------------------------------------------------------------------ */
/* CustomScaleLayer: out = in[0] + scale * in[1]                       */
/* ------------------------------------------------------------------ */

static zoo_status scaled_sum_forward(const zoo_layer *l,
                                     const zoo_tensor *const *in, int n_in,
                                     zoo_tensor *out, const zoo_exec *ex)
{
    const zoo_scaled_sum_cfg *c = l->cfg;
    return elementwise(l, in, n_in, out, ex, EW_SCALED, c->scale);
}

static zoo_status scaled_sum_backward(const zoo_layer *l,
                                      const zoo_tensor *const *in, int n_in,
                                      const zoo_tensor *out,
                                      const zoo_tensor *dy,
                                      zoo_tensor *const *dx,
                                      zoo_tensor *const *dw,
                                      const zoo_exec *ex, void *saved)
{
    (void)out;
    (void)dw;
    (void)saved;
    const zoo_scaled_sum_cfg *c = l->cfg;
    return elementwise_backward(l, in, n_in, dy, dx, ex, EW_SCALED, c->scale);
}

/* Keras 3 CustomScaleLayer.get_config() (inception_resnet_v2.py). */
static zoo_status scaled_sum_config(const zoo_layer *l, void *json)
{
    const zoo_scaled_sum_cfg *c = l->cfg;
    zoo_status st = zoo_kcfg_base(l, json);
    if (st != ZOO_OK)
        return st;
    return zoo_kcfg_merge(l, json,
                          json_pack("{s:f}", "scale", zoo_kcfg_real(c->scale)));
}

static const zoo_layer_kind scaled_sum_kind = {
    .class_name = "CustomScaleLayer",
    .auto_prefix = "custom_scale_layer",
    .min_inputs = 2,
    .max_inputs = 2,
    .infer = same_shape_infer,
    .forward = scaled_sum_forward,
    .backward = scaled_sum_backward,
    .config = scaled_sum_config,
};

zoo_layer *zoo_scaled_sum(zoo_graph *g, const zoo_scaled_sum_cfg *cfg)
{
    /* scale has no Keras default; 0 is taken literally (out = in[0]). */
    zoo_scaled_sum_cfg c = cfg ? *cfg : (zoo_scaled_sum_cfg){0};
    if (g && !isfinite(c.scale)) {
        zoo_error(ZOO_ERR_ARGUMENT,
                  "CustomScaleLayer%s%s: scale %g is not finite",
                  c.name ? " " : "", c.name ? c.name : "", (double)c.scale);
        return NULL;
    }
    return zoo_layer_create(g, &scaled_sum_kind, &c, sizeof c, c.name);
}

/* ------------------------------------------------------------------ */
/* Concatenate                                                         */
/* ------------------------------------------------------------------ */

/* The concatenation axis for inputs of `rank`, or -1 if out of range.
 * The batch axis is refused: predict splits and joins along it. */
static int concat_axis(const zoo_concat_cfg *c, int rank)
{
    int a = c->axis ? c->axis : -1;
    if (a < 0)
        a += rank;
    return a >= 1 && a < rank ? a : -1;
}

static zoo_status concat_infer(const zoo_layer *l, const zoo_shape *in,
                               int n_in, zoo_shape *out)
{
    const zoo_concat_cfg *c = l->cfg;
    char b0[128], b1[128];
    int axis = concat_axis(c, in[0].rank);
    if (axis < 0)
        return zoo_error(ZOO_ERR_SHAPE,
                         "Concatenate %s: axis %d is invalid for input %s "
                         "(the batch axis cannot be joined)",
                         l->name, c->axis ? c->axis : -1,
                         zoo_shape_str(&in[0], b0, sizeof b0));
    *out = in[0];
    for (int i = 1; i < n_in; i++) {
        bool ok = in[i].rank == out->rank;
        for (int d = 0; ok && d < out->rank; d++) {
            int a = out->dim[d], b = in[i].dim[d];
            if (d == axis)
                out->dim[d] = a < 0 || b < 0 ? -1 : a + b;
            else if (a >= 0 && b >= 0 && a != b)
                ok = false;
            else if (a < 0)
                out->dim[d] = b;
        }
        if (!ok)
            return zoo_error(ZOO_ERR_SHAPE,
                             "Concatenate %s: shapes %s and %s differ "
                             "outside the concatenation axis %d",
                             l->name, zoo_shape_str(&in[0], b0, sizeof b0),
                             zoo_shape_str(&in[i], b1, sizeof b1), axis);
    }
    return ZOO_OK;
}

static zoo_status concat_forward(const zoo_layer *l,
                                 const zoo_tensor *const *in, int n_in,
                                 zoo_tensor *out, const zoo_exec *ex)
{
    const zoo_concat_cfg *c = l->cfg;
    const int rank = zoo_tensor_rank(out);
    const int *os = zoo_tensor_shape(out);
    const int axis = concat_axis(c, rank);
    if (axis < 0)
        return zoo_error(ZOO_ERR_INTERNAL, "Concatenate %s: bad axis",
                         l->name);
    /* Viewed as (outer, axis * inner): each output row is the inputs' rows
     * side by side, in input order. */
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++)
        outer *= os[d];
    for (int d = axis + 1; d < rank; d++)
        inner *= os[d];
    const int64_t out_row = (int64_t)os[axis] * inner;
    float *y = zoo_tensor_data(out);
    const int threads = zoo_exec_threads(ex);
    int64_t col = 0;
    for (int i = 0; i < n_in; i++) {
        const int64_t row = (int64_t)zoo_tensor_shape(in[i])[axis] * inner;
        if (col + row > out_row)
            return zoo_error(ZOO_ERR_INTERNAL,
                             "Concatenate %s: inputs exceed the output",
                             l->name);
        const float *x = zoo_tensor_cdata(in[i]);
#pragma omp parallel for schedule(static) num_threads(threads) \
    if (outer * row > 32768)
        for (int64_t o = 0; o < outer; o++)
            memcpy(y + o * out_row + col, x + o * row,
                   (size_t)row * sizeof(float));
        col += row;
    }
    return ZOO_OK;
}

/* Each input's slice of the output gradient, added back: the forward's
 * copy the other way. */
static zoo_status concat_backward(const zoo_layer *l,
                                  const zoo_tensor *const *in, int n_in,
                                  const zoo_tensor *out, const zoo_tensor *dy,
                                  zoo_tensor *const *dx,
                                  zoo_tensor *const *dw, const zoo_exec *ex,
                                  void *saved)
{
    (void)out;
    (void)dw;
    (void)saved;
    const zoo_concat_cfg *c = l->cfg;
    const int rank = zoo_tensor_rank(dy);
    const int *os = zoo_tensor_shape(dy);
    const int axis = concat_axis(c, rank);
    if (axis < 0)
        return zoo_error(ZOO_ERR_INTERNAL, "Concatenate %s: bad axis",
                         l->name);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++)
        outer *= os[d];
    for (int d = axis + 1; d < rank; d++)
        inner *= os[d];
    const int64_t out_row = (int64_t)os[axis] * inner;
    const float *g = zoo_tensor_cdata(dy);
    const int threads = zoo_exec_threads(ex);
    int64_t col = 0;
    for (int i = 0; i < n_in; i++) {
        const int64_t row = (int64_t)zoo_tensor_shape(in[i])[axis] * inner;
        if (col + row > out_row ||
            (dx && dx[i] &&
             (int64_t)zoo_tensor_size(dx[i]) != outer * row))
            return zoo_error(ZOO_ERR_INTERNAL,
                             "Concatenate %s: input %d's gradient does not "
                             "fit the output gradient",
                             l->name, i);
        if (dx && dx[i]) {
            float *d = zoo_tensor_data(dx[i]);
#pragma omp parallel for schedule(static) num_threads(threads) \
    if (outer * row > 32768)
            for (int64_t o = 0; o < outer; o++) {
                const float *gp = g + o * out_row + col;
                float *dp = d + o * row;
                for (int64_t k = 0; k < row; k++)
                    dp[k] += gp[k];
            }
        }
        col += row;
    }
    return ZOO_OK;
}

/* Keras 3 Concatenate.get_config(). */
static zoo_status concat_config(const zoo_layer *l, void *json)
{
    const zoo_concat_cfg *c = l->cfg;
    zoo_status st = zoo_kcfg_base(l, json);
    if (st != ZOO_OK)
        return st;
    return zoo_kcfg_merge(l, json,
                          json_pack("{s:i}", "axis", c->axis ? c->axis : -1));
}

static const zoo_layer_kind concat_kind = {
    .class_name = "Concatenate",
    .auto_prefix = "concatenate",
    .min_inputs = 1, /* Keras 3 accepts a list of one */
    .max_inputs = -1,
    .infer = concat_infer,
    .forward = concat_forward,
    .backward = concat_backward,
    .config = concat_config,
};

zoo_layer *zoo_concatenate(zoo_graph *g, const zoo_concat_cfg *cfg)
{
    zoo_concat_cfg c = cfg ? *cfg : (zoo_concat_cfg){0};
    /* Store the resolved axis so config writers read Keras's value. */
    if (c.axis == 0)
        c.axis = -1;
    return zoo_layer_create(g, &concat_kind, &c, sizeof c, c.name);
}
