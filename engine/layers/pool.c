/* 2-D pooling over NHWC: MaxPooling2D, AveragePooling2D and the global
 * average / max pools, with their gradients. Max pools send each output's
 * gradient to the FIRST maximum of its window in row-major order (as TF
 * does); padded cells never take part. */
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

/* Channels handled per backward task: windows overlap when the stride is
 * smaller than the pool, so tasks split the batch and the channels, never
 * the positions, and no two write the same gradient value. */
#define POOL_CHUNK 64

/* Shapes handed to a backward pass agree: x and dx alike, dy and out alike,
 * same batch and channels. */
static zoo_status pool_grad_check(const zoo_layer *l, const zoo_tensor *x,
                                  const zoo_tensor *out, const zoo_tensor *dy,
                                  const zoo_tensor *dx)
{
    bool ok = zoo_tensor_rank(x) == 4 && zoo_tensor_rank(dx) == 4 &&
              zoo_tensor_size(dy) == zoo_tensor_size(out) &&
              zoo_tensor_rank(dy) == zoo_tensor_rank(out);
    for (int d = 0; ok && d < 4; d++)
        ok = zoo_tensor_shape(x)[d] == zoo_tensor_shape(dx)[d];
    ok = ok && zoo_tensor_shape(dy)[0] == zoo_tensor_shape(x)[0] &&
         zoo_tensor_shape(dy)[zoo_tensor_rank(dy) - 1] ==
             zoo_tensor_shape(x)[3];
    if (!ok)
        return zoo_error(ZOO_ERR_INTERNAL,
                         "%s %s: gradient shapes do not match the call's",
                         l->kind->class_name, l->name);
    return ZOO_OK;
}

static zoo_status pool_backward(const zoo_layer *l,
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
    zoo_status st = pool_grad_check(l, in[0], out, dy, dx[0]);
    if (st != ZOO_OK)
        return st;
    const zoo_pool2d_cfg *c = l->cfg;
    const bool is_max = l->kind == &max_pool_kind;
    const int *is = zoo_tensor_shape(in[0]);
    const int *os = zoo_tensor_shape(dy);
    const int N = is[0], H = is[1], W = is[2], C = is[3];
    const int OH = os[1], OW = os[2];
    const int kh = c->pool[0], kw = c->pool[1];
    const int sh = c->strides[0], sw = c->strides[1];
    const int pt = c->padding == ZOO_PAD_SAME
                       ? zoo_same_pad_before(H, kh, sh, 1) : 0;
    const int pl = c->padding == ZOO_PAD_SAME
                       ? zoo_same_pad_before(W, kw, sw, 1) : 0;
    const int n_chunks = (C + POOL_CHUNK - 1) / POOL_CHUNK;
    const float *x = zoo_tensor_cdata(in[0]);
    const float *g = zoo_tensor_cdata(dy);
    float *d = zoo_tensor_data(dx[0]);

#pragma omp parallel for collapse(2) schedule(static) \
    num_threads(zoo_exec_threads(ex))
    for (int n = 0; n < N; n++) {
        for (int ck = 0; ck < n_chunks; ck++) {
            const int c0 = ck * POOL_CHUNK;
            const int cn = C - c0 < POOL_CHUNK ? C - c0 : POOL_CHUNK;
            float best[POOL_CHUNK];
            int64_t arg[POOL_CHUNK];
            for (int oh = 0; oh < OH; oh++) {
                int h0 = oh * sh - pt, h1 = h0 + kh;
                h0 = h0 < 0 ? 0 : h0;
                h1 = h1 > H ? H : h1;
                for (int ow = 0; ow < OW; ow++) {
                    int w0 = ow * sw - pl, w1 = w0 + kw;
                    w0 = w0 < 0 ? 0 : w0;
                    w1 = w1 > W ? W : w1;
                    int count = (h1 - h0) * (w1 - w0);
                    if (count <= 0)
                        continue;
                    const float *gp =
                        g + (((int64_t)n * OH + oh) * OW + ow) * C + c0;
                    if (is_max) {
                        /* The window's first cell, then strictly greater
                         * ones: the first maximum wins, as in forward. */
                        int64_t first =
                            (((int64_t)n * H + h0) * W + w0) * C + c0;
                        for (int k = 0; k < cn; k++) {
                            best[k] = x[first + k];
                            arg[k] = first + k;
                        }
                        for (int h = h0; h < h1; h++) {
                            for (int w = w0; w < w1; w++) {
                                int64_t off =
                                    (((int64_t)n * H + h) * W + w) * C + c0;
                                for (int k = 0; k < cn; k++)
                                    if (x[off + k] > best[k]) {
                                        best[k] = x[off + k];
                                        arg[k] = off + k;
                                    }
                            }
                        }
                        for (int k = 0; k < cn; k++)
                            d[arg[k]] += gp[k];
                    } else {
                        /* The forward's divisor: valid cells only. */
                        float inv = 1.0f / (float)count;
                        for (int h = h0; h < h1; h++) {
                            for (int w = w0; w < w1; w++) {
                                float *dp = d +
                                    (((int64_t)n * H + h) * W + w) * C + c0;
                                for (int k = 0; k < cn; k++)
                                    dp[k] += gp[k] * inv;
                            }
                        }
                    }
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
    .backward = pool_backward,
    .config = pool_config,
};

static const zoo_layer_kind avg_pool_kind = {
    .class_name = "AveragePooling2D",
    .auto_prefix = "average_pooling2d",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = pool_infer,
    .forward = pool_forward,
    .backward = pool_backward,
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

/* Average: dy / (H*W) to every position. Max: dy to the first maximum
 * over positions in memory (row-major) order. keepdims changes only the
 * shape: dy is (N, C) in memory either way. */
static zoo_status global_backward(const zoo_layer *l,
                                  const zoo_tensor *const *in, int n_in,
                                  const zoo_tensor *out, const zoo_tensor *dy,
                                  zoo_tensor *const *dx,
                                  zoo_tensor *const *dw, const zoo_exec *ex,
                                  void *saved)
{
    (void)n_in;
    (void)dw;
    (void)saved;
    if (!dx || !dx[0])
        return ZOO_OK;
    zoo_status st = pool_grad_check(l, in[0], out, dy, dx[0]);
    if (st != ZOO_OK)
        return st;
    const bool is_max = l->kind == &global_max_kind;
    const int *is = zoo_tensor_shape(in[0]);
    const int N = is[0], C = is[3];
    const int64_t HW = (int64_t)is[1] * is[2];
    const int n_chunks = (C + GLOBAL_CHUNK - 1) / GLOBAL_CHUNK;
    const float *x = zoo_tensor_cdata(in[0]);
    const float *g = zoo_tensor_cdata(dy);
    float *d = zoo_tensor_data(dx[0]);

#pragma omp parallel for collapse(2) schedule(static) \
    num_threads(zoo_exec_threads(ex))
    for (int n = 0; n < N; n++) {
        for (int ck = 0; ck < n_chunks; ck++) {
            const int c0 = ck * GLOBAL_CHUNK;
            const int c1 = c0 + GLOBAL_CHUNK < C ? c0 + GLOBAL_CHUNK : C;
            const float *gp = g + (int64_t)n * C;
            const float *xn = x + (int64_t)n * HW * C;
            float *dn = d + (int64_t)n * HW * C;
            if (is_max) {
                float best[GLOBAL_CHUNK];
                int64_t arg[GLOBAL_CHUNK];
                for (int k = c0; k < c1; k++) {
                    best[k - c0] = xn[k];
                    arg[k - c0] = k;
                }
                for (int64_t p = 1; p < HW; p++) {
                    const float *xp = xn + p * C;
                    for (int k = c0; k < c1; k++)
                        if (xp[k] > best[k - c0]) {
                            best[k - c0] = xp[k];
                            arg[k - c0] = p * C + k;
                        }
                }
                for (int k = c0; k < c1; k++)
                    dn[arg[k - c0]] += gp[k];
            } else {
                float inv = 1.0f / (float)HW;
                for (int64_t p = 0; p < HW; p++) {
                    float *dp = dn + p * C;
                    for (int k = c0; k < c1; k++)
                        dp[k] += gp[k] * inv;
                }
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
    .backward = global_backward,
    .config = global_config,
};

static const zoo_layer_kind global_max_kind = {
    .class_name = "GlobalMaxPooling2D",
    .auto_prefix = "global_max_pooling2d",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = global_infer,
    .forward = global_forward,
    .backward = global_backward,
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
