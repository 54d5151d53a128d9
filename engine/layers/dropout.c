/* Dropout: identity at inference. The rate and seed are kept for training
 * and for writing the Keras config. */
#include "engine/layer.h"
#include "engine/keras_layer_config.h"

#include <string.h>

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
    .config = dropout_config,
};

zoo_layer *zoo_dropout(zoo_graph *g, const zoo_dropout_cfg *cfg)
{
    zoo_dropout_cfg c = cfg ? *cfg : (zoo_dropout_cfg){0};
    if (!g) /* keep the first error of a failed chain */
        return zoo_layer_create(g, &dropout_kind, &c, sizeof c, c.name);
    if (!(c.rate >= 0.0f && c.rate < 1.0f)) {
        zoo_error(ZOO_ERR_ARGUMENT,
                  "Dropout%s%s: rate %g is outside [0, 1)",
                  c.name ? " " : "", c.name ? c.name : "", (double)c.rate);
        return NULL;
    }
    return zoo_layer_create(g, &dropout_kind, &c, sizeof c, c.name);
}
