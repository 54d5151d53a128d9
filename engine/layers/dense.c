/* Dense: x . kernel + bias over the last axis of an input of any rank
 * (Keras semantics: the leading axes are batch-like). */
#include "engine/cpu/cpu.h"
#include "engine/keras_layer_config.h"
#include "engine/layer.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The last axis, which must be known; -1 after reporting an error. */
static int input_features(const zoo_layer *l, const zoo_shape *in)
{
    char s[96];
    if (in->rank < 2) {
        zoo_error(ZOO_ERR_SHAPE,
                  "Dense %s: expected an input of rank >= 2 (batch, ..., "
                  "features), got shape %s", l->name,
                  zoo_shape_str(in, s, sizeof s));
        return -1;
    }
    if (in->dim[in->rank - 1] < 1) {
        zoo_error(ZOO_ERR_SHAPE,
                  "Dense %s: the last axis of the input must be known, got "
                  "shape %s", l->name, zoo_shape_str(in, s, sizeof s));
        return -1;
    }
    return in->dim[in->rank - 1];
}

static zoo_status dense_build(zoo_layer *l, const zoo_shape *in, int n_in)
{
    (void)n_in;
    const zoo_dense_cfg *c = l->cfg;
    int f = input_features(l, in);
    if (f < 0)
        return zoo_last_status();
    if (!zoo_layer_add_weight(l, "kernel", 2, (const int[]){f, c->units},
                              ZOO_INIT_GLOROT_UNIFORM, f, c->units, true))
        return zoo_last_status();
    if (!c->no_bias &&
        !zoo_layer_add_weight(l, "bias", 1, (const int[]){c->units},
                              ZOO_INIT_ZEROS, 0, 0, true))
        return zoo_last_status();
    return ZOO_OK;
}

static zoo_status dense_infer(const zoo_layer *l, const zoo_shape *in,
                              int n_in, zoo_shape *out)
{
    (void)n_in;
    const zoo_dense_cfg *c = l->cfg;
    int f = input_features(l, in);
    if (f < 0)
        return zoo_last_status();
    const zoo_tensor *k = zoo_layer_find_weight(l, "kernel");
    if (k && zoo_tensor_shape(k)[0] != f) {
        char s[96];
        return zoo_error(ZOO_ERR_SHAPE,
                         "Dense %s: input shape %s has %d features on its "
                         "last axis but the layer was built for %d", l->name,
                         zoo_shape_str(in, s, sizeof s), f,
                         zoo_tensor_shape(k)[0]);
    }
    *out = *in;
    out->dim[in->rank - 1] = c->units;
    return ZOO_OK;
}

/* x . kernel + bias over rows of f features, before the activation. */
static zoo_status dense_linear(const zoo_layer *l, const zoo_tensor *in,
                               float *y, int threads)
{
    const zoo_dense_cfg *c = l->cfg;
    const zoo_tensor *k = zoo_layer_find_weight(l, "kernel");
    const zoo_tensor *b = c->no_bias ? NULL : zoo_layer_find_weight(l, "bias");
    if (!k || (!c->no_bias && !b))
        return zoo_error(ZOO_ERR_INTERNAL,
                         "Dense %s: run before its weights exist", l->name);
    const int f = zoo_tensor_shape(k)[0], u = c->units;
    const int64_t rows = (int64_t)(zoo_tensor_size(in) / (size_t)f);
    const float *x = zoo_tensor_cdata(in);

    /* BLAS dimensions are int: split absurdly tall inputs. */
    const int64_t chunk = INT_MAX / (f > u ? f : u);
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
        const int m = (int)(rows - r0 < chunk ? rows - r0 : chunk);
        float *yr = y + (size_t)r0 * u;
        /* Seed with the bias so the GEMM adds onto it. */
        if (b)
            for (int r = 0; r < m; r++)
                memcpy(yr + (size_t)r * u, zoo_tensor_cdata(b),
                       sizeof(float) * u);
        zoo_cpu_sgemm(false, false, m, u, f, 1.0f, x + (size_t)r0 * f, f,
                      zoo_tensor_cdata(k), u, b ? 1.0f : 0.0f, yr, u,
                      threads);
    }
    return ZOO_OK;
}

static zoo_status dense_forward(const zoo_layer *l,
                                const zoo_tensor *const *in, int n_in,
                                zoo_tensor *out, const zoo_exec *ex)
{
    (void)n_in;
    const zoo_dense_cfg *c = l->cfg;
    float *y = zoo_tensor_data(out);
    zoo_status st = dense_linear(l, in[0], y, zoo_exec_threads(ex));
    if (st != ZOO_OK)
        return st;
    zoo_activation_apply(c->activation, y, zoo_tensor_size(out), c->units);
    return ZOO_OK;
}

/* dw[k] for the weight called `name`; NULL where not wanted. */
static float *weight_grad(const zoo_layer *l, zoo_tensor *const *dw,
                          const char *name)
{
    for (int k = 0; k < l->n_weights; k++)
        if (strcmp(l->weights[k].name, name) == 0)
            return dw[k] ? zoo_tensor_data(dw[k]) : NULL;
    return NULL;
}

static zoo_status no_memory(const zoo_layer *l, size_t bytes, const char *what)
{
    return zoo_error(ZOO_ERR_MEMORY, "Dense %s: cannot allocate %zu bytes "
                     "for %s", l->name, bytes, what);
}

/* dLoss/dz for y = act(z) as a malloc'd copy of dy (NULL *dz when linear:
 * dy serves as is). Swish needs z itself: recompute it. */
static zoo_status dense_act_grad(const zoo_layer *l, const zoo_tensor *in,
                                 const zoo_tensor *out, const zoo_tensor *dy,
                                 int threads, float **dz)
{
    const zoo_dense_cfg *c = l->cfg;
    *dz = NULL;
    if (c->activation == ZOO_ACT_LINEAR)
        return ZOO_OK;
    const size_t n = zoo_tensor_size(dy), bytes = sizeof(float) * n;
    float *pre = NULL, *d = malloc(bytes);
    if (!d)
        return no_memory(l, bytes, "the activation's gradient");
    zoo_status st = ZOO_OK;
    if (c->activation == ZOO_ACT_SWISH) {
        if (!(pre = malloc(bytes)))
            st = no_memory(l, bytes, "the pre-activation");
        else
            st = dense_linear(l, in, pre, threads);
    }
    if (st == ZOO_OK) {
        memcpy(d, zoo_tensor_cdata(dy), bytes);
        st = zoo_activation_backward(c->activation, pre,
                                     zoo_tensor_cdata(out), d, n, c->units);
        if (st != ZOO_OK) {
            char msg[256];
            snprintf(msg, sizeof msg, "%s", zoo_last_error());
            st = zoo_error(st, "Dense %s: %s", l->name, msg);
        }
    }
    free(pre);
    if (st != ZOO_OK) {
        free(d);
        return st;
    }
    *dz = d;
    return ZOO_OK;
}

/* With z = x . K + b over rows: dK += x^T dz, dx += dz K^T, db += sum dz. */
static zoo_status dense_backward(const zoo_layer *l,
                                 const zoo_tensor *const *in, int n_in,
                                 const zoo_tensor *out, const zoo_tensor *dy,
                                 zoo_tensor *const *dx, zoo_tensor *const *dw,
                                 const zoo_exec *ex, void *saved)
{
    (void)n_in;
    (void)saved;
    const zoo_dense_cfg *c = l->cfg;
    const zoo_tensor *k = zoo_layer_find_weight(l, "kernel");
    if (!k)
        return zoo_error(ZOO_ERR_INTERNAL,
                         "Dense %s: run before its weights exist", l->name);
    float *dk = weight_grad(l, dw, "kernel");
    float *db = weight_grad(l, dw, "bias");
    float *dxd = dx[0] ? zoo_tensor_data(dx[0]) : NULL;
    if (!dk && !db && !dxd)
        return ZOO_OK;
    const int threads = zoo_exec_threads(ex);
    const int f = zoo_tensor_shape(k)[0], u = c->units;
    const int64_t rows = (int64_t)(zoo_tensor_size(in[0]) / (size_t)f);
    const float *x = zoo_tensor_cdata(in[0]);

    float *dz = NULL;
    zoo_status st = dense_act_grad(l, in[0], out, dy, threads, &dz);
    if (st != ZOO_OK)
        return st;
    const float *d = dz ? dz : zoo_tensor_cdata(dy);
    if (db && (st = zoo_cpu_sum_rows(d, rows, u, db, threads)) != ZOO_OK) {
        free(dz);
        return st;
    }
    const int64_t chunk = INT_MAX / (f > u ? f : u);
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
        const int m = (int)(rows - r0 < chunk ? rows - r0 : chunk);
        const float *dr = d + (size_t)r0 * u;
        if (dk)
            zoo_cpu_sgemm(true, false, f, u, m, 1.0f, x + (size_t)r0 * f, f,
                          dr, u, 1.0f, dk, u, threads);
        if (dxd)
            zoo_cpu_sgemm(false, true, m, f, u, 1.0f, dr, u,
                          zoo_tensor_cdata(k), u, 1.0f, dxd + (size_t)r0 * f,
                          f, threads);
    }
    free(dz);
    return ZOO_OK;
}

/* Keras 3's serialized L2 regularizer for kernel_l2, or null without one. */
static json_t *l2_regularizer(const zoo_layer *l)
{
    if (!(l->kernel_l2 > 0.0f))
        return json_null();
    return json_pack("{s:s, s:s, s:{s:f}, s:n}", "module",
                     "keras.regularizers", "class_name", "L2", "config",
                     "l2", zoo_kcfg_real(l->kernel_l2), "registered_name");
}

/* Keras 3 Dense.get_config(). */
static zoo_status dense_config(const zoo_layer *l, void *json)
{
    const zoo_dense_cfg *c = l->cfg;
    zoo_status st = zoo_kcfg_base(l, json);
    if (st != ZOO_OK)
        return st;
    return zoo_kcfg_merge(l, json, json_pack(
        "{s:i, s:s, s:b, s:o, s:o, s:o, s:n, s:n, s:n}",
        "units", c->units,
        "activation", zoo_kcfg_activation(c->activation),
        "use_bias", (int)!c->no_bias,
        "kernel_initializer", zoo_kcfg_initializer("GlorotUniform", true),
        "bias_initializer", zoo_kcfg_initializer("Zeros", false),
        "kernel_regularizer", l2_regularizer(l), "bias_regularizer",
        "kernel_constraint", "bias_constraint"));
}

static const zoo_layer_kind dense_kind = {
    .class_name = "Dense",
    .auto_prefix = "dense",
    .min_inputs = 1,
    .max_inputs = 1,
    .build = dense_build,
    .infer = dense_infer,
    .forward = dense_forward,
    .backward = dense_backward,
    .config = dense_config,
};

zoo_layer *zoo_dense(zoo_graph *g, const zoo_dense_cfg *cfg)
{
    zoo_dense_cfg c = cfg ? *cfg : (zoo_dense_cfg){0};
    /* A NULL graph keeps the first error of a chain. */
    if (g && c.units < 1) {
        zoo_error(ZOO_ERR_ARGUMENT, "Dense%s%s: units must be >= 1, got %d",
                  c.name && *c.name ? " " : "",
                  c.name && *c.name ? c.name : "", c.units);
        return NULL;
    }
    return zoo_layer_create(g, &dense_kind, &c, sizeof c, c.name);
}
