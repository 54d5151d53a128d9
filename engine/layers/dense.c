/* Dense: x . kernel + bias over the last axis of an input of any rank
 * (Keras semantics: the leading axes are batch-like). */
#include "engine/cpu/cpu.h"
#include "engine/keras_layer_config.h"
#include "engine/layer.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
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

static zoo_status dense_forward(const zoo_layer *l,
                                const zoo_tensor *const *in, int n_in,
                                zoo_tensor *out, const zoo_exec *ex)
{
    (void)n_in;
    const zoo_dense_cfg *c = l->cfg;
    const zoo_tensor *k = zoo_layer_find_weight(l, "kernel");
    const zoo_tensor *b = c->no_bias ? NULL : zoo_layer_find_weight(l, "bias");
    if (!k || (!c->no_bias && !b))
        return zoo_error(ZOO_ERR_INTERNAL,
                         "Dense %s: run before its weights exist", l->name);
    const int f = zoo_tensor_shape(k)[0], u = c->units;
    const int64_t rows = (int64_t)(zoo_tensor_size(in[0]) / (size_t)f);
    const float *x = zoo_tensor_cdata(in[0]);
    float *y = zoo_tensor_data(out);
    const int threads = ex && ex->threads > 0 ? ex->threads : 1;

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
    zoo_activation_apply(c->activation, y, zoo_tensor_size(out), u);
    return ZOO_OK;
}

/* Keras 3 Dense.get_config(). */
static zoo_status dense_config(const zoo_layer *l, void *json)
{
    const zoo_dense_cfg *c = l->cfg;
    zoo_status st = zoo_kcfg_base(l, json);
    if (st != ZOO_OK)
        return st;
    return zoo_kcfg_merge(l, json, json_pack(
        "{s:i, s:s, s:b, s:o, s:o, s:n, s:n, s:n, s:n}",
        "units", c->units,
        "activation", zoo_kcfg_activation(c->activation),
        "use_bias", (int)!c->no_bias,
        "kernel_initializer", zoo_kcfg_initializer("GlorotUniform", true),
        "bias_initializer", zoo_kcfg_initializer("Zeros", false),
        "kernel_regularizer", "bias_regularizer", "kernel_constraint",
        "bias_constraint"));
}

static const zoo_layer_kind dense_kind = {
    .class_name = "Dense",
    .auto_prefix = "dense",
    .min_inputs = 1,
    .max_inputs = 1,
    .build = dense_build,
    .infer = dense_infer,
    .forward = dense_forward,
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
