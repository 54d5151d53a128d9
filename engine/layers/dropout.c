/* Dropout: identity at inference; in a training step, inverted dropout
 * (kept values scaled by 1 / (1 - rate)) with a mask drawn from a
 * counter-based splitmix64 stream keyed by the step's seed, the layer's
 * index, which call of the layer it is (ex->call) and the layer's own seed, so a step
 * run again with the same seed drops the same values. */
#include "engine/layer.h"
#include "engine/keras_layer_config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* What a training call leaves for backward. */
typedef struct {
    size_t n;
    float scale;
    unsigned char keep[]; /* n flags */
} dropout_saved;

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

#define GOLDEN 0x9E3779B97F4A7C15ull

static zoo_status dropout_infer(const zoo_layer *l, const zoo_shape *in,
                                int n_in, zoo_shape *out)
{
    (void)l;
    (void)n_in;
    *out = in[0];
    return ZOO_OK;
}

static zoo_status dropout_forward(const zoo_layer *l,
                                  const zoo_tensor *const *in, int n_in,
                                  zoo_tensor *out, const zoo_exec *ex)
{
    (void)l;
    (void)n_in;
    (void)ex;
    memcpy(zoo_tensor_data(out), zoo_tensor_cdata(in[0]),
           zoo_tensor_size(out) * sizeof(float));
    return ZOO_OK;
}

static zoo_status dropout_forward_train(zoo_layer *l,
                                        const zoo_tensor *const *in,
                                        int n_in, zoo_tensor *out,
                                        const zoo_exec *ex, void **saved)
{
    if (saved)
        *saved = NULL;
    const zoo_dropout_cfg *c = l->cfg;
    const float rate = c->rate;
    if (!ex || !ex->training || !(rate > 0.0f))
        return dropout_forward(l, in, n_in, out, ex);
    if (!(rate < 1.0f))
        return zoo_error(ZOO_ERR_ARGUMENT,
                         "Dropout %s: rate %g is outside [0, 1)", l->name,
                         (double)rate);

    const size_t n = zoo_tensor_size(out);
    if (zoo_tensor_size(in[0]) != n)
        return zoo_error(ZOO_ERR_INTERNAL,
                         "Dropout %s: input has %zu values, output %zu",
                         l->name, zoo_tensor_size(in[0]), n);
    dropout_saved *sv = malloc(sizeof *sv + n);
    if (!sv)
        return zoo_error(ZOO_ERR_MEMORY, "Dropout %s: out of memory",
                         l->name);
    int call = ex->call;
    uint64_t key = mix64(ex->seed + GOLDEN);
    key = mix64(key ^ ((uint64_t)(l->index + 1) * GOLDEN));
    key = mix64(key ^ ((uint64_t)(call + 1) * 0xD1B54A32D192ED03ull));
    key = mix64(key ^ (uint64_t)c->seed);

    /* Keep where u >= rate, u uniform in [0, 1) from 53 bits of element
     * i's hash (TF's keep_mask = uniform >= rate). */
    const double r = (double)rate;
    const float scale = 1.0f / (1.0f - rate);
    sv->n = n;
    sv->scale = scale;
    const float *x = zoo_tensor_cdata(in[0]);
    float *y = zoo_tensor_data(out);
#pragma omp parallel for schedule(static) num_threads(zoo_exec_threads(ex)) \
    if (n > 32768)
    for (size_t i = 0; i < n; i++) {
        double u = (double)(mix64(key + (i + 1) * GOLDEN) >> 11) *
                   (1.0 / 9007199254740992.0);
        bool keep = u >= r;
        sv->keep[i] = keep;
        y[i] = keep ? x[i] * scale : 0.0f;
    }
    if (saved)
        *saved = sv;
    else
        free(sv);
    return ZOO_OK;
}

/* dx += dy * keep * scale after a training call, dx += dy otherwise. */
static zoo_status dropout_backward(const zoo_layer *l,
                                   const zoo_tensor *const *in, int n_in,
                                   const zoo_tensor *out, const zoo_tensor *dy,
                                   zoo_tensor *const *dx,
                                   zoo_tensor *const *dw, const zoo_exec *ex,
                                   void *saved)
{
    (void)in;
    (void)n_in;
    (void)dw;
    if (!dx || !dx[0])
        return ZOO_OK;
    const size_t n = zoo_tensor_size(out);
    const dropout_saved *sv = saved;
    if (zoo_tensor_size(dy) != n || zoo_tensor_size(dx[0]) != n ||
        (sv && sv->n != n))
        return zoo_error(ZOO_ERR_INTERNAL,
                         "Dropout %s: gradient sizes do not match the call's",
                         l->name);
    const float *g = zoo_tensor_cdata(dy);
    float *d = zoo_tensor_data(dx[0]);
#pragma omp parallel for schedule(static) num_threads(zoo_exec_threads(ex)) \
    if (n > 32768)
    for (size_t i = 0; i < n; i++) {
        if (!sv)
            d[i] += g[i];
        else if (sv->keep[i])
            d[i] += g[i] * sv->scale;
    }
    return ZOO_OK;
}

/* Keras 3 Dropout.get_config(): a zero seed is Keras's seed=None. */
static zoo_status dropout_config(const zoo_layer *l, void *json)
{
    const zoo_dropout_cfg *c = l->cfg;
    zoo_status st = zoo_kcfg_base(l, json);
    if (st != ZOO_OK)
        return st;
    return zoo_kcfg_merge(l, json, json_pack(
        "{s:f, s:o, s:n}", "rate", zoo_kcfg_real(c->rate),
        "seed", c->seed ? json_integer((json_int_t)c->seed) : json_null(),
        "noise_shape"));
}

static const zoo_layer_kind dropout_kind = {
    .class_name = "Dropout",
    .auto_prefix = "dropout",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = dropout_infer,
    .forward = dropout_forward,
    .forward_train = dropout_forward_train,
    .backward = dropout_backward,
    .config = dropout_config,
};

zoo_layer *zoo_dropout(zoo_graph *g, const zoo_dropout_cfg *cfg)
{
    zoo_dropout_cfg c = cfg ? *cfg : (zoo_dropout_cfg){0};
    if (g && !(c.rate >= 0.0f && c.rate < 1.0f)) {
        zoo_error(ZOO_ERR_ARGUMENT,
                  "Dropout%s%s: rate %g is outside [0, 1)",
                  c.name ? " " : "", c.name ? c.name : "", (double)c.rate);
        return NULL;
    }
    /* With no graph, zoo_layer_create keeps the first error of a failed
     * chain. */
    return zoo_layer_create(g, &dropout_kind, &c, sizeof c, c.name);
}
