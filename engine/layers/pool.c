/* 2-D pooling over NHWC: MaxPooling2D, AveragePooling2D and the global
 * average / max pools. */
#include "engine/layer.h"
#include "engine/keras_layer_config.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* MaxPooling2D / AveragePooling2D                                     */
/* ------------------------------------------------------------------ */

static const zoo_layer_kind max_pool_kind;

static zoo_status pool_infer(const zoo_layer *l, const zoo_shape *in,
                             int n_in, zoo_shape *out)
{
    (void)n_in;
    const zoo_pool2d_cfg *c = l->cfg;
    zoo_status st = zoo_expect_rank4(l, &in[0]);
    if (st != ZOO_OK)
        return st;
    *out = in[0];
    for (int a = 0; a < 2; a++) {
        int size = in[0].dim[1 + a];
        /* Checked here: 'valid' on a too-small axis has no window at all. */
        if (c->padding == ZOO_PAD_VALID && size >= 0 && size < c->pool[a]) {
            char buf[128];
            return zoo_error(ZOO_ERR_SHAPE,
                             "%s %s: input %s is smaller than the pool size "
                             "(%d, %d) with 'valid' padding",
                             l->kind->class_name, l->name,
                             zoo_shape_str(&in[0], buf, sizeof buf),
                             c->pool[0], c->pool[1]);
        }
        out->dim[1 + a] = zoo_conv_out_size(size, c->pool[a], c->strides[a],
                                            1, c->padding);
    }
    return ZOO_OK;
}

static zoo_status pool_forward(const zoo_layer *l, const zoo_tensor *const *in,
                               int n_in, zoo_tensor *out, const zoo_exec *ex)
{
    (void)n_in;
    const zoo_pool2d_cfg *c = l->cfg;
    const bool is_max = l->kind == &max_pool_kind;
    const int *is = zoo_tensor_shape(in[0]);
    const int *os = zoo_tensor_shape(out);
    const int N = is[0], H = is[1], W = is[2], C = is[3];
    const int OH = os[1], OW = os[2];
    const int kh = c->pool[0], kw = c->pool[1];
    const int sh = c->strides[0], sw = c->strides[1];
    const int pt = c->padding == ZOO_PAD_SAME
                       ? zoo_same_pad_before(H, kh, sh, 1) : 0;
    const int pl = c->padding == ZOO_PAD_SAME
                       ? zoo_same_pad_before(W, kw, sw, 1) : 0;
    const float *x = zoo_tensor_cdata(in[0]);
    float *y = zoo_tensor_data(out);

#pragma omp parallel for collapse(2) schedule(static) \
    num_threads(zoo_exec_threads(ex))
    for (int n = 0; n < N; n++) {
        for (int oh = 0; oh < OH; oh++) {
            /* The window clipped to the input: padded cells take no part
             * in the max and are left out of the average's divisor. */
            int h0 = oh * sh - pt, h1 = h0 + kh;
            h0 = h0 < 0 ? 0 : h0;
            h1 = h1 > H ? H : h1;
            for (int ow = 0; ow < OW; ow++) {
                int w0 = ow * sw - pl, w1 = w0 + kw;
                w0 = w0 < 0 ? 0 : w0;
                w1 = w1 > W ? W : w1;
                float *yp = y + (((int64_t)n * OH + oh) * OW + ow) * C;
                int count = (h1 - h0) * (w1 - w0);
                if (count <= 0) /* cannot happen with TF padding; be safe */
                    continue;   /* out is zero-filled */
                if (is_max)
                    for (int k = 0; k < C; k++)
                        yp[k] = -INFINITY;
                for (int h = h0; h < h1; h++) {
                    for (int w = w0; w < w1; w++) {
                        const float *xp =
                            x + (((int64_t)n * H + h) * W + w) * C;
                        if (is_max) {
                            for (int k = 0; k < C; k++)
                                yp[k] = xp[k] > yp[k] ? xp[k] : yp[k];
                        } else {
                            for (int k = 0; k < C; k++)
                                yp[k] += xp[k];
                        }
                    }
                }
                if (!is_max) {
                    float inv = 1.0f / (float)count;
                    for (int k = 0; k < C; k++)
                        yp[k] *= inv;
                }
            }
        }
    }
    return ZOO_OK;
}

/* Keras 3 MaxPooling2D / AveragePooling2D.get_config() (BasePooling):
 * strides resolved, as Keras stores them (None becomes pool_size). */
static zoo_status pool_config(const zoo_layer *l, void *json)
{
    const zoo_pool2d_cfg *c = l->cfg;
    zoo_status st = zoo_kcfg_base(l, json);
    if (st != ZOO_OK)
        return st;
    return zoo_kcfg_merge(l, json, json_pack(
        "{s:[ii], s:s, s:[ii], s:s}",
        "pool_size", c->pool[0], c->pool[1],
        "padding", zoo_kcfg_padding(c->padding),
        "strides", c->strides[0], c->strides[1],
        "data_format", "channels_last"));
}

static const zoo_layer_kind max_pool_kind = {
    .class_name = "MaxPooling2D",
    .auto_prefix = "max_pooling2d",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = pool_infer,
    .forward = pool_forward,
    .config = pool_config,
};

static const zoo_layer_kind avg_pool_kind = {
    .class_name = "AveragePooling2D",
    .auto_prefix = "average_pooling2d",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = pool_infer,
    .forward = pool_forward,
    .config = pool_config,
};

static zoo_layer *pool_new(zoo_graph *g, const zoo_layer_kind *kind,
                           const zoo_pool2d_cfg *cfg)
{
    zoo_pool2d_cfg c = cfg ? *cfg : (zoo_pool2d_cfg){0};
    /* Resolve the defaults once: pool 2x2, strides = pool (Keras None). */
    for (int a = 0; a < 2; a++) {
        c.pool[a] = zoo_or(c.pool[a], 2);
        c.strides[a] = zoo_or(c.strides[a], c.pool[a]);
    }
    if (g) {
        const char *sp = c.name ? " " : "", *nm = c.name ? c.name : "";
        if (c.pool[0] < 1 || c.pool[1] < 1 || c.strides[0] < 1 ||
            c.strides[1] < 1) {
            zoo_error(ZOO_ERR_ARGUMENT,
                      "%s%s%s: pool size (%d, %d) and strides (%d, %d) must "
                      "be positive",
                      kind->class_name, sp, nm, c.pool[0], c.pool[1],
                      c.strides[0], c.strides[1]);
            return NULL;
        }
        if (c.padding != ZOO_PAD_VALID && c.padding != ZOO_PAD_SAME) {
            zoo_error(ZOO_ERR_ARGUMENT, "%s%s%s: unknown padding %d",
                      kind->class_name, sp, nm, (int)c.padding);
            return NULL;
        }
    }
    return zoo_layer_create(g, kind, &c, sizeof c, c.name);
}

zoo_layer *zoo_max_pool2d(zoo_graph *g, const zoo_pool2d_cfg *cfg)
{
    return pool_new(g, &max_pool_kind, cfg);
}

zoo_layer *zoo_avg_pool2d(zoo_graph *g, const zoo_pool2d_cfg *cfg)
{
    return pool_new(g, &avg_pool_kind, cfg);
}

/* ------------------------------------------------------------------ */
/* GlobalAveragePooling2D / GlobalMaxPooling2D                         */
/* ------------------------------------------------------------------ */

static const zoo_layer_kind global_max_kind;

static zoo_status global_infer(const zoo_layer *l, const zoo_shape *in,
                               int n_in, zoo_shape *out)
{
    (void)n_in;
    const zoo_global_pool2d_cfg *c = l->cfg;
    zoo_status st = zoo_expect_rank4(l, &in[0]);
    if (st != ZOO_OK)
        return st;
    *out = in[0];
    if (c->keepdims) {
        out->dim[1] = out->dim[2] = 1;
    } else {
        out->rank = 2;
        out->dim[1] = in[0].dim[3];
    }
    return ZOO_OK;
}

/* Channels handled per task: enough to use a cache line well, small
 * enough to spread a batch of one over the threads. */
#define GLOBAL_CHUNK 64

static zoo_status global_forward(const zoo_layer *l,
                                 const zoo_tensor *const *in, int n_in,
                                 zoo_tensor *out, const zoo_exec *ex)
{
    (void)n_in;
    const bool is_max = l->kind == &global_max_kind;
    const int *is = zoo_tensor_shape(in[0]);
    const int N = is[0], C = is[3];
    const int64_t HW = (int64_t)is[1] * is[2];
    const int n_chunks = (C + GLOBAL_CHUNK - 1) / GLOBAL_CHUNK;
    const float *x = zoo_tensor_cdata(in[0]);
    float *y = zoo_tensor_data(out); /* (N, C) in memory either way */

#pragma omp parallel for collapse(2) schedule(static) \
    num_threads(zoo_exec_threads(ex))
    for (int n = 0; n < N; n++) {
        for (int ck = 0; ck < n_chunks; ck++) {
            int c0 = ck * GLOBAL_CHUNK;
            int c1 = c0 + GLOBAL_CHUNK < C ? c0 + GLOBAL_CHUNK : C;
            float *yp = y + (int64_t)n * C;
            const float *xn = x + (int64_t)n * HW * C;
            if (is_max)
                for (int k = c0; k < c1; k++)
                    yp[k] = -INFINITY;
            for (int64_t p = 0; p < HW; p++) {
                const float *xp = xn + p * C;
                if (is_max) {
                    for (int k = c0; k < c1; k++)
                        yp[k] = xp[k] > yp[k] ? xp[k] : yp[k];
                } else {
                    for (int k = c0; k < c1; k++)
                        yp[k] += xp[k];
                }
            }
            if (!is_max) {
                float inv = 1.0f / (float)HW;
                for (int k = c0; k < c1; k++)
                    yp[k] *= inv;
            }
        }
    }
    return ZOO_OK;
}

/* Keras 3 GlobalAveragePooling2D / GlobalMaxPooling2D.get_config(). */
static zoo_status global_config(const zoo_layer *l, void *json)
{
    const zoo_global_pool2d_cfg *c = l->cfg;
    zoo_status st = zoo_kcfg_base(l, json);
    if (st != ZOO_OK)
        return st;
    return zoo_kcfg_merge(l, json,
                          json_pack("{s:s, s:b}", "data_format",
                                    "channels_last", "keepdims",
                                    (int)c->keepdims));
}

static const zoo_layer_kind global_avg_kind = {
    .class_name = "GlobalAveragePooling2D",
    .auto_prefix = "global_average_pooling2d",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = global_infer,
    .forward = global_forward,
    .config = global_config,
};

static const zoo_layer_kind global_max_kind = {
    .class_name = "GlobalMaxPooling2D",
    .auto_prefix = "global_max_pooling2d",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = global_infer,
    .forward = global_forward,
    .config = global_config,
};

zoo_layer *zoo_global_avg_pool2d(zoo_graph *g, const zoo_global_pool2d_cfg *cfg)
{
    zoo_global_pool2d_cfg c = cfg ? *cfg : (zoo_global_pool2d_cfg){0};
    return zoo_layer_create(g, &global_avg_kind, &c, sizeof c, c.name);
}

zoo_layer *zoo_global_max_pool2d(zoo_graph *g, const zoo_global_pool2d_cfg *cfg)
{
    zoo_global_pool2d_cfg c = cfg ? *cfg : (zoo_global_pool2d_cfg){0};
    return zoo_layer_create(g, &global_max_kind, &c, sizeof c, c.name);
}
