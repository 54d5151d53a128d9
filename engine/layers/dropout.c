/* Dropout: identity at inference. The rate and seed are kept for training
 * and for writing the Keras config. */
#include "engine/layer.h"

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

static const zoo_layer_kind dropout_kind = {
    .class_name = "Dropout",
    .auto_prefix = "dropout",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = dropout_infer,
    .forward = dropout_forward,
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
