/* BatchNormalization over the last (channel) axis, inference mode:
 * y = gamma * (x - mean) / sqrt(var + eps) + beta. */
#include "engine/layer.h"
#include "engine/keras_layer_config.h"

#include <math.h>
#include <stdlib.h>

/* The channel count the layer was built for (0 before build). */
static int bn_channels(const zoo_layer *l)
{
    const zoo_tensor *mean = zoo_layer_find_weight(l, "moving_mean");
    return mean ? (int)zoo_tensor_size(mean) : 0;
}

static zoo_status bn_check_rank(const zoo_layer *l, const zoo_shape *s)
{
    if (s->rank < 2) {
        char buf[128];
        return zoo_error(ZOO_ERR_SHAPE,
                         "BatchNormalization %s: input %s has no channel "
                         "axis (rank >= 2 needed)",
                         l->name, zoo_shape_str(s, buf, sizeof buf));
    }
    return ZOO_OK;
}

static zoo_status bn_build(zoo_layer *l, const zoo_shape *in, int n_in)
{
    (void)n_in;
    const zoo_batch_norm_cfg *c = l->cfg;
    zoo_status st = bn_check_rank(l, &in[0]);
    if (st != ZOO_OK)
        return st;
    int ch = in[0].dim[in[0].rank - 1];
    if (ch <= 0) {
        char buf[128];
        return zoo_error(ZOO_ERR_SHAPE,
                         "BatchNormalization %s: the channel axis of input "
                         "%s must be known",
                         l->name, zoo_shape_str(&in[0], buf, sizeof buf));
    }
    /* Keras order: trainable gamma, beta, then the moving statistics. */
    if (!c->no_scale &&
        !zoo_layer_add_weight(l, "gamma", 1, &ch, ZOO_INIT_ONES, 0, 0, true))
        return zoo_last_status();
    if (!c->no_center &&
        !zoo_layer_add_weight(l, "beta", 1, &ch, ZOO_INIT_ZEROS, 0, 0, true))
        return zoo_last_status();
    if (!zoo_layer_add_weight(l, "moving_mean", 1, &ch, ZOO_INIT_ZEROS, 0, 0,
                              false) ||
        !zoo_layer_add_weight(l, "moving_variance", 1, &ch, ZOO_INIT_ONES, 0,
                              0, false))
        return zoo_last_status();
    return ZOO_OK;
}

static zoo_status bn_infer(const zoo_layer *l, const zoo_shape *in, int n_in,
                           zoo_shape *out)
{
    (void)n_in;
    zoo_status st = bn_check_rank(l, &in[0]);
    if (st != ZOO_OK)
        return st;
    int ch = in[0].dim[in[0].rank - 1];
    int built = bn_channels(l);
    if (built > 0 && ch >= 0 && ch != built) {
        char buf[128];
        return zoo_error(ZOO_ERR_SHAPE,
                         "BatchNormalization %s: input %s has %d channels, "
                         "but the layer was built for %d",
                         l->name, zoo_shape_str(&in[0], buf, sizeof buf), ch,
                         built);
    }
    *out = in[0];
    return ZOO_OK;
}

/* A weight's data, checked to hold `ch` values (a loader may have swapped
 * the tensor); NULL with *st set on a bad size, NULL with ZOO_OK if absent. */
static const float *bn_weight(const zoo_layer *l, const char *name, int ch,
                              zoo_status *st)
{
    const zoo_tensor *t = zoo_layer_find_weight(l, name);
    if (!t || *st != ZOO_OK) /* report the first bad weight only */
        return NULL;
    if (zoo_tensor_size(t) != (size_t)ch) {
        *st = zoo_error(ZOO_ERR_SHAPE,
                        "BatchNormalization %s: weight %s has %zu values, "
                        "expected %d",
                        l->name, name, zoo_tensor_size(t), ch);
        return NULL;
    }
    return zoo_tensor_cdata(t);
}

static zoo_status bn_forward(const zoo_layer *l, const zoo_tensor *const *in,
                             int n_in, zoo_tensor *out, const zoo_exec *ex)
{
    (void)n_in;
    const zoo_batch_norm_cfg *c = l->cfg;
    int rank = zoo_tensor_rank(in[0]);
    int ch = zoo_tensor_shape(in[0])[rank - 1];
    zoo_status st = ZOO_OK;
    const float *gamma = bn_weight(l, "gamma", ch, &st);
    const float *beta = bn_weight(l, "beta", ch, &st);
    const float *mean = bn_weight(l, "moving_mean", ch, &st);
    const float *var = bn_weight(l, "moving_variance", ch, &st);
    if (st != ZOO_OK)
        return st;
    if (!mean || !var)
        return zoo_error(ZOO_ERR_INTERNAL,
                         "BatchNormalization %s: run before being built",
                         l->name);

    /* Keras 3: inv = gamma / sqrt(var + eps); y = x * inv + (beta -
     * mean * inv). Missing gamma counts as 1, missing beta as 0. */
    float *inv = malloc(2 * (size_t)ch * sizeof(float));
    if (!inv)
        return zoo_error(ZOO_ERR_MEMORY,
                         "BatchNormalization %s: out of memory", l->name);
    float *shift = inv + ch;
    for (int k = 0; k < ch; k++) {
        float s = 1.0f / sqrtf(var[k] + c->epsilon);
        if (gamma)
            s *= gamma[k];
        inv[k] = s;
        shift[k] = (beta ? beta[k] : 0.0f) - mean[k] * s;
    }

    const float *x = zoo_tensor_cdata(in[0]);
    float *y = zoo_tensor_data(out);
    int64_t rows = (int64_t)(zoo_tensor_size(in[0]) / (size_t)ch);
    int threads = ex && ex->threads > 0 ? ex->threads : 1;
#pragma omp parallel for schedule(static) num_threads(threads) \
    if (rows * ch > 32768)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * ch;
        float *yr = y + r * ch;
        for (int k = 0; k < ch; k++)
            yr[k] = xr[k] * inv[k] + shift[k];
    }
    free(inv);
    return ZOO_OK;
}

/* Keras 3 BatchNormalization.get_config(). The engine normalizes the last
 * axis, which Keras writes as axis -1. */
static zoo_status bn_config(const zoo_layer *l, void *json)
{
    const zoo_batch_norm_cfg *c = l->cfg;
    zoo_status st = zoo_kcfg_base(l, json);
    if (st != ZOO_OK)
        return st;
    return zoo_kcfg_merge(l, json, json_pack(
        "{s:i, s:f, s:f, s:b, s:b, s:o, s:o, s:o, s:o, s:n, s:n, s:n, s:n, "
        "s:b}",
        "axis", -1, "momentum", zoo_kcfg_real(c->momentum),
        "epsilon", zoo_kcfg_real(c->epsilon),
        "center", (int)!c->no_center, "scale", (int)!c->no_scale,
        "beta_initializer", zoo_kcfg_initializer("Zeros", false),
        "gamma_initializer", zoo_kcfg_initializer("Ones", false),
        "moving_mean_initializer", zoo_kcfg_initializer("Zeros", false),
        "moving_variance_initializer", zoo_kcfg_initializer("Ones", false),
        "beta_regularizer", "gamma_regularizer", "beta_constraint",
        "gamma_constraint", "synchronized", 0));
}

static const zoo_layer_kind batch_norm_kind = {
    .class_name = "BatchNormalization",
    .auto_prefix = "batch_normalization",
    .min_inputs = 1,
    .max_inputs = 1,
    .build = bn_build,
    .infer = bn_infer,
    .forward = bn_forward,
    .config = bn_config,
};

zoo_layer *zoo_batch_norm(zoo_graph *g, const zoo_batch_norm_cfg *cfg)
{
    zoo_batch_norm_cfg c = cfg ? *cfg : (zoo_batch_norm_cfg){0};
    /* Stored resolved, so readers of cfg (summary, BN folding, training)
     * never meet the zero placeholders. */
    if (c.epsilon == 0.0f)
        c.epsilon = 1e-3f;
    if (c.momentum == 0.0f)
        c.momentum = 0.99f;
    if (g) {
        const char *sp = c.name ? " " : "", *nm = c.name ? c.name : "";
        if (!(c.epsilon > 0.0f) || !isfinite(c.epsilon)) {
            zoo_error(ZOO_ERR_ARGUMENT,
                      "BatchNormalization%s%s: epsilon %g must be a finite "
                      "value > 0", sp, nm, (double)c.epsilon);
            return NULL;
        }
        if (!isfinite(c.momentum)) {
            zoo_error(ZOO_ERR_ARGUMENT,
                      "BatchNormalization%s%s: momentum %g is not finite",
                      sp, nm, (double)c.momentum);
            return NULL;
        }
    }
    return zoo_layer_create(g, &batch_norm_kind, &c, sizeof c, c.name);
}
