/* The Activation and ReLU layers (the functions themselves are in
 * engine/activations.c). */
#include "engine/layer.h"
#include "engine/keras_layer_config.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Elements per task; softmax tasks hold whole rows. */
static int64_t chunk_len(zoo_activation act, int row)
{
    int64_t chunk = 16384;
    if (act == ZOO_ACT_SOFTMAX && row > 0)
        chunk = (chunk > row ? chunk / row : 1) * (int64_t)row;
    return chunk;
}

/* Copies in -> out, then applies `act` in parallel chunks; softmax chunks
 * hold whole rows. */
static void apply_parallel(zoo_activation act, const zoo_tensor *in,
                           zoo_tensor *out, int row, const zoo_exec *ex)
{
    const float *src = zoo_tensor_cdata(in);
    float *dst = zoo_tensor_data(out);
    int64_t n = (int64_t)zoo_tensor_size(out);
    int64_t chunk = chunk_len(act, row);
    int64_t n_chunks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) num_threads(zoo_exec_threads(ex)) \
    if (n_chunks > 1)
    for (int64_t k = 0; k < n_chunks; k++) {
        int64_t off = k * chunk;
        int64_t len = n - off < chunk ? n - off : chunk;
        memcpy(dst + off, src + off, (size_t)len * sizeof(float));
        zoo_activation_apply(act, dst + off, (size_t)len, row);
    }
}

/* The shapes handed to backward agree (the elementwise layers' dx, dy,
 * input and output all hold the same number of values). */
static zoo_status same_size_check(const zoo_layer *l, const zoo_tensor *in,
                                  const zoo_tensor *out, const zoo_tensor *dy,
                                  const zoo_tensor *dx)
{
    size_t n = zoo_tensor_size(out);
    if (zoo_tensor_size(in) != n || zoo_tensor_size(dy) != n ||
        zoo_tensor_size(dx) != n)
        return zoo_error(ZOO_ERR_INTERNAL,
                         "%s %s: gradient sizes do not match the call's",
                         l->kind->class_name, l->name);
    return ZOO_OK;
}

/* ------------------------------------------------------------------ */
/* Activation layer                                                    */
/* ------------------------------------------------------------------ */

static zoo_status activation_infer(const zoo_layer *l, const zoo_shape *in,
                                   int n_in, zoo_shape *out)
{
    (void)l;
    (void)n_in;
    *out = in[0];
    return ZOO_OK;
}

static zoo_status activation_forward(const zoo_layer *l,
                                     const zoo_tensor *const *in, int n_in,
                                     zoo_tensor *out, const zoo_exec *ex)
{
    (void)n_in;
    const zoo_activation_cfg *c = l->cfg;
    int rank = zoo_tensor_rank(out);
    int row = zoo_tensor_shape(out)[rank - 1]; /* softmax: last axis */
    apply_parallel(c->activation, in[0], out, row, ex);
    return ZOO_OK;
}

/* dx += act'(x) * dy, through zoo_activation_backward on chunks of a
 * scratch copy of dy (it works in place). */
static zoo_status activation_backward(const zoo_layer *l,
                                      const zoo_tensor *const *in, int n_in,
                                      const zoo_tensor *out,
                                      const zoo_tensor *dy,
                                      zoo_tensor *const *dx,
                                      zoo_tensor *const *dw,
                                      const zoo_exec *ex, void *saved)
{
    (void)n_in;
    (void)dw;
    (void)saved;
    if (!dx || !dx[0])
        return ZOO_OK;
    zoo_status st = same_size_check(l, in[0], out, dy, dx[0]);
    if (st != ZOO_OK)
        return st;
    const zoo_activation_cfg *c = l->cfg;
    const int rank = zoo_tensor_rank(out);
    const int row = zoo_tensor_shape(out)[rank - 1]; /* softmax: last axis */
    const int64_t n = (int64_t)zoo_tensor_size(out);
    const int64_t chunk = chunk_len(c->activation, row);
    const int64_t n_chunks = (n + chunk - 1) / chunk;
    float *tmp = malloc((size_t)n * sizeof(float));
    if (!tmp)
        return zoo_error(ZOO_ERR_MEMORY, "Activation %s: out of memory",
                         l->name);
    const float *x = zoo_tensor_cdata(in[0]);
    const float *y = zoo_tensor_cdata(out);
    const float *g = zoo_tensor_cdata(dy);
    float *d = zoo_tensor_data(dx[0]);
    int failed = 0;
#pragma omp parallel for schedule(static) num_threads(zoo_exec_threads(ex)) \
    if (n_chunks > 1)
    for (int64_t k = 0; k < n_chunks; k++) {
        int64_t off = k * chunk;
        int64_t len = n - off < chunk ? n - off : chunk;
        memcpy(tmp + off, g + off, (size_t)len * sizeof(float));
        if (zoo_activation_backward(c->activation, x + off, y + off,
                                    tmp + off, (size_t)len, row) != ZOO_OK) {
#pragma omp atomic write
            failed = 1;
            continue;
        }
        for (int64_t i = off; i < off + len; i++)
            d[i] += tmp[i];
    }
    free(tmp);
    if (failed)
        return zoo_error(ZOO_ERR_UNSUPPORTED,
                         "Activation %s: no gradient for activation %d",
                         l->name, (int)c->activation);
    return ZOO_OK;
}

/* Keras 3 Activation.get_config(). */
static zoo_status activation_config(const zoo_layer *l, void *json)
{
    const zoo_activation_cfg *c = l->cfg;
    zoo_status st = zoo_kcfg_base(l, json);
    if (st != ZOO_OK)
        return st;
    return zoo_kcfg_merge(l, json,
                          json_pack("{s:s}", "activation",
                                    zoo_kcfg_activation(c->activation)));
}

static const zoo_layer_kind activation_kind = {
    .class_name = "Activation",
    .auto_prefix = "activation",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = activation_infer,
    .forward = activation_forward,
    .backward = activation_backward,
    .config = activation_config,
};

zoo_layer *zoo_activation_layer(zoo_graph *g, const zoo_activation_cfg *cfg)
{
    zoo_activation_cfg c = cfg ? *cfg : (zoo_activation_cfg){0};
    /* With no graph, leave the first error alone (see engine.h). */
    if (g && !zoo_activation_valid(c.activation)) {
        zoo_error(ZOO_ERR_ARGUMENT, "Activation%s%s: unknown activation %d",
                  c.name ? " " : "", c.name ? c.name : "",
                  (int)c.activation);
        return NULL;
    }
    return zoo_layer_create(g, &activation_kind, &c, sizeof c, c.name);
}

/* ------------------------------------------------------------------ */
/* ReLU layer                                                          */
/* ------------------------------------------------------------------ */

/* Keras 3's ReLU.static_call, step for step (its edge cases differ from
 * the docstring at x == threshold and for negative thresholds):
 *   pos = threshold ? x * (x > threshold) : max(x, 0), clipped to
 *         [0, max_value] when there is a ceiling;
 *   out = pos - negative_slope * max(threshold - x, 0)                 */
static void relu_general(float *x, int64_t n, float max_value,
                         float slope, float threshold)
{
    bool clip = max_value > 0.0f;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        float pos = threshold != 0.0f ? (v > threshold ? v : 0.0f) : fmaxf(v, 0.0f);
        if (clip)
            pos = fminf(fmaxf(pos, 0.0f), max_value);
        x[i] = pos - slope * fmaxf(threshold - v, 0.0f);
    }
}

static zoo_status relu_forward(const zoo_layer *l, const zoo_tensor *const *in,
                               int n_in, zoo_tensor *out, const zoo_exec *ex)
{
    (void)n_in;
    const zoo_relu_cfg *c = l->cfg;
    bool plain = c->negative_slope == 0.0f && c->threshold == 0.0f;
    /* The common cases (ReLU(), ReLU(6.)) use the shared kernels. */
    if (plain && c->max_value <= 0.0f) {
        apply_parallel(ZOO_ACT_RELU, in[0], out, 0, ex);
        return ZOO_OK;
    }
    if (plain && c->max_value == 6.0f) {
        apply_parallel(ZOO_ACT_RELU6, in[0], out, 0, ex);
        return ZOO_OK;
    }
    const float *src = zoo_tensor_cdata(in[0]);
    float *dst = zoo_tensor_data(out);
    int64_t n = (int64_t)zoo_tensor_size(out);
    const int64_t chunk = 16384;
    int64_t n_chunks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) num_threads(zoo_exec_threads(ex)) \
    if (n_chunks > 1)
    for (int64_t k = 0; k < n_chunks; k++) {
        int64_t off = k * chunk;
        int64_t len = n - off < chunk ? n - off : chunk;
        memcpy(dst + off, src + off, (size_t)len * sizeof(float));
        relu_general(dst + off, len, c->max_value, c->negative_slope,
                     c->threshold);
    }
    return ZOO_OK;
}

/* d out / d x of Keras 3's ReLU with TensorFlow's gradients at the kinks,
 * following static_call's ops:
 *   - negative_slope with neither threshold nor ceiling is tf.nn.leaky_relu:
 *     1 for x > 0, negative_slope for x <= 0;
 *   - threshold 0 and max_value 6 is tf.nn.relu6: 1 for 0 < x < 6;
 *   - otherwise relu(x) (1 for x > 0) or x * (x > threshold) (1 for
 *     x > threshold), then clip_by_value(0, max_value), whose gradient
 *     passes on [0, max_value] INCLUSIVE (so 1 at x == max_value);
 *   - plus negative_slope where x < threshold (relu(threshold - x), whose
 *     gradient at 0 is 0: nothing at x == threshold).            */
static float relu_grad(float x, float max_value, float slope,
                       float threshold)
{
    const bool clip = max_value > 0.0f;
    if (slope != 0.0f && !clip && threshold == 0.0f)
        return x > 0.0f ? 1.0f : slope;
    float d;
    if (threshold == 0.0f && max_value == 6.0f)
        d = x > 0.0f && x < 6.0f ? 1.0f : 0.0f;
    else if (threshold != 0.0f) /* pos = x where x > threshold */
        d = x > threshold && (!clip || (x >= 0.0f && x <= max_value))
                ? 1.0f : 0.0f;
    else /* pos = relu(x) >= 0 */
        d = x > 0.0f && (!clip || x <= max_value) ? 1.0f : 0.0f;
    if (slope != 0.0f && x < threshold)
        d += slope;
    return d;
}

static zoo_status relu_backward(const zoo_layer *l,
                                const zoo_tensor *const *in, int n_in,
                                const zoo_tensor *out, const zoo_tensor *dy,
                                zoo_tensor *const *dx, zoo_tensor *const *dw,
                                const zoo_exec *ex, void *saved)
{
    (void)n_in;
    (void)dw;
    (void)saved;
    if (!dx || !dx[0])
        return ZOO_OK;
    zoo_status st = same_size_check(l, in[0], out, dy, dx[0]);
    if (st != ZOO_OK)
        return st;
    const zoo_relu_cfg *c = l->cfg;
    const float *x = zoo_tensor_cdata(in[0]);
    const float *g = zoo_tensor_cdata(dy);
    float *d = zoo_tensor_data(dx[0]);
    const int64_t n = (int64_t)zoo_tensor_size(out);
#pragma omp parallel for schedule(static) num_threads(zoo_exec_threads(ex)) \
    if (n > 32768)
    for (int64_t i = 0; i < n; i++)
        d[i] += g[i] * relu_grad(x[i], c->max_value, c->negative_slope,
                                 c->threshold);
    return ZOO_OK;
}

/* Keras 3 ReLU.get_config(): max_value is null when there is no ceiling. */
static zoo_status relu_config(const zoo_layer *l, void *json)
{
    const zoo_relu_cfg *c = l->cfg;
    zoo_status st = zoo_kcfg_base(l, json);
    if (st != ZOO_OK)
        return st;
    return zoo_kcfg_merge(l, json, json_pack(
        "{s:o, s:f, s:f}",
        "max_value", c->max_value > 0.0f
                         ? json_real(zoo_kcfg_real(c->max_value))
                         : json_null(),
        "negative_slope", zoo_kcfg_real(c->negative_slope),
        "threshold", zoo_kcfg_real(c->threshold)));
}

static const zoo_layer_kind relu_kind = {
    .class_name = "ReLU",
    .auto_prefix = "re_lu",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = activation_infer,
    .forward = relu_forward,
    .backward = relu_backward,
    .config = relu_config,
};

zoo_layer *zoo_relu(zoo_graph *g, const zoo_relu_cfg *cfg)
{
    zoo_relu_cfg c = cfg ? *cfg : (zoo_relu_cfg){0};
    const char *sp = c.name ? " " : "", *nm = c.name ? c.name : "";
    if (g) {
        /* Keras rejects a negative slope; NaNs would poison every output. */
        if (!(c.negative_slope >= 0.0f) || !isfinite(c.negative_slope)) {
            zoo_error(ZOO_ERR_ARGUMENT,
                      "ReLU%s%s: negative_slope %g must be a finite value "
                      ">= 0", sp, nm, (double)c.negative_slope);
            return NULL;
        }
        if (!isfinite(c.threshold)) {
            zoo_error(ZOO_ERR_ARGUMENT, "ReLU%s%s: threshold %g is not finite",
                      sp, nm, (double)c.threshold);
            return NULL;
        }
        if (isnan(c.max_value)) {
            zoo_error(ZOO_ERR_ARGUMENT, "ReLU%s%s: max_value is NaN", sp, nm);
            return NULL;
        }
        /* One spelling of "no ceiling", so later readers test one value. */
        if (c.max_value < 0.0f)
            c.max_value = 0.0f;
    }
    return zoo_layer_create(g, &relu_kind, &c, sizeof c, c.name);
}
