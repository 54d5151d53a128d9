/* Flatten and Reshape. Tensors are contiguous C-order NHWC, so both are a
 * plain copy: Flatten's index (h*W + w)*C + c is the memory order. */
#include "engine/layer.h"
#include "engine/keras_layer_config.h"

#include <stdio.h>
#include <string.h>

static zoo_status copy_forward(const zoo_layer *l, const zoo_tensor *const *in,
                               int n_in, zoo_tensor *out, const zoo_exec *ex)
{
    (void)n_in;
    (void)ex;
    if (zoo_tensor_size(in[0]) != zoo_tensor_size(out))
        return zoo_error(ZOO_ERR_INTERNAL,
                         "%s %s: input has %zu values, output %zu",
                         l->kind->class_name, l->name,
                         zoo_tensor_size(in[0]), zoo_tensor_size(out));
    memcpy(zoo_tensor_data(out), zoo_tensor_cdata(in[0]),
           zoo_tensor_size(out) * sizeof(float));
    return ZOO_OK;
}

/* The copy's gradient: dx += dy, value for value. */
static zoo_status copy_backward(const zoo_layer *l,
                                const zoo_tensor *const *in, int n_in,
                                const zoo_tensor *out, const zoo_tensor *dy,
                                zoo_tensor *const *dx, zoo_tensor *const *dw,
                                const zoo_exec *ex, void *saved)
{
    (void)in;
    (void)n_in;
    (void)out;
    (void)dw;
    (void)saved;
    if (!dx || !dx[0])
        return ZOO_OK;
    const int64_t n = (int64_t)zoo_tensor_size(dx[0]);
    if ((int64_t)zoo_tensor_size(dy) != n)
        return zoo_error(ZOO_ERR_INTERNAL,
                         "%s %s: output gradient has %zu values, input %lld",
                         l->kind->class_name, l->name, zoo_tensor_size(dy),
                         (long long)n);
    const float *g = zoo_tensor_cdata(dy);
    float *d = zoo_tensor_data(dx[0]);
#pragma omp parallel for schedule(static) num_threads(zoo_exec_threads(ex)) \
    if (n > 32768)
    for (int64_t k = 0; k < n; k++)
        d[k] += g[k];
    return ZOO_OK;
}

/* ------------------------------------------------------------------ */
/* Flatten                                                             */
/* ------------------------------------------------------------------ */

static zoo_status flatten_infer(const zoo_layer *l, const zoo_shape *in,
                                int n_in, zoo_shape *out)
{
    (void)l;
    (void)n_in;
    /* As Keras: (batch, prod(rest)), None if any of the rest is unknown;
     * a batch-only input becomes (batch, 1). */
    int64_t n = 1;
    for (int i = 1; i < in[0].rank; i++) {
        if (in[0].dim[i] < 0) {
            n = -1;
            break;
        }
        n *= in[0].dim[i];
    }
    if (n > INT32_MAX) {
        char buf[128];
        return zoo_error(ZOO_ERR_SHAPE, "Flatten %s: input %s is too large",
                         l->name, zoo_shape_str(&in[0], buf, sizeof buf));
    }
    out->rank = 2;
    out->dim[0] = in[0].dim[0];
    out->dim[1] = (int)n;
    return ZOO_OK;
}

/* Keras 3 Flatten.get_config(). */
static zoo_status flatten_config(const zoo_layer *l, void *json)
{
    zoo_status st = zoo_kcfg_base(l, json);
    if (st != ZOO_OK)
        return st;
    return zoo_kcfg_merge(l, json,
                          json_pack("{s:s}", "data_format", "channels_last"));
}

static const zoo_layer_kind flatten_kind = {
    .class_name = "Flatten",
    .auto_prefix = "flatten",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = flatten_infer,
    .forward = copy_forward,
    .backward = copy_backward,
    .config = flatten_config,
};

zoo_layer *zoo_flatten(zoo_graph *g, const zoo_named_cfg *cfg)
{
    zoo_named_cfg c = cfg ? *cfg : (zoo_named_cfg){0};
    return zoo_layer_create(g, &flatten_kind, &c, sizeof c, c.name);
}

/* ------------------------------------------------------------------ */
/* Reshape                                                             */
/* ------------------------------------------------------------------ */

/* The target shape as Python prints the tuple: "(5, 30)", "(150,)". */
static const char *target_str(const zoo_reshape_cfg *c, char *buf,
                              size_t size)
{
    int n = snprintf(buf, size, "(");
    size_t used = n > 0 ? (size_t)n : 0;
    for (int i = 0; i < c->rank && used < size; i++) {
        n = snprintf(buf + used, size - used, "%s%d", i ? ", " : "",
                     c->shape[i]);
        used += n > 0 ? (size_t)n : 0;
    }
    if (used < size)
        snprintf(buf + used, size - used, c->rank == 1 ? ",)" : ")");
    return buf;
}

static zoo_status reshape_infer(const zoo_layer *l, const zoo_shape *in,
                                int n_in, zoo_shape *out)
{
    (void)n_in;
    const zoo_reshape_cfg *c = l->cfg;
    int64_t have = 1; /* values per sample, -1 if unknown */
    for (int i = 1; i < in[0].rank; i++) {
        if (in[0].dim[i] < 0) {
            have = -1;
            break;
        }
        have *= in[0].dim[i];
    }
    int64_t known = 1; /* product of the target's fixed entries */
    int free_axis = -1;
    for (int i = 0; i < c->rank; i++) {
        if (c->shape[i] < 0)
            free_axis = i;
        else
            known *= c->shape[i];
    }

    out->rank = c->rank + 1;
    out->dim[0] = in[0].dim[0];
    for (int i = 0; i < c->rank; i++)
        out->dim[1 + i] = c->shape[i];
    if (have < 0)
        return ZOO_OK; /* checked again once the sizes are concrete */
    if (free_axis >= 0 ? have % known != 0 : have != known) {
        char ib[128], tb[128];
        return zoo_error(ZOO_ERR_SHAPE,
                         "Reshape %s: cannot reshape %s of %lld values into "
                         "%s",
                         l->name, zoo_shape_str(&in[0], ib, sizeof ib),
                         (long long)have, target_str(c, tb, sizeof tb));
    }
    if (free_axis >= 0)
        out->dim[1 + free_axis] = (int)(have / known);
    return ZOO_OK;
}

/* Keras 3 Reshape.get_config(): target_shape as given (-1 kept). */
static zoo_status reshape_config(const zoo_layer *l, void *json)
{
    const zoo_reshape_cfg *c = l->cfg;
    zoo_status st = zoo_kcfg_base(l, json);
    if (st != ZOO_OK)
        return st;
    json_t *target = json_array();
    for (int i = 0; target && i < c->rank; i++)
        if (json_array_append_new(target, json_integer(c->shape[i])) != 0) {
            json_decref(target);
            target = NULL;
        }
    return zoo_kcfg_merge(l, json,
                          json_pack("{s:o}", "target_shape", target));
}

static const zoo_layer_kind reshape_kind = {
    .class_name = "Reshape",
    .auto_prefix = "reshape",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = reshape_infer,
    .forward = copy_forward,
    .backward = copy_backward,
    .config = reshape_config,
};

/* Reshape has no default target, so a NULL or rank-0 cfg is an error. */
static bool reshape_cfg_ok(const zoo_reshape_cfg *cfg)
{
    const char *sp = cfg && cfg->name ? " " : "";
    const char *nm = cfg && cfg->name ? cfg->name : "";
    if (!cfg || cfg->rank < 1 || cfg->rank > ZOO_MAX_RANK - 1) {
        zoo_error(ZOO_ERR_ARGUMENT,
                  "Reshape%s%s: the target shape needs 1 to %d dims, got %d",
                  sp, nm, ZOO_MAX_RANK - 1, cfg ? cfg->rank : 0);
        return false;
    }
    int n_free = 0;
    for (int i = 0; i < cfg->rank; i++) {
        if (cfg->shape[i] == -1) {
            n_free++;
        } else if (cfg->shape[i] < 1) {
            char tb[128];
            zoo_error(ZOO_ERR_ARGUMENT,
                      "Reshape%s%s: target shape %s has an invalid dim %d",
                      sp, nm, target_str(cfg, tb, sizeof tb), cfg->shape[i]);
            return false;
        }
    }
    if (n_free > 1) {
        char tb[128];
        zoo_error(ZOO_ERR_ARGUMENT,
                  "Reshape%s%s: target shape %s may have only one -1", sp, nm,
                  target_str(cfg, tb, sizeof tb));
        return false;
    }
    return true;
}

zoo_layer *zoo_reshape(zoo_graph *g, const zoo_reshape_cfg *cfg)
{
    zoo_reshape_cfg c = cfg ? *cfg : (zoo_reshape_cfg){0};
    /* With no graph, leave the first error alone (see engine.h). */
    if (g && !reshape_cfg_ok(cfg))
        return NULL;
    return zoo_layer_create(g, &reshape_kind, &c, sizeof c, c.name);
}
